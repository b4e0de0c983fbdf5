//! Engine errors and the product-wide error codes of SPEC.md section 4.

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
    #[error("{0}")]
    ExchangeUnavailable(String),
    #[error("{0}")]
    RateLimited(String),
    #[error("{0}")]
    Timeout(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Internal(String),
}

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
            Self::ExchangeUnavailable(_) => ErrorCode::ExchangeUnavailable,
            Self::RateLimited(_) => ErrorCode::RateLimited,
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
            Self::ExchangeUnavailable(_) | Self::RateLimited(_) | Self::Timeout(_)
        )
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
            VenueError::Unavailable(m) => {
                Self::ExchangeUnavailable(format!("{exchange} is unavailable: {m}"))
            }
            VenueError::RateLimited { message, .. } => {
                Self::RateLimited(format!("{exchange} rate limit: {message}"))
            }
            VenueError::Timeout(after) => Self::Timeout(format!(
                "{exchange} did not answer within {} ms",
                after.as_millis()
            )),
            VenueError::Unauthorized(m) => {
                Self::Unauthorized(format!("{exchange} refused access: {m}"))
            }
            VenueError::Malformed(m) => Self::ExchangeUnavailable(format!(
                "{exchange} sent a reply that could not be read: {m}"
            )),
            VenueError::Other(m) => Self::Internal(format!("{exchange}: {m}")),
        }
    }
}
