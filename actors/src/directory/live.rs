//! What a watched symbol keeps from its book, trade and candle streams, readable from any
//! thread: the local book (behind its venue's synchroniser), the trade tape and the candle in
//! progress. The feed's thread writes it ([`Live::on_event`]); the symbol's actor supplies the
//! REST parts (a book snapshot, the tape's first trades); the engine's read path serves from it.
//!
//! Nothing here is served unless it is whole: a book only while its synchroniser says it is in
//! sequence, a tape only once seeded from REST (else it would answer fewer trades than exist).
//!
//! Across nodes (the Redis bridge) one node streams a symbol for the cluster: its `Live`
//! publishes ([`Sharing::Publishing`]: the trades it takes in are kept for the bridge to send),
//! the others' mirror it ([`Sharing::Mirroring`]: the book is the published one, the trades
//! arrive from the channel; their own feed's events are ignored).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::model::{BookSnapshot, Candle, LiveCandles, OrderBook, Trade, TradeTape, TAPE_LEN};
use crate::venue::{BookSync, LiveData, SyncOutcome};

/// What the symbol's actor must fetch by REST for the live state to be whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveNeed {
    /// A book snapshot this many levels deep.
    Snapshot { limit: u32 },
    /// The last trades, to start the tape with.
    Trades,
    /// A new book snapshot from the stream: resubscribe the book (venues that send their
    /// snapshots in the stream).
    Resubscribe,
}

/// How long a mirrored book is served after it came: the publisher sends its book at least
/// every second while it is in sequence, so a silent publisher has died or is resynchronising
/// (REST answers meanwhile, as on the publisher).
pub const MIRROR_FOR: Duration = Duration::from_secs(3);

/// How the symbol's live state relates to other nodes'.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sharing {
    /// No cluster: this node streams for itself.
    #[default]
    Alone,
    /// This node streams it for the cluster and publishes what it takes in.
    Publishing,
    /// Another node streams it; this one keeps what that node publishes.
    Mirroring,
}

#[derive(Default)]
struct Inner {
    sharing: Sharing,
    /// Trades taken in and not yet published (while publishing), oldest first.
    outbox: Vec<Trade>,
    /// The book another node published, the depth it is known whole to, and when it came
    /// (mirroring).
    mirror: Option<(OrderBook, usize, Instant)>,
    sync: Option<Box<dyn BookSync>>,
    tape: TradeTape,
    /// The tape holds the REST trades it started from.
    tape_seeded: bool,
    /// Seeding asked for and not yet done.
    seeding: bool,
    /// The streamed base candles and the timeframes combined from them.
    candles: LiveCandles,
}

/// How `sync`'s book gets a new snapshot: from the stream (resubscribed) or by REST.
fn snapshot_need(sync: &dyn BookSync) -> LiveNeed {
    if sync.snapshot_in_stream() {
        LiveNeed::Resubscribe
    } else {
        LiveNeed::Snapshot {
            limit: sync.snapshot_limit(),
        }
    }
}

pub struct Live {
    inner: Mutex<Inner>,
    /// Readers of the book, trades and candle (resources, watches): while there is one, their
    /// streams run. Only the router changes it.
    readers: AtomicUsize,
    exchange: std::sync::Arc<str>,
    /// Bumped on every served change of the book / the tape (resources and watches wait on
    /// these; a watch channel never queues, the newest wins).
    book_version: watch::Sender<u64>,
    trades_version: watch::Sender<u64>,
    /// When the book's version was last bumped: watches time their wake-up from it
    /// (`cmm_watch_wake_seconds`).
    book_changed_at: Mutex<Option<Instant>>,
    /// [`BOOK_APPLY_SECONDS`] of this exchange (the handle resolved once, not per update).
    apply_seconds: metrics::Histogram,
}

/// Histogram of a book update's cost in the engine: from its frame read off the socket to
/// the book's version bump (parse, route, synchronise, apply, wake the readers).
pub const BOOK_APPLY_SECONDS: &str = "cmm_book_apply_seconds";

impl Live {
    pub fn new(exchange: std::sync::Arc<str>) -> Self {
        Self {
            inner: Mutex::default(),
            readers: AtomicUsize::new(0),
            book_version: watch::channel(0).0,
            trades_version: watch::channel(0).0,
            book_changed_at: Mutex::new(None),
            apply_seconds: metrics::histogram!(BOOK_APPLY_SECONDS, "exchange" => exchange.to_string()),
            exchange,
        }
    }

