//! Binance-style error responses: HTTP status + `{"code": <negative>, "msg": "..."}`.

use axum::http::StatusCode;
use serde::Serialize;

/// Legal range Binance reports for symbol parameters.
pub const SYMBOL_RANGE: &str = "^[A-Z0-9-_.]{1,20}$";
pub const NUMBER_RANGE: &str = "^[0-9]{1,20}$";

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("Illegal characters found in parameter '{param}'; legal range is '{range}'.")]
    IllegalChars {
        param: &'static str,
        range: &'static str,
    },
    #[error("Mandatory parameter '{0}' was not sent, was empty/null, or malformed.")]
    Mandatory(&'static str),
    #[error("Invalid symbol.")]
    InvalidSymbol,
    #[error("Invalid interval.")]
    BadInterval,
    #[error("Combination of optional parameters invalid.")]
    BadCombination,
    #[error("An unknown error occurred while processing the request.")]
    Unknown,
    #[error("Too much request weight used; current limit is {0} request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.")]
    TooMuchWeight(u64),
    #[error("Way too much request weight used; IP banned until {0}. Please use WebSocket Streams for live updates to avoid bans.")]
    Banned(u64),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: i32,
    msg: &'a str,
}

impl ApiError {
    pub fn code(&self) -> i32 {
        match self {
            ApiError::IllegalChars { .. } => -1100,
            ApiError::Mandatory(_) => -1102,
            ApiError::InvalidSymbol => -1121,
            ApiError::BadInterval => -1120,
            ApiError::BadCombination => -1128,
            ApiError::Unknown => -1000,
            ApiError::TooMuchWeight(_) | ApiError::Banned(_) => -1003,
        }
    }

    /// Default status for the error (fault injection may pick another 5xx for `Unknown`).
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unknown => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::TooMuchWeight(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Banned(_) => StatusCode::IM_A_TEAPOT,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    pub fn body(&self) -> String {
        let msg = self.to_string();
        serde_json::to_string(&ErrorBody {
            code: self.code(),
            msg: &msg,
        })
        .unwrap_or_else(|_| {
            String::from(
                r#"{"code":-1000,"msg":"An unknown error occurred while processing the request."}"#,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;
    use serde_json::Value;

    fn same(e: ApiError, fixture: &str) {
        let a: Value = serde_json::from_str(&e.body()).unwrap();
        let b: Value = serde_json::from_str(fixture).unwrap();
        assert_eq!(a, b);
        assert_eq!(shape(&e.body()).unwrap(), shape(fixture).unwrap());
    }

    #[test]
    fn bodies_match_fixtures() {
        same(ApiError::InvalidSymbol, ERR_INVALID_SYMBOL);
        same(ApiError::BadInterval, ERR_BAD_INTERVAL);
        same(ApiError::Mandatory("symbol"), ERR_MANDATORY_SYMBOL);
        same(
            ApiError::IllegalChars {
                param: "symbol",
                range: SYMBOL_RANGE,
            },
            ERR_ILLEGAL_CHARS_SYMBOL,
        );
        same(ApiError::TooMuchWeight(6000), ERR_TOO_MUCH_WEIGHT);
        same(ApiError::Banned(1_710_328_245_391), ERR_IP_BANNED);
    }

    #[test]
    fn statuses() {
        assert_eq!(ApiError::InvalidSymbol.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            ApiError::TooMuchWeight(1).status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(ApiError::Banned(1).status().as_u16(), 418);
        assert_eq!(ApiError::Unknown.status().as_u16(), 500);
    }
}
