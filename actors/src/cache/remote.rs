//! The shared cache layer in Redis, under the in-memory one: what one node fetched, every node
//! can serve (`source: "redis"`, aged from the original fetch) without calling the exchange.
//!
//! Redis is an optimisation here, never a dependency: every operation has a short timeout, a
//! failure counts as a miss, and after one the layer steps aside for a while (commands would
//! only wait out their timeouts) and then tries again by itself, so a Redis outage costs
//! requests nothing but the shared hits.

use std::sync::Mutex;
use std::time::Duration;

use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::lease::{FillWatch, RECHECK_AFTER};
use crate::model::{
    CacheKey, Candle, FundingPoint, FundingRate, MarketData, OpenInterest, OrderBook, Source,
    Stamped, Ticker, Trade,
};
use crate::redis_target::{RedisConn, RedisTarget};

/// How long the layer steps aside after Redis failed.
const STEP_ASIDE: Duration = Duration::from_secs(2);
/// Longest wait for one cache command: a miss is better than a stall.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(200);

/// A value as stored under its SPEC.md key: readable by any client (the data is the same JSON
/// the tools return), tagged with its kind and the time of the original fetch.
#[derive(Serialize, Deserialize)]
struct Stored {
    fetched_at_ms: i64,
    #[serde(flatten)]
    data: StoredData,
}

#[allow(
    clippy::large_enum_variant,
    reason = "built and consumed around one (de)serialisation"
)]
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "lowercase")]
enum StoredData {
    Ticker(Ticker),
    Ohlcv(Vec<Candle>),
    Orderbook(OrderBook),
    Trades(Vec<Trade>),
    Funding(FundingRate),
    Fundinghistory(Vec<FundingPoint>),
    Openinterest(OpenInterest),
}

pub struct RemoteCache {
    target: RedisTarget,
    conn: tokio::sync::Mutex<Option<RedisConn>>,
    stepped_aside_until: Mutex<Option<Instant>>,
    /// How long a miss's lease on a key lasts (longer than an exchange call may take).
    lease: Duration,
    /// This process, in lease values: only the holder releases a lease.
    pub(crate) node: String,
    fills: FillWatch,
    /// Lookups that found a value, and lookups that did not (or could not ask).
    hits: std::sync::atomic::AtomicU64,
    misses: std::sync::atomic::AtomicU64,
}

/// What a miss should do, after asking the shared layer.
pub enum Claim {
    /// Another node's fresh value.
    Shared(Stamped),
    /// This node holds the key's lease: fetch, then [`RemoteCache::fill`].
    Leased,
    /// Redis cannot help (down, or the lease holder keeps failing): fetch alone.
    Alone,
}

/// Releases a lease only if this node still holds it.
static RELEASE: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
    )
});

impl RemoteCache {
    pub fn new(target: RedisTarget, lease: Duration) -> Self {
        Self {
            fills: FillWatch::new(target.clone()),
            target,
            conn: tokio::sync::Mutex::new(None),
            stepped_aside_until: Mutex::new(None),
            lease,
            node: format!("{}-{}", std::process::id(), crate::model::now_ms()),
            hits: Default::default(),
            misses: Default::default(),
        }
    }

