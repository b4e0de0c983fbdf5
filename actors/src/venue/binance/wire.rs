//! Binance's spot market-stream wire format: combined-stream frames, control replies, and the
//! `<symbol>@ticker` payload turned into the normalised [`Ticker`] (the same fields ccxt
//! fills from REST `/api/v3/ticker/24hr`, so a streamed value and a fetched one compare).
//! Replies are validated: a frame that cannot be read is reported, never served.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::model::{FundingRate, Ticker};

/// One text frame from a combined-stream connection (`/stream`).
#[derive(Debug)]
pub enum Frame<'a> {
    /// `{"stream": "<name>", "data": {...}}`.
    Data { stream: &'a str, data: &'a RawValue },
    /// `{"result": ..., "id": N}`: a control message was accepted.
    Ack { id: Option<u64> },
    /// `{"code": N, "msg": "...", "id": N}`: a control message was refused.
    Refused {
        id: Option<u64>,
        code: i64,
        message: String,
    },
    /// `{"e": "serverShutdown"}` (bare or wrapped): the server goes away soon.
    ServerShutdown,
}

impl PartialEq for Frame<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Data { stream: a, data: x }, Self::Data { stream: b, data: y }) => {
                a == b && x.get() == y.get()
            }
            (Self::Ack { id: a }, Self::Ack { id: b }) => a == b,
            (
                Self::Refused {
                    id: a,
                    code: c,
                    message: m,
                },
                Self::Refused {
                    id: b,
                    code: d,
                    message: n,
                },
            ) => a == b && c == d && m == n,
            (Self::ServerShutdown, Self::ServerShutdown) => true,
            _ => false,
        }
    }
}

#[derive(Deserialize)]
struct RawFrame<'a> {
    #[serde(borrow)]
    stream: Option<&'a str>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    id: Option<serde_json::Value>,
    #[serde(default)]
    result: Option<serde_json::Value>,
    code: Option<i64>,
    msg: Option<String>,
    #[serde(borrow)]
    e: Option<&'a str>,
}

#[derive(Deserialize)]
struct EventType<'a> {
    #[serde(borrow)]
    e: Option<&'a str>,
}

/// Reads one text frame; `Err` names what was wrong with it.
pub fn parse_frame(text: &str) -> Result<Frame<'_>, String> {
    let raw: RawFrame<'_> =
        serde_json::from_str(text).map_err(|e| format!("not a Binance frame ({e})"))?;
    if raw.e == Some("serverShutdown") {
        return Ok(Frame::ServerShutdown);
    }
    if let (Some(stream), Some(data)) = (raw.stream, raw.data) {
        if stream == "!serverShutdown" || is_shutdown(data) {
            return Ok(Frame::ServerShutdown);
        }
        return Ok(Frame::Data { stream, data });
    }
    let id = raw.id.as_ref().and_then(serde_json::Value::as_u64);
    if let Some(code) = raw.code {
        return Ok(Frame::Refused {
            id,
            code,
            message: raw.msg.unwrap_or_default(),
        });
    }
    if raw.id.is_some() || raw.result.is_some() {
        return Ok(Frame::Ack { id });
    }
    Err("a frame with neither stream data nor a control reply".to_owned())
}

fn is_shutdown(data: &RawValue) -> bool {
    serde_json::from_str::<EventType<'_>>(data.get())
        .is_ok_and(|event| event.e == Some("serverShutdown"))
}

/// A `<symbol>@ticker` payload (24h rolling window statistics).
#[derive(Debug, Deserialize)]
pub struct TickerEvent<'a> {
    /// Event time (ms, or µs with `timeUnit=MICROSECOND`, which this client never asks for).
    #[serde(rename = "E")]
    event_time: i64,
    #[serde(rename = "s", borrow)]
    market_id: &'a str,
    #[serde(rename = "p", borrow)]
    change: Option<&'a str>,
    #[serde(rename = "P", borrow)]
    percentage: Option<&'a str>,
    #[serde(rename = "w", borrow)]
    vwap: Option<&'a str>,
    #[serde(rename = "x", borrow)]
    previous_close: Option<&'a str>,
    #[serde(rename = "c", borrow)]
    last: &'a str,
    #[serde(rename = "b", borrow)]
    bid: Option<&'a str>,
    #[serde(rename = "B", borrow)]
    bid_volume: Option<&'a str>,
    #[serde(rename = "a", borrow)]
    ask: Option<&'a str>,
    #[serde(rename = "A", borrow)]
    ask_volume: Option<&'a str>,
    #[serde(rename = "o", borrow)]
    open: Option<&'a str>,
    #[serde(rename = "h", borrow)]
    high: Option<&'a str>,
    #[serde(rename = "l", borrow)]
    low: Option<&'a str>,
    #[serde(rename = "v", borrow)]
    base_volume: Option<&'a str>,
    #[serde(rename = "q", borrow)]
    quote_volume: Option<&'a str>,
    /// Statistics close time: what REST reports as `closeTime` and ccxt as `timestamp`.
    #[serde(rename = "C")]
    close_time: Option<i64>,
}

