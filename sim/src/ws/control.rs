//! Websocket faults and controls: the operations behind [`crate::SimHandle`]'s `ws_*` methods
//! and the `/__sim/ws/*` routes (never counted, never faulted, like `/__sim/*`).
//!
//! | route | body (all fields optional) | does |
//! |---|---|---|
//! | `GET /__sim/ws/stats` | | [`WsStats`] |
//! | `POST /__sim/ws/drop` | `{"close_frame": false}` | drops every connection (TCP close, or close frame 1001 first) |
//! | `POST /__sim/ws/refuse` | `{"ms": 5000}` | answers upgrades 503 for that long (0: accept again) |
//! | `POST /__sim/ws/stall` / `unstall` | `{"stream": "btcusdt@ticker"}` | stops / resumes one stream on every connection |
//! | `POST /__sim/ws/skip` | `{"stream": "btcusdt@depth@100ms"}` | the stream's next depth event goes missing (a sequence gap) |
//! | `POST /__sim/ws/shutdown` | `{"grace_ms": 1000}` | `serverShutdown` on every connection, closed after the grace |
//! | `GET`/`POST /__sim/ws/intervals` | `{"ticker_ms": 100, "book_ticker_ms": .., "kline_ms": ..}` | update intervals |

use super::hub::Command;
use super::publish::WsIntervals;
use super::stats::WsStats;
use super::streams;
use crate::state::{now_ms, SimState};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// Drops every open connection: without a close frame (the TCP stream just closes, as when a
/// server or network dies), or after a close frame 1001. Returns how many there were.
pub fn drop_all(st: &SimState, close_frame: bool) -> usize {
    let command = if close_frame {
        Command::Close {
            code: 1001,
            reason: "Dropped by the simulator",
        }
    } else {
        Command::Abort
    };
    let n = st.ws.command_all(command);
    tracing::info!(connections = n, close_frame, "ws connections dropped");
    n
}

/// Refuses upgrades (HTTP 503) for `ms` from now; 0 accepts again. Returns the end time.
pub fn refuse_for(st: &SimState, ms: u64) -> u64 {
    let until = if ms == 0 {
        0
    } else {
        now_ms().saturating_add(ms)
    };
    st.ws.refuse_until(until);
    tracing::info!(ms, "ws upgrades refused");
    until
}

/// Stops sending `stream` on every connection (connections, pings and other streams go on).
pub fn stall(st: &SimState, stream: &str) -> Result<(), String> {
    streams::parse(stream)?;
    st.ws.stall(stream);
    tracing::info!(stream, "ws stream stalled");
    Ok(())
}

/// Makes a diff depth stream lose its next event (on every connection): the following event
/// starts after the lost one, so clients see a gap in `U`/`u`.
pub fn skip_update(st: &SimState, stream: &str) -> Result<(), String> {
    let spec = streams::parse(stream)?;
    if !matches!(spec.kind, streams::Kind::Depth(_)) {
        return Err(format!("{stream:?} is not a diff depth stream"));
    }
    st.ws.skip_next(stream);
    tracing::info!(stream, "ws depth event will be skipped");
    Ok(())
}

pub fn unstall(st: &SimState, stream: &str) {
    st.ws.unstall(stream);
    tracing::info!(stream, "ws stream resumed");
}

/// Sends `serverShutdown` on every open connection and closes each `grace_ms` later (the
/// configured `ws_shutdown_grace_ms` if None). New connections are accepted meanwhile.
pub fn server_shutdown(st: &SimState, grace_ms: Option<u64>) -> usize {
    let grace_ms = grace_ms.unwrap_or(st.config.ws_shutdown_grace_ms);
    let n = st.ws.command_all(Command::Shutdown { grace_ms });
    tracing::info!(connections = n, grace_ms, "ws serverShutdown sent");
    n
}

type St = State<Arc<SimState>>;

