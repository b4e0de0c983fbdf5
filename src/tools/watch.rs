//! Watches a model can read (SPEC.md 5.1): `watch_subscribe` starts following one market's
//! ticker, order book (top 20 levels with their nonce) or trades (one item each) into a buffer
//! of the last [`BUFFERED`] items; `watch_read` returns the items after a cursor, waiting up to
//! `wait_ms` for one; `watch_unsubscribe` ends it. Watches belong to the MCP session that made
//! them ([`SessionWatches`], at most [`MAX_WATCHES_PER_SESSION`]): another session's or an
//! unknown `watch_id` is `invalid_argument`. Each keeps its symbol watched (its streams
//! running) until it ends; the last watcher leaving unsubscribes the venue streams.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crypto_market_actors::model::now_ms;
use crypto_market_actors::{ErrorCode, TickerWatch};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Notify;
use tokio::task::AbortHandle;

use super::bounds::Bound;
pub use super::watch_producer::{produce, Channel, ItemSink};
use super::ToolError;

/// Items a watch keeps unread; older ones are dropped (and counted).
pub const BUFFERED: usize = 1_000;
/// Watches one MCP session may hold (SPEC.md section 9).
pub const MAX_WATCHES_PER_SESSION: usize = 50;

pub const WATCH_SECONDS: Bound = Bound {
    name: "duration_s",
    what: "How long the watch lasts, in seconds",
    min: 10,
    max: 3600,
    default: Some(300),
};
pub const WAIT_MS: Bound = Bound {
    name: "wait_ms",
    what: "How long to wait for an item when there is none, in ms",
    min: 0,
    max: 30_000,
    default: Some(0),
};
pub const MAX_ITEMS: Bound = Bound {
    name: "max_items",
    what: "Most items returned",
    min: 1,
    max: 500,
    default: Some(50),
};

