//! Who runs the tools for the MCP server, behind one [`MarketCaller`]: this process's engine
//! ([`EngineCaller`]) or, in gateway mode (`PUBSUB_ENABLED`), the worker pool through Redis
//! ([`super::pool::PoolCaller`]). The server asks it for tool results and live tickers and
//! never branches on which it is.

use futures::future::BoxFuture;
use serde_json::Value;

use crate::tools::stream::TickerSource;
use crate::tools::{Arguments, CallContext, ToolError, ToolService};
use crypto_market_actors::{LiveChannel, TickerWatch};
use tokio::sync::watch;

/// Runs tools and watches tickers for the MCP server.
pub trait MarketCaller: Send + Sync {
    /// Runs tool `name` for the call's caller; a streaming tool reports to the call's progress
    /// sink. Stops waiting when the call is cancelled.
    fn call<'a>(
        &'a self,
        name: &'a str,
        arguments: Arguments,
        context: CallContext,
    ) -> BoxFuture<'a, Result<Value, ToolError>>;

    /// Every new ticker of `symbol` from now on, for the call's caller (resource
    /// subscriptions).
    fn watch<'a>(
        &'a self,
        exchange: Option<&'a str>,
        symbol: &'a str,
        context: &'a CallContext,
    ) -> BoxFuture<'a, Result<Ticks, ToolError>>;

    /// Whether client rates are charged here: a gateway leaves them to the pool, which
    /// charges each forwarded call once (SPEC.md section 9).
    fn charges_rates(&self) -> bool;
}

/// One symbol's live tickers, whoever produces them: a [`TickerSource`] that names its market.
pub struct Ticks(Box<dyn LiveTicker>);

impl Ticks {
    pub fn new(source: impl LiveTicker + 'static) -> Self {
        Self(Box::new(source))
    }

    pub fn exchange(&self) -> &str {
        self.0.exchange()
    }

    /// Unified symbol, e.g. `BTC/USDT`.
    pub fn symbol(&self) -> &str {
        self.0.symbol()
    }

    /// See [`LiveTicker::live_updates`].
    pub fn live_updates(&mut self, channel: LiveChannel) -> Option<watch::Receiver<u64>> {
        self.0.live_updates(channel)
    }
}

impl TickerSource for Ticks {
    async fn next_ticker(&mut self) -> Result<Value, ToolError> {
        self.0.next_ticker().await
    }

    async fn skip_held(&mut self) {
        self.0.skip_held().await
    }
}

/// What a [`MarketCaller`] watches with: [`TickerSource`] in a form that can be boxed, plus the
/// market it resolved to.
pub trait LiveTicker: Send {
    fn exchange(&self) -> &str;
    fn symbol(&self) -> &str;
    /// See [`TickerSource::next_ticker`] (cancel-safe too).
    fn next_ticker(&mut self) -> BoxFuture<'_, Result<Value, ToolError>>;
    /// See [`TickerSource::skip_held`].
    fn skip_held(&mut self) -> BoxFuture<'_, ()>;
    /// The change signal of the symbol's local book or trade tape, where this process keeps
    /// them (its own engine; from then on the watch keeps their streams running); None where
    /// it does not (the gateway's worker pool).
    fn live_updates(&mut self, _channel: LiveChannel) -> Option<watch::Receiver<u64>> {
        None
    }
}

impl LiveTicker for TickerWatch {
    fn exchange(&self) -> &str {
        TickerWatch::exchange(self)
    }

    fn symbol(&self) -> &str {
        TickerWatch::symbol(self)
    }

    fn next_ticker(&mut self) -> BoxFuture<'_, Result<Value, ToolError>> {
        Box::pin(TickerSource::next_ticker(self))
    }

    fn skip_held(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(TickerSource::skip_held(self))
    }

    fn live_updates(&mut self, channel: LiveChannel) -> Option<watch::Receiver<u64>> {
        Some(TickerWatch::live_updates(self, channel))
    }
}

/// The tools on this process's engine.
pub struct EngineCaller(pub ToolService);

impl MarketCaller for EngineCaller {
    fn call<'a>(
        &'a self,
        name: &'a str,
        arguments: Arguments,
        context: CallContext,
    ) -> BoxFuture<'a, Result<Value, ToolError>> {
        Box::pin(self.0.call(name, arguments, context))
    }

    fn watch<'a>(
        &'a self,
        exchange: Option<&'a str>,
        symbol: &'a str,
        _context: &'a CallContext,
    ) -> BoxFuture<'a, Result<Ticks, ToolError>> {
        Box::pin(async move { Ok(Ticks::new(self.0.watch_ticker(exchange, symbol).await?)) })
    }

    fn charges_rates(&self) -> bool {
        true
    }
}
