//! Coinbase Advanced Trade's market-data frames (`wss://advanced-trade-ws.coinbase.com`):
//! `{"channel", "timestamp", "sequence_num", "events": [...]}` for `l2_data` (`level2`),
//! `ticker`, `market_trades`, `candles`, `heartbeats` and `subscriptions`; `{"type":
//! "error"}` for a refused request. Prices and sizes are decimal strings.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::model::{Candle, Exact, Level, LiveCandle, Ticker, Trade, TradeSide};
use crate::venue::BookDelta;

#[derive(Deserialize)]
pub struct Frame<'a> {
    #[serde(borrow)]
    pub channel: Option<&'a str>,
    #[serde(borrow)]
    pub timestamp: Option<&'a str>,
    pub sequence_num: Option<u64>,
    #[serde(borrow)]
    pub events: Option<&'a RawValue>,
    /// `error` on a refused request.
    #[serde(rename = "type", borrow)]
    pub kind: Option<&'a str>,
    pub message: Option<String>,
}

pub fn frame(text: &str) -> Result<Frame<'_>, String> {
    serde_json::from_str(text).map_err(|e| format!("not a Coinbase frame ({e})"))
}

/// RFC 3339 as Unix ms.
pub fn time_ms(text: &str) -> Result<i64, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|e| format!("bad time {text:?} ({e})"))
}

fn number(text: &str, what: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| format!("{what} is not a number: {text:?}"))
}

fn maybe(text: Option<&str>) -> Option<f64> {
    text.and_then(|t| t.parse::<f64>().ok())
        .filter(|v| v.is_finite())
}

#[derive(Deserialize)]
struct BookEvent<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(borrow)]
    product_id: &'a str,
    #[serde(borrow, default)]
    updates: Vec<BookUpdate<'a>>,
}

#[derive(Deserialize)]
struct BookUpdate<'a> {
    #[serde(borrow)]
    side: &'a str,
    #[serde(borrow)]
    price_level: &'a str,
    #[serde(borrow)]
    new_quantity: &'a str,
}

/// An `l2_data` frame's events: (product id, the change; `snapshot` set on a snapshot),
/// numbered with the message's `sequence_num` and stamped with its time.
pub fn level2(
    events: &RawValue,
    seq: u64,
    time_ms: i64,
) -> Result<Vec<(String, BookDelta)>, String> {
    let events: Vec<BookEvent<'_>> =
        serde_json::from_str(events.get()).map_err(|e| format!("unreadable l2_data ({e})"))?;
    events
        .into_iter()
        .map(|e| {
            let (mut bids, mut asks) = (Vec::new(), Vec::new());
            for u in &e.updates {
                let level = Level {
                    price: u.price_level.parse::<Exact>().map_err(|e| e.to_string())?,
                    size: u.new_quantity.parse::<Exact>().map_err(|e| e.to_string())?,
                };
                match u.side {
                    "bid" => bids.push(level),
                    "offer" | "ask" => asks.push(level),
                    other => return Err(format!("unknown side {other:?}")),
                }
            }
            let delta = BookDelta {
                first_id: seq,
                last_id: seq,
                bids,
                asks,
                event_time_ms: time_ms,
                snapshot: e.kind == "snapshot",
                ..BookDelta::default()
            };
            Ok((e.product_id.to_owned(), delta))
        })
        .collect()
}

#[derive(Deserialize)]
struct TickerEvent<'a> {
    #[serde(borrow, default)]
    tickers: Vec<TickerItem<'a>>,
}

#[derive(Deserialize)]
struct TickerItem<'a> {
    #[serde(borrow)]
    product_id: &'a str,
    #[serde(borrow)]
    price: &'a str,
    #[serde(borrow)]
    volume_24_h: Option<&'a str>,
    #[serde(borrow)]
    low_24_h: Option<&'a str>,
    #[serde(borrow)]
    high_24_h: Option<&'a str>,
    #[serde(borrow)]
    price_percent_chg_24_h: Option<&'a str>,
    #[serde(borrow)]
    best_bid: Option<&'a str>,
    #[serde(borrow)]
    best_bid_quantity: Option<&'a str>,
    #[serde(borrow)]
    best_ask: Option<&'a str>,
    #[serde(borrow)]
    best_ask_quantity: Option<&'a str>,
}

