use std::time::Duration;

/// What an exchange call can fail with, whatever the adapter.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VenueError {
    #[error("unknown symbol {0}")]
    BadSymbol(String),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("not supported: {0}")]
    Unsupported(String),
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("rate limited: {message}")]
    RateLimited {
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("malformed reply: {0}")]
    Malformed(String),
    #[error("{0}")]
    Other(String),
}
