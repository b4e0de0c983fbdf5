//! Tool arguments as clients send them (SPEC.md section 4), their JSON Schemas, and their
//! validation into engine requests. The same types serve MCP and, later, the Redis protocol.

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::ToolError;

/// A bounded whole-number argument (or the length of a list argument): its bounds and default
/// are written here once, and validation ([`Bound::check`]), the input schema
/// ([`Bound::schema`]) and the error message with its hint all read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    /// The argument's name, as the error message and the hint name it.
    pub name: &'static str,
    /// What the number counts, for the schema's description (e.g. "Number of candles").
    pub what: &'static str,
    pub min: u32,
    pub max: u32,
    /// The value when the argument is left out; `None`: no value (the argument is optional).
    pub default: Option<u32>,
}

pub const TICKER_SYMBOLS: Bound = Bound {
    name: "symbols",
    what: "Market symbols",
    min: 1,
    max: 100,
    default: None,
};
pub const OHLCV_LIMIT: Bound = Bound {
    name: "limit",
    what: "Number of candles",
    min: 1,
    max: 1000,
    default: Some(100),
};
pub const BOOK_DEPTH: Bound = Bound {
    name: "limit",
    what: "Levels per side",
    min: 1,
    max: 1000,
    default: Some(20),
};
pub const TRADES_LIMIT: Bound = Bound {
    name: "limit",
    what: "Most recent trades to return",
    min: 1,
    max: 1000,
    default: Some(50),
};
pub const MARKETS_LIMIT: Bound = Bound {
    name: "limit",
    what: "Markets to return",
    min: 1,
    max: 500,
    default: Some(50),
};
pub const MARKETS_OFFSET: Bound = Bound {
    name: "offset",
    what: "Matching markets to skip (a previous page's next_offset)",
    min: 0,
    max: u32::MAX,
    default: Some(0),
};
/// `compare_prices`: the venues one call may name (every venue this build can serve).
pub const COMPARED_EXCHANGES: Bound = Bound {
    name: "exchanges",
    what: "Exchange ids to compare (default: every enabled exchange that lists the symbol)",
    min: 1,
    max: 16,
    default: None,
};
/// `stream_ticker`: longest stream (seconds) and most updates one call may ask for.
pub const STREAM_SECONDS: Bound = Bound {
    name: "duration_s",
    what: "How long to stream, in seconds",
    min: 1,
    max: 300,
    default: Some(10),
};
pub const STREAM_UPDATES: Bound = Bound {
    name: "max_updates",
    what: "Stop after this many updates (default: only the duration ends the stream)",
    min: 1,
    max: 10_000,
    default: None,
};

impl Bound {
    /// The value, default applied, when within the bounds; else `invalid_argument` naming the
    /// argument and its bounds. An argument without a default must be given.
    pub fn check(&self, value: Option<u32>) -> Result<u32, ToolError> {
        match value.or(self.default) {
            Some(value) if (self.min..=self.max).contains(&value) => Ok(value),
            Some(value) => Err(self.refused(&value.to_string())),
            None => Err(self.refused("nothing")),
        }
    }

    /// [`Bound::check`] for an argument that may stay unset (no default).
    pub fn check_optional(&self, value: Option<u32>) -> Result<Option<u32>, ToolError> {
        value.map(|v| self.check(Some(v))).transpose()
    }

    /// A list argument's length within the bounds.
    pub fn check_count(&self, count: usize) -> Result<usize, ToolError> {
        let within = u32::try_from(count).is_ok_and(|n| (self.min..=self.max).contains(&n));
        if within {
            Ok(count)
        } else {
            Err(self.refused(&format!("{count} items")))
        }
    }

    fn refused(&self, got: &str) -> ToolError {
        ToolError::out_of_bounds(self, got)
    }

    /// `from MIN to MAX` (and the default), as messages, hints and descriptions say it.
    pub fn range_text(&self) -> String {
        let range = if self.max == u32::MAX {
            format!("{} or more", self.min)
        } else {
            format!("from {} to {}", self.min, self.max)
        };
        match self.default {
            Some(default) => format!("{range} (default {default})"),
            None => range,
        }
    }