fn watch_seconds_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    WATCH_SECONDS.schema()
}
fn wait_ms_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    WAIT_MS.schema()
}
fn max_items_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    MAX_ITEMS.schema()
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WatchSubscribeArgs {
    /// What to watch: ticker, order_book (top 20 levels) or trades (one item per trade).
    pub channel: String,
    /// Market symbol, e.g. BTC/USDT.
    pub symbol: String,
    /// Exchange id (default: the server's default exchange).
    #[serde(default)]
    pub exchange: Option<String>,
    #[serde(default)]
    #[schemars(schema_with = "watch_seconds_schema")]
    pub duration_s: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WatchReadArgs {
    /// The id watch_subscribe returned.
    pub watch_id: String,
    /// The cursor of the previous read: only newer items (default: from the oldest held).
    #[serde(default)]
    pub cursor: Option<u64>,
    #[serde(default)]
    #[schemars(schema_with = "wait_ms_schema")]
    pub wait_ms: Option<u32>,
    #[serde(default)]
    #[schemars(schema_with = "max_items_schema")]
    pub max_items: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WatchUnsubscribeArgs {
    /// The id watch_subscribe returned.
    pub watch_id: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct WatchSubscribeResult {
    pub watch_id: String,
    pub channel: String,
    pub exchange: String,
    pub symbol: String,
    pub expires_at_ms: i64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct WatchReadResult {
    pub watch_id: String,
    /// Oldest first: tickers, books (top 20 levels with nonce) or trades.
    pub items: Vec<Value>,
    /// Pass it to the next read to get only newer items.
    pub cursor: u64,
    /// Items after the given cursor lost to the 1,000-item buffer.
    pub dropped: u64,
    pub expires_at_ms: i64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct WatchUnsubscribeResult {
    pub watch_id: String,
    pub closed: bool,
}

/// Histogram of a long-polling `watch_read`'s wake-up: from the book change behind the
/// first item it returns to its answer being ready (reads that found items at once are not
/// counted: their wait is the caller's, not the engine's).
pub const WATCH_WAKE_SECONDS: &str = "cmm_watch_wake_seconds";

/// Histogram of the first half of that wake-up: from the book change to its item in the
/// watch's buffer (the producer's turn on the engine's thread and the item's making); the rest
/// is the waiting read's own turn and its answer.
pub const WATCH_ITEM_SECONDS: &str = "cmm_watch_item_seconds";

/// One watch's buffer: items numbered from 1, the last [`BUFFERED`] kept, each with when the
/// change behind it happened in the engine (order book items).
#[derive(Default)]
struct Buffer {
    items: VecDeque<(u64, Value, Option<Instant>)>,
    last_seq: u64,
}

struct WatchState {
    buffer: Mutex<Buffer>,
    arrived: Notify,
    expires_at_ms: i64,
    /// The task following the market; aborted with the watch.
    producer: Mutex<Option<AbortHandle>>,
}

impl WatchState {
    fn push(&self, item: Value, changed_at: Option<Instant>) {
        if let Some(at) = changed_at {
            metrics::histogram!(WATCH_ITEM_SECONDS).record(at.elapsed().as_secs_f64());
        }
        let mut buffer = self.buffer.lock().unwrap_or_else(|p| p.into_inner());
        buffer.last_seq += 1;
        let seq = buffer.last_seq;
        if buffer.items.len() == BUFFERED {
            buffer.items.pop_front();
        }
        buffer.items.push_back((seq, item, changed_at));
        drop(buffer);
        self.arrived.notify_waiters();
    }

    /// Items after `cursor` (at most `max`), the new cursor, how many after `cursor` are
    /// gone, and when the change behind the first item returned happened (if known).
    fn after(&self, cursor: u64, max: usize) -> (Vec<Value>, u64, u64, Option<Instant>) {
        let buffer = self.buffer.lock().unwrap_or_else(|p| p.into_inner());
        let first_held = buffer
            .items
            .front()
            .map_or(buffer.last_seq + 1, |(s, _, _)| *s);
        let dropped = first_held.saturating_sub(cursor.saturating_add(1));
        let items: Vec<(u64, Value, Option<Instant>)> = buffer
            .items
            .iter()
            .filter(|(seq, _, _)| *seq > cursor)
            .take(max)
            .cloned()
            .collect();
        let next = items
            .last()
            .map_or(cursor.max(first_held - 1), |(s, _, _)| *s);
        let changed_at = items.first().and_then(|(_, _, at)| *at);
        (
            items.into_iter().map(|(_, v, _)| v).collect(),
            next,
            dropped,
            changed_at,
        )
    }
}

impl Drop for WatchState {
    fn drop(&mut self) {
        if let Some(task) = self
            .producer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            task.abort();
        }
    }
}

/// The watches of one MCP session; dropped with the session, which ends them all.
#[derive(Default)]
pub struct SessionWatches {
    held: Mutex<HashMap<String, Arc<WatchState>>>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl SessionWatches {
    fn get(&self, id: &str) -> Result<Arc<WatchState>, ToolError> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let now = now_ms();
        held.retain(|_, w| w.expires_at_ms > now);
        held.get(id).cloned().ok_or_else(|| {
            ToolError::invalid_argument(format!(
                "watch_id: {id:?} is not a watch of this session (unknown, expired or \
                 unsubscribed); call watch_subscribe"
            ))
        })
    }
}

/// `watch_subscribe`: follows the market into a new watch of `watches`.
pub fn subscribe(
    watches: &SessionWatches,
    args: &WatchSubscribeArgs,
    watch: TickerWatch,
) -> Result<WatchSubscribeResult, ToolError> {
    let (channel, seconds) = subscribe_checked(args)?;
    let expires_at_ms = now_ms() + i64::from(seconds) * 1000;
    let id = new_watch_id();
    let state = Arc::new(WatchState {
        buffer: Mutex::default(),
        arrived: Notify::new(),
        expires_at_ms,
        producer: Mutex::new(None),
    });
    let result = WatchSubscribeResult {
        watch_id: id.clone(),
        channel: args.channel.clone(),
        exchange: watch.exchange().to_string(),
        symbol: watch.symbol().to_string(),
        expires_at_ms,
    };
    {
        let mut held = watches.held.lock().unwrap_or_else(|p| p.into_inner());
        let now = now_ms();
        held.retain(|_, w| w.expires_at_ms > now);
        if held.len() >= MAX_WATCHES_PER_SESSION {
            return Err(ToolError::new(
                ErrorCode::RateLimited,
                format!(
                    "this session holds {MAX_WATCHES_PER_SESSION} watches; \
                     watch_unsubscribe some first"
                ),
            ));
        }
        held.insert(id, state.clone());
    }
    let lifetime = Duration::from_secs(u64::from(seconds));
    let weak = Arc::downgrade(&state);
    let task = tokio::spawn(async move {
        let _ = tokio::time::timeout(lifetime, produce(watch, channel, SessionSink(weak))).await;
    });
    *state.producer.lock().unwrap_or_else(|p| p.into_inner()) = Some(task.abort_handle());
    Ok(result)
}

/// The channel and duration `watch_subscribe` asks for, checked.
pub fn subscribe_checked(args: &WatchSubscribeArgs) -> Result<(Channel, u32), ToolError> {
    Ok((
        Channel::parse(&args.channel)?,
        WATCH_SECONDS.check(args.duration_s)?,
    ))
}

/// The wait and item count `watch_read` asks for, checked.
pub fn read_checked(args: &WatchReadArgs) -> Result<(Duration, usize), ToolError> {
    let wait = WAIT_MS.check(args.wait_ms)?;
    let max = MAX_ITEMS.check(args.max_items)? as usize;
    Ok((Duration::from_millis(u64::from(wait)), max))
}

/// A new watch id: a counter and a random part, so that ids are not guessable.
pub fn new_watch_id() -> String {
    format!(
        "w{}-{:x}",
        NEXT_ID.fetch_add(1, Ordering::Relaxed),
        rand_part()
    )
}

/// A per-process random part, so that ids are not guessable across sessions.
fn rand_part() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(now_ms() as u64);
    h.finish()
}

/// The session's buffer as the producer sees it: gone once the watch is dropped.
struct SessionSink(std::sync::Weak<WatchState>);

impl ItemSink for SessionSink {
    fn push(&self, item: Value, changed_at: Option<Instant>) -> bool {
        match self.0.upgrade() {
            Some(state) => {
                state.push(item, changed_at);
                true
            }
            None => false,
        }
    }
}

/// `watch_read`.
pub async fn read(
    watches: &SessionWatches,
    args: &WatchReadArgs,
) -> Result<WatchReadResult, ToolError> {
    let (wait, max) = read_checked(args)?;
    let state = watches.get(&args.watch_id)?;
    let cursor = args.cursor.unwrap_or(0);
    let deadline = tokio::time::Instant::now() + wait;
    let mut waited = false;
    loop {
        // Registered before looking, so that an item pushed in between still wakes us.
        let arrived = state.arrived.notified();
        let (items, next, dropped, changed_at) = state.after(cursor, max);
        if let (true, false, Some(at)) = (waited, items.is_empty(), changed_at) {
            metrics::histogram!(WATCH_WAKE_SECONDS).record(at.elapsed().as_secs_f64());
        }
        if !items.is_empty() || tokio::time::Instant::now() >= deadline {
            return Ok(WatchReadResult {
                watch_id: args.watch_id.clone(),
                items,
                cursor: next,
                dropped,
                expires_at_ms: state.expires_at_ms,
            });
        }
        let _ = tokio::time::timeout_at(deadline, arrived).await;
        waited = true;
    }
}

/// `watch_unsubscribe`.
pub fn unsubscribe(
    watches: &SessionWatches,
    args: &WatchUnsubscribeArgs,
) -> Result<WatchUnsubscribeResult, ToolError> {
    watches.get(&args.watch_id)?;
    let removed = watches
        .held
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&args.watch_id);
    // Dropping it (here, unless a read holds it) aborts the task, which releases the symbol.
    drop(removed);
    Ok(WatchUnsubscribeResult {
        watch_id: args.watch_id.clone(),
        closed: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> WatchState {
        WatchState {
            buffer: Mutex::default(),
            arrived: Notify::new(),
            expires_at_ms: i64::MAX,
            producer: Mutex::new(None),
        }
    }

    #[test]
    fn reads_follow_the_cursor_and_count_what_was_dropped() {
        let s = state();
        for i in 0..1_200 {
            s.push(Value::from(i), None);
        }
        let (items, cursor, dropped, _) = s.after(0, 500);
        assert_eq!((items.len(), cursor, dropped), (500, 700, 200));
        assert_eq!(items[0], Value::from(200));
        let (items, cursor, dropped, _) = s.after(cursor, 500);
        assert_eq!((items.len(), cursor, dropped), (500, 1_200, 0));
        let (items, cursor, _, _) = s.after(cursor, 500);
        assert!(items.is_empty());
        assert_eq!(cursor, 1_200);
    }

    #[tokio::test]
    async fn a_long_poll_wakes_within_50_ms_of_an_item() {
        let watches = SessionWatches::default();
        let state = Arc::new(state());
        watches
            .held
            .lock()
            .unwrap()
            .insert("w".into(), state.clone());
        let mut delays = Vec::new();
        for i in 0..20u64 {
            let args = WatchReadArgs {
                watch_id: "w".into(),
                cursor: Some(i),
                wait_ms: Some(5_000),
                max_items: None,
            };
            let pusher = state.clone();
            let pushed = tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(30)).await;
                pusher.push(Value::from(i), None);
                std::time::Instant::now()
            });
            let read = read(&watches, &args).await.unwrap();
            let woke = std::time::Instant::now();
            let pushed = pushed.await.unwrap();
            assert_eq!(read.items, vec![Value::from(i)]);
            delays.push(woke.duration_since(pushed));
        }
        delays.sort_unstable();
        eprintln!(
            "watch_read wake-up after a push: p50 {:?}, max {:?}",
            delays[10], delays[19]
        );
        assert!(delays[19] <= Duration::from_millis(50), "{delays:?}");
    }

    #[test]
    fn foreign_and_unknown_ids_are_invalid_arguments() {
        let mine = SessionWatches::default();
        let theirs = SessionWatches::default();
        theirs
            .held
            .lock()
            .unwrap()
            .insert("w1-abc".into(), Arc::new(state()));
        for id in ["w1-abc", "nope"] {
            let err = mine.get(id).err().unwrap();
            assert_eq!(err.code, ErrorCode::InvalidArgument, "{id}");
        }
        assert!(theirs.get("w1-abc").is_ok());
    }
}
