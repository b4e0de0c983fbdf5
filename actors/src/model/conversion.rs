//! How to turn one asset into another on one venue (`convert`, SPEC.md section 4.2): a direct
//! spot market (either way round), else through one intermediate asset. Pure lookups over the
//! venue's market list; the prices come from the tickers the caller fetches.

use std::collections::BTreeSet;

use super::Market;

/// The assets a conversion may go through, in the order they are tried.
pub const INTERMEDIATES: [&str; 6] = ["USDT", "USDC", "USD", "BTC", "ETH", "EUR"];

/// One market of a conversion path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leg {
    /// Unified symbol, e.g. `ETH/BTC`.
    pub symbol: String,
    /// The asset held is this market's quote: the leg buys the base, at 1 / price.
    pub inverted: bool,
}

impl Leg {
    /// What one unit of the asset held becomes, at `price` (the market's base in its quote).
    pub fn rate(&self, price: f64) -> f64 {
        if self.inverted {
            1.0 / price
        } else {
            price
        }
    }
}

/// The spot market turning `from` into `to` directly: `FROM/TO` (sell the base), else
/// `TO/FROM` (buy the base). Active markets are preferred.
fn direct(markets: &[Market], from: &str, to: &str) -> Option<Leg> {
    let spot = |m: &&Market| !m.is_derivative();
    let find = |base: &str, quote: &str| {
        let mut listed = markets
            .iter()
            .filter(spot)
            .filter(|m| m.base.eq_ignore_ascii_case(base) && m.quote.eq_ignore_ascii_case(quote));
        let first = listed.clone().find(|m| m.active);
        first.or_else(|| listed.next()).map(|m| m.symbol.clone())
    };
    if let Some(symbol) = find(from, to) {
        return Some(Leg {
            symbol,
            inverted: false,
        });
    }
    find(to, from).map(|symbol| Leg {
        symbol,
        inverted: true,
    })
}

/// The markets turning `from` into `to`: one direct market, else two through the first of
/// [`INTERMEDIATES`] that has both; `Some(vec![])` when `from` is `to`; `None` without a path.
pub fn route(markets: &[Market], from: &str, to: &str) -> Option<Vec<Leg>> {
    if from.eq_ignore_ascii_case(to) {
        return Some(Vec::new());
    }
    if let Some(leg) = direct(markets, from, to) {
        return Some(vec![leg]);
    }
    INTERMEDIATES
        .iter()
        .filter(|via| !via.eq_ignore_ascii_case(from) && !via.eq_ignore_ascii_case(to))
        .find_map(|via| Some(vec![direct(markets, from, via)?, direct(markets, via, to)?]))
}

/// The assets the venue's spot markets trade (bases and quotes), upper case.
pub fn assets(markets: &[Market]) -> BTreeSet<String> {
    markets
        .iter()
        .filter(|m| !m.is_derivative())
        .flat_map(|m| [m.base.to_ascii_uppercase(), m.quote.to_ascii_uppercase()])
        .collect()
}

/// Listed assets closest to an unknown `asset`, best first (at most five).
pub fn suggest_assets(assets: &BTreeSet<String>, asset: &str) -> Vec<String> {
    let wanted = asset.trim().to_ascii_uppercase();
    let mut scored: Vec<(f64, &String)> = assets
        .iter()
        .map(|a| (strsim::jaro_winkler(&wanted, a), a))
        .filter(|(score, _)| *score >= 0.75)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored.into_iter().take(5).map(|(_, a)| a.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spot(base: &str, quote: &str) -> Market {
        Market {
            symbol: format!("{base}/{quote}"),
            base: base.into(),
            quote: quote.into(),
            market_type: "spot".into(),
            active: true,
            ..Default::default()
        }
    }

    fn markets() -> Vec<Market> {
        let mut perp = spot("SOL", "BTC");
        perp.symbol = "SOL/BTC:BTC".into();
        perp.market_type = "swap".into();
        vec![
            spot("BTC", "USDT"),
            spot("ETH", "USDT"),
            spot("ETH", "BTC"),
            spot("SOL", "USDT"),
            perp,
        ]
    }

    #[test]
    fn a_direct_market_either_way_round() {
        let path = route(&markets(), "eth", "BTC").unwrap();
        assert_eq!(
            path,
            vec![Leg {
                symbol: "ETH/BTC".into(),
                inverted: false
            }]
        );
        let back = route(&markets(), "BTC", "ETH").unwrap();
        assert!(back[0].inverted);
        assert_eq!(back[0].rate(0.05), 20.0);
        assert_eq!(route(&markets(), "BTC", "btc"), Some(vec![]));
    }

    #[test]
    fn through_one_intermediate_spot_only() {
        // SOL/BTC exists only as a perpetual: SOL goes to BTC through USDT.
        let path = route(&markets(), "SOL", "BTC").unwrap();
        let symbols: Vec<&str> = path.iter().map(|l| l.symbol.as_str()).collect();
        assert_eq!(symbols, ["SOL/USDT", "BTC/USDT"]);
        assert_eq!(
            path.iter().map(|l| l.inverted).collect::<Vec<_>>(),
            [false, true]
        );
        assert_eq!(route(&markets(), "SOL", "DOGE"), None);
    }

    #[test]
    fn unknown_assets_get_close_listed_ones() {
        let listed = assets(&markets());
        assert!(listed.contains("USDT") && !listed.contains("DOGE"));
        assert_eq!(
            suggest_assets(&listed, "ETHH").first().map(String::as_str),
            Some("ETH")
        );
    }
}
