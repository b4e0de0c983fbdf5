//! One exchange's shared view: its loaded markets, the symbols it rejected, the suggestions
//! already computed for unknown input, and its live symbols.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use lru::LruCache;

use super::entry::SymbolEntry;
use crate::error::EngineError;
use crate::model::{names_derivative, Market, MarketIndex, PairMeans, Unlisted};
use crate::venue::Exchange;

/// Unknown inputs whose suggestions are remembered, per exchange.
const SUGGESTION_CACHE: usize = 4096;
/// How long a symbol the exchange rejected (though its market list had it) is answered
/// `invalid_symbol` without asking the exchange again. The early markets reload it triggers
/// usually settles the question sooner.
pub const REJECTED_FOR: Duration = Duration::from_secs(600);

/// An exchange's markets, loaded once and shared.
#[derive(Debug, Clone)]
pub struct MarketsAnswer {
    pub exchange: Arc<str>,
    pub index: Arc<MarketIndex>,
    pub fetched_at_ms: i64,
    /// The derivative markets are in `index` (they load on first use, SPEC.md 4.1).
    pub with_derivatives: bool,
}

/// One exchange's shared view.
pub struct VenueDirectory {
    pub id: Arc<str>,
    pub venue: Arc<dyn Exchange>,
    markets: RwLock<Option<MarketsAnswer>>,
    symbols: RwLock<HashMap<Arc<str>, Arc<SymbolEntry>>>,
    /// Unified symbol → until when (Unix ms) it counts as rejected.
    rejected: Mutex<HashMap<Arc<str>, i64>>,
    /// Whether `rejected` has anything, so the hit path skips its lock almost always.
    any_rejected: AtomicBool,
    /// Unknown input (compact, and which type it wanted) → its suggestions.
    suggestions: Mutex<LruCache<Unlisted, Vec<String>>>,
}

/// A resolved symbol and its live entry, if it has one.
pub struct Resolved {
    pub symbol: Arc<str>,
    /// The exchange's id of the market.
    pub market_id: Arc<str>,
    pub entry: Option<Arc<SymbolEntry>>,
}

impl VenueDirectory {
    pub(super) fn new(id: Arc<str>, venue: Arc<dyn Exchange>) -> Self {
        Self {
            id,
            venue,
            markets: RwLock::new(None),
            symbols: RwLock::new(HashMap::new()),
            rejected: Mutex::new(HashMap::new()),
            any_rejected: AtomicBool::new(false),
            suggestions: Mutex::new(LruCache::new(
                NonZeroUsize::new(SUGGESTION_CACHE).unwrap_or(NonZeroUsize::MIN),
            )),
        }
    }

