//! `/__sim/*`: runtime controls for tests and operators. Never counted, never faulted.

use crate::faults::Faults;
use crate::markets::{MarketChange, RuntimeMarkets};
use crate::requests::RequestRecord;
use crate::state::{now_ms, SimState};
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;

type St = State<Arc<SimState>>;

pub fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/__sim/faults", get(get_faults).post(set_faults))
        .route("/__sim/reset", post(reset))
        .route("/__sim/calls", get(calls))
        .route("/__sim/calls/reset", post(reset_calls))
        .route("/__sim/last", get(last))
        .route("/__sim/markets", get(get_markets).post(change_markets))
        .route("/__sim/requests", get(requests))
        .route("/__sim/requests/reset", post(reset_requests))
        .route("/__sim/contracts", get(contracts))
        .route("/__sim/trades/burst", post(trade_burst))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BurstBody {
    symbol: String,
    count: u64,
}

/// `{"symbol": "BTCUSDT", "count": 800}`: that many more trades of the symbol now (at most
/// 1000 a call, what a trade stream sends in one update), on REST and the streams alike:
/// `{"at_ms", "first_id", "last_id"}`, or 400 with the reason.
async fn trade_burst(State(st): St, body: Bytes) -> Response {
    let added = serde_json::from_slice::<BurstBody>(&body)
        .map_err(|e| e.to_string())
        .and_then(|b| trade_burst_now(&st, &b.symbol, b.count));
    match added {
        Ok(a) => Json(a).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({ "error": e }))).into_response(),
    }
}

/// Adds a burst of `count` trades of `symbol` (its venue id or Binance name) now.
pub fn trade_burst_now(
    st: &SimState,
    symbol: &str,
    count: u64,
) -> Result<crate::market::trades::BurstAdded, String> {
    let m = st.market();
    let s = m
        .symbol(symbol)
        .or_else(|| m.by_venue_id(symbol))
        .ok_or_else(|| format!("unknown symbol {symbol:?}"))?;
    let added = m.add_burst(s, now_ms(), count)?;
    tracing::info!(symbol, count, ?added, "trade burst");
    Ok(added)
}

#[derive(Deserialize)]
struct AtQuery {
    at: Option<u64>,
}

/// What every derivative contract shows at `at` (ms; default now): last, mark, index, funding
/// rate and next settlement, interval, open interest (what `SimHandle::contract_at` says).
async fn contracts(State(st): St, Query(q): Query<AtQuery>) -> Json<serde_json::Value> {
    let at = q.at.unwrap_or_else(now_ms);
    Json(json!({ "at": at, "contracts": crate::derivs_handle::quotes(&st, at) }))
}

async fn get_faults(State(st): St) -> Json<Faults> {
    Json(st.faults.get())
}

/// Body is parsed by hand so a missing Content-Type or bad JSON gets a clear 400 message.
async fn set_faults(State(st): St, body: Bytes) -> Response {
    let parsed = serde_json::from_slice::<Faults>(&body)
        .map_err(|e| e.to_string())
        .and_then(|f| f.validate().map(|_| f));
    match parsed {
        Ok(f) => {
            tracing::info!(?f, "faults replaced");
            st.faults.set(f);
            Json(st.faults.get()).into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({ "error": e }))).into_response(),
    }
}

async fn get_markets(State(st): St) -> Json<RuntimeMarkets> {
    Json(st.markets.changes())
}

/// `{"list": [{"symbol", "base", "quote", "price"}], "delist": ["ID"]}`, both optional; answers
/// like GET, or 400 with the reason and nothing changed.
async fn change_markets(State(st): St, body: Bytes) -> Response {
    let changed = serde_json::from_slice::<MarketChange>(&body)
        .map_err(|e| e.to_string())
        .and_then(|c| st.markets.change(&c, now_ms()));
    match changed {
        Ok(m) => {
            tracing::info!(?m, "markets changed");
            Json(m).into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({ "error": e }))).into_response(),
    }
}

async fn reset(State(st): St) -> StatusCode {
    st.reset();
    StatusCode::NO_CONTENT
}

async fn calls(State(st): St) -> Json<serde_json::Value> {
    Json(json!({ "total": st.calls.total(), "endpoints": st.calls.snapshot() }))
}

async fn reset_calls(State(st): St) -> StatusCode {
    st.calls.reset();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct LastQuery {
    endpoint: Option<String>,
    symbol: Option<String>,
}

/// The exact bytes last served with 200 for (endpoint, symbol), or 404.
async fn last(State(st): St, Query(q): Query<LastQuery>) -> Response {
    let Some(endpoint) = q.endpoint else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "endpoint is required" })),
        )
            .into_response();
    };
    match st.last(&endpoint, q.symbol.as_deref()) {
        Some(body) => {
            let mut r = Response::new(Body::from(body));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            r
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[derive(Deserialize)]
struct RequestsQuery {
    endpoint: Option<String>,
}

/// A struct rather than `json!`, so records keep their field order on the wire.
#[derive(Serialize)]
struct Requests {
    requests: Vec<RequestRecord>,
}

/// The request log, oldest first: `{"requests": [...]}`, optionally one endpoint's.
async fn requests(State(st): St, Query(q): Query<RequestsQuery>) -> Json<Requests> {
    Json(Requests {
        requests: st.requests.snapshot(q.endpoint.as_deref()),
    })
}

async fn reset_requests(State(st): St) -> StatusCode {
    st.requests.reset();
    StatusCode::NO_CONTENT
}