    /// One more reader; `true` for the first.
    pub fn add_reader(&self) -> bool {
        self.readers.fetch_add(1, Ordering::AcqRel) == 0
    }

    /// One reader less; `true` when it was the last.
    pub fn remove_reader(&self) -> bool {
        self.readers
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            == Ok(1)
    }

    /// Whether its streams run (someone reads them).
    pub fn wanted(&self) -> bool {
        self.readers.load(Ordering::Acquire) > 0
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        // Every change is a whole-value update: a panic elsewhere cannot leave it half-done.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A stream event whose frame was read at `received_at`; what REST must supply, if
    /// anything. `make_sync` gives the venue's synchroniser the first time a book change
    /// arrives.
    pub fn on_event(
        &self,
        data: LiveData,
        received_at: Instant,
        make_sync: impl FnOnce() -> Option<Box<dyn BookSync>>,
    ) -> Option<LiveNeed> {
        let mut inner = self.inner();
        if inner.sharing == Sharing::Mirroring {
            // Stray events of a feed this node no longer streams: the publisher's book rules.
            return None;
        }
        match data {
            LiveData::Book(delta) => {
                if inner.sync.is_none() {
                    inner.sync = make_sync();
                }
                let sync = inner.sync.as_mut()?;
                let outcome = sync.on_delta(delta);
                let need = snapshot_need(sync.as_ref());
                drop(inner);
                self.outcome(outcome, need, Some(received_at))
            }
            LiveData::Trade(trade) => {
                if inner.sharing == Sharing::Publishing {
                    if inner.outbox.len() == TAPE_LEN {
                        inner.outbox.remove(0);
                    }
                    inner.outbox.push(trade.clone());
                }
                self.take_trades(inner, std::iter::once(trade))
            }
            LiveData::Candle(candle) => {
                inner.candles.push(candle);
                None
            }
        }
    }

    /// Adds trades to the tape; the tape's first trades are asked for when it has none yet.
    fn take_trades(
        &self,
        mut inner: MutexGuard<'_, Inner>,
        trades: impl IntoIterator<Item = Trade>,
    ) -> Option<LiveNeed> {
        for trade in trades {
            inner.tape.push(trade);
        }
        if inner.tape_seeded {
            drop(inner);
            self.trades_version.send_modify(|v| *v += 1);
            return None;
        }
        if inner.seeding {
            return None;
        }
        inner.seeding = true;
        Some(LiveNeed::Trades)
    }

    /// `received_at`: when the frame behind a streamed change was read (none for a snapshot).
    fn outcome(
        &self,
        outcome: SyncOutcome,
        need: LiveNeed,
        received_at: Option<Instant>,
    ) -> Option<LiveNeed> {
        match outcome {
            SyncOutcome::Updated => {
                *self
                    .book_changed_at
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
                self.book_version.send_modify(|v| *v += 1);
                if let Some(at) = received_at {
                    self.apply_seconds.record(at.elapsed().as_secs_f64());
                }
                None
            }
            SyncOutcome::Unchanged => None,
            SyncOutcome::NeedSnapshot => Some(need),
            SyncOutcome::Resync(why) => {
                metrics::counter!("cmm_book_resyncs_total", "exchange" => self.exchange.to_string())
                    .increment(1);
                tracing::warn!(exchange = %self.exchange, %why, "local book out of sequence: resynchronising");
                Some(need)
            }
        }
    }

    /// A snapshot fetched for [`LiveNeed::Snapshot`]; what is still needed.
    pub fn on_snapshot(&self, snapshot: BookSnapshot) -> Option<LiveNeed> {
        let mut inner = self.inner();
        let sync = inner.sync.as_mut()?;
        let outcome = sync.on_snapshot(snapshot);
        let need = snapshot_need(sync.as_ref());
        drop(inner);
        self.outcome(outcome, need, None)
    }

    /// When the book last changed (its version was bumped), if it did.
    pub fn book_changed_at(&self) -> Option<Instant> {
        *self
            .book_changed_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The REST trades the tape starts from (oldest first); the streamed ones since stay.
    pub fn seed_trades(&self, trades: Vec<Trade>) {
        let mut inner = self.inner();
        let streamed = inner.tape.last(usize::MAX);
        let mut tape = TradeTape::default();
        for trade in trades.into_iter().chain(streamed) {
            tape.push(trade);
        }
        tape.continue_from(&inner.tape);
        inner.tape = tape;
        inner.tape_seeded = true;
        inner.seeding = false;
        drop(inner);
        self.trades_version.send_modify(|v| *v += 1);
    }

    /// Seeding failed: the next trade asks again.
    pub fn seed_failed(&self) {
        self.inner().seeding = false;
    }

    /// The best `limit` levels, when the book is in sequence and knows that deep (mirroring:
    /// when the published book does).
    pub fn book(&self, limit: usize) -> Option<OrderBook> {
        let inner = self.inner();
        if let Some((book, depth, at)) = &inner.mirror {
            return (limit <= *depth && at.elapsed() < MIRROR_FOR).then(|| book.truncated(limit));
        }
        let book = inner.sync.as_ref()?.ready()?;
        (book.covers(limit) && !book.crossed()).then(|| book.top(limit))
    }

    /// From now on this node publishes the symbol for the cluster, mirrors another node's,
    /// or streams for itself. Publishing drops a mirrored book (this node's own stream
    /// takes over); mirroring drops the own book (its stream stops).
    pub fn share(&self, sharing: Sharing) {
        let mut inner = self.inner();
        if inner.sharing == sharing {
            return;
        }
        inner.sharing = sharing;
        inner.outbox.clear();
        match sharing {
            Sharing::Mirroring => inner.sync = None,
            Sharing::Publishing | Sharing::Alone => inner.mirror = None,
        }
    }

    /// The book to publish for the cluster: the best `max` levels (fewer where it is not
    /// known that deep) and the depth they are known whole to; `None` while out of sequence.
    pub fn book_to_publish(&self, max: usize) -> Option<(OrderBook, usize)> {
        let inner = self.inner();
        let book = inner.sync.as_ref()?.ready()?;
        if book.crossed() {
            return None;
        }
        let depth = if book.covers(max) {
            max
        } else {
            let (bids, asks) = book.depth();
            bids.min(asks).min(max)
        };
        (depth > 0 && book.covers(depth)).then(|| (book.top(depth), depth))
    }

    /// The trades taken in since the last call (publishing), oldest first.
    pub fn trades_to_publish(&self) -> Vec<Trade> {
        std::mem::take(&mut self.inner().outbox)
    }

    /// A book another node published (ignored unless mirroring).
    pub fn mirror_book(&self, book: OrderBook, depth: usize) {
        let mut inner = self.inner();
        if inner.sharing != Sharing::Mirroring {
            return;
        }
        // The publisher's once-a-second repeat: alive, nothing changed, nobody to notify.
        let same = matches!(&inner.mirror, Some((held, d, _)) if *held == book && *d == depth);
        inner.mirror = Some((book, depth, Instant::now()));
        drop(inner);
        if !same {
            self.book_version.send_modify(|v| *v += 1);
        }
    }

    /// Trades another node published (ignored unless mirroring); what REST must supply.
    pub fn mirror_trades(&self, trades: Vec<Trade>) -> Option<LiveNeed> {
        let inner = self.inner();
        if inner.sharing != Sharing::Mirroring {
            return None;
        }
        self.take_trades(inner, trades)
    }

    /// The last `limit` trades (oldest first), once the tape is whole.
    pub fn trades(&self, limit: usize) -> Option<Vec<Trade>> {
        let inner = self.inner();
        inner.tape_seeded.then(|| inner.tape.last(limit))
    }

    /// The streamed base interval's length, once a candle came.
    pub fn candle_base_ms(&self) -> Option<i64> {
        self.inner().candles.base_ms()
    }

    /// The last `limit` candles of a `tf_ms` timeframe, the last in progress, once seeded.
    pub fn ohlcv(&self, tf_ms: i64, limit: usize) -> Option<Vec<Candle>> {
        self.inner().candles.candles(tf_ms, limit)
    }

    /// Seeds the `tf_ms` timeframe from REST (see [`LiveCandles::seed`]); `false` when REST
    /// and the stream do not join.
    pub fn seed_ohlcv(
        &self,
        tf_ms: i64,
        candles: &[Candle],
        base: &[Candle],
        limit: usize,
    ) -> bool {
        self.inner().candles.seed(tf_ms, candles, base, limit)
    }

    /// The trades after tape position `after` and the newest position (see
    /// [`TradeTape::since`]), once the tape is whole.
    pub fn trades_since(&self, after: u64) -> Option<(Vec<Trade>, u64)> {
        let inner = self.inner();
        inner.tape_seeded.then(|| inner.tape.since(after))
    }

    /// The tape's newest position, once it is whole.
    pub fn trades_position(&self) -> Option<u64> {
        let inner = self.inner();
        inner.tape_seeded.then(|| inner.tape.position())
    }

    pub fn book_updates(&self) -> watch::Receiver<u64> {
        self.book_version.subscribe()
    }

    pub fn trade_updates(&self) -> watch::Receiver<u64> {
        self.trades_version.subscribe()
    }

    /// The last watcher left: the streams stop, so what is held would go stale unseen.
    pub fn clear(&self) {
        *self.inner() = Inner::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book(nonce: i64) -> OrderBook {
        OrderBook {
            bids: vec![[100.0, 1.0], [99.0, 2.0]],
            asks: vec![[101.0, 1.0], [102.0, 3.0]],
            timestamp: Some(1),
            nonce: Some(nonce),
        }
    }

    fn trade(id: u64) -> Trade {
        Trade {
            id: Some(id.to_string()),
            timestamp: Some(1),
            side: None,
            price: 100.0,
            amount: 1.0,
        }
    }

    #[test]
    fn a_mirror_serves_the_published_book_to_its_depth_and_notifies() {
        let live = Live::new("binance".into());
        let updates = live.book_updates();
        live.mirror_book(book(7), 2);
        assert_eq!(live.book(2), None, "not mirroring: ignored");
        live.share(Sharing::Mirroring);
        live.mirror_book(book(7), 2);
        assert!(updates.has_changed().unwrap());
        let updates = live.book_updates();
        live.mirror_book(book(7), 2);
        assert!(!updates.has_changed().unwrap(), "a repeat notifies nobody");
        assert_eq!(live.book(2).and_then(|b| b.nonce), Some(7));
        assert_eq!(live.book(1).map(|b| b.bids.len()), Some(1));
        assert_eq!(live.book(3), None, "deeper than published");
        if let Some(mirror) = live.inner().mirror.as_mut() {
            mirror.2 = Instant::now() - MIRROR_FOR;
        }
        assert_eq!(live.book(1), None, "the publisher fell silent");
        live.mirror_book(book(8), 2);
        assert_eq!(live.book(2).and_then(|b| b.nonce), Some(8));
        live.share(Sharing::Publishing);
        assert_eq!(live.book(1), None, "the own stream takes over");
    }

    #[test]
    fn a_publisher_hands_over_each_trade_once_and_a_mirror_seeds_its_tape() {
        let live = Live::new("binance".into());
        live.share(Sharing::Publishing);
        let make = || None;
        assert_eq!(
            live.on_event(LiveData::Trade(trade(1)), Instant::now(), make),
            Some(LiveNeed::Trades)
        );
        live.on_event(LiveData::Trade(trade(2)), Instant::now(), make);
        let sent: Vec<_> = live.trades_to_publish().into_iter().map(|t| t.id).collect();
        assert_eq!(sent, vec![Some("1".into()), Some("2".into())]);
        assert!(live.trades_to_publish().is_empty());

        let mirror = Live::new("binance".into());
        mirror.share(Sharing::Mirroring);
        assert_eq!(mirror.mirror_trades(vec![trade(3)]), Some(LiveNeed::Trades));
        mirror.seed_trades(vec![trade(1), trade(2)]);
        assert_eq!(mirror.mirror_trades(vec![trade(4)]), None);
        let ids: Vec<_> = mirror
            .trades(10)
            .unwrap()
            .into_iter()
            .map(|t| t.id)
            .collect();
        assert_eq!(ids.len(), 4);
        assert!(mirror
            .on_event(LiveData::Trade(trade(5)), Instant::now(), make)
            .is_none());
        assert_eq!(
            mirror.trades(10).unwrap().len(),
            4,
            "own feed ignored while mirroring"
        );
    }
}
