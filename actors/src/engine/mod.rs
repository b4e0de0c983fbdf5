//! The engine: builds the exchange adapters and the actors, and is the one handle every front
//! end (MCP server, Redis worker) uses. Cheap to clone, `Send + Sync`.
//!
//! A request costs, at most:
//! - a cache hit: resolve the symbol against the shared markets, read the symbol's state. No
//!   mailbox hop, no global lock.
//! - a miss on a running symbol: one hop to its actor (single flight, exchange call).
//! - a symbol's first request (or one before the markets are loaded): a hop to the router,
//!   which starts the actor, then one to the actor.

mod compare;
mod failover;
mod status;

pub use compare::Comparison;
pub use status::ExchangeStatus;

use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use actix::dev::SendError;
use actix::{Actor, Addr};
use futures::FutureExt;
use tokio::sync::oneshot;

use crate::cache::{Age, CacheKey, CacheStats, RemoteCache, TtlPolicy};
use crate::error::EngineError;
use crate::io::{ExchangeIo, IoRuntime};
use crate::model::{Clock, DataRequest, MarketData, Source};
use crate::router::{
    Delivery, Directory, GetMarkets, MarketsAnswer, Route, Router, SymbolActorCount,
    SymbolRejected, VenueDirectory,
};
use crate::symbol::{Answer, Fetch, Lookup, Reply, Stamped, Store};
use crate::ticker_watch::TickerWatch;
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
    /// Threads running exchange I/O and reply parsing; 0: on the actors' thread (see [`ExchangeIo`]).
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
}

