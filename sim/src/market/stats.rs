//! Rolling 24h statistics and the 5-minute average price.

use super::decimal::{to_f64, ONE};
use super::{Market, Symbol};
use std::sync::PoisonError;

const HOUR: u64 = 3_600_000;
const DAY: u64 = 24 * HOUR;
/// Bound on memoised grids (≈ symbols × hours kept); cleared wholesale when reached.
const GRID_CACHE_MAX: usize = 200_000;

/// High/low/sum/count of the walk over the 23–24 whole hours inside a 24h window. These only
/// change once an hour, so they are memoised: an all-symbols ticker on the 1248-symbol list then
/// costs a few walk evaluations per symbol instead of ~26.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GridAgg {
    high: u64,
    low: u64,
    sum: f64,
    n: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DayStats {
    pub open_time: u64,
    pub close_time: u64,
    pub open: u64,
    pub prev_close: u64,
    pub high: u64,
    pub low: u64,
    pub last: u64,
    pub last_qty: u64,
    pub bid: u64,
    pub bid_qty: u64,
    pub ask: u64,
    pub ask_qty: u64,
    pub weighted_avg: f64,
    pub volume: u64,
    pub quote_volume: f64,
    pub first_id: u64,
    pub last_id: u64,
    pub count: u64,
}

impl DayStats {
    pub fn change(&self) -> i64 {
        self.last as i64 - self.open as i64
    }

    pub fn change_percent(&self) -> f64 {
        if self.open == 0 {
            0.0
        } else {
            self.change() as f64 / self.open as f64 * 100.0
        }
    }
}

impl Market {
    pub fn day_stats(&self, s: &Symbol, now: u64) -> DayStats {
        let open_time = now.saturating_sub(DAY);
        let open = self.price_at(s, open_time);
        let last = self.price_at(s, now);
        let grid = self.hour_grid(s, open_time, now);
        let high = grid.high.max(open).max(last);
        let low = grid.low.min(open).min(last);
        let sum = grid.sum + to_f64(open) + to_f64(last);
        let n = grid.n + 2.0;
        let first_id = self.first_trade_id(s, open_time);
        let last_id = self.last_trade_id(s, now);
        let count = (last_id + 1).saturating_sub(first_id);
        let volume = self.volume_for(s, count);
        let weighted_avg = sum / n;
        let book = self.book(s, now, 1);
        let (bid, bid_qty) = book.bids.first().copied().unwrap_or((0, 0));
        let (ask, ask_qty) = book.asks.first().copied().unwrap_or((last, 0));
        DayStats {
            open_time,
            close_time: now,
            open,
            prev_close: self.price_at(s, open_time.saturating_sub(self.walk.tick_ms())),
            high,
            low,
            last,
            last_qty: self.trade(s, last_id).qty,
            bid,
            bid_qty,
            ask,
            ask_qty,
            weighted_avg,
            volume,
            quote_volume: volume as f64 / ONE as f64 * weighted_avg,
            first_id,
            last_id,
            count,
        }
    }

    /// Hour-aligned samples strictly inside (open_time, now): the same instants for every
    /// request in the same hour, hence cacheable by (symbol, first hour).
    fn hour_grid(&self, s: &Symbol, open_time: u64, now: u64) -> GridAgg {
        let first = (open_time / HOUR + 1) * HOUR;
        let cached = self
            .hour_grid
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(s.key, first))
            .copied();
        if let Some(g) = cached {
            // The last hour mark may not have been reached yet when the entry was computed.
            if first + 23 * HOUR >= now || g.n >= 24.0 {
                return g;
            }
        }
        let mut g = GridAgg {
            high: 0,
            low: u64::MAX,
            sum: 0.0,
            n: 0.0,
        };
        let mut t = first;
        while t < now && t < first + DAY {
            let p = self.price_at(s, t);
            g.high = g.high.max(p);
            g.low = g.low.min(p);
            g.sum += to_f64(p);
            g.n += 1.0;
            t += HOUR;
        }
        let mut cache = self
            .hour_grid
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= GRID_CACHE_MAX {
            cache.clear();
        }
        cache.insert((s.key, first), g);
        g
    }

    /// Binance's avgPrice: mean price over the last 5 minutes, and the last trade's time.
    pub fn avg_price(&self, s: &Symbol, now: u64) -> (f64, u64) {
        let from = now.saturating_sub(5 * 60_000);
        let samples: Vec<f64> = (0..=30)
            .map(|i| to_f64(self.price_at(s, from + (now - from) * i / 30)))
            .collect();
        let avg = samples.iter().sum::<f64>() / samples.len() as f64;
        let last_id = self.last_trade_id(s, now);
        (avg, self.trade_time(s, last_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_725_817_008_719;

    #[test]
    fn day_stats_are_consistent_with_the_walk() {
        let m = Market::new(42, 0, false, 100).unwrap();
        for s in m.symbols() {
            let d = m.day_stats(s, NOW);
            assert_eq!(d.last, m.price_at(s, NOW));
            assert_eq!(d.ask, d.last);
            assert_eq!(d.bid, d.last - s.tick);
            assert_eq!(d.open, m.price_at(s, NOW - DAY));
            assert!(d.high >= d.open.max(d.last) && d.low <= d.open.min(d.last));
            assert!(d.weighted_avg >= to_f64(d.low) && d.weighted_avg <= to_f64(d.high));
            assert_eq!(d.count, d.last_id - d.first_id + 1);
            assert_eq!(d.open_time, NOW - DAY);
            assert!(d.volume > 0 && d.last_qty > 0);
        }
    }

    #[test]
    fn memoised_grid_matches_fresh_computation() {
        let cached = Market::new(42, 0, false, 100).unwrap();
        let s = cached.symbol("ETHUSDT").unwrap();
        // Same hour: the second call is served from the memo; compare with a cold market.
        let t1 = NOW - NOW % HOUR; // aligned: 23 grid points
        let t2 = t1 + 1_234; // same first hour mark, 24 points
        let t3 = t1 + 1_800_000;
        for t in [t1, t2, t3, t1 + 1] {
            let cold = Market::new(42, 0, false, 100).unwrap();
            assert_eq!(
                cached.day_stats(s, t),
                cold.day_stats(cold.symbol("ETHUSDT").unwrap(), t)
            );
        }
    }

    #[test]
    fn avg_price_is_near_current() {
        let m = Market::new(42, 0, false, 100).unwrap();
        let s = m.symbol("BTCUSDT").unwrap();
        let (avg, close_time) = m.avg_price(s, NOW);
        let p = to_f64(m.price_at(s, NOW));
        assert!((avg - p).abs() / p < 0.01);
        assert!(close_time <= NOW && close_time + 1000 > NOW);
    }
}
