//! The router actor: loads each exchange's markets (and reloads them, hourly or early when the
//! exchange rejects a symbol it lists), starts the supervisor actor of each (exchange, symbol)
//! on first use, stops it when idle, and keeps the process within its cache capacity by
//! evicting least recently used symbols (and, over `MEMORY_TARGET_MB`, cold symbols and idle
//! exchange instances).
//!
//! Requests reach it only when the caller found no running actor for its symbol (or the
//! markets are not loaded yet): cache hits and calls to running actors bypass it, reading the
//! shared [`Directory`] instead.
//!
//! Files: `markets` (each exchange's market list, loading and reloading), `symbols` (the
//! symbol actors: started, stopped when idle, evicted over capacity), `feeds` (the venues'
//! live feeds: what they carry and where their events go), `messages`.

mod feeds;
mod markets;
mod messages;
mod symbols;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Actor, Addr, AsyncContext, Context, Handler};

use crate::bridge::RedisBridge;
use crate::cache::SymbolLru;
use crate::directory::{Directory, SymbolEntry, VenueDirectory};
use crate::error::EngineError;
use crate::io::ExchangeIo;
use crate::memory::{release_free_memory, MemoryTarget, OverTarget};
use crate::miss::MissPath;
use crate::venue::Feed;
use markets::{Markets, Pending};
pub(crate) use messages::{Delivery, GetMarkets, LiveWanted, Route, SymbolActorCount, Unwatch};

struct VenueSlot {
    directory: Arc<VenueDirectory>,
    /// Spot markets.
    markets: Markets,
    /// A reload of loaded markets is under way (requests keep using the loaded ones).
    refreshing: bool,
    /// Derivative markets: loaded on first use of a derivative, reloaded like spot's.
    derivatives: Markets,
    refreshing_derivatives: bool,
    last_early_reload_ms: i64,
    /// The venue's live feed, if it has one. It carries the ticker stream of every watched
    /// symbol (each [`SymbolEntry`] counts its watchers; the feed hears the first and last).
    feed: Option<Arc<dyn Feed>>,
}

type SymbolKey = (Arc<str>, Arc<str>);

/// How the router is set up.
pub(crate) struct RouterSettings {
    /// Where markets loads run.
    pub io: ExchangeIo,
    /// A symbol actor unused for this long is stopped (its values stay until they expire or
    /// are evicted).
    pub idle_after: Duration,
    /// Age after which an exchange's market list is reloaded (the old one keeps serving).
    pub markets_refresh: Duration,
    /// Messages the router and each symbol actor queue before callers are told "busy".
    pub mailbox_capacity: usize,
    /// With Redis: decides which node streams a symbol (one feed per symbol cluster-wide).
    pub bridge: Option<Addr<RedisBridge>>,
    /// `MEMORY_TARGET_MB`: over it, idle exchange instances and cold symbols are shed.
    pub memory_target_mb: Option<u64>,
}

pub(crate) struct Router {
    directory: Arc<Directory>,
    slots: HashMap<Arc<str>, VenueSlot>,
    symbols: SymbolLru<SymbolKey, Arc<SymbolEntry>>,
    /// Handed to every symbol actor: how their misses are filled, and this router's inbox for
    /// what the misses find out.
    miss: Arc<MissPath>,
    io: ExchangeIo,
    idle_after: Duration,
    markets_refresh: Duration,
    mailbox_capacity: usize,
    bridge: Option<Addr<RedisBridge>>,
    memory: Option<MemoryTarget>,
}

impl Router {
    /// Starts the router, its mailbox bounded by `settings.mailbox_capacity` before the first
    /// message can arrive.
    pub fn start(directory: Arc<Directory>, settings: RouterSettings) -> Addr<Self> {
        Self::create(|ctx| {
            ctx.set_mailbox_capacity(settings.mailbox_capacity);
            let miss = Arc::new(Self::miss_path(
                &ctx.address(),
                directory.clone(),
                settings.io.clone(),
            ));
            Self::new(directory, miss, settings)
        })
    }

    /// The miss path whose findings (rejected symbols, over capacity) come to `router`.
    pub fn miss_path(router: &Addr<Self>, directory: Arc<Directory>, io: ExchangeIo) -> MissPath {
        MissPath::new(
            directory,
            io,
            router.downgrade().recipient(),
            router.downgrade().recipient(),
        )
    }

    fn new(directory: Arc<Directory>, miss: Arc<MissPath>, settings: RouterSettings) -> Self {
        let slots = directory
            .venues()
            .map(|venue| {
                let slot = VenueSlot {
                    directory: venue.clone(),
                    markets: Markets::Unloaded,
                    refreshing: false,
                    derivatives: Markets::Unloaded,
                    refreshing_derivatives: false,
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
            miss,
            io: settings.io,
            idle_after: settings.idle_after,
            markets_refresh: settings.markets_refresh,
            mailbox_capacity: settings.mailbox_capacity,
            bridge: settings.bridge,
            memory: settings.memory_target_mb.map(MemoryTarget::new),
        }
    }

    fn unknown_exchange(exchange: &str) -> EngineError {
        EngineError::InvalidArgument(format!("exchange {exchange} is not enabled on this server"))
    }

    /// Stops idle actors, drops symbols with nothing left to serve, reloads old markets.
    fn tick(&mut self, ctx: &mut Context<Self>) {
        let now = self.directory.now_ms();
        self.stop_idle(now);
        if self.directory.over_capacity() {
            self.trim();
        }
        let over = self.memory.as_mut().and_then(|m| m.check(Instant::now()));
        if let Some(over) = over {
            self.shed(over, now, ctx);
        }
        self.reload_old_markets(now, ctx);
    }

    /// Over `MEMORY_TARGET_MB`: drops what is cheapest to make again (idle exchange
    /// instances, then the state of cold symbols), and hands the freed pages back.
    fn shed(&mut self, over: OverTarget, now: i64, ctx: &mut Context<Self>) {
        let instances: usize = self
            .directory
            .venues()
            .map(|venue| venue.venue.shed_idle())
            .sum();
        let symbols = self.shed_cold(now);
        let mb = |bytes: u64| bytes / (1024 * 1024);
        if over.newly {
            tracing::warn!(
                resident_mb = mb(over.resident),
                target_mb = mb(over.target),
                instances,
                symbols,
                "over MEMORY_TARGET_MB: shedding idle exchange instances and cold symbols"
            );
        } else {
            tracing::debug!(
                resident_mb = mb(over.resident),
                instances,
                symbols,
                "still over MEMORY_TARGET_MB"
            );
        }
        ctx.spawn(actix::fut::wrap_future(release_free_memory()));
    }
}

impl Actor for Router {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        for (exchange, slot) in &self.slots {
            if let Some(feed) = &slot.feed {
                feed.set_sink(feeds::direct_delivery(
                    self.directory.clone(),
                    exchange.clone(),
                ));
                feed.set_live_sink(feeds::live_delivery(
                    self.directory.clone(),
                    exchange.clone(),
                ));
                ctx.add_stream(feeds::feed_events(exchange.clone(), feed.events()));
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
