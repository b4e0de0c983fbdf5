//! `exchange_status`: each venue's health as this server sees it (SPEC.md section 4).

use crypto_market_actors::engine::ExchangeStatus;
use crypto_market_actors::model::now_ms;
use crypto_market_actors::EngineError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ToolError;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusArgs {
    /// Exchange id (default: every enabled exchange).
    #[serde(default)]
    pub exchange: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Latency {
    /// Median call latency over the last minute, ms; null without calls.
    pub p50: Option<f64>,
    pub p99: Option<f64>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct LastError {
    /// SPEC error code, e.g. exchange_unavailable.
    pub code: &'static str,
    pub message: String,
    /// Milliseconds since it happened.
    pub age_ms: i64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct VenueStatus {
    pub id: String,
    /// closed (calls go through) | open (calls fail at once) | half_open (the next call decides)
    pub circuit: &'static str,
    /// Request weight this server spent on the exchange in the last minute.
    pub weight_used: u64,
    /// Request weight per minute this deployment may spend.
    pub weight_limit: u32,
    pub calls_1m: u64,
    pub errors_1m: u64,
    pub latency_ms: Latency,
    /// The last failed call; null when none failed since start.
    pub last_error: Option<LastError>,
    /// Markets loaded (0 before the first load).
    pub markets: usize,
    /// Age of the loaded market list, ms; null before the first load.
    pub markets_age_ms: Option<i64>,
    /// Whether its websocket feed has a connection open; null when it has no feed.
    pub ws_connected: Option<bool>,
    /// The exchange client instances this server holds for it (made when load needs them,
    /// dropped when idle); null when the adapter keeps none.
    pub instances: Option<Instances>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Instances {
    /// Alive (idle + in use).
    pub live: usize,
    pub idle: usize,
    /// Most at once (EXCHANGE_MAX_CONCURRENT_CALLS).
    pub max: usize,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct StatusResult {
    pub exchanges: Vec<VenueStatus>,
}

impl VenueStatus {
    pub fn new(status: ExchangeStatus) -> Self {
        let now = now_ms();
        // An adapter without a record reads as closed with nothing counted.
        let health = status.health.unwrap_or_default();
        let instances = health.instances.map(|i| Instances {
            live: i.live,
            idle: i.idle,
            max: i.max,
        });
        let last_error = health.last_error.map(|(error, at_ms)| {
            let error = ToolError::from(EngineError::from_venue(&status.id, None, error));
            LastError {
                code: error.code.as_str(),
                message: error.message,
                age_ms: (now - at_ms).max(0),
            }
        });
        Self {
            id: status.id.to_string(),
            circuit: health.circuit.as_str(),
            weight_used: health.weight_used,
            weight_limit: health.weight_limit,
            calls_1m: health.calls_1m,
            errors_1m: health.errors_1m,
            latency_ms: Latency {
                p50: health.latency_p50_ms,
                p99: health.latency_p99_ms,
            },
            last_error,
            markets: status.markets.map_or(0, |(count, _)| count),
            markets_age_ms: status.markets.map(|(_, at)| (now - at).max(0)),
            ws_connected: status.ws_connected,
            instances,
        }
    }
}
