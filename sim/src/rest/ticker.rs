//! Ticker endpoints: 24hr, bookTicker, price, avgPrice.
//!
//! `symbol=X` → one object; `symbols=[...]` → array in request order; neither → array of all.

use super::{to_json, ApiError, Params};
use crate::market::decimal::{fmt_f64, fmt_signed_units, fmt_units};
use crate::market::{Market, Symbol};
use serde::Serialize;

/// One 24hr ticker row. The websocket `@ticker` / `@miniTicker` events are built from the same
/// row, so a stream and REST agree on every value at the same instant.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Ticker24hr<'a> {
    pub(crate) symbol: &'a str,
    pub(crate) price_change: String,
    pub(crate) price_change_percent: String,
    pub(crate) weighted_avg_price: String,
    pub(crate) prev_close_price: String,
    pub(crate) last_price: String,
    pub(crate) last_qty: String,
    pub(crate) bid_price: String,
    pub(crate) bid_qty: String,
    pub(crate) ask_price: String,
    pub(crate) ask_qty: String,
    pub(crate) open_price: String,
    pub(crate) high_price: String,
    pub(crate) low_price: String,
    pub(crate) volume: String,
    pub(crate) quote_volume: String,
    pub(crate) open_time: u64,
    pub(crate) close_time: u64,
    pub(crate) first_id: u64,
    pub(crate) last_id: u64,
    pub(crate) count: u64,
}

/// One bookTicker row (also the websocket `@bookTicker` values).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BookTicker<'a> {
    pub(crate) symbol: &'a str,
    pub(crate) bid_price: String,
    pub(crate) bid_qty: String,
    pub(crate) ask_price: String,
    pub(crate) ask_qty: String,
}

#[derive(Serialize)]
struct Price<'a> {
    symbol: &'a str,
    price: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AvgPrice {
    mins: u32,
    price: String,
    close_time: u64,
}

/// Renders one object for `symbol`, else an array for `symbols` / all symbols.
fn one_or_many<'m, T: Serialize>(
    m: &'m Market,
    p: &Params,
    row: impl Fn(&'m Symbol) -> T,
) -> Result<String, ApiError> {
    if p.get("symbol").is_some() && p.get("symbols").is_none() {
        return to_json(&row(p.require_symbol(m)?));
    }
    let rows: Vec<T> = match p.symbol_filter(m)? {
        Some(list) => list.into_iter().map(&row).collect(),
        None => m.symbols().iter().map(row).collect(),
    };
    to_json(&rows)
}

pub(crate) fn ticker_row<'a>(m: &Market, s: &'a Symbol, now: u64) -> Ticker24hr<'a> {
    let d = m.day_stats(s, now);
    Ticker24hr {
        symbol: &s.name,
        price_change: fmt_signed_units(d.change()),
        price_change_percent: format!("{:.3}", d.change_percent()),
        weighted_avg_price: fmt_f64(d.weighted_avg),
        prev_close_price: fmt_units(d.prev_close),
        last_price: fmt_units(d.last),
        last_qty: fmt_units(d.last_qty),
        bid_price: fmt_units(d.bid),
        bid_qty: fmt_units(d.bid_qty),
        ask_price: fmt_units(d.ask),
        ask_qty: fmt_units(d.ask_qty),
        open_price: fmt_units(d.open),
        high_price: fmt_units(d.high),
        low_price: fmt_units(d.low),
        volume: fmt_units(d.volume),
        quote_volume: fmt_f64(d.quote_volume),
        open_time: d.open_time,
        close_time: d.close_time,
        first_id: d.first_id,
        last_id: d.last_id,
        count: d.count,
    }
}

pub fn ticker_24hr(m: &Market, p: &Params, now: u64) -> Result<String, ApiError> {
    one_or_many(m, p, |s| ticker_row(m, s, now))
}

/// The best bid and ask at `now`, and the book's update id (the walk step).
pub(crate) fn book_ticker_row<'a>(m: &Market, s: &'a Symbol, now: u64) -> (BookTicker<'a>, u64) {
    let b = m.book(s, now, 1);
    let (bid, bid_qty) = b.bids.first().copied().unwrap_or((0, 0));
    let (ask, ask_qty) = b.asks.first().copied().unwrap_or((0, 0));
    let row = BookTicker {
        symbol: &s.name,
        bid_price: fmt_units(bid),
        bid_qty: fmt_units(bid_qty),
        ask_price: fmt_units(ask),
        ask_qty: fmt_units(ask_qty),
    };
    (row, b.last_update_id)
}