/// What a front end needs to validate a request for an exchange before sending it.
#[derive(Debug, Clone)]
pub struct ExchangeInfo {
    pub id: Arc<str>,
    pub timeframes: Vec<String>,
    /// Deadline of one call to it.
    pub timeout: Duration,
}

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    router: Addr<Router>,
    directory: Arc<Directory>,
    exchanges: Vec<ExchangeInfo>,
    default_exchange: Arc<str>,
    failover: bool,
    io: IoRuntime,
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
        let mut router = Router::new(
            directory.clone(),
            io.place(),
            config.symbol_idle_after,
            config.markets_refresh,
            config.mailbox_capacity.max(1),
        );
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
                let bridge =
                    crate::bridge::RedisBridge::new(remote.clone(), feeds, directory.clone());
                router = router.with_bridge(bridge.start());
            }
        }
        // The bound is set before the first message can arrive, not when the actor first runs.
        let router = Router::create(|ctx| {
            ctx.set_mailbox_capacity(config.mailbox_capacity.max(1));
            router
        });
        Ok(Self {
            inner: Arc::new(Inner {
                router,
                directory,
                exchanges,
                default_exchange: Arc::from(config.default_exchange.as_str()),
                failover: config.failover,
                io,
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

    /// Serves one symbol's data: its state when fresh, else one shared exchange call.
    pub async fn fetch(
        &self,
        exchange: &ExchangeInfo,
        symbol: &str,
        request: DataRequest,
    ) -> Reply {
        let venue = self.venue(exchange)?;
        let now = self.inner.directory.now_ms();
        let Some(resolved) = venue.resolve(symbol, now)? else {
            // Markets not loaded yet: the router loads them, then resolves.
            self.inner.directory.counters.miss();
            return self.route(&exchange.id, symbol.to_owned(), request).await;
        };
        let Some(entry) = resolved.entry else {
            self.inner.directory.counters.miss();
            return self
                .route(&exchange.id, resolved.symbol.to_string(), request)
                .await;
        };
        entry.state.touch(now);
        let upstream = request.upstream();
        let policy = &self.inner.directory.policy;
        if let Lookup::Fresh(held) = entry.state.lookup(&upstream, policy, now, true) {
            return Ok(Answer::new(
                entry.exchange.clone(),
                entry.symbol.clone(),
                held.served(false, now),
                &request,
            ));
        }
        let Some(actor) = entry.actor() else {
            return self
                .route(&exchange.id, resolved.symbol.to_string(), request)
                .await;
        };
        let (reply, answer) = oneshot::channel();
        match actor.try_send(Fetch { request, reply }) {
            Ok(()) => answer.await.unwrap_or_else(|_| Err(dropped())),
            Err(SendError::Full(_)) => Err(EngineError::busy("symbol")),
            // Stopped (idle) since we looked: the router starts it again.
            Err(SendError::Closed(Fetch { request, .. })) => {
                self.route(&exchange.id, resolved.symbol.to_string(), request)
                    .await
            }
        }
    }

    async fn route(&self, exchange: &Arc<str>, symbol: String, request: DataRequest) -> Reply {
        let (reply, answer) = oneshot::channel();
        let route = Route {
            exchange: exchange.clone(),
            symbol,
            delivery: Delivery::Fetch { request, reply },
        };
        match self.inner.router.try_send(route) {
            Ok(()) => answer.await.unwrap_or_else(|_| Err(dropped())),
            Err(SendError::Full(_)) => Err(EngineError::busy("router")),
            Err(SendError::Closed(_)) => Err(dropped()),
        }
    }

    /// Tickers of many symbols at once. Symbols that name the same market are answered once
    /// (the first spelling is kept); fresh ones come from their state, and the rest are
    /// fetched together, so the exchange adapter can batch them (Binance: up to 20 symbols a
    /// call). Each input gets its own answer or error.
    pub async fn fetch_tickers(
        &self,
        exchange: &ExchangeInfo,
        symbols: &[String],
    ) -> Vec<(String, Reply)> {
        let venue = match self.venue(exchange) {
            Ok(venue) => venue.clone(),
            Err(e) => {
                return symbols
                    .iter()
                    .map(|s| (s.clone(), Err(e.clone())))
                    .collect()
            }
        };
        if venue.markets().is_none() {
            if let Err(e) = self.markets(exchange).await {
                return symbols
                    .iter()
                    .map(|s| (s.clone(), Err(e.clone())))
                    .collect();
            }
        }
        let now = self.inner.directory.now_ms();
        let policy = self.inner.directory.policy;
        let mut seen = HashSet::new();
        let mut answers: Vec<(String, Option<Reply>)> = Vec::with_capacity(symbols.len());
        let mut missing: Vec<(usize, Arc<str>)> = Vec::new();
        for input in symbols {
            let resolved = match venue.resolve(input, now) {
                Ok(Some(resolved)) => resolved,
                Ok(None) => {
                    answers.push((input.clone(), Some(Err(dropped()))));
                    continue;
                }
                Err(e) => {
                    answers.push((input.clone(), Some(Err(e))));
                    continue;
                }
            };
            if !seen.insert(resolved.symbol.clone()) {
                continue;
            }
            let hit = resolved.entry.as_ref().and_then(|entry| {
                entry.state.touch(now);
                match entry.state.lookup(&DataRequest::Ticker, &policy, now, true) {
                    Lookup::Fresh(held) => Some(held.served(false, now)),
                    _ => None,
                }
            });
            match hit {
                Some(served) => answers.push((
                    input.clone(),
                    Some(Ok(Answer::new(
                        venue.id.clone(),
                        resolved.symbol.clone(),
                        served,
                        &DataRequest::Ticker,
                    ))),
                )),
                None => {
                    if resolved.entry.is_none() {
                        self.inner.directory.counters.miss();
                    }
                    missing.push((answers.len(), resolved.symbol.clone()));
                    answers.push((input.clone(), None));
                }
            }
        }
        if !missing.is_empty() {
            let fetched = self.fetch_missing_tickers(&venue, &missing).await;
            for ((slot, _), reply) in missing.iter().zip(fetched) {
                answers[*slot].1 = Some(reply);
            }
        }
        answers
            .into_iter()
            .map(|(input, reply)| (input, reply.unwrap_or_else(|| Err(dropped()))))
            .collect()
    }

    /// One exchange round for `missing` tickers; each result is handed to its symbol's actor
    /// (the state's only writer), and a failure falls back to a stale value if there is one.
    async fn fetch_missing_tickers(
        &self,
        venue: &Arc<VenueDirectory>,
        missing: &[(usize, Arc<str>)],
    ) -> Vec<Reply> {
        // What another node fetched fresh is shared, not fetched again.
        let mut shared: HashMap<Arc<str>, Stamped> = HashMap::new();
        if let Some(remote) = &self.inner.directory.remote {
            for (_, symbol) in missing {
                let key = CacheKey {
                    exchange: venue.id.clone(),
                    symbol: symbol.clone(),
                    request: DataRequest::Ticker,
                };
                if let Some(stamped) = remote.get(&key).await {
                    let now = self.inner.directory.now_ms();
                    if self.inner.directory.policy.age(stamped.fetched_at_ms, now) == Age::Fresh {
                        shared.insert(symbol.clone(), stamped);
                    }
                }
            }
        }
        let names: Vec<String> = missing
            .iter()
            .filter(|(_, s)| !shared.contains_key(s))
            .map(|(_, s)| s.to_string())
            .collect();
        let exchange = venue.venue.clone();
        // Called from a front end's task, which may not be inside the actors' `LocalSet`:
        // locally, the call runs right here (a panic caught, as a spawned task's would be).
        let nothing_to_fetch = names.is_empty();
        let call = async move { exchange.fetch_tickers(&names).await };
        let joined = if nothing_to_fetch {
            Ok(HashMap::new())
        } else {
            match self.inner.io.place() {
                ExchangeIo::Runtime(handle) => handle.spawn(call).await.map_err(|e| e.to_string()),
                ExchangeIo::Local => std::panic::AssertUnwindSafe(call)
                    .catch_unwind()
                    .await
                    .map_err(|_| "the exchange call panicked".to_owned()),
            }
        };
        let mut results = match joined {
            Ok(results) => results,
            Err(e) => {
                let error = EngineError::Internal(format!(
                    "fetching tickers failed inside the engine ({e})"
                ));
                return missing.iter().map(|_| Err(error.clone())).collect();
            }
        };
        let fetched_at_ms = self.inner.directory.now_ms();
        missing
            .iter()
            .map(|(_, symbol)| {
                if let Some(stamped) = shared.remove(symbol) {
                    self.store(venue, symbol, stamped.clone());
                    return Ok(Answer::new(
                        venue.id.clone(),
                        symbol.clone(),
                        stamped.served_fresh(self.inner.directory.now_ms()),
                        &DataRequest::Ticker,
                    ));
                }
                let result = results.remove(symbol.as_ref()).unwrap_or_else(|| {
                    Err(crate::venue::VenueError::Malformed(format!(
                        "no {symbol} in the reply"
                    )))
                });
                match result {
                    Ok(ticker) => {
                        let stamped = Stamped {
                            value: Arc::new(MarketData::Ticker(ticker)),
                            origin: Source::Exchange,
                            fetched_at_ms,
                        };
                        self.store(venue, symbol, stamped.clone());
                        let key = CacheKey {
                            exchange: venue.id.clone(),
                            symbol: symbol.clone(),
                            request: DataRequest::Ticker,
                        };
                        self.inner
                            .directory
                            .mirror(&self.inner.io.place(), key, &stamped);
                        Ok(Answer::new(
                            venue.id.clone(),
                            symbol.clone(),
                            stamped.served_fresh(fetched_at_ms),
                            &DataRequest::Ticker,
                        ))
                    }
                    Err(venue_error) => {
                        let error = EngineError::from_venue(&venue.id, Some(symbol), venue_error);
                        self.after_failure(venue, symbol, error)
                    }
                }
            })
            .collect()
    }

    /// Gives a ticker fetched here to its symbol's actor, the only writer of its state.
    fn store(&self, venue: &VenueDirectory, symbol: &Arc<str>, stamped: Stamped) {
        let upstream = DataRequest::Ticker;
        // A store that finds a mailbox full is dropped: the caller has its answer already.
        if let Some(actor) = venue.symbol(symbol).and_then(|entry| entry.actor()) {
            let _ = actor.try_send(Store {
                upstream,
                stamped,
                from_own_feed: false,
            });
            return;
        }
        // No running actor: the router starts one.
        let _ = self.inner.router.try_send(Route {
            exchange: venue.id.clone(),
            symbol: symbol.to_string(),
            delivery: Delivery::Store {
                upstream,
                stamped,
                from_own_feed: false,
            },
        });
    }

    fn after_failure(
        &self,
        venue: &VenueDirectory,
        symbol: &Arc<str>,
        error: EngineError,
    ) -> Reply {
        if matches!(error, EngineError::InvalidSymbol { .. }) {
            let _ = self.inner.router.try_send(SymbolRejected {
                exchange: venue.id.clone(),
                symbol: symbol.clone(),
            });
        }
        if !error.allows_stale() {
            return Err(error);
        }
        let policy = self.inner.directory.policy;
        let now = self.inner.directory.now_ms();
        let held = venue.symbol(symbol).map(|entry| {
            entry
                .state
                .lookup(&DataRequest::Ticker, &policy, now, false)
        });
        let served = match held {
            Some(Lookup::Fresh(held)) => held.served(false, now),
            Some(Lookup::Stale(held)) => held.served(true, now),
            _ => return Err(error),
        };
        Ok(Answer::new(
            venue.id.clone(),
            symbol.clone(),
            served,
            &DataRequest::Ticker,
        ))
    }

    /// Watches `symbol`'s ticker: from now until the returned watch is dropped, the symbol is
    /// kept fresh (the venue's live feed where it has one, else REST polling at the TTL) and
    /// every ticker it stores is handed to the watch. Pushed values are served to every
    /// request with `source: stream`.
    pub async fn watch_ticker(
        &self,
        exchange: &ExchangeInfo,
        symbol: &str,
    ) -> Result<TickerWatch, EngineError> {
        let (reply, answer) = oneshot::channel();
        let route = Route {
            exchange: exchange.id.clone(),
            symbol: symbol.to_owned(),
            delivery: Delivery::Watch { reply },
        };
        // send, not try_send: a watch is rare and worth queueing for.
        if self.inner.router.send(route).await.is_err() {
            return Err(dropped());
        }
        let entry = answer.await.unwrap_or_else(|_| Err(dropped()))?;
        Ok(TickerWatch::new(
            entry,
            self.inner.directory.clone(),
            self.inner.router.clone(),
        ))
    }

    /// The exchange's live feed counters, when it has a feed.
    pub fn feed_stats(&self, exchange: &ExchangeInfo) -> Option<FeedStats> {
        let venue = self.venue(exchange).ok()?;
        venue.venue.feed().map(|feed| feed.stats())
    }

    /// The exchange's markets, loaded once.
    pub async fn markets(&self, exchange: &ExchangeInfo) -> Result<MarketsAnswer, EngineError> {
        if let Some(markets) = self.venue(exchange)?.markets() {
            return Ok(markets);
        }
        let (reply, answer) = oneshot::channel();
        let get = GetMarkets {
            exchange: exchange.id.clone(),
            reply,
        };
        match self.inner.router.try_send(get) {
            Ok(()) => answer.await.unwrap_or_else(|_| Err(dropped())),
            Err(SendError::Full(_)) => Err(EngineError::busy("router")),
            Err(SendError::Closed(_)) => Err(dropped()),
        }
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
