use crypto_market_actors::{EngineError, ErrorCode};
use serde_json::json;

/// A failed tool call as every front end reports it: one of SPEC.md's codes, a message for
/// the user, whether retrying may help and when. Engine errors become this once, here.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolError {
    pub code: ErrorCode,
    pub message: String,
    pub retryable: bool,
    /// For `rate_limited` and an open circuit: how long to wait before retrying.
    pub retry_after_ms: Option<u64>,
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

    /// The client cancelled the call; it will not read this, but the call needs an outcome.
    pub fn cancelled() -> Self {
        Self {
            retryable: true,
            ..Self::new(ErrorCode::Internal, "the call was cancelled by the client")
        }
    }

    /// `{"error": {"code", "message", "retryable", "retry_after_ms"?}}`, the error envelope of
    /// SPEC.md section 4.
    pub fn to_json(&self) -> serde_json::Value {
        let mut error = json!({
            "code": self.code.as_str(),
            "message": self.message,
            "retryable": self.retryable,
        });
        if let Some(ms) = self.retry_after_ms {
            error["retry_after_ms"] = json!(ms);
        }
        json!({ "error": error })
    }
}

impl From<EngineError> for ToolError {
    fn from(e: EngineError) -> Self {
        Self {
            code: e.code(),
            message: e.to_string(),
            retryable: e.retryable(),
            retry_after_ms: e
                .retry_after()
                .map(|wait| u64::try_from(wait.as_millis()).unwrap_or(u64::MAX)),
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
        assert_eq!(
            limited.to_json(),
            json!({"error": {"code": "rate_limited", "message": "binance rate limit", "retryable": true, "retry_after_ms": 30000}})
        );
        let bad = ToolError::invalid_argument("limit: must be between 1 and 1000, got 0");
        assert_eq!(bad.to_json()["error"]["retryable"], false);
        assert!(bad.to_json()["error"].get("retry_after_ms").is_none());
    }
}
