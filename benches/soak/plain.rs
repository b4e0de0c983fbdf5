//! Lanes without an MCP client library: the worker pool over the Redis request stream
//! (`PubSubClient`, as other nodes call it), and MCP sessions made by hand over plain HTTP and
//! abandoned: initialized, used once, never closed (a client that crashed or lost its
//! network), which only the server's idle close can reclaim.

use std::time::Duration;

use crypto_market_mcp::client::ClientError;
use serde_json::{json, Value};

use crate::lanes::{check_symbol, record, streamed, Failed, Load, Pace, CALL_TIMEOUT, HOT};

fn pool_error(e: ClientError) -> Failed {
    let kind = match &e {
        ClientError::Remote { code, .. } => code.clone(),
        ClientError::Timeout { .. } => "timeout".into(),
        ClientError::Redis(_) => "redis".into(),
        ClientError::Setup(_) => "setup".into(),
        ClientError::BadReply(_) => "bad reply".into(),
    };
    (kind, e.to_string())
}

/// Which pool call a turn makes: (operation, tool, arguments).
pub type Step = fn(&Load, u64) -> (&'static str, &'static str, Value);

/// One pool call per turn, `REQUEST_TIMEOUT` (10 s, the client's setting) at most each.
pub async fn pool_lane(load: &Load, period: Duration, step: Step) {
    let mut pace = Pace::new(load, period);
    while let Some(n) = pace.next().await {
        let (op, tool, args) = step(load, n);
        let symbol = args["symbol"].as_str().unwrap_or_default().to_owned();
        let outcome = load
            .pool
            .call(tool, args)
            .await
            .map_err(pool_error)
            .and_then(|result| {
                if tool == "stream_ticker" {
                    match result["channel"].as_str() {
                        Some(c) if c.ends_with(&symbol) => Ok(()),
                        _ => Err(("wrong result".into(), result.to_string())),
                    }
                } else {
                    check_symbol(&result, &symbol)
                }
            });
        record(&load.tally, op, outcome);
    }
}

pub fn pool_hit(_: &Load, n: u64) -> (&'static str, &'static str, Value) {
    let symbol = HOT[n as usize % HOT.len()];
    (
        "pool get_ticker hit",
        "get_ticker",
        json!({ "symbol": symbol }),
    )
}

pub fn pool_miss(load: &Load, _: u64) -> (&'static str, &'static str, Value) {
    (
        "pool get_ticker miss",
        "get_ticker",
        json!({ "symbol": load.cold() }),
    )
}

pub fn pool_book(load: &Load, n: u64) -> (&'static str, &'static str, Value) {
    let symbol = if n.is_multiple_of(2) {
        HOT[(n / 2) as usize % HOT.len()].to_owned()
    } else {
        load.cold()
    };
    let args = json!({ "symbol": symbol, "limit": 20 });
    ("pool get_order_book", "get_order_book", args)
}

/// Keeps one of the streamed symbols published on its Redis channel for 10 s.
pub fn pool_stream(_: &Load, n: u64) -> (&'static str, &'static str, Value) {
    let args = json!({ "symbol": streamed(n * 3), "duration_s": 10 });
    ("pool stream_ticker", "stream_ticker", args)
}

const PROTOCOL: &str = "2025-06-18";

/// Every `period`: `initialize`, `notifications/initialized`, one `get_ticker`, and the
/// session is forgotten (no DELETE).
pub async fn abandoning_lane(load: &Load, period: Duration) {
    let mut pace = Pace::new(load, period);
    while let Some(n) = pace.next().await {
        let symbol = HOT[n as usize % HOT.len()];
        let outcome = tokio::time::timeout(CALL_TIMEOUT, abandoned_session(load, symbol))
            .await
            .unwrap_or_else(|_| Err(("timeout".into(), "no answer within 30 s".into())));
        record(&load.tally, "http session abandoned", outcome);
    }
}

async fn abandoned_session(load: &Load, symbol: &str) -> Result<(), Failed> {
    let init = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL,
            "capabilities": {},
            "clientInfo": {"name": "soak-abandoner", "version": "0"}
        }
    });
    let (session, reply) = post(load, None, &init).await?;
    let session = session.ok_or(("no session".to_owned(), reply.to_string()))?;
    if reply["result"]["protocolVersion"].is_null() {
        return Err(("initialize".into(), reply.to_string()));
    }
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    post(load, Some(&session), &initialized).await?;
    let call = json!({
        "jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "get_ticker", "arguments": {"symbol": symbol}}
    });
    let (_, reply) = post(load, Some(&session), &call).await?;
    let result = &reply["result"];
    if result["isError"] == true || result.is_null() {
        let code = result["structuredContent"]["error"]["code"]
            .as_str()
            .unwrap_or("no result");
        return Err((code.to_owned(), reply.to_string()));
    }
    check_symbol(&result["structuredContent"], symbol)
}

/// POSTs one JSON-RPC message to `/mcp`: the session id the server set, and the JSON-RPC
/// answer (the last `data:` event of an SSE body, or a JSON body; null for a notification).
async fn post(
    load: &Load,
    session: Option<&str>,
    message: &Value,
) -> Result<(Option<String>, Value), Failed> {
    let mut request = load
        .http
        .post(&load.mcp_url)
        .header("Accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", PROTOCOL)
        .json(message);
    if let Some(id) = session {
        request = request.header("Mcp-Session-Id", id);
    }
    let response = request
        .send()
        .await
        .map_err(|e| ("http".to_owned(), e.to_string()))?;
    let status = response.status();
    let session = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response
        .text()
        .await
        .map_err(|e| ("http body".to_owned(), e.to_string()))?;
    if !status.is_success() {
        return Err((format!("http {}", status.as_u16()), body));
    }
    let answer = body
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .chain(std::iter::once(body.as_str()))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .find(|v| v.get("id").is_some())
        .unwrap_or(Value::Null);
    Ok((session, answer))
}
