use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

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
}

impl<T> Served<T> {
    /// Milliseconds since the value was fetched, measured now.
    pub fn age_ms(&self) -> i64 {
        (now_ms() - self.fetched_at_ms).max(0)
    }
}

/// Unix time in ms. A clock before 1970 reads as 0 rather than failing a request.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
