//! Candles (klines) derived from the walk.
//!
//! A candle is a pure function of (seed, symbol, interval, openTime) once it has closed, so a
//! cache that stored it stays correct forever; the open candle's close is the current price.

use super::decimal::ONE;
use super::interval::Interval;
use super::walk::{hash, unit};
use super::{Market, Symbol};

/// Sample points per candle for high/low of candles longer than [`FINE_UP_TO`]. The walk is
/// sampled rather than scanned (a 1M candle has millions of steps); the samples sit on a grid
/// fixed by openTime so closed candles never change and an open candle's high/low only widen
/// as its grid fills in.
const SAMPLES: u64 = 16;

/// Candles up to 4 hours sample one grid fixed in absolute time (every [`FINE_GRID_MS`], and
/// the instant before each grid point, where the shorter candle before it closes), so each is
/// exactly its minutes (or 5 minutes) combined, as a venue's candles are: a client building an
/// hour from the 1-minute stream gets the simulator's hour. Longer candles keep 16 samples
/// (a day would take 11,520 samples, 4 hours take 1,920).
const FINE_UP_TO: u64 = 4 * 3_600_000;
const FINE_GRID_MS: u64 = 15_000;

#[derive(Clone, Debug, PartialEq)]
pub struct Candle {
    pub open_time: u64,
    pub close_time: u64,
    pub open: u64,
    pub high: u64,
    pub low: u64,
    pub close: u64,
    pub volume: u64,
    pub quote_volume: f64,
    pub trades: u64,
    pub taker_buy_base: u64,
    pub taker_buy_quote: f64,
}

/// How a klines request selects candles (Binance semantics).
#[derive(Clone, Copy, Debug, Default)]
pub struct Range {
    pub start: Option<u64>,
    pub end: Option<u64>,
    pub limit: usize,
}

impl Market {
    /// The candle opening at `open_time` (must be aligned), as seen at `now`.
    pub fn candle(&self, s: &Symbol, iv: Interval, open_time: u64, now: u64) -> Candle {
        let next = iv.next(open_time);
        let close_time = next - 1;
        let last_t = close_time.min(now).max(open_time);
        let open = self.price_at(s, open_time);
        let close = self.price_at(s, last_t);
        let (mut high, mut low) = (open.max(close), open.min(close));
        let span = next - open_time;
        let mut sample = |t: u64| {
            let p = self.price_at(s, t);
            high = high.max(p);
            low = low.min(p);
        };
        if span <= FINE_UP_TO {
            let mut g = (open_time / FINE_GRID_MS + 1) * FINE_GRID_MS;
            while g <= last_t {
                sample(g - 1);
                sample(g);
                g += FINE_GRID_MS;
            }
        } else {
            for j in 1..SAMPLES {
                let t = open_time + span / SAMPLES * j;
                if t > last_t {
                    break;
                }
                sample(t);
            }
        }
        let trades = self.trade_count(s, open_time, last_t);
        let volume = self.volume_between(s, open_time, last_t);
        let avg = (open + high + low + close) as f64 / 4.0 / ONE as f64;
        let vol_f = volume as f64 / ONE as f64;
        let taker_frac = 0.35 + 0.3 * unit(hash(&[s.key, 10, open_time, span]));
        let taker_buy_base = ((volume as f64 * taker_frac) as u64) / s.step * s.step;
        Candle {
            open_time,
            close_time,
            open,
            high,
            low,
            close,
            volume,
            quote_volume: vol_f * avg,
            trades,
            taker_buy_base,
            taker_buy_quote: taker_buy_base as f64 / ONE as f64 * avg,
        }
    }

