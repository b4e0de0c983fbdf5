//! The router actor: resolves symbols against each exchange's markets (loaded once, shared by
//! every request) and dispatches each request to the supervisor actor of its (exchange,
//! symbol), starting it on first use and letting it go once idle.

mod messages;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Actor, ActorFutureExt, Addr, AsyncContext, Context, Handler, Supervisor, WrapFuture};
use tokio::runtime::Handle;

use crate::cache::MarketCache;
use crate::error::EngineError;
use crate::model::{now_ms, MarketIndex, SymbolLookup};
use crate::symbol::{Fetch, SymbolActor};
use crate::venue::Exchange;
pub use messages::{GetMarkets, MarketsAnswer, Route, SymbolActorCount};

struct SymbolSlot {
    addr: Addr<SymbolActor>,
    last_used: Instant,
}

/// Requests waiting for an exchange's markets to load.
enum Pending {
    Route(Route),
    Markets(GetMarkets),
}

impl Pending {
    fn exchange(&self) -> &Arc<str> {
        match self {
            Self::Route(route) => &route.exchange,
            Self::Markets(get) => &get.exchange,
        }
    }

    fn fail(self, error: EngineError) {
        // A caller that gave up has dropped its receiver: nothing to tell it.
        let _ = match self {
            Self::Route(route) => route.reply.send(Err(error)).is_ok(),
            Self::Markets(get) => get.reply.send(Err(error)).is_ok(),
        };
    }
}

enum Markets {
    Unloaded,
    Loading(Vec<Pending>),
    Loaded(MarketsAnswer),
}

struct VenueSlot {
    venue: Arc<dyn Exchange>,
    markets: Markets,
    /// A reload of loaded markets is under way (requests keep using the loaded ones).
    refreshing: bool,
    symbols: HashMap<Arc<str>, SymbolSlot>,
}

pub struct Router {
    venues: HashMap<Arc<str>, VenueSlot>,
    cache: Arc<MarketCache>,
    io: Handle,
    /// A symbol actor unused for this long is stopped (its cached values stay in the cache).
    idle_after: Duration,
    /// Age after which an exchange's market list is reloaded (the old one keeps serving).
    markets_refresh: Duration,
}

impl Router {
    pub fn new(
        venues: Vec<Arc<dyn Exchange>>,
        cache: Arc<MarketCache>,
        io: Handle,
        idle_after: Duration,
        markets_refresh: Duration,
    ) -> Self {
        let venues = venues
            .into_iter()
            .map(|venue| {
                let slot = VenueSlot {
                    refreshing: false,
                    venue: venue.clone(),
                    markets: Markets::Unloaded,
                    symbols: HashMap::new(),
                };
                (Arc::from(venue.id()), slot)
            })
            .collect();
        Self {
            venues,
            cache,
            io,
            idle_after,
            markets_refresh,
        }
    }

    fn unknown_exchange(exchange: &str) -> EngineError {
        EngineError::InvalidArgument(format!("exchange {exchange} is not enabled on this server"))
    }

    /// Starts loading `exchange`'s markets; requests queue in `Markets::Loading` meanwhile.
    fn load_markets(&mut self, exchange: Arc<str>, ctx: &mut Context<Self>) {
        let Some(slot) = self.venues.get(&exchange) else {
            return;
        };
        let venue = slot.venue.clone();
        let load = self.io.spawn(async move { venue.load_markets().await });
        ctx.spawn(load.into_actor(self).map(move |joined, router, _| {
            let loaded = match joined {
                Ok(Ok(markets)) => Ok(markets),
                Ok(Err(e)) => Err(EngineError::from_venue(&exchange, None, e)),
                Err(e) => Err(EngineError::Internal(format!(
                    "loading {exchange} markets failed inside the engine ({e})"
                ))),
            };
            router.markets_loaded(&exchange, loaded);
        }));
    }

    fn markets_loaded(
        &mut self,
        exchange: &Arc<str>,
        loaded: Result<Vec<crate::model::Market>, EngineError>,
    ) {
        let Some(slot) = self.venues.get_mut(exchange) else {
            return;
        };
        slot.refreshing = false;
        let (pending, previous) = match std::mem::replace(&mut slot.markets, Markets::Unloaded) {
            Markets::Loading(pending) => (pending, None),
            Markets::Loaded(previous) => (Vec::new(), Some(previous)),
            Markets::Unloaded => (Vec::new(), None),
        };
        match loaded {
            Ok(markets) => {
                tracing::info!(%exchange, markets = markets.len(), "markets loaded");
                let markets = MarketsAnswer {
                    exchange: exchange.clone(),
                    index: Arc::new(MarketIndex::new(markets)),
                    fetched_at_ms: now_ms(),
                };
                slot.markets = Markets::Loaded(markets.clone());
                for request in pending {
                    self.run(request, &markets);
                }
            }
            Err(error) if previous.is_some() => {
                tracing::warn!(%exchange, %error, "refreshing markets failed; keeping the loaded ones");
                slot.markets = previous.map_or(Markets::Unloaded, Markets::Loaded);
            }
            Err(error) => {
                // Not cached: the next request tries again.
                tracing::warn!(%exchange, %error, "loading markets failed");
                for request in pending {
                    request.fail(error.clone());
                }
            }
        }
    }

