//! The read side: what every thread may read without asking an actor. Each exchange's loaded
//! markets (to resolve symbols), symbols the exchange rejected (negative cache), "did you
//! mean" suggestions already computed, and the live symbols with their state and the mailbox
//! of their running actor. The router and the symbol actors write it; the engine's hit path
//! only reads it, so a cache hit costs no mailbox hop.
//!
//! It sits below the actors (`symbol`, `router`) and imports neither: a running symbol actor
//! is reached through [`SymbolMailbox`], whose messages are named here.

mod answer;
mod entry;
mod live;
mod mailbox;
mod state;
mod venue;

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::Arc;

use crate::cache::{CacheCounters, RemoteCache, TtlPolicy};
use crate::model::Clock;
use crate::venue::Exchange;

pub use answer::{Answer, Reply, Responder};
pub(crate) use entry::SymbolEntry;
pub use live::BOOK_APPLY_SECONDS;
pub(crate) use live::{LiveNeed, Sharing};
pub(crate) use mailbox::{Fetch, KeepFresh, LiveFetch, Store, SymbolMailbox};
pub(crate) use state::{Lookup, Offered, SymbolState};
pub use venue::MarketsAnswer;
pub(crate) use venue::{Resolved, VenueDirectory, REJECTED_FOR};

/// Every exchange's shared view, plus the freshness policy and counters of their values.
pub(crate) struct Directory {
    venues: HashMap<Arc<str>, Arc<VenueDirectory>>,
    pub policy: TtlPolicy,
    pub counters: Arc<CacheCounters>,
    /// Most values kept across all symbols (`CACHE_MAXSIZE`).
    pub capacity: usize,
    pub clock: Clock,
    /// The shared layer in Redis, when this node uses one.
    pub remote: Option<Arc<RemoteCache>>,
}

impl Directory {
    pub fn new(
        venues: Vec<Arc<dyn Exchange>>,
        policy: TtlPolicy,
        capacity: NonZeroUsize,
        clock: Clock,
        remote: Option<Arc<RemoteCache>>,
    ) -> Self {
        let venues = venues
            .into_iter()
            .map(|venue| {
                let id: Arc<str> = Arc::from(venue.id());
                (id.clone(), Arc::new(VenueDirectory::new(id, venue)))
            })
            .collect();
        Self {
            venues,
            policy,
            counters: Arc::new(CacheCounters::default()),
            capacity: capacity.get(),
            clock,
            remote,
        }
    }

    pub fn venue(&self, id: &str) -> Option<&Arc<VenueDirectory>> {
        self.venues.get(id)
    }

    pub fn venues(&self) -> impl Iterator<Item = &Arc<VenueDirectory>> {
        self.venues.values()
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub fn over_capacity(&self) -> bool {
        self.counters.entries() > self.capacity
    }
}
