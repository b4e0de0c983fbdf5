//! Kraken spot websocket v2's frames (`wss://ws.kraken.com/v2`): `{"channel", "type", "data"}`
//! for `ticker`, `book`, `trade` and `ohlc`; `{"method", "success", "req_id"}` replies;
//! `heartbeat` and `status`. Prices and sizes are JSON numbers: a book's are kept as the exact
//! text received (its checksum is over that text).

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::model::{Candle, Exact, Level, LevelTexts, LiveCandle, Ticker, Trade, TradeSide};
use crate::venue::BookDelta;

/// What a frame is, read once (the data stays raw until its channel is known).
#[derive(Deserialize)]
pub struct Frame<'a> {
    #[serde(borrow)]
    pub channel: Option<&'a str>,
    #[serde(rename = "type", borrow)]
    pub kind: Option<&'a str>,
    #[serde(borrow)]
    pub data: Option<&'a RawValue>,
    #[serde(borrow)]
    pub method: Option<&'a str>,
    pub success: Option<bool>,
    pub req_id: Option<u64>,
    pub error: Option<String>,
}

pub fn frame(text: &str) -> Result<Frame<'_>, String> {
    serde_json::from_str(text).map_err(|e| format!("not a Kraken frame ({e})"))
}

/// Only the symbol of each item of `data` (a trade frame may carry several).
#[derive(Deserialize)]
struct Symbol<'a> {
    #[serde(borrow)]
    symbol: &'a str,
}

/// The symbol of the first item of a channel's `data`.
pub fn symbol_of(data: &RawValue) -> Result<&str, String> {
    let items: Vec<Symbol<'_>> =
        serde_json::from_str(data.get()).map_err(|e| format!("unreadable data ({e})"))?;
    items
        .first()
        .map(|s| s.symbol)
        .ok_or_else(|| "empty data".to_owned())
}

/// RFC 3339 (`2023-10-06T17:35:55.440295Z`, nanoseconds too) as Unix ms.
pub fn time_ms(text: &str) -> Result<i64, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|e| format!("bad time {text:?} ({e})"))
}

fn number(v: f64, what: &str) -> Result<f64, String> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(format!("{what} is not a price or size: {v}"))
    }
}

#[derive(Deserialize)]
struct TickerItem<'a> {
    bid: Option<f64>,
    bid_qty: Option<f64>,
    ask: Option<f64>,
    ask_qty: Option<f64>,
    last: f64,
    volume: Option<f64>,
    vwap: Option<f64>,
    low: Option<f64>,
    high: Option<f64>,
    change: Option<f64>,
    change_pct: Option<f64>,
    #[serde(borrow)]
    timestamp: Option<&'a str>,
}

/// A `ticker` item as the normalised ticker of `symbol`, with its time (the frame's, else
/// `received_ms`: Kraken's ticker may carry none).
pub fn ticker(data: &RawValue, symbol: &str, received_ms: i64) -> Result<(Ticker, i64), String> {
    let items: Vec<TickerItem<'_>> =
        serde_json::from_str(data.get()).map_err(|e| format!("unreadable ticker ({e})"))?;
    let t = items.into_iter().next().ok_or("empty ticker")?;
    let last = number(t.last, "last")?;
    let time = match t.timestamp {
        Some(text) => time_ms(text)?,
        None => received_ms,
    };
    // As ccxt's kraken: the open is the last less the change; quote volume base × vwap.
    let open = t.change.map(|c| last - c).filter(|o| o.is_finite());
    let ticker = Ticker {
        symbol: symbol.to_owned(),
        timestamp: Some(time),
        datetime: chrono::DateTime::from_timestamp_millis(time)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        high: t.high,
        low: t.low,
        bid: t.bid,
        bid_volume: t.bid_qty,
        ask: t.ask,
        ask_volume: t.ask_qty,
        vwap: t.vwap,
        open,
        close: Some(last),
        last: Some(last),
        previous_close: None,
        change: t.change,
        percentage: t.change_pct,
        average: open.map(|o| (o + last) / 2.0).filter(|v| v.is_finite()),
        base_volume: t.volume,
        quote_volume: t
            .volume
            .zip(t.vwap)
            .map(|(v, w)| v * w)
            .filter(|v| v.is_finite()),
        mark_price: None,
        index_price: None,
    };
    Ok((ticker, time))
}

