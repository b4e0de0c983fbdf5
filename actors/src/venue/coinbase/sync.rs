//! Coinbase Advanced Trade's `level2` rule (docs/notes/books.md): a `snapshot` (the whole
//! book) then `update`s; every message of the connection carries `sequence_num`, one more
//! than the last: a gap anywhere means a message was lost, maybe this book's, so the book is
//! dropped and resubscribed (the new subscription starts with a new snapshot, in the stream).
//! The connection counts its gaps (`BookDelta::epoch`): a change of another epoch than the
//! book's snapshot follows a loss.

use crate::model::LocalBook;
use crate::venue::{BookDelta, BookSnapshot, BookSync, SyncOutcome};

/// While waiting for the new snapshot, every this many updates ask again.
const ASK_AGAIN_EVERY: usize = 50;

#[derive(Debug, Default)]
pub struct CoinbaseSync {
    book: Option<LocalBook>,
    /// The connection's gap count when the snapshot came.
    epoch: u64,
    /// Updates seen since a new snapshot was asked for.
    waiting: Option<usize>,
}

impl CoinbaseSync {
    pub fn new() -> Self {
        Self::default()
    }

    fn drop_book(&mut self, why: String) -> SyncOutcome {
        self.book = None;
        self.waiting = Some(0);
        SyncOutcome::Resync(why)
    }
}

impl BookSync for CoinbaseSync {
    fn on_delta(&mut self, delta: BookDelta) -> SyncOutcome {
        if delta.snapshot {
            let mut book = LocalBook::from_levels(&delta.bids, &delta.asks, delta.last_id);
            book.timestamp_ms = Some(delta.event_time_ms);
            self.epoch = delta.epoch;
            self.waiting = None;
            let crossed = book.crossed();
            self.book = Some(book);
            if crossed {
                return self.drop_book("crossed snapshot".into());
            }
            return SyncOutcome::Updated;
        }
        if let Some(waiting) = self.waiting.as_mut() {
            *waiting += 1;
            return if (*waiting).is_multiple_of(ASK_AGAIN_EVERY) {
                SyncOutcome::NeedSnapshot
            } else {
                SyncOutcome::Unchanged
            };
        }
        let Some(book) = self.book.as_mut() else {
            self.waiting = Some(0);
            return SyncOutcome::NeedSnapshot;
        };
        if delta.epoch != self.epoch {
            return self.drop_book(format!(
                "sequence gap on the connection before message {}",
                delta.last_id
            ));
        }
        book.apply(&delta.bids, &delta.asks);
        book.nonce = delta.last_id;
        book.timestamp_ms = Some(delta.event_time_ms);
        if book.crossed() {
            return self.drop_book(format!("crossed book after message {}", delta.last_id));
        }
        SyncOutcome::Updated
    }

    /// Coinbase's snapshots come in the stream: a REST one is never asked for.
    fn on_snapshot(&mut self, _snapshot: BookSnapshot) -> SyncOutcome {
        SyncOutcome::Unchanged
    }

    fn ready(&self) -> Option<&LocalBook> {
        self.book.as_ref()
    }

    fn snapshot_limit(&self) -> u32 {
        0
    }

    fn snapshot_in_stream(&self) -> bool {
        true
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

    fn delta(
        snapshot: bool,
        seq: u64,
        epoch: u64,
        bids: Vec<Level>,
        asks: Vec<Level>,
    ) -> BookDelta {
        BookDelta {
            first_id: seq,
            last_id: seq,
            bids,
            asks,
            snapshot,
            epoch,
            ..BookDelta::default()
        }
    }

    #[test]
    fn snapshot_updates_and_a_gap_resyncs_until_the_next_snapshot() {
        let mut s = CoinbaseSync::new();
        assert_eq!(
            s.on_delta(delta(false, 1, 7, vec![], vec![])),
            SyncOutcome::NeedSnapshot
        );
        let snap = delta(true, 2, 7, vec![l("100", "1")], vec![l("101", "1")]);
        assert_eq!(s.on_delta(snap.clone()), SyncOutcome::Updated);
        assert_eq!(
            s.on_delta(delta(false, 3, 7, vec![l("100.5", "2")], vec![])),
            SyncOutcome::Updated
        );
        let book = s.ready().unwrap();
        assert_eq!((book.nonce, book.top(1).bids[0]), (3, [100.5, 2.0]));
        // A message was lost somewhere on the connection: the epoch moved.
        let out = s.on_delta(delta(false, 5, 8, vec![], vec![]));
        assert!(
            matches!(out, SyncOutcome::Resync(ref why) if why.contains("gap")),
            "{out:?}"
        );
        assert!(s.ready().is_none());
        assert_eq!(
            s.on_delta(delta(false, 6, 8, vec![], vec![])),
            SyncOutcome::Unchanged
        );
        assert_eq!(
            s.on_delta(delta(true, 7, 8, vec![l("100", "1")], vec![l("101", "1")])),
            SyncOutcome::Updated
        );
        assert_eq!(
            s.on_delta(delta(false, 8, 8, vec![], vec![l("100", "1")]))
                .clone(),
            SyncOutcome::Resync("crossed book after message 8".into())
        );
    }
}