    /// Candles for a klines request, oldest first, never past the open candle.
    pub fn klines(&self, s: &Symbol, iv: Interval, r: Range, now: u64) -> Vec<Candle> {
        let limit = r.limit.max(1);
        let current = iv.align(now);
        let last = match r.end {
            Some(end) => iv.align(end.min(now)),
            None => current,
        };
        let mut opens = Vec::with_capacity(limit.min(1000));
        match r.start {
            Some(start) => {
                let mut t = iv.ceil(start);
                while t <= last && opens.len() < limit {
                    opens.push(t);
                    t = iv.next(t);
                }
            }
            None => {
                let mut t = last;
                loop {
                    opens.push(t);
                    if opens.len() >= limit || t == 0 {
                        break;
                    }
                    t = iv.prev(t);
                }
                opens.reverse();
            }
        }
        opens
            .into_iter()
            .map(|t| self.candle(s, iv, t, now))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_725_817_008_719;

    fn setup() -> Market {
        Market::new(42, 0, false, 100).unwrap()
    }

    #[test]
    fn aligned_ordered_consistent_and_last_is_current() {
        let m = setup();
        let s = m.symbol("BTCUSDT").unwrap();
        for iv_s in ["1s", "1m", "15m", "1h", "1d", "1w", "1M"] {
            let iv = Interval::parse(iv_s).unwrap();
            let ks = m.klines(
                s,
                iv,
                Range {
                    limit: 50,
                    ..Range::default()
                },
                NOW,
            );
            assert_eq!(ks.len(), 50, "{iv_s}");
            for w in ks.windows(2) {
                assert_eq!(w[1].open_time, w[0].close_time + 1, "{iv_s} contiguous");
            }
            for k in &ks {
                assert_eq!(iv.align(k.open_time), k.open_time, "{iv_s} aligned");
                assert!(k.low <= k.open.min(k.close) && k.high >= k.open.max(k.close));
                assert!(k.low > 0 && k.open % s.tick == 0 && k.high % s.tick == 0);
                assert!(k.taker_buy_base <= k.volume);
            }
            let last = ks.last().unwrap();
            assert!(
                last.open_time <= NOW && NOW <= last.close_time,
                "{iv_s} last is open"
            );
            assert_eq!(last.close, m.price_at(s, NOW));
        }
    }

    /// A venue's hour (and 4 hours) is its minutes (and its 5-minute candles) combined,
    /// closed or in progress.
    #[test]
    fn an_hour_is_its_minutes_combined() {
        let m = setup();
        let s = m.symbol("BTCUSDT").unwrap();
        for (hour, count) in [("1h", 60), ("4h", 240)] {
            let hour = Interval::parse(hour).unwrap();
            for now in [NOW, hour.align(NOW) - 1] {
                let open = hour.align(now);
                let h = m.candle(s, hour, open, now);
                for base in ["1m", "5m"] {
                    let iv = Interval::parse(base).unwrap();
                    let range = Range {
                        start: Some(open),
                        end: None,
                        limit: count,
                    };
                    let parts = m.klines(s, iv, range, now);
                    assert_eq!(parts[0].open, h.open, "{base}");
                    assert_eq!(parts.last().unwrap().close, h.close, "{base}");
                    assert_eq!(parts.iter().map(|c| c.high).max(), Some(h.high), "{base}");
                    assert_eq!(parts.iter().map(|c| c.low).min(), Some(h.low), "{base}");
                    assert_eq!(
                        parts.iter().map(|c| c.volume).sum::<u64>(),
                        h.volume,
                        "{base}"
                    );
                }
            }
        }
    }

    #[test]
    fn closed_candles_are_stable() {
        let m = setup();
        let s = m.symbol("ETHUSDT").unwrap();
        let iv = Interval::parse("1m").unwrap();
        let a = m.klines(
            s,
            iv,
            Range {
                limit: 10,
                ..Range::default()
            },
            NOW,
        );
        let b = m.klines(
            s,
            iv,
            Range {
                limit: 11,
                ..Range::default()
            },
            NOW + 60_000,
        );
        assert_eq!(a[..9], b[..9]); // same opens; only the open candle differs
                                    // Another simulator with the same seed serves the same closed candle.
        let other = setup();
        assert_eq!(other.candle(s, iv, a[0].open_time, NOW), a[0]);
    }

    #[test]
    fn start_time_picks_first_aligned_open() {
        let m = setup();
        let s = m.symbol("BTCUSDT").unwrap();
        let iv = Interval::parse("1h").unwrap();
        let start = NOW - 5 * 3_600_000 - 1;
        let ks = m.klines(
            s,
            iv,
            Range {
                start: Some(start),
                end: None,
                limit: 500,
            },
            NOW,
        );
        assert_eq!(ks[0].open_time, iv.ceil(start));
        assert!(ks[0].open_time >= start);
        assert_eq!(ks.len(), 5); // 5 full hours after the ceil, the last being the open candle
        let ks = m.klines(
            s,
            iv,
            Range {
                start: Some(start),
                end: None,
                limit: 2,
            },
            NOW,
        );
        assert_eq!(ks.len(), 2);
        let end = NOW - 3 * 3_600_000;
        let ks = m.klines(
            s,
            iv,
            Range {
                start: None,
                end: Some(end),
                limit: 3,
            },
            NOW,
        );
        assert_eq!(ks.last().unwrap().open_time, iv.align(end));
        assert!(m
            .klines(
                s,
                iv,
                Range {
                    start: Some(NOW + 7_200_000),
                    end: None,
                    limit: 5
                },
                NOW
            )
            .is_empty());
    }

    #[test]
    fn open_close_continuity() {
        let m = setup();
        let s = m.symbol("BTCUSDT").unwrap();
        let ks = m.klines(
            s,
            Interval::parse("1m").unwrap(),
            Range {
                limit: 30,
                ..Range::default()
            },
            NOW,
        );
        for w in ks.windows(2) {
            let gap = w[1].open.abs_diff(w[0].close) as f64 / w[0].close as f64;
            assert!(gap < 0.002, "open/close jump {gap}");
        }
    }
}
