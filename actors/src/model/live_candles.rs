//! Candles of any timeframe kept current from one streamed base interval.
//!
//! Each venue's feed streams the candle in progress of one interval only (the *base*: 1 minute
//! on Binance, OKX, Bybit and Kraken; 5 minutes on Coinbase, whose `candles` channel knows no
//! other). A timeframe that is a whole multiple of the base is built by **combining the base
//! candles** of each of its periods (open of the first, highest high, lowest low, close of the
//! last, summed volume), which is exactly how the venue builds it from its trades.
//!
//! Why combining base candles rather than adding trades from the tape on top of the REST
//! candle: a REST candle in progress does not say which trades it already counts, so trades
//! added on top of it double-count or miss those around the fetch, for the rest of the period.
//! Base candles have no such seam: the period's base candles are fetched once by REST
//! (`since` = the period's open), the stream's newer versions replace them, and every closed
//! base candle is final. Closed candles of the timeframe before the watch come from one REST
//! call; the periods since are combined here, so reads while watched call no REST at all.
//!
//! A gap in the base stream (a reconnect that lost candles) or history pruned past a series'
//! first live period drops the series: the next read seeds it again by REST.

use std::collections::{BTreeMap, HashMap};

use super::{Candle, LiveCandle};

/// Base candles kept: a day of 1-minute candles and some (what a 1-day series built from
/// them needs), and memory stays small (48 bytes each).
pub const BASE_KEPT: usize = 1_500;

/// One timeframe's series: REST's closed candles before `live_from`, combined periods since.
#[derive(Debug, Clone)]
struct Series {
    closed: Vec<Candle>,
    /// Open of the first period combined from base candles.
    live_from: i64,
    /// Candles a read may ask for (what REST was asked for when seeding).
    limit: usize,
}

/// The streamed base candles of one symbol and the timeframes built on them.
#[derive(Debug, Clone, Default)]
pub struct LiveCandles {
    /// Length of the streamed base interval, once one candle told it.
    base_ms: Option<i64>,
    /// Base candles by open time, contiguous (no missing interval between first and last).
    base: BTreeMap<i64, Candle>,
    /// By timeframe length (ms).
    series: HashMap<i64, Series>,
}

impl LiveCandles {
    /// The streamed base interval's length, once known.
    pub fn base_ms(&self) -> Option<i64> {
        self.base_ms
    }

    /// The newest base candle (the one in progress).
    pub fn latest(&self) -> Option<LiveCandle> {
        let (_, candle) = self.base.last_key_value()?;
        Some(LiveCandle {
            candle: *candle,
            closed: false,
            interval_ms: self.base_ms?,
        })
    }

    /// A streamed base candle: the one in progress, or the last version of the one before
    /// (older ones are stale repeats). A gap before it (or another interval) starts afresh.
    pub fn push(&mut self, live: LiveCandle) {
        if self.base_ms != Some(live.interval_ms) {
            *self = Self {
                base_ms: Some(live.interval_ms),
                ..Self::default()
            };
        }
        let ts = live.candle.timestamp;
        if let Some((&last, _)) = self.base.last_key_value() {
            if ts < last - live.interval_ms {
                return;
            }
            if ts > last + live.interval_ms {
                // Candles were lost (a reconnect): what was combined is no longer whole.
                self.base.clear();
                self.series.clear();
            }
        }
        self.put(live.candle);
        self.prune();
    }

    /// Keeps the fuller of two versions of one base candle: within a candle volume only grows,
    /// so the bigger one is the newer (a tie: the incoming, e.g. the stream over REST).
    fn put(&mut self, candle: Candle) {
        match self.base.get_mut(&candle.timestamp) {
            Some(held) if held.volume > candle.volume => {}
            Some(held) => *held = candle,
            None => {
                self.base.insert(candle.timestamp, candle);
            }
        }
    }

    fn prune(&mut self) {
        while self.base.len() > BASE_KEPT {
            self.base.pop_first();
        }
        let first = self.base.first_key_value().map(|(&ts, _)| ts);
        self.series
            .retain(|_, s| first.is_some_and(|first| first <= s.live_from));
    }

    /// Installs `tf_ms`'s series from REST: `candles` of the timeframe (oldest first; those
    /// from `base_rest`'s first open on are replaced by combined ones) and `base_rest`, the
    /// base candles from the open of REST's newest period. `false` when they do not join the
    /// stream without a gap (the read is then answered by REST).
    pub fn seed(
        &mut self,
        tf_ms: i64,
        candles: &[Candle],
        base_rest: &[Candle],
        limit: usize,
    ) -> bool {
        let Some(base_ms) = self.base_ms else {
            return false;
        };
        let (Some(first), Some(last)) = (base_rest.first(), base_rest.last()) else {
            return false;
        };
        let live_from = first.timestamp;
        let contiguous = base_rest
            .windows(2)
            .all(|w| w[1].timestamp == w[0].timestamp + base_ms);
        // The stream must go on where REST ended (or overlap it).
        let joins = match (self.base.first_key_value(), self.base.last_key_value()) {
            (Some((&s_first, _)), Some((&s_last, _))) => {
                s_first <= last.timestamp + base_ms && s_last + base_ms >= first.timestamp
            }
            _ => false,
        };
        if tf_ms % base_ms != 0 || !contiguous || !joins {
            return false;
        }
        for candle in base_rest {
            self.put(*candle);
        }
        let closed = candles
            .iter()
            .filter(|c| c.timestamp < live_from)
            .copied()
            .collect();
        self.series.insert(
            tf_ms,
            Series {
                closed,
                live_from,
                limit,
            },
        );
        self.prune();
        self.series.contains_key(&tf_ms)
    }

