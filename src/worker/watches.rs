//! Watches over the worker pool (SPEC.md 5.1, section 6): `watch_subscribe`, `watch_read` and
//! `watch_unsubscribe` owned by the request's `client_id`.
//!
//! Design: **the watch's buffer lives in Redis**, so that any worker can serve any read. The
//! worker that takes the `watch_subscribe` holds the market (its [`TickerWatch`], so the
//! venue's streams run) and appends each item to a stream capped at [`BUFFERED`] entries,
//! `{prefix}:watch:{<client>/<id>}:items`, whose entry ids are the items' sequence numbers
//! (`<seq>-0`, the `cursor` of SPEC); the watch's fields (channel, market, expiry, last
//! sequence, holding worker) are the hash `...:meta` next to it (one hash slot, so each step
//! is one script, atomic, also on Redis Cluster). Both expire with the watch. A `watch_read`
//! on any worker reads the buffer after its cursor; with nothing there it long-polls: it
//! waits on the watch's wake channel ([`super::wakes`]), on which the holder publishes with
//! every append, giving its request slot to others meanwhile ([`super::Shared`]).
//!
//! Ownership: the keys carry the client id, so another client's `watch_id` is simply unknown
//! (`invalid_argument`). The per-client cap ([`MAX_WATCHES_PER_SESSION`], SPEC 9) is a sorted
//! set `{prefix}:watches:<client>` of watch ids by expiry. `watch_unsubscribe` (on any worker)
//! deletes the keys; the holder sees them gone at its next append or check (at most
//! [`CHECK_EVERY`] later) and drops the market, which unsubscribes the venue's streams when it
//! was the last watcher. A worker that dies takes its watches' producers with it: their
//! buffers stay readable, and stop filling, until they expire.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crypto_market_actors::model::now_ms;
use crypto_market_actors::redis_target::RedisConn;
use crypto_market_actors::{ErrorCode, TickerWatch};
use futures::future::BoxFuture;
use serde_json::Value;
use tokio::sync::Notify;

use super::wakes::{Wakes, RECHECK};
use crate::tools::watch::{
    new_watch_id, produce, Channel, ItemSink, WatchReadResult, WatchSubscribeArgs,
    WatchSubscribeResult, WatchUnsubscribeResult, BUFFERED, MAX_WATCHES_PER_SESSION,
};
use crate::tools::{ClientWatches, IdleHook, ToolError};

/// How often a holder with nothing to append checks that its watch still exists.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// How long the per-client set of watch ids outlives its longest watch (SPEC: 3600 s).
const INDEX_TTL_MS: u64 = 3_700_000;

/// KEYS: the client's watch set. ARGV: now, cap, id, expires_at_ms, set TTL.
/// 1 when registered, 0 when the client holds the cap already.
const REGISTER: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
";

/// KEYS: meta, items. ARGV: items skipped, wake channel, items...
/// The last sequence number, or -1 when the watch is gone.
fn append_script() -> String {
    format!(
        r"
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local seq = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0') + tonumber(ARGV[1])
for i = 3, #ARGV do
  seq = seq + 1
  redis.call('XADD', KEYS[2], 'MAXLEN', '{BUFFERED}', string.format('%d-0', seq), 'v', ARGV[i])
end
if #ARGV > 2 or tonumber(ARGV[1]) > 0 then
  redis.call('HSET', KEYS[1], 'seq', string.format('%d', seq))
  redis.call('PEXPIREAT', KEYS[2], redis.call('HGET', KEYS[1], 'expires_at_ms'))
  redis.call('PUBLISH', ARGV[2], string.format('%d', seq))
end
return seq
"
    )
}

