//! Tool errors as every front end reports them, and the next step each one suggests.

use crypto_market_actors::{EngineError, ErrorCode};
use serde_json::json;

use super::args::Bound;
use super::hint;

/// A failed tool call as every front end reports it: one of SPEC.md's codes, a message for
/// the user, whether retrying may help and when, and a hint naming the next step (SPEC.md
/// section 10). Engine errors become this once, here; the hint is decided here too (see
/// [`hint`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolError {
    pub code: ErrorCode,
    pub message: String,
    pub retryable: bool,
    /// For `rate_limited` and an open circuit: how long to wait before retrying.
    pub retry_after_ms: Option<u64>,
    /// The next step, when the error's maker knows better than its code (see
    /// [`ToolError::hint`]); a hint another node decided arrives here too.
    pub hint: Option<String>,
}

impl ToolError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retryable: matches!(
                code,
                ErrorCode::ExchangeUnavailable | ErrorCode::RateLimited | ErrorCode::Timeout
            ),
            retry_after_ms: None,
            hint: None,
        }
    }

    /// When to try again (at least 1 ms).
    pub fn with_retry_after(mut self, wait: std::time::Duration) -> Self {
        self.retry_after_ms = Some(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1));
        self
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgument, message)
    }

    /// A bounded argument outside its bounds (`got`: what the call gave).
    pub fn out_of_bounds(bound: &Bound, got: &str) -> Self {
        Self {
            hint: Some(hint::within_bounds(bound)),
            ..Self::invalid_argument(format!(
                "{}: must be {}, got {got}",
                bound.name,
                bound.range_text()
            ))
        }
    }

    /// Replaces the hint with one the caller knows better.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// What to do next: the hint given, else the one this error's code and message suggest.
    pub fn hint(&self) -> String {
        self.hint.clone().unwrap_or_else(|| hint::for_error(self))
    }

    /// A venue failed (unavailable, timed out, rate-limited) on a call of `tool` asking
    /// `failed` about `symbol`: the hint names the other enabled venues to try, and
    /// `compare_prices`.
    pub fn suggest_venues(
        mut self,
        tool: &str,
        symbol: Option<&str>,
        failed: &str,
        enabled: &[&str],
    ) -> Self {
        if hint::venue_failure(self.code) {
            self.hint = Some(hint::other_venues(&self, tool, symbol, failed, enabled));
        }
        self
    }

    /// The client cancelled the call; it will not read this, but the call needs an outcome.
    pub fn cancelled() -> Self {
        Self {
            retryable: true,
            ..Self::new(ErrorCode::Internal, "the call was cancelled by the client")
        }
    }

    /// `{"error": {"code", "message", "retryable", "retry_after_ms"?, "hint"}}`, the error
    /// envelope of SPEC.md section 4.
    pub fn to_json(&self) -> serde_json::Value {
        let mut error = json!({
            "code": self.code.as_str(),
            "message": self.message,
            "retryable": self.retryable,
            "hint": self.hint(),
        });
        if let Some(ms) = self.retry_after_ms {
            error["retry_after_ms"] = json!(ms);
        }
        json!({ "error": error })
    }
}

impl From<EngineError> for ToolError {
    fn from(e: EngineError) -> Self {
        let hint = match &e {
            EngineError::InvalidSymbol {
                exchange,
                symbol,
                suggestions,
            } => Some(hint::unknown_symbol(exchange, symbol, suggestions)),
            _ => None,
        };
        Self {
            code: e.code(),
            message: e.to_string(),
            retryable: e.retryable(),
            retry_after_ms: e
                .retry_after()
                .map(|wait| u64::try_from(wait.as_millis()).unwrap_or(u64::MAX)),
            hint,
        }
    }
}

impl std::fmt::Display for ToolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ToolError {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_envelope_says_whether_and_when_to_retry() {
        let limited = ToolError::from(EngineError::RateLimited {
            message: "binance rate limit".into(),
            retry_after: Some(Duration::from_secs(30)),
        });
        let hint = limited.hint();
        assert!(hint.contains("30000"), "{hint}");
        assert_eq!(
            limited.to_json(),
            json!({"error": {"code": "rate_limited", "message": "binance rate limit", "retryable": true, "retry_after_ms": 30000, "hint": hint}})
        );
        let bad = ToolError::invalid_argument("limit: must be between 1 and 1000, got 0");
        assert_eq!(bad.to_json()["error"]["retryable"], false);
        assert!(bad.to_json()["error"].get("retry_after_ms").is_none());
    }
}
