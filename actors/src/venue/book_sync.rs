//! Keeping a local order book in step with a venue's incremental feed. Every venue works the
//! same way in outline (a snapshot, numbered changes, a rule for a gap) and differs in the
//! rule: each venue implements [`BookSync`] with its own (Binance's here; OKX, Bybit, Kraken
//! and Coinbase plug in the same way), and the engine only sees a normalised outcome: the book
//! changed, a snapshot is needed, or the book must be rebuilt (counted as a resync).
//!
//! While a synchroniser is not [`BookSync::ready`] its book must not be served (REST answers):
//! it may be half built.

use crate::model::LocalBook;
pub use crate::model::{BookDelta, BookSnapshot};

/// What a synchroniser made of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncOutcome {
    /// The book changed and is whole: it may be served.
    Updated,
    /// Nothing to do (an old update, or buffered while waiting for a snapshot).
    Unchanged,
    /// Take a snapshot (REST) and hand it to [`BookSync::on_snapshot`]; the book is not whole.
    NeedSnapshot,
    /// The book was wrong (a gap, a checksum mismatch, a crossed book): it is dropped and a
    /// snapshot is needed. Count it (`cmm_book_resyncs_total`).
    Resync(String),
}

/// A venue's book synchronisation rule around one [`LocalBook`].
pub trait BookSync: Send {
    /// A change from the stream.
    fn on_delta(&mut self, delta: BookDelta) -> SyncOutcome;
    /// A snapshot asked for by [`SyncOutcome::NeedSnapshot`] / [`SyncOutcome::Resync`].
    fn on_snapshot(&mut self, snapshot: BookSnapshot) -> SyncOutcome;
    /// The book, only while it is whole and in sequence.
    fn ready(&self) -> Option<&LocalBook>;
    /// Levels a side to ask snapshots for.
    fn snapshot_limit(&self) -> u32;
    /// Whether the venue sends its snapshots in the stream (a new subscription starts with
    /// one): then a snapshot is asked for by resubscribing the book, not by REST.
    fn snapshot_in_stream(&self) -> bool {
        false
    }
}

/// Changes kept while waiting for a snapshot; past this the oldest go (the snapshot will then
/// be found too new and taken again).
const MAX_BUFFERED: usize = 10_000;
/// While waiting for a snapshot, every this many buffered changes ask for one again (5 s of
/// `@depth@100ms`).
const ASK_AGAIN_EVERY: usize = 50;

/// Binance spot (`<symbol>@depth@100ms` + `/api/v3/depth`), as docs/notes/books.md:
/// buffer the stream, take a snapshot, drop events with `u` ≤ `lastUpdateId`, the first kept
/// must have `U` ≤ `lastUpdateId` + 1 ≤ `u`, then each `U` = the previous `u` + 1; anything
/// else rebuilds from a new snapshot, the stream kept open.
#[derive(Debug)]
pub struct BinanceSync {
    /// Levels a side the snapshots are asked with: a side that long was cut.
    snapshot_limit: usize,
    /// The book once whole; None while buffering.
    book: Option<LocalBook>,
    /// Changes waiting for a snapshot, oldest first.
    buffer: Vec<BookDelta>,
    /// A snapshot has been asked for and not yet applied.
    awaiting_snapshot: bool,
    /// The book is a snapshot no event has followed yet: the next one may straddle it
    /// (`U` ≤ id + 1 ≤ `u`) rather than start right after it.
    fresh_snapshot: bool,
}

impl BinanceSync {
    /// Snapshots will be taken `snapshot_limit` levels deep.
    pub fn new(snapshot_limit: usize) -> Self {
        Self {
            snapshot_limit,
            book: None,
            buffer: Vec::new(),
            awaiting_snapshot: false,
            fresh_snapshot: false,
        }
    }

    /// Drops the book, keeps `delta` as the first buffered one, asks for a snapshot.
    fn restart(&mut self, delta: BookDelta, why: String) -> SyncOutcome {
        self.book = None;
        self.buffer.clear();
        self.buffer.push(delta);
        self.awaiting_snapshot = true;
        SyncOutcome::Resync(why)
    }

