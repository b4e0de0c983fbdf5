//! OKX v5 public websocket frames: `{"event": ...}` replies (subscribe, unsubscribe, error,
//! notice) and `{"arg": {"channel", "instId"}, "data": [...]}` pushes, read into the
//! normalised shapes. Book levels keep their strings: the checksum is computed over them.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::model::{BookDelta, Candle, LevelTexts, LiveCandle, MarketData};
use crate::venue::streamed_sync::TextBook;
use crate::venue::wsfeed::parse::{self, TickerFields};
use crate::venue::wsfeed::Reader;
use crate::venue::LiveData;

/// The incremental 400-level book.
pub const BOOK_CHANNEL: &str = "books";
/// The candle kept live (one interval per watched symbol).
pub const CANDLE_CHANNEL: &str = "candle1m";
/// OKX's notice of a disconnection for a service upgrade.
const SHUTDOWN_NOTICE: &str = "64008";

/// `{"op": "subscribe", "args": [{"channel", "instId"}, ...], "id": "N"}` for names
/// `<channel>:<instId>`.
pub fn control(subscribe: bool, names: &[String], id: u64) -> String {
    let args: Vec<serde_json::Value> = names
        .iter()
        .filter_map(|name| name.split_once(':'))
        .map(|(channel, inst)| serde_json::json!({"channel": channel, "instId": inst}))
        .collect();
    let op = if subscribe {
        "subscribe"
    } else {
        "unsubscribe"
    };
    serde_json::json!({"op": op, "args": args, "id": id.to_string()}).to_string()
}

#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(borrow)]
    event: Option<&'a str>,
    code: Option<String>,
    msg: Option<String>,
    id: Option<String>,
    #[serde(borrow)]
    arg: Option<Arg<'a>>,
    #[serde(borrow)]
    action: Option<&'a str>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Arg<'a> {
    #[serde(borrow)]
    channel: &'a str,
    #[serde(rename = "instId", borrow)]
    inst_id: Option<&'a str>,
}

/// Reads one frame (see [`crate::venue::wsfeed::Protocol::read`]).
pub fn read(text: &str, out: &mut dyn Reader) {
    if text == "pong" {
        return;
    }
    let frame: Frame<'_> = match serde_json::from_str(text) {
        Ok(frame) => frame,
        Err(e) => return out.malformed(&format!("not an OKX frame ({e})")),
    };
    let id = frame.id.as_deref().and_then(|id| id.parse().ok());
    match frame.event {
        Some("subscribe" | "unsubscribe") => out.ack(id),
        Some("error") => out.refused(
            id,
            &format!(
                "{}: {}",
                frame.code.unwrap_or_default(),
                frame.msg.unwrap_or_default()
            ),
        ),
        Some("notice") if frame.code.as_deref() == Some(SHUTDOWN_NOTICE) => out.shutdown(),
        // Connection counts, other notices: nothing to do.
        Some(_) => {}
        None => {
            let (Some(arg), Some(data)) = (frame.arg, frame.data) else {
                return out.malformed("a frame with neither an event nor data");
            };
            let inst = arg.inst_id.unwrap_or_default();
            let stream = format!("{}:{inst}", arg.channel);
            let Some(symbol) = out.stream(&stream) else {
                return;
            };
            if let Err(error) = push(arg.channel, frame.action, data, &symbol, &stream, out) {
                // Counted as an unreadable event of a carried stream, not served.
                if arg.channel == "tickers" {
                    out.market(symbol, &stream, Err(error));
                } else {
                    out.live(symbol, &stream, Err(error));
                }
            }
        }
    }
}

