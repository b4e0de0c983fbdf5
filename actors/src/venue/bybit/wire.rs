//! Bybit v5 public spot websocket frames: `{"op": ...}` replies (subscribe, unsubscribe, pong)
//! and `{"topic", "type", "ts", "data"}` pushes, read into the normalised shapes.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::model::{BookDelta, Candle, LiveCandle, MarketData};
use crate::venue::wsfeed::parse::{self, TickerFields};
use crate::venue::wsfeed::Reader;
use crate::venue::LiveData;

/// The incremental book kept (50 levels: Bybit spot's depths are 1, 50, 200, 1000).
pub const BOOK_TOPIC: &str = "orderbook.50";
/// The candle kept live (1 minute).
pub const KLINE_TOPIC: &str = "kline.1";

/// `{"req_id": "N", "op": "subscribe", "args": [topics]}`.
pub fn control(subscribe: bool, names: &[String], id: u64) -> String {
    let op = if subscribe {
        "subscribe"
    } else {
        "unsubscribe"
    };
    serde_json::json!({"req_id": id.to_string(), "op": op, "args": names}).to_string()
}

#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(borrow)]
    op: Option<&'a str>,
    success: Option<bool>,
    ret_msg: Option<String>,
    req_id: Option<String>,
    #[serde(borrow)]
    topic: Option<&'a str>,
    #[serde(rename = "type", borrow)]
    kind: Option<&'a str>,
    ts: Option<i64>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
}

/// Reads one frame (see [`crate::venue::wsfeed::Protocol::read`]).
pub fn read(text: &str, out: &mut dyn Reader) {
    let frame: Frame<'_> = match serde_json::from_str(text) {
        Ok(frame) => frame,
        Err(e) => return out.malformed(&format!("not a Bybit frame ({e})")),
    };
    if let Some(op) = frame.op {
        let id = frame.req_id.as_deref().and_then(|id| id.parse().ok());
        match (op, frame.success) {
            ("ping" | "pong", _) => {}
            (_, Some(true)) => out.ack(id),
            _ => out.refused(id, &format!("{op}: {}", frame.ret_msg.unwrap_or_default())),
        }
        return;
    }
    let (Some(topic), Some(data)) = (frame.topic, frame.data) else {
        return out.malformed("a frame with neither an op nor data");
    };
    let Some(symbol) = out.stream(topic) else {
        return;
    };
    let time = frame.ts.unwrap_or_default();
    if let Err(error) = push(topic, frame.kind, time, data, &symbol, out) {
        // Counted as an unreadable event of a carried stream, not served.
        if topic.starts_with("tickers.") {
            out.market(symbol, topic, Err(error));
        } else {
            out.live(symbol, topic, Err(error));
        }
    }
}

