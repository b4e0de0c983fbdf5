//! The supervisor actor of one (exchange, symbol): the only writer of that symbol's state,
//! owner of its in-flight exchange calls (single flight), and of keeping it fresh while it is
//! watched (the venue's feed, else REST polling).

mod freshness;
mod live;

use std::collections::HashMap;
use std::sync::Arc;

use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Handler, SpawnHandle, Supervised,
    WrapFuture,
};

use crate::directory::{Answer, Fetch, Lookup, Responder, Store, SymbolEntry};
use crate::error::EngineError;
use crate::miss::MissPath;
use crate::model::{CacheKey, DataRequest, MarketData, Served, Stamped};
use crate::venue::Exchange;

/// A caller waiting for an in-flight exchange call.
struct Waiter {
    request: DataRequest,
    reply: Responder,
}

pub(crate) struct SymbolActor {
    entry: Arc<SymbolEntry>,
    venue: Arc<dyn Exchange>,
    /// How its misses are filled (shared with the engine's batched ticker misses), and the
    /// read side and the router's inbox they need.
    miss: Arc<MissPath>,
    /// Upstream request → callers waiting for it (single flight).
    in_flight: HashMap<DataRequest, Vec<Waiter>>,
    /// The periodic freshness check while the symbol is watched.
    freshness: Option<SpawnHandle>,
    /// A book snapshot call is under way (one at a time).
    snapshot_in_flight: bool,
}

impl SymbolActor {
    pub fn new(entry: Arc<SymbolEntry>, venue: Arc<dyn Exchange>, miss: Arc<MissPath>) -> Self {
        Self {
            entry,
            venue,
            miss,
            in_flight: HashMap::new(),
            freshness: None,
            snapshot_in_flight: false,
        }
    }

    fn now_ms(&self) -> i64 {
        self.miss.directory().now_ms()
    }

    fn answer(&self, served: Served<MarketData>, request: &DataRequest) -> Answer {
        Answer::new(
            self.entry.exchange.clone(),
            self.entry.symbol.clone(),
            served,
            request,
        )
    }

    /// Starts the one exchange call (or Redis read) every waiter for `upstream` shares.
    fn start_fetch(&mut self, upstream: DataRequest, ctx: &mut Context<Self>) {
        let key = CacheKey {
            exchange: self.entry.exchange.clone(),
            symbol: self.entry.symbol.clone(),
            request: upstream.clone(),
        };
        let call = self.miss.fetch(self.venue.clone(), key);
        ctx.spawn(call.into_actor(self).map(move |joined, actor, ctx| {
            let panicked = matches!(&joined, Err(e) if e.is_panic());
            let outcome = match joined {
                Ok(Ok(stamped)) => Ok(stamped),
                Ok(Err(venue_error)) => Err(EngineError::from_venue(
                    &actor.entry.exchange,
                    Some(&actor.entry.symbol),
                    venue_error,
                )),
                Err(join_error) => Err(EngineError::Internal(format!(
                    "fetching {} for {} failed inside the engine ({join_error})",
                    upstream.kind().as_str(),
                    actor.entry.symbol
                ))),
            };
            actor.complete(upstream, outcome);
            if panicked {
                // State may be inconsistent after a panic: let the supervisor restart us.
                tracing::error!(symbol = %actor.entry.symbol, "exchange call panicked; restarting symbol actor");
                ctx.stop();
            }
        }));
    }

    fn complete(&mut self, upstream: DataRequest, outcome: Result<Stamped, EngineError>) {
        let waiters = self.in_flight.remove(&upstream).unwrap_or_default();
        let served = match outcome {
            Ok(stamped) => Ok(self.miss.store(&self.entry, upstream, stamped, false)),
            Err(error) => self.miss.fallback(
                &self.entry.exchange,
                &self.entry.symbol,
                &upstream,
                Some(&self.entry),
                error,
            ),
        };
        for waiter in waiters {
            let reply = match &served {
                Ok(served) => Ok(self.answer(served.clone(), &waiter.request)),
                Err(error) => Err(error.clone()),
            };
            // The caller may have given up (timeout, cancelled MCP call): nothing to do then.
            let _ = waiter.reply.send(reply);
        }
    }

    fn lookup(&self, upstream: &DataRequest) -> Lookup {
        self.miss.held(&self.entry, upstream)
    }
}

impl Actor for SymbolActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // A restarted actor of a watched symbol picks up where the old one left off.
        self.keep_fresh(ctx);
    }
}

impl Supervised for SymbolActor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        // The restart dropped the old context's timers and calls.
        self.freshness = None;
        self.snapshot_in_flight = false;
        // The restart cancelled every in-flight call; dropping the waiters tells their callers.
        let dropped: usize = self
            .in_flight
            .drain()
            .map(|(_, waiters)| waiters.len())
            .sum();
        tracing::warn!(symbol = %self.entry.symbol, dropped, "symbol actor restarted");
    }
}

impl Handler<Fetch> for SymbolActor {
    type Result = ();

    fn handle(&mut self, msg: Fetch, ctx: &mut Context<Self>) {
        let upstream = msg.request.upstream();
        // Filled since the caller looked (by a call that ended meanwhile)?
        if let Lookup::Fresh(held) = self.lookup(&upstream) {
            let served = held.served(false, self.now_ms());
            let _ = msg.reply.send(Ok(self.answer(served, &msg.request)));
            return;
        }
        let waiter = Waiter {
            request: msg.request,
            reply: msg.reply,
        };
        if let Some(waiters) = self.in_flight.get_mut(&upstream) {
            waiters.push(waiter);
            return;
        }
        self.in_flight.insert(upstream.clone(), vec![waiter]);
        self.start_fetch(upstream, ctx);
    }
}

impl Handler<Store> for SymbolActor {
    type Result = ();

    fn handle(&mut self, msg: Store, _ctx: &mut Context<Self>) {
        self.miss
            .store(&self.entry, msg.upstream, msg.stamped, msg.from_own_feed);
    }
}
