//! Derivative contracts (perpetual swaps and dated futures) on the shared walk: their basis,
//! mark and index prices, funding schedule and open interest.
//!
//! A contract's prices are the spot walk of its underlying (`walk_key`, the spot symbol's key)
//! with the venue's skew, plus a log premium `p(step)`:
//! * index = the venue's spot price (premium × 0),
//! * mark = index × e^(p/2) (premium × ½),
//! * last (book, trades, candles, tickers) = index × e^p (premium × 1).
//!
//! So last, mark and index differ (by p/2 each) whenever the premium is not zero. `p` is
//! `bias + 0.01 × w(premium_key, step)` (w a second walk of the same kind as the price walk,
//! so it moves slowly and deterministically), clamped to ±0.3 % and kept at least 0.5 bp from
//! zero; a dated future adds a carry of 8 % a year × the time left to expiry. Mark and index
//! are quoted at 1/100 of the contract's tick.
//!
//! Funding (perpetuals): the premium index `P = mark / index − 1` (from the served, tick-rounded
//! prices) gives the rate `round8((0.0001 + P) × hours / 8)`, clamped to ±0.3 % — the "predicted"
//! rate at any instant. It settles every `hours` (8: 00:00, 08:00, 16:00 UTC; 4: every 4 h from
//! 00:00) at the rate of the settlement instant itself: the history entry at `T` is the rate
//! and mark at `T`.
//!
//! Open interest (in base units): `oi_mean × e^(0.5 × w(oi_key, minute))`, rounded down to the
//! contract's lot step; it changes once a minute.

use super::walk::{hash, name_hash, Walk};

pub const HOUR_MS: u64 = 3_600_000;
const YEAR_MS: f64 = 365.0 * 24.0 * 3_600_000.0;
/// The premium's and the rate's bounds.
const MAX_PREMIUM: f64 = 0.003;
const MAX_RATE: f64 = 0.003;
const MIN_PREMIUM: f64 = 0.000_05;
/// Interest component of the rate per 8 h (Binance's 0.01 %).
pub const INTEREST_8H: f64 = 0.0001;

/// Which price a derivative market's book, trades and candles show.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pricing {
    /// The contract's own last price (or, for spot symbols, the spot price).
    #[default]
    Last,
    Mark,
    Index,
}