/// The events of one push of `channel`.
fn push(
    channel: &str,
    action: Option<&str>,
    data: &RawValue,
    symbol: &Arc<str>,
    stream: &str,
    out: &mut dyn Reader,
) -> Result<(), String> {
    let unreadable = |e: serde_json::Error| format!("unreadable {channel} data ({e})");
    match channel {
        "tickers" => {
            let rows: Vec<TickerRow<'_>> = serde_json::from_str(data.get()).map_err(unreadable)?;
            for row in rows {
                let (ticker, time) = ticker(&row, symbol)?;
                out.market(
                    symbol.clone(),
                    stream,
                    Ok((MarketData::Ticker(ticker), time)),
                );
            }
        }
        BOOK_CHANNEL => {
            let rows: Vec<BookRow<'_>> = serde_json::from_str(data.get()).map_err(unreadable)?;
            for row in rows {
                let delta = book(row, action == Some("snapshot"))?;
                let time = delta.event_time_ms;
                out.live(
                    symbol.clone(),
                    stream,
                    Ok((LiveData::Book(delta), Some(time))),
                );
            }
        }
        "trades" => {
            let rows: Vec<TradeRow<'_>> = serde_json::from_str(data.get()).map_err(unreadable)?;
            for row in rows {
                let time = millis(row.ts)?;
                let trade = parse::trade(row.trade_id, row.px, row.sz, row.side, time)?;
                out.live(
                    symbol.clone(),
                    stream,
                    Ok((LiveData::Trade(trade), Some(time))),
                );
            }
        }
        c if c.starts_with("candle") => {
            let rows: Vec<Vec<&str>> = serde_json::from_str(data.get()).map_err(unreadable)?;
            for row in rows {
                let candle = candle(&row)?;
                let time = candle.candle.timestamp;
                out.live(
                    symbol.clone(),
                    stream,
                    Ok((LiveData::Candle(candle), Some(time))),
                );
            }
        }
        other => return Err(format!("a push of an unexpected channel {other}")),
    }
    Ok(())
}

fn millis(text: &str) -> Result<i64, String> {
    text.parse()
        .map_err(|_| format!("not a time in ms: {text:?}"))
}

#[derive(Deserialize)]
struct TickerRow<'a> {
    #[serde(borrow)]
    last: &'a str,
    #[serde(rename = "askPx", borrow)]
    ask: Option<&'a str>,
    #[serde(rename = "askSz", borrow)]
    ask_size: Option<&'a str>,
    #[serde(rename = "bidPx", borrow)]
    bid: Option<&'a str>,
    #[serde(rename = "bidSz", borrow)]
    bid_size: Option<&'a str>,
    #[serde(rename = "open24h", borrow)]
    open: Option<&'a str>,
    #[serde(rename = "high24h", borrow)]
    high: Option<&'a str>,
    #[serde(rename = "low24h", borrow)]
    low: Option<&'a str>,
    /// Spot: base currency volume.
    #[serde(rename = "vol24h", borrow)]
    base_volume: Option<&'a str>,
    /// Spot: quote currency volume.
    #[serde(rename = "volCcy24h", borrow)]
    quote_volume: Option<&'a str>,
    #[serde(borrow)]
    ts: &'a str,
}

/// A spot `tickers` row as ccxt reads OKX's REST ticker; with its time.
fn ticker(row: &TickerRow<'_>, symbol: &str) -> Result<(crate::model::Ticker, i64), String> {
    let time = millis(row.ts)?;
    let fields = TickerFields {
        time_ms: time,
        last: row.last,
        open: row.open,
        high: row.high,
        low: row.low,
        bid: row.bid,
        bid_volume: row.bid_size,
        ask: row.ask,
        ask_volume: row.ask_size,
        base_volume: row.base_volume,
        quote_volume: row.quote_volume,
    };
    Ok((parse::ticker(symbol, &fields)?, time))
}

#[derive(Deserialize)]
struct BookRow<'a> {
    #[serde(borrow)]
    asks: Vec<Vec<&'a str>>,
    #[serde(borrow)]
    bids: Vec<Vec<&'a str>>,
    #[serde(borrow)]
    ts: &'a str,
    checksum: Option<i64>,
    #[serde(rename = "prevSeqId")]
    prev_seq_id: Option<i64>,
    #[serde(rename = "seqId")]
    seq_id: i64,
}

