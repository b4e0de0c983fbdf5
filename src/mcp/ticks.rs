//! Live tickers for the MCP front end, whoever runs the tools: this process's engine (a
//! [`TickerWatch`]) or, in gateway mode (`PUBSUB_ENABLED`), the worker pool.
//!
//! The pool cannot push a stream through its request/reply protocol, so the gateway forwards
//! and polls: it asks the pool's `stream_ticker` to keep the symbol watched there (fresh, from
//! the exchange's feed where it has one), and reads the pool's `get_ticker` every
//! [`POLL_EVERY`], handing over each ticker that differs from the last one.

use std::sync::Arc;
use std::time::Duration;

use crypto_market_actors::TickerWatch;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::client::PubSubClient;
use crate::tools::stream::TickerSource;
use crate::tools::ToolError;

/// How often the gateway reads a streamed ticker from the pool.
pub const POLL_EVERY: Duration = Duration::from_millis(500);

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

/// A ticker read from the worker pool (see the module docs).
pub struct PoolTicker {
    client: Arc<PubSubClient>,
    exchange: String,
    symbol: String,
    /// The first ticker, read at start: handed over first.
    held: Option<Value>,
    /// The last ticker handed over, without its freshness fields (which change on every read).
    last: Option<Value>,
    /// How long each `stream_ticker` lease at the pool lasts; renewed at half of it.
    lease: Duration,
    leased_until: Instant,
}

impl PoolTicker {
    /// Reads the ticker once (which resolves the symbol: a bad one fails here) and asks the
    /// pool to keep it watched for `lease`, renewed for as long as this is used.
    pub async fn start(
        client: Arc<PubSubClient>,
        exchange: Option<&str>,
        symbol: &str,
        lease: Duration,
    ) -> Result<Self, ToolError> {
        let args = json!({"symbol": symbol, "exchange": exchange});
        let first = client.call("get_ticker", args).await?;
        let name = |field: &str| first[field].as_str().unwrap_or_default().to_owned();
        let mut ticker = Self {
            exchange: name("exchange"),
            symbol: name("symbol"),
            client,
            held: Some(first),
            last: None,
            lease: lease.clamp(Duration::from_secs(1), Duration::from_secs(300)),
            leased_until: Instant::now(),
        };
        ticker.renew().await;
        Ok(ticker)
    }

    fn args(&self) -> Value {
        json!({"symbol": self.symbol, "exchange": self.exchange})
    }

    /// Extends the pool's watch. A pool that cannot is still read: only freshness suffers.
    async fn renew(&mut self) {
        let mut args = self.args();
        args["duration_s"] = json!(self.lease.as_secs());
        match self.client.call("stream_ticker", args).await {
            Ok(_) => self.leased_until = Instant::now() + self.lease,
            Err(e) => {
                tracing::warn!(symbol = %self.symbol, "the pool did not lease the ticker stream: {e}")
            }
        }
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
            tokio::time::sleep(POLL_EVERY).await;
            if Instant::now() + self.lease / 2 >= self.leased_until {
                self.renew().await;
            }
            match self.client.call("get_ticker", self.args()).await {
                Ok(ticker) => {
                    if self.last.as_ref() != Some(&without_freshness(&ticker)) {
                        self.hand_over(&ticker);
                        return Ok(ticker);
                    }
                }
                Err(e) => {
                    let error = ToolError::from(e);
                    if !error.retryable {
                        return Err(error);
                    }
                    tracing::debug!(symbol = %self.symbol, "polling the pool: {error}");
                }
            }
        }
    }

    async fn skip_held(&mut self) {
        if let Some(first) = self.held.take() {
            self.hand_over(&first);
        }
    }
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