    fn buffer(&mut self, delta: BookDelta) {
        if self.buffer.len() == MAX_BUFFERED {
            self.buffer.remove(0);
        }
        self.buffer.push(delta);
    }
}

/// Applies `delta` to `book` when it follows on (`U` = `u` + 1, or for the first after a
/// snapshot `U` ≤ id + 1 ≤ `u`); Err says why not.
fn apply(book: &mut LocalBook, delta: &BookDelta, first: bool) -> Result<(), String> {
    let next = book.nonce + 1;
    let follows = if first {
        delta.first_id <= next && next <= delta.last_id
    } else {
        delta.first_id == next
    };
    if !follows {
        return Err(format!(
            "sequence gap: book at {}, update covers {}..={}",
            book.nonce, delta.first_id, delta.last_id
        ));
    }
    book.apply(&delta.bids, &delta.asks);
    book.nonce = delta.last_id;
    book.timestamp_ms = Some(delta.event_time_ms);
    if book.crossed() {
        return Err(format!("crossed book after update {}", delta.last_id));
    }
    Ok(())
}

impl BookSync for BinanceSync {
    fn on_delta(&mut self, delta: BookDelta) -> SyncOutcome {
        let Some(book) = self.book.as_mut() else {
            self.buffer(delta);
            // Still waiting: ask again now and then (the snapshot call may have failed).
            if self.awaiting_snapshot && !self.buffer.len().is_multiple_of(ASK_AGAIN_EVERY) {
                return SyncOutcome::Unchanged;
            }
            self.awaiting_snapshot = true;
            return SyncOutcome::NeedSnapshot;
        };
        if delta.last_id <= book.nonce {
            return SyncOutcome::Unchanged; // old: already in the book
        }
        let first = std::mem::replace(&mut self.fresh_snapshot, false);
        match apply(book, &delta, first) {
            Ok(()) => SyncOutcome::Updated,
            Err(why) => self.restart(delta, why),
        }
    }

    fn on_snapshot(&mut self, snapshot: BookSnapshot) -> SyncOutcome {
        let id = snapshot.update_id;
        self.buffer.retain(|d| d.last_id > id);
        // Too old for the buffered events (the first kept starts past id + 1): again.
        if self.buffer.first().is_some_and(|d| d.first_id > id + 1) {
            self.awaiting_snapshot = true;
            return SyncOutcome::NeedSnapshot;
        }
        let mut book = LocalBook::from_snapshot(&snapshot, self.snapshot_limit);
        if book.crossed() {
            self.awaiting_snapshot = true;
            return SyncOutcome::NeedSnapshot;
        }
        let buffered = std::mem::take(&mut self.buffer);
        for (i, delta) in buffered.iter().enumerate() {
            if let Err(why) = apply(&mut book, delta, i == 0) {
                // The buffer itself has a gap: start again from the newest event on.
                if let Some(last) = buffered.last() {
                    return self.restart(last.clone(), why);
                }
            }
        }
        self.awaiting_snapshot = false;
        self.fresh_snapshot = buffered.is_empty();
        self.book = Some(book);
        SyncOutcome::Updated
    }

    fn ready(&self) -> Option<&LocalBook> {
        self.book.as_ref()
    }

