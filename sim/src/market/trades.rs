//! The trade tape. Trade `id` happens at `id·gap + jitter(id)` ms with `jitter < gap`, so times are
//! non-decreasing in id and any trade, or the trade count over any window, is O(1) to compute.

use super::walk::{hash, unit};
use super::{Market, Symbol};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trade {
    pub id: u64,
    pub time: u64,
    pub price: u64,
    pub qty: u64,
    pub buyer_maker: bool,
}

impl Market {
    pub fn trade_time(&self, s: &Symbol, id: u64) -> u64 {
        id * s.trade_gap_ms + hash(&[s.key, 3, id]) % s.trade_gap_ms
    }

    /// Id of the last trade at or before `t`.
    pub fn last_trade_id(&self, s: &Symbol, t: u64) -> u64 {
        let id = t / s.trade_gap_ms;
        if self.trade_time(s, id) <= t {
            id
        } else {
            id.saturating_sub(1)
        }
    }

    /// Number of trades with time in `[from, to]`.
    pub fn trade_count(&self, s: &Symbol, from: u64, to: u64) -> u64 {
        if to < from {
            return 0;
        }
        let first = self.first_trade_id(s, from);
        (self.last_trade_id(s, to) + 1).saturating_sub(first)
    }

    /// Id of the first trade at or after `t`.
    pub fn first_trade_id(&self, s: &Symbol, t: u64) -> u64 {
        match t.checked_sub(1) {
            Some(before) => self.last_trade_id(s, before) + 1,
            None => 0,
        }
    }

    /// Total base volume of `count` trades: count × mean size, so volumes add up across intervals.
    pub fn volume_for(&self, s: &Symbol, count: u64) -> u64 {
        (count as f64 * s.mean_qty_steps).round() as u64 * s.step
    }

    /// Base volume of the trades with time in `[from, to]`: the tape's running total at the
    /// end less that at the start, so adjacent windows add up to their union exactly (a
    /// venue's hour is the sum of its minutes; rounding each window would not be).
    pub fn volume_between(&self, s: &Symbol, from: u64, to: u64) -> u64 {
        if self.trade_count(s, from, to) == 0 {
            return 0;
        }
        let total = |trades: u64| (trades as f64 * s.mean_qty_steps).round() as u64;
        let end = total(self.last_trade_id(s, to) + 1);
        let start = total(self.first_trade_id(s, from));
        end.saturating_sub(start) * s.step
    }

    pub fn trade(&self, s: &Symbol, id: u64) -> Trade {
        let time = self.trade_time(s, id);
        let h = hash(&[s.key, 4, id]);
        let buyer_maker = h & 1 == 1;
        let ticks = self.ticks_at_step(s, self.walk.step_at(time));
        // A buyer-maker trade hits the bid (one tick under the walk price); otherwise the ask.
        // Coinbase's REST ticker *is* its latest trade, so there every trade prints at the
        // step's price: its `last` then only moves with the walk, and a large tick_ms freezes
        // it for exact comparisons, as on the other venues.
        let ticks = if buyer_maker && self.venue != crate::venue::Venue::Coinbase {
            ticks.saturating_sub(1).max(1)
        } else {
            ticks
        };
        let size = -(1.0 - unit(h)).ln() * s.mean_qty_steps;
        let qty_steps = (size.round() as u64).clamp(1, 1_000_000_000);
        Trade {
            id,
            time,
            price: ticks * s.tick,
            qty: qty_steps * s.step,
            buyer_maker,
        }
    }

    /// The `limit` most recent trades at or before `now`, oldest first.
    pub fn recent_trades(&self, s: &Symbol, now: u64, limit: usize) -> Vec<Trade> {
        let last = self.last_trade_id(s, now);
        let first = (last + 1).saturating_sub(limit as u64);
        (first..=last).map(|id| self.trade(s, id)).collect()
    }

    /// Up to `limit` trades from id `from`, never past `now`.
    pub fn trades_from_id(&self, s: &Symbol, from: u64, limit: usize, now: u64) -> Vec<Trade> {
        let last = self.last_trade_id(s, now);
        let end = from.saturating_add(limit as u64).min(last + 1);
        (from..end).map(|id| self.trade(s, id)).collect()
    }

    /// Trades with time in `[start, end]` (either bound optional), capped at `now` and `limit`:
    /// the first `limit` after `start`, or the last `limit` before `end` if only `end` is given.
    pub fn trades_between(
        &self,
        s: &Symbol,
        start: Option<u64>,
        end: Option<u64>,
        limit: usize,
        now: u64,
    ) -> Vec<Trade> {
        let end = end.unwrap_or(now).min(now);
        match start {
            Some(start) if start <= end => {
                let first = self.first_trade_id(s, start);
                let last = self.last_trade_id(s, end);
                let stop = first.saturating_add(limit as u64).min(last + 1);
                (first..stop).map(|id| self.trade(s, id)).collect()
            }
            Some(_) => Vec::new(),
            None => self.recent_trades(s, end, limit),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_725_817_008_719;

    #[test]
    fn recent_trades_end_now_ascending() {
        let m = Market::new(42, 0, false, 100).unwrap();
        let s = m.symbol("BTCUSDT").unwrap();
        let ts = m.recent_trades(s, NOW, 500);
        assert_eq!(ts.len(), 500);
        assert!(ts.last().unwrap().time <= NOW);
        assert!(m.trade_time(s, ts.last().unwrap().id + 1) > NOW);
        for w in ts.windows(2) {
            assert_eq!(w[1].id, w[0].id + 1);
            assert!(w[1].time >= w[0].time);
        }
        let p = m.price_at(s, NOW) as f64;
        for t in &ts {
            assert!((t.price as f64 - p).abs() / p < 0.01);
            assert!(t.qty > 0 && t.qty % s.step == 0 && t.price % s.tick == 0);
        }
    }

    #[test]
    fn counts_match_ids() {
        let m = Market::new(42, 0, false, 100).unwrap();
        let s = m.symbol("SOLUSDT").unwrap();
        let (a, b) = (NOW - 60_000, NOW);
        let n = m.trade_count(s, a, b);
        let ts = m.trades_between(s, Some(a), Some(b), 100_000, NOW);
        assert_eq!(ts.len() as u64, n);
        assert!(ts.iter().all(|t| t.time >= a && t.time <= b));
        // Counts are additive, so candle volumes add up across intervals.
        assert_eq!(
            m.trade_count(s, a, a + 29_999) + m.trade_count(s, a + 30_000, b),
            n
        );
    }

    #[test]
    fn from_id_never_passes_now() {
        let m = Market::new(42, 0, false, 100).unwrap();
        let s = m.symbol("ETHUSDT").unwrap();
        let last = m.last_trade_id(s, NOW);
        let ts = m.trades_from_id(s, last - 2, 10, NOW);
        assert_eq!(
            ts.iter().map(|t| t.id).collect::<Vec<_>>(),
            [last - 2, last - 1, last]
        );
        assert!(m.trades_from_id(s, last + 5, 10, NOW).is_empty());
    }
}
