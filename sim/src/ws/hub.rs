//! Who listens to what: open connections (`conn.rs`), the topics (one per stream name and time
//! unit) they subscribe to, and the websocket faults (refused upgrades, stalled streams).
//!
//! A topic's payload is computed once per update and handed to every subscribed connection as
//! the same `Arc<Frame>` (its text is a refcounted `Utf8Bytes`), so 2 connections × 1500
//! streams cost 1500 payload computations per tick, not 3000, and no per-connection copies.

pub use super::conn::{Command, Conn};
use super::publish::WsIntervals;
use super::stats::{WsConnectionStats, WsStats};
use super::streams::{Group, StreamSpec, TimeUnit};
use axum::extract::ws::Utf8Bytes;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use tokio::sync::{mpsc, watch};

/// One update of one stream, shared by every connection subscribed to it.
pub struct Frame {
    stream: Arc<str>,
    data: Utf8Bytes,
    /// The combined-stream envelope, built by the first combined connection that sends it.
    combined: OnceLock<Utf8Bytes>,
}

impl Frame {
    pub fn new(stream: Arc<str>, data: String) -> Frame {
        Frame {
            stream,
            data: Utf8Bytes::from(data),
            combined: OnceLock::new(),
        }
    }

    /// The text to send: the bare payload, or `{"stream":..,"data":..}` for combined connections.
    pub fn text(&self, combined: bool) -> Utf8Bytes {
        if combined {
            self.combined
                .get_or_init(|| {
                    Utf8Bytes::from(super::payload::combined(&self.stream, self.data.as_str()))
                })
                .clone()
        } else {
            self.data.clone()
        }
    }
}

struct Subscriber {
    conn: Arc<Conn>,
}

/// One stream in one time unit, with the connections subscribed to it.
pub struct Topic {
    pub spec: StreamSpec,
    pub unit: TimeUnit,
    pub name: Arc<str>,
    /// When the first subscriber came (trade streams send the trades after it).
    pub created_ms: u64,
    subs: Mutex<Vec<Subscriber>>,
    /// Publisher state between updates.
    pub cursor: Mutex<Cursor>,
    /// Frames handed to the subscribers so far, and when the last one was.
    delivered: Mutex<WsDelivered>,
}

/// A stream's frames handed to its connections: how many, and when the last one was (Unix
/// µs, taken after its payload was computed, as it goes to the connections' writers), so a
/// test can time a client from the frame's send rather than from its event time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct WsDelivered {
    pub frames: u64,
    pub last_us: u64,
}

/// Where a topic's previous update left off.
#[derive(Clone, Copy, Debug, Default)]
pub struct Cursor {
    /// Last trade id sent (trade streams): the next update sends the trades after it.
    pub last_trade: Option<u64>,
    /// Open time of the candle last sent (kline streams): when it changes, the closed candle is
    /// sent once more with `x: true`.
    pub kline_open: Option<u64>,
    /// Update id of the book last sent (bookTicker streams).
    pub book_update: Option<u64>,
    /// `u` of the last depth event (diff depth streams): the next one starts after it.
    pub depth_u: Option<u64>,
}

impl Topic {
    /// Hands `frame` to every subscriber. A subscriber whose queue is full is not keeping up:
    /// it is closed (Binance disconnects slow consumers too) rather than silently skipped.
    pub fn deliver(&self, frame: Arc<Frame>) {
        let subs = self.subs.lock().unwrap_or_else(PoisonError::into_inner);
        for s in subs.iter() {
            if let Err(mpsc::error::TrySendError::Full(_)) = s.conn.data_tx.try_send(frame.clone())
            {
                if s.conn.command(Command::Close {
                    code: 1008,
                    reason: "client too slow",
                }) {
                    tracing::warn!(conn = s.conn.id, stream = %self.name, "ws client too slow, closing");
                }
            }
        }
        drop(subs);
        let mut delivered = self
            .delivered
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        delivered.frames += 1;
        delivered.last_us = crate::state::now_us();
    }

    pub fn has_subscribers(&self) -> bool {
        !self
            .subs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    }
}

type TopicKey = (String, TimeUnit);

/// Closed connections kept for [`WsStats::closed`].
pub const CLOSED_KEPT: usize = 100;

