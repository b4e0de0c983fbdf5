//! `estimate_fill` (SPEC.md section 4.2): what a market order of a size would cost on one venue
//! or several, walking each venue's book fetched deep enough for the size, with its taker fee;
//! the venues are asked concurrently, and the best is the complete fill with the best price
//! after fees. The walk itself is [`crypto_market_actors::model::fill`].

use std::time::Duration;

use crypto_market_actors::engine::ExchangeInfo;
use crypto_market_actors::model::fill::{self, BookUnit, Fill, FillSide, FillSize};
use crypto_market_actors::model::{DataRequest, MarketData, Source};
use crypto_market_actors::EngineError;
use futures::future::join_all;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::args::COMPARED_EXCHANGES;
use super::compare::VenueError;
use super::output::ErrorBody;
use super::{mismatch, to_json, ToolError, ToolService};

/// Taker fee assumed where the venue's market data gives none: 0.1 %, the most common spot
/// taker rate of the large venues' base tier.
pub const DEFAULT_TAKER_FEE: f64 = 0.001;

/// Book depths asked in turn while the size is not met: the steps at which the engine fetches
/// books anyway (so each is one cached exchange call), capped at the venue's own maximum.
const DEPTHS: [u32; 3] = [100, 500, 1000];

/// Time a venue gets over its call deadline (as `compare_prices`).
const VENUE_MARGIN: Duration = Duration::from_millis(250);

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EstimateFillArgs {
    /// Market symbol in any common spelling: BTC/USDT, BTCUSDT, btc-usdt.
    pub symbol: String,
    /// buy (walks the asks) or sell (walks the bids).
    pub side: String,
    /// Size in the base currency (e.g. 5 BTC). Give exactly one of amount and notional.
    #[serde(default)]
    pub amount: Option<f64>,
    /// Size in the quote currency (e.g. 10000 USDT). Give exactly one of amount and notional.
    #[serde(default)]
    pub notional: Option<f64>,
    /// One exchange id (default: the server's default exchange); or give exchanges.
    #[serde(default)]
    pub exchange: Option<String>,
    #[serde(default)]
    #[schemars(schema_with = "super::bounds::compared_exchanges_schema")]
    pub exchanges: Option<Vec<String>>,
}

impl EstimateFillArgs {
    /// The side and the size, checked: exactly one positive, finite size.
    pub fn order(&self) -> Result<(FillSide, FillSize), ToolError> {
        let side = FillSide::parse(&self.side).ok_or_else(|| {
            ToolError::invalid_argument(format!("side: {:?} is not buy or sell", self.side))
        })?;
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(v)
            } else {
                Err(ToolError::invalid_argument(format!(
                    "{name}: {v} must be a positive number"
                )))
            }
        };
        let size =
            match (self.amount, self.notional) {
                (Some(amount), None) => FillSize::Base(positive("amount", amount)?),
                (None, Some(notional)) => FillSize::Quote(positive("notional", notional)?),
                _ => return Err(ToolError::invalid_argument(
                    "amount, notional: give exactly one (amount in the base currency, notional \
                     in the quote)",
                )),
            };
        Ok((side, size))
    }
}

/// One venue's fill.
#[derive(Debug, Serialize, JsonSchema)]
pub struct VenueFill {
    pub exchange: String,
    /// filled_notional / filled_amount; null when nothing filled.
    pub avg_price: Option<f64>,
    /// Price of the last (worst) level touched.
    pub worst_price: Option<f64>,
    /// (best bid + best ask) / 2 of the book walked.
    pub mid: Option<f64>,
    /// avg_price away from mid against the taker, in basis points (buy: above, sell: below).
    pub slippage_bps: Option<f64>,
    /// Base filled.
    pub filled_amount: f64,
    /// Quote paid (buy) or received (sell), before fees.
    pub filled_notional: f64,
    /// False when the book (as deep as the venue serves) is too thin for the size.
    pub complete: bool,
    pub levels_used: usize,
    /// The market's taker fee from the venue's market data (0.001 where it publishes none).
    pub taker_fee_rate: f64,
    /// Buy: filled_notional × (1 + fee), the total cost. Sell: filled_notional × (1 − fee),
    /// the proceeds net of fees.
    pub cost_with_fees: f64,
    /// exchange | cache | redis | stream
    pub source: Source,
    pub age_ms: i64,
}