/// A `ticker` frame's tickers by product id; `symbol_of` names each product's unified symbol
/// (None: not carried).
pub fn tickers(events: &RawValue, time_ms: i64) -> Result<Vec<(String, Ticker)>, String> {
    let events: Vec<TickerEvent<'_>> =
        serde_json::from_str(events.get()).map_err(|e| format!("unreadable ticker ({e})"))?;
    let mut out = Vec::new();
    for t in events.into_iter().flat_map(|e| e.tickers) {
        let last = number(t.price, "price")?;
        let percentage = maybe(t.price_percent_chg_24_h);
        // The open the change is from (Coinbase sends only the percentage).
        let open = percentage
            .map(|p| last / (1.0 + p / 100.0))
            .filter(|o| o.is_finite());
        out.push((
            t.product_id.to_owned(),
            Ticker {
                symbol: String::new(),
                timestamp: Some(time_ms),
                datetime: chrono::DateTime::from_timestamp_millis(time_ms)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
                high: maybe(t.high_24_h),
                low: maybe(t.low_24_h),
                bid: maybe(t.best_bid),
                bid_volume: maybe(t.best_bid_quantity),
                ask: maybe(t.best_ask),
                ask_volume: maybe(t.best_ask_quantity),
                vwap: None,
                open,
                close: Some(last),
                last: Some(last),
                previous_close: None,
                change: open.map(|o| last - o),
                percentage,
                average: open.map(|o| (o + last) / 2.0),
                base_volume: maybe(t.volume_24_h),
                quote_volume: None,
                mark_price: None,
                index_price: None,
            },
        ));
    }
    Ok(out)
}

#[derive(Deserialize)]
struct TradesEvent<'a> {
    #[serde(borrow, default)]
    trades: Vec<TradeItem<'a>>,
}

#[derive(Deserialize)]
struct TradeItem<'a> {
    #[serde(borrow)]
    trade_id: &'a str,
    #[serde(borrow)]
    product_id: &'a str,
    #[serde(borrow)]
    price: &'a str,
    #[serde(borrow)]
    size: &'a str,
    #[serde(borrow)]
    side: &'a str,
    #[serde(borrow)]
    time: &'a str,
}

/// A `market_trades` frame's trades by product id, oldest first (Coinbase lists a snapshot
/// newest first; a tape takes them in order).
pub fn trades(events: &RawValue) -> Result<Vec<(String, Trade)>, String> {
    let events: Vec<TradesEvent<'_>> =
        serde_json::from_str(events.get()).map_err(|e| format!("unreadable trades ({e})"))?;
    let mut out = events
        .into_iter()
        .flat_map(|e| e.trades)
        .map(|t| {
            let time = time_ms(t.time)?;
            let side = match t.side {
                "BUY" => Some(TradeSide::Buy),
                "SELL" => Some(TradeSide::Sell),
                _ => None,
            };
            Ok((
                t.product_id.to_owned(),
                Trade {
                    id: Some(t.trade_id.to_owned()),
                    timestamp: Some(time),
                    side,
                    price: number(t.price, "price")?,
                    amount: number(t.size, "size")?,
                },
            ))
        })
        .collect::<Result<Vec<_>, String>>()?;
    out.sort_by_key(|(_, t)| {
        (
            t.timestamp,
            t.id.as_deref().and_then(|id| id.parse::<u64>().ok()),
        )
    });
    Ok(out)
}

#[derive(Deserialize)]
struct CandlesEvent<'a> {
    #[serde(borrow, default)]
    candles: Vec<CandleItem<'a>>,
}

#[derive(Deserialize)]
struct CandleItem<'a> {
    #[serde(borrow)]
    start: &'a str,
    #[serde(borrow)]
    open: &'a str,
    #[serde(borrow)]
    high: &'a str,
    #[serde(borrow)]
    low: &'a str,
    #[serde(borrow)]
    close: &'a str,
    #[serde(borrow)]
    volume: &'a str,
    #[serde(borrow)]
    product_id: &'a str,
}

/// Coinbase's `candles` channel: 5-minute candles, the only interval it streams.
pub const CANDLE_MS: i64 = 300_000;

