//! Tool arguments as clients send them (SPEC.md section 4), their JSON Schemas, and their
//! validation into engine requests. The same types serve MCP and, later, the Redis protocol.

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::ToolError;

pub const MAX_TICKERS: usize = 100;
pub const MAX_CANDLES: u32 = 1000;
pub const MAX_BOOK_DEPTH: u32 = 1000;
pub const MAX_TRADES: u32 = 1000;
pub const MAX_MARKETS: u32 = 500;
/// `stream_ticker`: longest stream (seconds) and most updates one call may ask for.
pub const MAX_STREAM_SECONDS: u32 = 300;
pub const MAX_STREAM_UPDATES: u32 = 10_000;
const DEFAULT_STREAM_SECONDS: u32 = 10;

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

/// Checks an optional bounded count, applying the default.
pub fn bounded(name: &str, value: Option<u32>, default: u32, max: u32) -> Result<u32, ToolError> {
    let value = value.unwrap_or(default);
    if (1..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ToolError::invalid_argument(format!(
            "{name}: must be between 1 and {max}, got {value}"
        )))
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TickerArgs {
    /// Market symbol in any common spelling: BTC/USDT, BTCUSDT, btc-usdt, BTC_USDT.
    pub symbol: String,
    /// Exchange id (default: the server's default exchange).
    #[serde(default)]
    pub exchange: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TickersArgs {
    /// 1 to 100 market symbols.
    #[schemars(length(min = 1, max = 100))]
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
    /// Number of candles, 1 to 1000 (default 100).
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u32>,
    /// Start time: Unix milliseconds or ISO-8601 (e.g. 2024-01-31T00:00:00Z).
    #[serde(default)]
    pub since: Option<Since>,
    /// Exchange id (default: the server's default exchange).
    #[serde(default)]
    pub exchange: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderBookArgs {
    /// Market symbol, e.g. BTC/USDT.
    pub symbol: String,
    /// Levels per side, 1 to 1000 (default 20).
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
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
    /// Most recent trades to return, 1 to 1000 (default 50).
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u32>,
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
    /// Markets to return, 1 to 500 (default 50).
    #[serde(default)]
    #[schemars(range(min = 1, max = 500))]
    pub limit: Option<u32>,
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
    /// How long to stream, 1 to 300 seconds (default 10).
    #[serde(default)]
    #[schemars(range(min = 1, max = 300))]
    pub duration_s: Option<u32>,
    /// Stop after this many updates, 1 to 10000 (default: only the duration ends the stream).
    #[serde(default)]
    #[schemars(range(min = 1, max = 10000))]
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
        let seconds = bounded(
            "duration_s",
            self.duration_s,
            DEFAULT_STREAM_SECONDS,
            MAX_STREAM_SECONDS,
        )?;
        let max_updates = self
            .max_updates
            .map(|n| bounded("max_updates", Some(n), n, MAX_STREAM_UPDATES))
            .transpose()?;
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
    fn bounds_apply_defaults_and_limits() {
        assert_eq!(bounded("limit", None, 20, 1000).unwrap(), 20);
        assert_eq!(bounded("limit", Some(1000), 20, 1000).unwrap(), 1000);
        assert!(bounded("limit", Some(0), 20, 1000)
            .unwrap_err()
            .message
            .contains("between 1 and 1000"));
        assert!(bounded("limit", Some(100_000), 20, 1000).is_err());
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