/// The venue filling best.
#[derive(Debug, Serialize, JsonSchema, PartialEq)]
pub struct BestFill {
    pub exchange: String,
    pub cost_with_fees: f64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct EstimateFillResult {
    /// Unified symbol, e.g. BTC/USDT.
    pub symbol: String,
    /// buy | sell
    pub side: &'static str,
    pub venues: Vec<VenueFill>,
    /// Among complete fills, the best price after fees: a buy's lowest cost_with_fees per unit
    /// filled, a sell's highest proceeds per unit (for an amount: the lowest cost, or the
    /// highest proceeds); null when no venue fills the whole size.
    pub best: Option<BestFill>,
    /// Venues that could not answer, each with its error.
    pub errors: Vec<VenueError>,
}

/// The complete fill with the best price after fees (see [`EstimateFillResult::best`]).
fn best_of(venues: &[VenueFill], side: FillSide) -> Option<BestFill> {
    let per_unit = |v: &VenueFill| v.cost_with_fees / v.filled_amount;
    venues
        .iter()
        .filter(|v| v.complete && v.filled_amount > 0.0)
        .fold(None::<&VenueFill>, |best, v| match best {
            Some(b) => {
                let better = match side {
                    FillSide::Buy => per_unit(v) < per_unit(b),
                    FillSide::Sell => per_unit(v) > per_unit(b),
                };
                Some(if better { v } else { b })
            }
            None => Some(v),
        })
        .map(|v| BestFill {
            exchange: v.exchange.clone(),
            cost_with_fees: v.cost_with_fees,
        })
}

impl ToolService {
    pub(super) async fn estimate_fill(
        &self,
        args: EstimateFillArgs,
    ) -> Result<serde_json::Value, ToolError> {
        let (side, size) = args.order()?;
        let venues: Vec<&ExchangeInfo> = match (&args.exchange, &args.exchanges) {
            (Some(_), Some(_)) => {
                return Err(ToolError::invalid_argument(
                    "exchange, exchanges: give one of them, not both",
                ))
            }
            (_, Some(names)) => {
                COMPARED_EXCHANGES.check_count(names.len())?;
                let mut venues: Vec<&ExchangeInfo> = Vec::new();
                for name in names {
                    let venue = self.engine.exchange(Some(name)).map_err(|e| {
                        ToolError::invalid_argument(format!(
                            "exchanges: {}",
                            ToolError::from(e).message
                        ))
                    })?;
                    if !venues.iter().any(|v| v.id == venue.id) {
                        venues.push(venue);
                    }
                }
                venues
            }
            (exchange, None) => vec![self.engine.exchange(exchange.as_deref())?],
        };
        let several = args.exchanges.is_some();
        let wanted = args.symbol.as_str();
        let asks = venues.iter().map(|venue| async move {
            let deadline = venue.timeout * 2 + VENUE_MARGIN;
            let reply = tokio::time::timeout(deadline, self.venue_fill(venue, wanted, side, size))
                .await
                .unwrap_or_else(|_| {
                    Err(ToolError::from(EngineError::Timeout(format!(
                        "{} did not answer within {} ms",
                        venue.id,
                        deadline.as_millis()
                    ))))
                });
            (venue.id.to_string(), reply)
        });
        let mut fills = Vec::new();
        let mut errors = Vec::new();
        let mut symbol = None;
        for (exchange, reply) in join_all(asks).await {
            match reply {
                Ok((unified, fill)) => {
                    symbol.get_or_insert(unified);
                    fills.push(fill);
                }
                // One venue asked: its failure is the call's.
                Err(error) if !several => return Err(error),
                Err(error) => errors.push(VenueError {
                    exchange,
                    error: ErrorBody::from(error),
                }),
            }
        }
        to_json(&EstimateFillResult {
            symbol: symbol.unwrap_or_else(|| args.symbol.clone()),
            side: side.as_str(),
            best: best_of(&fills, side),
            venues: fills,
            errors,
        })
    }

    /// The fill on one venue: the book fetched at growing depths until the size is met, the
    /// venue has no deeper book, or its maximum depth is reached.
    async fn venue_fill(
        &self,
        venue: &ExchangeInfo,
        symbol: &str,
        side: FillSide,
        size: FillSize,
    ) -> Result<(String, VenueFill), ToolError> {
        let mut depths: Vec<u32> = DEPTHS
            .iter()
            .map(|d| (*d).min(venue.max_book_depth))
            .collect();
        depths.dedup();
        let mut walked = None;
        // The market's taker fee and book unit, looked up once the symbol is resolved.
        let mut terms = None;
        for depth in depths {
            let answer = self
                .engine
                .fetch(venue, symbol, DataRequest::OrderBook { limit: depth })
                .await?;
            let MarketData::OrderBook(book) = &*answer.data.value else {
                return Err(mismatch("an order book"));
            };
            let (_, unit) = match terms {
                Some(known) => known,
                None => *terms.insert(self.market_terms(venue, &answer.symbol).await),
            };
            let book = &fill::in_base(book, unit);
            let fill = fill::walk(book, side, size);
            let levels = match side {
                FillSide::Buy => book.asks.len(),
                FillSide::Sell => book.bids.len(),
            };
            // Fewer levels than asked: that is the venue's whole book.
            let done = fill.complete || levels < depth as usize;
            walked = Some((fill, fill::mid(book), answer));
            if done {
                break;
            }
        }
        let Some((fill, mid, answer)) = walked else {
            return Err(mismatch("an order book"));
        };
        let fee = terms.map_or(DEFAULT_TAKER_FEE, |(fee, _)| fee);
        Ok((
            answer.symbol.to_string(),
            venue_result(venue, &fill, side, mid, fee, &answer),
        ))
    }

