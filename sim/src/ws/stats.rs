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
    /// Connections closed (since start or the last reset) for going over 5 incoming messages
    /// per second, and for not answering a ping in time.
    pub rate_limit_closes: u64,
    pub pong_timeout_closes: u64,
    /// The most messages any connection, open or closed, sent within 1 s: a well-behaved
    /// client keeps this ≤ 5.
    pub max_control_per_sec_any: u64,
    /// Set while new connections are refused.
    pub refusing_until_ms: Option<u64>,
    /// Stalled stream names, sorted.
    pub stalled: Vec<String>,
    pub intervals: WsIntervals,
    /// Open connections, oldest first.
    pub connections: Vec<WsConnectionStats>,
    /// The last 100 closed connections, in closing order, with `closed_at_ms` and `end`.
    pub closed: Vec<WsConnectionStats>,
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
    /// Streams subscribed (SUBSCRIBE or the URL) and unsubscribed over the connection's life;
    /// a stream unsubscribed and subscribed again counts in both.
    #[serde(default)]
    pub subscribed_total: u64,
    #[serde(default)]
    pub unsubscribed_total: u64,
    /// Text messages sent: stream events, control replies, serverShutdown.
    pub messages_sent: u64,
    /// Messages received (text and binary frames, pings, pongs): what Binance's 5-per-second
    /// limit counts.
    pub control_received: u64,
    /// The most received messages within any 1 s window (> 5 closes the connection).
    pub max_control_per_sec: u64,
    pub connected_at_ms: u64,
    /// Closed connections only: when, and why ("close frame sent (Pong timeout)", "peer gone",
    /// "dropped without close frame", ...).
    pub closed_at_ms: Option<u64>,
    pub end: Option<String>,
}
