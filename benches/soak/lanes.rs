//! The soak's traffic: independent lanes, each one call at a time at its own pace, so the load
//! stays modest (two shared cores) and every lane keeps going whatever the others hit.
//!
//! MCP over streamable HTTP (rmcp's client, as remote assistants connect): cache hits on a few
//! hot symbols, misses on an ever-moving cold symbol, `get_order_book` / `get_ohlcv`,
//! `stream_ticker`; sessions that subscribe to `ticker://` resources and are then closed or
//! dropped; sessions opened by hand (plain HTTP) and abandoned, never closed. The worker pool
//! over the Redis request stream (`PubSubClient`): hits, misses, order books, `stream_ticker`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crypto_market_mcp::client::PubSubClient;
use rmcp::model::{CallToolRequestParams, ReadResourceRequestParams, SubscribeRequestParams};
use rmcp::service::{RunningService, ServiceError};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{json, Value};

use crate::common::Recorder;
use crate::tally::Tally;

/// Hot symbols: asked all the time, so (nearly) always cache hits.
pub const HOT: &[&str] = &[
    "BTC/USDT",
    "ETH/USDT",
    "SIM0001/USDT",
    "SIM0002/USDT",
    "SIM0003/USDT",
    "SIM0004/USDT",
    "SIM0005/USDT",
    "SIM0006/USDT",
];
/// Generated symbols below this are the hot and streamed ones; the cold ones start here.
const FIRST_COLD: usize = 100;
/// No call, over MCP or the pool, waits longer than this (a hang is a failure too).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// What every lane shares.
pub struct Load {
    pub mcp_url: String,
    pub pool: Arc<PubSubClient>,
    pub tally: Arc<Tally>,
    pub until: Instant,
    /// Generated symbols in the simulator (`SIM0001/USDT`..).
    pub symbols: usize,
    next_cold: AtomicUsize,
    pub http: reqwest::Client,
}

impl Load {
    pub fn new(
        mcp_url: String,
        pool: Arc<PubSubClient>,
        tally: Arc<Tally>,
        until: Instant,
        symbols: usize,
    ) -> Self {
        Self {
            mcp_url,
            pool,
            tally,
            until,
            symbols,
            next_cold: AtomicUsize::new(0),
            http: reqwest::Client::new(),
        }
    }

    /// The next cold symbol: each asked once per trip round all of them, so a symbol comes back
    /// long after its cache entry expired, and every call of the lanes that use it is a miss.
    pub fn cold(&self) -> String {
        let n = self.next_cold.fetch_add(1, Ordering::Relaxed);
        format!(
            "SIM{:04}/USDT",
            FIRST_COLD + n % (self.symbols - FIRST_COLD)
        )
    }

    fn running(&self) -> bool {
        Instant::now() < self.until
    }
}

/// A lane's clock: `next()` waits for the lane's next turn, false once the load is over.
pub struct Pace<'a> {
    load: &'a Load,
    ticks: tokio::time::Interval,
    n: u64,
}

impl<'a> Pace<'a> {
    pub fn new(load: &'a Load, period: Duration) -> Self {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Self { load, ticks, n: 0 }
    }

    /// The turn's number (0, 1, ...), or None when the load is over.
    pub async fn next(&mut self) -> Option<u64> {
        self.ticks.tick().await;
        self.n += 1;
        self.load.running().then_some(self.n - 1)
    }
}

type Session<H = ()> = RunningService<RoleClient, H>;

async fn open<H: ClientHandler>(load: &Load, handler: H) -> Result<Session<H>, Failed> {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(load.mcp_url.as_str()),
    );
    match tokio::time::timeout(CALL_TIMEOUT, handler.serve(transport)).await {
        Ok(Ok(session)) => Ok(session),
        Ok(Err(e)) => Err(("initialize".into(), e.to_string())),
        Err(_) => Err(("timeout".into(), "initialize: no answer within 30 s".into())),
    }
}

/// (kind, detail) of a failed call, for the tally.
pub type Failed = (String, String);

