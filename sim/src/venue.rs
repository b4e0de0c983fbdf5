//! Which exchange a simulator instance impersonates, and how its prices differ from the others'.

use crate::market::walk::{hash, name_hash, unit};
use std::fmt;

/// An exchange whose public spot REST market data the simulator speaks. One simulator instance
/// (one listener) serves exactly one venue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Venue {
    #[default]
    Binance,
    Okx,
    Bybit,
    Kraken,
    Coinbase,
}

impl Venue {
    pub const ALL: [Venue; 5] = [
        Venue::Binance,
        Venue::Okx,
        Venue::Bybit,
        Venue::Kraken,
        Venue::Coinbase,
    ];

    /// The ccxt id: `"binance"`, `"okx"`, `"bybit"`, `"kraken"`, `"coinbase"`.
    pub fn id(&self) -> &'static str {
        match self {
            Venue::Binance => "binance",
            Venue::Okx => "okx",
            Venue::Bybit => "bybit",
            Venue::Kraken => "kraken",
            Venue::Coinbase => "coinbase",
        }
    }

    pub fn from_id(id: &str) -> Option<Venue> {
        Venue::ALL.into_iter().find(|v| v.id() == id)
    }

    /// Whether this venue lists a market with this base asset. Binance's BNB is listed only
    /// there, so tests have a symbol one venue has and the others lack.
    pub(crate) fn lists(self, base: &str) -> bool {
        self == Venue::Binance || base != "BNB"
    }

    /// Log-price offset of this venue from the shared walk at `step`: a fixed skew of a few
    /// basis points plus a per-step wobble, as real venues' prices differ slightly and not by a
    /// constant. Binance is the reference (0), so its prices are the walk's, as before venues.
    pub(crate) fn log_skew(self, symbol_key: u64, step: u64) -> f64 {
        let (fixed_bp, wobble_bp) = match self {
            Venue::Binance => return 0.0,
            Venue::Okx => (2.0, 1.5),
            Venue::Bybit => (-3.0, 1.5),
            Venue::Kraken => (5.0, 2.0),
            Venue::Coinbase => (-4.0, 2.0),
        };
        let wobble = unit(hash(&[name_hash(self.id()), symbol_key, step])) * 2.0 - 1.0;
        (fixed_bp + wobble * wobble_bp) * 1e-4
    }
}

impl fmt::Display for Venue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// What a venue's REST ticker says now, as numbers: best bid, best ask and last price.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quote {
    pub bid: f64,
    pub ask: f64,
    pub last: f64,
}

/// A symbol's order book as numbers, best first: `[price, amount]` levels.
#[derive(Clone, Debug, PartialEq)]
pub struct TrueBook {
    pub bids: Vec<[f64; 2]>,
    pub asks: Vec<[f64; 2]>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for v in Venue::ALL {
            assert_eq!(Venue::from_id(v.id()), Some(v));
            assert_eq!(v.to_string(), v.id());
        }
        assert_eq!(Venue::from_id("ftx"), None);
        assert_eq!(Venue::default(), Venue::Binance);
    }

    #[test]
    fn skews_are_small_distinct_and_zero_on_binance() {
        assert_eq!(Venue::Binance.log_skew(1, 2), 0.0);
        for v in &Venue::ALL[1..] {
            for step in 0..200 {
                let s = v.log_skew(7, step);
                assert!(s.abs() < 8e-4 && s != 0.0, "{v} {s}");
            }
        }
        assert_ne!(Venue::Okx.log_skew(7, 9), Venue::Bybit.log_skew(7, 9));
        assert!(
            !Venue::Okx.lists("BNB") && Venue::Binance.lists("BNB") && Venue::Kraken.lists("BTC")
        );
    }
}