#[derive(Deserialize)]
struct RawLevel<'a> {
    #[serde(borrow)]
    price: &'a RawValue,
    #[serde(borrow)]
    qty: &'a RawValue,
}

#[derive(Deserialize)]
struct BookItem<'a> {
    #[serde(borrow, default)]
    bids: Vec<RawLevel<'a>>,
    #[serde(borrow, default)]
    asks: Vec<RawLevel<'a>>,
    checksum: u32,
    #[serde(borrow)]
    timestamp: Option<&'a str>,
}

/// A level's price and size as printed (the checksum is computed over these texts).
type LevelText = [Box<str>; 2];

/// A side's levels, exact, with their texts as printed.
fn side(rows: &[RawLevel<'_>]) -> Result<(Vec<Level>, Vec<LevelText>), String> {
    let mut levels = Vec::with_capacity(rows.len());
    let mut texts = Vec::with_capacity(rows.len());
    for row in rows {
        let (price, qty) = (row.price.get(), row.qty.get());
        levels.push(Level {
            price: price.parse::<Exact>().map_err(|e| e.to_string())?,
            size: qty.parse::<Exact>().map_err(|e| e.to_string())?,
        });
        texts.push([Box::from(price), Box::from(qty)]);
    }
    Ok((levels, texts))
}

/// A `book` frame (`type` snapshot or update) as a book change carrying its checksum and
/// the levels' texts.
pub fn book(data: &RawValue, snapshot: bool, received_ms: i64) -> Result<BookDelta, String> {
    let items: Vec<BookItem<'_>> =
        serde_json::from_str(data.get()).map_err(|e| format!("unreadable book ({e})"))?;
    let item = items.into_iter().next().ok_or("empty book")?;
    let (bids, bid_texts) = side(&item.bids)?;
    let (asks, ask_texts) = side(&item.asks)?;
    let event_time_ms = match item.timestamp {
        Some(text) => time_ms(text)?,
        None => received_ms,
    };
    Ok(BookDelta {
        bids,
        asks,
        event_time_ms,
        snapshot,
        checksum: Some(item.checksum),
        texts: Some(Box::new(LevelTexts {
            bids: bid_texts,
            asks: ask_texts,
        })),
        ..BookDelta::default()
    })
}

#[derive(Deserialize)]
struct TradeItem<'a> {
    #[serde(borrow)]
    side: &'a str,
    price: f64,
    qty: f64,
    trade_id: u64,
    #[serde(borrow)]
    timestamp: &'a str,
}

/// A `trade` frame's trades, oldest first, each with its time.
pub fn trades(data: &RawValue) -> Result<Vec<(Trade, i64)>, String> {
    let items: Vec<TradeItem<'_>> =
        serde_json::from_str(data.get()).map_err(|e| format!("unreadable trades ({e})"))?;
    items
        .into_iter()
        .map(|t| {
            let time = time_ms(t.timestamp)?;
            let side = match t.side {
                "buy" => Some(TradeSide::Buy),
                "sell" => Some(TradeSide::Sell),
                _ => None,
            };
            let trade = Trade {
                id: Some(t.trade_id.to_string()),
                timestamp: Some(time),
                side,
                price: number(t.price, "price")?,
                amount: number(t.qty, "qty")?,
            };
            Ok((trade, time))
        })
        .collect()
}

#[derive(Deserialize)]
struct OhlcItem<'a> {
    open: f64,
    high: f64,
    low: f64,
    close: f64,
    volume: f64,
    #[serde(borrow)]
    interval_begin: &'a str,
}