fn service_error(e: ServiceError) -> Failed {
    match e {
        ServiceError::McpError(error) => (format!("mcp {}", error.code.0), error.message.into()),
        ServiceError::TransportClosed => ("transport closed".into(), e.to_string()),
        ServiceError::TransportSend(_) => ("transport send".into(), e.to_string()),
        ServiceError::Timeout { .. } => ("timeout".into(), e.to_string()),
        other => ("protocol".into(), other.to_string()),
    }
}

/// One tool call over MCP: its structured result, or why not.
async fn call<H: ClientHandler>(
    session: &Session<H>,
    tool: &str,
    args: Value,
) -> Result<Value, Failed> {
    let mut params = CallToolRequestParams::new(tool.to_owned());
    if let Value::Object(map) = args {
        params = params.with_arguments(map);
    }
    let result = match tokio::time::timeout(CALL_TIMEOUT, session.call_tool(params)).await {
        Err(_) => return Err(("timeout".into(), format!("{tool}: no answer in 30 s"))),
        Ok(Err(e)) => return Err(service_error(e)),
        Ok(Ok(result)) => result,
    };
    let content = result.structured_content.unwrap_or(Value::Null);
    if result.is_error == Some(true) {
        let code = content["error"]["code"].as_str().unwrap_or("?").to_owned();
        return Err((code, content["error"]["message"].to_string()));
    }
    Ok(content)
}

/// A result names the symbol it was asked for (a wrong answer is a failure too).
pub fn check_symbol(result: &Value, symbol: &str) -> Result<(), Failed> {
    if result["symbol"] == symbol {
        Ok(())
    } else {
        Err((
            "wrong result".into(),
            format!("asked {symbol}, got {result}"),
        ))
    }
}

pub fn record(tally: &Tally, op: &'static str, outcome: Result<(), Failed>) {
    match outcome {
        Ok(()) => tally.ok(op),
        Err((kind, detail)) => tally.fail(op, &kind, &detail),
    }
}

/// Which call a long-lived session makes on its `n`-th turn: (operation, tool, arguments).
pub type Step = fn(&Load, u64) -> (&'static str, &'static str, Value);

/// A long-lived MCP session making one call per turn; opened again if its transport breaks
/// (each opening counted as `mcp session open`).
pub async fn mcp_lane(load: &Load, period: Duration, step: Step) {
    let mut pace = Pace::new(load, period);
    let mut session: Option<Session> = None;
    while let Some(n) = pace.next().await {
        if session.is_none() {
            let opened = open(load, ()).await;
            match opened {
                Ok(s) => session = Some(s),
                Err(e) => {
                    record(&load.tally, "mcp session open", Err(e));
                    continue;
                }
            }
            load.tally.ok("mcp session open");
        }
        let Some(current) = session.as_ref() else {
            continue;
        };
        let (op, tool, args) = step(load, n);
        let symbol = args["symbol"].as_str().unwrap_or_default().to_owned();
        let outcome = call(current, tool, args).await.and_then(|result| {
            if tool == "stream_ticker" {
                match result["updates"].as_u64() {
                    Some(u) if u > 0 => Ok(()),
                    _ => Err(("no update".into(), result.to_string())),
                }
            } else {
                check_symbol(&result, &symbol)
            }
        });
        if matches!(&outcome, Err((kind, _)) if kind.starts_with("transport")) {
            session = None;
        }
        record(&load.tally, op, outcome);
    }
}

pub fn mcp_hit(_: &Load, n: u64) -> (&'static str, &'static str, Value) {
    let symbol = HOT[n as usize % HOT.len()];
    (
        "mcp get_ticker hit",
        "get_ticker",
        json!({ "symbol": symbol }),
    )
}

pub fn mcp_miss(load: &Load, _: u64) -> (&'static str, &'static str, Value) {
    let symbol = load.cold();
    (
        "mcp get_ticker miss",
        "get_ticker",
        json!({ "symbol": symbol }),
    )
}