fn push(
    topic: &str,
    kind: Option<&str>,
    time: i64,
    data: &RawValue,
    symbol: &Arc<str>,
    out: &mut dyn Reader,
) -> Result<(), String> {
    let unreadable = |e: serde_json::Error| format!("unreadable {topic} data ({e})");
    let channel = topic.split('.').next().unwrap_or_default();
    match channel {
        "tickers" => {
            let row: TickerRow<'_> = serde_json::from_str(data.get()).map_err(unreadable)?;
            let ticker = ticker(&row, time, symbol)?;
            out.market(
                symbol.clone(),
                topic,
                Ok((MarketData::Ticker(ticker), time)),
            );
        }
        "orderbook" => {
            let row: BookRow<'_> = serde_json::from_str(data.get()).map_err(unreadable)?;
            let (bids, _) = parse::levels(&row.b, false)?;
            let (asks, _) = parse::levels(&row.a, false)?;
            let delta = BookDelta {
                first_id: row.u,
                last_id: row.u,
                bids,
                asks,
                event_time_ms: time,
                snapshot: kind == Some("snapshot"),
                ..BookDelta::default()
            };
            out.live(
                symbol.clone(),
                topic,
                Ok((LiveData::Book(delta), Some(time))),
            );
        }
        "publicTrade" => {
            let rows: Vec<TradeRow<'_>> = serde_json::from_str(data.get()).map_err(unreadable)?;
            for row in rows {
                let trade = parse::trade(row.i, row.p, row.v, row.side, row.time)?;
                out.live(
                    symbol.clone(),
                    topic,
                    Ok((LiveData::Trade(trade), Some(row.time))),
                );
            }
        }
        "kline" => {
            let rows: Vec<KlineRow<'_>> = serde_json::from_str(data.get()).map_err(unreadable)?;
            for row in rows {
                let candle = Candle {
                    timestamp: row.start,
                    open: parse::required(row.open, "open")?,
                    high: parse::required(row.high, "high")?,
                    low: parse::required(row.low, "low")?,
                    close: parse::required(row.close, "close")?,
                    volume: parse::required(row.volume, "volume")?,
                };
                let candle = LiveCandle {
                    candle,
                    closed: row.confirm,
                    interval_ms: crate::model::ONE_MINUTE_MS,
                };
                let time = row.timestamp.unwrap_or(time);
                out.live(
                    symbol.clone(),
                    topic,
                    Ok((LiveData::Candle(candle), Some(time))),
                );
            }
        }
        other => return Err(format!("a push of an unexpected topic {other}")),
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TickerRow<'a> {
    #[serde(borrow)]
    last_price: &'a str,
    #[serde(rename = "prevPrice24h", borrow)]
    open: Option<&'a str>,
    #[serde(rename = "highPrice24h", borrow)]
    high: Option<&'a str>,
    #[serde(rename = "lowPrice24h", borrow)]
    low: Option<&'a str>,
    #[serde(rename = "volume24h", borrow)]
    base_volume: Option<&'a str>,
    #[serde(rename = "turnover24h", borrow)]
    quote_volume: Option<&'a str>,
    #[serde(rename = "bid1Price", borrow)]
    bid: Option<&'a str>,
    #[serde(rename = "bid1Size", borrow)]
    bid_size: Option<&'a str>,
    #[serde(rename = "ask1Price", borrow)]
    ask: Option<&'a str>,
    #[serde(rename = "ask1Size", borrow)]
    ask_size: Option<&'a str>,
}

/// A `tickers` push as ccxt reads Bybit's REST ticker (the push's `ts` its time).
fn ticker(row: &TickerRow<'_>, time: i64, symbol: &str) -> Result<crate::model::Ticker, String> {
    let fields = TickerFields {
        time_ms: time,
        last: row.last_price,
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
    parse::ticker(symbol, &fields)
}

#[derive(Deserialize)]
struct BookRow<'a> {
    #[serde(borrow)]
    b: Vec<Vec<&'a str>>,
    #[serde(borrow)]
    a: Vec<Vec<&'a str>>,
    u: u64,
}

#[derive(Deserialize)]
struct TradeRow<'a> {
    #[serde(rename = "T")]
    time: i64,
    /// The taker's side (`Buy` / `Sell`).
    #[serde(rename = "S", borrow)]
    side: &'a str,
    #[serde(borrow)]
    v: &'a str,
    #[serde(borrow)]
    p: &'a str,
    #[serde(borrow)]
    i: &'a str,
}