pub fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/__sim/ws/stats", get(stats))
        .route("/__sim/ws/drop", post(drop_route))
        .route("/__sim/ws/refuse", post(refuse_route))
        .route("/__sim/ws/stall", post(stall_route))
        .route("/__sim/ws/unstall", post(unstall_route))
        .route("/__sim/ws/skip", post(skip_route))
        .route("/__sim/ws/shutdown", post(shutdown_route))
        .route(
            "/__sim/ws/intervals",
            get(get_intervals).post(set_intervals),
        )
}

/// An optional JSON body: empty means all defaults.
fn body<T: DeserializeOwned + Default>(bytes: &Bytes) -> Result<T, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}

fn bad(e: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": e }))).into_response()
}

async fn stats(State(st): St) -> Json<WsStats> {
    Json(st.ws.stats(now_ms()))
}

#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct DropBody {
    close_frame: bool,
}

async fn drop_route(State(st): St, bytes: Bytes) -> Response {
    match body::<DropBody>(&bytes) {
        Ok(b) => Json(json!({ "dropped": drop_all(&st, b.close_frame) })).into_response(),
        Err(e) => bad(e),
    }
}

#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RefuseBody {
    ms: u64,
}

async fn refuse_route(State(st): St, bytes: Bytes) -> Response {
    match body::<RefuseBody>(&bytes) {
        Ok(b) => {
            let until = refuse_for(&st, b.ms);
            Json(json!({ "refusing_until_ms": (until > 0).then_some(until) })).into_response()
        }
        Err(e) => bad(e),
    }
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamBody {
    stream: String,
}

async fn stall_route(State(st): St, bytes: Bytes) -> Response {
    let done = serde_json::from_slice::<StreamBody>(&bytes)
        .map_err(|e| e.to_string())
        .and_then(|b| stall(&st, &b.stream));
    match done {
        Ok(()) => Json(json!({ "stalled": st.ws.stats(now_ms()).stalled })).into_response(),
        Err(e) => bad(e),
    }
}

async fn skip_route(State(st): St, bytes: Bytes) -> Response {
    let done = serde_json::from_slice::<StreamBody>(&bytes)
        .map_err(|e| e.to_string())
        .and_then(|b| skip_update(&st, &b.stream));
    match done {
        Ok(()) => Json(json!({ "skipping": true })).into_response(),
        Err(e) => bad(e),
    }
}

async fn unstall_route(State(st): St, bytes: Bytes) -> Response {
    match serde_json::from_slice::<StreamBody>(&bytes) {
        Ok(b) => {
            unstall(&st, &b.stream);
            Json(json!({ "stalled": st.ws.stats(now_ms()).stalled })).into_response()
        }
        Err(e) => bad(e.to_string()),
    }
}

#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ShutdownBody {
    grace_ms: Option<u64>,
}

async fn shutdown_route(State(st): St, bytes: Bytes) -> Response {
    match body::<ShutdownBody>(&bytes) {
        Ok(b) => {
            let grace_ms = b.grace_ms.unwrap_or(st.config.ws_shutdown_grace_ms);
            let n = server_shutdown(&st, Some(grace_ms));
            Json(json!({ "connections": n, "grace_ms": grace_ms })).into_response()
        }
        Err(e) => bad(e),
    }
}

async fn get_intervals(State(st): St) -> Json<WsIntervals> {
    Json(st.ws.intervals())
}

/// Fields not given keep their current value.
#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct IntervalsPatch {
    ticker_ms: Option<u64>,
    book_ticker_ms: Option<u64>,
    kline_ms: Option<u64>,
}

async fn set_intervals(State(st): St, bytes: Bytes) -> Response {
    let changed = body::<IntervalsPatch>(&bytes).and_then(|p| {
        let cur = st.ws.intervals();
        st.ws.set_intervals(WsIntervals {
            ticker_ms: p.ticker_ms.unwrap_or(cur.ticker_ms),
            book_ticker_ms: p.book_ticker_ms.unwrap_or(cur.book_ticker_ms),
            kline_ms: p.kline_ms.unwrap_or(cur.kline_ms),
        })
    });
    match changed {
        Ok(()) => Json(st.ws.intervals()).into_response(),
        Err(e) => bad(e),
    }
}
