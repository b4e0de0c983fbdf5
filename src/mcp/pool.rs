//! Gateway mode (`PUBSUB_ENABLED`): the MCP server's tools run on the worker pool through
//! Redis ([`PoolCaller`]); this process starts no engine and calls no exchange.
//!
//! Live tickers: the pool cannot push a stream through its request/reply protocol, but it publishes every
//! tick of a streamed symbol on the symbol's Redis channel (SPEC.md section 5). So the gateway
//! asks the pool's `stream_ticker` to keep the symbol streamed there (a lease, renewed shortly
//! before it ends while in use) and follows the channel the pool names: no request per tick.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::caller::{LiveTicker, MarketCaller, Ticks};
use crate::client::channels::{published_ticker, TickerFeed};
use crate::client::PubSubClient;
use crate::config::Secret;
use crate::tools::args::{parse, StreamLimits, StreamTickerArgs};
use crate::tools::stream::{self, TickerSource};
use crate::tools::{Arguments, CallContext, Tool, ToolError};
use crypto_market_actors::ErrorCode;

/// How long before a pool lease ends it is renewed (at most half the lease): time for the
/// renewal's round trip through the pool.
const RENEW_AHEAD: Duration = Duration::from_secs(10);

/// How long a gateway's lease on a pool-side ticker stream lasts when nothing else bounds it
/// (resource subscriptions); renewed while in use.
const SUBSCRIPTION_LEASE: Duration = Duration::from_secs(300);

/// A caller's key and its client id at the pool, which the gateway forwards.
type ForwardedKey = Option<(Secret, String)>;

/// The caller a gateway forwards: its key and client id, when it called with its own key.
fn forwarded_key(context: &CallContext) -> ForwardedKey {
    context.api_key.clone().zip(context.client_id.clone())
}

/// The tools on the worker pool.
pub struct PoolCaller(Arc<PubSubClient>);

impl PoolCaller {
    pub fn new(client: Arc<PubSubClient>) -> Self {
        Self(client)
    }

    async fn call_pool(
        &self,
        name: &str,
        arguments: Arguments,
        context: &CallContext,
    ) -> Result<Value, ToolError> {
        if Tool::named(name).map(|spec| spec.tool) == Some(Tool::StreamTicker) {
            let args: StreamTickerArgs = parse(arguments)?;
            let limits = args.limits()?;
            return self.stream(&args, limits, context).await;
        }
        let args = Value::Object(arguments.unwrap_or_default());
        let caller = forwarded_key(context);
        let caller = caller.as_ref().map(|(key, id)| (key, id.as_str()));
        self.0
            .call_as(name, args, caller)
            .await
            .map_err(ToolError::from)
    }

    /// `stream_ticker`: leased at the pool and followed on its ticker channel.
    async fn stream(
        &self,
        args: &StreamTickerArgs,
        limits: StreamLimits,
        context: &CallContext,
    ) -> Result<Value, ToolError> {
        let mut ticker = PoolTicker::start(
            self.0.clone(),
            forwarded_key(context),
            args.exchange.as_deref(),
            &args.symbol,
            // Outlasts the stream: no renewal while it runs.
            limits.duration + RENEW_AHEAD,
        )
        .await?;
        let (exchange, symbol) = (ticker.exchange.clone(), ticker.symbol.clone());
        stream::run(
            &mut ticker,
            &exchange,
            &symbol,
            limits,
            context.progress.as_deref(),
        )
        .await
    }
}

impl MarketCaller for PoolCaller {
    fn call<'a>(
        &'a self,
        name: &'a str,
        arguments: Arguments,
        context: CallContext,
    ) -> BoxFuture<'a, Result<Value, ToolError>> {
        Box::pin(async move {
            tokio::select! {
                outcome = self.call_pool(name, arguments, &context) => outcome,
                () = context.cancelled() => Err(ToolError::cancelled()),
            }
        })
    }

    fn watch<'a>(
        &'a self,
        exchange: Option<&'a str>,
        symbol: &'a str,
        context: &'a CallContext,
    ) -> BoxFuture<'a, Result<Ticks, ToolError>> {
        Box::pin(async move {
            let ticker = PoolTicker::start(
                self.0.clone(),
                forwarded_key(context),
                exchange,
                symbol,
                SUBSCRIPTION_LEASE,
            )
            .await?;
            Ok(Ticks::new(ticker))
        })
    }

    fn charges_rates(&self) -> bool {
        false
    }
}

/// A ticker streamed by the worker pool (see the module docs).
struct PoolTicker {
    client: Arc<PubSubClient>,
    caller: ForwardedKey,
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
    async fn start(
        client: Arc<PubSubClient>,
        caller: ForwardedKey,
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

    async fn next(&mut self) -> Result<Value, ToolError> {
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

    fn skip_first(&mut self) {
        if let Some(first) = self.held.take() {
            self.hand_over(&first);
        }
    }
}

impl TickerSource for PoolTicker {
    async fn next_ticker(&mut self) -> Result<Value, ToolError> {
        self.next().await
    }

    async fn skip_held(&mut self) {
        self.skip_first();
    }
}

impl LiveTicker for PoolTicker {
    fn exchange(&self) -> &str {
        &self.exchange
    }

    fn symbol(&self) -> &str {
        &self.symbol
    }

    fn next_ticker(&mut self) -> BoxFuture<'_, Result<Value, ToolError>> {
        Box::pin(self.next())
    }

    fn skip_held(&mut self) -> BoxFuture<'_, ()> {
        self.skip_first();
        Box::pin(async {})
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
