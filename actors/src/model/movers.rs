//! The markets that moved most (`top_movers`, SPEC.md section 4.2), ranked from one venue's
//! all-tickers reply. Pure ranking; the tickers come from one exchange call.

use super::Ticker;

/// What to rank by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoversBy {
    /// Highest 24 h change first.
    Gainers,
    /// Lowest 24 h change first.
    Losers,
    /// Highest 24 h quote volume first.
    Volume,
}

impl MoversBy {
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "gainers" => Some(Self::Gainers),
            "losers" => Some(Self::Losers),
            "volume" => Some(Self::Volume),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Gainers => "gainers",
            Self::Losers => "losers",
            Self::Volume => "volume",
        }
    }
}

/// What the ranking keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct MoversFilter<'a> {
    /// Quote currency, case-insensitive (e.g. `USDT`).
    pub quote: &'a str,
    /// Least 24 h quote volume a market needs (0: any, unknown volumes included).
    pub min_quote_volume: f64,
    pub limit: usize,
}

/// The quote of a unified spot symbol (`BTC/USDT` → `USDT`); `None` for a derivative
/// (`BTC/USDT:USDT`) or a symbol without a quote.
fn spot_quote(symbol: &str) -> Option<&str> {
    if symbol.contains(':') {
        return None;
    }
    symbol.split_once('/').map(|(_, quote)| quote)
}

/// A ticker's 24 h quote volume: the venue's, else base volume × last price.
pub fn quote_volume(ticker: &Ticker) -> Option<f64> {
    ticker
        .quote_volume
        .or_else(|| Some(ticker.base_volume? * ticker.last?))
        .filter(|v| v.is_finite())
}

/// The spot tickers quoted in `filter.quote` with enough volume, ranked `by`, at most
/// `filter.limit`. Gainers and losers need a known change; ties are broken by symbol so the
/// order is the same on every call.
pub fn rank<'t>(tickers: &'t [Ticker], by: MoversBy, filter: &MoversFilter<'_>) -> Vec<&'t Ticker> {
    let mut kept: Vec<(&Ticker, f64)> = tickers
        .iter()
        .filter(|t| spot_quote(&t.symbol).is_some_and(|q| q.eq_ignore_ascii_case(filter.quote)))
        .filter(|t| {
            filter.min_quote_volume <= 0.0
                || quote_volume(t).is_some_and(|v| v >= filter.min_quote_volume)
        })
        .filter_map(|t| {
            let key = match by {
                MoversBy::Gainers | MoversBy::Losers => t.percentage,
                MoversBy::Volume => quote_volume(t),
            };
            key.filter(|k| k.is_finite()).map(|k| (t, k))
        })
        .collect();
    kept.sort_by(|(a, ka), (b, kb)| {
        let order = match by {
            MoversBy::Gainers | MoversBy::Volume => kb.total_cmp(ka),
            MoversBy::Losers => ka.total_cmp(kb),
        };
        order.then_with(|| a.symbol.cmp(&b.symbol))
    });
    kept.into_iter()
        .take(filter.limit)
        .map(|(t, _)| t)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticker(symbol: &str, percentage: Option<f64>, quote_volume: Option<f64>) -> Ticker {
        Ticker {
            symbol: symbol.into(),
            percentage,
            quote_volume,
            last: Some(1.0),
            ..Default::default()
        }
    }

    fn tickers() -> Vec<Ticker> {
        vec![
            ticker("BTC/USDT", Some(2.0), Some(1_000_000.0)),
            ticker("ETH/USDT", Some(-3.0), Some(500_000.0)),
            ticker("SOL/USDT", Some(7.5), Some(1_000.0)),
            ticker("DOGE/USDT", None, Some(9_000_000.0)),
            ticker("ETH/BTC", Some(50.0), Some(10.0)),
            ticker("BTC/USDT:USDT", Some(90.0), Some(1e12)),
        ]
    }

    fn symbols(ranked: &[&Ticker]) -> Vec<String> {
        ranked.iter().map(|t| t.symbol.clone()).collect()
    }

    #[test]
    fn ranks_by_change_and_volume_within_the_quote() {
        let all = tickers();
        let filter = MoversFilter {
            quote: "usdt",
            min_quote_volume: 0.0,
            limit: 10,
        };
        assert_eq!(
            symbols(&rank(&all, MoversBy::Gainers, &filter)),
            ["SOL/USDT", "BTC/USDT", "ETH/USDT"]
        );
        assert_eq!(
            symbols(&rank(&all, MoversBy::Losers, &filter)),
            ["ETH/USDT", "BTC/USDT", "SOL/USDT"]
        );
        assert_eq!(
            symbols(&rank(&all, MoversBy::Volume, &filter)),
            ["DOGE/USDT", "BTC/USDT", "ETH/USDT", "SOL/USDT"]
        );
    }

    #[test]
    fn min_volume_and_limit_cut_the_list() {
        let all = tickers();
        let filter = MoversFilter {
            quote: "USDT",
            min_quote_volume: 2_000.0,
            limit: 1,
        };
        assert_eq!(
            symbols(&rank(&all, MoversBy::Gainers, &filter)),
            ["BTC/USDT"]
        );
    }
}
