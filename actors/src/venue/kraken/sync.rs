//! Kraken v2's book rule (docs/notes/books.md): a `snapshot` then `update`s, each carrying the
//! CRC32 of the top 10 asks (ascending) then the top 10 bids (descending), every price and
//! quantity as printed with the decimal point removed and leading zeros stripped; the book is
//! kept to the subscribed depth after each update before the checksum is computed. A
//! mismatch (or a crossed book) drops the book and resubscribes: the new subscription starts
//! with a new snapshot, in the stream.

use std::collections::BTreeMap;

use crate::model::{Exact, LevelTexts, LocalBook};
use crate::venue::{BookDelta, BookSnapshot, BookSync, SyncOutcome};

/// Levels a side the checksum covers.
const CHECKSUM_LEVELS: usize = 10;
/// While waiting for the new snapshot, every this many updates ask again (the resubscribe
/// may have been lost with its connection).
const ASK_AGAIN_EVERY: usize = 50;

/// The printed text of a side's levels (price → (price text, qty text)).
type Texts = BTreeMap<Exact, (Box<str>, Box<str>)>;

#[derive(Debug)]
pub struct KrakenSync {
    /// The subscribed depth: the book is kept to it.
    depth: usize,
    book: Option<LocalBook>,
    bid_texts: Texts,
    ask_texts: Texts,
    /// Updates seen since a new snapshot was asked for.
    waiting: Option<usize>,
    /// Updates applied since the snapshot (the served book's nonce: Kraken numbers nothing).
    applied: u64,
}

impl KrakenSync {
    pub fn new(depth: usize) -> Self {
        Self {
            depth,
            book: None,
            bid_texts: Texts::new(),
            ask_texts: Texts::new(),
            waiting: None,
            applied: 0,
        }
    }

    fn drop_book(&mut self, why: String) -> SyncOutcome {
        self.book = None;
        self.bid_texts.clear();
        self.ask_texts.clear();
        self.waiting = Some(0);
        SyncOutcome::Resync(why)
    }

    /// Updates the texts of a change's levels, kept to the depth like the book.
    fn keep_texts(&mut self, delta: &BookDelta, texts: &LevelTexts) {
        let sides = [
            (&mut self.bid_texts, &delta.bids, &texts.bids, true),
            (&mut self.ask_texts, &delta.asks, &texts.asks, false),
        ];
        for (map, levels, texts, bids) in sides {
            for (level, [price, qty]) in levels.iter().zip(texts) {
                if level.size.is_zero() {
                    map.remove(&level.price);
                } else {
                    map.insert(level.price, (price.clone(), qty.clone()));
                }
            }
            while map.len() > self.depth {
                if bids {
                    map.pop_first();
                } else {
                    map.pop_last();
                }
            }
        }
    }

    /// Kraken's CRC32 over the texts held.
    fn checksum(&self) -> u32 {
        let mut hasher = crc32fast::Hasher::new();
        let asks = self.ask_texts.values().take(CHECKSUM_LEVELS);
        let bids = self.bid_texts.values().rev().take(CHECKSUM_LEVELS);
        for (price, qty) in asks.chain(bids) {
            for text in [price, qty] {
                let digits: String = text.chars().filter(|c| *c != '.').collect();
                hasher.update(digits.trim_start_matches('0').as_bytes());
            }
        }
        hasher.finalize()
    }
}

impl BookSync for KrakenSync {
    fn on_delta(&mut self, mut delta: BookDelta) -> SyncOutcome {
        let Some(texts) = delta.texts.take() else {
            return self.drop_book("a book change without its printed levels".into());
        };
        if delta.snapshot {
            self.bid_texts.clear();
            self.ask_texts.clear();
            let mut book = LocalBook::default();
            book.keep_top(self.depth);
            self.book = Some(book);
            self.waiting = None;
            self.applied = 0;
        }
        if let Some(waiting) = self.waiting.as_mut() {
            *waiting += 1;
            return if (*waiting).is_multiple_of(ASK_AGAIN_EVERY) {
                SyncOutcome::NeedSnapshot
            } else {
                SyncOutcome::Unchanged
            };
        }
        if self.book.is_none() {
            // An update before any snapshot: only a new subscription brings one.
            self.waiting = Some(0);
            return SyncOutcome::NeedSnapshot;
        }
        self.keep_texts(&delta, &texts);
        let Some(book) = self.book.as_mut() else {
            return SyncOutcome::Unchanged;
        };
        book.apply(&delta.bids, &delta.asks);
        self.applied += 1;
        book.nonce = self.applied;
        book.timestamp_ms = Some(delta.event_time_ms);
        let crossed = book.crossed();
        let ours = self.checksum();
        match delta.checksum {
            Some(theirs) if theirs != ours => {
                self.drop_book(format!("checksum mismatch: {theirs} sent, {ours} held"))
            }
            _ if crossed => self.drop_book("crossed book".into()),
            _ => SyncOutcome::Updated,
        }
    }

