use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum TradeSide {
    Buy,
    Sell,
}

/// One public trade. `side` is the taker's side; `None` when the exchange does not say.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Trade {
    pub id: Option<String>,
    pub timestamp: Option<i64>,
    pub side: Option<TradeSide>,
    pub price: f64,
    pub amount: f64,
}
