//! Faults and counters of the venue websockets: the operations behind [`crate::SimHandle`]'s
//! `ws_venue_*` methods and the `/__sim/ws/venue/*` routes. Dropping, refusing and shutting
//! down connections are the shared `/__sim/ws/drop`, `/refuse`, `/shutdown`
//! (`crate::ws::control`).
//!
//! | route | body | does |
//! |---|---|---|
//! | `GET /__sim/ws/venue/stats` | | [`VenueWsStats`] |
//! | `GET /__sim/ws/venue/book?symbol=BTCUSDT[&depth=N]` | | [`VenueBook`]: the book at the last update sent |
//! | `POST /__sim/ws/venue/skip` | `{"symbol": "BTCUSDT"}` | the next book update is lost (its sequence number used up) |
//! | `POST /__sim/ws/venue/corrupt` | `{"symbol": "BTCUSDT"}` | the next book update carries a wrong checksum (OKX, Kraken) |
//! | `POST /__sim/ws/venue/stall` / `unstall` | `{"kind": "book", "symbol": "BTCUSDT"}` | stops / resumes `book`, `ticker`, `trades` or `candle` of a symbol |
//!
//! Symbols are the simulator's names (`BTCUSDT`) or the venue's ids (`BTC-USDT`).

use super::VenueWsStats;
use crate::rest::Params;
use crate::state::SimState;
use crate::venue::Venue;
use crate::venues::format::trimmed;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::{Arc, PoisonError};

/// A book as the venue's websocket clients should hold it after the last update sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VenueBook {
    /// The simulator's symbol name.
    pub symbol: String,
    /// The sequence number of that update (the walk step: OKX `seqId`, Bybit `u`).
    pub seq: u64,
    /// (price, size) as decimal strings without trailing zeros, best first.
    pub bids: Vec<(String, String)>,
    pub asks: Vec<(String, String)>,
}

/// The simulator's name of `symbol` (its own name or the venue's id).
fn resolve(st: &SimState, symbol: &str) -> Result<String, String> {
    let m = st.market();
    m.symbol(symbol)
        .or_else(|| m.by_venue_id(symbol))
        .map(|s| s.name.clone())
        .ok_or_else(|| format!("unknown symbol {symbol}"))
}

pub fn book(st: &SimState, symbol: &str, depth: Option<usize>) -> Option<VenueBook> {
    let name = resolve(st, symbol).ok()?;
    let b = st.vws.true_book(&name, depth)?;
    let side = |l: &[(u64, u64)]| l.iter().map(|&(p, q)| (trimmed(p), trimmed(q))).collect();
    Some(VenueBook {
        symbol: name,
        seq: b.last_update_id,
        bids: side(&b.bids),
        asks: side(&b.asks),
    })
}

/// Loses the next book update of `symbol`.
pub fn skip(st: &SimState, symbol: &str) -> Result<(), String> {
    let name = resolve(st, symbol)?;
    st.vws
        .skip
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(name);
    Ok(())
}

/// Sends a wrong checksum with the next book update of `symbol` (venues with checksums).
pub fn corrupt(st: &SimState, symbol: &str) -> Result<(), String> {
    if !matches!(st.config.venue, Venue::Okx | Venue::Kraken) {
        return Err(format!("{} books carry no checksum", st.config.venue));
    }
    let name = resolve(st, symbol)?;
    st.vws
        .corrupt
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(name);
    Ok(())
}

/// Stops (or resumes) `kind` (`book`, `ticker`, `trades`, `candle`) of `symbol`.
pub fn stall(st: &SimState, kind: &str, symbol: &str, on: bool) -> Result<(), String> {
    if !["book", "ticker", "trades", "candle"].contains(&kind) {
        return Err(format!(
            "kind must be book, ticker, trades or candle, got {kind}"
        ));
    }
    let key = format!("{kind}:{}", resolve(st, symbol)?);
    let mut set = st
        .vws
        .stalled
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if on {
        set.insert(key);
    } else {
        set.remove(&key);
    }
    Ok(())
}

type St = State<Arc<SimState>>;

pub fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/__sim/ws/venue/stats", get(stats_route))
        .route("/__sim/ws/venue/book", get(book_route))
        .route("/__sim/ws/venue/skip", post(skip_route))
        .route("/__sim/ws/venue/corrupt", post(corrupt_route))
        .route("/__sim/ws/venue/stall", post(stall_route))
        .route("/__sim/ws/venue/unstall", post(unstall_route))
}

fn answer(r: Result<(), String>, st: &SimState) -> Response {
    match r {
        Ok(()) => Json(st.vws.stats()).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({ "error": e }))).into_response(),
    }
}

async fn stats_route(State(st): St) -> Json<VenueWsStats> {
    Json(st.vws.stats())
}

async fn book_route(State(st): St, RawQuery(q): RawQuery) -> Response {
    let p = Params::parse(q.as_deref());
    let depth = p.get("depth").and_then(|d| d.parse().ok());
    match book(&st, p.get("symbol").unwrap_or_default(), depth) {
        Some(b) => Json(b).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no book subscribed for that symbol" })),
        )
            .into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SymbolBody {
    symbol: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StallBody {
    kind: String,
    symbol: String,
}

fn parse<T: serde::de::DeserializeOwned>(b: &Bytes) -> Result<T, String> {
    serde_json::from_slice(b).map_err(|e| e.to_string())
}

async fn skip_route(State(st): St, b: Bytes) -> Response {
    let r = parse::<SymbolBody>(&b).and_then(|b| skip(&st, &b.symbol));
    answer(r, &st)
}

async fn corrupt_route(State(st): St, b: Bytes) -> Response {
    let r = parse::<SymbolBody>(&b).and_then(|b| corrupt(&st, &b.symbol));
    answer(r, &st)
}

async fn stall_route(State(st): St, b: Bytes) -> Response {
    let r = parse::<StallBody>(&b).and_then(|b| stall(&st, &b.kind, &b.symbol, true));
    answer(r, &st)
}

async fn unstall_route(State(st): St, b: Bytes) -> Response {
    let r = parse::<StallBody>(&b).and_then(|b| stall(&st, &b.kind, &b.symbol, false));
    answer(r, &st)
}
