//! A local order book kept from a venue's incremental feed: levels keyed by exact price,
//! sizes absolute (an update's size replaces the level's; 0 removes it). Venue-neutral: the
//! rules that say which updates to apply and when to start again live with each venue's
//! synchroniser (`crate::venue::book_sync`).

use super::ladder::{Better, Ladder};
use super::{Exact, OrderBook};

/// One level as a venue sends it: price and the new absolute size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Level {
    pub price: Exact,
    pub size: Exact,
}

/// A snapshot of the whole book (Binance: REST `/api/v3/depth`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookSnapshot {
    pub bids: Vec<Level>,
    pub asks: Vec<Level>,
    /// The venue's update id of the snapshot (`lastUpdateId`).
    pub update_id: u64,
}

/// The price and size texts of levels exactly as the venue printed them, parallel to a
/// change's levels: a venue whose checksum is over that text (Kraken) is checked with them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LevelTexts {
    pub bids: Vec<[Box<str>; 2]>,
    pub asks: Vec<[Box<str>; 2]>,
}

/// One incremental change as the venue numbers it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BookDelta {
    /// First and last update id the change covers (Binance `U`, `u`; equal where the venue
    /// numbers each message once).
    pub first_id: u64,
    pub last_id: u64,
    /// The previous message's last id where the venue says it (Binance futures `pu`).
    pub prev_id: Option<u64>,
    pub bids: Vec<Level>,
    pub asks: Vec<Level>,
    /// Exchange time, Unix ms.
    pub event_time_ms: i64,
    /// The venue sent the whole book in the stream (a new subscription's first message):
    /// it replaces what is held.
    pub snapshot: bool,
    /// The venue's checksum of the book after this change, where it sends one.
    pub checksum: Option<u32>,
    /// The levels' texts, where the checksum is over them.
    pub texts: Option<Box<LevelTexts>>,
    /// Where the venue numbers every message of a connection (Coinbase), the connection's
    /// count of gaps when this change came: a change of another epoch than its book's
    /// snapshot may follow a lost one.
    pub epoch: u64,
}

/// Bid or ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Bid,
    Ask,
}

/// Both sides, with the venue's sequence number of the last change applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalBook {
    bids: Ladder,
    asks: Ladder,
    /// The venue's update id of the state held (Binance `lastUpdateId` / last `u`).
    pub nonce: u64,
    /// Exchange time of the last change, Unix ms.
    pub timestamp_ms: Option<i64>,
    /// Where a cut snapshot ended (its worst bid, its worst ask): levels beyond were never
    /// seen whole (only those that changed since), so they are neither counted nor served.
    /// None: the side was whole.
    bid_floor: Option<Exact>,
    ask_ceiling: Option<Exact>,
    /// Levels a side the venue keeps its book to (Kraken: the subscribed depth); levels
    /// pushed beyond it go, and no deeper book is known.
    kept: Option<usize>,
}

impl Default for LocalBook {
    fn default() -> Self {
        Self {
            bids: Ladder::new(Better::Higher),
            asks: Ladder::new(Better::Lower),
            nonce: 0,
            timestamp_ms: None,
            bid_floor: None,
            ask_ceiling: None,
            kept: None,
        }
    }
}

impl LocalBook {
    /// A book from a snapshot (levels with size 0 are left out).
    pub fn from_levels(bids: &[Level], asks: &[Level], nonce: u64) -> Self {
        let mut book = Self {
            nonce,
            ..Self::default()
        };
        book.bids.replace(bids.iter().map(|l| (l.price, l.size)));
        book.asks.replace(asks.iter().map(|l| (l.price, l.size)));
        book
    }

    /// A book from a snapshot that may have been cut at `limit` levels a side (a side with
    /// `limit` levels is taken as cut: what lies beyond its worst level is unknown).
    pub fn from_snapshot(snapshot: &BookSnapshot, limit: usize) -> Self {
        let mut book = Self::from_levels(&snapshot.bids, &snapshot.asks, snapshot.update_id);
        if snapshot.bids.len() >= limit {
            book.bid_floor = book.bids.worst_price();
        }
        if snapshot.asks.len() >= limit {
            book.ask_ceiling = book.asks.worst_price();
        }
        book
    }

    /// Keeps the best `n` levels a side from now on (a venue that sends a book of that
    /// depth): what falls beyond goes after each change.
    pub fn keep_top(&mut self, n: usize) {
        self.kept = Some(n);
        self.truncate();
    }

    fn truncate(&mut self) {
        let Some(n) = self.kept else { return };
        self.bids.keep_best(n);
        self.asks.keep_best(n);
    }

    /// Applies absolute sizes; 0 removes the level.
    pub fn apply(&mut self, bids: &[Level], asks: &[Level]) {
        for level in bids {
            self.bids.set(level.price, level.size);
        }
        for level in asks {
            self.asks.set(level.price, level.size);
        }
        self.truncate();
    }

    pub fn best_bid(&self) -> Option<(Exact, Exact)> {
        self.bids.best()
    }

    pub fn best_ask(&self) -> Option<(Exact, Exact)> {
        self.asks.best()
    }

