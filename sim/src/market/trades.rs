//! The trade tape. Trade `id` happens at `id·gap + jitter(id)` ms with `jitter < gap`, so times are
//! non-decreasing in id and any trade, or the trade count over any window, is O(1) to compute.
//!
//! A burst ([`Market::add_burst`], a test's control) inserts `count` more trades at one instant:
//! the ids after it shift by `count`, so REST, the websocket streams and candles all see the
//! same denser tape. Bursts are only ever added at or after the latest time served, so an id
//! already published keeps its trade.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use super::walk::{hash, unit};
use super::{Market, Symbol};

/// Most trades one burst adds: a trade stream sends at most this many per update.
pub const MAX_BURST: u64 = 1000;

/// One burst: `count` trades at `at` ms, right after the base tape's trade `base_last` (the
/// last at or before `at`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Burst {
    at: u64,
    base_last: u64,
    count: u64,
}

/// Each symbol's bursts (by walk key), oldest first.
#[derive(Clone, Default)]
pub struct Bursts(Arc<RwLock<HashMap<u64, Vec<Burst>>>>);

/// What [`Market::add_burst`] added: the instant and the new trades' ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BurstAdded {
    pub at_ms: u64,
    pub first_id: u64,
    pub last_id: u64,
}

impl Bursts {
    fn of(&self, key: u64) -> Vec<Burst> {
        let map = self.0.read().unwrap_or_else(PoisonError::into_inner);
        if map.is_empty() {
            return Vec::new();
        }
        map.get(&key).cloned().unwrap_or_default()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trade {
    pub id: u64,
    pub time: u64,
    pub price: u64,
    pub qty: u64,
    pub buyer_maker: bool,
}

impl Market {
    /// When trade `id` of the base tape (without bursts) happens.
    fn base_trade_time(s: &Symbol, id: u64) -> u64 {
        id * s.trade_gap_ms + hash(&[s.key, 3, id]) % s.trade_gap_ms
    }

    /// The last trade of the base tape at or before `t`.
    fn base_last_trade_id(s: &Symbol, t: u64) -> u64 {
        let id = t / s.trade_gap_ms;
        if Self::base_trade_time(s, id) <= t {
            id
        } else {
            id.saturating_sub(1)
        }
    }

    pub fn trade_time(&self, s: &Symbol, id: u64) -> u64 {
        let mut shift = 0;
        for b in self.bursts.of(s.key) {
            let first = b.base_last + shift + 1;
            if id < first {
                break;
            }
            if id < first + b.count {
                return b.at;
            }
            shift += b.count;
        }
        Self::base_trade_time(s, id - shift)
    }

    /// Id of the last trade at or before `t`.
    pub fn last_trade_id(&self, s: &Symbol, t: u64) -> u64 {
        let shift: u64 = self
            .bursts
            .of(s.key)
            .iter()
            .filter(|b| b.at <= t)
            .map(|b| b.count)
            .sum();
        Self::base_last_trade_id(s, t) + shift
    }

    /// Adds `count` (1..=[`MAX_BURST`]) trades of `s` at `at` ms, or at the latest burst's
    /// time if that is later (bursts stay in time order).
    pub fn add_burst(&self, s: &Symbol, at: u64, count: u64) -> Result<BurstAdded, String> {
        if !(1..=MAX_BURST).contains(&count) {
            return Err(format!("count must be within 1..={MAX_BURST}, got {count}"));
        }
        let mut map = self
            .bursts
            .0
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let list = map.entry(s.key).or_default();
        let at = list.last().map_or(at, |b| b.at.max(at));
        let shift: u64 = list.iter().map(|b| b.count).sum();
        let base_last = Self::base_last_trade_id(s, at);
        list.push(Burst {
            at,
            base_last,
            count,
        });
        let first_id = base_last + shift + 1;
        Ok(BurstAdded {
            at_ms: at,
            first_id,
            last_id: first_id + count - 1,
        })
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
    fn a_burst_inserts_trades_at_one_instant_and_shifts_the_later_ids() {
        let m = Market::new(42, 0, false, 100).unwrap();
        let s = m.symbol("BTCUSDT").unwrap();
        let before = m.last_trade_id(s, NOW);
        let later = m.trade(s, before + 1);
        let added = m.add_burst(s, NOW, 300).unwrap();
        assert_eq!((added.first_id, added.last_id), (before + 1, before + 300));
        assert_eq!(m.last_trade_id(s, NOW), before + 300);
        assert_eq!(m.trade_time(s, before + 1), NOW);
        assert_eq!(m.trade_time(s, before + 300), NOW);
        // The base tape's next trade comes after the burst, at its own time.
        let shifted = m.trade(s, before + 301);
        assert_eq!(shifted.time, later.time);
        // A second burst later on: ids and times stay in order through both.
        let t2 = later.time + 5_000;
        let second = m.add_burst(s, t2, 1000).unwrap();
        assert_eq!(second.first_id, m.last_trade_id(s, t2) - 999);
        let ts = m.trades_between(s, Some(NOW - 1_000), Some(t2 + 1_000), 100_000, t2 + 1_000);
        assert!(ts.len() > 1_300);
        for w in ts.windows(2) {
            assert_eq!(w[1].id, w[0].id + 1);
            assert!(w[1].time >= w[0].time);
        }
        assert_eq!(m.trade_count(s, NOW - 1_000, t2 + 1_000), ts.len() as u64);
        assert!(m.add_burst(s, t2, 1001).is_err());
        assert!(m.add_burst(s, t2, 0).is_err());
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