    /// Hands `route` to its symbol actor; markets are loaded.
    fn dispatch(&mut self, index: &MarketIndex, route: Route) {
        let market = match index.resolve(&route.symbol) {
            Ok(market) => market,
            Err(lookup) => {
                let suggestions = match lookup {
                    SymbolLookup::NotListed { suggestions } => suggestions,
                    SymbolLookup::Malformed => Vec::new(),
                };
                let error = EngineError::InvalidSymbol {
                    exchange: route.exchange.to_string(),
                    symbol: route.symbol,
                    suggestions,
                };
                let _ = route.reply.send(Err(error));
                return;
            }
        };
        let Some(slot) = self.venues.get_mut(&route.exchange) else {
            return;
        };
        let now = Instant::now();
        let symbol_slot = match slot.symbols.get_mut(market.symbol.as_str()) {
            // A symbol actor that died outside its supervisor (a panic in its own code) has a
            // disconnected mailbox: start a fresh one.
            Some(existing) if existing.addr.connected() => existing,
            _ => {
                let symbol: Arc<str> = Arc::from(market.symbol.as_str());
                let actor = SymbolActor::new(
                    route.exchange.clone(),
                    symbol.clone(),
                    slot.venue.clone(),
                    self.io.clone(),
                    self.cache.clone(),
                );
                let addr = Supervisor::start(move |_| actor);
                slot.symbols.insert(
                    symbol.clone(),
                    SymbolSlot {
                        addr,
                        last_used: now,
                    },
                );
                match slot.symbols.get_mut(&symbol) {
                    Some(inserted) => inserted,
                    None => return,
                }
            }
        };
        symbol_slot.last_used = now;
        symbol_slot.addr.do_send(Fetch {
            request: route.request,
            reply: route.reply,
        });
    }

    /// Runs `request` once its exchange's markets are loaded: now, or after the load it
    /// starts or joins.
    fn with_markets(&mut self, request: Pending, ctx: &mut Context<Self>) {
        let exchange = request.exchange().clone();
        let Some(slot) = self.venues.get_mut(&exchange) else {
            request.fail(Self::unknown_exchange(&exchange));
            return;
        };
        match &mut slot.markets {
            Markets::Loaded(answer) => {
                let answer = answer.clone();
                // Exchanges list and delist markets: reload now and then, in the background.
                if !slot.refreshing
                    && now_ms() - answer.fetched_at_ms > self.markets_refresh.as_millis() as i64
                {
                    slot.refreshing = true;
                    self.load_markets(exchange, ctx);
                }
                self.run(request, &answer);
            }
            Markets::Loading(pending) => pending.push(request),
            Markets::Unloaded => {
                slot.markets = Markets::Loading(vec![request]);
                self.load_markets(exchange, ctx);
            }
        }
    }

    fn run(&mut self, request: Pending, markets: &MarketsAnswer) {
        match request {
            Pending::Route(route) => self.dispatch(&markets.index, route),
            Pending::Markets(get) => {
                let _ = get.reply.send(Ok(markets.clone()));
            }
        }
    }

    fn stop_idle_symbols(&mut self) {
        let idle_after = self.idle_after;
        for (exchange, slot) in &mut self.venues {
            let before = slot.symbols.len();
            // Dropping the last address stops the actor once its mailbox and calls are done.
            slot.symbols
                .retain(|_, s| s.last_used.elapsed() < idle_after);
            let stopped = before - slot.symbols.len();
            if stopped > 0 {
                tracing::debug!(%exchange, stopped, live = slot.symbols.len(), "stopped idle symbol actors");
            }
        }
    }
}

impl Actor for Router {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let every = (self.idle_after / 2).max(Duration::from_millis(100));
        ctx.run_interval(every, |router, _| router.stop_idle_symbols());
    }
}

impl Handler<Route> for Router {
    type Result = ();

    fn handle(&mut self, route: Route, ctx: &mut Context<Self>) {
        self.with_markets(Pending::Route(route), ctx);
    }
}

impl Handler<GetMarkets> for Router {
    type Result = ();

    fn handle(&mut self, get: GetMarkets, ctx: &mut Context<Self>) {
        self.with_markets(Pending::Markets(get), ctx);
    }
}

impl Handler<SymbolActorCount> for Router {
    type Result = usize;

    fn handle(&mut self, _: SymbolActorCount, _: &mut Context<Self>) -> usize {
        self.venues.values().map(|slot| slot.symbols.len()).sum()
    }
}
