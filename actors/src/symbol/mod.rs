//! The supervisor actor of one (exchange, symbol): the only writer of that symbol's state,
//! owner of its in-flight exchange calls (single flight), and of keeping it fresh while it is
//! watched (the venue's feed, else REST polling).

mod freshness;
mod messages;
mod state;

use std::collections::HashMap;
use std::sync::Arc;

use actix::{
    Actor, ActorContext, ActorFutureExt, Addr, AsyncContext, Context, Handler, SpawnHandle,
    Supervised, WrapFuture,
};

use crate::cache::{Age, CacheKey, Claim};
use crate::error::EngineError;
use crate::io::ExchangeIo;
use crate::model::{DataRequest, MarketData, Served, Source};
use crate::router::{Directory, Router, SymbolEntry, SymbolRejected, Trim};
use crate::venue::{Exchange, VenueError};
pub use messages::{Answer, Fetch, KeepFresh, Reply, Responder, Store};
pub use state::{Lookup, Offered, Stamped, SymbolState};

/// What a miss found: a value another node shared through Redis, or the exchange's answer.
enum Fetched {
    Shared(Stamped),
    Exchange(Stamped),
}

/// A caller waiting for an in-flight exchange call.
struct Waiter {
    request: DataRequest,
    reply: Responder,
}

pub struct SymbolActor {
    entry: Arc<SymbolEntry>,
    venue: Arc<dyn Exchange>,
    directory: Arc<Directory>,
    router: Addr<Router>,
    /// Where exchange calls run (a runtime of their own by default, so ccxt's parsing never
    /// stalls the actors); a panic in an adapter comes back as a `JoinError` either way.
    io: ExchangeIo,
    /// Upstream request → callers waiting for it (single flight).
    in_flight: HashMap<DataRequest, Vec<Waiter>>,
    /// The periodic freshness check while the symbol is watched.
    freshness: Option<SpawnHandle>,
}

impl SymbolActor {
    pub fn new(
        entry: Arc<SymbolEntry>,
        venue: Arc<dyn Exchange>,
        directory: Arc<Directory>,
        router: Addr<Router>,
        io: ExchangeIo,
    ) -> Self {
        Self {
            entry,
            venue,
            directory,
            router,
            io,
            in_flight: HashMap::new(),
            freshness: None,
        }
    }

    fn answer(&self, served: Served<MarketData>, request: &DataRequest) -> Answer {
        Answer::new(
            self.entry.exchange.clone(),
            self.entry.symbol.clone(),
            served,
            request,
        )
    }

    fn key(&self, upstream: &DataRequest) -> CacheKey {
        CacheKey {
            exchange: self.entry.exchange.clone(),
            symbol: self.entry.symbol.clone(),
            request: upstream.clone(),
        }
    }

