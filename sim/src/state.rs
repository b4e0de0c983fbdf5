//! State shared by the HTTP handlers and the [`crate::SimHandle`].

use crate::config::SimConfig;
use crate::counters::{Calls, WeightMeter};
use crate::faults::FaultState;
use crate::market::derivatives::Derivatives;
use crate::market::Market;
use crate::markets::Markets;
use crate::requests::{RequestLog, MAX_REQUESTS};
use crate::ws::{Hub, WsIntervals};
use axum::body::Bytes;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

/// Binance USDⓈ-M's REQUEST_WEIGHT per minute (its `exchangeInfo` rateLimits).
pub const FUTURES_WEIGHT_LIMIT: u32 = 2400;

type LastKey = (String, Option<String>);

pub struct SimState {
    pub config: SimConfig,
    /// The markets served now; see [`SimState::market`].
    pub markets: Markets,
    pub faults: FaultState,
    pub calls: Calls,
    pub weight: WeightMeter,
    /// Binance USDⓈ-M's own REQUEST_WEIGHT budget (`/fapi`), apart from spot's.
    pub futures_weight: WeightMeter,
    /// The venue's derivative contracts (None on Kraken and Coinbase); fixed at start.
    pub derivs: Option<Arc<Derivatives>>,
    pub requests: RequestLog,
    /// The websocket layer: connections, topics, websocket faults.
    pub ws: Hub,
    /// OKX's, Bybit's, Kraken's and Coinbase's websockets: topics, book feeds, their faults.
    pub vws: crate::vws::VenueWs,
    /// Last 200 body per (endpoint, symbol param). Bytes, so storing is a refcount bump; parsed
    /// only when a test asks.
    last: Mutex<HashMap<LastKey, Bytes>>,
}

impl SimState {
    pub fn new(config: SimConfig) -> Result<SimState, String> {
        WsIntervals {
            ticker_ms: config.ws_ticker_interval_ms,
            book_ticker_ms: config.ws_book_ticker_interval_ms,
            kline_ms: config.ws_kline_interval_ms,
        }
        .validate()?;
        let market = Market::for_venue(
            config.venue,
            config.seed,
            config.extra_symbols,
            config.full_markets,
            config.tick_ms.max(1),
        )?
        .with_lively_period(config.book_resize_steps);
        let derivs = Derivatives::for_market(&market, now_ms()).map(Arc::new);
        Ok(SimState {
            futures_weight: WeightMeter::new(FUTURES_WEIGHT_LIMIT),
            derivs,
            faults: FaultState::new(config.seed),
            weight: WeightMeter::new(config.weight_limit),
            calls: Calls::default(),
            requests: RequestLog::new(MAX_REQUESTS),
            last: Mutex::new(HashMap::new()),
            markets: Markets::new(market),
            vws: crate::vws::VenueWs::new(config.venue),
            ws: Hub::new(WsIntervals {
                ticker_ms: config.ws_ticker_interval_ms,
                book_ticker_ms: config.ws_book_ticker_interval_ms,
                kline_ms: config.ws_kline_interval_ms,
            }),
            config,
        })
        .inspect(|st: &SimState| st.ws.set_depth_levels(st.config.ws_depth_levels))
    }

    /// The current market version. A request uses one version throughout, so a concurrent
    /// listing change cannot make it see a symbol half-removed.
    pub fn market(&self) -> Arc<Market> {
        self.markets.get()
    }

    pub fn record_last(&self, endpoint: &str, symbol: Option<&str>, body: Bytes) {
        let key = (endpoint.to_string(), symbol.map(str::to_string));
        self.last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, body);
    }

    pub fn last(&self, endpoint: &str, symbol: Option<&str>) -> Option<Bytes> {
        let key = (endpoint.to_string(), symbol.map(str::to_string));
        self.last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .cloned()
    }

    /// Back to a fresh exchange: configured markets, no faults (websocket ones included), no
    /// counts, no weight used, nothing recorded, configured websocket intervals.
    pub fn reset(&self) {
        self.markets.reset();
        self.ws.reset();
        self.vws.reset();
        self.faults.set(Default::default());
        self.calls.reset();
        self.requests.reset();
        self.weight.reset();
        self.futures_weight.reset();
        self.last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// Wall-clock milliseconds since the unix epoch (Binance's time base).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Wall-clock microseconds since the unix epoch (websocket `timeUnit=MICROSECOND`).
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}
