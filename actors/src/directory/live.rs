//! What a watched symbol keeps from its book, trade and candle streams, readable from any
//! thread: the local book (behind its venue's synchroniser), the trade tape and the candle in
//! progress. The feed's thread writes it ([`Live::on_event`]); the symbol's actor supplies the
//! REST parts (a book snapshot, the tape's first trades); the engine's read path serves from it.
//!
//! Nothing here is served unless it is whole: a book only while its synchroniser says it is in
//! sequence, a tape only once seeded from REST (else it would answer fewer trades than exist).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::watch;

use crate::model::{BookSnapshot, LiveCandle, OrderBook, Trade, TradeTape};
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

#[derive(Default)]
struct Inner {
    sync: Option<Box<dyn BookSync>>,
    tape: TradeTape,
    /// The tape holds the REST trades it started from.
    tape_seeded: bool,
    /// Seeding asked for and not yet done.
    seeding: bool,
    candle: Option<LiveCandle>,
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
                inner.tape.push(trade);
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
            LiveData::Candle(candle) => {
                let newer = inner
                    .candle
                    .is_none_or(|held| held.candle.timestamp <= candle.candle.timestamp);
                if newer {
                    inner.candle = Some(candle);
                }
                None
            }
        }
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

    /// The best `limit` levels, when the book is in sequence and knows that deep.
    pub fn book(&self, limit: usize) -> Option<OrderBook> {
        let inner = self.inner();
        let book = inner.sync.as_ref()?.ready()?;
        (book.covers(limit) && !book.crossed()).then(|| book.top(limit))
    }

    /// The last `limit` trades (oldest first), once the tape is whole.
    pub fn trades(&self, limit: usize) -> Option<Vec<Trade>> {
        let inner = self.inner();
        inner.tape_seeded.then(|| inner.tape.last(limit))
    }

    pub fn candle(&self) -> Option<LiveCandle> {
        self.inner().candle
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
