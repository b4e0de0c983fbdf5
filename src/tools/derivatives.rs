//! The derivative tools of SPEC.md section 4.1: `get_funding_rate`, `get_funding_history`,
//! `get_open_interest` and `compare_funding`. A bare pair names the linear perpetual here; each
//! value goes through the symbol's actor like a ticker (TTL, single flight, stale on failure,
//! Redis), and `get_funding_rate` fails over like spot tools.

use crypto_market_actors::engine::Comparison;
use crypto_market_actors::model::{
    DataRequest, FundingPoint, FundingRate, MarketData, OpenInterest, Source,
};
use crypto_market_actors::Answer;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::args::{Since, COMPARED_EXCHANGES, FUNDING_HISTORY_LIMIT};
use super::compare::VenueError;
use super::output::{ErrorBody, Freshness};
use super::{mismatch, to_json, ToolError, ToolService};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FundingRateArgs {
    /// Perpetual in any spelling: BTC/USDT:USDT, BTCUSDT.P, BTCUSDT-PERP, BTC-USDT-SWAP, or a
    /// bare pair (BTCUSDT, BTC/USDT) meaning its linear USDT perpetual.
    pub symbol: String,
    /// Exchange id (default: the server's default exchange; binance, okx and bybit have
    /// perpetuals).
    #[serde(default)]
    pub exchange: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FundingHistoryArgs {
    /// Perpetual in any spelling (a bare pair means its linear USDT perpetual).
    pub symbol: String,
    /// Exchange id (default: the server's default exchange).
    #[serde(default)]
    pub exchange: Option<String>,
    /// Oldest settlement to return: Unix milliseconds or ISO-8601.
    #[serde(default)]
    pub since: Option<Since>,
    /// Newest settlement to return: Unix milliseconds or ISO-8601.
    #[serde(default)]
    pub until: Option<Since>,
    #[serde(default)]
    #[schemars(schema_with = "super::bounds::funding_history_limit_schema")]
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompareFundingArgs {
    /// Perpetual in any spelling (a bare pair means its linear USDT perpetual).
    pub symbol: String,
    #[serde(default)]
    #[schemars(schema_with = "super::bounds::compared_exchanges_schema")]
    pub exchanges: Option<Vec<String>>,
}

/// `get_funding_rate`'s result.
#[derive(Debug, Serialize, JsonSchema)]
pub struct FundingRateResult<'a> {
    pub exchange: &'a str,
    /// Unified symbol, e.g. BTC/USDT:USDT.
    pub symbol: &'a str,
    /// Rate of the period under way (0.0001 = 0.01 %), paid by longs when positive.
    pub funding_rate: Option<f64>,
    /// Unix ms of the next settlement.
    pub next_funding_ms: Option<i64>,
    /// Hours between settlements.
    pub interval_hours: Option<f64>,
    pub mark_price: Option<f64>,
    pub index_price: Option<f64>,
    /// The exchange's time of the value, Unix ms (null where it does not say).
    pub timestamp: Option<i64>,
    #[serde(flatten)]
    pub freshness: Freshness,
}

/// `get_funding_history`'s result.
#[derive(Debug, Serialize, JsonSchema)]
pub struct FundingHistoryResult<'a> {
    pub exchange: &'a str,
    pub symbol: &'a str,
    /// Settled rates, oldest first.
    pub rates: &'a [FundingPoint],
    #[serde(flatten)]
    pub freshness: Freshness,
}

/// `get_open_interest`'s result.
#[derive(Debug, Serialize, JsonSchema)]
pub struct OpenInterestResult<'a> {
    pub exchange: &'a str,
    pub symbol: &'a str,
    /// In contracts.
    pub open_interest: Option<f64>,
    /// In the base currency.
    pub open_interest_base: Option<f64>,
    /// In the quote currency.
    pub open_interest_value: Option<f64>,
    pub timestamp: Option<i64>,
    #[serde(flatten)]
    pub freshness: Freshness,
}

/// One venue's rate in `compare_funding`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct VenueRate {
    pub exchange: String,
    pub funding_rate: Option<f64>,
    /// funding_rate × (24 / interval_hours) × 365.
    pub annualized: Option<f64>,
    pub interval_hours: Option<f64>,
    pub next_funding_ms: Option<i64>,
    pub mark_price: Option<f64>,
    /// exchange | cache | redis | stream
    pub source: Source,
    pub age_ms: i64,
    pub stale: bool,
}