    /// Kraken's snapshots come in the stream ([`BookSync::on_delta`]): a REST one is never
    /// asked for.
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
    use crate::model::Level;

    /// A change from `(price, qty)` texts.
    fn delta(snapshot: bool, bids: &[(&str, &str)], asks: &[(&str, &str)], sum: u32) -> BookDelta {
        let levels = |rows: &[(&str, &str)]| -> Vec<Level> {
            rows.iter()
                .map(|(p, q)| Level {
                    price: p.parse().unwrap(),
                    size: q.parse().unwrap(),
                })
                .collect()
        };
        let texts = |rows: &[(&str, &str)]| -> Vec<[Box<str>; 2]> {
            rows.iter()
                .map(|(p, q)| [Box::from(*p), Box::from(*q)])
                .collect()
        };
        BookDelta {
            bids: levels(bids),
            asks: levels(asks),
            snapshot,
            checksum: Some(sum),
            texts: Some(Box::new(LevelTexts {
                bids: texts(bids),
                asks: texts(asks),
            })),
            ..BookDelta::default()
        }
    }

    /// Kraken's rule written out independently: asks then bids, points and leading zeros gone.
    fn crc(asks: &[(&str, &str)], bids: &[(&str, &str)]) -> u32 {
        let mut s = String::new();
        for (p, q) in asks.iter().chain(bids) {
            for t in [p, q] {
                s.push_str(t.replace('.', "").trim_start_matches('0'));
            }
        }
        crc32fast::hash(s.as_bytes())
    }

    #[test]
    fn a_snapshot_then_updates_checked_by_their_checksum() {
        let mut s = KrakenSync::new(2);
        let bids = [("100.5", "1.00"), ("100.0", "0.5")];
        let asks = [("101.0", "0.25"), ("102.5", "3")];
        let out = s.on_delta(delta(true, &bids, &asks, crc(&asks, &bids)));
        assert_eq!(out, SyncOutcome::Updated);
        assert_eq!(
            s.ready().unwrap().top(5).bids,
            vec![[100.5, 1.0], [100.0, 0.5]]
        );
        // A better ask pushes 102.5 out of the depth-2 book (Kraken sends no qty 0 for it).
        let new_asks = [("100.9", "0.1"), ("101.0", "0.25")];
        let out = s.on_delta(delta(
            false,
            &[],
            &[("100.9", "0.1")],
            crc(&new_asks, &bids),
        ));
        assert_eq!(out, SyncOutcome::Updated);
        assert_eq!(
            s.ready().unwrap().top(5).asks,
            vec![[100.9, 0.1], [101.0, 0.25]]
        );
        assert!(!s.ready().unwrap().covers(3), "no deeper than subscribed");
    }

    #[test]
    fn a_wrong_checksum_drops_the_book_until_a_new_snapshot() {
        let mut s = KrakenSync::new(10);
        let bids = [("0.05", "10")];
        let asks = [("0.06", "1")];
        s.on_delta(delta(true, &bids, &asks, crc(&asks, &bids)));
        let out = s.on_delta(delta(false, &[("0.05", "11")], &[], 12345));
        assert!(
            matches!(out, SyncOutcome::Resync(ref why) if why.contains("checksum")),
            "{out:?}"
        );
        assert!(s.ready().is_none(), "not served meanwhile");
        assert_eq!(
            s.on_delta(delta(false, &[], &[], 1)),
            SyncOutcome::Unchanged
        );
        let out = s.on_delta(delta(true, &bids, &asks, crc(&asks, &bids)));
        assert_eq!(out, SyncOutcome::Updated);
        assert!(s.ready().is_some());
    }

    #[test]
    fn the_checksum_is_over_the_text_as_printed() {
        // 0.050 and 0.05 are one price but two texts: Kraken's sum is over the text.
        let mut s = KrakenSync::new(10);
        let bids = [("0.050", "10.0")];
        let asks = [("0.060", "1")];
        let out = s.on_delta(delta(
            true,
            &bids,
            &asks,
            crc(&[("0.06", "1")], &[("0.05", "10")]),
        ));
        assert!(matches!(out, SyncOutcome::Resync(_)), "{out:?}");
        let out = s.on_delta(delta(true, &bids, &asks, crc(&asks, &bids)));
        assert_eq!(out, SyncOutcome::Updated);
    }

    #[test]
    fn an_update_before_any_snapshot_asks_for_one() {
        let mut s = KrakenSync::new(10);
        assert_eq!(
            s.on_delta(delta(false, &[], &[], 0)),
            SyncOutcome::NeedSnapshot
        );
        assert!(s.ready().is_none());
    }
}
