//! What a front end knows about one call, carried down to the tool: which front end serves it,
//! whether the client still wants the answer, and (for streaming tools) where progress goes.

use std::sync::Arc;

use crypto_market_actors::redis_target::RedisTarget;
use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

/// Where a streaming tool reports progress (MCP `notifications/progress`).
pub trait ProgressSink: Send + Sync {
    /// `progress`: updates so far; `message`: the update (e.g. a compact ticker JSON).
    /// Resolves once the update is handed to the transport, so that updates and the final
    /// result leave in order; `false` when it could not be (the client is gone).
    fn progress(&self, progress: u64, message: String) -> BoxFuture<'_, bool>;
}

/// The front end a call comes from, where a tool answers differently on each (SPEC.md
/// section 5: MCP `stream_ticker` streams progress; the Redis one returns a channel).
#[derive(Clone, Default)]
pub enum Front {
    #[default]
    Mcp,
    /// The Redis worker protocol (SPEC.md section 6): names its channels from the target's
    /// `KEY_PREFIX`.
    Redis(Arc<RedisTarget>),
}

#[derive(Clone, Default)]
pub struct CallContext {
    pub front: Front,
    /// Cancelled when the client gives up on the call (MCP `notifications/cancelled`).
    pub cancel: CancellationToken,
    pub progress: Option<Arc<dyn ProgressSink>>,
    /// Who is calling, when the front end knows (an API key's client id).
    pub client_id: Option<String>,
    /// The caller's own client key, which an MCP gateway forwards to the worker pool.
    pub api_key: Option<crate::config::Secret>,
}

impl CallContext {
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await
    }
}