/// A `books` row as a book change (a whole book when `snapshot`), strings kept.
fn book(row: BookRow<'_>, snapshot: bool) -> Result<BookDelta, String> {
    let seq = u64::try_from(row.seq_id).map_err(|_| format!("seqId {}", row.seq_id))?;
    let (bids, bid_text) = parse::levels(&row.bids, true)?;
    let (asks, ask_text) = parse::levels(&row.asks, true)?;
    Ok(BookDelta {
        first_id: seq,
        last_id: seq,
        // −1 on a snapshot: no previous message.
        prev_id: row.prev_seq_id.and_then(|p| u64::try_from(p).ok()),
        bids,
        asks,
        event_time_ms: millis(row.ts)?,
        snapshot,
        // OKX prints the CRC32's bits as a signed 32-bit integer.
        checksum: row.checksum.map(|sum| sum as i32 as u32),
        texts: Some(Box::new(LevelTexts {
            bids: bid_text,
            asks: ask_text,
        })),
        ..BookDelta::default()
    })
}

/// OKX's checksum: CRC32 of `bidPx:bidSz:askPx:askSz:...` over the best 25 levels of each side
/// interleaved (a side that runs out contributes only the other), read as a signed 32-bit
/// integer (compared here as the CRC's bits).
pub fn checksum(book: &TextBook) -> u32 {
    let mut text = String::with_capacity(25 * 4 * 12);
    let (mut bids, mut asks) = (book.best_bids(), book.best_asks());
    for _ in 0..25 {
        for level in [bids.next(), asks.next()].into_iter().flatten() {
            for part in level {
                if !text.is_empty() {
                    text.push(':');
                }
                text.push_str(part);
            }
        }
    }
    // OKX prints these bits as an i32: `book` reads its checksum back into them.
    crc32fast::hash(text.as_bytes())
}

#[derive(Deserialize)]
struct TradeRow<'a> {
    #[serde(rename = "tradeId", borrow)]
    trade_id: &'a str,
    #[serde(borrow)]
    px: &'a str,
    #[serde(borrow)]
    sz: &'a str,
    /// The taker's side.
    #[serde(borrow)]
    side: &'a str,
    #[serde(borrow)]
    ts: &'a str,
}

