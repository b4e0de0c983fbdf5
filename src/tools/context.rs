//! What a front end knows about one call, carried down to the tool: whether the client still
//! wants the answer, and (for streaming tools) where progress goes.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

/// Where a streaming tool reports progress (MCP `notifications/progress`).
pub trait ProgressSink: Send + Sync {
    /// `progress`: updates so far; `message`: the update (e.g. a compact ticker JSON).
    fn progress(&self, progress: u64, message: String);
}

#[derive(Clone, Default)]
pub struct CallContext {
    /// Cancelled when the client gives up on the call (MCP `notifications/cancelled`).
    pub cancel: CancellationToken,
    pub progress: Option<Arc<dyn ProgressSink>>,
    /// Who is calling, when the front end knows (an API key's client id).
    pub client_id: Option<String>,
}

impl CallContext {
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await
    }
}
