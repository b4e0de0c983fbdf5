//! Live tickers for the MCP front end, whoever runs the tools: this process's engine (a
//! [`TickerWatch`]) or, in gateway mode (`PUBSUB_ENABLED`), the worker pool.
//!
//! The pool cannot push a stream through its request/reply protocol, but it publishes every
//! tick of a streamed symbol on the symbol's Redis channel (SPEC.md section 5). So the gateway
//! asks the pool's `stream_ticker` to keep the symbol streamed there (a lease, renewed shortly
//! before it ends while in use) and follows the channel the pool names: no request per tick.

use std::sync::Arc;
use std::time::Duration;

use crypto_market_actors::TickerWatch;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::client::channels::TickerFeed;
use crate::client::PubSubClient;
use crate::config::Secret;
use crate::tools::stream::TickerSource;
use crate::tools::ToolError;
use crypto_market_actors::ErrorCode;

/// How long before a pool lease ends it is renewed (at most half the lease): time for the
/// renewal's round trip through the pool.
pub const RENEW_AHEAD: Duration = Duration::from_secs(10);

/// A caller's key and its client id at the pool, which the gateway forwards.
pub type PoolCaller = Option<(Secret, String)>;

/// Every new ticker of one symbol.
pub enum Ticks {
    Watch(TickerWatch),
    Pool(PoolTicker),
}

impl Ticks {
    pub fn exchange(&self) -> &str {
        match self {
            Self::Watch(watch) => watch.exchange(),
            Self::Pool(pool) => &pool.exchange,
        }
    }

    /// Unified symbol, e.g. `BTC/USDT`.
    pub fn symbol(&self) -> &str {
        match self {
            Self::Watch(watch) => watch.symbol(),
            Self::Pool(pool) => &pool.symbol,
        }
    }
}

impl TickerSource for Ticks {
    async fn next_ticker(&mut self) -> Result<Value, ToolError> {
        match self {
            Self::Watch(watch) => watch.next_ticker().await,
            Self::Pool(pool) => pool.next_ticker().await,
        }
    }

    async fn skip_held(&mut self) {
        match self {
            Self::Watch(watch) => watch.skip_held().await,
            Self::Pool(pool) => pool.skip_held().await,
        }
    }
}

/// A ticker streamed by the worker pool (see the module docs).
pub struct PoolTicker {
    client: Arc<PubSubClient>,
    caller: PoolCaller,
    exchange: String,
    symbol: String,
    /// The first ticker, read at start: handed over first.
    held: Option<Value>,
    /// The last ticker handed over, without its freshness fields.
    last: Option<Value>,
    feed: TickerFeed,
    /// How long each `stream_ticker` lease at the pool lasts; renewed [`RENEW_AHEAD`] of its end.
    lease: Duration,
    renew_at: Instant,
}

impl PoolTicker {
    /// Reads the ticker once (which resolves the symbol: a bad one fails here), asks the pool
    /// to keep it streamed for `lease` and follows its channel.
    pub async fn start(
        client: Arc<PubSubClient>,
        caller: PoolCaller,
        exchange: Option<&str>,
        symbol: &str,
        lease: Duration,
    ) -> Result<Self, ToolError> {
        let args = json!({"symbol": symbol, "exchange": exchange});
        let as_caller = caller.as_ref().map(|(key, id)| (key, id.as_str()));
        let first = client.call_as("get_ticker", args, as_caller).await?;
        let name = |field: &str| first[field].as_str().unwrap_or_default().to_owned();
        let (exchange, symbol) = (name("exchange"), name("symbol"));
        let lease = lease.clamp(Duration::from_secs(2), Duration::from_secs(300));
        let channel = match lease_stream(&client, as_caller, &exchange, &symbol, lease).await {
            Ok(channel) => channel,
            Err(error) => {
                // Without a lease the pool may still stream it for someone else; follow anyway.
                tracing::warn!(%symbol, "the pool did not lease the ticker stream: {error}");
                client.channels().channel_of(&exchange, &symbol)
            }
        };
        let feed = client.channels().follow(&channel);
        Ok(Self {
            client,
            caller,
            exchange,
            symbol,
            held: Some(first),
            last: None,
            feed,
            lease,
            renew_at: Instant::now() + renew_after(lease),
        })
    }

    /// Extends the pool's stream. A pool that cannot is still followed: only freshness suffers.
    async fn renew(&mut self) {
        let caller = self.caller.as_ref().map(|(key, id)| (key, id.as_str()));
        if let Err(error) = lease_stream(
            &self.client,
            caller,
            &self.exchange,
            &self.symbol,
            self.lease,
        )
        .await
        {
            tracing::warn!(symbol = %self.symbol, "the pool did not renew the ticker stream: {error}");
        }
        self.renew_at = Instant::now() + renew_after(self.lease);
    }

    fn hand_over(&mut self, ticker: &Value) {
        self.last = Some(without_freshness(ticker));
    }

    async fn next_ticker(&mut self) -> Result<Value, ToolError> {
        if let Some(first) = self.held.take() {
            self.hand_over(&first);
            return Ok(first);
        }
        loop {
            let message = tokio::select! {
                message = self.feed.next() => message,
                () = tokio::time::sleep_until(self.renew_at) => {
                    self.renew().await;
                    continue;
                }
            };
            let Some(message) = message else {
                return Err(ToolError::new(
                    ErrorCode::Internal,
                    format!("the ticker channel {} closed", self.feed.channel()),
                ));
            };
            let Some(ticker) = published_ticker(&message) else {
                tracing::debug!(channel = self.feed.channel(), "unreadable ticker ignored");
                continue;
            };
            if self.last.as_ref() != Some(&without_freshness(&ticker)) {
                self.hand_over(&ticker);
                return Ok(ticker);
            }
        }
    }

    async fn skip_held(&mut self) {
        if let Some(first) = self.held.take() {
            self.hand_over(&first);
        }
    }
}

/// When to renew a lease of `lease` taken now.
fn renew_after(lease: Duration) -> Duration {
    lease - RENEW_AHEAD.min(lease / 2)
}

/// Asks the pool to keep `symbol` streamed (and published) for `lease`: the channel it
/// publishes on.
async fn lease_stream(
    client: &PubSubClient,
    caller: Option<(&Secret, &str)>,
    exchange: &str,
    symbol: &str,
    lease: Duration,
) -> Result<String, ToolError> {
    let args = json!({"symbol": symbol, "exchange": exchange, "duration_s": lease.as_secs()});
    let reply = client.call_as("stream_ticker", args, caller).await?;
    reply["channel"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| ToolError::new(ErrorCode::Internal, "the pool's lease names no channel"))
}

/// A published tick as `get_ticker` answers: the ticker JSON of the channel, with the age it
/// has now (ticks are published as they arrive, so they are fresh).
fn published_ticker(payload: &str) -> Option<Value> {
    let mut ticker: Value = serde_json::from_str(payload).ok()?;
    let fields = ticker.as_object_mut()?;
    let now = crypto_market_actors::model::now_ms();
    let age_ms = fields
        .get("timestamp")
        .and_then(Value::as_i64)
        .map_or(0, |at| (now - at).max(0));
    fields.insert("age_ms".into(), json!(age_ms));
    fields.insert("stale".into(), json!(false));
    fields.entry("source").or_insert(json!("stream"));
    Some(ticker)
}

/// The ticker without what changes on every read of the same value.
fn without_freshness(ticker: &Value) -> Value {
    let mut ticker = ticker.clone();
    if let Some(fields) = ticker.as_object_mut() {
        for field in ["age_ms", "source", "stale"] {
            fields.remove(field);
        }
    }
    ticker
}
