//! The supervisor actor of one (exchange, symbol): owns that symbol's in-flight exchange calls
//! and serves its cached state. Streaming feeds (websocket, REST polling) will attach here.

mod messages;

use std::collections::HashMap;
use std::sync::Arc;

use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Handler, Supervised, WrapFuture,
};
use tokio::runtime::Handle;

use crate::cache::{CacheKey, Entry, Lookup, MarketCache};
use crate::error::EngineError;
use crate::model::{now_ms, DataRequest, MarketData, Served, Source};
use crate::venue::Exchange;
pub use messages::{Answer, Fetch, Reply, Responder};

/// A caller waiting for an in-flight exchange call.
struct Waiter {
    request: DataRequest,
    reply: Responder,
}

pub struct SymbolActor {
    exchange: Arc<str>,
    symbol: Arc<str>,
    venue: Arc<dyn Exchange>,
    /// Runtime that runs exchange I/O, off the actor thread: a slow or CPU-heavy reply (ccxt
    /// parses JSON into its own values) never stalls the actors, and a panic in an adapter
    /// comes back as a `JoinError` instead of unwinding through the actor.
    io: Handle,
    cache: Arc<MarketCache>,
    /// Upstream request → callers waiting for it (single flight).
    in_flight: HashMap<DataRequest, Vec<Waiter>>,
}

impl SymbolActor {
    pub fn new(
        exchange: Arc<str>,
        symbol: Arc<str>,
        venue: Arc<dyn Exchange>,
        io: Handle,
        cache: Arc<MarketCache>,
    ) -> Self {
        Self {
            exchange,
            symbol,
            venue,
            io,
            cache,
            in_flight: HashMap::new(),
        }
    }

    fn key(&self, request: DataRequest) -> CacheKey {
        CacheKey {
            exchange: self.exchange.clone(),
            symbol: self.symbol.clone(),
            request,
        }
    }

    fn answer(&self, served: &Served<MarketData>, request: &DataRequest) -> Answer {
        let mut data = served.clone();
        if let Some(cut) = served.value.cut_to(request) {
            data.value = Arc::new(cut);
        }
        Answer {
            exchange: self.exchange.clone(),
            symbol: self.symbol.clone(),
            data,
        }
    }

    fn served(entry: Entry<Arc<MarketData>>, source: Source, stale: bool) -> Served<MarketData> {
        Served {
            value: entry.value,
            source,
            fetched_at_ms: entry.fetched_at_ms,
            stale,
        }
    }

    fn start_fetch(&mut self, upstream: DataRequest, ctx: &mut Context<Self>) {
        let venue = self.venue.clone();
        let symbol = self.symbol.clone();
        let request = upstream.clone();
        let call = self
            .io
            .spawn(async move { venue.fetch(&symbol, &request).await });
        ctx.spawn(call.into_actor(self).map(move |joined, actor, ctx| {
            let panicked = matches!(&joined, Err(e) if e.is_panic());
            let outcome = match joined {
                Ok(Ok(data)) => Ok(data),
                Ok(Err(venue_error)) => Err(EngineError::from_venue(
                    &actor.exchange,
                    Some(&actor.symbol),
                    venue_error,
                )),
                Err(join_error) => Err(EngineError::Internal(format!(
                    "fetching {} for {} failed inside the engine ({join_error})",
                    upstream.kind().as_str(),
                    actor.symbol
                ))),
            };
            actor.complete(upstream, outcome, ctx);
            if panicked {
                // State may be inconsistent after a panic: let the supervisor restart us.
                tracing::error!(symbol = %actor.symbol, "exchange call panicked; restarting symbol actor");
                ctx.stop();
            }
        }));
    }

    fn complete(
        &mut self,
        upstream: DataRequest,
        outcome: Result<MarketData, EngineError>,
        _ctx: &mut Context<Self>,
    ) {
        let waiters = self.in_flight.remove(&upstream).unwrap_or_default();
        let key = self.key(upstream);
        let served = match outcome {
            Ok(data) => {
                let fetched_at_ms = now_ms();
                let value = Arc::new(data);
                self.cache.insert(key, value.clone(), fetched_at_ms);
                Ok(Served {
                    value,
                    source: Source::Exchange,
                    fetched_at_ms,
                    stale: false,
                })
            }
            Err(error) if error.allows_stale() => match self.cache.peek(&key) {
                Lookup::Fresh(entry) | Lookup::Stale(entry) => {
                    tracing::info!(symbol = %self.symbol, %error, "serving stale value");
                    Ok(Self::served(entry, Source::Cache, true))
                }
                Lookup::Miss => Err(error),
            },
            Err(error) => Err(error),
        };
        for waiter in waiters {
            let reply = match &served {
                Ok(served) => Ok(self.answer(served, &waiter.request)),
                Err(error) => Err(error.clone()),
            };
            // The caller may have given up (timeout, cancelled MCP call): nothing to do then.
            let _ = waiter.reply.send(reply);
        }
    }
}

impl Actor for SymbolActor {
    type Context = Context<Self>;
}

impl Supervised for SymbolActor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        // The restart cancelled every in-flight call; dropping the waiters tells their callers.
        let dropped: usize = self
            .in_flight
            .drain()
            .map(|(_, waiters)| waiters.len())
            .sum();
        tracing::warn!(symbol = %self.symbol, dropped, "symbol actor restarted");
    }
}

impl Handler<Fetch> for SymbolActor {
    type Result = ();

    fn handle(&mut self, msg: Fetch, ctx: &mut Context<Self>) {
        let upstream = msg.request.upstream();
        if let Lookup::Fresh(entry) = self.cache.lookup(&self.key(upstream.clone())) {
            let served = Self::served(entry, Source::Cache, false);
            let _ = msg.reply.send(Ok(self.answer(&served, &msg.request)));
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