/// A `candles` frame's 5-minute candles in progress by product id.
pub fn candles(events: &RawValue) -> Result<Vec<(String, LiveCandle)>, String> {
    let events: Vec<CandlesEvent<'_>> =
        serde_json::from_str(events.get()).map_err(|e| format!("unreadable candles ({e})"))?;
    events
        .into_iter()
        .flat_map(|e| e.candles)
        .map(|c| {
            let start: i64 = c
                .start
                .parse()
                .map_err(|_| format!("bad candle start {:?}", c.start))?;
            Ok((
                c.product_id.to_owned(),
                LiveCandle {
                    candle: Candle {
                        timestamp: start.saturating_mul(1000),
                        open: number(c.open, "open")?,
                        high: number(c.high, "high")?,
                        low: number(c.low, "low")?,
                        close: number(c.close, "close")?,
                        volume: number(c.volume, "volume")?,
                    },
                    closed: false,
                    interval_ms: CANDLE_MS,
                },
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Coinbase's documented payloads, copied to `actors/fixtures/coinbase/ws`.
    fn fixture(name: &str) -> String {
        let path = format!("{}/fixtures/coinbase/ws/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn level2_snapshot_and_update() {
        let text = fixture("l2_data_update.json");
        let f = frame(&text).unwrap();
        assert_eq!((f.channel, f.sequence_num), (Some("l2_data"), Some(1)));
        let time = time_ms(f.timestamp.unwrap()).unwrap();
        let books = level2(f.events.unwrap(), 1, time).unwrap();
        let (product, d) = &books[0];
        assert_eq!(product, "BTC-USD");
        assert!(!d.snapshot);
        assert_eq!(d.bids[0].price, "68900".parse().unwrap());
        assert_eq!(d.bids[0].size, "2".parse().unwrap());
        assert!(d.asks[0].size.is_zero(), "an offer of 0 removes the level");
        assert_eq!((d.last_id, d.event_time_ms), (1, time));
        let text = fixture("l2_data_snapshot.json");
        let f = frame(&text).unwrap();
        let books = level2(f.events.unwrap(), 0, 0).unwrap();
        assert!(books[0].1.snapshot);
        assert!(!books[0].1.bids.is_empty() && !books[0].1.asks.is_empty());
    }

    #[test]
    fn ticker_trades_candles_heartbeats() {
        let text = fixture("ticker.json");
        let f = frame(&text).unwrap();
        let t = tickers(f.events.unwrap(), 5).unwrap();
        assert_eq!(t[0].0, "BTC-USD");
        assert_eq!(t[0].1.last, Some(68900.5));
        assert_eq!((t[0].1.bid, t[0].1.ask), (Some(68900.0), Some(68901.0)));
        assert_eq!(t[0].1.percentage, Some(1.85));
        assert_eq!(t[0].1.timestamp, Some(5));

        let text = fixture("market_trades.json");
        let trades = trades(frame(&text).unwrap().events.unwrap()).unwrap();
        assert_eq!(trades[0].1.id.as_deref(), Some("995098700"));
        assert_eq!(trades[1].1.side, Some(TradeSide::Sell));
        assert_eq!(trades[1].1.amount, 0.05);

        let text = fixture("candles.json");
        let c = candles(frame(&text).unwrap().events.unwrap()).unwrap();
        assert_eq!(c[0].1.candle.timestamp, 1_775_521_800_000);
        assert_eq!(c[0].1.candle.close, 68920.5);

        for name in ["heartbeats.json", "subscriptions.json"] {
            let text = fixture(name);
            assert!(frame(&text).unwrap().sequence_num.is_some(), "{name}");
        }
    }

    #[test]
    fn trades_listed_newest_first_come_oldest_first() {
        let events: Box<RawValue> = serde_json::from_str(
            r#"[{"type":"snapshot","trades":[
              {"trade_id":"12","product_id":"X-Y","price":"1","size":"1","side":"BUY","time":"2026-01-01T00:00:02Z"},
              {"trade_id":"11","product_id":"X-Y","price":"1","size":"1","side":"BUY","time":"2026-01-01T00:00:01Z"}]}]"#,
        )
        .unwrap();
        let t = trades(&events).unwrap();
        assert_eq!(t[0].1.id.as_deref(), Some("11"));
        let bad: Box<RawValue> = serde_json::from_str(
            r#"[{"type":"update","product_id":"X-Y","updates":[{"side":"bid","price_level":"-1","new_quantity":"1"}]}]"#,
        )
        .unwrap();
        assert!(level2(&bad, 0, 0).is_err());
    }
}
