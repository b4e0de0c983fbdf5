//! Stream events in Binance's wire format (see `fixtures/binance/ws/`). Values come from the
//! same computations as REST: `@ticker` from the 24hr ticker row, `@bookTicker` from the
//! bookTicker row, klines from the same candles, trades from the same tape.

use super::streams::{Now, TimeUnit};
use crate::market::candles::Candle;
use crate::market::decimal::{fmt_f64, fmt_units};
use crate::market::interval::Interval;
use crate::market::trades::Trade;
use crate::market::{Market, Symbol};
use crate::rest::ticker::{book_ticker_row, ticker_row};
use serde::Serialize;

#[derive(Serialize)]
struct TickerEvent<'a> {
    e: &'static str,
    #[serde(rename = "E")]
    event_time: u64,
    s: &'a str,
    #[serde(rename = "p")]
    change: String,
    #[serde(rename = "P")]
    change_percent: String,
    #[serde(rename = "w")]
    weighted_avg: String,
    #[serde(rename = "x")]
    prev_close: String,
    #[serde(rename = "c")]
    last: String,
    #[serde(rename = "Q")]
    last_qty: String,
    #[serde(rename = "b")]
    bid: String,
    #[serde(rename = "B")]
    bid_qty: String,
    #[serde(rename = "a")]
    ask: String,
    #[serde(rename = "A")]
    ask_qty: String,
    #[serde(rename = "o")]
    open: String,
    #[serde(rename = "h")]
    high: String,
    #[serde(rename = "l")]
    low: String,
    #[serde(rename = "v")]
    volume: String,
    #[serde(rename = "q")]
    quote_volume: String,
    #[serde(rename = "O")]
    open_time: u64,
    #[serde(rename = "C")]
    close_time: u64,
    #[serde(rename = "F")]
    first_id: u64,
    #[serde(rename = "L")]
    last_id: u64,
    #[serde(rename = "n")]
    count: u64,
}

#[derive(Serialize)]
struct MiniTickerEvent<'a> {
    e: &'static str,
    #[serde(rename = "E")]
    event_time: u64,
    s: &'a str,
    #[serde(rename = "c")]
    last: String,
    #[serde(rename = "o")]
    open: String,
    #[serde(rename = "h")]
    high: String,
    #[serde(rename = "l")]
    low: String,
    #[serde(rename = "v")]
    volume: String,
    #[serde(rename = "q")]
    quote_volume: String,
}

#[derive(Serialize)]
struct BookTickerEvent<'a> {
    u: u64,
    s: &'a str,
    #[serde(rename = "b")]
    bid: String,
    #[serde(rename = "B")]
    bid_qty: String,
    #[serde(rename = "a")]
    ask: String,
    #[serde(rename = "A")]
    ask_qty: String,
}

#[derive(Serialize)]
struct TradeEvent<'a> {
    e: &'static str,
    #[serde(rename = "E")]
    event_time: u64,
    s: &'a str,
    #[serde(rename = "t")]
    id: u64,
    #[serde(rename = "p")]
    price: String,
    #[serde(rename = "q")]
    qty: String,
    #[serde(rename = "T")]
    time: u64,
    #[serde(rename = "m")]
    buyer_maker: bool,
    #[serde(rename = "M")]
    ignore: bool,
}

#[derive(Serialize)]
struct AggTradeEvent<'a> {
    e: &'static str,
    #[serde(rename = "E")]
    event_time: u64,
    s: &'a str,
    #[serde(rename = "a")]
    id: u64,
    #[serde(rename = "p")]
    price: String,
    #[serde(rename = "q")]
    qty: String,
    #[serde(rename = "f")]
    first: u64,
    #[serde(rename = "l")]
    last: u64,
    #[serde(rename = "T")]
    time: u64,
    #[serde(rename = "m")]
    buyer_maker: bool,
    #[serde(rename = "M")]
    ignore: bool,
}

#[derive(Serialize)]
struct KlineEvent<'a> {
    e: &'static str,
    #[serde(rename = "E")]
    event_time: u64,
    s: &'a str,
    k: KlineBody<'a>,
}

