//! The router actor: loads each exchange's markets (and reloads them, hourly or early when the
//! exchange rejects a symbol it lists), starts the supervisor actor of each (exchange, symbol)
//! on first use, stops it when idle, and keeps the process within its cache capacity by
//! evicting least recently used symbols.
//!
//! Requests reach it only when the caller found no running actor for its symbol (or the
//! markets are not loaded yet): cache hits and calls to running actors bypass it, reading the
//! shared [`Directory`] instead.

mod directory;
mod entry;
mod messages;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::dev::SendError;
use actix::{Actor, ActorFutureExt, AsyncContext, Context, Handler, Supervisor, WrapFuture};

use crate::cache::SymbolLru;
use crate::error::EngineError;
use crate::io::ExchangeIo;
use crate::model::{DataRequest, Market, MarketData, Source};
use crate::symbol::Stamped;
use crate::symbol::{Fetch, KeepFresh, Store, SymbolActor, SymbolState};
use crate::venue::{Feed, StreamKey};
pub use directory::{Directory, Resolved, VenueDirectory, REJECTED_FOR};
pub use entry::SymbolEntry;
pub use messages::{
    Delivery, GetMarkets, MarketsAnswer, Route, SymbolActorCount, SymbolRejected, Trim, Unwatch,
    VenueEvent,
};

/// Least time between two early markets reloads of one exchange (each rejected symbol asks
/// for one; a burst of them must not become a burst of `exchangeInfo` calls).
const EARLY_RELOAD_GAP_MS: i64 = 60_000;
/// How soon a failed markets reload is tried again (the loaded list keeps serving meanwhile).
const FAILED_RELOAD_RETRY_MS: i64 = 60_000;

/// Requests waiting for an exchange's markets to load.
enum Pending {
    Route(Route),
    Markets(GetMarkets),
}

impl Pending {
    fn fail(self, error: EngineError) {
        // A caller that gave up has dropped its receiver: nothing to tell it.
        match self {
            Self::Route(route) => route.delivery.fail(error),
            Self::Markets(get) => {
                let _ = get.reply.send(Err(error));
            }
        }
    }
}

impl Delivery {
    fn fail(self, error: EngineError) {
        match self {
            Self::Fetch { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            Self::Watch { reply } => {
                let _ = reply.send(Err(error));
            }
            Self::Store { .. } => {}
        }
    }
}

enum Markets {
    Unloaded,
    Loading(Vec<Pending>),
    /// The list itself is in the directory, for every thread to read. `reload_at_ms`: when
    /// to reload it (an hour after loading; sooner again after a failed reload).
    Loaded {
        reload_at_ms: i64,
    },
}

struct VenueSlot {
    directory: Arc<VenueDirectory>,
    markets: Markets,
    /// A reload of loaded markets is under way (requests keep using the loaded ones).
    refreshing: bool,
    last_early_reload_ms: i64,
    /// The venue's live feed, if it has one. It carries the ticker stream of every watched
    /// symbol (each [`SymbolEntry`] counts its watchers; the feed hears the first and last).
    feed: Option<Arc<dyn Feed>>,
}

type SymbolKey = (Arc<str>, Arc<str>);

pub struct Router {
    directory: Arc<Directory>,
    slots: HashMap<Arc<str>, VenueSlot>,
    symbols: SymbolLru<SymbolKey, Arc<SymbolEntry>>,
    io: ExchangeIo,
    /// A symbol actor unused for this long is stopped (its values stay until they expire or
    /// are evicted).
    idle_after: Duration,
    /// Age after which an exchange's market list is reloaded (the old one keeps serving).
    markets_refresh: Duration,
    /// Messages the router and each symbol actor queue before callers are told "busy".
    mailbox_capacity: usize,
    /// With Redis: decides which node streams a symbol (one feed per symbol cluster-wide).
    bridge: Option<actix::Addr<crate::bridge::RedisBridge>>,
}

impl Router {
    pub fn new(
        directory: Arc<Directory>,
        io: ExchangeIo,
        idle_after: Duration,
        markets_refresh: Duration,
        mailbox_capacity: usize,
    ) -> Self {
        let slots = directory
            .venues()
            .map(|venue| {
                let slot = VenueSlot {
                    directory: venue.clone(),
                    markets: Markets::Unloaded,
                    refreshing: false,
                    last_early_reload_ms: 0,
                    feed: venue.venue.feed(),
                };
                (venue.id.clone(), slot)
            })
            .collect();
        Self {
            directory,
            slots,
            symbols: SymbolLru::new(),
            io,
            idle_after,
            markets_refresh,
            mailbox_capacity,
            bridge: None,
        }
    }

