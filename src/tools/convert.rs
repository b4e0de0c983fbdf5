//! `convert` (SPEC.md section 4.2): an amount of one asset in another at mid prices, through a
//! direct spot market or one intermediate (USDT, USDC, USD, BTC, ETH, EUR). The path is
//! [`crypto_market_actors::model::conversion`]; each leg's price is its ticker (cached like any
//! ticker), the mid of its bid and ask, else its last price.

use crypto_market_actors::model::conversion::{self, Leg, INTERMEDIATES};
use crypto_market_actors::model::{DataRequest, MarketData, Source};
use crypto_market_actors::{Answer, ErrorCode};
use futures::future::try_join_all;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{mismatch, to_json, ToolError, ToolService};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConvertArgs {
    /// How much of `from` to convert.
    pub amount: f64,
    /// Asset held, e.g. ETH.
    pub from: String,
    /// Asset wanted, e.g. BTC.
    pub to: String,
    /// Exchange id whose markets and prices are used (default: the server's default exchange).
    #[serde(default)]
    pub exchange: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ConvertResult {
    pub exchange: String,
    pub amount: f64,
    pub from: String,
    pub to: String,
    /// amount × rate.
    pub result: f64,
    /// Units of `to` per unit of `from`.
    pub rate: f64,
    /// The markets gone through, in order, e.g. ["SOL/USDT", "BTC/USDT"].
    pub path: Vec<String>,
    /// Of the oldest price used: exchange | cache | redis | stream.
    pub source: Source,
    /// Age of the oldest price used, ms.
    pub age_ms: i64,
}

/// A ticker's mid price: (bid + ask) / 2, else its last price.
fn mid(answer: &Answer) -> Result<f64, ToolError> {
    let MarketData::Ticker(t) = &*answer.data.value else {
        return Err(mismatch("a ticker"));
    };
    let positive = |v: Option<f64>| v.filter(|p| p.is_finite() && *p > 0.0);
    match (positive(t.bid), positive(t.ask)) {
        (Some(bid), Some(ask)) => Ok((bid + ask) / 2.0),
        _ => positive(t.last).ok_or_else(|| {
            ToolError::new(
                ErrorCode::ExchangeUnavailable,
                format!("{} has no price on {} now", answer.symbol, answer.exchange),
            )
        }),
    }
}

impl ToolService {
    pub(super) async fn convert(&self, args: ConvertArgs) -> Result<serde_json::Value, ToolError> {
        if !(args.amount.is_finite() && args.amount > 0.0) {
            return Err(ToolError::invalid_argument(format!(
                "amount: {} must be a positive number",
                args.amount
            )));
        }
        let from = args.from.trim().to_ascii_uppercase();
        let to = args.to.trim().to_ascii_uppercase();
        if from == to {
            return Err(ToolError::invalid_argument(format!(
                "from, to: both are {from}; name two different assets"
            )));
        }
        let exchange = self.engine.exchange(args.exchange.as_deref())?;
        let markets = self.engine.markets(exchange, false).await?;
        let listed = markets.index.markets();
        let assets = conversion::assets(listed);
        for (argument, asset) in [("from", &from), ("to", &to)] {
            if !assets.contains(asset) {
                let suggestions = conversion::suggest_assets(&assets, asset);
                let also = match suggestions.first() {
                    Some(closest) => {
                        format!("; closest: {}", suggestions.join(", "))
                            + &format!(" (call again with {argument}={closest})")
                    }
                    None => String::new(),
                };
                return Err(ToolError::new(
                    ErrorCode::InvalidSymbol,
                    format!("{argument}: {asset} is not traded on {}{also}", exchange.id),
                )
                .with_hint(format!(
                    "call list_markets with exchange={} and query={asset} to see what is traded",
                    exchange.id
                )));
            }
        }
        let Some(path) = conversion::route(listed, &from, &to) else {
            return Err(ToolError::new(
                ErrorCode::InvalidSymbol,
                format!(
                    "no market on {} turns {from} into {to}, directly or through one of {}",
                    exchange.id,
                    INTERMEDIATES.join(", ")
                ),
            ));
        };
        let prices = try_join_all(path.iter().map(|leg: &Leg| async move {
            let answer = self
                .engine
                .fetch(exchange, &leg.symbol, DataRequest::Ticker)
                .await?;
            let price = mid(&answer)?;
            Ok::<_, ToolError>((leg.rate(price), answer))
        }))
        .await?;
        let rate: f64 = prices.iter().map(|(rate, _)| rate).product();
        let oldest = prices.iter().map(|(_, a)| a).max_by_key(|a| a.data.age_ms);
        to_json(&ConvertResult {
            exchange: exchange.id.to_string(),
            amount: args.amount,
            from,
            to,
            result: args.amount * rate,
            rate,
            path: path.into_iter().map(|leg| leg.symbol).collect(),
            source: oldest.map_or(Source::Cache, |a| a.data.source),
            age_ms: oldest.map_or(0, |a| a.data.age_ms),
        })
    }
}