/// A parsed ticker event: the exchange's market id, its event time and the ticker.
#[derive(Debug, Clone, PartialEq)]
pub struct TickerUpdate {
    pub market_id: String,
    pub event_time_ms: i64,
    pub ticker: Ticker,
}

impl TickerUpdate {
    /// How long the event took to reach us (the `cmm_ws_lag_seconds` metric).
    pub fn lag_ms(&self, received_ms: i64) -> i64 {
        // The event time is the exchange's word: any i64, so no overflow on ours.
        received_ms.saturating_sub(self.event_time_ms)
    }
}

/// Decimal string → number; unknown (`None`) when absent, unreadable or not finite.
fn number(text: Option<&str>) -> Option<f64> {
    text.and_then(|t| t.parse::<f64>().ok())
        .filter(|v| v.is_finite())
}

/// A combined-stream frame carrying a ticker event, read in one pass (the hot path: every
/// streamed tick); anything else is read by [`parse_frame`].
#[derive(Deserialize)]
struct TickerFrame<'a> {
    #[serde(borrow)]
    stream: &'a str,
    #[serde(borrow)]
    data: TickerEvent<'a>,
}

/// The stream name and ticker event of a `<symbol>@ticker` frame, or `None` for any other
/// frame.
pub fn ticker_frame(text: &str) -> Option<(&str, TickerEvent<'_>)> {
    let frame: TickerFrame<'_> = serde_json::from_str(text).ok()?;
    frame
        .stream
        .ends_with("@ticker")
        .then_some((frame.stream, frame.data))
}

/// Reads a `@ticker` payload; `symbol` is the unified symbol it is served under.
pub fn ticker(data: &RawValue, symbol: &str) -> Result<TickerUpdate, String> {
    let event: TickerEvent<'_> =
        serde_json::from_str(data.get()).map_err(|e| format!("unreadable ticker event ({e})"))?;
    ticker_from(event, symbol)
}

/// A read ticker event as the normalised ticker of `symbol`.
pub fn ticker_from(event: TickerEvent<'_>, symbol: &str) -> Result<TickerUpdate, String> {
    let last = number(Some(event.last))
        .ok_or_else(|| format!("ticker event without a last price: {:?}", event.last))?;
    let timestamp = event.close_time.unwrap_or(event.event_time);
    let open = number(event.open);
    let ticker = Ticker {
        symbol: symbol.to_owned(),
        timestamp: Some(timestamp),
        datetime: iso8601(timestamp),
        high: number(event.high),
        low: number(event.low),
        bid: number(event.bid),
        bid_volume: number(event.bid_volume),
        ask: number(event.ask),
        ask_volume: number(event.ask_volume),
        vwap: number(event.vwap),
        open,
        close: Some(last),
        last: Some(last),
        previous_close: number(event.previous_close),
        change: number(event.change),
        percentage: number(event.percentage),
        // As ccxt's safeTicker derives it.
        // Two finite prices near f64::MAX add up to infinity: unknown, like any non-number.
        average: open
            .map(|open| (open + last) / 2.0)
            .filter(|v| v.is_finite()),
        base_volume: number(event.base_volume),
        quote_volume: number(event.quote_volume),
        mark_price: None,
        index_price: None,
    };
    Ok(TickerUpdate {
        market_id: event.market_id.to_owned(),
        event_time_ms: event.event_time,
        ticker,
    })
}

fn iso8601(ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// A USDⓈ-M `<symbol>@markPrice@1s` payload: mark and index price, the funding rate of the
/// period under way and when it settles.
#[derive(Debug, Deserialize)]
struct MarkPriceEvent<'a> {
    #[serde(rename = "E")]
    event_time: i64,
    #[serde(rename = "p", borrow)]
    mark: Option<&'a str>,
    #[serde(rename = "i", borrow)]
    index: Option<&'a str>,
    #[serde(rename = "r", borrow)]
    funding_rate: Option<&'a str>,
    #[serde(rename = "T")]
    next_funding_ms: Option<i64>,
}

/// A parsed mark-price event: its event time and the funding rate it carries (the interval is
/// not in the event: the symbol keeps the one it knows).
#[derive(Debug, Clone, PartialEq)]
pub struct MarkPriceUpdate {
    pub event_time_ms: i64,
    pub funding: FundingRate,
}

