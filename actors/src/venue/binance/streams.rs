//! Binance spot's book, trade and candle streams: `<symbol>@depth@100ms` (diff depth, the
//! changes a local book applies), `<symbol>@trade` and `<symbol>@kline_<interval>`, read into
//! the venue-neutral shapes ([`BookDelta`], [`Trade`], [`LiveCandle`]). Prices and sizes of a
//! book stay exact decimals (the strings as sent).

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::model::{Candle, Exact, Level, LiveCandle, Trade, TradeSide};
use crate::venue::BookDelta;

/// The diff depth stream of a market id (lowercase, every 100 ms).
pub fn depth_stream(market_id: &str) -> String {
    format!("{}@depth@100ms", market_id.to_ascii_lowercase())
}

pub fn trade_stream(market_id: &str) -> String {
    format!("{}@trade", market_id.to_ascii_lowercase())
}

/// The kline stream of the candle kept live (one interval per watched symbol: 1m).
pub fn kline_stream(market_id: &str) -> String {
    format!("{}@kline_1m", market_id.to_ascii_lowercase())
}

/// What a stream's name says it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    Depth,
    Trade,
    Kline,
}

pub fn kind_of(stream: &str) -> Option<StreamKind> {
    if stream.ends_with("@depth@100ms") || stream.ends_with("@depth") {
        Some(StreamKind::Depth)
    } else if stream.ends_with("@trade") {
        Some(StreamKind::Trade)
    } else if stream.contains("@kline_") {
        Some(StreamKind::Kline)
    } else {
        None
    }
}

#[derive(Deserialize)]
struct DepthEvent<'a> {
    #[serde(rename = "E")]
    event_time: i64,
    #[serde(rename = "U")]
    first: u64,
    u: u64,
    #[serde(borrow)]
    b: Vec<[&'a str; 2]>,
    #[serde(borrow)]
    a: Vec<[&'a str; 2]>,
}

/// `[["price", "size"], ...]` as exact levels.
pub fn levels(rows: &[[&str; 2]]) -> Result<Vec<Level>, String> {
    rows.iter()
        .map(|[p, s]| {
            Ok(Level {
                price: p.parse::<Exact>().map_err(|e| e.to_string())?,
                size: s.parse::<Exact>().map_err(|e| e.to_string())?,
            })
        })
        .collect()
}

/// A `depthUpdate` event as a book change.
pub fn depth(data: &RawValue) -> Result<BookDelta, String> {
    let e: DepthEvent<'_> =
        serde_json::from_str(data.get()).map_err(|e| format!("unreadable depth event ({e})"))?;
    if e.first > e.u {
        return Err(format!("depth event with U {} > u {}", e.first, e.u));
    }
    Ok(BookDelta {
        first_id: e.first,
        last_id: e.u,
        prev_id: None,
        bids: levels(&e.b)?,
        asks: levels(&e.a)?,
        event_time_ms: e.event_time,
        ..BookDelta::default()
    })
}

#[derive(Deserialize)]
struct TradeEvent<'a> {
    #[serde(rename = "t")]
    id: u64,
    #[serde(rename = "p", borrow)]
    price: &'a str,
    #[serde(rename = "q", borrow)]
    qty: &'a str,
    #[serde(rename = "T")]
    time: i64,
    /// The buyer was the maker: the taker sold.
    #[serde(rename = "m")]
    buyer_maker: bool,
}

fn positive(text: &str, what: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| format!("{what} is not a number: {text:?}"))
}

/// A `trade` event as a trade (id as Binance numbers it); with its trade time.
pub fn trade(data: &RawValue) -> Result<(Trade, i64), String> {
    let e: TradeEvent<'_> =
        serde_json::from_str(data.get()).map_err(|e| format!("unreadable trade event ({e})"))?;
    let trade = Trade {
        id: Some(e.id.to_string()),
        timestamp: Some(e.time),
        side: Some(if e.buyer_maker {
            TradeSide::Sell
        } else {
            TradeSide::Buy
        }),
        price: positive(e.price, "price")?,
        amount: positive(e.qty, "quantity")?,
    };
    Ok((trade, e.time))
}

