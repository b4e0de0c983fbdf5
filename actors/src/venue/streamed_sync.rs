//! Books whose snapshots come in the stream itself (OKX `books`, Bybit `orderbook.<depth>`):
//! a snapshot message replaces the book, then each change must chain on to the last (OKX:
//! `prevSeqId` = the last `seqId`; Bybit: `u` = the last `u` + 1), and where the venue sends a
//! checksum (OKX) it must match the book computed from the strings exactly as received. Any
//! break drops the book and asks for a new snapshot, which such a venue gives by subscribing
//! the book again ([`BookSync::snapshot_in_stream`]: `LiveNeed::Resubscribe`), never by REST.
//! Kraken's rule (`crate::venue::kraken::KrakenSync`) is the same in outline but numbers
//! nothing and checksums another text.

use std::collections::BTreeMap;

use crate::model::{BookDelta, BookSnapshot, Exact, LocalBook};
use crate::venue::{BookSync, SyncOutcome};

/// While waiting for a snapshot, every this many changes ask for one again (the resubscribe
/// may have been lost).
const ASK_AGAIN_EVERY: usize = 50;

/// How a change says it follows the last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chain {
    /// It names the previous message's id (OKX `prevSeqId`).
    PrevId,
    /// Its id is the last one's plus one (Bybit `u`).
    Consecutive,
}

/// A venue's checksum of the book, from its levels' strings.
pub type Checksum = fn(&TextBook) -> u32;

/// The book's levels as the venue wrote them, keyed by exact price.
#[derive(Debug, Clone, Default)]
pub struct TextBook {
    pub bids: BTreeMap<Exact, [Box<str>; 2]>,
    pub asks: BTreeMap<Exact, [Box<str>; 2]>,
}

impl TextBook {
    /// Applies a change's strings (side by side with its parsed levels), kept to the best
    /// `depth` a side like the book; false when the change carries none.
    fn apply(&mut self, delta: &BookDelta, depth: usize) -> bool {
        let Some(text) = &delta.texts else {
            return false;
        };
        for (map, levels, texts) in [
            (&mut self.bids, &delta.bids, &text.bids),
            (&mut self.asks, &delta.asks, &text.asks),
        ] {
            for (level, text) in levels.iter().zip(texts) {
                if level.size.is_zero() {
                    map.remove(&level.price);
                } else {
                    map.insert(level.price, text.clone());
                }
            }
        }
        while self.bids.len() > depth {
            self.bids.pop_first();
        }
        while self.asks.len() > depth {
            self.asks.pop_last();
        }
        true
    }

    /// Best bids first.
    pub fn best_bids(&self) -> impl Iterator<Item = &[Box<str>; 2]> {
        self.bids.values().rev()
    }

    /// Best asks first.
    pub fn best_asks(&self) -> impl Iterator<Item = &[Box<str>; 2]> {
        self.asks.values()
    }
}

/// The synchroniser of a book with in-stream snapshots.
#[derive(Debug)]
pub struct StreamedSync {
    /// Levels a side the venue keeps in the subscribed book.
    depth: usize,
    chain: Chain,
    checksum: Option<Checksum>,
    /// The book once a snapshot came; None while waiting for one.
    book: Option<LocalBook>,
    /// Its strings, kept only where a checksum is computed over them.
    text: TextBook,
    /// Changes seen while waiting for a snapshot.
    waiting: usize,
}

impl StreamedSync {
    pub fn new(depth: usize, chain: Chain, checksum: Option<Checksum>) -> Self {
        Self {
            depth,
            chain,
            checksum,
            book: None,
            text: TextBook::default(),
            waiting: 0,
        }
    }

    /// Drops the book: the resubscribe that brings a new snapshot is asked for now.
    fn restart(&mut self, why: String) -> SyncOutcome {
        self.book = None;
        self.text = TextBook::default();
        self.waiting = 1;
        SyncOutcome::Resync(why)
    }

    /// Checks the venue's checksum, if any, against the strings held.
    fn verify(&self, delta: &BookDelta) -> Result<(), String> {
        let (Some(checksum), Some(sent)) = (self.checksum, delta.checksum) else {
            return Ok(());
        };
        let computed = checksum(&self.text);
        if computed != sent {
            return Err(format!(
                "checksum mismatch at {}: {sent} sent, {computed} computed",
                delta.last_id
            ));
        }
        Ok(())
    }

