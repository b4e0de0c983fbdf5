//! Markets listed at runtime: BTCUSDT's exchangeInfo entry with the new names and a price filter
//! sized to the listing price, and a walk anchored so the price at listing time is that price.

use super::decimal::{fmt_units, ONE};
use super::symbols::{build_symbol, mean_qty_steps, template, SymbolMeta};
use super::{Market, Symbol};
use std::borrow::Cow;

/// Listing prices, in 1e-8 units, that the generators handle: at least 100 ticks of 1e-8 (so
/// the walk is not stuck on one tick) and small enough that price × tick count fits in u64.
pub const MIN_LISTING_UNITS: u64 = 100;
pub const MAX_LISTING_UNITS: u64 = 1_000_000 * ONE;

/// Largest power-of-ten tick (≥ 1e-8) that still prices `price` with 5 significant digits, like
/// most Binance markets ("1.5000", "0.12345", "65000").
pub fn listing_tick(price: u64) -> u64 {
    let mut tick = 1u64;
    while price / tick.saturating_mul(10) >= 10_000 {
        tick *= 10;
    }
    tick
}

/// Replaces `from`, which must occur in the template, by `to` (once).
fn swap(raw: String, from: &str, to: &str) -> Result<String, String> {
    if raw.contains(from) {
        Ok(raw.replacen(from, to, 1))
    } else {
        Err(format!("exchangeInfo template lacks {from}"))
    }
}

/// The template's entry with names and PRICE_FILTER (min = tick, max = 1e8 ticks, as BTCUSDT's)
/// replaced. Replacing whole `"key":"value"` pairs keeps names like base "USDT" from clashing.
fn listing_raw(symbol: &str, base: &str, quote: &str, tick: u64) -> Result<String, String> {
    let tick_s = fmt_units(tick);
    let raw = swap(
        template()?.to_string(),
        r#""symbol":"BTCUSDT""#,
        &format!(r#""symbol":"{symbol}""#),
    )?;
    let raw = swap(
        raw,
        r#""baseAsset":"BTC""#,
        &format!(r#""baseAsset":"{base}""#),
    )?;
    let raw = swap(
        raw,
        r#""quoteAsset":"USDT""#,
        &format!(r#""quoteAsset":"{quote}""#),
    )?;
    let raw = swap(
        raw,
        r#""minPrice":"0.01000000""#,
        &format!(r#""minPrice":"{tick_s}""#),
    )?;
    let raw = swap(
        raw,
        r#""maxPrice":"1000000.00000000""#,
        &format!(
            r#""maxPrice":"{}""#,
            fmt_units(tick.saturating_mul(100_000_000))
        ),
    )?;
    swap(
        raw,
        r#""tickSize":"0.01000000""#,
        &format!(r#""tickSize":"{tick_s}""#),
    )
}

impl Market {
    /// The symbol for a market listed at `now_ms` at `price` (1e-8 units, within
    /// MIN/MAX_LISTING_UNITS; ids are checked by the caller). Its walk is the one any symbol of
    /// that name has under this seed, rescaled so that the price at `now_ms` is `price` rounded
    /// to the tick.
    pub fn listing(
        &self,
        symbol: &str,
        base: &str,
        quote: &str,
        price: u64,
        now_ms: u64,
    ) -> Result<Symbol, String> {
        if !(MIN_LISTING_UNITS..=MAX_LISTING_UNITS).contains(&price) {
            return Err(format!("listing price {price} units out of range"));
        }
        let tick = listing_tick(price);
        let raw = listing_raw(symbol, base, quote, tick)?;
        let meta: SymbolMeta = serde_json::from_str(&raw).map_err(|e| e.to_string())?;
        let mut s = build_symbol(self.seed, &meta, Cow::Owned(raw));
        if s.tick != tick {
            return Err(format!("listing tick {} is not {tick}", s.tick));
        }
        let offset = self.walk.log_offset(s.key, self.walk.step_at(now_ms));
        s.ref_ticks = ((price + tick / 2) / tick) as f64 / offset.exp();
        s.mean_qty_steps = mean_qty_steps(s.ref_ticks, s.step);
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::shape;

    const NOW: u64 = 1_725_817_008_719;

    #[test]
    fn ticks_give_five_significant_digits() {
        assert_eq!(listing_tick(150_000_000), 10_000); // 1.5 → 0.0001
        assert_eq!(listing_tick(ONE), 10_000); // 1 → 0.0001
        assert_eq!(listing_tick(65_000 * ONE), ONE); // 65000 → 1
        assert_eq!(listing_tick(12_345_678), 1_000); // 0.12345678 → 0.00001
        assert_eq!(listing_tick(MIN_LISTING_UNITS), 1);
        assert_eq!(listing_tick(MAX_LISTING_UNITS), 100 * ONE);
    }

    #[test]
    fn listed_symbol_has_the_fixture_shape_and_starts_at_its_price() {
        let m = Market::new(42, 0, false, 100).unwrap();
        let s = m
            .listing("USDTNEW", "USDT", "NEW", 150_000_000, NOW)
            .unwrap();
        let btc = m.symbol("BTCUSDT").unwrap();
        assert_eq!(shape(&s.raw).unwrap(), shape(&btc.raw).unwrap());
        let v: serde_json::Value = serde_json::from_str(&s.raw).unwrap();
        assert_eq!(
            (
                &v["symbol"],
                &v["baseAsset"],
                &v["quoteAsset"],
                &v["status"]
            ),
            (
                &"USDTNEW".into(),
                &"USDT".into(),
                &"NEW".into(),
                &"TRADING".into()
            )
        );
        assert_eq!(v["filters"][0]["tickSize"], "0.00010000");
        assert_eq!(v["filters"][0]["minPrice"], "0.00010000");
        assert_eq!(v["filters"][0]["maxPrice"], "10000.00000000");
        assert_eq!(v["permissionSets"], btc_permissions(&btc.raw));
        assert_eq!(m.price_at(&s, NOW), 150_000_000);
        // It moves afterwards, by small steps.
        let later: Vec<u64> = (1..50).map(|i| m.price_at(&s, NOW + i * 60_000)).collect();
        assert!(later.iter().any(|&p| p != 150_000_000));
        assert!(later
            .iter()
            .all(|&p| (140_000_000..160_000_000).contains(&p)));
        assert!(m.listing("XUSDT", "X", "USDT", 1, NOW).is_err());
    }

    fn btc_permissions(raw: &str) -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(raw).unwrap()["permissionSets"].clone()
    }

    #[test]
    fn extreme_prices_serve_books_and_trades() {
        let m = Market::new(42, 0, false, 100).unwrap();
        for price in [MIN_LISTING_UNITS, ONE, MAX_LISTING_UNITS] {
            let s = m.listing("EXTRAUSDT", "EXTRA", "USDT", price, NOW).unwrap();
            let b = m.book(&s, NOW, 5000);
            assert!(b.asks.len() == 5000 && !b.bids.is_empty());
            let d = m.day_stats(&s, NOW + 3_600_000);
            assert!(d.volume > 0 && d.high >= d.low);
            assert_eq!(m.recent_trades(&s, NOW, 10).len(), 10);
        }
    }
}