/// KEYS: meta, items. ARGV: first id to return, count.
/// nil when the watch is gone, else {last seq, expires_at_ms, oldest held id or '', id, item, ...}.
const READ: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local meta = redis.call('HMGET', KEYS[1], 'seq', 'expires_at_ms')
local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
local out = {meta[1] or '0', meta[2] or '0', ''}
if #first > 0 then out[3] = first[1][1] end
for _, e in ipairs(redis.call('XRANGE', KEYS[2], ARGV[1], '+', 'COUNT', ARGV[2])) do
  out[#out + 1] = e[1]
  out[#out + 1] = e[2][2]
end
return out
";

/// KEYS: meta, items. ARGV: wake channel. 1 when the watch was there.
const CLOSE: &str = r"
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
redis.call('DEL', KEYS[2])
redis.call('PUBLISH', ARGV[1], 'closed')
return 1
";

static REGISTER_SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(REGISTER));
static APPEND_SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(&append_script()));
static READ_SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(READ));
static CLOSE_SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(CLOSE));

/// The keys of one watch of one client.
#[derive(Clone)]
struct WatchKeys {
    meta: String,
    items: String,
    wake: String,
}

/// The pool's watches, kept in Redis; one per worker.
pub struct RedisWatches {
    prefix: String,
    conn: RedisConn,
    worker: String,
    wakes: Arc<Wakes>,
}

impl RedisWatches {
    pub fn new(prefix: &str, conn: RedisConn, worker: &str, wakes: Arc<Wakes>) -> Self {
        Self {
            prefix: prefix.to_owned(),
            conn,
            worker: worker.to_owned(),
            wakes,
        }
    }

    fn keys(&self, client: &str, id: &str) -> WatchKeys {
        // The braces make both keys one hash slot (Redis Cluster): the scripts touch both.
        let base = format!("{}:watch:{{{client}/{id}}}", self.prefix);
        WatchKeys {
            meta: format!("{base}:meta"),
            items: format!("{base}:items"),
            wake: format!("{}:watch-wake:{client}/{id}", self.prefix),
        }
    }

    fn index(&self, client: &str) -> String {
        format!("{}:watches:{client}", self.prefix)
    }

    async fn start(
        &self,
        client: &str,
        args: &WatchSubscribeArgs,
        channel: Channel,
        seconds: u32,
        watch: TickerWatch,
    ) -> Result<WatchSubscribeResult, ToolError> {
        let id = new_watch_id();
        let now = now_ms();
        let expires_at_ms = now + i64::from(seconds) * 1000;
        let mut conn = self.conn.clone();
        let registered: i64 = REGISTER_SCRIPT
            .key(self.index(client))
            .arg(now)
            .arg(MAX_WATCHES_PER_SESSION)
            .arg(&id)
            .arg(expires_at_ms)
            .arg(INDEX_TTL_MS)
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        if registered == 0 {
            return Err(ToolError::new(
                ErrorCode::RateLimited,
                format!(
                    "client holds {MAX_WATCHES_PER_SESSION} watches; watch_unsubscribe some \
                     first"
                ),
            ));
        }
        let keys = self.keys(client, &id);
        let created: redis::RedisResult<()> = redis::pipe()
            .atomic()
            .hset_multiple(
                &keys.meta,
                &[
                    ("channel", args.channel.as_str()),
                    ("exchange", watch.exchange().as_ref()),
                    ("symbol", watch.symbol().as_ref()),
                    ("expires_at_ms", expires_at_ms.to_string().as_str()),
                    ("worker", self.worker.as_str()),
                    ("seq", "0"),
                ],
            )
            .ignore()
            .cmd("PEXPIREAT")
            .arg(&keys.meta)
            .arg(expires_at_ms)
            .ignore()
            .query_async(&mut conn)
            .await;
        created.map_err(unavailable)?;
        let result = WatchSubscribeResult {
            watch_id: id,
            channel: args.channel.clone(),
            exchange: watch.exchange().to_string(),
            symbol: watch.symbol().to_string(),
            expires_at_ms,
        };
        let holder = Holder::new(conn, keys);
        let lifetime = Duration::from_secs(u64::from(seconds));
        tokio::spawn(async move {
            let sink = holder.sink();
            let _ = tokio::time::timeout(lifetime, async {
                tokio::select! {
                    () = produce(watch, channel, sink) => {}
                    () = holder.write() => {}
                }
            })
            .await;
        });
        Ok(result)
    }

