//! Order book snapshots. The book is a function of the walk step: best ask = walk price, best
//! bid one tick under (the same bid/ask the tickers report), deeper levels 1–3 ticks apart. The
//! step index doubles as `lastUpdateId`, which therefore increases with time and only changes when
//! the book does.

use super::walk::{hash, unit};
use super::{Market, Symbol};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Book {
    pub last_update_id: u64,
    /// (price, qty) in units, best first.
    pub bids: Vec<(u64, u64)>,
    pub asks: Vec<(u64, u64)>,
}

impl Market {
    pub fn book(&self, s: &Symbol, now: u64, limit: usize) -> Book {
        let step = self.walk.step_at(now);
        let ask0 = self.ticks_at_step(s, step);
        Book {
            last_update_id: step,
            bids: self.side(s, step, 0, ask0.saturating_sub(1), limit),
            asks: self.side(s, step, 1, ask0, limit),
        }
    }

    fn side(&self, s: &Symbol, step: u64, side: u64, best: u64, limit: usize) -> Vec<(u64, u64)> {
        let mut out = Vec::with_capacity(limit);
        let mut ticks = best;
        for i in 0..limit as u64 {
            if ticks == 0 {
                break; // a bid side never reaches zero price
            }
            let h = hash(&[s.key, 5, step, side, i]);
            let size = -(1.0 - unit(h)).ln() * s.mean_qty_steps * 3.0;
            let qty = (size.round() as u64).clamp(1, 1_000_000_000) * s.step;
            out.push((ticks * s.tick, qty));
            let gap = 1 + (h >> 60) % 3;
            ticks = if side == 0 {
                ticks.saturating_sub(gap)
            } else {
                ticks + gap
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
}