#[derive(Serialize)]
struct KlineBody<'a> {
    #[serde(rename = "t")]
    open_time: u64,
    #[serde(rename = "T")]
    close_time: u64,
    s: &'a str,
    i: &'a str,
    /// First and last trade ids; -1 when the candle has no trade yet.
    #[serde(rename = "f")]
    first_id: i64,
    #[serde(rename = "L")]
    last_id: i64,
    #[serde(rename = "o")]
    open: String,
    #[serde(rename = "c")]
    close: String,
    #[serde(rename = "h")]
    high: String,
    #[serde(rename = "l")]
    low: String,
    #[serde(rename = "v")]
    volume: String,
    #[serde(rename = "n")]
    trades: u64,
    #[serde(rename = "x")]
    closed: bool,
    #[serde(rename = "q")]
    quote_volume: String,
    #[serde(rename = "V")]
    taker_buy_base: String,
    #[serde(rename = "Q")]
    taker_buy_quote: String,
    #[serde(rename = "B")]
    ignore: &'static str,
}

#[derive(Serialize)]
struct ServerShutdown {
    e: &'static str,
    #[serde(rename = "E")]
    event_time: u64,
}

/// Plain structs of strings and numbers cannot fail to serialise; an empty string (never sent)
/// is the fallback rather than a panic.
fn to_string<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

pub fn ticker(m: &Market, s: &Symbol, now: Now, unit: TimeUnit) -> String {
    let r = ticker_row(m, s, now.ms);
    to_string(&TickerEvent {
        e: "24hrTicker",
        event_time: now.event_time(unit),
        s: &s.name,
        change: r.price_change,
        change_percent: r.price_change_percent,
        weighted_avg: r.weighted_avg_price,
        prev_close: r.prev_close_price,
        last: r.last_price,
        last_qty: r.last_qty,
        bid: r.bid_price,
        bid_qty: r.bid_qty,
        ask: r.ask_price,
        ask_qty: r.ask_qty,
        open: r.open_price,
        high: r.high_price,
        low: r.low_price,
        volume: r.volume,
        quote_volume: r.quote_volume,
        open_time: unit.scale_ms(r.open_time),
        close_time: unit.scale_ms(r.close_time),
        first_id: r.first_id,
        last_id: r.last_id,
        count: r.count,
    })
}

pub fn mini_ticker(m: &Market, s: &Symbol, now: Now, unit: TimeUnit) -> String {
    let r = ticker_row(m, s, now.ms);
    to_string(&MiniTickerEvent {
        e: "24hrMiniTicker",
        event_time: now.event_time(unit),
        s: &s.name,
        last: r.last_price,
        open: r.open_price,
        high: r.high_price,
        low: r.low_price,
        volume: r.volume,
        quote_volume: r.quote_volume,
    })
}

/// Binance's spot `@bookTicker` has no event time; `u` is the book's update id (returned too,
/// so the publisher can skip unchanged books).
pub fn book_ticker(m: &Market, s: &Symbol, now: Now) -> (String, u64) {
    let (r, update_id) = book_ticker_row(m, s, now.ms);
    let text = to_string(&BookTickerEvent {
        u: update_id,
        s: &s.name,
        bid: r.bid_price,
        bid_qty: r.bid_qty,
        ask: r.ask_price,
        ask_qty: r.ask_qty,
    });
    (text, update_id)
}

pub fn trade(s: &Symbol, t: &Trade, now: Now, unit: TimeUnit) -> String {
    to_string(&TradeEvent {
        e: "trade",
        event_time: now.event_time(unit),
        s: &s.name,
        id: t.id,
        price: fmt_units(t.price),
        qty: fmt_units(t.qty),
        time: unit.scale_ms(t.time),
        buyer_maker: t.buyer_maker,
        ignore: true,
    })
}

/// Every simulated trade is its own aggregate (as REST aggTrades), so ids coincide.
pub fn agg_trade(s: &Symbol, t: &Trade, now: Now, unit: TimeUnit) -> String {
    to_string(&AggTradeEvent {
        e: "aggTrade",
        event_time: now.event_time(unit),
        s: &s.name,
        id: t.id,
        price: fmt_units(t.price),
        qty: fmt_units(t.qty),
        first: t.id,
        last: t.id,
        time: unit.scale_ms(t.time),
        buyer_maker: t.buyer_maker,
        ignore: true,
    })
}

