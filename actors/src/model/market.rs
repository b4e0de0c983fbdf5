use serde::{Deserialize, Serialize};

/// A market listed on an exchange, as `list_markets` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Market {
    /// Unified symbol, e.g. `BTC/USDT`.
    pub symbol: String,
    pub base: String,
    pub quote: String,
    /// `spot`, `swap`, `future` or `option`.
    #[serde(rename = "type")]
    pub market_type: String,
    pub active: bool,
    /// The exchange's own id for the market, e.g. `BTCUSDT`.
    #[serde(skip)]
    pub id: String,
}
