//! Exact decimals for prices and sizes kept in local books: the venue's strings parsed to an
//! integer count of 10^-18, so that book levels are map keys compared exactly (never floats:
//! `0.1 + 0.2` style drift would split or merge levels) and formatted back without loss.

use std::fmt;
use std::str::FromStr;

/// Decimal places kept (more than any venue quotes).
const SCALE: u32 = 18;
const ONE: u128 = 10u128.pow(SCALE);

/// A non-negative decimal with 18 places, exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Exact(u128);

impl Exact {
    pub const ZERO: Exact = Exact(0);

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// The nearest `f64` (the decimal's text parsed, so correctly rounded).
    pub fn to_f64(self) -> f64 {
        self.to_string().parse().unwrap_or(f64::NAN)
    }

    /// A float's shortest round-trip text as a decimal: exact for values that came from a
    /// decimal string of up to 15 significant digits (a REST snapshot parsed by ccxt).
    pub fn from_f64(v: f64) -> Option<Exact> {
        if !v.is_finite() || v < 0.0 {
            return None;
        }
        format!("{v}").parse().ok()
    }
}

/// Why a decimal string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadDecimal(pub String);

impl fmt::Display for BadDecimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a decimal: {:?}", self.0)
    }
}

impl std::error::Error for BadDecimal {}

impl FromStr for Exact {
    type Err = BadDecimal;

    /// `"123.4500"`, `"7"`, `"1e-5"` (exponents as floats print them); no sign, at most 18
    /// places, at most 20 integer digits.
    fn from_str(s: &str) -> Result<Self, BadDecimal> {
        let bad = || BadDecimal(s.chars().take(40).collect());
        let (digits, exp) = match s.find(['e', 'E']) {
            Some(i) => (&s[..i], s[i + 1..].parse::<i32>().map_err(|_| bad())?),
            None => (s, 0),
        };
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        if int.is_empty() && frac.is_empty()
            || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        // All digits as one integer, with the number of places after the point.
        let mut mantissa: u128 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            mantissa = mantissa
                .checked_mul(10)
                .and_then(|m| m.checked_add(u128::from(b - b'0')))
                .ok_or_else(bad)?;
        }
        let places = i64::try_from(frac.len()).map_err(|_| bad())? - i64::from(exp);
        let shift = i64::from(SCALE) - places;
        let value = if shift >= 0 {
            let factor = 10u128
                .checked_pow(u32::try_from(shift).map_err(|_| bad())?)
                .ok_or_else(bad)?;
            mantissa.checked_mul(factor).ok_or_else(bad)?
        } else {
            // More places than kept: only trailing zeros may go.
            let factor = 10u128
                .checked_pow(u32::try_from(-shift).map_err(|_| bad())?)
                .ok_or_else(bad)?;
            if !mantissa.is_multiple_of(factor) {
                return Err(bad());
            }
            mantissa / factor
        };
        Ok(Exact(value))
    }
}

impl fmt::Display for Exact {
    /// Shortest exact text: `123.45`, `7`, `0.0001`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let int = self.0 / ONE;
        let frac = self.0 % ONE;
        if frac == 0 {
            return write!(f, "{int}");
        }
        let places = format!("{frac:018}");
        write!(f, "{int}.{}", places.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x(s: &str) -> Exact {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_prints_exactly() {
        assert_eq!(x("0.00010000").to_string(), "0.0001");
        assert_eq!(x("123.45").to_string(), "123.45");
        assert_eq!(x("7").to_string(), "7");
        assert_eq!(x("1e-5"), x("0.00001"));
        assert_eq!(x("2.5E2"), x("250"));
        assert_eq!(x("0.1").to_f64(), 0.1);
        assert_eq!(x("67890.12"), x("67890.120000"));
        assert!(x("0.3") > x("0.29999999999999999"));
        assert!(x("0").is_zero());
    }

    #[test]
    fn refuses_what_is_not_a_plain_decimal() {
        for bad in [
            "",
            ".",
            "-1",
            "1.2.3",
            "abc",
            "1e",
            "0.0000000000000000001",
            "1e40",
        ] {
            assert!(bad.parse::<Exact>().is_err(), "{bad}");
        }
    }

    #[test]
    fn floats_from_decimal_strings_round_trip() {
        for s in ["0.1", "67123.45", "0.00000123", "12345678.9"] {
            let v: f64 = s.parse().unwrap();
            assert_eq!(Exact::from_f64(v), Some(x(s)), "{s}");
        }
        assert_eq!(Exact::from_f64(-1.0), None);
        assert_eq!(Exact::from_f64(f64::NAN), None);
    }
}