    fn snapshot_limit(&self) -> u32 {
        u32::try_from(self.snapshot_limit).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Level;

    fn l(p: &str, s: &str) -> Level {
        Level {
            price: p.parse().unwrap(),
            size: s.parse().unwrap(),
        }
    }

    fn delta(first: u64, last: u64, bids: Vec<Level>, asks: Vec<Level>) -> BookDelta {
        BookDelta {
            first_id: first,
            last_id: last,
            prev_id: None,
            bids,
            asks,
            event_time_ms: last as i64,
            ..BookDelta::default()
        }
    }

    fn snapshot(id: u64) -> BookSnapshot {
        BookSnapshot {
            bids: vec![l("100", "1"), l("99", "2")],
            asks: vec![l("101", "1"), l("102", "2")],
            update_id: id,
        }
    }

    #[test]
    fn buffers_until_the_snapshot_then_replays() {
        let mut s = BinanceSync::new(1000);
        assert_eq!(
            s.on_delta(delta(8, 9, vec![l("100", "9")], vec![])),
            SyncOutcome::NeedSnapshot
        );
        assert_eq!(
            s.on_delta(delta(10, 12, vec![l("99", "0")], vec![])),
            SyncOutcome::Unchanged
        );
        assert_eq!(
            s.on_delta(delta(13, 13, vec![], vec![l("101", "5")])),
            SyncOutcome::Unchanged
        );
        assert!(s.ready().is_none(), "not served before the snapshot");
        // Snapshot at 10: 8..=9 dropped, 10..=12 is the first kept (U <= 11 <= u).
        assert_eq!(s.on_snapshot(snapshot(10)), SyncOutcome::Updated);
        let book = s.ready().unwrap();
        assert_eq!(book.nonce, 13);
        let top = book.top(5);
        assert_eq!(
            top.bids,
            vec![[100.0, 1.0]],
            "the dropped event (u <= id) not applied"
        );
        assert_eq!(top.asks[0], [101.0, 5.0]);
        assert_eq!(
            s.on_delta(delta(14, 14, vec![l("98", "1")], vec![])),
            SyncOutcome::Updated
        );
        assert_eq!(
            s.on_delta(delta(12, 13, vec![], vec![])),
            SyncOutcome::Unchanged,
            "old"
        );
    }

    #[test]
    fn a_snapshot_older_than_the_stream_is_taken_again() {
        let mut s = BinanceSync::new(1000);
        s.on_delta(delta(20, 21, vec![], vec![]));
        assert_eq!(s.on_snapshot(snapshot(10)), SyncOutcome::NeedSnapshot);
        assert!(s.ready().is_none());
        assert_eq!(s.on_snapshot(snapshot(20)), SyncOutcome::Updated);
        assert_eq!(s.ready().unwrap().nonce, 21);
    }

    #[test]
    fn a_snapshot_newer_than_the_buffer_takes_the_event_that_straddles_it() {
        let mut s = BinanceSync::new(1000);
        s.on_delta(delta(11, 11, vec![], vec![]));
        // Taken late: 11 is in it already, and the next event covers 12..=15.
        assert_eq!(s.on_snapshot(snapshot(13)), SyncOutcome::Updated);
        assert_eq!(
            s.on_delta(delta(12, 15, vec![], vec![])),
            SyncOutcome::Updated
        );
        assert_eq!(
            s.on_delta(delta(16, 16, vec![], vec![])),
            SyncOutcome::Updated
        );
        assert_eq!(s.ready().unwrap().nonce, 16);
    }

    #[test]
    fn a_gap_resyncs_and_nothing_is_served_meanwhile() {
        let mut s = BinanceSync::new(1000);
        s.on_delta(delta(11, 11, vec![], vec![]));
        s.on_snapshot(snapshot(10));
        assert_eq!(
            s.on_delta(delta(12, 13, vec![], vec![])),
            SyncOutcome::Updated
        );
        // 14 is missing.
        let out = s.on_delta(delta(15, 16, vec![], vec![]));
        assert!(
            matches!(out, SyncOutcome::Resync(ref why) if why.contains("gap")),
            "{out:?}"
        );
        assert!(s.ready().is_none());
        assert_eq!(
            s.on_delta(delta(17, 17, vec![], vec![])),
            SyncOutcome::Unchanged
        );
        assert_eq!(s.on_snapshot(snapshot(16)), SyncOutcome::Updated);
        assert_eq!(s.ready().unwrap().nonce, 17);
    }

    #[test]
    fn a_crossing_update_resyncs() {
        let mut s = BinanceSync::new(1000);
        s.on_delta(delta(11, 11, vec![], vec![]));
        s.on_snapshot(snapshot(10));
        let out = s.on_delta(delta(12, 12, vec![l("101.5", "1")], vec![]));
        assert!(
            matches!(out, SyncOutcome::Resync(ref why) if why.contains("crossed")),
            "{out:?}"
        );
        assert!(s.ready().is_none());
    }
}