#[derive(Deserialize)]
struct KlineEvent<'a> {
    #[serde(rename = "E")]
    event_time: i64,
    #[serde(borrow)]
    k: Kline<'a>,
}

#[derive(Deserialize)]
struct Kline<'a> {
    t: i64,
    #[serde(borrow)]
    o: &'a str,
    #[serde(borrow)]
    h: &'a str,
    #[serde(borrow)]
    l: &'a str,
    #[serde(borrow)]
    c: &'a str,
    #[serde(borrow)]
    v: &'a str,
    x: bool,
}

/// A `kline` event as the candle in progress (or just closed); with its event time.
pub fn kline(data: &RawValue) -> Result<(LiveCandle, i64), String> {
    let e: KlineEvent<'_> =
        serde_json::from_str(data.get()).map_err(|e| format!("unreadable kline event ({e})"))?;
    let k = e.k;
    let candle = Candle {
        timestamp: k.t,
        open: positive(k.o, "open")?,
        high: positive(k.h, "high")?,
        low: positive(k.l, "low")?,
        close: positive(k.c, "close")?,
        volume: positive(k.v, "volume")?,
    };
    Ok((
        LiveCandle {
            candle,
            closed: k.x,
            interval_ms: crate::model::ONE_MINUTE_MS,
        },
        e.event_time,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Box<RawValue> {
        let path = format!("{}/fixtures/binance/ws/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn depth_diff_fixture() {
        let d = depth(&fixture("depth_diff.json")).unwrap();
        assert_eq!(
            (d.first_id, d.last_id, d.event_time_ms),
            (157, 160, 1672515782136)
        );
        assert_eq!(d.bids, levels(&[["0.0024", "10"]]).unwrap());
        assert_eq!(d.asks[0].price, "0.0026".parse().unwrap());
        assert_eq!(d.asks[0].size, "100".parse().unwrap());
        let bad: Box<RawValue> =
            serde_json::from_str(r#"{"E":1,"U":5,"u":4,"b":[],"a":[]}"#).unwrap();
        assert!(depth(&bad).is_err());
        let bad: Box<RawValue> =
            serde_json::from_str(r#"{"E":1,"U":5,"u":6,"b":[["x","1"]],"a":[]}"#).unwrap();
        assert!(depth(&bad).unwrap_err().contains("decimal"));
    }

    #[test]
    fn trade_fixture() {
        let (t, time) = trade(&fixture("trade.json")).unwrap();
        assert_eq!(t.id.as_deref(), Some("12345"));
        assert_eq!((t.price, t.amount, time), (0.001, 100.0, 1672515782136));
        assert_eq!(
            t.side,
            Some(TradeSide::Sell),
            "m: buyer is maker, the taker sold"
        );
    }

    #[test]
    fn kline_fixture() {
        let (k, _) = kline(&fixture("kline_1m.json")).unwrap();
        assert_eq!(k.candle.timestamp, 1672515780000);
        assert_eq!(
            (
                k.candle.open,
                k.candle.high,
                k.candle.low,
                k.candle.close,
                k.candle.volume
            ),
            (0.001, 0.0025, 0.0015, 0.002, 1000.0)
        );
        assert!(!k.closed);
    }

    #[test]
    fn stream_names() {
        assert_eq!(depth_stream("BTCUSDT"), "btcusdt@depth@100ms");
        assert_eq!(kind_of(&depth_stream("X")), Some(StreamKind::Depth));
        assert_eq!(kind_of(&trade_stream("X")), Some(StreamKind::Trade));
        assert_eq!(kind_of(&kline_stream("X")), Some(StreamKind::Kline));
        assert_eq!(kind_of("x@ticker"), None);
    }
}
