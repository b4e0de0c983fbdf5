//! What tests can ask about the websocket layer ([`crate::SimHandle::ws_stats`],
//! `GET /__sim/ws/stats`).

use super::publish::WsIntervals;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WsStats {
    /// Upgrades accepted since start or the last reset.
    pub accepted_total: u64,
    /// Upgrades refused (`refuse_for`) since start or the last reset.
    pub refused_total: u64,
    /// Connections open now.
    pub open: usize,
    /// Set while new connections are refused.
    pub refusing_until_ms: Option<u64>,
    /// Stalled stream names, sorted.
    pub stalled: Vec<String>,
    pub intervals: WsIntervals,
    /// Open connections, oldest first.
    pub connections: Vec<WsConnectionStats>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WsConnectionStats {
    /// From 1, in connection order.
    pub id: u64,
    /// "/ws" or "/stream".
    pub endpoint: String,
    /// Whether frames are wrapped in the combined envelope now.
    pub combined: bool,
    /// `timeUnit=MICROSECOND` connection.
    pub microseconds: bool,
    /// Stream names, in subscription order (what LIST_SUBSCRIPTIONS answers).
    pub subscriptions: Vec<String>,
    /// Text messages sent: stream events, control replies, serverShutdown.
    pub messages_sent: u64,
    /// Messages received (text and binary frames, pings, pongs): what Binance's 5-per-second
    /// limit counts.
    pub control_received: u64,
    /// The most received messages within any 1 s window (> 5 closes the connection).
    pub max_control_per_sec: u64,
    pub connected_at_ms: u64,
}
