//! What one symbol holds: its latest values (ticker, books, candles, trades), each with its
//! origin and the time it was fetched from (or pushed by) the exchange.
//!
//! The symbol's actor is the only writer. Readers (the engine's hit path, on any thread) take
//! the symbol's own small lock just long enough to clone an `Arc`: no global lock, no mailbox
//! hop. A newer value by exchange time always wins over an older one, whatever its origin.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::cache::{Age, CacheCounters, TtlPolicy};
use crate::model::{DataRequest, MarketData, Stamped};

/// Most values one symbol keeps (distinct candle requests could otherwise grow without
/// bound); past it, the one fetched longest ago goes.
const MAX_VALUES_PER_SYMBOL: usize = 32;

#[derive(Debug, Clone)]
pub enum Lookup {
    Fresh(Stamped),
    Stale(Stamped),
    Miss,
}

/// What [`SymbolState::offer`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offered {
    Stored,
    /// The held value is newer by exchange time; it stays.
    KeptNewer,
}

pub struct SymbolState {
    values: Mutex<Vec<(DataRequest, Stamped)>>,
    last_used_ms: AtomicI64,
    counters: Arc<CacheCounters>,
}

impl SymbolState {
    pub fn new(counters: Arc<CacheCounters>, now_ms: i64) -> Self {
        Self {
            values: Mutex::new(Vec::new()),
            last_used_ms: AtomicI64::new(now_ms),
            counters,
        }
    }

    fn values(&self) -> MutexGuard<'_, Vec<(DataRequest, Stamped)>> {
        // Every update is a single push, replace or remove: a panic elsewhere cannot leave
        // the list half-written.
        self.values.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The value held for `upstream` and how fresh it is. Counts a hit or a miss when `count`.
    pub fn lookup(
        &self,
        upstream: &DataRequest,
        policy: &TtlPolicy,
        now_ms: i64,
        count: bool,
    ) -> Lookup {
        let found = self
            .values()
            .iter()
            .find(|(request, _)| request == upstream)
            .map(|(_, stamped)| stamped.clone());
        let lookup = match found {
            // Closed candles never change: fresh for as long as they are kept.
            Some(stamped) if upstream.is_closed_at(stamped.fetched_at_ms) => Lookup::Fresh(stamped),
            Some(stamped) => match policy.age(stamped.fetched_at_ms, now_ms) {
                Age::Fresh => Lookup::Fresh(stamped),
                Age::Stale => Lookup::Stale(stamped),
                Age::Expired => Lookup::Miss,
            },
            None => Lookup::Miss,
        };
        if count {
            match lookup {
                Lookup::Fresh(_) => self.counters.hit(),
                _ => self.counters.miss(),
            }
        }
        lookup
    }

    /// Stores `stamped` for `upstream` unless the held value is newer by exchange time.
    pub fn offer(&self, upstream: DataRequest, stamped: Stamped) -> Offered {
        let mut values = self.values();
        let stamped = completed(&values, stamped);
        if let Some((_, held)) = values.iter_mut().find(|(request, _)| *request == upstream) {
            if stamped.value.is_older_than(&held.value) {
                return Offered::KeptNewer;
            }
            *held = stamped;
            return Offered::Stored;
        }
        if values.len() >= MAX_VALUES_PER_SYMBOL {
            if let Some(oldest) = values
                .iter()
                .enumerate()
                .min_by_key(|(_, (_, s))| s.fetched_at_ms)
                .map(|(i, _)| i)
            {
                values.swap_remove(oldest);
                self.counters.removed(1);
            }
        }
        values.push((upstream, stamped));
        self.counters.added(1);
        Offered::Stored
    }

    /// Drops values past their stale window; returns how many remain.
    pub fn prune(&self, policy: &TtlPolicy, now_ms: i64) -> usize {
        let mut values = self.values();
        let before = values.len();
        values.retain(|(request, s)| {
            request.is_closed_at(s.fetched_at_ms)
                || policy.age(s.fetched_at_ms, now_ms) != Age::Expired
        });
        self.counters.removed(before - values.len());
        values.len()
    }

