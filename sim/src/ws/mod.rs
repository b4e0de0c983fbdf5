//! Binance spot websocket market streams, on the same listener as REST.
//!
//! * `/ws/<stream>[/<stream>...]` and `/ws`: raw streams (bare event objects);
//!   `/stream?streams=a/b/c` and `/stream`: combined (`{"stream":..,"data":..}`). Either takes
//!   `timeUnit=MICROSECOND` for microsecond times.
//! * `streams`: stream names; `payload`: events in Binance's format, from the same computations
//!   as REST; `publish`: the timers that compute each stream once per update; `hub`: topics,
//!   connections and the websocket faults; `conn`: a connection's shared state and commands;
//!   `connection`: one connection's task (limits, pings, commands); `protocol`: SUBSCRIBE & co.;
//!   `control`: the `/__sim/ws/*` routes and the operations behind them and
//!   [`crate::SimHandle`]'s `ws_*` methods; `stats`: what tests read.

mod conn;
mod connection;
pub mod control;
pub mod depth;
pub mod hub;
mod mark_price;
mod payload;
mod protocol;
pub mod publish;
pub mod stats;
pub mod streams;

pub use hub::{Hub, WsDelivered};
pub use publish::WsIntervals;
pub use stats::{WsConnectionStats, WsStats};

use crate::rest::Params;
use crate::state::{now_ms, SimState};
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::sync::Arc;
use streams::{StreamSpec, TimeUnit, MAX_STREAMS};
use tokio::sync::mpsc;

/// Largest incoming message accepted (a SUBSCRIBE of 1024 long names is ~40 KB).
const MAX_MESSAGE_BYTES: usize = 1 << 20;

type St = State<Arc<SimState>>;

pub fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/ws", get(raw))
        .route("/ws/{*streams}", get(raw_with_streams))
        .route("/stream", get(combined))
        .merge(control::routes())
}

async fn raw(State(st): St, RawQuery(q): RawQuery, ws: WebSocketUpgrade) -> Response {
    upgrade(st, ws, false, "", q.as_deref())
}

async fn raw_with_streams(
    State(st): St,
    Path(streams): Path<String>,
    RawQuery(q): RawQuery,
    ws: WebSocketUpgrade,
) -> Response {
    upgrade(st, ws, false, &streams, q.as_deref())
}

async fn combined(State(st): St, RawQuery(q): RawQuery, ws: WebSocketUpgrade) -> Response {
    let params = Params::parse(q.as_deref());
    let streams = params.get("streams").unwrap_or_default().to_string();
    upgrade(st, ws, true, &streams, q.as_deref())
}

fn bad_request(msg: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "code": 2, "msg": format!("Invalid request: {msg}") })),
    )
        .into_response()
}

/// The streams named in the URL (`a/b/c`), deduplicated, each valid, at most [`MAX_STREAMS`].
fn url_streams(list: &str) -> Result<Vec<StreamSpec>, String> {
    let mut specs: Vec<StreamSpec> = Vec::new();
    for name in list.split('/').filter(|n| !n.is_empty()) {
        let spec = streams::parse(name)?;
        if !specs.iter().any(|s| s.name == spec.name) {
            specs.push(spec);
        }
    }
    if specs.len() > MAX_STREAMS {
        return Err(format!(
            "too many streams: at most {MAX_STREAMS} per connection, {} requested",
            specs.len()
        ));
    }
    Ok(specs)
}

fn upgrade(
    st: Arc<SimState>,
    ws: WebSocketUpgrade,
    combined: bool,
    streams: &str,
    query: Option<&str>,
) -> Response {
    if st.ws.refuses(now_ms()) {
        tracing::info!("ws upgrade refused (simulated outage)");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "code": -1008,
                "msg": "Service unavailable: the simulator refuses new websocket connections."
            })),
        )
            .into_response();
    }
    let params = Params::parse(query);
    let unit = match TimeUnit::parse(params.get("timeUnit")) {
        Ok(u) => u,
        Err(e) => return bad_request(e),
    };
    let specs = match url_streams(streams) {
        Ok(s) => s,
        Err(e) => return bad_request(e),
    };
    let (tx, rx) = mpsc::channel(connection::DATA_QUEUE);
    ws.max_message_size(MAX_MESSAGE_BYTES)
        .on_failed_upgrade(|e| tracing::warn!(error = %e, "ws upgrade failed"))
        .on_upgrade(move |socket| async move {
            let conn = st.ws.open(combined, unit, now_ms(), tx);
            connection::run(socket, st, conn, rx, specs).await;
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_stream_lists() {
        let s = url_streams("btcusdt@ticker/ethusdt@trade/btcusdt@ticker/").unwrap();
        let names: Vec<&str> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["btcusdt@ticker", "ethusdt@trade"]);
        assert!(url_streams("").unwrap().is_empty());
        assert!(url_streams("btcusdt@nope").is_err());
        let many: Vec<String> = (0..=MAX_STREAMS).map(|i| format!("s{i}@trade")).collect();
        assert!(url_streams(&many.join("/")).unwrap_err().contains("1024"));
    }
}