/// The candle opening at `open_time` as seen at `now`; `x` is true once it has closed (sent
/// once, when the next candle starts).
pub fn kline(
    m: &Market,
    s: &Symbol,
    (iv, label): (Interval, &str),
    open_time: u64,
    now: Now,
    unit: TimeUnit,
) -> String {
    let c: Candle = m.candle(s, iv, open_time, now.ms);
    let (first_id, last_id) = if c.trades == 0 {
        (-1, -1)
    } else {
        let first = m.first_trade_id(s, c.open_time);
        (first as i64, (first + c.trades - 1) as i64)
    };
    to_string(&KlineEvent {
        e: "kline",
        event_time: now.event_time(unit),
        s: &s.name,
        k: KlineBody {
            open_time: unit.scale_ms(c.open_time),
            close_time: unit.end_of_ms(c.close_time),
            s: &s.name,
            i: label,
            first_id,
            last_id,
            open: fmt_units(c.open),
            close: fmt_units(c.close),
            high: fmt_units(c.high),
            low: fmt_units(c.low),
            volume: fmt_units(c.volume),
            trades: c.trades,
            closed: c.close_time < now.ms,
            quote_volume: fmt_f64(c.quote_volume),
            taker_buy_base: fmt_units(c.taker_buy_base),
            taker_buy_quote: fmt_f64(c.taker_buy_quote),
            ignore: "0",
        },
    })
}

pub fn server_shutdown(now: Now, unit: TimeUnit) -> String {
    to_string(&ServerShutdown {
        e: "serverShutdown",
        event_time: now.event_time(unit),
    })
}