    /// Best bid at or above best ask: never a state a venue publishes, so a sign of a missed
    /// update.
    pub fn crossed(&self) -> bool {
        matches!((self.best_bid(), self.best_ask()), (Some((b, _)), Some((a, _))) if b >= a)
    }

    /// Levels known whole on each side (bids, asks): within the snapshot's reach.
    pub fn depth(&self) -> (usize, usize) {
        let bids = match self.bid_floor {
            Some(floor) => self.bids.count_within(floor),
            None => self.bids.len(),
        };
        let asks = match self.ask_ceiling {
            Some(ceiling) => self.asks.count_within(ceiling),
            None => self.asks.len(),
        };
        (bids, asks)
    }

    /// Whether the best `n` levels of both sides are known (or the sides are whole).
    pub fn covers(&self, n: usize) -> bool {
        if self.kept.is_some_and(|kept| n > kept) {
            return false;
        }
        let (bids, asks) = self.depth();
        (bids >= n || self.bid_floor.is_none()) && (asks >= n || self.ask_ceiling.is_none())
    }

    /// Known bids, best (highest) first.
    pub fn bids(&self) -> impl Iterator<Item = (Exact, Exact)> + '_ {
        self.bids.best_first(self.bid_floor)
    }

    /// Known asks, best (lowest) first.
    pub fn asks(&self) -> impl Iterator<Item = (Exact, Exact)> + '_ {
        self.asks.best_first(self.ask_ceiling)
    }

    /// The best `n` levels a side as the served, normalised book, with the nonce.
    pub fn top(&self, n: usize) -> OrderBook {
        let view = |levels: &mut dyn Iterator<Item = (Exact, Exact)>| {
            levels
                .take(n)
                .map(|(p, s)| [p.to_f64(), s.to_f64()])
                .collect()
        };
        OrderBook {
            bids: view(&mut self.bids()),
            asks: view(&mut self.asks()),
            timestamp: self.timestamp_ms,
            nonce: i64::try_from(self.nonce).ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(p: &str, s: &str) -> Level {
        Level {
            price: p.parse().unwrap(),
            size: s.parse().unwrap(),
        }
    }

    #[test]
    fn absolute_sizes_and_zero_removes() {
        let mut b = LocalBook::from_levels(
            &[l("100.0", "1"), l("99.5", "2"), l("99", "0")],
            &[l("101", "3"), l("102.25", "4")],
            7,
        );
        assert_eq!(b.depth(), (2, 2));
        b.apply(&[l("100.00", "5"), l("99.5", "0")], &[l("100.5", "1")]);
        let top = b.top(10);
        assert_eq!(top.bids, vec![[100.0, 5.0]]);
        assert_eq!(top.asks, vec![[100.5, 1.0], [101.0, 3.0], [102.25, 4.0]]);
        assert_eq!(top.nonce, Some(7));
        assert_eq!(b.top(1).asks.len(), 1);
        assert!(!b.crossed());
        b.apply(&[l("100.5", "1")], &[]);
        assert!(b.crossed(), "bid 100.5 >= ask 100.5");
    }

    #[test]
    fn a_cut_snapshot_serves_only_what_it_saw() {
        let snap = BookSnapshot {
            bids: vec![l("100", "1"), l("99", "1")],
            asks: vec![l("101", "1"), l("102", "1")],
            update_id: 1,
        };
        let mut b = LocalBook::from_snapshot(&snap, 2);
        assert!(b.covers(2) && !b.covers(3));
        // A change beyond the cut is kept but not served: levels between are unknown.
        b.apply(&[l("90", "5")], &[l("110", "5")]);
        assert_eq!(b.top(10).bids.len(), 2);
        // The best bid goes: one known level is left.
        b.apply(&[l("100", "0")], &[]);
        assert!(!b.covers(2) && b.covers(1));
        assert_eq!(b.top(10).bids, vec![[99.0, 1.0]]);
        // A whole (uncut) snapshot covers any depth.
        assert!(LocalBook::from_snapshot(&snap, 5).covers(1000));
    }

    #[test]
    fn a_kept_depth_drops_what_falls_beyond_and_covers_no_deeper() {
        let mut b = LocalBook::from_levels(&[l("100", "1"), l("99", "1")], &[l("101", "1")], 0);
        b.keep_top(2);
        b.apply(&[l("100.5", "1")], &[l("100.8", "1"), l("100.9", "1")]);
        let top = b.top(10);
        assert_eq!(top.bids, vec![[100.5, 1.0], [100.0, 1.0]], "99 pushed out");
        assert_eq!(top.asks, vec![[100.8, 1.0], [100.9, 1.0]], "101 pushed out");
        assert!(b.covers(2) && !b.covers(3));
    }

    #[test]
    fn prices_compare_exactly() {
        // As floats 0.1 + 0.2 != 0.3; as exact decimals one level is one level.
        let mut b = LocalBook::default();
        b.apply(&[l("0.3", "1")], &[]);
        b.apply(&[l("0.30", "2")], &[]);
        assert_eq!(b.depth(), (1, 0));
        assert_eq!(
            b.best_bid(),
            Some(("0.3".parse().unwrap(), "2".parse().unwrap()))
        );
    }
}
