//! One side of a venue: its spot markets, or its derivative markets (SPEC.md 4.1). Each side
//! has its own ccxt instances (made with that side's market tables, so a spot-only user never
//! makes ccxt load futures), its own ticker batcher and its own request-weight budget where
//! the exchange counts them apart (Binance's USDⓈ-M `fapi` weights are not its spot weights).

use std::sync::{Arc, RwLock};

use ccxt::Value;

use super::batch::Batcher;
use super::instance::{self, Instance, InstanceFactory};
use super::pool::{InstancePool, Pooled};
use super::weights::Weights;
use crate::model::{Market, MarketType, Ticker};
use crate::venue::{VenueError, WeightBudget};

pub(super) struct Side {
    /// How to make an instance; holds the side's loaded markets once there are some.
    factory: RwLock<InstanceFactory>,
    pub pool: Arc<InstancePool<Instance>>,
    pub budget: Arc<WeightBudget>,
    pub tickers: Batcher<Ticker>,
    pub weights: Weights,
    /// ccxt's `options.fetchMarkets.types` of this side; empty: nothing to load.
    pub ccxt_types: Vec<&'static str>,
}

impl Side {
    pub fn new(
        factory: InstanceFactory,
        pool_size: usize,
        budget: Arc<WeightBudget>,
        weights: Weights,
        batch_window: std::time::Duration,
        ccxt_types: Vec<&'static str>,
    ) -> Self {
        Self {
            factory: RwLock::new(factory),
            pool: Arc::new(InstancePool::new(pool_size)),
            budget,
            tickers: Batcher::new(weights.ticker_batch, pool_size, batch_window),
            weights,
            ccxt_types,
        }
    }

    pub fn factory(&self) -> InstanceFactory {
        match self.factory.read() {
            Ok(factory) => factory.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Borrows an instance of the side's current markets (made on a blocking thread if none is
    /// idle).
    pub async fn instance(&self) -> Result<Pooled<'_, Instance>, VenueError> {
        // Generation first, then the factory: see `InstancePool::generation`.
        let generation = self.pool.generation();
        let factory = self.factory();
        self.pool
            .acquire(generation, move || factory.make())
            .await
            .map_err(VenueError::Other)
    }

    /// Every later instance gets `tables`; instances of the old markets go, new ones are made
    /// as load needs them. Returns the factory and generation to warm the pool with.
    pub fn install(&self, tables: Value) -> (InstanceFactory, u64) {
        let factory = self.factory().with_markets(tables);
        if let Ok(mut current) = self.factory.write() {
            *current = factory.clone();
        }
        (factory, self.pool.advance_generation())
    }
}

/// ccxt's `fetchMarkets` types for the derivative `types` on exchange `id`: Binance USDⓈ-M
/// (`linear`, perpetuals and quarterlies alike), OKX `swap`/`future`, Bybit `linear`; none
/// where this build serves no derivatives of the venue.
pub(super) fn derivative_ccxt_types(id: &str, types: &[MarketType]) -> Vec<&'static str> {
    let wants = |t: MarketType| types.contains(&t);
    let contracts = wants(MarketType::Swap) || wants(MarketType::Future);
    let mut out = Vec::new();
    match id {
        "binance" | "bybit" if contracts => out.push("linear"),
        "okx" => {
            if wants(MarketType::Swap) {
                out.push("swap");
            }
            if wants(MarketType::Future) {
                out.push("future");
            }
        }
        _ => {}
    }
    out
}

/// `config` with ccxt told to load only `types`.
pub(super) fn with_market_types(config: &serde_json::Value, types: &[&str]) -> Value {
    let mut config = config.clone();
    config["options"] = serde_json::json!({ "fetchMarkets": { "types": types } });
    Value::from(config)
}

/// The tables instances of a side are made with: spot's without each market's raw `info`
/// (nothing we call on spot reads it, and it is a third of the memory), derivatives' with it
/// (ccxt reads it for funding intervals, contract pairs and index candles).
pub(super) fn tables_for(tables: &Value, derivative: bool) -> Value {
    if derivative {
        tables.clone()
    } else {
        instance::without_info(tables)
    }
}

impl super::CcxtExchange {
    /// Loads one side's markets through ccxt and hands their tables to the side's later
    /// instances.
    pub(super) async fn load_side(&self, derivative: bool) -> Result<Vec<Market>, VenueError> {
        let side = if derivative {
            &self.derivatives
        } else {
            &self.spot
        };
        if side.ccxt_types.is_empty() {
            return Ok(Vec::new());
        }
        let loaded = self
            .call(side, "markets", side.weights.markets, async {
                let mut ex = side.instance().await?;
                let reply = ex.call_raw("load_markets", vec![Value::Bool(true)]).await;
                reply.map_err(|e| super::failure(&ex, e))?;
                Ok((ex.markets(), ex.market_tables()))
            })
            .await?;
        let (loaded, tables) = loaded;
        // An empty spot list is a broken endpoint; a venue may well list no derivatives.
        if loaded.is_empty() && !derivative {
            return Err(VenueError::Malformed(
                "the exchange listed no markets".to_owned(),
            ));
        }
        // Held by the factory for every later instance; the loading instance is dropped when
        // it comes back to the pool, being of the old generation.
        let (factory, generation) = side.install(tables_for(&tables, derivative));
        let pool = side.pool.clone();
        // One fresh instance is made ahead of the next call, more only when load needs them.
        tokio::spawn(async move {
            pool.warm(generation, super::INSTANCES_KEPT_IDLE, move || {
                factory.make()
            })
            .await;
            // Loading markets allocates several times what it keeps (the reply's text, its
            // JSON tree, ccxt's parse): hand the freed pages back.
            crate::memory::release_free_memory().await;
        });
        self.start_idle_trimming();
        let types = &self.market_types;
        Ok(loaded
            .iter()
            .filter_map(super::convert::market)
            .filter(|m| m.kind().is_some_and(|kind| types.contains(&kind)))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivative_types_per_venue() {
        let default = [MarketType::Spot, MarketType::Swap];
        assert_eq!(derivative_ccxt_types("binance", &default), vec!["linear"]);
        assert_eq!(derivative_ccxt_types("bybit", &default), vec!["linear"]);
        assert_eq!(derivative_ccxt_types("okx", &default), vec!["swap"]);
        assert_eq!(
            derivative_ccxt_types("okx", &[MarketType::Swap, MarketType::Future]),
            vec!["swap", "future"]
        );
        assert!(derivative_ccxt_types("kraken", &default).is_empty());
        assert!(derivative_ccxt_types("binance", &[MarketType::Spot]).is_empty());
    }
}