    /// The shared layer (Redis) first, when there is one: a fresh value another node fetched
    /// is served as it is; a key another node is fetching is waited for; else this node takes
    /// the key's lease and calls the exchange, and shares what it got.
    fn start_fetch(&mut self, upstream: DataRequest, ctx: &mut Context<Self>) {
        let venue = self.venue.clone();
        let symbol = self.entry.symbol.clone();
        let request = upstream.clone();
        let key = self.key(&upstream);
        let directory = self.directory.clone();
        let call = self.io.spawn(async move {
            let fetch = async {
                let data = venue.fetch(&symbol, &request).await?;
                Ok::<_, VenueError>(Stamped {
                    value: Arc::new(data),
                    origin: Source::Exchange,
                    fetched_at_ms: directory.now_ms(),
                })
            };
            let Some(remote) = &directory.remote else {
                return fetch.await.map(Fetched::Exchange);
            };
            let fresh = |s: &Stamped| {
                directory.policy.age(s.fetched_at_ms, directory.now_ms()) == Age::Fresh
            };
            let leased = match remote.claim(&key, fresh).await {
                Claim::Shared(shared) => return Ok(Fetched::Shared(shared)),
                Claim::Leased => true,
                Claim::Alone => false,
            };
            match fetch.await {
                Ok(stamped) => {
                    let ttl_left = directory
                        .policy
                        .fresh_for(stamped.fetched_at_ms, directory.now_ms());
                    if leased {
                        remote.fill(&key, &stamped, ttl_left).await;
                    } else {
                        remote.put(&key, &stamped, ttl_left).await;
                    }
                    Ok(Fetched::Exchange(stamped))
                }
                Err(e) => {
                    if leased {
                        remote.release(&key).await;
                    }
                    Err(e)
                }
            }
        });
        ctx.spawn(call.into_actor(self).map(move |joined, actor, ctx| {
            let panicked = matches!(&joined, Err(e) if e.is_panic());
            let outcome = match joined {
                Ok(Ok(data)) => Ok(data),
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

    fn complete(&mut self, upstream: DataRequest, outcome: Result<Fetched, EngineError>) {
        let waiters = self.in_flight.remove(&upstream).unwrap_or_default();
        let served = match outcome {
            Ok(Fetched::Exchange(stamped)) => Ok(self.store(upstream, stamped)),
            Ok(Fetched::Shared(stamped)) => Ok(self.store(upstream, stamped)),
            Err(error) => {
                if matches!(error, EngineError::InvalidSymbol { .. }) {
                    // The market list has it but the exchange does not (delisted since).
                    let _ = self.router.try_send(SymbolRejected {
                        exchange: self.entry.exchange.clone(),
                        symbol: self.entry.symbol.clone(),
                    });
                }
                self.fallback(&upstream, error)
            }
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

    /// Keeps `stamped` unless the symbol holds a newer value, and says what to serve.
    fn store(&self, upstream: DataRequest, stamped: Stamped) -> Served<MarketData> {
        self.store_from(upstream, stamped, false)
    }

    /// Like [`Self::store`]; a ticker from this node's own feed is also shared with the
    /// cluster (Redis cache key and ticker channel).
    fn store_from(
        &self,
        upstream: DataRequest,
        stamped: Stamped,
        from_own_feed: bool,
    ) -> Served<MarketData> {
        let now = self.directory.now_ms();
        let served = match self.entry.state.offer(upstream.clone(), stamped.clone()) {
            Offered::Stored => {
                if upstream == DataRequest::Ticker {
                    self.entry.publish_ticker(&stamped);
                    if from_own_feed {
                        // Other nodes serve it from Redis and their subscribers hear it on
                        // the ticker channel (a REST fetch was shared when it was made).
                        self.directory
                            .mirror(&self.io, self.key(&upstream), &stamped);
                    }
                }
                stamped.served_fresh(now)
            }
            Offered::KeptNewer => match self.lookup(&upstream) {
                Lookup::Fresh(held) => held.served(false, now),
                Lookup::Stale(held) => held.served(true, now),
                Lookup::Miss => stamped.served_fresh(now),
            },
        };
        if self.directory.over_capacity() {
            let _ = self.router.try_send(Trim);
        }
        served
    }

    /// A failed call: a recent value marked stale when the exchange itself failed.
    fn fallback(
        &self,
        upstream: &DataRequest,
        error: EngineError,
    ) -> Result<Served<MarketData>, EngineError> {
        if !error.allows_stale() {
            return Err(error);
        }
        let now = self.directory.now_ms();
        match self.lookup(upstream) {
            Lookup::Fresh(held) => Ok(held.served(false, now)),
            Lookup::Stale(held) => {
                tracing::info!(symbol = %self.entry.symbol, %error, "serving stale value");
                Ok(held.served(true, now))
            }
            Lookup::Miss => Err(error),
        }
    }

    fn lookup(&self, upstream: &DataRequest) -> Lookup {
        self.entry.state.lookup(
            upstream,
            &self.directory.policy,
            self.directory.now_ms(),
            false,
        )
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
        // The restart dropped the old context's timers.
        self.freshness = None;
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
            let served = held.served(false, self.directory.now_ms());
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
        self.store_from(msg.upstream, msg.stamped, msg.from_own_feed);
    }
}