#[derive(Deserialize)]
struct KlineRow<'a> {
    start: i64,
    #[serde(borrow)]
    open: &'a str,
    #[serde(borrow)]
    close: &'a str,
    #[serde(borrow)]
    high: &'a str,
    #[serde(borrow)]
    low: &'a str,
    #[serde(borrow)]
    volume: &'a str,
    confirm: bool,
    timestamp: Option<i64>,
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

    #[test]
    fn ticker_trade_and_kline_fixtures() {
        let r = read_all(&fixture("bybit", "tickers_linear.json"));
        assert_eq!(r.streams, ["tickers.BTCUSDT"]);
        let Seen::Market(Ok((MarketData::Ticker(t), event_time_ms))) = &r.seen[0] else {
            panic!("{:?}", r.seen)
        };
        assert_eq!(*event_time_ms, 1673272861686);
        assert_eq!((t.last, t.open), (Some(17216.0), Some(16926.5)));
        assert_eq!((t.high, t.low), (Some(17281.5), Some(16915.0)));
        assert_eq!((t.bid, t.ask), (Some(17215.5), Some(17216.0)));
        assert_eq!(
            (t.base_volume, t.quote_volume),
            (Some(91705.276), Some(1570383121.943499))
        );

        let r = read_all(&fixture("bybit", "publicTrade.json"));
        assert_eq!(r.streams, ["trade.linear.BTCUSDT"]);
        // The sample's topic is the linear one, not a spot channel: reported, not served.
        assert!(matches!(r.seen[..], [Seen::Live(Err(_))]), "{:?}", r.seen);
        let spot = fixture("bybit", "publicTrade.json").replace("trade.linear.", "publicTrade.");
        let r = read_all(&spot);
        let Seen::Live(Ok((LiveData::Trade(trade), event_time_ms))) = &r.seen[0] else {
            panic!("{:?}", r.seen)
        };
        assert_eq!(
            trade.id.as_deref(),
            Some("9dc75fca-4bdd-4773-9f78-6f5d7ab2a110")
        );
        assert_eq!((trade.price, trade.amount), (27451.0, 0.01));
        assert_eq!(trade.side, Some(crate::model::TradeSide::Buy));
        assert_eq!(*event_time_ms, Some(1709891679000));

        let r = read_all(&fixture("bybit", "kline.json"));
        let Seen::Live(Ok((LiveData::Candle(c), _))) = &r.seen[0] else {
            panic!("{:?}", r.seen)
        };
        assert_eq!(c.candle.timestamp, 1672324800000);
        assert_eq!((c.candle.open, c.candle.close), (16649.5, 16677.0));
        assert_eq!((c.candle.low, c.candle.volume), (16608.0, 2.081));
        assert!(!c.closed);
    }

    #[test]
    fn books_snapshot_and_delta() {
        let snap = r#"{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1672304484978,"data":{"s":"BTCUSDT","b":[["16493.50","0.006"],["16493.00","0.100"]],"a":[["16611.00","0.029"]],"u":18521288,"seq":7961638724},"cts":1672304484976}"#;
        let r = read_all(snap);
        assert_eq!(r.streams, ["orderbook.50.BTCUSDT"]);
        let Seen::Live(Ok((LiveData::Book(d), _))) = &r.seen[0] else {
            panic!("{:?}", r.seen)
        };
        assert!(d.snapshot);
        assert_eq!((d.first_id, d.last_id), (18521288, 18521288));
        assert_eq!(d.bids.len(), 2);
        assert_eq!(d.bids[1].price, "16493".parse().unwrap());
        assert_eq!(d.event_time_ms, 1672304484978);
        let delta = snap.replace("\"snapshot\"", "\"delta\"");
        let r = read_all(&delta);
        assert!(matches!(&r.seen[0], Seen::Live(Ok((LiveData::Book(d), _))) if !d.snapshot));
    }

    #[test]
    fn replies() {
        let r = read_all(&fixture("bybit", "subscription_ack.json"));
        assert!(
            matches!(r.seen[..], [Seen::Ack(None)]),
            "a non-numeric req_id"
        );
        let r = read_all(
            r#"{"success":true,"ret_msg":"subscribe","conn_id":"c","req_id":"4","op":"subscribe"}"#,
        );
        assert!(matches!(r.seen[..], [Seen::Ack(Some(4))]));
        let r = read_all(&fixture("bybit", "subscription_failure.json"));
        assert!(
            matches!(&r.seen[..], [Seen::Refused(_, message)] if message.contains("Invalid topic"))
        );
        let r = read_all(r#"{"success":true,"ret_msg":"pong","conn_id":"c","op":"ping"}"#);
        assert!(r.seen.is_empty());
        assert!(matches!(&read_all("{}").seen[..], [Seen::Malformed(m)] if m.contains("neither")));
        let message: serde_json::Value =
            serde_json::from_str(&control(false, &["tickers.BTCUSDT".into()], 2)).unwrap();
        assert_eq!(
            message,
            serde_json::json!({"req_id": "2", "op": "unsubscribe", "args": ["tickers.BTCUSDT"]})
        );
    }
}