    /// The last `limit` candles of `tf_ms`, oldest first, the last the one in progress; `None`
    /// when the series is not held or was seeded for fewer.
    pub fn candles(&self, tf_ms: i64, limit: usize) -> Option<Vec<Candle>> {
        let series = self.series.get(&tf_ms)?;
        if limit > series.limit {
            return None;
        }
        let mut out = series.closed.clone();
        let mut period: Option<Candle> = None;
        for (&ts, base) in self.base.range(series.live_from..) {
            let open = series.live_from + (ts - series.live_from) / tf_ms * tf_ms;
            match &mut period {
                Some(c) if c.timestamp == open => {
                    c.high = c.high.max(base.high);
                    c.low = c.low.min(base.low);
                    c.close = base.close;
                    c.volume += base.volume;
                }
                _ => {
                    out.extend(period.take());
                    period = Some(Candle {
                        timestamp: open,
                        ..*base
                    });
                }
            }
        }
        out.extend(period);
        let skip = out.len().saturating_sub(limit);
        out.drain(..skip);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: i64 = 60_000;

    fn c(ts: i64, open: f64, high: f64, low: f64, close: f64, volume: f64) -> Candle {
        Candle {
            timestamp: ts,
            open,
            high,
            low,
            close,
            volume,
        }
    }

    fn live(candle: Candle) -> LiveCandle {
        LiveCandle {
            candle,
            closed: false,
            interval_ms: M,
        }
    }

    /// An hour from 5-minute candles: REST's history, REST's base candles of the hour so far,
    /// then the stream's newer versions and a new hour.
    #[test]
    fn combines_base_candles_into_the_timeframe() {
        let h = 3_600_000;
        let t0 = 100 * h;
        let mut lc = LiveCandles::default();
        // The stream's candle in progress, older than REST's version of it.
        lc.push(live(c(t0 + 2 * M, 10.0, 11.0, 9.5, 10.5, 1.0)));
        let history = [
            c(t0 - h, 1.0, 2.0, 0.5, 1.5, 100.0),
            c(t0, 9.0, 9.0, 9.0, 9.0, 9.0),
        ];
        let base = [
            c(t0, 9.0, 10.0, 8.0, 9.5, 2.0),
            c(t0 + M, 9.5, 12.0, 9.0, 10.0, 3.0),
            c(t0 + 2 * M, 10.0, 11.0, 9.5, 10.6, 1.5),
        ];
        assert!(lc.seed(h, &history, &base, 3));
        let got = lc.candles(h, 3).unwrap();
        assert_eq!(got, [history[0], c(t0, 9.0, 12.0, 8.0, 10.6, 6.5)]);
        // A newer version of the candle in progress replaces it; an older one does not.
        lc.push(live(c(t0 + 2 * M, 10.0, 11.0, 7.0, 10.8, 2.0)));
        lc.push(live(c(t0 + 2 * M, 10.0, 11.0, 9.5, 10.5, 1.0)));
        assert_eq!(
            lc.candles(h, 3).unwrap()[1],
            c(t0, 9.0, 12.0, 7.0, 10.8, 7.0)
        );
        // Every minute to the next hour: the hour closes, the next one is in progress.
        for k in 3..=60 {
            lc.push(live(c(t0 + k * M, 10.8, 10.9, 10.7, 10.8, 1.0)));
        }
        let got = lc.candles(h, 3).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[1], c(t0, 9.0, 12.0, 7.0, 10.8, 7.0 + 57.0));
        assert_eq!(got[2], c(t0 + h, 10.8, 10.9, 10.7, 10.8, 1.0));
        assert_eq!(lc.candles(h, 2).unwrap(), got[1..]);
        assert!(lc.candles(h, 4).is_none(), "seeded for 3");
        assert!(lc.candles(2 * h, 1).is_none(), "never seeded");
    }

    #[test]
    fn a_gap_or_a_seam_drops_the_series() {
        let h = 3_600_000;
        let mut lc = LiveCandles::default();
        let base = [c(0, 1.0, 1.0, 1.0, 1.0, 1.0), c(M, 1.0, 1.0, 1.0, 1.0, 1.0)];
        assert!(!lc.seed(h, &[], &base, 10), "no stream yet");
        lc.push(live(c(5 * M, 1.0, 1.0, 1.0, 1.0, 1.0)));
        assert!(
            !lc.seed(h, &[], &base, 10),
            "REST ends before the stream starts"
        );
        assert!(
            !lc.seed(7 * M, &[], &base, 10),
            "not a multiple of the base"
        );
        let base: Vec<_> = (0..=5).map(|k| c(k * M, 1.0, 1.0, 1.0, 1.0, 1.0)).collect();
        assert!(lc.seed(h, &[], &base, 10));
        assert_eq!(lc.candles(h, 10).unwrap()[0].volume, 6.0);
        lc.push(live(c(8 * M, 1.0, 1.0, 1.0, 1.0, 1.0)));
        assert!(lc.candles(h, 10).is_none(), "two minutes lost");
    }
}
