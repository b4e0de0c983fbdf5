use serde::{Deserialize, Serialize};

/// One OHLCV candle. Serialised as `[ts_ms, open, high, low, close, volume]`, the shape every
/// client of CCXT already knows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(
    from = "(i64, f64, f64, f64, f64, f64)",
    into = "(i64, f64, f64, f64, f64, f64)"
)]
pub struct Candle {
    pub timestamp: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

impl From<(i64, f64, f64, f64, f64, f64)> for Candle {
    fn from((timestamp, open, high, low, close, volume): (i64, f64, f64, f64, f64, f64)) -> Self {
        Self {
            timestamp,
            open,
            high,
            low,
            close,
            volume,
        }
    }
}

impl From<Candle> for (i64, f64, f64, f64, f64, f64) {
    fn from(c: Candle) -> Self {
        (c.timestamp, c.open, c.high, c.low, c.close, c.volume)
    }
}

/// A candle interval the exchange supports (`1m`, `1h`, `1d`, ...). Only constructed by
/// validating against the exchange's own list, so holding one means the exchange accepts it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timeframe(String);

impl Timeframe {
    /// Accepts `name` when it is one of `supported`.
    pub fn parse(name: &str, supported: &[String]) -> Option<Self> {
        supported
            .iter()
            .any(|tf| tf == name)
            .then(|| Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The timeframe of a whole number of minutes (a streamed base interval: `1m`, `5m`).
    pub(crate) fn minutes(ms: i64) -> Option<Self> {
        (ms > 0 && ms % 60_000 == 0).then(|| Self(format!("{}m", ms / 60_000)))
    }

    /// Its length in ms when fixed (`30s`, `15m`, `4h`, `1d`, `1w`); `None` for months and
    /// anything unknown (a month's length varies: no grid of pages can be laid on it).
    pub fn millis(&self) -> Option<i64> {
        let unit = self.0.chars().last()?;
        let count: i64 = self.0[..self.0.len() - unit.len_utf8()].parse().ok()?;
        let unit_ms = match unit {
            's' => 1_000,
            'm' => 60_000,
            'h' => 3_600_000,
            'd' => 86_400_000,
            'w' => 7 * 86_400_000,
            _ => return None,
        };
        (count > 0).then(|| count * unit_ms)
    }
}

impl std::fmt::Display for Timeframe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(feature = "schemars")]
impl schemars::JsonSchema for Candle {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Candle".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "array",
            "description": "[ts_ms, open, high, low, close, volume]",
            "prefixItems": [
                { "type": "integer" },
                { "type": "number" }, { "type": "number" }, { "type": "number" },
                { "type": "number" }, { "type": "number" }
            ],
            "minItems": 6,
            "maxItems": 6
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candle_serialises_as_six_element_array() {
        let c = Candle {
            timestamp: 1,
            open: 2.0,
            high: 3.0,
            low: 1.5,
            close: 2.5,
            volume: 10.0,
        };
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            "[1,2.0,3.0,1.5,2.5,10.0]"
        );
        let back: Candle = serde_json::from_str("[1,2.0,3.0,1.5,2.5,10.0]").unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn timeframe_only_from_supported_list() {
        let supported = vec!["1m".to_owned(), "1h".to_owned()];
        assert_eq!(Timeframe::parse("1h", &supported).unwrap().as_str(), "1h");
        assert!(Timeframe::parse("7m", &supported).is_none());
    }
}