    /// Feeds are then opened through the bridge (one holder per symbol in the cluster).
    pub fn with_bridge(mut self, bridge: actix::Addr<crate::bridge::RedisBridge>) -> Self {
        self.bridge = Some(bridge);
        self
    }

    fn unknown_exchange(exchange: &str) -> EngineError {
        EngineError::InvalidArgument(format!("exchange {exchange} is not enabled on this server"))
    }

    /// Loads `exchange`'s markets in the background (requests queue meanwhile if none are
    /// loaded yet).
    fn load_markets(&mut self, exchange: Arc<str>, ctx: &mut Context<Self>) {
        let Some(slot) = self.slots.get(&exchange) else {
            return;
        };
        let venue = slot.directory.venue.clone();
        let load = self.io.spawn(async move { venue.load_markets().await });
        ctx.spawn(load.into_actor(self).map(move |joined, router, ctx| {
            let loaded = match joined {
                Ok(Ok(markets)) => Ok(markets),
                Ok(Err(e)) => Err(EngineError::from_venue(&exchange, None, e)),
                Err(e) => Err(EngineError::Internal(format!(
                    "loading {exchange} markets failed inside the engine ({e})"
                ))),
            };
            router.markets_loaded(&exchange, loaded, ctx);
        }));
    }

    fn markets_loaded(
        &mut self,
        exchange: &Arc<str>,
        loaded: Result<Vec<Market>, EngineError>,
        ctx: &mut Context<Self>,
    ) {
        let Some(slot) = self.slots.get_mut(exchange) else {
            return;
        };
        slot.refreshing = false;
        let pending = match &mut slot.markets {
            Markets::Loading(pending) => std::mem::take(pending),
            _ => Vec::new(),
        };
        match loaded {
            Ok(markets) => {
                tracing::info!(%exchange, markets = markets.len(), "markets loaded");
                let now = self.directory.now_ms();
                slot.directory.set_markets(MarketsAnswer {
                    exchange: exchange.clone(),
                    index: Arc::new(crate::model::MarketIndex::new(markets)),
                    fetched_at_ms: now,
                });
                let refresh_ms =
                    i64::try_from(self.markets_refresh.as_millis()).unwrap_or(i64::MAX);
                slot.markets = Markets::Loaded {
                    reload_at_ms: now.saturating_add(refresh_ms),
                };
                for request in pending {
                    self.run(request, ctx);
                }
            }
            Err(error) if matches!(slot.markets, Markets::Loaded { .. }) => {
                tracing::warn!(%exchange, %error, "refreshing markets failed; keeping the loaded ones");
                slot.markets = Markets::Loaded {
                    reload_at_ms: self.directory.now_ms() + FAILED_RELOAD_RETRY_MS,
                };
            }
            Err(error) => {
                // Not remembered: the next request tries again.
                tracing::warn!(%exchange, %error, "loading markets failed");
                slot.markets = Markets::Unloaded;
                for request in pending {
                    request.fail(error.clone());
                }
            }
        }
    }

    /// Runs `request` once its exchange's markets are loaded: now, or after the load it
    /// starts or joins.
    fn with_markets(&mut self, exchange: &Arc<str>, request: Pending, ctx: &mut Context<Self>) {
        let Some(slot) = self.slots.get_mut(exchange) else {
            request.fail(Self::unknown_exchange(exchange));
            return;
        };
        match &mut slot.markets {
            Markets::Loaded { .. } => self.run(request, ctx),
            Markets::Loading(pending) => pending.push(request),
            Markets::Unloaded => {
                slot.markets = Markets::Loading(vec![request]);
                self.load_markets(exchange.clone(), ctx);
            }
        }
    }

    fn run(&mut self, request: Pending, ctx: &mut Context<Self>) {
        match request {
            Pending::Route(route) => self.dispatch(route, ctx),
            Pending::Markets(get) => {
                let answer = self
                    .slots
                    .get(&get.exchange)
                    .and_then(|slot| slot.directory.markets())
                    .ok_or_else(|| Self::unknown_exchange(&get.exchange));
                let _ = get.reply.send(answer);
            }
        }
    }

