use serde::{Deserialize, Serialize};

/// CCXT's unified ticker. Unknown values are `None` (JSON `null`), never zero.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Ticker {
    pub symbol: String,
    pub timestamp: Option<i64>,
    pub datetime: Option<String>,
    pub high: Option<f64>,
    pub low: Option<f64>,
    pub bid: Option<f64>,
    pub bid_volume: Option<f64>,
    pub ask: Option<f64>,
    pub ask_volume: Option<f64>,
    pub vwap: Option<f64>,
    pub open: Option<f64>,
    pub close: Option<f64>,
    pub last: Option<f64>,
    pub previous_close: Option<f64>,
    pub change: Option<f64>,
    pub percentage: Option<f64>,
    pub average: Option<f64>,
    pub base_volume: Option<f64>,
    pub quote_volume: Option<f64>,
    /// A derivative's mark price (SPEC.md 4.1), where the venue gives it; absent on spot.
    #[serde(
        rename = "mark_price",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub mark_price: Option<f64>,
    /// A derivative's index price, where the venue gives it; absent on spot.
    #[serde(
        rename = "index_price",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub index_price: Option<f64>,
}