    /// The argument's JSON schema: an optional whole number within the bounds.
    pub fn schema(&self) -> schemars::Schema {
        let mut schema = schemars::json_schema!({
            "type": ["integer", "null"],
            "format": "uint32",
            "minimum": self.min,
            "description": format!("{}, {}.", self.what, self.range_text()),
        });
        if self.max != u32::MAX {
            schema.insert("maximum".into(), self.max.into());
        }
        if let Some(default) = self.default {
            schema.insert("default".into(), default.into());
        }
        schema
    }

    /// The schema of a list argument whose length is bounded: strings, `min` to `max` of them.
    pub fn list_schema(&self) -> schemars::Schema {
        schemars::json_schema!({
            "type": "array",
            "items": { "type": "string" },
            "minItems": self.min,
            "maxItems": self.max,
            "description": format!("{}, {}.", self.what, self.range_text()),
        })
    }

    /// [`Bound::list_schema`] of a list that may be left out (or null).
    pub fn optional_list_schema(&self) -> schemars::Schema {
        schemars::json_schema!({
            "type": ["array", "null"],
            "items": { "type": "string" },
            "minItems": self.min,
            "maxItems": self.max,
            "description": format!("{}, {}.", self.what, self.range_text()),
        })
    }
}

/// Schema functions for `#[schemars(schema_with = ...)]`, one per bound.
macro_rules! bound_schemas {
    ($($function:ident => $bound:ident . $kind:ident),* $(,)?) => {
        $(fn $function(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
            $bound.$kind()
        })*
    };
}

bound_schemas! {
    ticker_symbols_schema => TICKER_SYMBOLS.list_schema,
    ohlcv_limit_schema => OHLCV_LIMIT.schema,
    book_depth_schema => BOOK_DEPTH.schema,
    trades_limit_schema => TRADES_LIMIT.schema,
    markets_limit_schema => MARKETS_LIMIT.schema,
    markets_offset_schema => MARKETS_OFFSET.schema,
    stream_seconds_schema => STREAM_SECONDS.schema,
    stream_updates_schema => STREAM_UPDATES.schema,
}

/// For the argument structs of other modules (`compare_prices`).
pub(crate) fn compared_exchanges_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    COMPARED_EXCHANGES.optional_list_schema()
}

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
    /// Market symbol in any common spelling: BTC/USDT, BTCUSDT, btc-usdt, BTC_USDT.
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
    fn bounds_apply_defaults_and_limits() {
        assert_eq!(BOOK_DEPTH.check(None).unwrap(), 20);
        assert_eq!(BOOK_DEPTH.check(Some(1000)).unwrap(), 1000);
        let refused = BOOK_DEPTH.check(Some(0)).unwrap_err();
        assert_eq!(refused.code, ErrorCode::InvalidArgument);
        assert!(refused.message.starts_with("limit:"), "{}", refused.message);
        assert!(
            refused.message.contains("from 1 to 1000"),
            "{}",
            refused.message
        );
        assert!(refused.hint().contains("limit"), "{}", refused.hint());
        assert!(BOOK_DEPTH.check(Some(100_000)).is_err());
        assert_eq!(STREAM_UPDATES.check_optional(None).unwrap(), None);
        assert!(TICKER_SYMBOLS.check_count(0).is_err());
        assert!(TICKER_SYMBOLS.check_count(101).is_err());
        assert_eq!(TICKER_SYMBOLS.check_count(100).unwrap(), 100);
    }

    #[test]
    fn the_schema_states_the_bounds_the_check_applies() {
        let schema = OHLCV_LIMIT.schema();
        assert_eq!(schema.get("minimum"), Some(&json!(OHLCV_LIMIT.min)));
        assert_eq!(schema.get("maximum"), Some(&json!(OHLCV_LIMIT.max)));
        assert_eq!(schema.get("default"), Some(&json!(100)));
        let input = schemars::schema_for!(OhlcvArgs);
        assert_eq!(
            input.as_value()["properties"]["limit"]["maximum"],
            json!(OHLCV_LIMIT.max)
        );
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