    fn on_book_snapshot(&mut self, delta: BookDelta) -> SyncOutcome {
        self.text = TextBook::default();
        if self.checksum.is_some() && !self.text.apply(&delta, self.depth) {
            return self.restart("a snapshot without its strings".into());
        }
        let time = delta.event_time_ms;
        let id = delta.last_id;
        if let Err(why) = self.verify(&delta) {
            return self.restart(why);
        }
        let snapshot = BookSnapshot {
            bids: delta.bids,
            asks: delta.asks,
            update_id: id,
        };
        // The venue keeps its best `depth` levels a side in the stream: the book is whole
        // that deep, and no deeper.
        let mut book = LocalBook::from_levels(&snapshot.bids, &snapshot.asks, snapshot.update_id);
        book.keep_top(self.depth);
        book.timestamp_ms = Some(time);
        if book.crossed() {
            return self.restart(format!("crossed snapshot at {id}"));
        }
        self.book = Some(book);
        self.waiting = 0;
        SyncOutcome::Updated
    }
}

impl BookSync for StreamedSync {
    fn on_delta(&mut self, delta: BookDelta) -> SyncOutcome {
        if delta.snapshot {
            return self.on_book_snapshot(delta);
        }
        let Some(book) = self.book.as_mut() else {
            self.waiting += 1;
            if self.waiting == 1 || self.waiting.is_multiple_of(ASK_AGAIN_EVERY) {
                return SyncOutcome::NeedSnapshot;
            }
            return SyncOutcome::Unchanged;
        };
        let follows = match self.chain {
            Chain::PrevId => delta.prev_id == Some(book.nonce),
            Chain::Consecutive => {
                if delta.last_id <= book.nonce {
                    return SyncOutcome::Unchanged; // already in the book
                }
                delta.first_id == book.nonce + 1
            }
        };
        if !follows {
            let why = format!(
                "sequence gap: book at {}, update {} (previous {:?})",
                book.nonce, delta.last_id, delta.prev_id
            );
            return self.restart(why);
        }
        book.apply(&delta.bids, &delta.asks);
        book.nonce = delta.last_id;
        book.timestamp_ms = Some(delta.event_time_ms);
        if book.crossed() {
            return self.restart(format!("crossed book after update {}", delta.last_id));
        }
        if self.checksum.is_some() && !self.text.apply(&delta, self.depth) {
            return self.restart("an update without its strings".into());
        }
        match self.verify(&delta) {
            Ok(()) => SyncOutcome::Updated,
            Err(why) => self.restart(why),
        }
    }

    /// A REST snapshot cannot be chained to this stream (its numbers are the stream's own):
    /// only the stream's snapshot starts a book.
    fn on_snapshot(&mut self, _snapshot: BookSnapshot) -> SyncOutcome {
        SyncOutcome::Unchanged
    }

    fn ready(&self) -> Option<&LocalBook> {
        self.book.as_ref()
    }

    fn snapshot_limit(&self) -> u32 {
        u32::try_from(self.depth).unwrap_or(u32::MAX)
    }

    fn snapshot_in_stream(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Level, LevelTexts};
    use crate::venue::{bybit, okx};

    type Rows<'a> = &'a [(&'a str, &'a str)];

