//! Values only derivatives have (SPEC.md section 4.1): a perpetual's funding rate, its funding
//! history, and open interest; and which price a candle series follows.

use serde::{Deserialize, Serialize};

/// A perpetual's current funding: the rate of the period under way and when it settles.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct FundingRate {
    /// Unified symbol, e.g. `BTC/USDT:USDT`.
    pub symbol: String,
    /// Rate paid per funding period (0.0001 = 0.01 %), longs to shorts when positive.
    pub funding_rate: Option<f64>,
    /// Unix ms of the next settlement.
    pub next_funding_ms: Option<i64>,
    /// Hours between settlements (8 on most contracts, 4 or 1 on some).
    pub interval_hours: Option<f64>,
    pub mark_price: Option<f64>,
    pub index_price: Option<f64>,
    /// Unix ms the exchange stamped the value with.
    pub timestamp: Option<i64>,
}

impl FundingRate {
    /// The rate over a year: rate × settlements per day × 365 (SPEC.md 4.1 `annualized`).
    pub fn annualized(&self) -> Option<f64> {
        let rate = self.funding_rate?;
        let hours = self.interval_hours.filter(|h| *h > 0.0)?;
        Some(rate * (24.0 / hours) * 365.0)
    }
}

/// One settled funding rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct FundingPoint {
    /// Unix ms of the settlement.
    pub timestamp: i64,
    pub funding_rate: f64,
}

/// Open interest of one contract market.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct OpenInterest {
    pub symbol: String,
    /// In contracts.
    pub open_interest: Option<f64>,
    /// In the base currency (contracts × contract size on a linear contract).
    pub open_interest_base: Option<f64>,
    /// In the quote currency.
    pub open_interest_value: Option<f64>,
    pub timestamp: Option<i64>,
}

/// The price a candle series follows (`get_ohlcv` `price`): trades, or a derivative's mark or
/// index price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CandlePrice {
    #[default]
    Trade,
    Mark,
    Index,
}

impl CandlePrice {
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "trade" => Some(Self::Trade),
            "mark" => Some(Self::Mark),
            "index" => Some(Self::Index),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Trade => "trade",
            Self::Mark => "mark",
            Self::Index => "index",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annualized_counts_settlements_per_day() {
        let rate = |interval_hours| FundingRate {
            funding_rate: Some(0.0001),
            interval_hours: Some(interval_hours),
            ..Default::default()
        };
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert!(close(rate(8.0).annualized().unwrap(), 0.1095));
        assert!(close(rate(4.0).annualized().unwrap(), 0.219));
        assert_eq!(rate(0.0).annualized(), None);
        assert_eq!(CandlePrice::parse(" Mark "), Some(CandlePrice::Mark));
        assert_eq!(CandlePrice::parse("last"), None);
    }
}
