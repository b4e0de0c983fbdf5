//! The symbol actors: each started on its symbol's first request (its entry put in the
//! directory and counted in the LRU), stopped when idle, and evicted with its values, least
//! recently used first, while the process holds more values than its capacity.

use std::sync::Arc;

use actix::dev::SendError;
use actix::{Context, Handler, Supervisor};

use super::messages::{Delivery, Route, SymbolActorCount};
use super::{Router, SymbolKey};
use crate::directory::{
    Fetch, Resolved, Store, SymbolEntry, SymbolMailbox, SymbolState, VenueDirectory,
};
use crate::error::EngineError;
use crate::memory::COLD_AFTER;
use crate::miss::Trim;
use crate::symbol::SymbolActor;

impl Router {
    /// Hands `route` to its symbol's actor, starting it if needed; markets are loaded.
    pub(super) fn dispatch(&mut self, route: Route) {
        let Some(slot) = self.slots.get(&route.exchange) else {
            route.delivery.fail(Self::unknown_exchange(&route.exchange));
            return;
        };
        let venue = slot.directory.clone();
        let slot_feed = slot.feed.clone();
        let means = route.delivery.means();
        let resolved = match venue.resolve_for(&route.symbol, means, self.directory.now_ms()) {
            Ok(Some(resolved)) => resolved,
            Ok(None) => {
                route.delivery.fail(EngineError::Internal(format!(
                    "{} markets are not loaded",
                    route.exchange
                )));
                return;
            }
            Err(error) => {
                route.delivery.fail(error);
                return;
            }
        };
        let entry = self.entry(&venue, resolved);
        let actor = match entry.actor() {
            Some(actor) => actor,
            None => self.start_actor(&venue, &entry),
        };
        match route.delivery {
            Delivery::Fetch { request, reply } => {
                if let Err(refused) = actor.try_fetch(Fetch { request, reply }) {
                    let (Fetch { reply, .. }, why) = match refused {
                        SendError::Full(msg) => (msg, EngineError::busy("symbol")),
                        SendError::Closed(msg) => (
                            msg,
                            EngineError::Internal("the symbol actor stopped; please retry".into()),
                        ),
                    };
                    let _ = reply.send(Err(why));
                }
            }
            Delivery::Store {
                upstream,
                stamped,
                from_own_feed,
            } => {
                // A store that finds the mailbox full is dropped: it was an extra copy.
                let _ = actor.try_store(Store {
                    upstream,
                    stamped,
                    from_own_feed,
                });
            }
            Delivery::Watch { reply } => {
                self.watch(slot_feed.as_ref(), &entry, &*actor);
                let _ = reply.send(Ok(entry));
            }
        }
    }

    fn start_actor(
        &self,
        venue: &VenueDirectory,
        entry: &Arc<SymbolEntry>,
    ) -> Arc<dyn SymbolMailbox> {
        let actor = SymbolActor::new(entry.clone(), venue.venue.clone(), self.miss.clone());
        let capacity = self.mailbox_capacity;
        let addr = Supervisor::start(move |ctx: &mut Context<SymbolActor>| {
            ctx.set_mailbox_capacity(capacity);
            actor
        });
        let actor: Arc<dyn SymbolMailbox> = Arc::new(addr);
        entry.set_actor(Some(actor.clone()));
        actor
    }

    /// The symbol's entry, created (and counted in the LRU) on first use.
    fn entry(&mut self, venue: &Arc<VenueDirectory>, resolved: Resolved) -> Arc<SymbolEntry> {
        if let Some(entry) = resolved.entry {
            return entry;
        }
        let now = self.directory.now_ms();
        let entry = Arc::new(SymbolEntry::new(
            venue.id.clone(),
            resolved.symbol.clone(),
            resolved.market_id.clone(),
            SymbolState::new(self.directory.counters.clone(), now),
        ));
        venue.insert_symbol(entry.clone());
        self.symbols
            .insert((venue.id.clone(), resolved.symbol), entry.clone(), now);
        entry
    }

    pub(super) fn trim(&mut self) {
        let directory = self.directory.clone();
        let slots = &self.slots;
        self.symbols.evict_while(
            || directory.over_capacity(),
            |entry| entry.state.last_used_ms(),
            |entry| entry.watched(),
            |(exchange, symbol), entry| {
                if let Some(slot) = slots.get(&exchange) {
                    slot.directory.remove_symbol(&symbol);
                }
                entry.set_actor(None);
                entry.state.clear();
            },
        );
    }

    /// Stops the actors unused (and unwatched) for `idle_after`, and drops the symbols with
    /// neither a running actor nor a value left to serve.
    pub(super) fn stop_idle(&mut self, now: i64) {
        let idle_ms = i64::try_from(self.idle_after.as_millis()).unwrap_or(i64::MAX);
        let mut gone = Vec::new();
        let mut stopped = 0usize;
        for (key, entry) in self.symbols.iter() {
            let idle = now - entry.state.last_used_ms() >= idle_ms && !entry.watched();
            if idle && entry.set_actor(None).is_some() {
                // Dropping the last address stops the actor once its mailbox and calls are done.
                stopped += 1;
            }
            if entry.state.prune(&self.directory.policy, now) == 0 && entry.actor().is_none() {
                gone.push(key.clone());
            }
        }
        for (exchange, symbol) in gone {
            self.symbols.remove(&(exchange.clone(), symbol.clone()));
            if let Some(slot) = self.slots.get(&exchange) {
                slot.directory.remove_symbol(&symbol);
            }
        }
        if stopped > 0 {
            tracing::debug!(
                stopped,
                live = self.symbols.len(),
                "stopped idle symbol actors"
            );
        }
    }
}

impl Router {
    /// Memory pressure: stops the actors of the unwatched symbols unused for
    /// [`COLD_AFTER`] and drops their values (the next call fetches again); returns how many.
    pub(super) fn shed_cold(&mut self, now: i64) -> usize {
        let cold_ms = i64::try_from(COLD_AFTER.as_millis()).unwrap_or(i64::MAX);
        let cold: Vec<SymbolKey> = self
            .symbols
            .iter()
            .filter(|(_, entry)| now - entry.state.last_used_ms() >= cold_ms && !entry.watched())
            .map(|(key, _)| key.clone())
            .collect();
        for key in &cold {
            if let Some(entry) = self.symbols.remove(key) {
                entry.set_actor(None);
                entry.state.clear();
            }
            if let Some(slot) = self.slots.get(&key.0) {
                slot.directory.remove_symbol(&key.1);
            }
        }
        cold.len()
    }
}

impl Handler<SymbolActorCount> for Router {
    type Result = usize;

    fn handle(&mut self, _: SymbolActorCount, _: &mut Context<Self>) -> usize {
        self.symbols
            .iter()
            .filter(|(_, entry)| entry.actor().is_some())
            .count()
    }
}

impl Handler<Trim> for Router {
    type Result = ();

    fn handle(&mut self, _: Trim, _: &mut Context<Self>) {
        self.trim();
    }
}
