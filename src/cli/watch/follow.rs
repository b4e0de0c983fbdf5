//! `watch` over the worker pool: the pool cannot push updates through its request/reply
//! protocol, but it publishes every tick of a streamed symbol on the symbol's Redis channel
//! (SPEC.md section 5), as the gateway follows it. So the tickers are asked once
//! (`get_tickers`, which resolves the symbols), the pool is asked to keep each streamed
//! (`stream_ticker`, a lease renewed while watching) and each channel is followed: no request
//! per update. A pool publishes only with its shared cache (`USE_REDIS_CACHE`): a symbol whose
//! channel stays silent for [`SILENT`] is asked for again at each update instead.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::task::JoinHandle;

use crate::cli::connection::pool::WorkerPool;
use crate::cli::CliError;
use crate::client::channels::published_ticker;
use crate::client::PubSubClient;

/// How long each `stream_ticker` lease lasts, and how often it is renewed (well before its end,
/// so a slow round trip through the pool leaves no gap).
const LEASE: Duration = Duration::from_secs(60);
const RENEW_EVERY: Duration = Duration::from_secs(40);
/// A channel silent this long is not (or no longer) published on: its symbol is asked for.
/// Long next to a venue's ticker interval (Binance: 1 s).
const SILENT: Duration = Duration::from_secs(3);

/// A ticker as last received, and its age then.
#[derive(Clone)]
struct Received {
    ticker: Value,
    age_ms: u64,
    at: Instant,
    /// Last heard on the symbol's channel (else answered by the pool).
    published: bool,
}

impl Received {
    fn now(ticker: Value, published: bool) -> Self {
        Self {
            age_ms: ticker["age_ms"].as_u64().unwrap_or(0),
            ticker,
            at: Instant::now(),
            published,
        }
    }

    /// Not heard on its channel lately.
    fn silent(&self) -> bool {
        !self.published || self.at.elapsed() > SILENT
    }

    /// The ticker with the age it has now.
    fn aged(&self) -> Value {
        let mut ticker = self.ticker.clone();
        let elapsed = u64::try_from(self.at.elapsed().as_millis()).unwrap_or(u64::MAX);
        ticker["age_ms"] = json!(self.age_ms.saturating_add(elapsed));
        ticker
    }
}

type Latest = Arc<Mutex<Vec<Received>>>;

/// The watched tickers, kept current from their channels until dropped.
pub struct Followed {
    /// One per symbol the pool knew, in the order of its first answer.
    latest: Latest,
    /// The `exchange` argument of the watch, if any (for asking silent symbols again).
    exchange: Value,
    started: Instant,
    /// The first answer's `errors` (symbols the pool does not know stay unknown).
    errors: Value,
    /// A reader per channel and the lease renewal; ended when the watch ends.
    tasks: Vec<JoinHandle<()>>,
}

impl Followed {
    /// Asks the pool for the tickers of `request` (`get_tickers` arguments), leases their
    /// streams and follows their channels: the first answer, and what follows.
    pub async fn start(pool: &WorkerPool, request: Value) -> Result<(Value, Followed), CliError> {
        let exchange = request["exchange"].clone();
        let first = pool.call("get_tickers", request).await?;
        let tickers: Vec<Value> = first["tickers"].as_array().cloned().unwrap_or_default();
        let latest: Latest = Arc::new(Mutex::new(
            tickers
                .iter()
                .cloned()
                .map(|t| Received::now(t, false))
                .collect(),
        ));
        let mut tasks = Vec::new();
        let mut streamed = Vec::new();
        for (row, ticker) in tickers.iter().enumerate() {
            let (Some(exchange), Some(symbol)) =
                (ticker["exchange"].as_str(), ticker["symbol"].as_str())
            else {
                continue;
            };
            let channel = match lease(pool.client(), exchange, symbol).await {
                Some(channel) => channel,
                // Without a lease the pool may still stream it for someone else: follow anyway.
                None => pool.client().channels().channel_of(exchange, symbol),
            };
            let mut feed = pool.client().channels().follow(&channel);
            let latest = latest.clone();
            tasks.push(tokio::spawn(async move {
                while let Some(message) = feed.next().await {
                    if let Some(ticker) = published_ticker(&message) {
                        if let Some(slot) = lock(&latest).get_mut(row) {
                            *slot = Received::now(ticker, true);
                        }
                    }
                }
            }));
            streamed.push((exchange.to_owned(), symbol.to_owned()));
        }
        let client = pool.client().clone();
        tasks.push(tokio::spawn(async move {
            loop {
                tokio::time::sleep(RENEW_EVERY).await;
                for (exchange, symbol) in &streamed {
                    // A pool that cannot renew is still followed: only freshness suffers.
                    let _ = lease(&client, exchange, symbol).await;
                }
            }
        }));
        let errors = first["errors"].clone();
        Ok((
            first,
            Followed {
                latest,
                exchange,
                started: Instant::now(),
                errors,
                tasks,
            },
        ))
    }

    /// The tickers now, as a `get_tickers` result; symbols whose channel is silent are asked
    /// for (once the channels had [`SILENT`] to speak).
    pub async fn current(&self, pool: &WorkerPool) -> Result<Value, CliError> {
        if self.started.elapsed() > SILENT {
            self.ask_silent(pool).await?;
        }
        let tickers: Vec<Value> = lock(&self.latest).iter().map(Received::aged).collect();
        Ok(json!({ "tickers": tickers, "errors": self.errors }))
    }

    async fn ask_silent(&self, pool: &WorkerPool) -> Result<(), CliError> {
        let silent: Vec<String> = lock(&self.latest)
            .iter()
            .filter(|r| r.silent())
            .filter_map(|r| r.ticker["symbol"].as_str().map(str::to_owned))
            .collect();
        if silent.is_empty() {
            return Ok(());
        }
        let mut request = json!({ "symbols": silent });
        if !self.exchange.is_null() {
            request["exchange"] = self.exchange.clone();
        }
        let answer = pool.call("get_tickers", request).await?;
        let mut latest = lock(&self.latest);
        for ticker in answer["tickers"].as_array().into_iter().flatten() {
            let row = latest.iter_mut().find(|r| {
                r.silent()
                    && r.ticker["symbol"] == ticker["symbol"]
                    && r.ticker["exchange"] == ticker["exchange"]
            });
            if let Some(row) = row {
                *row = Received::now(ticker.clone(), false);
            }
        }
        Ok(())
    }
}

impl Drop for Followed {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Asks the pool to keep `symbol` streamed for [`LEASE`]: the channel it publishes on.
async fn lease(client: &PubSubClient, exchange: &str, symbol: &str) -> Option<String> {
    let args = json!({ "symbol": symbol, "exchange": exchange, "duration_s": LEASE.as_secs() });
    let reply = client.call("stream_ticker", args).await.ok()?;
    reply["channel"].as_str().map(str::to_owned)
}

fn lock(latest: &Latest) -> std::sync::MutexGuard<'_, Vec<Received>> {
    // Whole entries are replaced: a panic elsewhere leaves nothing half-written.
    latest.lock().unwrap_or_else(|p| p.into_inner())
}