/// The combined-stream envelope `{"stream":"<name>","data":<payload>}` around a serialised
/// payload (no re-parsing).
pub fn combined(stream: &str, data: &str) -> String {
    let name = serde_json::to_string(stream).unwrap_or_else(|_| "\"\"".to_string());
    let mut out = String::with_capacity(name.len() + data.len() + 20);
    out.push_str("{\"stream\":");
    out.push_str(&name);
    out.push_str(",\"data\":");
    out.push_str(data);
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{
        shape, Shape, WS_AGG_TRADE, WS_BOOK_TICKER, WS_COMBINED, WS_KLINE_1M, WS_MINI_TICKER,
        WS_TICKER, WS_TRADE,
    };
    use serde_json::Value;

    const NOW_MS: u64 = 1_725_817_008_719;
    const NOW: Now = Now {
        ms: NOW_MS,
        us: NOW_MS * 1000 + 321,
    };

    fn market() -> Market {
        Market::new(42, 0, false, 100).unwrap()
    }

    #[test]
    fn shapes_match_fixtures() {
        let m = market();
        let s = m.symbol("BTCUSDT").unwrap();
        let ms = TimeUnit::Milli;
        assert_eq!(
            shape(&ticker(&m, s, NOW, ms)).unwrap(),
            shape(WS_TICKER).unwrap()
        );
        assert_eq!(
            shape(&mini_ticker(&m, s, NOW, ms)).unwrap(),
            shape(WS_MINI_TICKER).unwrap()
        );
        assert_eq!(
            shape(&book_ticker(&m, s, NOW).0).unwrap(),
            shape(WS_BOOK_TICKER).unwrap()
        );
        let t = m.trade(s, m.last_trade_id(s, NOW_MS));
        assert_eq!(
            shape(&trade(s, &t, NOW, ms)).unwrap(),
            shape(WS_TRADE).unwrap()
        );
        assert_eq!(
            shape(&agg_trade(s, &t, NOW, ms)).unwrap(),
            shape(WS_AGG_TRADE).unwrap()
        );
        let iv = Interval::parse("1m").unwrap();
        let k = kline(&m, s, (iv, "1m"), iv.align(NOW_MS), NOW, ms);
        assert_eq!(shape(&k).unwrap(), shape(WS_KLINE_1M).unwrap());
        // The recorded envelope (2021) still has the trade's `b`/`a` order ids, which Binance
        // has since dropped (trade.json, the current doc example, has none): compare the
        // envelope's own keys, and its data with the current trade shape.
        let data = trade(s, &t, NOW, ms);
        let keys = |j: &str| match shape(j).unwrap() {
            Shape::Object(members) => members.into_iter().map(|(k, _)| k).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        assert_eq!(keys(&combined("btcusdt@trade", &data)), keys(WS_COMBINED));
        let v: Value = serde_json::from_str(&combined("btcusdt@trade", &data)).unwrap();
        assert_eq!(v["stream"], "btcusdt@trade");
        assert_eq!(v["data"], serde_json::from_str::<Value>(&data).unwrap());
    }

    #[test]
    fn ticker_equals_the_rest_row_at_the_same_instant() {
        let m = market();
        let s = m.symbol("ETHUSDT").unwrap();
        let ev: Value = serde_json::from_str(&ticker(&m, s, NOW, TimeUnit::Milli)).unwrap();
        let rest: Value =
            serde_json::from_str(&serde_json::to_string(&ticker_row(&m, s, NOW_MS)).unwrap())
                .unwrap();
        for (ws, r) in [
            ("p", "priceChange"),
            ("P", "priceChangePercent"),
            ("w", "weightedAvgPrice"),
            ("x", "prevClosePrice"),
            ("c", "lastPrice"),
            ("Q", "lastQty"),
            ("b", "bidPrice"),
            ("B", "bidQty"),
            ("a", "askPrice"),
            ("A", "askQty"),
            ("o", "openPrice"),
            ("h", "highPrice"),
            ("l", "lowPrice"),
            ("v", "volume"),
            ("q", "quoteVolume"),
            ("O", "openTime"),
            ("C", "closeTime"),
            ("F", "firstId"),
            ("L", "lastId"),
            ("n", "count"),
        ] {
            assert_eq!(ev[ws], rest[r], "{ws} vs {r}");
        }
        assert_eq!(ev["E"], NOW_MS);
        assert_eq!(ev["s"], "ETHUSDT");
    }

    #[test]
    fn microseconds() {
        let m = market();
        let s = m.symbol("BTCUSDT").unwrap();
        let us = TimeUnit::Micro;
        let ev: Value = serde_json::from_str(&ticker(&m, s, NOW, us)).unwrap();
        assert_eq!(ev["E"], NOW.us);
        assert_eq!(ev["C"], NOW_MS * 1000);
        let t = m.trade(s, m.last_trade_id(s, NOW_MS));
        let ev: Value = serde_json::from_str(&trade(s, &t, NOW, us)).unwrap();
        assert_eq!(ev["T"], t.time * 1000);
        let iv = Interval::parse("1m").unwrap();
        let open = iv.align(NOW_MS);
        let ev: Value = serde_json::from_str(&kline(&m, s, (iv, "1m"), open, NOW, us)).unwrap();
        assert_eq!(ev["k"]["t"], open * 1000);
        assert_eq!(ev["k"]["T"], (open + 60_000) * 1000 - 1);
        let ev: Value = serde_json::from_str(&server_shutdown(NOW, us)).unwrap();
        assert_eq!(ev, serde_json::json!({"e": "serverShutdown", "E": NOW.us}));
    }

    #[test]
    fn kline_values_match_the_candle() {
        let m = market();
        let s = m.symbol("SOLUSDT").unwrap();
        let iv = Interval::parse("1m").unwrap();
        let open = iv.align(NOW_MS);
        let c = m.candle(s, iv, open, NOW_MS);
        let ev: Value =
            serde_json::from_str(&kline(&m, s, (iv, "1m"), open, NOW, TimeUnit::Milli)).unwrap();
        let k = &ev["k"];
        assert_eq!(k["c"], fmt_units(m.price_at(s, NOW_MS)));
        assert_eq!(k["o"], fmt_units(c.open));
        assert_eq!(k["n"], c.trades);
        assert_eq!(k["x"], false);
        assert_eq!(
            k["L"].as_i64().unwrap() - k["f"].as_i64().unwrap() + 1,
            c.trades as i64
        );
        assert_eq!(k["L"], m.last_trade_id(s, NOW_MS));
        // Seen after its close, the same candle is final.
        let later = Now::from_us((open + 61_000) * 1000);
        let ev: Value =
            serde_json::from_str(&kline(&m, s, (iv, "1m"), open, later, TimeUnit::Milli)).unwrap();
        assert_eq!(ev["k"]["x"], true);
    }

    #[test]
    fn book_ticker_matches_the_book() {
        let m = market();
        let s = m.symbol("BNBUSDT").unwrap();
        let (text, u) = book_ticker(&m, s, NOW);
        let ev: Value = serde_json::from_str(&text).unwrap();
        let b = m.book(s, NOW_MS, 1);
        assert_eq!(ev["u"], b.last_update_id);
        assert_eq!(u, b.last_update_id);
        assert_eq!(ev["b"], fmt_units(b.bids[0].0));
        assert_eq!(ev["a"], fmt_units(b.asks[0].0));
        assert_eq!(ev["a"], fmt_units(m.price_at(s, NOW_MS)));
    }

    #[test]
    fn envelope() {
        assert_eq!(
            combined("btcusdt@ticker", "{\"e\":1}"),
            "{\"stream\":\"btcusdt@ticker\",\"data\":{\"e\":1}}"
        );
    }
}