    /// Drops every value (the symbol is evicted).
    pub fn clear(&self) {
        let mut values = self.values();
        self.counters.removed(values.len());
        values.clear();
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.values().len()
    }

    pub fn touch(&self, now_ms: i64) {
        self.last_used_ms.fetch_max(now_ms, Ordering::Relaxed);
    }

    pub fn last_used_ms(&self) -> i64 {
        self.last_used_ms.load(Ordering::Relaxed)
    }
}

/// `stamped` with what its source leaves out and the symbol already knows: a streamed
/// funding rate (Binance's `@markPrice@1s`) has no interval, a perpetual's streamed ticker
/// no mark or index price (the held funding value has them, refreshed every second).
fn completed(values: &[(DataRequest, Stamped)], stamped: Stamped) -> Stamped {
    let held_funding = || {
        values
            .iter()
            .find_map(|(request, held)| match (request, &*held.value) {
                (DataRequest::FundingRate, MarketData::FundingRate(f)) => Some(f),
                _ => None,
            })
    };
    let value = match &*stamped.value {
        MarketData::FundingRate(f) if f.interval_hours.is_none() => {
            let Some(interval) = held_funding().and_then(|h| h.interval_hours) else {
                return stamped;
            };
            let mut f = f.clone();
            f.interval_hours = Some(interval);
            MarketData::FundingRate(f)
        }
        MarketData::Ticker(t)
            if t.symbol.contains(':') && (t.mark_price.is_none() || t.index_price.is_none()) =>
        {
            let Some(held) = held_funding() else {
                return stamped;
            };
            let mut t = t.clone();
            t.mark_price = t.mark_price.or(held.mark_price);
            t.index_price = t.index_price.or(held.index_price);
            MarketData::Ticker(t)
        }
        _ => return stamped,
    };
    Stamped {
        value: Arc::new(value),
        ..stamped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FundingRate, MarketData, Source, Ticker};
    use std::time::Duration;

    /// A streamed funding rate keeps the interval REST gave; a perpetual's streamed ticker
    /// gets the mark and index the funding value holds.
    #[test]
    fn streamed_values_are_completed_from_what_the_symbol_holds() {
        let state = SymbolState::new(Arc::default(), 0);
        let funding = |ts: i64, hours: Option<f64>, mark: f64| {
            Arc::new(MarketData::FundingRate(FundingRate {
                symbol: "BTC/USDT:USDT".into(),
                funding_rate: Some(0.0001),
                interval_hours: hours,
                mark_price: Some(mark),
                index_price: Some(mark - 1.0),
                timestamp: Some(ts),
                ..Default::default()
            }))
        };
        state.offer(
            DataRequest::FundingRate,
            stamped(funding(1, Some(4.0), 100.0), Source::Exchange, 1),
        );
        state.offer(
            DataRequest::FundingRate,
            stamped(funding(2, None, 101.0), Source::Stream, 2),
        );
        let policy = TtlPolicy::new(Duration::from_secs(10), Duration::from_secs(60));
        let Lookup::Fresh(held) = state.lookup(&DataRequest::FundingRate, &policy, 3, false) else {
            panic!("a fresh funding value")
        };
        let MarketData::FundingRate(f) = &*held.value else {
            panic!("funding")
        };
        assert_eq!((f.interval_hours, f.mark_price), (Some(4.0), Some(101.0)));
        let perp = Arc::new(MarketData::Ticker(Ticker {
            symbol: "BTC/USDT:USDT".into(),
            timestamp: Some(3),
            last: Some(100.5),
            ..Default::default()
        }));
        state.offer(DataRequest::Ticker, stamped(perp, Source::Stream, 3));
        let Lookup::Fresh(held) = state.lookup(&DataRequest::Ticker, &policy, 3, false) else {
            panic!("a fresh ticker")
        };
        let MarketData::Ticker(t) = &*held.value else {
            panic!("ticker")
        };
        assert_eq!((t.mark_price, t.index_price), (Some(101.0), Some(100.0)));
    }

    fn ticker(ts: i64, last: f64) -> Arc<MarketData> {
        Arc::new(MarketData::Ticker(Ticker {
            timestamp: Some(ts),
            last: Some(last),
            ..Default::default()
        }))
    }

    fn stamped(value: Arc<MarketData>, origin: Source, fetched_at_ms: i64) -> Stamped {
        Stamped {
            value,
            origin,
            fetched_at_ms,
        }
    }

    #[test]
    fn newer_by_exchange_time_wins_whatever_the_origin() {
        let counters = Arc::new(CacheCounters::default());
        let state = SymbolState::new(counters.clone(), 0);
        let policy = TtlPolicy::new(Duration::from_secs(10), Duration::from_secs(60));
        assert_eq!(
            state.offer(
                DataRequest::Ticker,
                stamped(ticker(2_000, 2.0), Source::Stream, 2_000)
            ),
            Offered::Stored
        );
        // An older value arriving later (another node's REST fetch through Redis) loses.
        assert_eq!(
            state.offer(
                DataRequest::Ticker,
                stamped(ticker(1_000, 1.0), Source::Redis, 3_000)
            ),
            Offered::KeptNewer
        );
        let Lookup::Fresh(held) = state.lookup(&DataRequest::Ticker, &policy, 3_000, true) else {
            panic!("fresh")
        };
        assert_eq!(held.origin, Source::Stream);
        assert_eq!(held.served(false, 3_000).source, Source::Stream);
        // A newer one from REST replaces it.
        state.offer(
            DataRequest::Ticker,
            stamped(ticker(3_000, 3.0), Source::Exchange, 3_500),
        );
        let Lookup::Fresh(held) = state.lookup(&DataRequest::Ticker, &policy, 3_600, true) else {
            panic!("fresh")
        };
        assert_eq!(held.served(false, 3_600).source, Source::Cache);
        assert_eq!(held.served(false, 3_600).age_ms, 100);
        assert_eq!(held.served_fresh(3_500).source, Source::Exchange);
        assert_eq!(counters.stats(10).entries, 1);
        assert_eq!((counters.stats(10).hits, counters.stats(10).misses), (2, 0));
    }

    #[test]
    fn values_age_into_stale_then_out_and_are_counted() {
        let counters = Arc::new(CacheCounters::default());
        let state = SymbolState::new(counters.clone(), 0);
        let policy = TtlPolicy::new(Duration::from_secs(10), Duration::from_secs(60));
        state.offer(
            DataRequest::Ticker,
            stamped(ticker(0, 1.0), Source::Exchange, 0),
        );
        assert!(matches!(
            state.lookup(&DataRequest::Ticker, &policy, 20_000, true),
            Lookup::Stale(_)
        ));
        assert!(matches!(
            state.lookup(&DataRequest::Ticker, &policy, 61_000, true),
            Lookup::Miss
        ));
        assert_eq!(state.prune(&policy, 61_000), 0);
        assert_eq!(counters.stats(10).entries, 0);
        assert_eq!(counters.stats(10).misses, 2);
    }

    #[test]
    fn one_symbol_keeps_a_bounded_number_of_values() {
        let counters = Arc::new(CacheCounters::default());
        let state = SymbolState::new(counters.clone(), 0);
        for limit in 0..(MAX_VALUES_PER_SYMBOL as u32 + 10) {
            state.offer(
                DataRequest::OrderBook { limit },
                stamped(ticker(0, 1.0), Source::Exchange, i64::from(limit)),
            );
        }
        assert_eq!(state.len(), MAX_VALUES_PER_SYMBOL);
        assert_eq!(counters.entries(), MAX_VALUES_PER_SYMBOL);
        state.clear();
        assert_eq!(counters.entries(), 0);
    }
}
