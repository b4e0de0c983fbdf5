//! Tool arguments as clients send them (SPEC.md section 4), their JSON Schemas, and their
//! validation into engine requests. The same types serve MCP and, later, the Redis protocol.

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::ToolError;

pub(crate) use super::bounds::indicator_rows_schema;
use super::bounds::{
    book_depth_schema, markets_limit_schema, markets_offset_schema, ohlcv_limit_schema,
    stream_seconds_schema, stream_updates_schema, ticker_symbols_schema, trades_limit_schema,
};
pub use super::bounds::{
    Bound, BOOK_DEPTH, COMPARED_EXCHANGES, FUNDING_HISTORY_LIMIT, INDICATOR_ROWS, MARKETS_LIMIT,
    MARKETS_OFFSET, OHLCV_LIMIT, STREAM_SECONDS, STREAM_UPDATES, TICKER_SYMBOLS, TRADES_LIMIT,
};

/// Parses a tool's JSON arguments. Every failure (wrong type, unknown or missing argument)
/// becomes `invalid_argument` with a message naming the argument.
pub fn parse<T: DeserializeOwned>(
    arguments: Option<serde_json::Map<String, serde_json::Value>>,
) -> Result<T, ToolError> {
    let value = serde_json::Value::Object(arguments.unwrap_or_default());
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        if path.is_empty() || path == "." {
            ToolError::invalid_argument(inner)
        } else {
            ToolError::invalid_argument(format!("{path}: {inner}"))
        }
    })
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TickerArgs {
    /// Market symbol in any common spelling: BTC/USDT, BTCUSDT, btc-usdt, BTC_USDT (spot); a
    /// perpetual as BTC/USDT:USDT, BTCUSDT.P, BTCUSDT-PERP or BTC-USDT-SWAP.
    pub symbol: String,
    /// Exchange id (default: the server's default exchange).
    #[serde(default)]
    pub exchange: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TickersArgs {
    #[schemars(schema_with = "ticker_symbols_schema")]
    pub symbols: Vec<String>,
    /// Exchange id (default: the server's default exchange).
    #[serde(default)]
    pub exchange: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OhlcvArgs {
    /// Market symbol, e.g. BTC/USDT.
    pub symbol: String,
    /// Candle interval, one of the exchange's timeframes (default 1h), e.g. 1m, 5m, 1h, 1d.
    #[serde(default)]
    pub timeframe: Option<String>,
    #[serde(default)]
    #[schemars(schema_with = "ohlcv_limit_schema")]
    pub limit: Option<u32>,
    /// Start time: Unix milliseconds or ISO-8601 (e.g. 2024-01-31T00:00:00Z).
    #[serde(default)]
    pub since: Option<Since>,
    /// End time (no candle opening after it): Unix milliseconds or ISO-8601.
    #[serde(default)]
    pub until: Option<Since>,
    /// Price the candles follow: trade (default), or a derivative's mark or index price.
    #[serde(default)]
    pub price: Option<String>,
    /// Exchange id (default: the server's default exchange).
    #[serde(default)]
    pub exchange: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderBookArgs {
    /// Market symbol, e.g. BTC/USDT.
    pub symbol: String,
    #[serde(default)]
    #[schemars(schema_with = "book_depth_schema")]
    pub limit: Option<u32>,
    /// Exchange id (default: the server's default exchange).
    #[serde(default)]
    pub exchange: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TradesArgs {
    /// Market symbol, e.g. BTC/USDT.
    pub symbol: String,
    #[serde(default)]
    #[schemars(schema_with = "trades_limit_schema")]
    pub limit: Option<u32>,
    /// Only trades from this time on: Unix milliseconds or ISO-8601.
    #[serde(default)]
    pub since: Option<Since>,
    /// Exchange id (default: the server's default exchange).
    #[serde(default)]
    pub exchange: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListMarketsArgs {
    /// Substring of the symbol, case-insensitive (e.g. "btc").
    #[serde(default)]
    pub query: Option<String>,
    /// Quote currency filter, e.g. USDT.
    #[serde(default)]
    pub quote: Option<String>,
    #[serde(default)]
    #[schemars(schema_with = "markets_limit_schema")]
    pub limit: Option<u32>,
    #[serde(default)]
    #[schemars(schema_with = "markets_offset_schema")]
    pub offset: Option<u32>,
    /// Market type: spot (default), swap (perpetuals), future (dated), option, or any.
    #[serde(default, rename = "type")]
    pub market_type: Option<String>,
    /// Exchange id (default: the server's default exchange).
    #[serde(default)]
    pub exchange: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamTickerArgs {
    /// Market symbol, e.g. BTC/USDT.
    pub symbol: String,
    /// Exchange id (default: the server's default exchange).
    #[serde(default)]
    pub exchange: Option<String>,
    #[serde(default)]
    #[schemars(schema_with = "stream_seconds_schema")]
    pub duration_s: Option<u32>,
    #[serde(default)]
    #[schemars(schema_with = "stream_updates_schema")]
    pub max_updates: Option<u32>,
}

/// How long a stream runs and how many updates it may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    pub duration: std::time::Duration,
    pub max_updates: Option<u32>,
}

impl StreamTickerArgs {
    /// The checked bounds, defaults applied.
    pub fn limits(&self) -> Result<StreamLimits, ToolError> {
        let seconds = STREAM_SECONDS.check(self.duration_s)?;
        let max_updates = STREAM_UPDATES.check_optional(self.max_updates)?;
        Ok(StreamLimits {
            duration: std::time::Duration::from_secs(u64::from(seconds)),
            max_updates,
        })
    }
}

/// `since`: Unix ms, or an ISO-8601 / RFC 3339 time.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Since {
    Millis(i64),
    Text(String),
}

impl Since {
    pub fn to_millis(&self) -> Result<i64, ToolError> {
        let bad = |detail: &str| {
            ToolError::invalid_argument(format!(
                "since: {detail}; use Unix milliseconds or ISO-8601 like 2024-01-31T00:00:00Z"
            ))
        };
        let ms = match self {
            Self::Millis(ms) => *ms,
            Self::Text(text) => {
                let text = text.trim();
                if let Ok(ms) = text.parse::<i64>() {
                    ms
                } else if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
                    t.timestamp_millis()
                } else if let Ok(t) =
                    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S")
                {
                    t.and_utc().timestamp_millis()
                } else if let Ok(d) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
                    d.and_hms_opt(0, 0, 0)
                        .map(|t| t.and_utc().timestamp_millis())
                        .ok_or_else(|| bad("not a valid date"))?
                } else {
                    return Err(bad(&format!("cannot read {text:?} as a time")));
                }
            }
        };
        if ms < 0 {
            return Err(bad("must not be before 1970"));
        }
        Ok(ms)
    }
}

impl JsonSchema for Since {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Since".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Unix milliseconds, or an ISO-8601 time such as 2024-01-31T00:00:00Z",
            "anyOf": [{ "type": "integer", "minimum": 0 }, { "type": "string" }]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crypto_market_actors::ErrorCode;
    use serde_json::json;

    fn args(v: serde_json::Value) -> Option<serde_json::Map<String, serde_json::Value>> {
        v.as_object().cloned()
    }

    fn message_of<T: DeserializeOwned + std::fmt::Debug>(v: serde_json::Value) -> String {
        let err = parse::<T>(args(v)).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidArgument);
        err.message
    }

    #[test]
    fn errors_name_the_argument() {
        assert!(
            message_of::<OrderBookArgs>(json!({"symbol": "BTC/USDT", "limit": "two"}))
                .starts_with("limit:")
        );
        assert!(
            message_of::<OrderBookArgs>(json!({"symbol": "BTC/USDT", "limit": -1}))
                .starts_with("limit:")
        );
        assert!(
            message_of::<TickerArgs>(json!({"symbol": "BTC/USDT", "foo": 1}))
                .contains("unknown field `foo`")
        );
        assert!(message_of::<TickerArgs>(json!({})).contains("missing field `symbol`"));
        assert!(message_of::<TickersArgs>(json!({"symbols": [1]})).starts_with("symbols[0]:"));
    }

    #[test]
    fn stream_limits_name_the_argument_out_of_bounds() {
        let limits = |v| parse::<StreamTickerArgs>(args(v)).and_then(|a| a.limits());
        assert_eq!(
            limits(json!({"symbol": "BTC/USDT"})).unwrap(),
            StreamLimits {
                duration: std::time::Duration::from_secs(10),
                max_updates: None
            }
        );
        assert_eq!(
            limits(json!({"symbol": "BTC/USDT", "duration_s": 300, "max_updates": 3}))
                .unwrap()
                .max_updates,
            Some(3)
        );
        for (bad, name) in [
            (
                json!({"symbol": "BTC/USDT", "duration_s": 0}),
                "duration_s:",
            ),
            (
                json!({"symbol": "BTC/USDT", "duration_s": 301}),
                "duration_s:",
            ),
            (
                json!({"symbol": "BTC/USDT", "duration_s": "ten"}),
                "duration_s:",
            ),
            (
                json!({"symbol": "BTC/USDT", "max_updates": 0}),
                "max_updates:",
            ),
            (
                json!({"symbol": "BTC/USDT", "max_updates": -2}),
                "max_updates:",
            ),
        ] {
            let error = limits(bad.clone()).unwrap_err();
            assert_eq!(error.code, ErrorCode::InvalidArgument);
            assert!(error.message.starts_with(name), "{bad}: {}", error.message);
        }
    }

    #[test]
    fn since_accepts_millis_and_iso() {
        assert_eq!(
            Since::Millis(1_706_659_200_000).to_millis().unwrap(),
            1_706_659_200_000
        );
        assert_eq!(
            Since::Text("2024-01-31T00:00:00Z".into())
                .to_millis()
                .unwrap(),
            1_706_659_200_000
        );
        assert_eq!(
            Since::Text("2024-01-31".into()).to_millis().unwrap(),
            1_706_659_200_000
        );
        assert_eq!(
            Since::Text("2024-01-31T01:00:00+01:00".into())
                .to_millis()
                .unwrap(),
            1_706_659_200_000
        );
        assert!(Since::Text("yesterday".into()).to_millis().is_err());
        assert!(Since::Millis(-5).to_millis().is_err());
    }
}
