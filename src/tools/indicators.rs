//! `get_indicators` (SPEC.md 4.2): the indicators of `crypto_market_actors::model::indicators`
//! over a symbol's candles, with enough earlier candles fetched (5 × the longest period + 100)
//! that the values shown equal those over the whole history. The candles come the way
//! `get_ohlcv`'s do (grid pages through the symbol's actor: cached, single flight), so a
//! warm call computes without any exchange call.

use crypto_market_actors::model::indicators::{self, Indicator, Row, Table};
use crypto_market_actors::model::CandlePrice;
use schemars::JsonSchema;
use serde::ser::SerializeSeq;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use super::args::{indicator_rows_schema, INDICATOR_ROWS};
use super::history::Window;
use super::limit::{Cut, Keep, Resume};
use super::output::Freshness;
use super::{to_json, ToolError, ToolService};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IndicatorsArgs {
    /// Market symbol, e.g. BTC/USDT (a perpetual such as BTC/USDT:USDT too).
    pub symbol: String,
    /// Exchange id (default: the server's default exchange).
    #[serde(default)]
    pub exchange: Option<String>,
    /// Candle interval, one of the exchange's timeframes (default 1h).
    #[serde(default)]
    pub timeframe: Option<String>,
    /// 1 to 10 of sma:N, ema:N, rsi:N, macd:F:S:G, bbands:N:K, atr:N, stoch:K:D, vwap (a name
    /// alone takes the usual periods), as a list or one comma-separated string.
    pub indicators: Specs,
    #[serde(default)]
    #[schemars(schema_with = "indicator_rows_schema")]
    pub limit: Option<u32>,
}

/// The indicators asked for: `["rsi:14", "macd"]` or `"rsi:14,macd"`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Specs {
    List(Vec<String>),
    Text(String),
}

impl Specs {
    /// The checked indicators; errors name the argument.
    pub fn parse(&self) -> Result<Vec<Indicator>, ToolError> {
        let specs: Vec<&str> = match self {
            Self::List(list) => list.iter().map(String::as_str).collect(),
            Self::Text(text) => text.split(',').filter(|s| !s.trim().is_empty()).collect(),
        };
        indicators::parse_all(&specs)
            .map_err(|e| ToolError::invalid_argument(format!("indicators: {e}")))
    }
}

#[derive(Serialize, JsonSchema)]
pub struct IndicatorsResult<'a> {
    pub exchange: &'a str,
    pub symbol: &'a str,
    pub timeframe: &'a str,
    /// `timestamp`, `close`, then each indicator's columns (e.g. rsi_14, macd, macd_signal,
    /// macd_hist, bb_lower, bb_middle, bb_upper, sma_20, ema_20, atr_14, stoch_k, stoch_d,
    /// vwap).
    pub columns: &'a [String],
    /// `[timestamp, close, values...]`, oldest first, the last the candle in progress; null
    /// where there is no value yet.
    #[schemars(with = "Vec<Vec<Value>>")]
    pub rows: Rows<'a>,
    #[serde(flatten)]
    pub freshness: Freshness,
}

impl ToolService {
    pub(super) async fn get_indicators(&self, args: IndicatorsArgs) -> Result<Value, ToolError> {
        let indicators = args.indicators.parse()?;
        let rows = INDICATOR_ROWS.check(args.limit)?;
        let timeframe = self.timeframe(args.exchange.as_deref(), args.timeframe.as_deref())?;
        let wanted = rows as usize + indicators::warm_up(&indicators);
        let window = Window {
            since: None,
            until: None,
            limit: u32::try_from(wanted).unwrap_or(u32::MAX),
        };
        let history = self
            .history(
                args.exchange.as_deref(),
                &args.symbol,
                &timeframe,
                CandlePrice::Trade,
                window,
                true,
            )
            .await?;
        let table = indicators::table(&history.candles, &indicators, rows as usize);
        let result = to_json(&IndicatorsResult {
            exchange: &history.answer.exchange,
            symbol: &history.answer.symbol,
            timeframe: timeframe.as_str(),
            columns: &table.columns,
            rows: Rows(&table),
            freshness: Freshness::of(&history.answer),
        })?;
        // Too long: the newest rows stay.
        self.bounded(result, Cut::of(&["rows"], Keep::Last, Resume::Nowhere))
    }
}

/// The table's rows as `[timestamp, close, values...]` arrays, written straight from the table:
/// no tree of JSON values is built first only to be copied into the result (issue 24: a warm
/// call's time is mostly its 1,000 rows' JSON).
pub struct Rows<'a>(&'a Table);

impl Serialize for Rows<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut rows = serializer.serialize_seq(Some(self.0.rows.len()))?;
        for row in &self.0.rows {
            rows.serialize_element(&RowJson(row))?;
        }
        rows.end()
    }
}

struct RowJson<'a>(&'a Row);

impl Serialize for RowJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let row = self.0;
        let mut out = serializer.serialize_seq(Some(row.values.len() + 2))?;
        out.serialize_element(&row.timestamp)?;
        // serde_json writes a non-finite f64 as null, as a missing value is.
        out.serialize_element(&row.close)?;
        for value in &row.values {
            out.serialize_element(value)?;
        }
        out.end()
    }
}