/// The websocket layer's shared state (lives in `SimState::ws`).
pub struct Hub {
    groups: Vec<Mutex<HashMap<TopicKey, Arc<Topic>>>>,
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    next_id: AtomicU64,
    accepted: AtomicU64,
    refused: AtomicU64,
    /// Connections closed for going over 5 messages per second / not answering pings.
    rate_limit_closes: AtomicU64,
    pong_timeout_closes: AtomicU64,
    /// The most messages any connection (closed ones too) sent within 1 s.
    max_per_sec_any: AtomicU64,
    /// The last [`CLOSED_KEPT`] closed connections, oldest first.
    closed: Mutex<VecDeque<WsConnectionStats>>,
    refuse_until_ms: AtomicU64,
    stalled: RwLock<HashSet<String>>,
    /// Diff depth streams whose next event is skipped (a lost update), once each.
    skips: Mutex<HashSet<String>>,
    /// Configured update intervals, restored by reset.
    base_intervals: WsIntervals,
    intervals: watch::Sender<WsIntervals>,
    /// Levels a side the diff depth streams cover (`SimConfig::ws_depth_levels`).
    depth_levels: AtomicUsize,
    /// The diff depth streams' last books, the bases of the next ones.
    depth_books: super::depth::BookCache,
}

impl Hub {
    pub fn new(intervals: WsIntervals) -> Hub {
        Hub {
            groups: Group::ALL.iter().map(|_| Mutex::default()).collect(),
            conns: Mutex::default(),
            next_id: AtomicU64::new(1),
            accepted: AtomicU64::new(0),
            rate_limit_closes: AtomicU64::new(0),
            pong_timeout_closes: AtomicU64::new(0),
            max_per_sec_any: AtomicU64::new(0),
            closed: Mutex::default(),
            refused: AtomicU64::new(0),
            refuse_until_ms: AtomicU64::new(0),
            stalled: RwLock::default(),
            skips: Mutex::default(),
            base_intervals: intervals,
            intervals: watch::Sender::new(intervals),
            depth_levels: AtomicUsize::new(super::depth::DIFF_DEPTH),
            depth_books: Default::default(),
        }
    }

    /// Levels a side the diff depth streams cover from now on (1..=[`super::depth::DIFF_DEPTH`]).
    pub fn set_depth_levels(&self, levels: usize) {
        self.depth_levels
            .store(levels.clamp(1, super::depth::DIFF_DEPTH), Ordering::Relaxed);
    }

    pub fn depth_books(&self) -> &super::depth::BookCache {
        &self.depth_books
    }

    pub fn depth_levels(&self) -> usize {
        self.depth_levels.load(Ordering::Relaxed)
    }

    /// Registers a new connection (its upgrade has been accepted).
    pub fn open(
        &self,
        endpoint_combined: bool,
        unit: TimeUnit,
        now_ms: u64,
        data_tx: mpsc::Sender<Arc<Frame>>,
    ) -> Arc<Conn> {
        let conn = Arc::new(Conn::new(
            self.next_id.fetch_add(1, Ordering::Relaxed),
            endpoint_combined,
            unit,
            now_ms,
            data_tx,
        ));
        self.accepted.fetch_add(1, Ordering::Relaxed);
        self.conns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(conn.id, conn.clone());
        conn
    }