    /// One look at the buffer: the page after `cursor`, or None when the watch is gone.
    async fn page(
        &self,
        keys: &WatchKeys,
        watch_id: &str,
        cursor: u64,
        max: usize,
    ) -> Result<Option<WatchReadResult>, ToolError> {
        let mut conn = self.conn.clone();
        let reply: Option<Vec<String>> = READ_SCRIPT
            .key(&keys.meta)
            .key(&keys.items)
            .arg(format!("{}-0", cursor.saturating_add(1)))
            .arg(max)
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let Some(reply) = reply else {
            return Ok(None);
        };
        let mut fields = reply.into_iter();
        let last: u64 = fields.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        let expires_at_ms: i64 = fields.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        let first_held = fields.next().and_then(|id| seq_of(&id)).unwrap_or(last + 1);
        let mut items = Vec::new();
        let mut next = cursor.max(first_held - 1);
        while let (Some(id), Some(item)) = (fields.next(), fields.next()) {
            if let (Some(seq), Ok(item)) = (seq_of(&id), serde_json::from_str::<Value>(&item)) {
                next = seq;
                items.push(item);
            }
        }
        Ok(Some(WatchReadResult {
            watch_id: watch_id.to_owned(),
            items,
            cursor: next,
            dropped: first_held.saturating_sub(cursor.saturating_add(1)),
            expires_at_ms,
        }))
    }

    async fn read_waiting(
        &self,
        client: &str,
        watch_id: &str,
        cursor: u64,
        wait: Duration,
        max: usize,
        idle: Option<&IdleHook>,
    ) -> Result<WatchReadResult, ToolError> {
        let deadline = tokio::time::Instant::now() + wait;
        let keys = self.keys(client, watch_id);
        let first = self.page(&keys, watch_id, cursor, max).await?;
        let first = first.ok_or_else(|| not_yours(watch_id))?;
        if !first.items.is_empty() || wait.is_zero() {
            return Ok(first);
        }
        let waiter = self.wakes.wait_on(&keys.wake).await;
        if let Some(idle) = idle {
            idle();
        }
        loop {
            // Enabled before looking, so that a wake-up published in between is kept.
            let woken = waiter.notify.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let page = self.page(&keys, watch_id, cursor, max).await?;
            let page = page.ok_or_else(|| not_yours(watch_id))?;
            let now = tokio::time::Instant::now();
            if !page.items.is_empty() || now >= deadline {
                return Ok(page);
            }
            let _ = tokio::time::timeout_at(deadline.min(now + RECHECK), woken).await;
        }
    }

    async fn close(
        &self,
        client: &str,
        watch_id: &str,
    ) -> Result<WatchUnsubscribeResult, ToolError> {
        let keys = self.keys(client, watch_id);
        let mut conn = self.conn.clone();
        let closed: i64 = CLOSE_SCRIPT
            .key(&keys.meta)
            .key(&keys.items)
            .arg(&keys.wake)
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        // The cap's set: a stale member would only count until its expiry.
        let _: redis::RedisResult<()> = redis::cmd("ZREM")
            .arg(self.index(client))
            .arg(watch_id)
            .query_async(&mut conn)
            .await;
        if closed == 0 {
            return Err(not_yours(watch_id));
        }
        Ok(WatchUnsubscribeResult {
            watch_id: watch_id.to_owned(),
            closed: true,
        })
    }
}