/// Reads a `@markPrice@1s` payload; `symbol` is the unified symbol it is served under.
pub fn mark_price(data: &RawValue, symbol: &str) -> Result<MarkPriceUpdate, String> {
    let event: MarkPriceEvent<'_> = serde_json::from_str(data.get())
        .map_err(|e| format!("unreadable mark price event ({e})"))?;
    let mark = number(event.mark)
        .ok_or_else(|| format!("mark price event without a mark price: {:?}", event.mark))?;
    Ok(MarkPriceUpdate {
        event_time_ms: event.event_time,
        funding: FundingRate {
            symbol: symbol.to_owned(),
            funding_rate: number(event.funding_rate),
            next_funding_ms: event.next_funding_ms.filter(|t| *t > 0),
            interval_hours: None,
            mark_price: Some(mark),
            index_price: number(event.index),
            timestamp: Some(event.event_time),
        },
    })
}

/// The stream carrying a USDⓈ-M contract's mark price and funding every second.
pub fn mark_price_stream(market_id: &str) -> String {
    format!("{}@markPrice@1s", market_id.to_ascii_lowercase())
}

pub fn is_mark_price_stream(stream: &str) -> bool {
    stream.ends_with("@markPrice@1s")
}

/// The stream carrying `market_id`'s 24h ticker (names are lowercase).
pub fn ticker_stream(market_id: &str) -> String {
    format!("{}@ticker", market_id.to_ascii_lowercase())
}

