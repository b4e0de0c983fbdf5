use crypto_market_actors::{EngineError, ErrorCode};
use serde_json::json;

/// A failed tool call as every front end reports it: one of SPEC.md's codes and a message for
/// the user. Engine errors become this once, here.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolError {
    pub code: ErrorCode,
    pub message: String,
}

impl ToolError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgument, message)
    }

    /// `{"error": {"code", "message"}}`, the error envelope of SPEC.md section 4.
    pub fn to_json(&self) -> serde_json::Value {
        json!({ "error": { "code": self.code.as_str(), "message": self.message } })
    }
}

impl From<EngineError> for ToolError {
    fn from(e: EngineError) -> Self {
        Self {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

impl std::fmt::Display for ToolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ToolError {}