/// An `ohlc` item as the candle in progress (Kraken does not say when one closes).
pub fn ohlc(data: &RawValue) -> Result<LiveCandle, String> {
    let items: Vec<OhlcItem<'_>> =
        serde_json::from_str(data.get()).map_err(|e| format!("unreadable ohlc ({e})"))?;
    let k = items.into_iter().next().ok_or("empty ohlc")?;
    Ok(LiveCandle {
        candle: Candle {
            timestamp: time_ms(k.interval_begin)?,
            open: number(k.open, "open")?,
            high: number(k.high, "high")?,
            low: number(k.low, "low")?,
            close: number(k.close, "close")?,
            volume: number(k.volume, "volume")?,
        },
        closed: false,
        interval_ms: crate::model::ONE_MINUTE_MS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kraken's documented payloads, copied to `actors/fixtures/kraken/ws`.
    fn fixture(name: &str) -> String {
        let path = format!("{}/fixtures/kraken/ws/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn book_snapshot_and_update_keep_the_text_and_checksum() {
        let text = fixture("book_snapshot.json");
        let f = frame(&text).unwrap();
        assert_eq!((f.channel, f.kind), (Some("book"), Some("snapshot")));
        let data = f.data.unwrap();
        assert_eq!(symbol_of(data).unwrap(), "BTC/USD");
        let d = book(data, true, 0).unwrap();
        assert!(d.snapshot);
        assert_eq!(d.checksum, Some(2439117997));
        assert_eq!(d.bids.len(), 3);
        assert_eq!(d.bids[0].price, "105944.2".parse().unwrap());
        assert_eq!(d.asks[2].size, "0.003".parse().unwrap());
        let texts = d.texts.unwrap();
        assert_eq!(&*texts.bids[1][0], "105935.4");
        assert_eq!(&*texts.asks[0][1], "0.136");
        assert_eq!(
            d.event_time_ms,
            time_ms("2023-10-06T17:35:55.440295Z").unwrap()
        );
        let text = fixture("book_update.json");
        let f = frame(&text).unwrap();
        let d = book(f.data.unwrap(), false, 0).unwrap();
        assert!(!d.snapshot && d.asks.is_empty());
        assert_eq!(d.bids[0].size, "0.25".parse().unwrap());
    }

    #[test]
    fn ticker_trade_ohlc() {
        let text = fixture("ticker_snapshot.json");
        let f = frame(&text).unwrap();
        let (t, time) = ticker(f.data.unwrap(), "BTC/USD", 7).unwrap();
        assert_eq!(t.last, Some(105899.4));
        assert_eq!((t.bid, t.ask), (Some(105944.2), Some(105944.3)));
        assert_eq!(t.open, Some(105899.4 - 250.0));
        assert_eq!(t.percentage, Some(0.24));
        assert_eq!(time, time_ms("2022-12-25T09:30:59.123456Z").unwrap());

        let text = fixture("trade_update.json");
        let trades = trades(frame(&text).unwrap().data.unwrap()).unwrap();
        assert_eq!(trades.len(), 2);
        assert_eq!(trades[0].0.id.as_deref(), Some("10218208"));
        assert_eq!(trades[1].0.side, Some(TradeSide::Sell));
        assert_eq!(trades[1].0.amount, 0.0001246);

        let text = fixture("ohlc_update.json");
        let c = ohlc(frame(&text).unwrap().data.unwrap()).unwrap();
        assert_eq!(c.candle.timestamp, time_ms("2023-10-04T16:25:00Z").unwrap());
        assert_eq!((c.candle.open, c.candle.close), (106038.2, 106040.1));

        let text = fixture("subscribe_response.json");
        let f = frame(&text).unwrap();
        assert_eq!(
            (f.method, f.success, f.req_id),
            (Some("subscribe"), Some(true), Some(1))
        );
    }

    #[test]
    fn bad_payloads_are_refused() {
        let bad: Box<RawValue> =
            serde_json::from_str(r#"[{"bids":[{"price":"x","qty":1}],"asks":[],"checksum":1}]"#)
                .unwrap();
        assert!(book(&bad, false, 0).is_err());
        let bad: Box<RawValue> =
            serde_json::from_str(r#"[{"bids":[{"price":-1,"qty":1}],"asks":[],"checksum":1}]"#)
                .unwrap();
        assert!(book(&bad, false, 0).is_err(), "no sign in a price");
        let bad: Box<RawValue> = serde_json::from_str("[]").unwrap();
        assert!(ticker(&bad, "X/Y", 0).is_err());
        assert!(frame("nope").is_err());
    }
}
