//! Fixed-point decimals in Binance's 8-decimal wire format.
//!
//! Prices and quantities are kept as integer multiples of 1e-8 ("units") so that rounding to a
//! symbol's tickSize/stepSize is exact and printing never shows float noise like `0.30000000000004`.

/// 1.0 expressed in units.
pub const ONE: u64 = 100_000_000;

/// Parses a non-negative decimal string ("0.01000000", "1.00", "5") into 1e-8 units.
/// Digits beyond the 8th decimal are rejected rather than silently dropped.
pub fn parse_units(s: &str) -> Option<u64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let frac = frac.trim_end_matches('0');
    if frac.len() > 8 || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let int: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut f: u64 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    for _ in frac.len()..8 {
        f *= 10;
    }
    int.checked_mul(ONE)?.checked_add(f)
}

/// Formats units as Binance does: always 8 decimals ("73369.84000000").
pub fn fmt_units(units: u64) -> String {
    format!("{}.{:08}", units / ONE, units % ONE)
}

/// Signed variant, for priceChange.
pub fn fmt_signed_units(units: i64) -> String {
    let s = fmt_units(units.unsigned_abs());
    if units < 0 {
        format!("-{s}")
    } else {
        s
    }
}

/// Formats a float with 8 decimals (values that are averages or products, e.g. weightedAvgPrice,
/// quoteVolume, which Binance also prints with 8 decimals).
pub fn fmt_f64(v: f64) -> String {
    if v.is_finite() {
        format!("{:.8}", v.max(0.0))
    } else {
        "0.00000000".to_string()
    }
}

/// `price × qty` in units, rounded half-up, computed exactly in u128 (quoteQty of a trade).
pub fn mul_units(a: u64, b: u64) -> u64 {
    let p = a as u128 * b as u128;
    let r = (p + (ONE as u128 / 2)) / ONE as u128;
    u64::try_from(r).unwrap_or(u64::MAX)
}

/// Converts units to f64 (for statistics only, never for printing prices).
pub fn to_f64(units: u64) -> f64 {
    units as f64 / ONE as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_binance_decimals() {
        assert_eq!(parse_units("0.01000000"), Some(1_000_000));
        assert_eq!(parse_units("1.00"), Some(ONE));
        assert_eq!(parse_units("1.0"), Some(ONE));
        assert_eq!(parse_units("0.00000001"), Some(1));
        assert_eq!(parse_units("73369.84"), Some(7_336_984_000_000));
        assert_eq!(parse_units("0.000000001"), None);
        assert_eq!(parse_units("abc"), None);
        assert_eq!(parse_units(""), None);
    }

    #[test]
    fn formats_like_binance() {
        assert_eq!(fmt_units(7_336_984_000_000), "73369.84000000");
        assert_eq!(fmt_units(1), "0.00000001");
        assert_eq!(fmt_signed_units(-118_875_000_000), "-1188.75000000");
        assert_eq!(fmt_f64(1.5), "1.50000000");
    }

    #[test]
    fn exact_products() {
        // 60650.01 × 0.00082 = 49.7330082 (the trades.json fixture's quoteQty "49.73300820")
        assert_eq!(
            fmt_units(mul_units(
                parse_units("60650.01").unwrap(),
                parse_units("0.00082").unwrap()
            )),
            "49.73300820"
        );
    }
}