/// Order books and candles, of hot and cold symbols in turn.
pub fn mcp_book_or_candles(load: &Load, n: u64) -> (&'static str, &'static str, Value) {
    let symbol = if n % 4 < 2 {
        HOT[(n / 4) as usize % HOT.len()].to_owned()
    } else {
        load.cold()
    };
    if n.is_multiple_of(2) {
        let args = json!({ "symbol": symbol, "limit": 20 });
        ("mcp get_order_book", "get_order_book", args)
    } else {
        let args = json!({ "symbol": symbol, "timeframe": "1h", "limit": 50 });
        ("mcp get_ohlcv", "get_ohlcv", args)
    }
}

/// A short stream of one of 40 symbols in turn: a feed made and released each time.
pub fn mcp_stream(_: &Load, n: u64) -> (&'static str, &'static str, Value) {
    let args = json!({ "symbol": streamed(n), "duration_s": 5, "max_updates": 2 });
    ("mcp stream_ticker", "stream_ticker", args)
}

/// The streamed symbols: SIM0010..SIM0049.
pub fn streamed(n: u64) -> String {
    format!("SIM{:04}/USDT", 10 + n % 40)
}

fn ticker_uri(symbol: &str) -> String {
    format!("ticker://binance/{}", symbol.replace('/', ""))
}

/// Every `period`: a new session subscribes to three `ticker://` resources, waits for an
/// update of each, reads one, then is closed (unsubscribed first) or simply dropped, in turn.
#[allow(
    deprecated,
    reason = "resources/subscribe: what `initialize` sessions speak"
)]
pub async fn subscriber_lane(load: &Load, period: Duration) {
    let mut pace = Pace::new(load, period);
    while let Some(n) = pace.next().await {
        let recorder = Recorder::default();
        let session = match open(load, recorder.clone()).await {
            Ok(s) => s,
            Err(e) => {
                record(&load.tally, "mcp session open", Err(e));
                continue;
            }
        };
        load.tally.ok("mcp session open");
        let uris = [
            ticker_uri(HOT[n as usize % HOT.len()]),
            ticker_uri(HOT[(n as usize + 3) % HOT.len()]),
            ticker_uri(&streamed(n * 7)),
        ];
        let mut subscribed = Vec::new();
        for uri in &uris {
            let outcome = tokio::time::timeout(
                CALL_TIMEOUT,
                session.subscribe(SubscribeRequestParams::new(uri.as_str())),
            )
            .await
            .map_err(|_| ("timeout".to_owned(), format!("subscribe {uri}")))
            .and_then(|r| r.map_err(service_error));
            if outcome.is_ok() {
                subscribed.push(uri.clone());
            }
            record(&load.tally, "mcp resources/subscribe", outcome.map(drop));
        }
        // The simulator's websocket ticks every second: each subscription hears within a few.
        let heard_by = Instant::now() + Duration::from_secs(10);
        while Instant::now() < heard_by
            && subscribed
                .iter()
                .any(|uri| recorder.updates_of(uri).is_empty())
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for uri in &subscribed {
            let outcome = if recorder.updates_of(uri).is_empty() {
                Err(("no update in 10 s".to_owned(), uri.clone()))
            } else {
                Ok(())
            };
            record(&load.tally, "mcp resource update heard", outcome);
        }
        let read = tokio::time::timeout(
            CALL_TIMEOUT,
            session.read_resource(ReadResourceRequestParams::new(uris[0].as_str())),
        )
        .await
        .map_err(|_| ("timeout".to_owned(), format!("read {}", uris[0])))
        .and_then(|r| r.map_err(service_error));
        record(&load.tally, "mcp resources/read", read.map(drop));
        if n % 2 == 0 {
            for uri in &subscribed {
                let outcome = session
                    .unsubscribe(rmcp::model::UnsubscribeRequestParams::new(uri.as_str()))
                    .await
                    .map_err(service_error);
                record(&load.tally, "mcp resources/unsubscribe", outcome);
            }
            let closed = session
                .cancel()
                .await
                .map(drop)
                .map_err(|e| ("close".to_owned(), e.to_string()));
            record(&load.tally, "mcp session close", closed);
        }
        // else: dropped with its subscriptions, as a client that goes away does.
    }
}
