//! The derivative tests' simulators (one per venue, prices frozen) and a server enabling all
//! five venues; what a contract shows around a call; number comparisons.

use crypto_market_sim::{rest_urls, ContractQuote, SimConfig, SimHandle, Simulator};
use serde_json::Value;

/// The venues with perpetuals in this build's simulator.
pub const DERIVATIVE_VENUES: [&str; 3] = ["binance", "okx", "bybit"];

/// One simulator per venue, prices frozen (a walk step of an hour) so values compare exactly.
pub struct Venues {
    pub sims: Vec<SimHandle>,
}

impl Venues {
    pub fn start() -> Self {
        Self::start_with(3_600_000)
    }

    pub fn start_with(tick_ms: u64) -> Self {
        let sims = Simulator::start_venues(SimConfig {
            tick_ms,
            ..SimConfig::default()
        })
        .expect("simulators start");
        Self { sims }
    }

    pub fn sim(&self, id: &str) -> &SimHandle {
        self.sims
            .iter()
            .find(|s| s.venue().id() == id)
            .expect("a simulator per venue")
    }

    /// The venue's id of its BTC (or `base`) USDT perpetual.
    pub fn perpetual_id(&self, venue: &str, base: &str) -> String {
        match venue {
            "okx" => format!("{base}-USDT-SWAP"),
            _ => format!("{base}USDT"),
        }
    }

    /// Venues whose simulator lists perpetuals.
    pub fn with_derivatives(&self) -> Vec<&'static str> {
        DERIVATIVE_VENUES
            .into_iter()
            .filter(|v| !self.sim(v).contract_ids().is_empty())
            .collect()
    }
}

pub async fn server(venues: &Venues, extra: &[(&str, &str)]) -> super::McpServer {
    let env = [
        ("EXCHANGES", "binance,okx,bybit,kraken,coinbase".to_owned()),
        ("EXCHANGE_REST_URLS", rest_urls(&venues.sims[1..])),
    ];
    let mut all: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    all.extend_from_slice(extra);
    super::start_server(venues.sim("binance"), &all).await
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// What contract `id` shows before and after `call`: with an hour-long walk step at most one
/// step boundary falls inside, so the answer equals one of them.
pub async fn around<T>(
    sim: &SimHandle,
    id: &str,
    call: impl std::future::Future<Output = T>,
) -> (T, [ContractQuote; 2]) {
    let before = sim.contract(id).expect("listed contract");
    let out = call.await;
    let after = sim.contract(id).expect("listed contract");
    (out, [before, after])
}

pub fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("a number, got {v}"))
}

pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

pub fn funding_matches(got: &Value, want: &ContractQuote) -> bool {
    close(f(&got["funding_rate"]), want.funding_rate)
        && close(f(&got["mark_price"]), want.mark)
        && got["next_funding_ms"].as_u64() == Some(want.next_funding_ms)
        && close(f(&got["interval_hours"]), want.interval_hours as f64)
}

pub async fn server_with_types(venues: &Venues, types: &str) -> super::McpServer {
    server(venues, &[("MARKET_TYPES", types)]).await
}
