//! The engine: builds the exchange adapters and the actors, and is the one handle every front
//! end (MCP server, Redis worker) uses. Cheap to clone, `Send + Sync`.
//!
//! A request costs, at most:
//! - a cache hit: resolve the symbol against the shared markets, read the symbol's state. No
//!   mailbox hop, no global lock.
//! - a miss on a running symbol: one hop to its actor (single flight, exchange call).
//! - a symbol's first request (or one before the markets are loaded): a hop to the router,
//!   which starts the actor, then one to the actor.
//!
//! Files: `fetch` (one symbol's data: the hit path and the hops of a miss; watches; markets),
//! `tickers` (many tickers at once, the misses fetched in one batch), `compare`, `failover`
//! and `status` (across venues, and each venue's health).

mod all_tickers;
mod compare;
mod failover;
mod fetch;
mod status;
mod tickers;

// Named in the engine's signatures (their modules are the crate's own).
pub use crate::cache::CacheStats;
pub use crate::directory::MarketsAnswer;
pub use compare::Comparison;
pub use status::ExchangeStatus;

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;

use crate::cache::{RemoteCache, TtlPolicy};
use crate::directory::{Directory, VenueDirectory};
use crate::error::EngineError;
use crate::io::IoRuntime;
use crate::miss::MissPath;
use crate::model::Clock;
use crate::router::{Router, RouterSettings, SymbolActorCount};
use crate::venue::{CcxtExchange, Exchange, FeedStats, VenueConfig};

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Exchange used when a request names none.
    pub default_exchange: String,
    /// Every exchange a request may name (the default one included).
    pub venues: Vec<VenueConfig>,
    pub cache_ttl: Duration,
    /// How long past its TTL a value may still be served `stale: true` when the exchange fails.
    pub cache_stale_ttl: Duration,
    /// Most values kept in memory, across all symbols (least recently used symbols go first).
    pub cache_capacity: NonZeroUsize,
    /// A symbol actor unused for this long stops (memory stays bounded with many symbols).
    pub symbol_idle_after: Duration,
    /// Age after which an exchange's market list is reloaded in the background.
    pub markets_refresh: Duration,
    /// Threads running exchange I/O and reply parsing; 0: on the actors' thread.
    pub io_threads: usize,
    /// Requests the router (and each symbol actor) queues before answering `rate_limited`
    /// ("busy") instead of growing memory under a flood.
    pub mailbox_capacity: usize,
    /// The clock of every freshness decision (tests advance it instead of sleeping).
    pub clock: Clock,
    /// Redis as a shared cache layer under the in-memory one (`USE_REDIS_CACHE`).
    pub remote_cache: Option<crate::redis_target::RedisTarget>,
    /// A request naming no exchange fails over to the next one when the default cannot
    /// answer fresh (`FAILOVER`).
    pub failover: bool,
    /// `MEMORY_TARGET_MB`: resident memory over which idle exchange instances and cold
    /// symbols are shed; `None`: no target.
    pub memory_target_mb: Option<u64>,
}

/// What a front end needs to validate a request for an exchange before sending it.
#[derive(Debug, Clone)]
pub struct ExchangeInfo {
    pub id: Arc<str>,
    pub timeframes: Vec<String>,
    /// Deadline of one call to it.
    pub timeout: Duration,
    /// Most book levels a side one call to it gives (`estimate_fill` grows its depth up to it).
    pub max_book_depth: u32,
}

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    router: Addr<Router>,
    directory: Arc<Directory>,
    /// The batched ticker misses go the symbol actors' way (see [`crate::miss`]).
    miss: MissPath,
    exchanges: Vec<ExchangeInfo>,
    default_exchange: Arc<str>,
    failover: bool,
    /// Each venue's last all-tickers reply (`top_movers`).
    all_tickers: all_tickers::AllTickersCache,
    /// Held for its lifetime: the exchange I/O threads stop when the engine is dropped.
    _io: IoRuntime,
}

