//! Number and time formats the non-Binance venues use on the wire.

use crate::market::decimal::ONE;

/// Decimal string without trailing zeros ("65000.1", "0.0005", "3"), as OKX, Bybit and Coinbase
/// print prices and sizes.
pub fn trimmed(units: u64) -> String {
    let frac = units % ONE;
    if frac == 0 {
        return (units / ONE).to_string();
    }
    let digits = format!("{frac:08}");
    format!("{}.{}", units / ONE, digits.trim_end_matches('0'))
}

/// Decimal string with exactly `decimals` (≤ 8) fraction digits ("105944.30000"), as Kraken
/// prints prices at the pair's precision.
pub fn fixed(units: u64, decimals: u32) -> String {
    let decimals = decimals.min(8);
    if decimals == 0 {
        return (units / ONE).to_string();
    }
    let digits = format!("{:08}", units % ONE);
    format!("{}.{}", units / ONE, &digits[..decimals as usize])
}

/// A float (averages, quote volumes) with `decimals` fraction digits; non-finite → 0.
pub fn float(v: f64, decimals: usize) -> String {
    let v = if v.is_finite() { v.max(0.0) } else { 0.0 };
    format!("{v:.decimals$}")
}

/// Fraction digits of a tick or step in 1e-8 units (0.01 → 2, 1 → 0).
pub fn decimals_of(units: u64) -> u32 {
    let mut d = 8;
    let mut u = units;
    while d > 0 && u.is_multiple_of(10) {
        u /= 10;
        d -= 1;
    }
    d
}

/// RFC 3339 UTC with microseconds ("2026-04-07T00:28:58.544000Z"), Coinbase's time format.
pub fn rfc3339_micros(ms: u64) -> String {
    let (secs, milli) = (ms / 1000, ms % 1000);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}000Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        milli
    )
}

/// Days since 1970-01-01 → (year, month, day) (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_strings() {
        assert_eq!(trimmed(6_500_010_000_000), "65000.1");
        assert_eq!(trimmed(50_000), "0.0005");
        assert_eq!(trimmed(3 * ONE), "3");
        assert_eq!(fixed(10_594_430_000_000, 5), "105944.30000");
        assert_eq!(fixed(10_594_430_000_000, 0), "105944");
        assert_eq!(float(1.23456, 2), "1.23");
        assert_eq!(float(f64::NAN, 2), "0.00");
        assert_eq!(
            (decimals_of(1_000_000), decimals_of(ONE), decimals_of(1)),
            (2, 0, 8)
        );
    }

    #[test]
    fn coinbase_times() {
        // 2024-03-13T11:10:45.391Z
        assert_eq!(
            rfc3339_micros(1_710_328_245_391),
            "2024-03-13T11:10:45.391000Z"
        );
        assert_eq!(rfc3339_micros(0), "1970-01-01T00:00:00.000000Z");
    }
}