pub fn book_ticker(m: &Market, p: &Params, now: u64) -> Result<String, ApiError> {
    one_or_many(m, p, |s| book_ticker_row(m, s, now).0)
}

pub fn price(m: &Market, p: &Params, now: u64) -> Result<String, ApiError> {
    one_or_many(m, p, |s| Price {
        symbol: &s.name,
        price: fmt_units(m.price_at(s, now)),
    })
}

pub fn avg_price(m: &Market, p: &Params, now: u64) -> Result<String, ApiError> {
    let s = p.require_symbol(m)?;
    let (avg, close_time) = m.avg_price(s, now);
    to_json(&AvgPrice {
        mins: 5,
        price: fmt_f64(avg),
        close_time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{shape, Shape, AVG_PRICE, TICKER_24HR, TICKER_BOOK, TICKER_PRICE};
    use serde_json::Value;

    const NOW: u64 = 1_725_817_008_719;

    fn market() -> Market {
        Market::new(42, 2, false, 100).unwrap()
    }

    fn q(s: &str) -> Params {
        Params::parse(Some(s))
    }

    #[test]
    fn shapes_match_fixtures() {
        let m = market();
        let one = |f: fn(&Market, &Params, u64) -> Result<String, ApiError>| {
            shape(&f(&m, &q("symbol=BTCUSDT"), NOW).unwrap()).unwrap()
        };
        assert_eq!(one(ticker_24hr), shape(TICKER_24HR).unwrap());
        assert_eq!(one(book_ticker), shape(TICKER_BOOK).unwrap());
        assert_eq!(one(price), shape(TICKER_PRICE).unwrap());
        assert_eq!(one(avg_price), shape(AVG_PRICE).unwrap());
        let all = shape(&ticker_24hr(&m, &q(""), NOW).unwrap()).unwrap();
        assert_eq!(
            all,
            Shape::Array(Some(Box::new(shape(TICKER_24HR).unwrap())))
        );
    }

    #[test]
    fn ticker_values_follow_the_walk() {
        let m = market();
        let v: Value =
            serde_json::from_str(&ticker_24hr(&m, &q("symbol=BTCUSDT"), NOW).unwrap()).unwrap();
        let f = |k: &str| v[k].as_str().unwrap().parse::<f64>().unwrap();
        let s = m.symbol("BTCUSDT").unwrap();
        assert_eq!(v["lastPrice"], fmt_units(m.price_at(s, NOW)));
        // 2-decimal tick printed with 8 decimals, like "73369.84000000".
        assert!(v["lastPrice"].as_str().unwrap().ends_with("000000"));
        assert!((f("askPrice") - f("lastPrice")).abs() < 1e-9);
        assert!((f("lastPrice") - f("bidPrice") - 0.01).abs() < 1e-6);
        assert!(f("highPrice") >= f("openPrice").max(f("lastPrice")));
        assert!(f("lowPrice") <= f("openPrice").min(f("lastPrice")));
        assert!((f("priceChange") - (f("lastPrice") - f("openPrice"))).abs() < 1e-6);
        assert_eq!(v["closeTime"], NOW);
        assert_eq!(v["openTime"], NOW - 86_400_000);
    }

    #[test]
    fn arrays_for_symbols_and_all() {
        let m = market();
        let v: Value = serde_json::from_str(
            &price(&m, &q("symbols=%5B%22SOLUSDT%22,%22SIM0002USDT%22%5D"), NOW).unwrap(),
        )
        .unwrap();
        assert_eq!(v[0]["symbol"], "SOLUSDT");
        assert_eq!(v[1]["symbol"], "SIM0002USDT");
        let all: Value = serde_json::from_str(&book_ticker(&m, &q(""), NOW).unwrap()).unwrap();
        assert_eq!(all.as_array().unwrap().len(), 6);
        assert_eq!(
            ticker_24hr(&m, &q("symbol=FOO"), NOW).unwrap_err(),
            ApiError::InvalidSymbol
        );
        assert_eq!(
            avg_price(&m, &q(""), NOW).unwrap_err(),
            ApiError::Mandatory("symbol")
        );
    }
}