    fn delta(seq: u64, prev: Option<u64>, bids: Rows<'_>, asks: Rows<'_>) -> BookDelta {
        let levels = |rows: Rows<'_>| {
            rows.iter()
                .map(|(p, s)| Level {
                    price: p.parse().unwrap(),
                    size: s.parse().unwrap(),
                })
                .collect()
        };
        let text = |rows: Rows<'_>| {
            rows.iter()
                .map(|(p, s)| [Box::from(*p), Box::from(*s)])
                .collect()
        };
        BookDelta {
            first_id: seq,
            last_id: seq,
            prev_id: prev,
            bids: levels(bids),
            asks: levels(asks),
            event_time_ms: seq as i64,
            texts: Some(Box::new(LevelTexts {
                bids: text(bids),
                asks: text(asks),
            })),
            ..BookDelta::default()
        }
    }

    fn snapshot(seq: u64, bids: Rows<'_>, asks: Rows<'_>, checksum: Option<u32>) -> BookDelta {
        BookDelta {
            snapshot: true,
            checksum,
            ..delta(seq, None, bids, asks)
        }
    }

    fn with_checksum(delta: BookDelta, checksum: u32) -> BookDelta {
        BookDelta {
            checksum: Some(checksum),
            ..delta
        }
    }

    const BIDS: Rows<'static> = &[("8476.97", "256"), ("8475.55", "101")];
    const ASKS: Rows<'static> = &[("8476.98", "415"), ("8477", "7")];

    #[test]
    fn okx_checksums_the_strings_as_received() {
        let mut s = okx::book_sync();
        // CRC32 of "8476.97:256:8476.98:415:8475.55:101:8477:7" (zlib), signed.
        let snap = snapshot(10, BIDS, ASKS, Some(2123921068));
        assert_eq!(s.on_delta(snap), SyncOutcome::Updated);
        assert_eq!(s.ready().unwrap().nonce, 10);
        // The ask 8477 goes: "8476.97:256:8476.98:415:8475.55:101" (a side that runs out
        // contributes only the other).
        let update = with_checksum(delta(11, Some(10), &[], &[("8477", "0")]), 214565906);
        assert_eq!(s.on_delta(update), SyncOutcome::Updated);
        // The same price written "8477.0" is another string: the checksum over "8477" fails.
        let mut t = okx::book_sync();
        let snap = snapshot(
            10,
            BIDS,
            &[("8476.98", "415"), ("8477.0", "7")],
            Some(2123921068),
        );
        assert!(
            matches!(t.on_delta(snap), SyncOutcome::Resync(ref why) if why.contains("checksum")),
            "computed from the strings, not the numbers"
        );
        // A wrong checksum drops the book.
        let bad = with_checksum(delta(12, Some(11), &[("8476.97", "255")], &[]), 1);
        assert!(
            matches!(s.on_delta(bad), SyncOutcome::Resync(ref why) if why.contains("checksum"))
        );
        assert!(s.ready().is_none());
    }

    #[test]
    fn okx_a_gap_waits_for_the_new_snapshot() {
        let mut s = okx::book_sync();
        assert_eq!(
            s.on_delta(delta(5, Some(4), BIDS, ASKS)),
            SyncOutcome::NeedSnapshot,
            "an update before any snapshot"
        );
        assert_eq!(
            s.on_delta(snapshot(10, BIDS, ASKS, None)),
            SyncOutcome::Updated
        );
        assert_eq!(
            s.on_delta(delta(11, Some(10), &[], &[])),
            SyncOutcome::Updated
        );
        let out = s.on_delta(delta(13, Some(12), &[], &[]));
        assert!(
            matches!(out, SyncOutcome::Resync(ref why) if why.contains("gap")),
            "{out:?}"
        );
        assert!(s.ready().is_none(), "nothing served while resynchronising");
        // Updates still in flight before the new snapshot: ignored, the snapshot not asked
        // again at once (the resync asked for it).
        assert_eq!(
            s.on_delta(delta(14, Some(13), &[], &[])),
            SyncOutcome::Unchanged
        );
        assert_eq!(
            s.on_delta(snapshot(20, BIDS, ASKS, None)),
            SyncOutcome::Updated
        );
        assert_eq!(s.ready().unwrap().nonce, 20);
        assert!(s.snapshot_in_stream());
        // OKX's 400 levels are whole, and no deeper.
        assert!(s.ready().unwrap().covers(400) && !s.ready().unwrap().covers(401));
    }

    #[test]
    fn bybit_updates_follow_one_by_one() {
        let mut s = bybit::book_sync();
        assert_eq!(
            s.on_delta(snapshot(7, BIDS, ASKS, None)),
            SyncOutcome::Updated
        );
        assert_eq!(
            s.on_delta(delta(8, None, &[("8476.96", "1")], &[])),
            SyncOutcome::Updated
        );
        assert_eq!(
            s.on_delta(delta(8, None, &[], &[])),
            SyncOutcome::Unchanged,
            "old"
        );
        let top = s.ready().unwrap().top(1);
        assert_eq!(top.bids, vec![[8476.97, 256.0]]);
        let out = s.on_delta(delta(10, None, &[], &[]));
        assert!(
            matches!(out, SyncOutcome::Resync(ref why) if why.contains("gap")),
            "{out:?}"
        );
        // A new snapshot (the service restarted: u = 1) replaces the book.
        assert_eq!(
            s.on_delta(snapshot(1, BIDS, ASKS, None)),
            SyncOutcome::Updated
        );
        let out = s.on_delta(delta(2, None, &[("8477", "1")], &[]));
        assert!(
            matches!(out, SyncOutcome::Resync(ref why) if why.contains("crossed")),
            "{out:?}"
        );
        assert!(s.ready().is_none());
    }
}