impl Pricing {
    fn premium_share(self) -> f64 {
        match self {
            Pricing::Last => 1.0,
            Pricing::Mark => 0.5,
            Pricing::Index => 0.0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContractKind {
    Perpetual,
    /// Delivers at `expiry_ms`.
    Dated {
        expiry_ms: u64,
    },
}

/// What makes a [`super::Symbol`] a derivative.
#[derive(Clone, Debug, PartialEq)]
pub struct Contract {
    pub kind: ContractKind,
    /// The underlying spot symbol's walk key: the contract moves with spot.
    pub walk_key: u64,
    /// Funding interval in hours (perpetuals; dated futures have none but keep 8).
    pub funding_hours: u64,
    premium_key: u64,
    bias: f64,
    oi_key: u64,
    /// Mean open interest in base units (float; served rounded to the lot step).
    oi_mean: f64,
    /// Base units per contract in 1e-8 units (OKX `ctVal`; 1 base elsewhere).
    pub contract_size: u64,
}

impl Contract {
    /// `venue` and `id` make the premium and open interest paths differ per venue and contract.
    pub fn new(
        kind: ContractKind,
        walk_key: u64,
        venue: &str,
        id: &str,
        base: &str,
        funding_hours: u64,
        contract_size: u64,
    ) -> Contract {
        let k = hash(&[walk_key, name_hash(venue), name_hash(id)]);
        // Different signs per base, so venues and symbols have distinct funding to compare.
        let bias = match base {
            "BTC" => 0.0003,
            "ETH" => 0.0002,
            "SOL" => -0.0002,
            _ => 0.0001,
        };
        let oi_mean = match base {
            "BTC" => 80_000.0,
            "ETH" => 1_500_000.0,
            "SOL" => 9_000_000.0,
            "BNB" => 700_000.0,
            _ => 5_000_000.0,
        };
        Contract {
            kind,
            walk_key,
            funding_hours,
            premium_key: hash(&[k, 1]),
            bias,
            oi_key: hash(&[k, 2]),
            oi_mean,
            contract_size,
        }
    }

    pub fn is_perpetual(&self) -> bool {
        self.kind == ContractKind::Perpetual
    }

    /// The log premium of the contract's last price over the index at `step`.
    pub fn log_premium(&self, walk: &Walk, step: u64) -> f64 {
        let p = (self.bias + 0.01 * walk.log_offset(self.premium_key, step))
            .clamp(-MAX_PREMIUM, MAX_PREMIUM);
        // Never within 0.5 bp of zero, so last, mark and index always differ.
        let p = if p.abs() < MIN_PREMIUM {
            MIN_PREMIUM.copysign(self.bias)
        } else {
            p
        };
        match self.kind {
            ContractKind::Perpetual => p,
            ContractKind::Dated { expiry_ms } => {
                let t = step.saturating_mul(walk.tick_ms());
                p + 0.08 * expiry_ms.saturating_sub(t) as f64 / YEAR_MS
            }
        }
    }

    /// The share of the premium in a market of `pricing`.
    pub fn log_offset(&self, walk: &Walk, step: u64, pricing: Pricing) -> f64 {
        match pricing {
            Pricing::Index => 0.0,
            p => self.log_premium(walk, step) * p.premium_share(),
        }
    }

    /// Open interest in base units (1e-8) at `t_ms`, rounded down to `lot` (1e-8 units).
    pub fn open_interest(&self, walk: &Walk, t_ms: u64, lot: u64) -> u64 {
        let minute = t_ms / 60_000;
        // The OI path is a walk over minutes: a fresh Walk of 1-minute steps on the same seed
        // is not needed; scaling the step keeps one walk and one key per contract.
        let w = walk.log_offset(self.oi_key, minute * 60_000 / walk.tick_ms().max(1));
        let units = self.oi_mean * (0.5 * w).exp() * 1e8;
        let lot = lot.max(1);
        (units as u64) / lot * lot
    }

    /// The funding interval in ms.
    pub fn interval_ms(&self) -> u64 {
        self.funding_hours.max(1) * HOUR_MS
    }

    /// The first settlement strictly after `t_ms`.
    pub fn next_funding(&self, t_ms: u64) -> u64 {
        (t_ms / self.interval_ms() + 1) * self.interval_ms()
    }

    /// Settlement instants in `[from, to]`, oldest first.
    pub fn settlements(&self, from: u64, to: u64) -> impl Iterator<Item = u64> {
        let iv = self.interval_ms();
        let first = from.div_ceil(iv) * iv;
        (0..)
            .map(move |i| first + i * iv)
            .take_while(move |&t| t <= to)
    }
}

/// The funding rate from the served mark and index (1e-8 units) for an interval of `hours`:
/// `(0.0001 + mark/index − 1) × hours/8`, clamped to ±0.3 %, rounded to 8 decimals (returned in
/// 1e-8, signed).
pub fn funding_rate(mark: u64, index: u64, hours: u64) -> i64 {
    if index == 0 {
        return 0;
    }
    let premium = mark as f64 / index as f64 - 1.0;
    let rate = ((INTEREST_8H + premium) * hours as f64 / 8.0).clamp(-MAX_RATE, MAX_RATE);
    (rate * 1e8).round() as i64
}

/// A signed 1e-8 amount with exactly 8 decimals ("0.00010000", "-0.00002500").
pub fn fmt_rate8(r: i64) -> String {
    let sign = if r < 0 { "-" } else { "" };
    let a = r.unsigned_abs();
    format!("{sign}{}.{:08}", a / 100_000_000, a % 100_000_000)
}

/// A signed 1e-8 amount without trailing zeros ("0.0001", "-0.000025", "0").
pub fn fmt_rate_trimmed(r: i64) -> String {
    let s = fmt_rate8(r);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Binance's CURRENT_QUARTER delivery at `now`: the last Friday of the quarter's last month,
/// 08:00 UTC (the next quarter's once that has passed).
pub fn current_quarter_expiry(now_ms: u64) -> u64 {
    let days = (now_ms / 86_400_000) as i64;
    let (mut y, m) = year_month(days);
    let mut qm = (m - 1) / 3 * 3 + 3;
    loop {
        let expiry = last_friday_8h(y, qm);
        if expiry > now_ms {
            return expiry;
        }
        qm += 3;
        if qm > 12 {
            qm = 3;
            y += 1;
        }
    }
}

fn year_month(days: i64) -> (i64, u32) {
    // Inverse of days_from_civil, month only.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m)
}

fn last_friday_8h(y: i64, m: u32) -> u64 {
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    let last = days_from_civil(ny, nm, 1) - 1;
    // 1970-01-01 was a Thursday: weekday 0 = Thursday, Friday = 1.
    let back = (last.rem_euclid(7) - 1).rem_euclid(7);
    ((last - back) as u64) * 86_400_000 + 8 * HOUR_MS
}

/// `yymmdd` of a ms time (Binance's and ccxt's dated suffix).
pub fn yymmdd(ms: u64) -> String {
    let days = (ms / 86_400_000) as i64;
    let (y, m) = year_month(days);
    let d = days - days_from_civil(y, m, 1) + 1;
    format!("{:02}{m:02}{d:02}", y % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_796_601_600_000; // 2026-12-07T00:00:00Z

    fn perp(hours: u64) -> Contract {
        Contract::new(
            ContractKind::Perpetual,
            7,
            "binance",
            "BTCUSDT",
            "BTC",
            hours,
            100_000_000,
        )
    }

    #[test]
    fn quarter_expiry_is_the_last_friday_at_8() {
        let e = current_quarter_expiry(NOW);
        assert_eq!(yymmdd(e), "261225");
        assert_eq!(e % 86_400_000, 8 * HOUR_MS);
        // After that delivery, the next quarter's (2027-03-26).
        assert_eq!(yymmdd(current_quarter_expiry(e)), "270326");
        assert_eq!(yymmdd(0), "700101");
    }

    #[test]
    fn settlements_are_on_the_utc_grid() {
        let c = perp(8);
        let day = NOW; // midnight
        let s: Vec<u64> = c.settlements(day, day + 24 * HOUR_MS).collect();
        assert_eq!(
            s,
            [
                day,
                day + 8 * HOUR_MS,
                day + 16 * HOUR_MS,
                day + 24 * HOUR_MS
            ]
        );
        assert_eq!(c.next_funding(day), day + 8 * HOUR_MS);
        assert_eq!(c.next_funding(day + 1), day + 8 * HOUR_MS);
        assert_eq!(perp(4).next_funding(day + 1), day + 4 * HOUR_MS);
        assert_eq!(perp(4).settlements(day + 1, day + 8 * HOUR_MS).count(), 2);
    }

    #[test]
    fn rate_follows_the_premium_and_is_bounded() {
        assert_eq!(funding_rate(100_000, 100_000, 8), 10_000);
        assert_eq!(funding_rate(100_000, 100_000, 4), 5_000);
        assert!(funding_rate(100_010, 100_000, 8) > funding_rate(100_005, 100_000, 8));
        assert_eq!(funding_rate(200_000, 100_000, 8), 300_000);
        assert_eq!(funding_rate(1, 0, 8), 0);
        assert_eq!(fmt_rate8(10_000), "0.00010000");
        assert_eq!(fmt_rate8(-2_500), "-0.00002500");
        assert_eq!(fmt_rate_trimmed(10_000), "0.0001");
        assert_eq!(fmt_rate_trimmed(-2_500), "-0.000025");
        assert_eq!(fmt_rate_trimmed(0), "0");
    }

    #[test]
    fn premium_moves_and_stays_small_and_oi_moves() {
        let w = Walk::new(42, 100);
        let c = perp(8);
        let step = w.step_at(NOW);
        let ps: Vec<f64> = (0..50)
            .map(|i| c.log_premium(&w, step + i * 36_000))
            .collect();
        assert!(ps.iter().all(|p| p.abs() <= MAX_PREMIUM));
        assert!(ps.windows(2).any(|p| p[0] != p[1]));
        assert_eq!(c.log_offset(&w, step, Pricing::Index), 0.0);
        let oi = |t| c.open_interest(&w, t, 1000);
        assert_eq!(oi(NOW), oi(NOW + 59_999));
        assert_ne!(oi(NOW), oi(NOW + 3_600_000));
        assert!(oi(NOW) % 1000 == 0 && oi(NOW) > 0);
        let dated = Contract::new(
            ContractKind::Dated {
                expiry_ms: NOW + 90 * 86_400_000,
            },
            7,
            "binance",
            "BTCUSDT_270307",
            "BTC",
            8,
            100_000_000,
        );
        assert!(dated.log_premium(&w, step) > 0.01);
    }
}
