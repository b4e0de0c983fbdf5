//! The engine: builds the exchange adapters, the shared cache and the router, and is the one
//! handle every front end (MCP server, Redis worker) uses. Cheap to clone, `Send + Sync`.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Addr};
use tokio::sync::oneshot;

use crate::cache::{CacheStats, MarketCache};
use crate::error::EngineError;
use crate::model::DataRequest;
use crate::router::{GetMarkets, MarketsAnswer, Route, Router, SymbolActorCount};
use crate::symbol::Reply;
use crate::venue::{CcxtExchange, Exchange, VenueConfig};

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Exchange used when a request names none.
    pub default_exchange: String,
    /// Every exchange a request may name (the default one included).
    pub venues: Vec<VenueConfig>,
    pub cache_ttl: Duration,
    /// How long past its TTL a value may still be served `stale: true` when the exchange fails.
    pub cache_stale_ttl: Duration,
    pub cache_capacity: NonZeroUsize,
    /// A symbol actor unused for this long stops (memory stays bounded with many symbols).
    pub symbol_idle_after: Duration,
    /// Age after which an exchange's market list is reloaded in the background.
    pub markets_refresh: Duration,
    /// Threads running exchange I/O and reply parsing.
    pub io_threads: usize,
}

/// What a front end needs to validate a request for an exchange before sending it.
#[derive(Debug, Clone)]
pub struct ExchangeInfo {
    pub id: Arc<str>,
    pub timeframes: Vec<String>,
}

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    router: Addr<Router>,
    cache: Arc<MarketCache>,
    exchanges: Vec<ExchangeInfo>,
    default_exchange: Arc<str>,
    _io: IoRuntime,
}

/// The exchange I/O runtime. Shut down in the background on drop, so that dropping the engine
/// from async code (where a blocking runtime shutdown panics) is fine.
struct IoRuntime(Option<tokio::runtime::Runtime>);

impl Drop for IoRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
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
        let io = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.io_threads.max(1))
            .thread_name("exchange-io")
            .enable_all()
            .build()
            .map_err(|e| {
                EngineError::Internal(format!("cannot start the exchange I/O runtime: {e}"))
            })?;
        let cache = Arc::new(MarketCache::new(
            config.cache_capacity,
            config.cache_ttl,
            config.cache_stale_ttl,
        ));
        let exchanges = venues
            .iter()
            .map(|v| ExchangeInfo {
                id: Arc::from(v.id()),
                timeframes: v.timeframes().to_vec(),
            })
            .collect();
        let router = Router::new(
            venues,
            cache.clone(),
            io.handle().clone(),
            config.symbol_idle_after,
            config.markets_refresh,
        )
        .start();
        Ok(Self {
            inner: Arc::new(Inner {
                router,
                cache,
                exchanges,
                default_exchange: Arc::from(config.default_exchange.as_str()),
                _io: IoRuntime(Some(io)),
            }),
        })
    }

    /// The named exchange (or the default one) if it is enabled.
    pub fn exchange(&self, name: Option<&str>) -> Result<&ExchangeInfo, EngineError> {
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
                    "exchange: {name} is not enabled here (enabled: {})",
                    enabled.join(", ")
                ))
            })
    }

    pub fn exchanges(&self) -> &[ExchangeInfo] {
        &self.inner.exchanges
    }

    /// Serves one symbol's data: cache, else one shared exchange call.
    pub async fn fetch(
        &self,
        exchange: &ExchangeInfo,
        symbol: &str,
        request: DataRequest,
    ) -> Reply {
        let (reply, answer) = oneshot::channel();
        self.inner.router.do_send(Route {
            exchange: exchange.id.clone(),
            symbol: symbol.to_owned(),
            request,
            reply,
        });
        answer.await.unwrap_or_else(|_| Err(dropped()))
    }

    /// The exchange's markets, loaded once.
    pub async fn markets(&self, exchange: &ExchangeInfo) -> Result<MarketsAnswer, EngineError> {
        let (reply, answer) = oneshot::channel();
        self.inner.router.do_send(GetMarkets {
            exchange: exchange.id.clone(),
            reply,
        });
        answer.await.unwrap_or_else(|_| Err(dropped()))
    }

    pub fn cache_stats(&self) -> CacheStats {
        self.inner.cache.stats()
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