impl Engine {
    /// Builds the ccxt adapters from `config` and starts the actors. Call inside an actix System.
    pub fn start(config: EngineConfig) -> Result<Self, EngineError> {
        let venues = config
            .venues
            .iter()
            .map(|venue| {
                CcxtExchange::new(venue)
                    .map(|exchange| Arc::new(exchange) as Arc<dyn Exchange>)
                    .map_err(|e| EngineError::from_venue(&venue.id, None, e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::start_with_venues(config, venues)
    }

    /// Starts the actors over the given adapters (any [`Exchange`] implementation).
    pub fn start_with_venues(
        config: EngineConfig,
        venues: Vec<Arc<dyn Exchange>>,
    ) -> Result<Self, EngineError> {
        if !venues.iter().any(|v| v.id() == config.default_exchange) {
            return Err(EngineError::InvalidArgument(format!(
                "default exchange {} is not among the enabled exchanges",
                config.default_exchange
            )));
        }
        let io = IoRuntime::new(config.io_threads).map_err(|e| {
            EngineError::Internal(format!("cannot start the exchange I/O runtime: {e}"))
        })?;
        let exchanges = venues
            .iter()
            .map(|v| ExchangeInfo {
                id: Arc::from(v.id()),
                timeframes: v.timeframes().to_vec(),
                timeout: config
                    .venues
                    .iter()
                    .find(|c| c.id == v.id())
                    .map_or(Duration::from_secs(10), |c| c.timeout),
                max_book_depth: v.max_book_depth(),
            })
            .collect();
        let directory = Arc::new(Directory::new(
            venues,
            TtlPolicy::new(config.cache_ttl, config.cache_stale_ttl),
            config.cache_capacity,
            config.clock.clone(),
            config.remote_cache.clone().map(|target| {
                // A lease outlives the slowest exchange call it covers.
                let slowest = config.venues.iter().map(|v| v.timeout).max();
                let lease = slowest.unwrap_or(Duration::from_secs(10)) + Duration::from_secs(1);
                Arc::new(RemoteCache::new(target, lease))
            }),
        ));
        let mut bridge = None;
        if let Some(remote) = &directory.remote {
            // One request-weight budget per IP: every process on this Redis shares it.
            for venue in directory.venues() {
                venue.venue.share_budget(remote.clone());
            }
            let feeds = directory
                .venues()
                .filter_map(|v| v.venue.feed().map(|feed| (v.id.clone(), feed)))
                .collect::<std::collections::HashMap<_, _>>();
            if !feeds.is_empty() {
                let redis_bridge =
                    crate::bridge::RedisBridge::new(remote.clone(), feeds, directory.clone());
                bridge = Some(actix::Actor::start(redis_bridge));
            }
        }
        let router = Router::start(
            directory.clone(),
            RouterSettings {
                io: io.place(),
                idle_after: config.symbol_idle_after,
                markets_refresh: config.markets_refresh,
                mailbox_capacity: config.mailbox_capacity.max(1),
                bridge,
                memory_target_mb: config.memory_target_mb,
            },
        );
        let miss = Router::miss_path(&router, directory.clone(), io.place());
        Ok(Self {
            inner: Arc::new(Inner {
                router,
                directory,
                miss,
                exchanges,
                default_exchange: Arc::from(config.default_exchange.as_str()),
                failover: config.failover,
                all_tickers: Default::default(),
                _io: io,
            }),
        })
    }

    /// The named exchange (or the default one) if it is enabled.
    pub fn exchange(&self, name: Option<&str>) -> Result<&ExchangeInfo, EngineError> {
        self.exchange_for("exchange", name)
    }

    /// [`Engine::exchange`], the error naming `argument` (the tool argument it came from).
    pub(crate) fn exchange_for(
        &self,
        argument: &str,
        name: Option<&str>,
    ) -> Result<&ExchangeInfo, EngineError> {
        let name = name
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or(&self.inner.default_exchange);
        self.inner
            .exchanges
            .iter()
            .find(|e| e.id.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                let enabled: Vec<&str> = self.inner.exchanges.iter().map(|e| &*e.id).collect();
                EngineError::InvalidArgument(format!(
                    "{argument}: {name} is not enabled here (enabled: {})",
                    enabled.join(", ")
                ))
            })
    }

    pub fn exchanges(&self) -> &[ExchangeInfo] {
        &self.inner.exchanges
    }

    fn venue(&self, exchange: &ExchangeInfo) -> Result<&Arc<VenueDirectory>, EngineError> {
        self.inner.directory.venue(&exchange.id).ok_or_else(|| {
            EngineError::InvalidArgument(format!("exchange {} is not enabled", exchange.id))
        })
    }

    /// The exchange's live feed counters, when it has a feed.
    pub fn feed_stats(&self, exchange: &ExchangeInfo) -> Option<FeedStats> {
        let venue = self.venue(exchange).ok()?;
        venue.venue.feed().map(|feed| feed.stats())
    }

    /// (hits, misses) of the Redis layer, when this node uses one.
    pub fn remote_cache_counts(&self) -> Option<(u64, u64)> {
        self.inner.directory.remote.as_ref().map(|r| r.counts())
    }

    pub fn clock(&self) -> &Clock {
        &self.inner.directory.clock
    }

    pub fn cache_stats(&self) -> CacheStats {
        self.inner
            .directory
            .counters
            .stats(self.inner.directory.capacity)
    }

    pub async fn symbol_actor_count(&self) -> Result<usize, EngineError> {
        self.inner
            .router
            .send(SymbolActorCount)
            .await
            .map_err(|_| dropped())
    }
}

/// The actor holding a request went away without answering (it was restarted or stopped).
fn dropped() -> EngineError {
    EngineError::Internal("the request was dropped inside the engine; please retry".to_owned())
}
