//! The in-memory market-data cache: TTL freshness on top of LRU eviction (`lru` crate), safe to
//! share between actors and threads, with hit/miss counters.
//!
//! An entry past its TTL is not dropped at once: it stays (until evicted, or its stale window
//! ends) so it can be served `stale: true` when the exchange fails or rate-limits us.

mod key;

use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lru::LruCache;

use crate::model::now_ms;
pub use key::CacheKey;

/// The shared cache of fetched market data.
pub type MarketCache = TtlLru<CacheKey, std::sync::Arc<crate::model::MarketData>>;

#[derive(Debug, Clone)]
pub struct Entry<V> {
    pub value: V,
    /// Unix ms when the value was fetched from (or pushed by) the exchange.
    pub fetched_at_ms: i64,
    expires: Instant,
    stale_until: Instant,
}

#[derive(Debug, Clone)]
pub enum Lookup<V> {
    Fresh(Entry<V>),
    /// Past its TTL but within the stale window: only to be served when the exchange fails.
    Stale(Entry<V>),
    Miss,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub entries: usize,
    pub capacity: usize,
}

impl CacheStats {
    pub fn hit_rate(&self) -> f64 {
        let total = self.hits + self.misses;
        if total == 0 {
            0.0
        } else {
            self.hits as f64 / total as f64
        }
    }
}

pub struct TtlLru<K: Hash + Eq, V> {
    entries: Mutex<LruCache<K, Entry<V>>>,
    ttl: Duration,
    stale_ttl: Duration,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl<K: Hash + Eq, V: Clone> TtlLru<K, V> {
    /// `ttl`: how long a value is fresh; `stale_ttl` (≥ ttl): how long it may still be served
    /// stale when the exchange cannot give a fresh one.
    pub fn new(capacity: NonZeroUsize, ttl: Duration, stale_ttl: Duration) -> Self {
        Self {
            entries: Mutex::new(LruCache::new(capacity)),
            ttl,
            stale_ttl: stale_ttl.max(ttl),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Looks `key` up and counts a hit (fresh) or a miss (stale or absent).
    pub fn lookup(&self, key: &K) -> Lookup<V> {
        let found = self.peek(key);
        let counter = if matches!(found, Lookup::Fresh(_)) {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Like [`Self::lookup`] without counting, for the second look after a failed fetch.
    pub fn peek(&self, key: &K) -> Lookup<V> {
        let now = Instant::now();
        // A poisoned lock only means another thread panicked mid-update of an LRU list of
        // plain values; the data is still consistent enough to keep serving.
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let Some(entry) = entries.get(key) else {
            return Lookup::Miss;
        };
        if now < entry.expires {
            Lookup::Fresh(entry.clone())
        } else if now < entry.stale_until {
            Lookup::Stale(entry.clone())
        } else {
            entries.pop(key);
            Lookup::Miss
        }
    }

    /// Stores a value fetched at `fetched_at_ms`; its TTL counts from then, not from now.
    pub fn insert(&self, key: K, value: V, fetched_at_ms: i64) {
        let age = Duration::from_millis((now_ms() - fetched_at_ms).max(0) as u64);
        let now = Instant::now();
        let entry = Entry {
            value,
            fetched_at_ms,
            expires: now + self.ttl.saturating_sub(age),
            stale_until: now + self.stale_ttl.saturating_sub(age),
        };
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .put(key, entry);
    }

    pub fn stats(&self) -> CacheStats {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: entries.len(),
            capacity: entries.cap().get(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(capacity: usize, ttl_ms: u64, stale_ms: u64) -> TtlLru<&'static str, u32> {
        TtlLru::new(
            NonZeroUsize::new(capacity).unwrap(),
            Duration::from_millis(ttl_ms),
            Duration::from_millis(stale_ms),
        )
    }

    #[test]
    fn fresh_then_stale_then_gone() {
        // Wide margins: a loaded CI machine may oversleep by tens of milliseconds.
        let c = cache(4, 100, 500);
        c.insert("a", 1, now_ms());
        assert!(matches!(
            c.lookup(&"a"),
            Lookup::Fresh(Entry { value: 1, .. })
        ));
        std::thread::sleep(Duration::from_millis(200));
        assert!(matches!(
            c.lookup(&"a"),
            Lookup::Stale(Entry { value: 1, .. })
        ));
        std::thread::sleep(Duration::from_millis(400));
        assert!(matches!(c.lookup(&"a"), Lookup::Miss));
        let stats = c.stats();
        assert_eq!((stats.hits, stats.misses, stats.entries), (1, 2, 0));
    }

    #[test]
    fn ttl_counts_from_fetch_time() {
        let c = cache(4, 1000, 5000);
        c.insert("old", 1, now_ms() - 2000);
        assert!(matches!(c.lookup(&"old"), Lookup::Stale(_)));
    }

    #[test]
    fn least_recently_used_is_evicted_at_capacity() {
        let c = cache(2, 10_000, 10_000);
        c.insert("a", 1, now_ms());
        c.insert("b", 2, now_ms());
        assert!(matches!(c.lookup(&"a"), Lookup::Fresh(_))); // "b" is now least recent
        c.insert("c", 3, now_ms());
        assert!(matches!(c.lookup(&"b"), Lookup::Miss));
        assert!(matches!(c.lookup(&"a"), Lookup::Fresh(_)));
        assert_eq!(c.stats().entries, 2);
        assert!((c.stats().hit_rate() - 2.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn shared_between_threads() {
        let c = std::sync::Arc::new(cache(1024, 10_000, 10_000));
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for i in 0..100u32 {
                        let key: &'static str = Box::leak(format!("{t}-{i}").into_boxed_str());
                        c.insert(key, i, now_ms());
                        assert!(matches!(c.lookup(&key), Lookup::Fresh(Entry { value, .. }) if value == i));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(c.stats().entries, 400);
        assert_eq!(c.stats().hits, 400);
    }
}
