//! The one miss path. A symbol actor missing one request and the engine missing a batch of
//! tickers go the same way:
//!
//! 1. the shared layer (Redis) first: a fresh value another node fetched is served as it is;
//! 2. else the exchange, and what it answered is shared with the cluster;
//! 3. the value is kept by the symbol's actor, the only writer of its state ([`MissPath::store`]);
//! 4. a failure falls back to a recent value marked stale ([`MissPath::fallback`]), and a symbol
//!    the exchange rejected though its market list has it is reported to the router.
//!
//! One request takes the key's lease in Redis while it calls the exchange (the other nodes
//! wait for its value: cluster-wide single flight); a batch only reads what is there, so one
//! slow key never holds up the whole batch.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::{Message, WeakRecipient};
use futures::FutureExt;
use tokio::task::JoinHandle;

use crate::cache::{Age, Claim};
use crate::directory::{Directory, Lookup, Offered, SymbolEntry, VenueDirectory};
use crate::error::EngineError;
use crate::io::ExchangeIo;
use crate::model::{CacheKey, DataRequest, MarketData, Served, Source, Stamped};
use crate::venue::{Exchange, VenueError};

/// The exchange rejected a symbol its market list has (delisted since the list was loaded):
/// remember that, and reload the list early.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct SymbolRejected {
    pub exchange: Arc<str>,
    pub symbol: Arc<str>,
}

/// The process holds more values than its capacity: evict least recently used symbols.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Trim;

/// The steps every miss shares, with what they need: the read side, where exchange calls and
/// Redis writes run, and the router's inbox for what a miss finds out (weak: the router holds
/// its own miss path, and must still stop once the engine lets go of it).
pub(crate) struct MissPath {
    directory: Arc<Directory>,
    io: ExchangeIo,
    rejected: WeakRecipient<SymbolRejected>,
    trim: WeakRecipient<Trim>,
}

impl MissPath {
    pub fn new(
        directory: Arc<Directory>,
        io: ExchangeIo,
        rejected: WeakRecipient<SymbolRejected>,
        trim: WeakRecipient<Trim>,
    ) -> Self {
        Self {
            directory,
            io,
            rejected,
            trim,
        }
    }

    pub fn directory(&self) -> &Arc<Directory> {
        &self.directory
    }

    /// One request's miss, run where exchange calls run: Redis first (a fresh shared value,
    /// else the key's lease, else the lease holder's value), else the exchange, whose answer is
    /// stored in Redis (under the lease: announced to the nodes waiting for it) before it
    /// returns. Call from an actor (a `LocalSet`).
    pub fn fetch(
        &self,
        venue: Arc<dyn Exchange>,
        key: CacheKey,
    ) -> JoinHandle<Result<Stamped, VenueError>> {
        let directory = self.directory.clone();
        self.io.spawn(async move {
            let fetch = async {
                let data = venue.fetch(&key.symbol, &key.request).await?;
                Ok::<_, VenueError>(stamp(&directory, data))
            };
            let Some(remote) = &directory.remote else {
                return fetch.await;
            };
            let leased = match remote
                .claim(&key, |s| is_fresh(&directory, &key.request, s))
                .await
            {
                Claim::Shared(shared) => return Ok(shared),
                Claim::Leased => true,
                Claim::Alone => false,
            };
            match fetch.await {
                Ok(stamped) => {
                    let ttl_left = fresh_for(&directory, &key.request, &stamped);
                    if leased {
                        remote.fill(&key, &stamped, ttl_left).await;
                    } else {
                        remote.put(&key, &stamped, ttl_left).await;
                    }
                    Ok(stamped)
                }
                Err(e) => {
                    if leased {
                        remote.release(&key).await;
                    }
                    Err(e)
                }
            }
        })
    }

