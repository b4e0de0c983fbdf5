//! `top_movers` (SPEC.md section 4.2): a venue's biggest gainers, losers or volumes from ONE
//! all-tickers exchange call (cached for the TTL by the engine); the ranking is
//! [`crypto_market_actors::model::movers`].

use crypto_market_actors::model::movers::{self, MoversBy, MoversFilter};
use crypto_market_actors::model::Ticker;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::args::Bound;
use super::output::Freshness;
use super::{to_json, ToolError, ToolService};

/// `top_movers`: markets to return.
pub const MOVERS_LIMIT: Bound = Bound {
    name: "limit",
    what: "Markets to return",
    min: 1,
    max: 100,
    default: Some(10),
};

fn movers_limit_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    MOVERS_LIMIT.schema()
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TopMoversArgs {
    /// Exchange id (default: the server's default exchange).
    #[serde(default)]
    pub exchange: Option<String>,
    /// Quote currency of the markets ranked (default USDT).
    #[serde(default)]
    pub quote: Option<String>,
    /// gainers (default: highest 24h change first), losers (lowest first) or volume (highest
    /// 24h quote volume first).
    #[serde(default)]
    pub by: Option<String>,
    #[serde(default)]
    #[schemars(schema_with = "movers_limit_schema")]
    pub limit: Option<u32>,
    /// Least 24h quote volume a market needs to be ranked (default 0: any).
    #[serde(default)]
    pub min_quote_volume: Option<f64>,
}

/// One ranked market.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Mover {
    pub symbol: String,
    pub last: Option<f64>,
    /// 24h change, percent.
    pub percentage: Option<f64>,
    /// 24h volume in the quote currency.
    pub quote_volume: Option<f64>,
}

impl Mover {
    fn of(ticker: &Ticker) -> Self {
        Self {
            symbol: ticker.symbol.clone(),
            last: ticker.last,
            percentage: ticker.percentage,
            quote_volume: movers::quote_volume(ticker),
        }
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct TopMoversResult {
    pub exchange: String,
    /// gainers | losers | volume
    pub by: &'static str,
    pub quote: String,
    pub markets: Vec<Mover>,
    #[serde(flatten)]
    pub freshness: Freshness,
}

impl ToolService {
    pub(super) async fn top_movers(
        &self,
        args: TopMoversArgs,
    ) -> Result<serde_json::Value, ToolError> {
        let exchange = self.engine.exchange(args.exchange.as_deref())?;
        let by = match args.by.as_deref() {
            None => MoversBy::Gainers,
            Some(text) => MoversBy::parse(text).ok_or_else(|| {
                ToolError::invalid_argument(format!(
                    "by: {text:?} is not gainers, losers or volume"
                ))
            })?,
        };
        let limit = MOVERS_LIMIT.check(args.limit)? as usize;
        let min_quote_volume = args.min_quote_volume.unwrap_or(0.0);
        if !(min_quote_volume.is_finite() && min_quote_volume >= 0.0) {
            return Err(ToolError::invalid_argument(format!(
                "min_quote_volume: {min_quote_volume} must be 0 or more"
            )));
        }
        let quote = args
            .quote
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .unwrap_or("USDT")
            .to_ascii_uppercase();
        let served = self.engine.all_tickers(exchange).await?;
        let filter = MoversFilter {
            quote: &quote,
            min_quote_volume,
            limit,
        };
        let markets = movers::rank(&served.value, by, &filter)
            .into_iter()
            .map(Mover::of)
            .collect();
        to_json(&TopMoversResult {
            exchange: exchange.id.to_string(),
            by: by.as_str(),
            quote,
            markets,
            freshness: Freshness::from(&served),
        })
    }
}
