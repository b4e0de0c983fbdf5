//! `compare_prices`: one symbol's quote on every venue that lists it, the best bid and ask
//! across them, and the cross-venue spread (SPEC.md section 4).

use crypto_market_actors::engine::Comparison;
use crypto_market_actors::model::{MarketData, Source};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::args::COMPARED_EXCHANGES;
use super::output::ErrorBody;
use super::ToolError;

/// Most venues one call may name.
pub const MAX_EXCHANGES: usize = COMPARED_EXCHANGES.max as usize;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompareArgs {
    /// Market symbol in any common spelling: BTC/USDT, BTCUSDT, btc-usdt.
    pub symbol: String,
    #[serde(default)]
    #[schemars(schema_with = "super::bounds::compared_exchanges_schema")]
    pub exchanges: Option<Vec<String>>,
}

impl CompareArgs {
    pub fn exchanges(&self) -> Result<Option<&[String]>, ToolError> {
        match &self.exchanges {
            Some(list) => {
                COMPARED_EXCHANGES.check_count(list.len())?;
                Ok(Some(list.as_slice()))
            }
            None => Ok(None),
        }
    }
}

/// One venue's quote.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Quote {
    pub exchange: String,
    pub bid: Option<f64>,
    pub ask: Option<f64>,
    pub last: Option<f64>,
    /// exchange | cache | redis | stream
    pub source: Source,
    pub age_ms: i64,
    pub stale: bool,
}

/// The best price on one side and the venue quoting it.
#[derive(Debug, Serialize, JsonSchema, PartialEq)]
pub struct BestPrice {
    pub exchange: String,
    pub price: f64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct VenueError {
    pub exchange: String,
    pub error: ErrorBody,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct CompareResult {
    /// Unified symbol, e.g. BTC/USDT.
    pub symbol: String,
    pub quotes: Vec<Quote>,
    /// Highest bid across venues (fresh quotes only, when there are any); null when no venue
    /// quotes a bid.
    pub best_bid: Option<BestPrice>,
    /// Lowest ask across venues; null when no venue quotes an ask.
    pub best_ask: Option<BestPrice>,
    /// (best ask - best bid) / mid in basis points; negative when the venues cross (the best
    /// bid on one venue is above the best ask on another).
    pub spread_bps: Option<f64>,
    /// Venues that could not answer, each with its error.
    pub errors: Vec<VenueError>,
}

impl CompareResult {
    pub fn new(comparison: Comparison) -> Self {
        let quotes: Vec<Quote> = comparison
            .quotes
            .iter()
            .filter_map(|answer| {
                let MarketData::Ticker(ticker) = &*answer.data.value else {
                    return None;
                };
                Some(Quote {
                    exchange: answer.exchange.to_string(),
                    bid: ticker.bid,
                    ask: ticker.ask,
                    last: ticker.last,
                    source: answer.data.source,
                    age_ms: answer.data.age_ms,
                    stale: answer.data.stale,
                })
            })
            .collect();
        // A stale quote (a venue serving an old value while it cannot answer) must not make
        // up the best price or a crossed spread, unless nothing fresh is there at all.
        let any_fresh = quotes.iter().any(|q| !q.stale);
        let best = |side: fn(&Quote) -> Option<f64>, better: fn(f64, f64) -> bool| {
            quotes
                .iter()
                .filter(|q| !any_fresh || !q.stale)
                .filter_map(|q| {
                    side(q)
                        .filter(|p| p.is_finite() && *p > 0.0)
                        .map(|p| (q, p))
                })
                .fold(None::<(&Quote, f64)>, |best, (q, p)| match best {
                    Some((_, b)) if !better(p, b) => best,
                    _ => Some((q, p)),
                })
                .map(|(q, price)| BestPrice {
                    exchange: q.exchange.clone(),
                    price,
                })
        };
        let best_bid = best(|q| q.bid, |p, b| p > b);
        let best_ask = best(|q| q.ask, |p, b| p < b);
        let spread_bps = match (&best_bid, &best_ask) {
            (Some(bid), Some(ask)) => {
                let mid = (bid.price + ask.price) / 2.0;
                Some((ask.price - bid.price) / mid * 10_000.0)
            }
            _ => None,
        };
        Self {
            symbol: comparison.symbol.to_string(),
            quotes,
            best_bid,
            best_ask,
            spread_bps,
            errors: comparison
                .errors
                .into_iter()
                .map(|(exchange, error)| VenueError {
                    exchange: exchange.to_string(),
                    error: ErrorBody::from(ToolError::from(error)),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crypto_market_actors::model::{DataRequest, Served, Ticker};
    use crypto_market_actors::symbol::Answer;

    use super::*;

    fn quote(exchange: &str, bid: f64, ask: f64, stale: bool) -> Answer {
        let ticker = Ticker {
            symbol: "BTC/USDT".into(),
            bid: Some(bid),
            ask: Some(ask),
            last: Some((bid + ask) / 2.0),
            ..Default::default()
        };
        let served = Served {
            value: Arc::new(MarketData::Ticker(ticker)),
            source: if stale {
                Source::Cache
            } else {
                Source::Exchange
            },
            fetched_at_ms: 0,
            stale,
            age_ms: if stale { 300_000 } else { 5 },
        };
        Answer::new(
            Arc::from(exchange),
            Arc::from("BTC/USDT"),
            served,
            &DataRequest::Ticker,
        )
    }

    fn compare(quotes: Vec<Answer>) -> CompareResult {
        CompareResult::new(Comparison {
            symbol: Arc::from("BTC/USDT"),
            quotes,
            errors: Vec::new(),
        })
    }

    #[test]
    fn best_prices_and_the_spread_across_venues() {
        let r = compare(vec![
            quote("binance", 100.0, 101.0, false),
            quote("okx", 100.4, 100.9, false),
            quote("kraken", 99.0, 100.5, false),
        ]);
        assert_eq!(
            r.best_bid,
            Some(BestPrice {
                exchange: "okx".into(),
                price: 100.4
            })
        );
        assert_eq!(
            r.best_ask,
            Some(BestPrice {
                exchange: "kraken".into(),
                price: 100.5
            })
        );
        let spread = (100.5 - 100.4) / 100.45 * 10_000.0;
        assert!((r.spread_bps.unwrap() - spread).abs() < 1e-9);
    }

    #[test]
    fn a_stale_quote_never_makes_the_best_price_unless_all_are_stale() {
        // The stale venue's old bid would cross the book: 105 over the fresh asks.
        let r = compare(vec![
            quote("binance", 100.0, 101.0, false),
            quote("okx", 105.0, 106.0, true),
        ]);
        assert_eq!(
            r.best_bid.as_ref().map(|b| b.exchange.as_str()),
            Some("binance")
        );
        assert!(r.spread_bps.unwrap() > 0.0);
        assert_eq!(
            r.quotes.len(),
            2,
            "the stale quote is still listed, marked stale"
        );
        let all_stale = compare(vec![quote("okx", 105.0, 106.0, true)]);
        assert_eq!(all_stale.best_bid.map(|b| b.price), Some(105.0));
    }
}