    /// Many tickers' miss in one exchange round (the adapter batches them: Binance, up to 20
    /// symbols a call): what Redis holds fresh is taken from there, the rest fetched together,
    /// and each fetched one shared in the background. One outcome per symbol, in order. Safe to
    /// call from any task, inside the actors' `LocalSet` or not.
    pub async fn fetch_tickers(
        &self,
        venue: &VenueDirectory,
        symbols: &[Arc<str>],
    ) -> Vec<Result<Stamped, EngineError>> {
        let key = |symbol: &Arc<str>| CacheKey {
            exchange: venue.id.clone(),
            symbol: symbol.clone(),
            request: DataRequest::Ticker,
        };
        let mut shared: HashMap<Arc<str>, Stamped> = HashMap::new();
        if let Some(remote) = &self.directory.remote {
            for symbol in symbols {
                if let Some(stamped) = remote.get(&key(symbol)).await {
                    if is_fresh(&self.directory, &DataRequest::Ticker, &stamped) {
                        shared.insert(symbol.clone(), stamped);
                    }
                }
            }
        }
        let names: Vec<String> = symbols
            .iter()
            .filter(|s| !shared.contains_key(*s))
            .map(|s| s.to_string())
            .collect();
        let exchange = venue.venue.clone();
        // Called from a front end's task, which may not be inside the actors' `LocalSet`:
        // locally, the call runs right here (a panic caught, as a spawned task's would be).
        let nothing_to_fetch = names.is_empty();
        let call = async move { exchange.fetch_tickers(&names).await };
        let joined = if nothing_to_fetch {
            Ok(HashMap::new())
        } else {
            self.run(call).await
        };
        let mut results = match joined {
            Ok(results) => results,
            Err(e) => {
                let error = EngineError::Internal(format!(
                    "fetching tickers failed inside the engine ({e})"
                ));
                return symbols.iter().map(|_| Err(error.clone())).collect();
            }
        };
        symbols
            .iter()
            .map(|symbol| {
                if let Some(stamped) = shared.remove(symbol) {
                    return Ok(stamped);
                }
                let result = results.remove(symbol.as_ref()).unwrap_or_else(|| {
                    Err(VenueError::Malformed(format!("no {symbol} in the reply")))
                });
                match result {
                    Ok(ticker) => {
                        let stamped = stamp(&self.directory, MarketData::Ticker(ticker));
                        self.mirror(key(symbol), &stamped);
                        Ok(stamped)
                    }
                    Err(e) => Err(EngineError::from_venue(&venue.id, Some(symbol), e)),
                }
            })
            .collect()
    }

