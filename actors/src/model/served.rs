//! Values as served: where they came from, when, and how fresh; the clock that ages them.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::MarketData;

/// Where a served value came from (SPEC.md section 4, `source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Exchange,
    Cache,
    Redis,
    Stream,
}

/// A value with its freshness: when it was fetched from (or pushed by) the exchange, and
/// whether it is served past its TTL because the exchange could not give a fresh one.
#[derive(Debug, Clone, PartialEq)]
pub struct Served<T> {
    pub value: Arc<T>,
    pub source: Source,
    /// Unix ms when the value was fetched or received.
    pub fetched_at_ms: i64,
    pub stale: bool,
    /// Milliseconds since it was fetched, when it was served (by the engine's clock).
    pub age_ms: i64,
}

/// One value with where and when it came from.
#[derive(Debug, Clone)]
pub struct Stamped {
    pub value: Arc<MarketData>,
    /// `Exchange` (a REST call of this process), `Redis` (another node's), `Stream` (a feed).
    pub origin: Source,
    /// Unix ms when it was fetched from (or pushed by) the exchange; ages count from here.
    pub fetched_at_ms: i64,
}

impl Stamped {
    /// As served from the symbol's state: a value this process fetched is now a cache hit.
    pub fn served(&self, stale: bool, now_ms: i64) -> Served<MarketData> {
        Served {
            age_ms: now_ms.saturating_sub(self.fetched_at_ms).max(0),
            value: self.value.clone(),
            source: match self.origin {
                Source::Exchange | Source::Cache => Source::Cache,
                other => other,
            },
            fetched_at_ms: self.fetched_at_ms,
            stale,
        }
    }

    /// As served to the callers whose request fetched it.
    pub fn served_fresh(&self, now_ms: i64) -> Served<MarketData> {
        Served {
            age_ms: now_ms.saturating_sub(self.fetched_at_ms).max(0),
            value: self.value.clone(),
            source: self.origin,
            fetched_at_ms: self.fetched_at_ms,
            stale: false,
        }
    }
}

/// The engine's clock: Unix ms, plus an offset tests can advance instead of sleeping. Every
/// freshness decision (TTL, stale window, idle actors, rejected symbols) reads it.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    pub fn now_ms(&self) -> i64 {
        now_ms().saturating_add(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Moves this clock (and every clone of it) forward.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

/// Unix time in ms. A clock before 1970 reads as 0 rather than failing a request.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
