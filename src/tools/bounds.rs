//! Bounded arguments: each bound and default written once, read by validation
//! ([`Bound::check`]), the input schema ([`Bound::schema`], through `schema_with`), the error
//! message and its hint.

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
    what: "Number of candles (more than the exchange gives per call are fetched in pages)",
    min: 1,
    max: 10_000,
    default: Some(100),
};
pub const BOOK_DEPTH: Bound = Bound {
    name: "limit",
    what: "Levels per side",
    min: 1,
    max: 1000,
    default: Some(20),
};
pub const INDICATOR_ROWS: Bound = Bound {
    name: "limit",
    what: "Rows of indicator values, the last one the candle in progress",
    min: 1,
    max: 1000,
    default: Some(100),
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
/// `get_funding_history`: settled rates to return.
pub const FUNDING_HISTORY_LIMIT: Bound = Bound {
    name: "limit",
    what: "Settled funding rates to return",
    min: 1,
    max: 1000,
    default: Some(100),
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
        $(pub(crate) fn $function(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
            $bound.$kind()
        })*
    };
}

bound_schemas! {
    ticker_symbols_schema => TICKER_SYMBOLS.list_schema,
    ohlcv_limit_schema => OHLCV_LIMIT.schema,
    book_depth_schema => BOOK_DEPTH.schema,
    trades_limit_schema => TRADES_LIMIT.schema,
    indicator_rows_schema => INDICATOR_ROWS.schema,
    markets_limit_schema => MARKETS_LIMIT.schema,
    markets_offset_schema => MARKETS_OFFSET.schema,
    stream_seconds_schema => STREAM_SECONDS.schema,
    stream_updates_schema => STREAM_UPDATES.schema,
    compared_exchanges_schema => COMPARED_EXCHANGES.optional_list_schema,
    funding_history_limit_schema => FUNDING_HISTORY_LIMIT.schema,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crypto_market_actors::ErrorCode;
    use serde_json::json;

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
        let input = schemars::schema_for!(super::super::args::OhlcvArgs);
        assert_eq!(
            input.as_value()["properties"]["limit"]["maximum"],
            json!(OHLCV_LIMIT.max)
        );
    }
}
