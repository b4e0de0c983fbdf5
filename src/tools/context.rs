//! What a front end knows about one call, carried down to the tool: how it takes a stream,
//! whether the client still wants the answer, and (for streaming tools) where progress goes.

use std::sync::Arc;
use std::time::Duration;

use crypto_market_actors::TickerWatch;
use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use super::output::StreamLease;
use super::watch::{
    Channel, WatchReadResult, WatchSubscribeArgs, WatchSubscribeResult, WatchUnsubscribeResult,
};
use super::ToolError;

/// Where a streaming tool reports progress (MCP `notifications/progress`).
pub trait ProgressSink: Send + Sync {
    /// `progress`: updates so far; `message`: the update (e.g. a compact ticker JSON).
    /// Resolves once the update is handed to the transport, so that updates and the final
    /// result leave in order; `false` when it could not be (the client is gone).
    fn progress(&self, progress: u64, message: String) -> BoxFuture<'_, bool>;
}

/// How a front end takes `stream_ticker`'s updates (SPEC.md section 5): on the call itself,
/// or from wherever the front end publishes them while it keeps the symbol watched.
#[derive(Clone, Default)]
pub enum StreamDelivery {
    /// Each update as progress of the call, then a summary (MCP).
    #[default]
    Progress,
    /// The front end keeps the watch (the Redis worker pool: its ticker channel).
    Kept(Arc<dyn WatchKeeper>),
}

/// A front end that keeps ticker watches for its callers, which read the updates where it
/// publishes them: the tools layer hands it the watch and answers with the lease it gives.
pub trait WatchKeeper: Send + Sync {
    /// Keeps `watch` at least `duration` from now (a symbol kept already has its lease
    /// extended, and `watch`, a duplicate, is dropped): where the updates go, and until when.
    fn keep(&self, watch: TickerWatch, duration: Duration) -> StreamLease;
}

/// Called once when a call is about to wait long on something other than work (a `watch_read`
/// long poll): the front end may give the call's slot to other requests meanwhile.
pub type IdleHook = dyn Fn() + Send + Sync;

/// A front end that keeps watches for callers known by their client id (the Redis worker
/// pool, SPEC.md 5.1): the tools layer checks the arguments and starts following the market;
/// the keeper holds the watch, its buffer, and who owns it. A watch another client made is
/// `invalid_argument`, like an unknown one.
pub trait ClientWatches: Send + Sync {
    /// A new watch of `client` following `watch` for `seconds`.
    fn subscribe<'a>(
        &'a self,
        client: &'a str,
        args: &'a WatchSubscribeArgs,
        channel: Channel,
        seconds: u32,
        watch: TickerWatch,
    ) -> BoxFuture<'a, Result<WatchSubscribeResult, ToolError>>;

    /// Items after `cursor` (at most `max`), waiting up to `wait` for one; `idle` is called
    /// before a wait.
    fn read<'a>(
        &'a self,
        client: &'a str,
        watch_id: &'a str,
        cursor: u64,
        wait: Duration,
        max: usize,
        idle: Option<&'a IdleHook>,
    ) -> BoxFuture<'a, Result<WatchReadResult, ToolError>>;

    fn unsubscribe<'a>(
        &'a self,
        client: &'a str,
        watch_id: &'a str,
    ) -> BoxFuture<'a, Result<WatchUnsubscribeResult, ToolError>>;
}

#[derive(Clone, Default)]
pub struct CallContext {
    pub stream: StreamDelivery,
    /// Cancelled when the client gives up on the call (MCP `notifications/cancelled`).
    pub cancel: CancellationToken,
    pub progress: Option<Arc<dyn ProgressSink>>,
    /// Who is calling, when the front end knows (an API key's client id).
    pub client_id: Option<String>,
    /// The caller's own client key, which an MCP gateway forwards to the worker pool.
    pub api_key: Option<crate::config::Secret>,
    /// The calling MCP session's watches (`watch_*` tools); None where there is no session.
    pub watches: Option<Arc<super::watch::SessionWatches>>,
    /// Watches kept per `client_id` (the worker pool); used where there is no session.
    pub client_watches: Option<Arc<dyn ClientWatches>>,
    /// See [`IdleHook`].
    pub on_idle: Option<Arc<IdleHook>>,
}

impl CallContext {
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await
    }
}
