//! A watched symbol's ticker kept fresh: by the venue's feed while it delivers, else by REST
//! polling at the TTL (the feed down, stalled, or the venue without one). The feed needs no
//! help here; this only notices when nothing new has arrived for a whole period.

use std::time::Duration;

use actix::{AsyncContext, Context, Handler};

use super::SymbolActor;
use crate::directory::{KeepFresh, Lookup};
use crate::model::DataRequest;

/// How long a new watcher of a venue with a feed waits for the stream's first value before
/// REST answers instead.
const FEED_GRACE: Duration = Duration::from_secs(2);
/// Polling faster than this would only spend the exchange's weight budget.
const MIN_PERIOD: Duration = Duration::from_millis(250);

impl SymbolActor {
    fn period(&self) -> Duration {
        self.miss.directory().policy.ttl().max(MIN_PERIOD)
    }

    /// Starts the freshness checks unless they run already: one per period until the last
    /// watcher leaves (and one now, unless the feed is connected).
    pub(super) fn keep_fresh(&mut self, ctx: &mut Context<Self>) {
        if self.freshness.is_some() || !self.entry.watched() {
            return;
        }
        // A feed delivers within a second or so of subscribing (connecting first if need
        // be): REST answers only if it has not by then. Without a feed, REST answers at once,
        // so a new watcher is not left without a value for a whole period.
        if self.venue.feed().is_some() {
            ctx.run_later(FEED_GRACE.min(self.period()), |actor, ctx| {
                actor.refresh_if_quiet(ctx)
            });
        } else {
            self.refresh_if_quiet(ctx);
        }
        let handle = ctx.run_interval(self.period(), |actor, ctx| {
            if !actor.entry.watched() {
                if let Some(handle) = actor.freshness.take() {
                    ctx.cancel_future(handle);
                }
                return;
            }
            // Watched is in use: never idle, never the least recently used.
            actor.entry.state.touch(actor.now_ms());
            actor.refresh_if_quiet(ctx);
        });
        self.freshness = Some(handle);
    }

    /// Fetches the ticker by REST when nothing newer than one period has arrived (from the
    /// feed, another node, or a request) and no fetch is under way.
    fn refresh_if_quiet(&mut self, ctx: &mut Context<Self>) {
        let upstream = DataRequest::Ticker;
        if self.in_flight.contains_key(&upstream) {
            return;
        }
        let now = self.now_ms();
        let period_ms = i64::try_from(self.period().as_millis()).unwrap_or(i64::MAX);
        let quiet = match self.lookup(&upstream) {
            Lookup::Fresh(held) | Lookup::Stale(held) => now - held.fetched_at_ms >= period_ms,
            Lookup::Miss => true,
        };
        if quiet {
            // No waiters: the answer lands in the state and goes out to the watchers.
            self.in_flight.insert(upstream.clone(), Vec::new());
            self.start_fetch(upstream, ctx);
        }
    }
}

impl Handler<KeepFresh> for SymbolActor {
    type Result = ();

    fn handle(&mut self, _: KeepFresh, ctx: &mut Context<Self>) {
        self.keep_fresh(ctx);
    }
}