/// A control message (`SUBSCRIBE`, `UNSUBSCRIBE`) for `streams`.
pub fn control(method: &str, streams: &[String], id: u64) -> String {
    serde_json::json!({ "method": method, "params": streams, "id": id }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The venue's websocket samples in `actors/fixtures/binance/ws` (Binance's documented examples).
    fn fixture(name: &str) -> String {
        let path = format!("{}/fixtures/binance/ws/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn the_documented_ticker_payload_reads_like_ccxt_reads_rest() {
        let text = fixture("ticker.json");
        let data: Box<RawValue> = serde_json::from_str(&text).unwrap();
        let update = ticker(&data, "BNB/BTC").unwrap();
        assert_eq!(update.market_id, "BNBBTC");
        assert_eq!(update.event_time_ms, 1672515782136);
        let t = &update.ticker;
        assert_eq!(t.symbol, "BNB/BTC");
        assert_eq!(t.last, Some(0.0025));
        assert_eq!(t.close, Some(0.0025));
        assert_eq!((t.bid, t.bid_volume), (Some(0.0024), Some(10.0)));
        assert_eq!((t.ask, t.ask_volume), (Some(0.0026), Some(100.0)));
        assert_eq!(
            (t.open, t.high, t.low),
            (Some(0.001), Some(0.0025), Some(0.001))
        );
        assert_eq!((t.base_volume, t.quote_volume), (Some(10000.0), Some(18.0)));
        assert_eq!((t.change, t.percentage), (Some(0.0015), Some(250.0)));
        assert_eq!(t.previous_close, Some(0.0009));
        assert_eq!(t.average, Some(0.00175));
        // The payload's close time `C` (86400000 in the doc example) is the timestamp.
        assert_eq!(t.timestamp, Some(86_400_000));
        assert_eq!(t.datetime.as_deref(), Some("1970-01-02T00:00:00.000Z"));
    }

    #[test]
    fn the_recorded_combined_envelope_is_stream_data() {
        let text = fixture("combined_envelope.json");
        assert!(matches!(
            parse_frame(&text).unwrap(),
            Frame::Data {
                stream: "ethusdt@trade",
                ..
            }
        ));
        let control: serde_json::Value =
            serde_json::from_str(&fixture("control_subscribe.json")).unwrap();
        assert_eq!(
            parse_frame(&control["response"].to_string()).unwrap(),
            Frame::Ack { id: Some(1) }
        );
    }

    #[test]
    fn a_ticker_frame_is_read_in_one_pass_like_in_two() {
        let data = fixture("ticker.json");
        let frame = format!(r#"{{"stream":"bnbbtc@ticker","data":{data}}}"#);
        let (stream, event) = ticker_frame(&frame).unwrap();
        assert_eq!(stream, "bnbbtc@ticker");
        let one_pass = ticker_from(event, "BNB/BTC").unwrap();
        let raw: Box<RawValue> = serde_json::from_str(&data).unwrap();
        assert_eq!(one_pass, ticker(&raw, "BNB/BTC").unwrap());
        assert!(ticker_frame(r#"{"stream":"bnbbtc@trade","data":{"e":"trade"}}"#).is_none());
        assert!(ticker_frame(r#"{"result":null,"id":1}"#).is_none());
    }

    #[test]
    fn frames_are_told_apart() {
        let data = r#"{"stream":"btcusdt@ticker","data":{"e":"24hrTicker","s":"BTCUSDT"}}"#;
        assert!(matches!(
            parse_frame(data).unwrap(),
            Frame::Data {
                stream: "btcusdt@ticker",
                ..
            }
        ));
        assert_eq!(
            parse_frame(r#"{"result":null,"id":7}"#).unwrap(),
            Frame::Ack { id: Some(7) }
        );
        assert_eq!(
            parse_frame(r#"{"result":["btcusdt@ticker"],"id":3}"#).unwrap(),
            Frame::Ack { id: Some(3) }
        );
        assert_eq!(
            parse_frame(r#"{"code":2,"msg":"Invalid request: bad","id":4}"#).unwrap(),
            Frame::Refused {
                id: Some(4),
                code: 2,
                message: "Invalid request: bad".into()
            }
        );
        assert_eq!(
            parse_frame(r#"{"e":"serverShutdown","E":1}"#).unwrap(),
            Frame::ServerShutdown
        );
        assert_eq!(
            parse_frame(r#"{"stream":"!serverShutdown","data":{"e":"serverShutdown","E":1}}"#)
                .unwrap(),
            Frame::ServerShutdown
        );
        assert!(parse_frame("not json").is_err());
        assert!(parse_frame(r#"{"hello":1}"#).is_err());
    }

    #[test]
    fn a_ticker_without_a_usable_price_is_refused() {
        let bad: Box<RawValue> =
            serde_json::from_str(r#"{"E":1,"s":"BTCUSDT","c":"NaN"}"#).unwrap();
        assert!(ticker(&bad, "BTC/USDT").is_err());
        let missing: Box<RawValue> = serde_json::from_str(r#"{"E":1,"s":"BTCUSDT"}"#).unwrap();
        assert!(ticker(&missing, "BTC/USDT").is_err());
        let odd: Box<RawValue> =
            serde_json::from_str(r#"{"E":1,"s":"BTCUSDT","c":"5","b":"oops","h":"inf"}"#).unwrap();
        let update = ticker(&odd, "BTC/USDT").unwrap();
        assert_eq!(
            update.ticker.bid, None,
            "unreadable numbers are unknown, not zero"
        );
        assert_eq!(update.ticker.high, None);
    }

    #[test]
    fn extreme_numbers_and_times_stay_numbers() {
        // Found reading the parser while writing the binance_ws fuzz target (10 minutes of
        // fuzzing did not reach them): an average of two huge prices was infinite, and the
        // lag of an event stamped near i64::MIN overflowed (a panic in debug builds).
        let huge: Box<RawValue> = serde_json::from_str(
            r#"{"E":-9223372036854775808,"s":"BTCUSDT","c":"1.7e308","o":"1.7e308"}"#,
        )
        .unwrap();
        let update = ticker(&huge, "BTC/USDT").unwrap();
        assert_eq!(update.ticker.last, Some(1.7e308));
        assert_eq!(update.ticker.average, None, "infinite, so unknown");
        assert_eq!(update.lag_ms(1_700_000_000_000), i64::MAX);
        // The whole frame, as a connection reads it: `crate::fuzzing`'s tests.
    }

    #[test]
    fn reads_a_mark_price_event() {
        let data = r#"{"e":"markPriceUpdate","E":1562305380000,"s":"BTCUSDT","p":"11794.15000000","i":"11784.62659091","P":"11784.25641265","r":"0.00038167","T":1562306400000}"#;
        let raw: &RawValue = serde_json::from_str(data).unwrap();
        let update = mark_price(raw, "BTC/USDT:USDT").unwrap();
        assert_eq!(update.event_time_ms, 1562305380000);
        assert_eq!(update.funding.mark_price, Some(11794.15));
        assert_eq!(update.funding.index_price, Some(11784.62659091));
        assert_eq!(update.funding.funding_rate, Some(0.00038167));
        assert_eq!(update.funding.next_funding_ms, Some(1562306400000));
        assert_eq!(mark_price_stream("BTCUSDT"), "btcusdt@markPrice@1s");
        assert!(is_mark_price_stream("btcusdt@markPrice@1s"));
        let raw: &RawValue = serde_json::from_str(r#"{"E":1,"p":"x"}"#).unwrap();
        assert!(mark_price(raw, "BTC/USDT:USDT").is_err());
    }

    #[test]
    fn stream_names_are_lowercase() {
        assert_eq!(ticker_stream("BTCUSDT"), "btcusdt@ticker");
        let message: serde_json::Value =
            serde_json::from_str(&control("SUBSCRIBE", &["btcusdt@ticker".into()], 9)).unwrap();
        assert_eq!(
            message,
            serde_json::json!({"method": "SUBSCRIBE", "params": ["btcusdt@ticker"], "id": 9})
        );
    }
}
