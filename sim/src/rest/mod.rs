//! Binance spot REST surface (`/api/v3/*`) and the simulator's control routes (`/__sim/*`).
//!
//! Every /api/v3 request goes through [`api`]: count and log → charge weight → injected latency →
//! rate-limit / injected status → endpoint handler → log the answer. Handlers are synchronous functions from
//! (market, params, now) to a JSON body, so they are unit-testable without HTTP and the
//! cross-cutting behaviour lives in one place.

pub(crate) mod control;
mod error;
mod general;
mod klines;
mod market_data;
mod params;
pub(crate) mod ticker;

pub use error::ApiError;
pub use params::{decode, Params};

/// The `/__sim` control routes, shared by every venue's router.
pub fn control_routes() -> Router<Arc<SimState>> {
    control::routes()
}

use crate::counters::Verdict;
use crate::state::{now_ms, SimState};
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

/// The endpoints the simulator serves; names are the path after /api/v3/.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Ping,
    Time,
    ExchangeInfo,
    Ticker24hr,
    BookTicker,
    TickerPrice,
    AvgPrice,
    Klines,
    Depth,
    Trades,
    HistoricalTrades,
    AggTrades,
}

impl Endpoint {
    pub const ALL: [Endpoint; 12] = [
        Endpoint::Ping,
        Endpoint::Time,
        Endpoint::ExchangeInfo,
        Endpoint::Ticker24hr,
        Endpoint::BookTicker,
        Endpoint::TickerPrice,
        Endpoint::AvgPrice,
        Endpoint::Klines,
        Endpoint::Depth,
        Endpoint::Trades,
        Endpoint::HistoricalTrades,
        Endpoint::AggTrades,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Ping => "ping",
            Endpoint::Time => "time",
            Endpoint::ExchangeInfo => "exchangeInfo",
            Endpoint::Ticker24hr => "ticker/24hr",
            Endpoint::BookTicker => "ticker/bookTicker",
            Endpoint::TickerPrice => "ticker/price",
            Endpoint::AvgPrice => "avgPrice",
            Endpoint::Klines => "klines",
            Endpoint::Depth => "depth",
            Endpoint::Trades => "trades",
            Endpoint::HistoricalTrades => "historicalTrades",
            Endpoint::AggTrades => "aggTrades",
        }
    }

    pub fn from_name(name: &str) -> Option<Endpoint> {
        Endpoint::ALL.into_iter().find(|e| e.name() == name)
    }

    /// Request weight per errors/NOTES.md (Binance rest-api.md).
    pub fn weight(self, p: &Params) -> u32 {
        let has_symbol = p.get("symbol").is_some();
        match self {
            Endpoint::Ping | Endpoint::Time => 1,
            Endpoint::ExchangeInfo => 20,
            Endpoint::Klines | Endpoint::AvgPrice => 2,
            Endpoint::AggTrades => 4,
            Endpoint::Trades | Endpoint::HistoricalTrades => 25,
            Endpoint::Depth => match p
                .get("limit")
                .and_then(|l| l.parse::<u64>().ok())
                .unwrap_or(100)
            {
                0..=100 => 5,
                101..=500 => 25,
                501..=1000 => 50,
                _ => 250,
            },
            Endpoint::Ticker24hr => match p.get("symbols") {
                _ if has_symbol => 2,
                None => 80,
                Some(list) => match list.split(',').count() {
                    0..=20 => 2,
                    21..=100 => 40,
                    _ => 80,
                },
            },
            Endpoint::BookTicker | Endpoint::TickerPrice => {
                if has_symbol {
                    2
                } else {
                    4
                }
            }
        }
    }

    /// Produces the 200 body or a Binance error.
    pub fn handle(self, st: &SimState, p: &Params, now: u64) -> Result<String, ApiError> {
        let market = st.market();
        let m = &*market;
        match self {
            Endpoint::Ping => Ok("{}".to_string()),
            Endpoint::Time => general::time(now),
            Endpoint::ExchangeInfo => general::exchange_info(m, p, now),
            Endpoint::Ticker24hr => ticker::ticker_24hr(m, p, now),
            Endpoint::BookTicker => ticker::book_ticker(m, p, now),
            Endpoint::TickerPrice => ticker::price(m, p, now),
            Endpoint::AvgPrice => ticker::avg_price(m, p, now),
            Endpoint::Klines => klines::klines(m, p, now),
            Endpoint::Depth => market_data::depth(m, p, now),
            Endpoint::Trades => market_data::trades(m, p, now),
            Endpoint::HistoricalTrades => market_data::historical_trades(m, p, now),
            Endpoint::AggTrades => market_data::agg_trades(m, p, now),
        }
    }
}

/// The simulator's router: REST, the websocket streams (`/ws`, `/stream`) and the controls.
pub fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/api/v3/{*path}", get(api))
        .route("/fapi/{*path}", get(crate::venues::binance_futures::serve))
        .merge(control::routes())
        .merge(crate::ws::routes())
        .with_state(state)
}

