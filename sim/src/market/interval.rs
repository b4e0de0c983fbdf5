//! Kline intervals and Binance's candle alignment (UTC; weeks open on Monday; months on the 1st).

const SEC: u64 = 1_000;
const MIN: u64 = 60 * SEC;
const HOUR: u64 = 60 * MIN;
const DAY: u64 = 24 * HOUR;
/// 1970-01-01 was a Thursday; Binance weekly candles open on Monday 00:00 UTC.
const MONDAY_OFFSET: u64 = 4 * DAY;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Interval {
    /// Fixed-length interval aligned to `offset + k·len`.
    Fixed { len: u64, offset: u64 },
    /// Calendar month.
    Month,
}

/// Every interval Binance accepts, as spelled in requests and stream names.
pub const NAMES: [&str; 16] = [
    "1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w",
    "1M",
];

impl Interval {
    pub fn parse(s: &str) -> Option<Interval> {
        let len = match s {
            "1s" => SEC,
            "1m" => MIN,
            "3m" => 3 * MIN,
            "5m" => 5 * MIN,
            "15m" => 15 * MIN,
            "30m" => 30 * MIN,
            "1h" => HOUR,
            "2h" => 2 * HOUR,
            "4h" => 4 * HOUR,
            "6h" => 6 * HOUR,
            "8h" => 8 * HOUR,
            "12h" => 12 * HOUR,
            "1d" => DAY,
            "3d" => 3 * DAY,
            "1w" => {
                return Some(Interval::Fixed {
                    len: 7 * DAY,
                    offset: MONDAY_OFFSET,
                })
            }
            "1M" => return Some(Interval::Month),
            _ => return None,
        };
        Some(Interval::Fixed { len, offset: 0 })
    }

    /// Open time of the candle containing `t`.
    pub fn align(&self, t: u64) -> u64 {
        match *self {
            Interval::Fixed { len, offset } => {
                if t < offset {
                    0
                } else {
                    (t - offset) / len * len + offset
                }
            }
            Interval::Month => {
                let (y, m, _) = civil_from_days((t / DAY) as i64);
                day_start(days_from_civil(y, m, 1))
            }
        }
    }

    /// Open time of the candle after the one opening at `open`. Saturates at `u64::MAX`: a
    /// client's `startTime` near the end of time must not wrap around to 1970.
    pub fn next(&self, open: u64) -> u64 {
        match *self {
            Interval::Fixed { len, .. } => open.saturating_add(len),
            Interval::Month => {
                let (y, m, _) = civil_from_days((open / DAY) as i64);
                let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                day_start(days_from_civil(y, m, 1))
            }
        }
    }

    /// Open time of the candle before the one opening at `open`.
    pub fn prev(&self, open: u64) -> u64 {
        match *self {
            Interval::Fixed { len, .. } => open.saturating_sub(len),
            Interval::Month => self.align(open.saturating_sub(1)),
        }
    }

    /// First candle open ≥ `t`.
    pub fn ceil(&self, t: u64) -> u64 {
        let a = self.align(t);
        if a == t {
            a
        } else {
            self.next(a)
        }
    }
}

/// Days since 1970-01-01 → that day's first ms, saturating (past `u64::MAX` ms is the end of
/// time, for the simulator's purposes).
fn day_start(days: i64) -> u64 {
    u64::try_from(days)
        .ok()
        .and_then(|d| d.checked_mul(DAY))
        .unwrap_or(u64::MAX)
}

/// Days since 1970-01-01 → (year, month, day). Howard Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// (year, month, day) → days since 1970-01-01. Howard Hinnant's `days_from_civil`.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_binance_intervals() {
        for s in NAMES {
            assert!(Interval::parse(s).is_some(), "{s}");
        }
        assert!(Interval::parse("2m").is_none());
        assert!(Interval::parse("1H").is_none());
    }

    #[test]
    fn hour_alignment_matches_fixture() {
        // klines_1h.json: openTime 1706630400000, closeTime 1706633999999
        let h = Interval::parse("1h").unwrap();
        assert_eq!(h.align(1_706_630_400_000 + 1_234_567), 1_706_630_400_000);
        assert_eq!(h.next(1_706_630_400_000) - 1, 1_706_633_999_999);
        assert_eq!(h.ceil(1_706_630_400_001), 1_706_634_000_000);
        assert_eq!(h.ceil(1_706_630_400_000), 1_706_630_400_000);
    }

    #[test]
    fn weeks_open_on_monday() {
        let w = Interval::parse("1w").unwrap();
        // 2024-03-13 (Wednesday) → Monday 2024-03-11 00:00 UTC = 1710115200000
        assert_eq!(w.align(1_710_328_245_391), 1_710_115_200_000);
    }

    #[test]
    fn extreme_start_times_saturate_instead_of_wrapping() {
        for name in NAMES {
            let iv = Interval::parse(name).unwrap();
            for t in [u64::MAX, u64::MAX - 1, u64::MAX / 2 + 12_345] {
                let first = iv.ceil(t);
                assert!(first >= iv.align(t), "{name} {t}: {first}");
                assert!(iv.next(first) >= first, "{name} {t}: next wrapped");
            }
        }
    }

    #[test]
    fn months_follow_the_calendar() {
        let m = Interval::Month;
        // 2024-03-13 → 2024-03-01 (1709251200000); next 2024-04-01 (1711929600000)
        let open = m.align(1_710_328_245_391);
        assert_eq!(open, 1_709_251_200_000);
        assert_eq!(m.next(open), 1_711_929_600_000);
        assert_eq!(m.prev(open), 1_706_745_600_000); // 2024-02-01
        assert_eq!(m.next(m.align(1_703_980_800_000)), 1_704_067_200_000); // Dec 31 2023 → Jan 1
        assert_eq!(civil_from_days(days_from_civil(2000, 2, 29)), (2000, 2, 29));
    }
}
