//! A listed market (spot, perpetual swap, dated future, option) with the contract terms
//! `list_markets` reports (SPEC.md section 4.1), and the market types `MARKET_TYPES` names.

use serde::{Deserialize, Serialize};

/// A market listed on an exchange, as `list_markets` reports it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Market {
    /// Unified symbol, e.g. `BTC/USDT`, `BTC/USDT:USDT`, `BTC/USDT:USDT-261225`.
    pub symbol: String,
    pub base: String,
    pub quote: String,
    /// `spot`, `swap`, `future` or `option`.
    #[serde(rename = "type")]
    pub market_type: String,
    pub active: bool,
    /// The exchange's own id for the market, e.g. `BTCUSDT`, `BTC-USDT-SWAP`.
    #[serde(skip)]
    pub id: String,
    /// Contract terms and trading rules; every field `null` where the venue does not say.
    #[serde(flatten)]
    pub terms: MarketTerms,
}

/// What SPEC.md section 4.1 adds to each market of `list_markets`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct MarketTerms {
    /// Currency profits and margin settle in (`USDT` for a linear USDT perpetual).
    pub settle: Option<String>,
    /// Base units (linear) or quote units (inverse) one contract stands for.
    pub contract_size: Option<f64>,
    /// Linear (settled in the quote) rather than inverse (settled in the base).
    pub linear: Option<bool>,
    /// Unix ms when a dated future or option expires.
    pub expiry: Option<i64>,
    pub tick_size: Option<f64>,
    pub amount_step: Option<f64>,
    pub min_amount: Option<f64>,
    pub min_notional: Option<f64>,
    pub maker_fee: Option<f64>,
    pub taker_fee: Option<f64>,
}

impl Market {
    pub fn kind(&self) -> Option<MarketType> {
        MarketType::parse(&self.market_type)
    }

    /// A perpetual, future or option (anything with a contract).
    pub fn is_derivative(&self) -> bool {
        self.market_type != "spot" && self.market_type != "margin"
    }

    /// A linear perpetual settled in its own quote (`BTC/USDT:USDT`), what a bare pair names
    /// for the derivative tools.
    pub fn is_linear_perpetual(&self) -> bool {
        self.market_type == "swap"
            && self.terms.linear != Some(false)
            && self
                .terms
                .settle
                .as_deref()
                .is_none_or(|settle| settle == self.quote)
    }
}

/// A market type of SPEC.md section 4.1 (`MARKET_TYPES`, `list_markets` `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MarketType {
    Spot,
    Swap,
    Future,
    Option,
}

impl MarketType {
    pub const ALL: [Self; 4] = [Self::Spot, Self::Swap, Self::Future, Self::Option];

    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "spot" => Some(Self::Spot),
            "swap" => Some(Self::Swap),
            "future" => Some(Self::Future),
            "option" => Some(Self::Option),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Spot => "spot",
            Self::Swap => "swap",
            Self::Future => "future",
            Self::Option => "option",
        }
    }

    pub const fn is_derivative(self) -> bool {
        !matches!(self, Self::Spot)
    }

    /// `MARKET_TYPES`: a comma list of types, e.g. `spot,swap`; an unknown or empty one is an
    /// error naming the accepted values.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, String> {
        let mut types = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let kind = Self::parse(part).ok_or_else(|| {
                format!("{part:?} is not a market type (accepted: spot, swap, future, option)")
            })?;
            if !types.contains(&kind) {
                types.push(kind);
            }
        }
        if types.is_empty() {
            return Err("no market type given (accepted: spot, swap, future, option)".to_owned());
        }
        types.sort();
        Ok(types)
    }
}

impl std::fmt::Display for MarketType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The default of `MARKET_TYPES`.
pub const DEFAULT_MARKET_TYPES: [MarketType; 2] = [MarketType::Spot, MarketType::Swap];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn market_types_parse_as_a_list() {
        assert_eq!(
            MarketType::parse_list("swap, spot,swap"),
            Ok(vec![MarketType::Spot, MarketType::Swap])
        );
        assert!(MarketType::parse_list("spot,perp")
            .unwrap_err()
            .contains("perp"));
        assert!(MarketType::parse_list(" , ").is_err());
    }

    #[test]
    fn terms_serialise_flat_with_nulls() {
        let market = Market {
            symbol: "BTC/USDT:USDT".into(),
            base: "BTC".into(),
            quote: "USDT".into(),
            market_type: "swap".into(),
            active: true,
            id: "BTCUSDT".into(),
            terms: MarketTerms {
                settle: Some("USDT".into()),
                contract_size: Some(1.0),
                linear: Some(true),
                ..Default::default()
            },
        };
        let json = serde_json::to_value(&market).unwrap();
        assert_eq!(json["settle"], "USDT");
        assert_eq!(json["type"], "swap");
        assert!(json["expiry"].is_null() && json["taker_fee"].is_null());
        assert!(json.get("id").is_none());
        assert!(market.is_linear_perpetual() && market.is_derivative());
    }
}