async fn api(
    State(st): State<Arc<SimState>>,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    // Counted and logged on arrival, before any latency, so tests can relate engine calls to
    // exchange calls.
    st.calls.incr(&path);
    let params = Params::parse(query.as_deref());
    let ticket = st.requests.record(
        &path,
        query.as_deref().map(params::decode).unwrap_or_default(),
        params.symbol_names(),
    );
    let endpoint = Endpoint::from_name(&path);
    let charge = st
        .weight
        .charge(endpoint.map_or(1, |e| e.weight(&params)), now_ms());
    let plan = st.faults.plan(&path);
    if !plan.delay.is_zero() {
        tokio::time::sleep(plan.delay).await;
    }
    let mut resp = match (charge.verdict, plan.status, endpoint) {
        (Verdict::TooMuch { retry_after_s }, _, _) => error_response(
            ApiError::TooMuchWeight(st.weight.limit()),
            None,
            Some(retry_after_s),
        ),
        (
            Verdict::Banned {
                retry_after_s,
                until_ms,
            },
            _,
            _,
        ) => error_response(ApiError::Banned(until_ms), None, Some(retry_after_s)),
        (Verdict::Ok, Some(status), _) => forced(status, plan.retry_after_s, st.weight.limit()),
        (Verdict::Ok, None, Some(e))
            if e.name() != "exchangeInfo"
                && st
                    .faults
                    .get()
                    .names_delisted(params.get("symbol"), params.get("symbols")) =>
        {
            error_response(ApiError::InvalidSymbol, None, None)
        }
        (Verdict::Ok, None, None) => StatusCode::NOT_FOUND.into_response(),
        (Verdict::Ok, None, Some(e)) => {
            let now = now_ms();
            match e.handle(&st, &params, now) {
                Ok(body) => {
                    let body = Bytes::from(body);
                    st.record_last(e.name(), params.get("symbol"), body.clone());
                    json(StatusCode::OK, Body::from(body))
                }
                Err(err) => error_response(err, None, None),
            }
        }
    };
    tracing::debug!(endpoint = %path, status = resp.status().as_u16(), "api request");
    let used = HeaderValue::from(charge.used);
    let h = resp.headers_mut();
    h.insert(
        HeaderName::from_static("x-mbx-used-weight-1m"),
        used.clone(),
    );
    h.insert(HeaderName::from_static("x-mbx-used-weight"), used);
    st.requests.answer(ticket, resp.status().as_u16());
    resp
}

/// A response for `Faults::force_status` / `error_rate`.
pub(crate) fn forced(status: u16, retry_after_s: u64, limit: u64) -> Response {
    match status {
        429 => error_response(ApiError::TooMuchWeight(limit), None, Some(retry_after_s)),
        418 => {
            let until = now_ms() + retry_after_s * 1000;
            error_response(ApiError::Banned(until), None, Some(retry_after_s))
        }
        s => {
            let code = StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            error_response(ApiError::Unknown, Some(code), None)
        }
    }
}

pub(crate) fn error_response(
    err: ApiError,
    status: Option<StatusCode>,
    retry_after_s: Option<u64>,
) -> Response {
    let mut resp = json(status.unwrap_or(err.status()), Body::from(err.body()));
    if let Some(s) = retry_after_s {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    resp
}

pub(crate) fn json(status: StatusCode, body: Body) -> Response {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Serialises a wire struct; failure is impossible for these plain types but is still an error,
/// not a panic.
pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> Result<String, ApiError> {
    serde_json::to_string(v).map_err(|_| ApiError::Unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for e in Endpoint::ALL {
            assert_eq!(Endpoint::from_name(e.name()), Some(e));
        }
        assert_eq!(Endpoint::from_name("order"), None);
    }

    #[test]
    fn weights_follow_binance() {
        let w = |e: Endpoint, q: &str| e.weight(&Params::parse(Some(q)));
        assert_eq!(w(Endpoint::Depth, ""), 5);
        assert_eq!(w(Endpoint::Depth, "limit=500"), 25);
        assert_eq!(w(Endpoint::Depth, "limit=1000"), 50);
        assert_eq!(w(Endpoint::Depth, "limit=5000"), 250);
        assert_eq!(w(Endpoint::Ticker24hr, "symbol=BTCUSDT"), 2);
        assert_eq!(w(Endpoint::Ticker24hr, ""), 80);
        assert_eq!(w(Endpoint::Ticker24hr, "symbols=[\"A\",\"B\"]"), 2);
        assert_eq!(w(Endpoint::TickerPrice, ""), 4);
        assert_eq!(w(Endpoint::ExchangeInfo, ""), 20);
        assert_eq!(w(Endpoint::Klines, ""), 2);
    }
}
