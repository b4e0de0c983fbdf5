//! Pieces of wire parsing several venues share (OKX, Bybit): decimal strings as numbers, `[price, size,
//! ...]` rows as exact levels with their strings, and a ticker filled from a venue's 24 h
//! fields the way ccxt's `safeTicker` completes one (change, percentage, average, vwap).

use crate::model::{Exact, Level, Ticker, Trade, TradeSide};

/// Decimal string → number; unknown (`None`) when absent, unreadable or not finite.
pub fn number(text: Option<&str>) -> Option<f64> {
    text.and_then(|t| t.parse::<f64>().ok())
        .filter(|v| v.is_finite())
}

/// A number that must be there and be non-negative.
pub fn required(text: &str, what: &str) -> Result<f64, String> {
    number(Some(text))
        .filter(|v| *v >= 0.0)
        .ok_or_else(|| format!("{what} is not a number: {text:?}"))
}

/// Parsed levels and, when kept, their strings.
pub type Levels = (Vec<Level>, Vec<[Box<str>; 2]>);

/// Rows `[price, size, ...]` (extra columns ignored) as exact levels, with their strings when
/// `keep_text` (a checksum is computed over them).
pub fn levels<S: AsRef<str>>(rows: &[Vec<S>], keep_text: bool) -> Result<Levels, String> {
    let mut levels = Vec::with_capacity(rows.len());
    let mut texts = Vec::with_capacity(if keep_text { rows.len() } else { 0 });
    for row in rows {
        let (Some(price), Some(size)) = (row.first(), row.get(1)) else {
            return Err("a level without price and size".into());
        };
        let (price, size) = (price.as_ref(), size.as_ref());
        levels.push(Level {
            price: price.parse::<Exact>().map_err(|e| e.to_string())?,
            size: size.parse::<Exact>().map_err(|e| e.to_string())?,
        });
        if keep_text {
            texts.push([price.into(), size.into()]);
        }
    }
    Ok((levels, texts))
}

/// A venue's 24 h ticker fields (decimal strings as sent).
#[derive(Debug, Default)]
pub struct TickerFields<'a> {
    pub time_ms: i64,
    pub last: &'a str,
    pub open: Option<&'a str>,
    pub high: Option<&'a str>,
    pub low: Option<&'a str>,
    pub bid: Option<&'a str>,
    pub bid_volume: Option<&'a str>,
    pub ask: Option<&'a str>,
    pub ask_volume: Option<&'a str>,
    pub base_volume: Option<&'a str>,
    pub quote_volume: Option<&'a str>,
}

/// The normalised ticker of `symbol`; `Err` without a usable last price.
pub fn ticker(symbol: &str, f: &TickerFields<'_>) -> Result<Ticker, String> {
    let last =
        number(Some(f.last)).ok_or_else(|| format!("ticker without a last price: {:?}", f.last))?;
    let open = number(f.open);
    let change = open.map(|open| last - open).filter(|v| v.is_finite());
    let (base_volume, quote_volume) = (number(f.base_volume), number(f.quote_volume));
    Ok(Ticker {
        symbol: symbol.to_owned(),
        timestamp: Some(f.time_ms),
        datetime: chrono::DateTime::from_timestamp_millis(f.time_ms)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        high: number(f.high),
        low: number(f.low),
        bid: number(f.bid),
        bid_volume: number(f.bid_volume),
        ask: number(f.ask),
        ask_volume: number(f.ask_volume),
        vwap: base_volume
            .zip(quote_volume)
            .filter(|(base, _)| *base > 0.0)
            .map(|(base, quote)| quote / base),
        open,
        close: Some(last),
        last: Some(last),
        previous_close: None,
        change,
        percentage: change
            .zip(open)
            .filter(|(_, open)| *open > 0.0)
            .map(|(change, open)| change / open * 100.0),
        average: open
            .map(|open| (open + last) / 2.0)
            .filter(|v| v.is_finite()),
        base_volume,
        quote_volume,
        mark_price: None,
        index_price: None,
    })
}

/// A trade from its id, price, size, taker side (`buy` / `sell`, any case) and time.
pub fn trade(id: &str, price: &str, size: &str, side: &str, time_ms: i64) -> Result<Trade, String> {
    let side = match side.to_ascii_lowercase().as_str() {
        "buy" => Some(TradeSide::Buy),
        "sell" => Some(TradeSide::Sell),
        _ => None,
    };
    Ok(Trade {
        id: Some(id.to_owned()),
        timestamp: Some(time_ms),
        side,
        price: required(price, "price")?,
        amount: required(size, "size")?,
    })
}