    /// Unsubscribes everything and forgets the connection; its final stats, with why it ended,
    /// stay in [`WsStats::closed`] for a while.
    pub fn close(&self, conn: &Conn, end: String) {
        let mut last = conn.stats();
        last.closed_at_ms = Some(crate::state::now_ms());
        last.end = Some(end);
        let names = conn.subscription_names();
        let gone = conn.remove_subscriptions(&names);
        self.detach(conn, &gone);
        self.conns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&conn.id);
        let mut closed = self.closed.lock().unwrap_or_else(PoisonError::into_inner);
        if closed.len() >= CLOSED_KEPT {
            closed.pop_front();
        }
        closed.push_back(last);
    }

    /// Records a connection's count of messages within the last second.
    pub fn note_rate(&self, per_sec: u64) {
        self.max_per_sec_any.fetch_max(per_sec, Ordering::Relaxed);
    }

    pub fn note_rate_limit_close(&self) {
        self.rate_limit_closes.fetch_add(1, Ordering::Relaxed);
    }

    pub fn note_pong_timeout_close(&self) {
        self.pong_timeout_closes.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `conn` to the topics of `specs` (already recorded by `add_subscriptions`).
    pub fn attach(&self, conn: &Arc<Conn>, specs: Vec<StreamSpec>, now_ms: u64) {
        for spec in specs {
            let group = &self.groups[spec.group().index()];
            let mut topics = group.lock().unwrap_or_else(PoisonError::into_inner);
            let key = (spec.name.clone(), conn.unit);
            let topic = topics.entry(key).or_insert_with(|| {
                Arc::new(Topic {
                    name: Arc::from(spec.name.as_str()),
                    unit: conn.unit,
                    created_ms: now_ms,
                    spec,
                    subs: Mutex::default(),
                    cursor: Mutex::default(),
                    delivered: Mutex::default(),
                })
            });
            topic
                .subs
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Subscriber { conn: conn.clone() });
        }
    }

    /// Removes `conn` from the topics named `names`; a topic nobody listens to is dropped, so
    /// publishers only compute streams someone wants.
    pub fn detach(&self, conn: &Conn, names: &[String]) {
        for name in names {
            let Ok(spec) = super::streams::parse(name) else {
                continue;
            };
            let group = &self.groups[spec.group().index()];
            let mut topics = group.lock().unwrap_or_else(PoisonError::into_inner);
            let key = (spec.name, conn.unit);
            let empty = match topics.get(&key) {
                Some(t) => {
                    let mut subs = t.subs.lock().unwrap_or_else(PoisonError::into_inner);
                    subs.retain(|s| s.conn.id != conn.id);
                    subs.is_empty()
                }
                None => false,
            };
            if empty {
                topics.remove(&key);
            }
        }
    }

    /// The topics of `group` now (a snapshot, so publishing holds no registry lock).
    /// What stream `name` (e.g. `btcusdt@depth@100ms`, any time unit) delivered, while it has
    /// a topic (a subscriber).
    pub fn delivered(&self, name: &str) -> Option<WsDelivered> {
        self.groups.iter().find_map(|group| {
            let topics = group.lock().unwrap_or_else(PoisonError::into_inner);
            topics
                .iter()
                .find(|((n, _), _)| n == name)
                .map(|(_, t)| *t.delivered.lock().unwrap_or_else(PoisonError::into_inner))
        })
    }

    pub fn topics(&self, group: Group) -> Vec<Arc<Topic>> {
        self.groups[group.index()]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    fn connections(&self) -> Vec<Arc<Conn>> {
        let mut v: Vec<Arc<Conn>> = self
            .conns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        v.sort_by_key(|c| c.id);
        v
    }

    /// Sends `c` to every open connection; returns how many there were.
    pub fn command_all(&self, c: Command) -> usize {
        let conns = self.connections();
        for conn in &conns {
            conn.command(c);
        }
        conns.len()
    }

    /// Whether an upgrade at `now_ms` is refused; counts it if so.
    pub fn refuses(&self, now_ms: u64) -> bool {
        let refused = now_ms < self.refuse_until_ms.load(Ordering::Relaxed);
        if refused {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        refused
    }

    /// Refuse upgrades until `until_ms` (0: accept again).
    pub fn refuse_until(&self, until_ms: u64) {
        self.refuse_until_ms.store(until_ms, Ordering::Relaxed);
    }

    pub fn stall(&self, stream: &str) {
        self.stalled
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(stream.to_string());
    }

    pub fn unstall(&self, stream: &str) {
        self.stalled
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(stream);
    }

    /// Makes `stream`'s next depth event go missing.
    pub fn skip_next(&self, stream: &str) {
        self.skips
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(stream.to_string());
    }

    /// Whether `stream`'s event now is to be skipped (then it is no longer).
    pub fn take_skip(&self, stream: &str) -> bool {
        self.skips
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(stream)
    }

    /// The stalled stream names (empty almost always, so the copy per update is free).
    pub fn stalled(&self) -> HashSet<String> {
        self.stalled
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn intervals(&self) -> WsIntervals {
        *self.intervals.borrow()
    }

    pub fn watch_intervals(&self) -> watch::Receiver<WsIntervals> {
        self.intervals.subscribe()
    }

    pub fn set_intervals(&self, i: WsIntervals) -> Result<(), String> {
        i.validate()?;
        self.intervals.send_replace(i);
        Ok(())
    }

    pub fn stats(&self, now_ms: u64) -> WsStats {
        let connections: Vec<WsConnectionStats> =
            self.connections().iter().map(|c| c.stats()).collect();
        let until = self.refuse_until_ms.load(Ordering::Relaxed);
        let mut stalled: Vec<String> = self.stalled().into_iter().collect();
        stalled.sort();
        WsStats {
            accepted_total: self.accepted.load(Ordering::Relaxed),
            refused_total: self.refused.load(Ordering::Relaxed),
            open: connections.len(),
            rate_limit_closes: self.rate_limit_closes.load(Ordering::Relaxed),
            pong_timeout_closes: self.pong_timeout_closes.load(Ordering::Relaxed),
            max_control_per_sec_any: self.max_per_sec_any.load(Ordering::Relaxed),
            refusing_until_ms: (until > now_ms).then_some(until),
            stalled,
            intervals: self.intervals(),
            connections,
            closed: self
                .closed
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .cloned()
                .collect(),
        }
    }

    /// Faults off (no refusal, no stalls), configured intervals, totals zero, closed
    /// connections forgotten. Open connections stay open.
    pub fn reset(&self) {
        self.refuse_until_ms.store(0, Ordering::Relaxed);
        self.stalled
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.skips
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.intervals.send_replace(self.base_intervals);
        self.accepted.store(0, Ordering::Relaxed);
        self.refused.store(0, Ordering::Relaxed);
        self.rate_limit_closes.store(0, Ordering::Relaxed);
        self.pong_timeout_closes.store(0, Ordering::Relaxed);
        self.max_per_sec_any.store(0, Ordering::Relaxed);
        self.closed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::streams::{parse, MAX_STREAMS};

    fn hub() -> Hub {
        Hub::new(WsIntervals {
            ticker_ms: 1000,
            book_ticker_ms: 1000,
            kline_ms: 2000,
        })
    }

    fn specs(names: &[&str]) -> Vec<StreamSpec> {
        names.iter().map(|n| parse(n).unwrap()).collect()
    }

    #[test]
    fn topics_are_shared_and_dropped_with_their_last_subscriber() {
        let h = hub();
        let (tx1, mut rx1) = mpsc::channel(8);
        let (tx2, mut rx2) = mpsc::channel(8);
        let a = h.open(false, TimeUnit::Milli, 1, tx1);
        let b = h.open(true, TimeUnit::Milli, 2, tx2);
        for c in [&a, &b] {
            let new = c
                .add_subscriptions(specs(&["btcusdt@ticker", "btcusdt@ticker"]))
                .unwrap();
            assert_eq!(new.len(), 1);
            h.attach(c, new, 1);
        }
        let topics = h.topics(Group::Ticker);
        assert_eq!(topics.len(), 1);
        topics[0].deliver(Arc::new(Frame::new(topics[0].name.clone(), "{}".into())));
        let (fa, fb) = (rx1.try_recv().unwrap(), rx2.try_recv().unwrap());
        assert!(Arc::ptr_eq(&fa, &fb), "one frame for both connections");
        assert_eq!(fa.text(false).as_str(), "{}");
        assert_eq!(
            fa.text(true).as_str(),
            "{\"stream\":\"btcusdt@ticker\",\"data\":{}}"
        );
        h.close(&a, "test".into());
        assert_eq!(h.topics(Group::Ticker).len(), 1);
        let gone = b.remove_subscriptions(&["btcusdt@ticker".into(), "x@trade".into()]);
        h.detach(&b, &gone);
        assert!(h.topics(Group::Ticker).is_empty());
        let stats = h.stats(0);
        assert_eq!(stats.open, 1);
        assert_eq!(stats.closed.len(), 1);
        assert_eq!(
            (stats.closed[0].id, stats.closed[0].end.as_deref()),
            (a.id, Some("test"))
        );
        assert_eq!(stats.closed[0].subscriptions, ["btcusdt@ticker"]);
    }

    #[test]
    fn stream_limit_is_all_or_nothing() {
        let h = hub();
        let (tx, _rx) = mpsc::channel(8);
        let c = h.open(false, TimeUnit::Milli, 1, tx);
        let many: Vec<String> = (0..MAX_STREAMS)
            .map(|i| format!("s{i}usdt@trade"))
            .collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(
            c.add_subscriptions(specs(&refs)).unwrap().len(),
            MAX_STREAMS
        );
        // Re-subscribing known streams is fine; one more is not, and adds nothing.
        assert!(c.add_subscriptions(specs(&refs[..3])).unwrap().is_empty());
        let err = c
            .add_subscriptions(specs(&["btcusdt@trade", "s0usdt@trade"]))
            .unwrap_err();
        assert!(err.contains("1024"), "{err}");
        assert_eq!(c.subscription_names().len(), MAX_STREAMS);
    }

    #[test]
    fn a_full_queue_closes_the_slow_connection() {
        let h = hub();
        let (tx, _rx) = mpsc::channel(1);
        let c = h.open(false, TimeUnit::Milli, 1, tx);
        let new = c.add_subscriptions(specs(&["btcusdt@trade"])).unwrap();
        h.attach(&c, new, 1);
        let t = &h.topics(Group::Trade)[0];
        let commands = c.commands();
        t.deliver(Arc::new(Frame::new(t.name.clone(), "1".into())));
        assert_eq!(*commands.borrow(), Command::Run);
        t.deliver(Arc::new(Frame::new(t.name.clone(), "2".into())));
        assert!(matches!(
            *commands.borrow(),
            Command::Close { code: 1008, .. }
        ));
        // Weaker commands do not override stronger ones.
        assert!(!c.command(Command::Shutdown { grace_ms: 1 }));
        assert!(c.command(Command::Abort));
    }
}
