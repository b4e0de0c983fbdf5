//! Order book snapshots. The book is a function of the walk step: best ask = walk price, best
//! bid one tick under (the same bid/ask the tickers report), deeper levels 1–3 ticks apart. The
//! step index doubles as `lastUpdateId`, which therefore increases with time and only changes when
//! the book does.
//!
//! Levels are keyed by their price, not by their rank, so that one step changes only a few of
//! them, as on a real venue (the depth diff streams send book(step) − book(step − 1)): whether a
//! tick holds a level depends on the tick alone; the size of one of the [`LIVELY`] best levels
//! changes every half second or so (phases spread over the ticks), deeper sizes never. A move of
//! the price shifts which levels are the lively ones and which fall off the requested depth.

use super::walk::{hash, unit};
use super::{Market, Symbol};

/// The best levels of a side whose sizes change with time.
pub const LIVELY: u64 = 20;
/// Steps between two sizes of a lively level.
pub(super) const LIVELY_PERIOD: u64 = 5;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Book {
    pub last_update_id: u64,
    /// (price, qty) in units, best first.
    pub bids: Vec<(u64, u64)>,
    pub asks: Vec<(u64, u64)>,
}

impl Market {
    pub fn book(&self, s: &Symbol, now: u64, limit: usize) -> Book {
        self.book_at_step(s, self.walk.step_at(now), limit)
    }

    /// The book at walk step (= update id) `step`, `limit` levels a side.
    pub fn book_at_step(&self, s: &Symbol, step: u64, limit: usize) -> Book {
        let ask0 = self.ticks_at_step(s, step);
        Book {
            last_update_id: step,
            bids: self.side(s, step, 0, ask0.saturating_sub(1), limit),
            asks: self.side(s, step, 1, ask0, limit),
        }
    }

    /// The book at `step`, `limit` levels a side, equal to [`Market::book_at_step`] but built
    /// from `base` (any book of `s` at the same `limit`, any step): below the lively levels a
    /// level's presence and size depend on its tick alone, so the stretch both books cover is
    /// copied and only the best levels and the new tail are hashed (the depth streams build
    /// thousands of 1,000-level books a second).
    pub fn book_at_step_from(&self, s: &Symbol, step: u64, limit: usize, base: &Book) -> Book {
        let ask0 = self.ticks_at_step(s, step);
        Book {
            last_update_id: step,
            bids: self.side_from(s, step, 0, ask0.saturating_sub(1), limit, &base.bids),
            asks: self.side_from(s, step, 1, ask0, limit, &base.asks),
        }
    }

    fn side(&self, s: &Symbol, step: u64, side: u64, best: u64, limit: usize) -> Vec<(u64, u64)> {
        self.side_from(s, step, side, best, limit, &[])
    }

    /// The size of the level at `ticks` (rank `i` on its side), None if the tick holds none.
    fn level(
        &self,
        s: &Symbol,
        step: u64,
        side: u64,
        best: u64,
        ticks: u64,
        i: u64,
    ) -> Option<u64> {
        // The best tick always holds a level; a deeper one does unless its hash says no
        // (a third of them), which gives gaps of 1 to 3 ticks like a thin venue.
        let held = ticks == best || !hash(&[s.key, 4, side, ticks]).is_multiple_of(3);
        if !held {
            return None;
        }
        let epoch = if i < LIVELY {
            let period = self.lively_period;
            let phase = hash(&[s.key, 6, side, ticks]) % period;
            (step + phase) / period
        } else {
            u64::MAX
        };
        let h = hash(&[s.key, 5, side, ticks, epoch]);
        let size = -(1.0 - unit(h)).ln() * s.mean_qty_steps * 3.0;
        Some((size.round() as u64).clamp(1, 1_000_000_000) * s.step)
    }