    pub fn markets(&self) -> Option<MarketsAnswer> {
        self.markets
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// New markets: suggestions computed against the old list are forgotten, and so are
    /// rejections of symbols the new list no longer has (they resolve as unlisted now).
    pub fn set_markets(&self, answer: MarketsAnswer) {
        {
            let mut rejected = self.rejected.lock().unwrap_or_else(|p| p.into_inner());
            rejected.retain(|symbol, _| answer.index.find(symbol).is_ok());
            self.any_rejected
                .store(!rejected.is_empty(), Ordering::Relaxed);
        }
        self.suggestions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        *self.markets.write().unwrap_or_else(|p| p.into_inner()) = Some(answer);
    }

    /// Resolves `input` for a tool of section 4 (a bare pair is spot); see
    /// [`Self::resolve_for`].
    pub fn resolve(&self, input: &str, now_ms: i64) -> Result<Option<Resolved>, EngineError> {
        self.resolve_for(input, PairMeans::Spot, now_ms)
    }

    /// Whether resolving `input` (a bare pair meaning `means`) waits for the derivative
    /// markets: it names a derivative and they are not loaded yet.
    pub fn needs_derivatives(&self, input: &str, means: PairMeans) -> bool {
        let means = self.effective(means);
        self.venue.has_derivatives()
            && names_derivative(input, means)
            && !self.markets().is_some_and(|m| m.with_derivatives)
    }

    /// Resolves `input` to a listed market the exchange has not rejected; `Ok(None)` while
    /// the markets it needs (spot, or the derivatives a derivative spelling or tool needs)
    /// are not loaded yet. A derivative tool on a venue without derivatives is `unsupported`.
    pub fn resolve_for(
        &self,
        input: &str,
        means: PairMeans,
        now_ms: i64,
    ) -> Result<Option<Resolved>, EngineError> {
        let means = self.effective(means);
        if means == PairMeans::Perpetual && !self.venue.has_derivatives() {
            return Err(EngineError::Unsupported(format!(
                "{} has no derivatives here (perpetual swaps are served on binance, okx and \
                 bybit, for the types MARKET_TYPES names)",
                self.id
            )));
        }
        let Some(markets) = self.markets() else {
            return Ok(None);
        };
        if !markets.with_derivatives
            && self.venue.has_derivatives()
            && names_derivative(input, means)
        {
            return Ok(None);
        }
        self.resolve_in(&markets.index, input, means, now_ms)
            .map(Some)
    }

    /// What a bare pair means here: without spot markets (`MARKET_TYPES` leaving spot out),
    /// the perpetual for every tool.
    fn effective(&self, means: PairMeans) -> PairMeans {
        if self.venue.has_derivatives() && !self.venue.has_spot() {
            PairMeans::Perpetual
        } else {
            means
        }
    }

    pub fn resolve_in(
        &self,
        index: &MarketIndex,
        input: &str,
        means: PairMeans,
        now_ms: i64,
    ) -> Result<Resolved, EngineError> {
        match index.find_for(input, means) {
            Ok(market) => {
                if self.is_rejected(&market.symbol, now_ms) {
                    return Err(self.invalid(market.symbol.clone(), Vec::new()));
                }
                Ok(self.resolved(market))
            }
            Err(None) => Err(self.invalid(input.trim().to_owned(), Vec::new())),
            Err(Some(key)) => {
                let suggestions = self.suggestions_for(index, key);
                Err(self.invalid(input.trim().to_owned(), suggestions))
            }
        }
    }

    /// The market's live entry if it has one (its symbol `Arc` shared, no allocation per hit).
    fn resolved(&self, market: &Market) -> Resolved {
        match self.symbol(&market.symbol) {
            Some(entry) => Resolved {
                symbol: entry.symbol.clone(),
                market_id: entry.market_id.clone(),
                entry: Some(entry),
            },
            None => Resolved {
                symbol: Arc::from(market.symbol.as_str()),
                market_id: Arc::from(market.id.as_str()),
                entry: None,
            },
        }
    }

    fn invalid(&self, symbol: String, suggestions: Vec<String>) -> EngineError {
        EngineError::InvalidSymbol {
            exchange: self.id.to_string(),
            symbol,
            suggestions,
        }
    }

    fn suggestions_for(&self, index: &MarketIndex, key: Unlisted) -> Vec<String> {
        let mut cache = self.suggestions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(cached) = cache.get(&key) {
            return cached.clone();
        }
        drop(cache);
        // Computed outside the lock: it is the expensive part, and bounded by the index.
        let suggestions = index.suggest_for(&key);
        self.suggestions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .put(key, suggestions.clone());
        suggestions
    }

    pub fn reject(&self, symbol: Arc<str>, until_ms: i64) {
        self.rejected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(symbol, until_ms);
        self.any_rejected.store(true, Ordering::Relaxed);
    }

    fn is_rejected(&self, symbol: &str, now_ms: i64) -> bool {
        self.any_rejected.load(Ordering::Relaxed)
            && self
                .rejected
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(symbol)
                .is_some_and(|until| *until > now_ms)
    }

    pub fn symbol(&self, symbol: &str) -> Option<Arc<SymbolEntry>> {
        self.symbols
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(symbol)
            .cloned()
    }

    pub fn insert_symbol(&self, entry: Arc<SymbolEntry>) {
        self.symbols
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(entry.symbol.clone(), entry);
    }

    pub fn remove_symbol(&self, symbol: &str) -> Option<Arc<SymbolEntry>> {
        self.symbols
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(symbol)
    }
}
