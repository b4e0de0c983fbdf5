//! Engine errors and the product-wide error codes of SPEC.md section 4.

use std::time::Duration;

use crate::venue::VenueError;

/// The error codes every front end reports (MCP tool results, Redis replies). Fixed by SPEC.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    InvalidSymbol,
    InvalidArgument,
    UnknownTool,
    Unsupported,
    ExchangeUnavailable,
    RateLimited,
    Timeout,
    Unauthorized,
    Internal,
}

impl ErrorCode {
    /// The code named `name` (as another node sent it), if it is one of SPEC.md's.
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::InvalidSymbol,
            Self::InvalidArgument,
            Self::UnknownTool,
            Self::Unsupported,
            Self::ExchangeUnavailable,
            Self::RateLimited,
            Self::Timeout,
            Self::Unauthorized,
            Self::Internal,
        ]
        .into_iter()
        .find(|code| code.as_str() == name)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidSymbol => "invalid_symbol",
            Self::InvalidArgument => "invalid_argument",
            Self::UnknownTool => "unknown_tool",
            Self::Unsupported => "unsupported",
            Self::ExchangeUnavailable => "exchange_unavailable",
            Self::RateLimited => "rate_limited",
            Self::Timeout => "timeout",
            Self::Unauthorized => "unauthorized",
            Self::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What can go wrong serving a market-data request. Cloneable because one failed exchange call
/// answers every caller that was waiting on it.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum EngineError {
    #[error("{symbol} is not listed on {exchange}{}", suggestion_text(.suggestions))]
    InvalidSymbol {
        exchange: String,
        symbol: String,
        suggestions: Vec<String>,
    },
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    Unsupported(String),
    /// `retry_after`: when the exchange may answer again (an open circuit knows).
    #[error("{message}")]
    ExchangeUnavailable {
        message: String,
        retry_after: Option<Duration>,
    },
    /// `retry_after`: the exchange's `Retry-After`, a ban's end, or our own budget's wait.
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("{0}")]
    Timeout(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Internal(String),
}

/// What a shed request is told to wait before retrying.
const BUSY_RETRY_AFTER: Duration = Duration::from_millis(100);

fn suggestion_text(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", suggestions.join(", "))
    }
}

impl EngineError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidSymbol { .. } => ErrorCode::InvalidSymbol,
            Self::InvalidArgument(_) => ErrorCode::InvalidArgument,
            Self::Unsupported(_) => ErrorCode::Unsupported,
            Self::ExchangeUnavailable { .. } => ErrorCode::ExchangeUnavailable,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Timeout(_) => ErrorCode::Timeout,
            Self::Unauthorized(_) => ErrorCode::Unauthorized,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// Failures of the exchange itself (not of the request): a stale cached value may be served
    /// instead, marked `stale: true`.
    pub fn allows_stale(&self) -> bool {
        matches!(
            self,
            Self::ExchangeUnavailable { .. } | Self::RateLimited { .. } | Self::Timeout(_)
        )
    }

    /// Whether the same call may succeed later (SPEC.md section 4, `retryable`).
    pub fn retryable(&self) -> bool {
        self.allows_stale()
    }

    /// How long to wait before retrying, when known (SPEC.md section 4, `retry_after_ms`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::ExchangeUnavailable { retry_after, .. }
            | Self::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::ExchangeUnavailable {
            message: message.into(),
            retry_after: None,
        }
    }

    /// This process has more requests queued than it accepts: shed load instead of queueing
    /// without limit.
    pub fn busy(what: &str) -> Self {
        Self::RateLimited {
            message: format!("the server is busy ({what} queue full); retry shortly"),
            retry_after: Some(BUSY_RETRY_AFTER),
        }
    }

    /// `symbol`: the unified symbol the call was for, if any. An exchange that rejects it
    /// (delisted since the markets loaded) is reported under that name, not its raw reply.
    pub fn from_venue(exchange: &str, symbol: Option<&str>, err: VenueError) -> Self {
        match err {
            VenueError::BadSymbol(reply) => Self::InvalidSymbol {
                exchange: exchange.to_owned(),
                symbol: symbol.map_or(reply, str::to_owned),
                suggestions: Vec::new(),
            },
            VenueError::BadRequest(m) => {
                Self::InvalidArgument(format!("{exchange} rejected the request: {m}"))
            }
            VenueError::Unsupported(m) => {
                Self::Unsupported(format!("{exchange} does not support {m}"))
            }
            VenueError::Unavailable {
                message,
                retry_after,
            } => Self::ExchangeUnavailable {
                message: format!("{exchange} is unavailable: {message}"),
                retry_after,
            },
            VenueError::Unreachable(m) => {
                Self::unavailable(format!("{exchange} cannot be reached: {m}"))
            }
            VenueError::Rejected(m) => {
                Self::unavailable(format!("{exchange} refused the request: {m}"))
            }
            VenueError::Config(m) => Self::InvalidArgument(format!("{exchange} settings: {m}")),
            VenueError::RateLimited {
                message,
                retry_after,
            } => Self::RateLimited {
                message: format!("{exchange} rate limit: {message}"),
                retry_after,
            },
            VenueError::Timeout(after) => Self::Timeout(format!(
                "{exchange} did not answer within {} ms",
                after.as_millis()
            )),
            VenueError::Unauthorized(m) => {
                Self::Unauthorized(format!("{exchange} refused access: {m}"))
            }
            VenueError::Malformed(m) => Self::unavailable(format!(
                "{exchange} sent a reply that could not be read: {m}"
            )),
            VenueError::Other(m) => Self::Internal(format!("{exchange}: {m}")),
        }
    }
}