    /// One side, reusing `base` (the same side of another book of `s`, same `limit`, best
    /// first): its levels of rank ≥ [`LIVELY`] hold tick-only sizes and, with the gaps between
    /// them, say which ticks hold a level, so once this side is past its own lively levels and
    /// past `base`'s, the rest of `base`'s stretch is copied as is.
    fn side_from(
        &self,
        s: &Symbol,
        step: u64,
        side: u64,
        best: u64,
        limit: usize,
        base: &[(u64, u64)],
    ) -> Vec<(u64, u64)> {
        let lively = LIVELY as usize;
        // Whether price `a` lies deeper than price `b` on this side.
        let deeper = |a: u64, b: u64| if side == 0 { a < b } else { a > b };
        // Levels of `base` from here on are static (rank ≥ LIVELY, not its forced best).
        let copy_from = (base.len() > lively).then(|| base[lively].0);
        let mut out = Vec::with_capacity(limit);
        let mut ticks = best;
        let mut copied = false;
        while out.len() < limit && ticks > 0 {
            if let (false, Some(first)) = (copied, copy_from) {
                let here = ticks * s.tick;
                let last = base.last().map_or(0, |l| l.0);
                if deeper(here, last) {
                    // Past base's stretch: nothing left to copy.
                    copied = true;
                } else if out.len() >= lively && !deeper(first, here) && base[0].0 != here {
                    // Copy base's levels at this tick or deeper, then walk on past its last.
                    let k = base.partition_point(|&(p, _)| deeper(here, p));
                    let take = (limit - out.len()).min(base.len() - k);
                    out.extend_from_slice(&base[k..k + take]);
                    copied = true;
                    ticks = last / s.tick;
                    ticks = if side == 0 { ticks - 1 } else { ticks + 1 };
                    continue;
                }
            }
            if let Some(qty) = self.level(s, step, side, best, ticks, out.len() as u64) {
                out.push((ticks * s.tick, qty));
            }
            ticks = if side == 0 {
                ticks - 1 // a bid side never reaches zero price (the loop stops at 0)
            } else {
                ticks + 1
            };
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_725_817_008_719;

    #[test]
    fn sides_are_sorted_and_around_the_price() {
        let m = Market::new(42, 0, false, 100).unwrap();
        for s in m.symbols() {
            let b = m.book(s, NOW, 5000);
            assert_eq!((b.bids.len(), b.asks.len()), (5000, 5000), "{}", s.name);
            let p = m.price_at(s, NOW);
            assert!(
                b.bids.windows(2).all(|w| w[0].0 > w[1].0),
                "bids strictly descending"
            );
            assert!(
                b.asks.windows(2).all(|w| w[0].0 < w[1].0),
                "asks strictly ascending"
            );
            assert!(b.bids[0].0 < p && b.asks[0].0 == p);
            assert_eq!(b.bids[0].0, p - s.tick);
            assert!(b
                .bids
                .iter()
                .chain(&b.asks)
                .all(|&(px, q)| px % s.tick == 0 && q > 0));
        }
    }

    #[test]
    fn update_id_increases_with_time_and_limit_truncates() {
        let m = Market::new(42, 0, false, 100).unwrap();
        let s = m.symbol("BTCUSDT").unwrap();
        let a = m.book(s, NOW, 10);
        let b = m.book(s, NOW + 250, 10);
        assert!(b.last_update_id > a.last_update_id);
        assert_eq!(m.book(s, NOW, 3).bids[..], a.bids[..3]);
    }

    #[test]
    fn a_book_built_from_another_equals_the_book() {
        let m = Market::new(42, 0, false, 100)
            .unwrap()
            .with_lively_period(2);
        for s in m.symbols() {
            let step = m.walk.step_at(NOW);
            for limit in [5, 21, 1000] {
                let mut base = m.book_at_step(s, step, limit);
                for k in [1, 2, 3, 10, 50, 1000, 100_000] {
                    let b = m.book_at_step_from(s, step + k, limit, &base);
                    assert_eq!(b, m.book_at_step(s, step + k, limit), "{} +{k}", s.name);
                    // And back in time, from a later base.
                    let back = m.book_at_step_from(s, step + k / 2, limit, &b);
                    assert_eq!(back, m.book_at_step(s, step + k / 2, limit));
                    base = b;
                }
            }
        }
    }

    #[test]
    fn a_step_changes_few_levels() {
        let m = Market::new(42, 0, false, 100).unwrap();
        let s = m.symbol("BTCUSDT").unwrap();
        let step = m.walk.step_at(NOW);
        let mut changed = 0;
        for k in 0..50 {
            let a = m.book_at_step(s, step + k, 1000);
            let b = m.book_at_step(s, step + k + 1, 1000);
            let old: std::collections::HashMap<u64, u64> =
                a.bids.iter().chain(&a.asks).copied().collect();
            changed += b
                .bids
                .iter()
                .chain(&b.asks)
                .filter(|(p, q)| old.get(p) != Some(q))
                .count();
        }
        // 2 x 20 lively levels every 5 steps = 8 a step, plus the levels the price moves past
        // (BTC's walk moves hundreds of 0.01 ticks a step): far from all 2000.
        assert!(changed / 50 < 400, "{changed} changed levels in 50 steps");
        assert!(changed > 50, "sizes do change: {changed}");
    }
}
