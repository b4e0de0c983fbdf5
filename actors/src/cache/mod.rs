//! Freshness and bounds of the in-memory market data.
//!
//! Values live in their symbol's state (`directory::SymbolState`, on the read side), written
//! by that symbol's actor. This module says how long a value is fresh ([`TtlPolicy`]), bounds how many
//! values the process keeps ([`SymbolLru`]: least recently used symbols go first, `lru` crate),
//! and counts hits and misses.

mod bound;
mod budget;
mod lease;
mod policy;
mod remote;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

pub use bound::SymbolLru;
pub use policy::{Age, TtlPolicy};
pub use remote::{Claim, RemoteCache};

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

/// Process-wide counters, shared by every symbol's state: lock-free, so counting never
/// serialises the hit path. Exported as metrics when scraped (the front end reads `stats`).
#[derive(Debug, Default)]
pub struct CacheCounters {
    hits: AtomicU64,
    misses: AtomicU64,
    /// Values held across all symbols; bounded by the capacity through [`SymbolLru`].
    entries: AtomicUsize,
}

impl CacheCounters {
    pub fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    pub fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    pub fn added(&self, n: usize) {
        self.entries.fetch_add(n, Ordering::Relaxed);
    }

    pub fn removed(&self, n: usize) {
        // Saturating: a miscount must never wrap into "everything is over capacity".
        let _ = self
            .entries
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |e| {
                Some(e.saturating_sub(n))
            });
    }

    pub fn entries(&self) -> usize {
        self.entries.load(Ordering::Relaxed)
    }

    pub fn stats(&self, capacity: usize) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.entries(),
            capacity,
        }
    }
}