/// `[ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm]` as the candle in progress (or just
/// closed: `confirm` = `1`).
fn candle(row: &[&str]) -> Result<LiveCandle, String> {
    let field = |i: usize, what: &str| {
        row.get(i)
            .copied()
            .ok_or_else(|| format!("a candle without {what}"))
    };
    let candle = Candle {
        timestamp: millis(field(0, "a time")?)?,
        open: parse::required(field(1, "open")?, "open")?,
        high: parse::required(field(2, "high")?, "high")?,
        low: parse::required(field(3, "low")?, "low")?,
        close: parse::required(field(4, "close")?, "close")?,
        volume: parse::required(field(5, "volume")?, "volume")?,
    };
    Ok(LiveCandle {
        candle,
        closed: row.get(8) == Some(&"1"),
        interval_ms: crate::model::ONE_MINUTE_MS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::venue::wsfeed::testing::{fixture, Recorder, Seen};

    fn read_all(text: &str) -> Recorder {
        let mut recorder = Recorder::default();
        read(text, &mut recorder);
        recorder
    }

    fn book_of(seen: &Seen) -> &BookDelta {
        match seen {
            Seen::Live(Ok((LiveData::Book(delta), _))) => delta,
            other => panic!("not a book change: {other:?}"),
        }
    }

    #[test]
    fn books_snapshot_and_update_keep_their_numbers_and_strings() {
        let r = read_all(&fixture("okx", "books_snapshot.json"));
        assert_eq!(r.streams, ["books:BTC-USDT"]);
        let snap = book_of(&r.seen[0]);
        assert!(snap.snapshot);
        assert_eq!(
            (snap.last_id, snap.prev_id),
            (123456, None),
            "prevSeqId -1: none"
        );
        assert_eq!(snap.checksum, Some(-855196043i32 as u32));
        assert_eq!(snap.bids.len(), 8);
        assert_eq!(snap.bids[0].price, "8476.97".parse().unwrap());
        let texts = snap.texts.as_ref().unwrap();
        assert_eq!(&*texts.asks[0][0], "8476.98");
        assert_eq!(&*texts.asks[0][1], "415");
        assert_eq!(snap.event_time_ms, 1597026383085);

        let r = read_all(&fixture("okx", "books_update.json"));
        let update = book_of(&r.seen[0]);
        assert!(!update.snapshot);
        assert_eq!((update.last_id, update.prev_id), (123457, Some(123456)));
    }

    #[test]
    fn tickers_trades_and_candles() {
        let r = read_all(&fixture("okx", "tickers.json"));
        assert_eq!(r.streams, ["tickers:BTC-USDT"]);
        let Seen::Market(Ok((MarketData::Ticker(t), event_time_ms))) = &r.seen[0] else {
            panic!("{:?}", r.seen)
        };
        assert_eq!(*event_time_ms, 1597026383085);
        assert_eq!(
            (t.last, t.bid, t.ask),
            (Some(9999.99), Some(8888.88), Some(9999.99))
        );
        assert_eq!((t.bid_volume, t.ask_volume), (Some(5.0), Some(11.0)));
        assert_eq!(
            (t.open, t.high, t.low),
            (Some(9000.0), Some(10000.0), Some(8888.88))
        );
        assert_eq!(
            (t.base_volume, t.quote_volume),
            (Some(2222.0), Some(2222.0))
        );
        assert!((t.change.unwrap() - 999.99).abs() < 1e-9);
        assert!((t.percentage.unwrap() - 11.111).abs() < 1e-3);

        let r = read_all(&fixture("okx", "trades.json"));
        let Seen::Live(Ok((LiveData::Trade(trade), _))) = &r.seen[0] else {
            panic!("{:?}", r.seen)
        };
        assert_eq!(trade.id.as_deref(), Some("130639474"));
        assert_eq!((trade.price, trade.amount), (42219.9, 0.12060306));
        assert_eq!(trade.side, Some(crate::model::TradeSide::Buy));
        assert_eq!(trade.timestamp, Some(1630048897897));

        let r = read_all(&fixture("okx", "candle.json"));
        assert_eq!(r.streams, ["candle1D:BTC-USDT"]);
        let Seen::Live(Ok((LiveData::Candle(c), _))) = &r.seen[0] else {
            panic!("{:?}", r.seen)
        };
        assert_eq!(c.candle.timestamp, 1597026383085);
        assert_eq!(
            (c.candle.open, c.candle.close, c.candle.volume),
            (8533.02, 8548.26, 45247.0)
        );
        assert!(c.closed, "confirm 1");
    }

    #[test]
    fn replies_pongs_and_notices() {
        let r = read_all(
            r#"{"id":"7","event":"subscribe","arg":{"channel":"books","instId":"BTC-USDT"},"connId":"a"}"#,
        );
        assert!(matches!(r.seen[..], [Seen::Ack(Some(7))]));
        let r = read_all(r#"{"event":"error","code":"60018","msg":"Wrong URL","connId":"a"}"#);
        assert!(matches!(&r.seen[..], [Seen::Refused(None, m)] if m.contains("60018")));
        let r = read_all(r#"{"event":"notice","code":"64008","msg":"upgrade","connId":"a"}"#);
        assert!(matches!(r.seen[..], [Seen::Shutdown]));
        assert!(read_all("pong").seen.is_empty());
        assert!(
            matches!(&read_all("nonsense").seen[..], [Seen::Malformed(m)] if m.contains("not an OKX frame"))
        );
        // An unreadable push of a carried stream is reported, not served.
        let r = read_all(
            r#"{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"tradeId":"1","px":"x","sz":"1","side":"buy","ts":"1"}]}"#,
        );
        assert!(matches!(r.seen[..], [Seen::Live(Err(_))]));
        let message: serde_json::Value =
            serde_json::from_str(&control(true, &["books:BTC-USDT".into()], 3)).unwrap();
        assert_eq!(
            message,
            serde_json::json!({"op": "subscribe", "args": [{"channel": "books", "instId": "BTC-USDT"}], "id": "3"})
        );
    }
}