/// The venue with the highest (or lowest) rate.
#[derive(Debug, Serialize, JsonSchema, PartialEq)]
pub struct VenueExtreme {
    pub exchange: String,
    pub funding_rate: f64,
}

/// `compare_funding`'s result.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CompareFundingResult {
    pub symbol: String,
    pub rates: Vec<VenueRate>,
    pub highest: Option<VenueExtreme>,
    pub lowest: Option<VenueExtreme>,
    /// highest − lowest funding rate (per period).
    pub spread: Option<f64>,
    pub errors: Vec<VenueError>,
}

impl CompareFundingResult {
    pub fn new(comparison: Comparison) -> Self {
        let rates: Vec<VenueRate> = comparison
            .quotes
            .iter()
            .filter_map(|answer| {
                let MarketData::FundingRate(rate) = &*answer.data.value else {
                    return None;
                };
                Some(VenueRate {
                    exchange: answer.exchange.to_string(),
                    funding_rate: rate.funding_rate,
                    annualized: rate.annualized(),
                    interval_hours: rate.interval_hours,
                    next_funding_ms: rate.next_funding_ms,
                    mark_price: rate.mark_price,
                    source: answer.data.source,
                    age_ms: answer.data.age_ms,
                    stale: answer.data.stale,
                })
            })
            .collect();
        // As compare_prices: a stale rate makes no extreme unless every rate is stale.
        let any_fresh = rates.iter().any(|r| !r.stale);
        let counted = || {
            rates
                .iter()
                .filter(move |r| !any_fresh || !r.stale)
                .filter_map(|r| r.funding_rate.filter(|f| f.is_finite()).map(|f| (r, f)))
        };
        let extreme = |pick: fn(f64, f64) -> bool| {
            counted()
                .fold(None::<(&VenueRate, f64)>, |best, (r, f)| match best {
                    Some((_, b)) if !pick(f, b) => best,
                    _ => Some((r, f)),
                })
                .map(|(r, funding_rate)| VenueExtreme {
                    exchange: r.exchange.clone(),
                    funding_rate,
                })
        };
        let highest = extreme(|f, b| f > b);
        let lowest = extreme(|f, b| f < b);
        let spread = highest
            .as_ref()
            .zip(lowest.as_ref())
            .map(|(h, l)| h.funding_rate - l.funding_rate);
        Self {
            symbol: comparison.symbol.to_string(),
            rates,
            highest,
            lowest,
            spread,
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

fn funding_result(answer: &Answer) -> Result<FundingRateResult<'_>, ToolError> {
    let MarketData::FundingRate(rate) = &*answer.data.value else {
        return Err(mismatch("a funding rate"));
    };
    let FundingRate {
        funding_rate,
        next_funding_ms,
        interval_hours,
        mark_price,
        index_price,
        timestamp,
        ..
    } = rate;
    Ok(FundingRateResult {
        exchange: &answer.exchange,
        symbol: &answer.symbol,
        funding_rate: *funding_rate,
        next_funding_ms: *next_funding_ms,
        interval_hours: *interval_hours,
        mark_price: *mark_price,
        index_price: *index_price,
        timestamp: *timestamp,
        freshness: Freshness::of(answer),
    })
}

/// `value` as Unix ms, the error naming `argument`.
pub(super) fn millis(argument: &str, value: Option<&Since>) -> Result<Option<i64>, ToolError> {
    value
        .map(|v| {
            v.to_millis().map_err(|e| {
                let message = e.message.replacen("since:", &format!("{argument}:"), 1);
                ToolError::invalid_argument(message)
            })
        })
        .transpose()
}

impl ToolService {
    pub(super) async fn get_funding_rate(
        &self,
        args: FundingRateArgs,
    ) -> Result<serde_json::Value, ToolError> {
        let answer = self
            .engine
            .fetch_named(
                args.exchange.as_deref(),
                &args.symbol,
                DataRequest::FundingRate,
            )
            .await?;
        to_json(&funding_result(&answer)?)
    }

    pub(super) async fn get_funding_history(
        &self,
        args: FundingHistoryArgs,
    ) -> Result<serde_json::Value, ToolError> {
        let limit = FUNDING_HISTORY_LIMIT.check(args.limit)?;
        let since = millis("since", args.since.as_ref())?;
        let until = millis("until", args.until.as_ref())?;
        if let (Some(since), Some(until)) = (since, until) {
            if until < since {
                return Err(ToolError::invalid_argument(format!(
                    "until: {until} is before since ({since})"
                )));
            }
        }
        let answer = self
            .engine
            .fetch_named(
                args.exchange.as_deref(),
                &args.symbol,
                DataRequest::FundingHistory {
                    since,
                    until,
                    limit,
                },
            )
            .await?;
        let MarketData::FundingHistory(rates) = &*answer.data.value else {
            return Err(mismatch("funding history"));
        };
        to_json(&FundingHistoryResult {
            exchange: &answer.exchange,
            symbol: &answer.symbol,
            rates,
            freshness: Freshness::of(&answer),
        })
    }

    pub(super) async fn get_open_interest(
        &self,
        args: FundingRateArgs,
    ) -> Result<serde_json::Value, ToolError> {
        let answer = self
            .engine
            .fetch_named(
                args.exchange.as_deref(),
                &args.symbol,
                DataRequest::OpenInterest,
            )
            .await?;
        let MarketData::OpenInterest(interest) = &*answer.data.value else {
            return Err(mismatch("open interest"));
        };
        let OpenInterest {
            open_interest,
            open_interest_base,
            open_interest_value,
            timestamp,
            ..
        } = interest;
        to_json(&OpenInterestResult {
            exchange: &answer.exchange,
            symbol: &answer.symbol,
            open_interest: *open_interest,
            open_interest_base: *open_interest_base,
            open_interest_value: *open_interest_value,
            timestamp: *timestamp,
            freshness: Freshness::of(&answer),
        })
    }

    pub(super) async fn compare_funding(
        &self,
        args: CompareFundingArgs,
    ) -> Result<serde_json::Value, ToolError> {
        if let Some(list) = &args.exchanges {
            COMPARED_EXCHANGES.check_count(list.len())?;
        }
        let comparison = self
            .engine
            .compare(
                &args.symbol,
                args.exchanges.as_deref(),
                DataRequest::FundingRate,
            )
            .await?;
        to_json(&CompareFundingResult::new(comparison))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crypto_market_actors::model::Served;

    use super::*;

    fn rate(exchange: &str, funding_rate: f64, interval_hours: f64, stale: bool) -> Answer {
        let served = Served {
            value: Arc::new(MarketData::FundingRate(FundingRate {
                symbol: "BTC/USDT:USDT".into(),
                funding_rate: Some(funding_rate),
                interval_hours: Some(interval_hours),
                ..Default::default()
            })),
            source: Source::Exchange,
            fetched_at_ms: 0,
            stale,
            age_ms: 1,
        };
        Answer::new(
            Arc::from(exchange),
            Arc::from("BTC/USDT:USDT"),
            served,
            &DataRequest::FundingRate,
        )
    }

    #[test]
    fn highest_lowest_spread_and_annualized() {
        let result = CompareFundingResult::new(Comparison {
            symbol: Arc::from("BTC/USDT:USDT"),
            quotes: vec![
                rate("binance", 0.0001, 8.0, false),
                rate("okx", 0.0003, 4.0, false),
                rate("bybit", -0.0002, 8.0, false),
                rate("kraken", 0.01, 8.0, true),
            ],
            errors: Vec::new(),
        });
        assert_eq!(
            result.highest,
            Some(VenueExtreme {
                exchange: "okx".into(),
                funding_rate: 0.0003
            })
        );
        assert_eq!(
            result.lowest.as_ref().map(|l| l.exchange.as_str()),
            Some("bybit")
        );
        assert!((result.spread.unwrap() - 0.0005).abs() < 1e-15);
        let okx = &result.rates[1];
        assert!((okx.annualized.unwrap() - 0.0003 * 6.0 * 365.0).abs() < 1e-12);
        let binance = &result.rates[0];
        assert!((binance.annualized.unwrap() - 0.0001 * 3.0 * 365.0).abs() < 1e-12);
    }
}