impl ClientWatches for RedisWatches {
    fn subscribe<'a>(
        &'a self,
        client: &'a str,
        args: &'a WatchSubscribeArgs,
        channel: Channel,
        seconds: u32,
        watch: TickerWatch,
    ) -> BoxFuture<'a, Result<WatchSubscribeResult, ToolError>> {
        Box::pin(self.start(client, args, channel, seconds, watch))
    }

    fn read<'a>(
        &'a self,
        client: &'a str,
        watch_id: &'a str,
        cursor: u64,
        wait: Duration,
        max: usize,
        idle: Option<&'a IdleHook>,
    ) -> BoxFuture<'a, Result<WatchReadResult, ToolError>> {
        Box::pin(self.read_waiting(client, watch_id, cursor, wait, max, idle))
    }

    fn unsubscribe<'a>(
        &'a self,
        client: &'a str,
        watch_id: &'a str,
    ) -> BoxFuture<'a, Result<WatchUnsubscribeResult, ToolError>> {
        Box::pin(self.close(client, watch_id))
    }
}

/// `<seq>-0` → seq.
fn seq_of(id: &str) -> Option<u64> {
    id.split('-').next()?.parse().ok()
}

fn not_yours(watch_id: &str) -> ToolError {
    ToolError::invalid_argument(format!(
        "watch_id: {watch_id:?} is not a watch of this client_id (unknown, expired or \
         unsubscribed); call watch_subscribe"
    ))
}

fn unavailable(e: redis::RedisError) -> ToolError {
    // Redis is the watch's home: worth retrying once it answers again.
    super::WorkerError::Redis(e).to_tool_error()
}

/// Items produced and not yet appended; past [`BUFFERED`] the oldest are dropped (a reader
/// could not get them anyway) and counted, so sequence numbers and `dropped` stay right.
#[derive(Default)]
struct Pending {
    items: std::collections::VecDeque<String>,
    skipped: u64,
}

/// The holding worker's side of one watch: what the producer hands over, and the task that
/// appends it to Redis.
struct Holder {
    conn: RedisConn,
    keys: WatchKeys,
    pending: Arc<Mutex<Pending>>,
    ready: Arc<Notify>,
    /// Cleared when the watch is found gone: the producer stops.
    alive: Arc<AtomicBool>,
}

/// The producer's end of a [`Holder`].
struct HolderSink {
    pending: Arc<Mutex<Pending>>,
    ready: Arc<Notify>,
    alive: Arc<AtomicBool>,
}

impl ItemSink for HolderSink {
    fn push(&self, item: Value, _changed_at: Option<std::time::Instant>) -> bool {
        if !self.alive.load(Ordering::Acquire) {
            return false;
        }
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.items.push_back(item.to_string());
        if pending.items.len() > BUFFERED {
            pending.items.pop_front();
            pending.skipped += 1;
        }
        drop(pending);
        self.ready.notify_one();
        true
    }
}

impl Holder {
    fn new(conn: RedisConn, keys: WatchKeys) -> Self {
        Self {
            conn,
            keys,
            pending: Arc::default(),
            ready: Arc::new(Notify::new()),
            alive: Arc::new(AtomicBool::new(true)),
        }
    }

    fn sink(&self) -> HolderSink {
        HolderSink {
            pending: self.pending.clone(),
            ready: self.ready.clone(),
            alive: self.alive.clone(),
        }
    }

    /// Appends what the producer hands over, until the watch is gone.
    async fn write(&self) {
        let mut conn = self.conn.clone();
        loop {
            tokio::select! {
                () = self.ready.notified() => {}
                () = tokio::time::sleep(CHECK_EVERY) => {}
            }
            let taken =
                std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
            let count = taken.items.len() as u64;
            let mut append = APPEND_SCRIPT.key(&self.keys.meta);
            append
                .key(&self.keys.items)
                .arg(taken.skipped)
                .arg(&self.keys.wake);
            for item in &taken.items {
                append.arg(item);
            }
            match append.invoke_async::<i64>(&mut conn).await {
                Ok(seq) if seq < 0 => {
                    self.alive.store(false, Ordering::Release);
                    return;
                }
                Ok(_) => {}
                Err(e) => {
                    // Lost, and counted as such: readers see them as dropped.
                    tracing::warn!(watch = %self.keys.meta, "cannot append to a watch: {e}");
                    let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
                    pending.skipped += taken.skipped + count;
                }
            }
        }
    }
}
