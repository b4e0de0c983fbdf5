//! Every spot ticker of one venue in one exchange call (`top_movers`), kept for the cache TTL
//! and served stale within the stale TTL when the exchange fails, like any value. One call at a
//! time per venue: callers arriving while it is in flight wait for it (single flight), since
//! the call is the venue's most expensive (Binance: weight 80).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::cache::Age;
use crate::error::EngineError;
use crate::model::{Served, Source, Ticker};

use super::{Engine, ExchangeInfo};

/// One venue's last reply, behind the lock its callers take in turn (the single flight).
type Slot = Arc<tokio::sync::Mutex<Option<Held>>>;

/// Each venue's last all-tickers reply.
#[derive(Default)]
pub(crate) struct AllTickersCache {
    venues: Mutex<HashMap<Arc<str>, Slot>>,
}

struct Held {
    tickers: Arc<Vec<Ticker>>,
    fetched_at_ms: i64,
}

impl AllTickersCache {
    fn slot(&self, exchange: &Arc<str>) -> Slot {
        // A poisoned lock only means another caller panicked mid-insert: the map is intact.
        let mut venues = self.venues.lock().unwrap_or_else(|p| p.into_inner());
        venues.entry(exchange.clone()).or_default().clone()
    }
}

impl Engine {
    /// Every spot ticker `exchange` has, from one exchange call (or its cached reply).
    pub async fn all_tickers(
        &self,
        exchange: &ExchangeInfo,
    ) -> Result<Served<Vec<Ticker>>, EngineError> {
        let venue = self.venue(exchange)?.clone();
        // The adapter resolves the reply's ids against the loaded markets.
        self.markets(exchange, false).await?;
        let slot = self.inner.all_tickers.slot(&venue.id);
        let mut held = slot.lock().await;
        let policy = self.inner.directory.policy;
        let now = self.inner.directory.now_ms();
        let served = |h: &Held, source: Source, stale: bool, now: i64| Served {
            value: h.tickers.clone(),
            source,
            fetched_at_ms: h.fetched_at_ms,
            stale,
            age_ms: now.saturating_sub(h.fetched_at_ms).max(0),
        };
        if let Some(h) = held.as_ref() {
            if policy.age(h.fetched_at_ms, now) == Age::Fresh {
                return Ok(served(h, Source::Cache, false, now));
            }
        }
        let adapter = venue.venue.clone();
        let reply = self
            .inner
            .miss
            .run(async move { adapter.fetch_all_tickers().await })
            .await;
        let now = self.inner.directory.now_ms();
        let error = match reply {
            Ok(Ok(tickers)) => {
                let fresh = Held {
                    tickers: Arc::new(tickers),
                    fetched_at_ms: now,
                };
                let answer = served(&fresh, Source::Exchange, false, now);
                *held = Some(fresh);
                return Ok(answer);
            }
            Ok(Err(e)) => EngineError::from_venue(&venue.id, None, e),
            Err(e) => EngineError::Internal(format!("fetching all tickers failed ({e})")),
        };
        match held.as_ref() {
            Some(h) if policy.age(h.fetched_at_ms, now) != Age::Expired => {
                Ok(served(h, Source::Cache, true, now))
            }
            _ => Err(error),
        }
    }
}