    /// Hands `route` to its symbol's actor, starting it if needed; markets are loaded.
    fn dispatch(&mut self, route: Route, ctx: &mut Context<Self>) {
        let Some(slot) = self.slots.get(&route.exchange) else {
            route.delivery.fail(Self::unknown_exchange(&route.exchange));
            return;
        };
        let venue = slot.directory.clone();
        let slot_feed = slot.feed.clone();
        let resolved = match venue.resolve(&route.symbol, self.directory.now_ms()) {
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
        let addr = match entry.actor() {
            Some(addr) => addr,
            None => {
                let actor = SymbolActor::new(
                    entry.clone(),
                    venue.venue.clone(),
                    self.directory.clone(),
                    ctx.address(),
                    self.io.clone(),
                );
                let capacity = self.mailbox_capacity;
                let addr = Supervisor::start(move |ctx: &mut Context<SymbolActor>| {
                    ctx.set_mailbox_capacity(capacity);
                    actor
                });
                entry.set_actor(Some(addr.clone()));
                addr
            }
        };
        match route.delivery {
            Delivery::Fetch { request, reply } => {
                if let Err(refused) = addr.try_send(Fetch { request, reply }) {
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
                let _ = addr.try_send(Store {
                    upstream,
                    stamped,
                    from_own_feed,
                });
            }
            Delivery::Watch { reply } => {
                if entry.add_watcher() {
                    if let Some(feed) = &slot_feed {
                        match &self.bridge {
                            Some(bridge) => bridge.do_send(crate::bridge::FeedWanted {
                                exchange: entry.exchange.clone(),
                                stream: ticker_stream(&entry),
                            }),
                            None => feed.subscribe(&[ticker_stream(&entry)]),
                        }
                    }
                    // Not try_send: a full mailbox must not lose the start of polling.
                    addr.do_send(KeepFresh);
                }
                let _ = reply.send(Ok(entry));
            }
        }
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

    fn trim(&mut self) {
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

    /// Stops idle actors, drops symbols with nothing left to serve, reloads old markets.
    fn tick(&mut self, ctx: &mut Context<Self>) {
        let now = self.directory.now_ms();
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
        if self.directory.over_capacity() {
            self.trim();
        }
        let due: Vec<Arc<str>> = self
            .slots
            .iter_mut()
            .filter(|(_, slot)| {
                !slot.refreshing
                    && matches!(slot.markets, Markets::Loaded { reload_at_ms } if now >= reload_at_ms)
            })
            .map(|(id, slot)| {
                slot.refreshing = true;
                id.clone()
            })
            .collect();
        for exchange in due {
            self.load_markets(exchange, ctx);
        }
    }
}

impl Actor for Router {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        for (exchange, slot) in &self.slots {
            if let Some(feed) = &slot.feed {
                feed.set_sink(direct_delivery(self.directory.clone(), exchange.clone()));
                ctx.add_stream(feed_events(exchange.clone(), feed.events()));
            }
        }
        let every = (self.idle_after / 2).clamp(Duration::from_millis(100), Duration::from_secs(1));
        ctx.run_interval(every, |router, ctx| router.tick(ctx));
    }
}

impl Handler<Route> for Router {
    type Result = ();

    fn handle(&mut self, route: Route, ctx: &mut Context<Self>) {
        let exchange = route.exchange.clone();
        self.with_markets(&exchange, Pending::Route(route), ctx);
    }
}

impl Handler<GetMarkets> for Router {
    type Result = ();

    fn handle(&mut self, get: GetMarkets, ctx: &mut Context<Self>) {
        let exchange = get.exchange.clone();
        self.with_markets(&exchange, Pending::Markets(get), ctx);
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

impl Handler<SymbolRejected> for Router {
    type Result = ();

    fn handle(&mut self, msg: SymbolRejected, ctx: &mut Context<Self>) {
        let Some(slot) = self.slots.get_mut(&msg.exchange) else {
            return;
        };
        let now = self.directory.now_ms();
        let until = now + i64::try_from(REJECTED_FOR.as_millis()).unwrap_or(i64::MAX / 2);
        slot.directory.reject(msg.symbol.clone(), until);
        let may_reload = !slot.refreshing
            && matches!(slot.markets, Markets::Loaded { .. })
            && now - slot.last_early_reload_ms >= EARLY_RELOAD_GAP_MS;
        tracing::info!(exchange = %msg.exchange, symbol = %msg.symbol, reload = may_reload, "the exchange rejected a listed symbol");
        if may_reload {
            slot.refreshing = true;
            slot.last_early_reload_ms = now;
            self.load_markets(msg.exchange, ctx);
        }
    }
}

impl Handler<Trim> for Router {
    type Result = ();

    fn handle(&mut self, _: Trim, _: &mut Context<Self>) {
        self.trim();
    }
}

/// A feed's events as a stream the router handles; a lagging receiver skips what it missed
/// (newer values follow) rather than ending.
fn feed_events(
    exchange: Arc<str>,
    events: tokio::sync::broadcast::Receiver<crate::venue::MarketEvent>,
) -> impl futures::Stream<Item = VenueEvent> {
    use tokio::sync::broadcast::error::RecvError;
    futures::stream::unfold(events, move |mut events| {
        let exchange = exchange.clone();
        async move {
            loop {
                match events.recv().await {
                    Ok(event) => return Some((VenueEvent { exchange, event }, events)),
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(%exchange, missed, "feed events dropped: the router fell behind");
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        }
    })
}

/// A feed event handed from the feed's thread straight to its symbol's running actor: no
/// router hop, no symbol resolution (the feed names the unified symbol). Events for symbols
/// without a running actor come back, for the router to start one.
fn direct_delivery(directory: Arc<Directory>, exchange: Arc<str>) -> crate::venue::EventSink {
    Arc::new(move |event| {
        let actor = directory
            .venue(&exchange)
            .and_then(|venue| venue.symbol(&event.symbol))
            .and_then(|entry| entry.actor());
        let Some(actor) = actor else {
            return Some(event);
        };
        let (_, upstream, stamped) = streamed(event)?;
        // A full mailbox drops this value; the next tick replaces it anyway.
        let _ = actor.try_send(Store {
            upstream,
            stamped,
            from_own_feed: true,
        });
        None
    })
}

/// A pushed value as a symbol stores it: its symbol, the request it answers, and the value
/// stamped with when it was true (`None` for data a symbol does not keep from a feed).
fn streamed(event: crate::venue::MarketEvent) -> Option<(Arc<str>, DataRequest, Stamped)> {
    let upstream = match event.data {
        MarketData::Ticker(_) => DataRequest::Ticker,
        _ => return None,
    };
    let stamped = Stamped {
        fetched_at_ms: event.observed_at_ms(),
        value: Arc::new(event.data),
        origin: Source::Stream,
    };
    Some((event.symbol, upstream, stamped))
}

impl actix::StreamHandler<VenueEvent> for Router {
    fn handle(&mut self, msg: VenueEvent, ctx: &mut Context<Self>) {
        let Some((symbol, upstream, stamped)) = streamed(msg.event) else {
            return;
        };
        let route = Route {
            exchange: msg.exchange.clone(),
            symbol: symbol.to_string(),
            delivery: Delivery::Store {
                upstream,
                stamped,
                from_own_feed: true,
            },
        };
        self.with_markets(&msg.exchange, Pending::Route(route), ctx);
    }

    fn finished(&mut self, _: &mut Context<Self>) {
        // A feed ended for good (its adapter dropped it): REST keeps serving.
        tracing::warn!("an exchange feed closed");
    }
}

impl Handler<Unwatch> for Router {
    type Result = ();

    fn handle(&mut self, msg: Unwatch, _: &mut Context<Self>) {
        let Some(slot) = self.slots.get(&msg.exchange) else {
            return;
        };
        let Some(entry) = slot.directory.symbol(&msg.symbol) else {
            return;
        };
        // The actor sees the count drop to zero at its next freshness check and stops.
        if entry.remove_watcher() {
            if let Some(feed) = &slot.feed {
                match &self.bridge {
                    Some(bridge) => bridge.do_send(crate::bridge::FeedUnwanted {
                        exchange: entry.exchange.clone(),
                        stream: ticker_stream(&entry),
                    }),
                    None => feed.unsubscribe(&[ticker_stream(&entry)]),
                }
            }
        }
    }
}

fn ticker_stream(entry: &SymbolEntry) -> StreamKey {
    StreamKey::Ticker {
        symbol: entry.symbol.clone(),
        market_id: entry.market_id.clone(),
    }
}