    /// (hits, misses) of this layer so far.
    pub fn counts(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.hits.load(Relaxed), self.misses.load(Relaxed))
    }

    /// Asks the shared layer about a miss: a fresh shared value (`fresh` judges it), else the
    /// key's lease, else waits for the lease holder's value. Gives up sharing (fetch alone)
    /// when Redis does not answer or after a few rounds.
    pub async fn claim(&self, key: &CacheKey, fresh: impl Fn(&Stamped) -> bool) -> Claim {
        let name = self.target.cache_key(key);
        let lease_key = self.lease_key(key);
        for _ in 0..3 {
            // Registered first: an announcement between the look and the wait wakes us.
            let filled = self.fills.watch(&name);
            if let Some(shared) = self.get(key).await.filter(|s| fresh(s)) {
                return Claim::Shared(shared);
            }
            let (node, ms, lease_key) = (&self.node, self.lease_ms(), &lease_key);
            let leased: Option<bool> = self
                .run(|mut conn| async move {
                    redis::cmd("SET")
                        .arg(lease_key)
                        .arg(node)
                        .arg("NX")
                        .arg("PX")
                        .arg(ms)
                        .query_async::<Option<String>>(&mut conn)
                        .await
                        .map(|ok| ok.is_some())
                })
                .await;
            match leased {
                Some(true) => return Claim::Leased,
                None => return Claim::Alone,
                // Another node is fetching it: wait for its announcement (or a recheck).
                Some(false) => {
                    let _ = tokio::time::timeout(RECHECK_AFTER, filled).await;
                }
            }
        }
        Claim::Alone
    }

    /// Stores the value this node fetched under its lease, releases the lease, and announces
    /// the value to the waiting nodes.
    pub async fn fill(&self, key: &CacheKey, stamped: &Stamped, ttl_left: Duration) {
        self.put(key, stamped, ttl_left).await;
        self.release(key).await;
        let (channel, name) = (self.fills.channel(), &self.target.cache_key(key));
        let _: Option<i64> = self
            .run(|mut conn| async move { conn.publish(channel, name).await })
            .await;
    }

    /// Gives up this node's lease on `key` (after a fill, or a failed fetch: the next node
    /// may try at once); a lease that expired and went to another node is left alone.
    pub async fn release(&self, key: &CacheKey) {
        let (lease_key, node) = (&self.lease_key(key), &self.node);
        let _: Option<i64> = self
            .run(|mut conn| async move {
                RELEASE
                    .key(lease_key)
                    .arg(node)
                    .invoke_async(&mut conn)
                    .await
            })
            .await;
    }

    /// `{prefix}:feed:{exchange}:{symbol}`: who holds the exchange ticker feed of a symbol.
    pub fn feed_key(&self, exchange: &str, symbol: &str) -> String {
        format!("{}:feed:{exchange}:{symbol}", self.target.key_prefix)
    }

    /// `{prefix}:livefeed:{exchange}:{symbol}`: who holds the symbol's book, trade and
    /// candle feeds (a lease of its own: the node whose readers want them takes it).
    pub fn live_feed_key(&self, exchange: &str, symbol: &str) -> String {
        format!("{}:livefeed:{exchange}:{symbol}", self.target.key_prefix)
    }

    /// Publishes `payload` on `channel`; `false` when Redis did not take it.
    pub async fn publish(&self, channel: &str, payload: &str) -> bool {
        let published: Option<()> = self
            .run(|mut conn| async move { conn.publish(channel, payload).await })
            .await;
        published.is_some()
    }

    /// Takes (or keeps) a feed lease (`lease`: its key) for `ttl`: `Some(true)` when
    /// this node holds it now, `Some(false)` when another node does, `None` when Redis does
    /// not answer. Renewing and taking are one script, so a lease that expired in between is
    /// simply taken again.
    pub async fn hold_feed(&self, lease: &str, ttl: Duration) -> Option<bool> {
        const HOLD: &str = r"
            local holder = redis.call('GET', KEYS[1])
            if holder == ARGV[1] then
                redis.call('PEXPIRE', KEYS[1], ARGV[2])
                return 1
            end
            if holder then return 0 end
            redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
            return 1";
        let key = lease;
        let (node, ms) = (&self.node, ttl.as_millis().max(1) as u64);
        self.run(|mut conn| async move {
            redis::Script::new(HOLD)
                .key(key)
                .arg(node)
                .arg(ms)
                .invoke_async::<i64>(&mut conn)
                .await
                .map(|held| held == 1)
        })
        .await
    }

    /// Gives up the feed lease if this node holds it (so another node takes over at once).
    pub async fn drop_feed(&self, lease: &str) {
        const DROP: &str = r"
            if redis.call('GET', KEYS[1]) == ARGV[1] then
                return redis.call('DEL', KEYS[1])
            end
            return 0";
        let (key, node) = (lease, &self.node);
        let _: Option<i64> = self
            .run(|mut conn| async move {
                redis::Script::new(DROP)
                    .key(key)
                    .arg(node)
                    .invoke_async::<i64>(&mut conn)
                    .await
            })
            .await;
    }

    pub fn target(&self) -> &RedisTarget {
        &self.target
    }

    fn lease_key(&self, key: &CacheKey) -> String {
        format!("{}:lease:{key}", self.target.key_prefix)
    }

    fn lease_ms(&self) -> u64 {
        u64::try_from(self.lease.as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// The value another node (or this one) stored for `key`, if Redis has one and answers.
    pub async fn get(&self, key: &CacheKey) -> Option<Stamped> {
        let found = self.lookup(key).await;
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        found
    }

    async fn lookup(&self, key: &CacheKey) -> Option<Stamped> {
        let name = &self.target.cache_key(key);
        let raw: Option<String> = self
            .run(|mut conn| async move { conn.get(name).await })
            .await?;
        let stored: Stored = match serde_json::from_str(&raw?) {
            Ok(stored) => stored,
            Err(e) => {
                // Overwritten by the next fetch of this key.
                tracing::warn!(key = %key, "undecodable value in Redis, treated as a miss: {e}");
                return None;
            }
        };
        let value = match stored.data {
            StoredData::Ticker(t) => MarketData::Ticker(t),
            StoredData::Ohlcv(c) => MarketData::Ohlcv(c),
            StoredData::Orderbook(b) => MarketData::OrderBook(b),
            StoredData::Trades(t) => MarketData::Trades(t),
            StoredData::Funding(f) => MarketData::FundingRate(f),
            StoredData::Fundinghistory(h) => MarketData::FundingHistory(h),
            StoredData::Openinterest(o) => MarketData::OpenInterest(o),
        };
        if value.kind() != key.request.kind() {
            return None;
        }
        Some(Stamped {
            value: std::sync::Arc::new(value),
            origin: Source::Redis,
            fetched_at_ms: stored.fetched_at_ms,
        })
    }

    /// Stores `stamped` under `key` for what is left of `ttl`.
    pub async fn put(&self, key: &CacheKey, stamped: &Stamped, ttl_left: Duration) {
        let data = match &*stamped.value {
            MarketData::Ticker(t) => StoredData::Ticker(t.clone()),
            MarketData::Ohlcv(c) => StoredData::Ohlcv(c.clone()),
            MarketData::OrderBook(b) => StoredData::Orderbook(b.clone()),
            MarketData::Trades(t) => StoredData::Trades(t.clone()),
            MarketData::FundingRate(f) => StoredData::Funding(f.clone()),
            MarketData::FundingHistory(h) => StoredData::Fundinghistory(h.clone()),
            MarketData::OpenInterest(o) => StoredData::Openinterest(o.clone()),
        };
        let stored = Stored {
            fetched_at_ms: stamped.fetched_at_ms,
            data,
        };
        let Ok(json) = serde_json::to_string(&stored) else {
            return;
        };
        let ms = u64::try_from(ttl_left.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let (name, json) = (&self.target.cache_key(key), &json);
        // A ticker is also an update for every node's subscribers (SPEC.md section 5):
        // `{prefix}:ticker:{exchange}:{symbol}`, the ticker JSON, in the same round trip.
        let update = match &*stamped.value {
            MarketData::Ticker(ticker) => {
                ticker_update(&key.exchange, ticker, stamped.origin).map(|payload| {
                    (
                        self.target.ticker_channel(&key.exchange, &key.symbol),
                        payload,
                    )
                })
            }
            _ => None,
        };
        // Two commands sent together rather than a pipeline: a cluster client refuses a
        // pipeline whose commands hash to different slots (the channel counts as a key), and
        // on a multiplexed connection the two still share one round trip.
        let update = &update;
        let _: Option<()> = self
            .run(|mut conn| async move {
                let mut publisher = conn.clone();
                let mut set = redis::cmd("SET");
                set.arg(name).arg(json).arg("PX").arg(ms);
                let set = set.query_async::<()>(&mut conn);
                let publish = async move {
                    match update {
                        Some((channel, payload)) => publisher.publish(channel, payload).await,
                        None => Ok(()),
                    }
                };
                let (set, published) = futures::future::join(set, publish).await;
                set.and(published)
            })
            .await;
    }

    /// Like [`Self::run`] for commands that must not be skipped lightly (the shared exchange
    /// budget): tried even while the cache stands aside, with a longer wait, and a failure
    /// does not make the cache stand aside.
    pub(crate) async fn run_patiently<T, F, Fut>(&self, wait: Duration, command: F) -> Option<T>
    where
        F: Fn(RedisConn) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        match self.attempt(wait, &command).await {
            Ok(value) => Some(value),
            Err(why) => {
                tracing::debug!(error = %why, "shared budget: Redis failed");
                None
            }
        }
    }

    /// Runs one command unless the layer stands aside; a failure or a timeout makes it stand
    /// aside for a while. `None` when nothing could be asked.
    pub(crate) async fn run<T, F, Fut>(&self, command: F) -> Option<T>
    where
        F: Fn(RedisConn) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        if self.standing_aside() {
            return None;
        }
        match self.attempt(COMMAND_TIMEOUT, &command).await {
            Ok(value) => Some(value),
            Err(why) => {
                self.step_aside(&why);
                None
            }
        }
    }

    /// One command, tried a second time when the first met a broken connection. After a
    /// Redis restart every process's first command fails on its dead connection while the
    /// connection reconnects behind it; stepping aside then would make every process call
    /// the exchange for the same key. The retry waits for that reconnection instead, so
    /// sharing resumes with the first request. Anything else (an error reply, a timeout) is
    /// not retried: Redis is there but unwell, and a miss is better than a stall.
    async fn attempt<T, F, Fut>(&self, wait: Duration, command: &F) -> Result<T, String>
    where
        F: Fn(RedisConn) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let mut retried = false;
        loop {
            let conn = self
                .connection()
                .await
                .ok_or_else(|| "cannot connect".to_owned())?;
            match tokio::time::timeout(wait, command(conn)).await {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(e)) if !retried && broken_connection(&e) => {
                    tracing::debug!(error = %e, "Redis cache: connection broken, trying again");
                    retried = true;
                }
                Ok(Err(e)) => return Err(e.to_string()),
                Err(_) => return Err("no answer in time".to_owned()),
            }
        }
    }

    async fn connection(&self) -> Option<RedisConn> {
        let mut conn = self.conn.lock().await;
        if let Some(existing) = conn.as_ref() {
            // Cheap: a handle on the one multiplexed connection.
            return Some(existing.clone());
        }
        match tokio::time::timeout(COMMAND_TIMEOUT * 5, self.target.connection()).await {
            Ok(Ok(made)) => {
                tracing::info!(target = ?self.target, "Redis cache connected");
                *conn = Some(made.clone());
                Some(made)
            }
            Ok(Err(e)) => {
                self.step_aside(&e.to_string());
                None
            }
            Err(_) => {
                self.step_aside("connecting took too long");
                None
            }
        }
    }

    fn standing_aside(&self) -> bool {
        let mut until = self
            .stepped_aside_until
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match *until {
            Some(at) if Instant::now() < at => true,
            Some(_) => {
                *until = None;
                false
            }
            None => false,
        }
    }

    fn step_aside(&self, why: &str) {
        let mut until = self
            .stepped_aside_until
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if until.is_none() {
            tracing::warn!(
                "Redis cache unavailable ({why}); serving from memory and the exchange for {} s",
                STEP_ASIDE.as_secs()
            );
        }
        *until = Some(Instant::now() + STEP_ASIDE);
    }
}

/// Whether `e` says the connection itself is gone (Redis restarted, a proxy or a failover
/// dropped it) rather than that Redis refused the command: the connection reconnects by
/// itself, so the same command is worth one more try.
fn broken_connection(e: &redis::RedisError) -> bool {
    e.is_unrecoverable_error() || e.is_io_error() || e.is_connection_dropped()
}

/// The ticker as the tools answer it (CCXT's unified ticker plus `exchange` and `price`), for
/// subscribers of the ticker channel.
fn ticker_update(exchange: &str, ticker: &Ticker, origin: Source) -> Option<String> {
    let mut value = serde_json::to_value(ticker).ok()?;
    let object = value.as_object_mut()?;
    object.insert("exchange".into(), serde_json::Value::from(exchange));
    object.insert("price".into(), serde_json::json!(ticker.last));
    // Where the publishing node got it: followers serve streamed ticks as `stream`.
    object.insert("source".into(), serde_json::to_value(origin).ok()?);
    Some(value.to_string())
}
