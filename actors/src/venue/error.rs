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
    /// The exchange could not be reached or failed (transport error, 5xx, open circuit).
    #[error("unavailable: {message}")]
    Unavailable {
        message: String,
        retry_after: Option<Duration>,
    },
    /// No HTTP answer at all: refused, DNS, TLS, reset. The message says which when known.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The exchange answered with an error of its own that fits no other class. It is up, so
    /// this does not count against its circuit.
    #[error("rejected: {0}")]
    Rejected(String),
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
    /// The adapter's own settings are wrong (e.g. a REST URL that is not a URL).
    #[error("bad settings: {0}")]
    Config(String),
    #[error("{0}")]
    Other(String),
}

impl VenueError {
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::Unavailable {
            message: message.into(),
            retry_after: None,
        }
    }

    /// Whether this failure says the exchange is down (it counts towards opening its circuit):
    /// transport failures, 5xx and timeouts. A rejected symbol, a rate limit or an error reply
    /// prove the exchange is up.
    pub fn says_exchange_down(&self) -> bool {
        matches!(
            self,
            Self::Unavailable { .. } | Self::Unreachable(_) | Self::Timeout(_)
        )
    }
}