    /// `symbol`'s taker fee from the venue's market data (else [`DEFAULT_TAKER_FEE`]) and what
    /// its book's amounts count (contracts of a derivative, else base).
    async fn market_terms(&self, venue: &ExchangeInfo, symbol: &str) -> (f64, BookUnit) {
        let Ok(markets) = self.engine.markets(venue, symbol.contains(':')).await else {
            return (DEFAULT_TAKER_FEE, BookUnit::Base);
        };
        let Ok(market) = markets.index.resolve(symbol) else {
            return (DEFAULT_TAKER_FEE, BookUnit::Base);
        };
        let fee = market
            .terms
            .taker_fee
            .filter(|f| f.is_finite() && *f >= 0.0)
            .unwrap_or(DEFAULT_TAKER_FEE);
        (fee, BookUnit::of(market))
    }
}

fn venue_result(
    venue: &ExchangeInfo,
    fill: &Fill,
    side: FillSide,
    mid: Option<f64>,
    fee: f64,
    answer: &crypto_market_actors::Answer,
) -> VenueFill {
    VenueFill {
        exchange: venue.id.to_string(),
        avg_price: fill.avg_price,
        worst_price: fill.worst_price,
        mid,
        slippage_bps: mid.and_then(|m| fill.slippage_bps(side, m)),
        filled_amount: fill.filled_amount,
        filled_notional: fill.filled_notional,
        complete: fill.complete,
        levels_used: fill.levels_used,
        taker_fee_rate: fee,
        cost_with_fees: fill.with_fees(side, fee),
        source: answer.data.source,
        age_ms: answer.data.age_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crypto_market_actors::ErrorCode;
    use serde_json::json;

    fn order(v: serde_json::Value) -> Result<(FillSide, FillSize), ToolError> {
        super::super::args::parse::<EstimateFillArgs>(v.as_object().cloned())?.order()
    }

    #[test]
    fn exactly_one_positive_size() {
        let base = json!({"symbol": "BTC/USDT", "side": "buy", "amount": 5});
        assert_eq!(order(base).unwrap(), (FillSide::Buy, FillSize::Base(5.0)));
        let quote = json!({"symbol": "BTC/USDT", "side": "SELL", "notional": 100.5});
        assert_eq!(
            order(quote).unwrap(),
            (FillSide::Sell, FillSize::Quote(100.5))
        );
        for bad in [
            json!({"symbol": "BTC/USDT", "side": "buy"}),
            json!({"symbol": "BTC/USDT", "side": "buy", "amount": 1, "notional": 2}),
            json!({"symbol": "BTC/USDT", "side": "buy", "amount": 0}),
            json!({"symbol": "BTC/USDT", "side": "buy", "notional": -3}),
            json!({"symbol": "BTC/USDT", "side": "hold", "amount": 1}),
        ] {
            let error = order(bad.clone()).unwrap_err();
            assert_eq!(error.code, ErrorCode::InvalidArgument, "{bad}");
        }
    }

    fn venue(exchange: &str, amount: f64, cost: f64, complete: bool) -> VenueFill {
        VenueFill {
            exchange: exchange.into(),
            avg_price: Some(cost / amount),
            worst_price: None,
            mid: None,
            slippage_bps: None,
            filled_amount: amount,
            filled_notional: cost,
            complete,
            levels_used: 1,
            taker_fee_rate: 0.0,
            cost_with_fees: cost,
            source: Source::Exchange,
            age_ms: 0,
        }
    }

    #[test]
    fn the_best_is_the_cheapest_complete_buy_or_the_richest_sell() {
        let venues = [
            venue("a", 1.0, 101.0, true),
            venue("b", 1.0, 100.5, true),
            // Cheapest, but it did not fill the size.
            venue("c", 0.5, 40.0, false),
        ];
        assert_eq!(best_of(&venues, FillSide::Buy).unwrap().exchange, "b");
        assert_eq!(best_of(&venues, FillSide::Sell).unwrap().exchange, "a");
        assert_eq!(best_of(&venues[2..], FillSide::Buy), None);
    }
}
