use crypto_market_actors::redis_target::RedisSetupError;
use crypto_market_actors::ErrorCode;

use crate::tools::ToolError;

/// Why the worker could not start or keep serving. Converted to a SPEC error code only where a
/// client sees it ([`WorkerError::to_tool_error`]); the binary logs it and exits non-zero.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Setup(#[from] RedisSetupError),
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error(transparent)]
    Start(#[from] crate::startup::StartError),
    #[error("cannot listen for signals: {0}")]
    Signals(std::io::Error),
    #[error("API_KEYS_FILE: {0}")]
    Keys(String),
}

impl WorkerError {
    /// The error a client gets when its request failed on this (e.g. `status` while Redis is
    /// unreachable): worth retrying, the pool may answer once Redis is back.
    pub fn to_tool_error(&self) -> ToolError {
        ToolError {
            retryable: true,
            ..ToolError::new(ErrorCode::Internal, self.to_string())
        }
    }
}