    /// Runs an exchange call where exchange calls run, from any task (inside the actors'
    /// `LocalSet` or not): on the I/O runtime, else right here; a panic comes back as `Err`.
    pub async fn run<T: Send + 'static>(
        &self,
        call: impl std::future::Future<Output = T> + Send + 'static,
    ) -> Result<T, String> {
        match &self.io {
            ExchangeIo::Runtime(handle) => handle.spawn(call).await.map_err(|e| e.to_string()),
            ExchangeIo::Local => std::panic::AssertUnwindSafe(call)
                .catch_unwind()
                .await
                .map_err(|_| "the exchange call panicked".to_owned()),
        }
    }

    /// Keeps `stamped` unless the symbol holds a newer value, and says what to serve. Only the
    /// symbol's actor calls it (the state's only writer: tickers reach watchers in the order
    /// they were stored). A ticker from this node's own feed is also shared with the cluster
    /// (Redis cache key and ticker channel; a REST fetch was shared when it was made).
    pub fn store(
        &self,
        entry: &SymbolEntry,
        upstream: DataRequest,
        stamped: Stamped,
        from_own_feed: bool,
    ) -> Served<MarketData> {
        let now = self.directory.now_ms();
        let served = match entry.state.offer(upstream.clone(), stamped.clone()) {
            Offered::Stored => {
                if upstream == DataRequest::Ticker {
                    entry.publish_ticker(&stamped);
                }
                // What this node's feed pushes (tickers, a perpetual's funding and mark) is
                // shared like what it fetches.
                let shared = matches!(upstream, DataRequest::Ticker | DataRequest::FundingRate);
                if from_own_feed && shared {
                    let key = CacheKey {
                        exchange: entry.exchange.clone(),
                        symbol: entry.symbol.clone(),
                        request: upstream,
                    };
                    self.mirror(key, &stamped);
                }
                stamped.served_fresh(now)
            }
            Offered::KeptNewer => match self.held(entry, &upstream) {
                Lookup::Fresh(held) => held.served(false, now),
                Lookup::Stale(held) => held.served(true, now),
                Lookup::Miss => stamped.served_fresh(now),
            },
        };
        if self.directory.over_capacity() {
            tell(&self.trim, Trim);
        }
        served
    }

    /// A failed miss: a symbol the exchange rejected though its market list has it is
    /// reported to the router; when the exchange itself failed, a recent value (the symbol's
    /// `entry`, if it has one) is served marked stale.
    pub fn fallback(
        &self,
        exchange: &Arc<str>,
        symbol: &Arc<str>,
        upstream: &DataRequest,
        entry: Option<&SymbolEntry>,
        error: EngineError,
    ) -> Result<Served<MarketData>, EngineError> {
        if matches!(error, EngineError::InvalidSymbol { .. }) {
            // The market list has it but the exchange does not (delisted since).
            tell(
                &self.rejected,
                SymbolRejected {
                    exchange: exchange.clone(),
                    symbol: symbol.clone(),
                },
            );
        }
        if !error.allows_stale() {
            return Err(error);
        }
        let now = self.directory.now_ms();
        match entry.map(|entry| self.held(entry, upstream)) {
            Some(Lookup::Fresh(held)) => Ok(held.served(false, now)),
            Some(Lookup::Stale(held)) => {
                tracing::info!(%symbol, %error, "serving stale value");
                Ok(held.served(true, now))
            }
            Some(Lookup::Miss) | None => Err(error),
        }
    }

    /// What the symbol holds for `upstream` (not counted as a hit or a miss).
    pub fn held(&self, entry: &SymbolEntry, upstream: &DataRequest) -> Lookup {
        entry.state.lookup(
            upstream,
            &self.directory.policy,
            self.directory.now_ms(),
            false,
        )
    }

    /// Copies a value this node fetched into the shared layer, in the background, for what is
    /// left of its freshness (never on the thread serving hits' caller).
    fn mirror(&self, key: CacheKey, stamped: &Stamped) {
        let Some(remote) = self.directory.remote.clone() else {
            return;
        };
        let ttl_left = fresh_for(&self.directory, &key.request, stamped);
        if ttl_left.is_zero() {
            return;
        }
        let stamped = stamped.clone();
        drop(
            self.io
                .spawn(async move { remote.put(&key, &stamped, ttl_left).await }),
        );
    }
}

/// Tells the router, if it still runs, without waiting.
fn tell<M>(router: &WeakRecipient<M>, message: M)
where
    M: Message + Send,
    M::Result: Send,
{
    if let Some(router) = router.upgrade() {
        let _ = router.try_send(message);
    }
}

/// An exchange's answer, stamped with when it arrived.
fn stamp(directory: &Directory, data: MarketData) -> Stamped {
    Stamped {
        value: Arc::new(data),
        origin: Source::Exchange,
        fetched_at_ms: directory.now_ms(),
    }
}

/// How long Redis keeps closed candles (they never change; the TTL only bounds its memory).
const CLOSED_CANDLES_TTL: Duration = Duration::from_secs(24 * 3600);

/// How much longer `stamped`, fetched for `request`, may be served fresh from Redis.
fn fresh_for(directory: &Directory, request: &DataRequest, stamped: &Stamped) -> Duration {
    if request.is_closed_at(stamped.fetched_at_ms) {
        return CLOSED_CANDLES_TTL;
    }
    directory
        .policy
        .fresh_for(stamped.fetched_at_ms, directory.now_ms())
}

/// Whether a value (another node's, from Redis) is fresh enough to serve as it is.
fn is_fresh(directory: &Directory, request: &DataRequest, stamped: &Stamped) -> bool {
    request.is_closed_at(stamped.fetched_at_ms)
        || directory
            .policy
            .age(stamped.fetched_at_ms, directory.now_ms())
            == Age::Fresh
}
