//! Kraken spot websocket v2 (`/v2`). Symbols are `BTC/USDT` (v2 spells BTC, not XBT).
//!
//! * On connect: `{"channel":"status","type":"update","data":[{"system":"online",..}]}`; then
//!   `{"channel":"heartbeat"}` every second while anything is subscribed.
//! * `{"method":"subscribe","params":{"channel":"book","symbol":["BTC/USDT"],"depth":10},
//!   "req_id":1}` → one reply per symbol, `{"method":"subscribe","result":{"channel":"book",
//!   "depth":10,"snapshot":true,"symbol":"BTC/USDT"},"success":true,"time_in":..,"time_out":..,
//!   "req_id":1}`, or `success: false` with `error` (unknown pair, channel, depth).
//!   `unsubscribe` alike. `{"method":"ping","req_id":2}` → `{"method":"pong","req_id":2,..}`.
//! * `ticker`, `book` (depth 10, 25, 100, 500, 1000: `snapshot` then `update`s, each with
//!   `checksum`: CRC32 of the top 10 asks then bids, points removed, leading zeros stripped),
//!   `trade` (a subscription starts with a `snapshot` of the last 50 trades; `ticker` with a
//!   `snapshot` too), `ohlc` (`interval` in minutes). Prices and sizes are JSON numbers printed exactly
//!   (the checksum is over that text).

use super::book::kraken_checksum;
use super::conn::{Ctx, Handled, Protocol};
use super::topics::{BookEvent, Kind, Msg, TopicKey};
use super::Format;
use crate::market::candles::Candle;
use crate::market::interval::Interval;
use crate::market::trades::Trade;
use crate::market::{Market, Symbol};
use crate::state::{now_ms, SimState};
use crate::venues::format::{rfc3339_micros, trimmed};
use crate::venues::kraken::data;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;

const DEPTHS: [usize; 5] = [10, 25, 100, 500, 1000];
const INTERVALS: [u64; 8] = [1, 5, 15, 30, 60, 240, 1440, 10080];

pub struct Kraken;

/// A JSON string literal.
fn s(v: &str) -> String {
    Value::from(v).to_string()
}

/// A JSON object from already-encoded values, in this order.
fn obj(fields: &[(&str, String)]) -> String {
    let inner: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
    format!("{{{}}}", inner.join(","))
}

/// A decimal as a JSON number, exactly.
fn num(units: u64) -> String {
    trimmed(units)
}

pub fn symbol_id(s: &Symbol) -> String {
    format!("{}/{}", s.base, s.quote)
}

fn minutes(iv: Interval) -> u64 {
    INTERVALS
        .into_iter()
        .find(|m| data::interval(&m.to_string()) == Some(iv))
        .unwrap_or(1)
}

fn channel_msg(channel: &str, kind: &str, item: String) -> Arc<Msg> {
    Msg::text(obj(&[
        ("channel", s(channel)),
        ("type", s(kind)),
        ("data", format!("[{item}]")),
    ]))
}

impl Protocol for Kraken {
    fn hello(&self, ctx: &Ctx) -> Option<Arc<Msg>> {
        let status = json!({
            "channel": "status", "type": "update",
            "data": [{"api_version": "v2", "connection_id": ctx.conn.id, "system": "online", "version": "2.0.0"}]
        });
        Some(Msg::text(status.to_string()))
    }

    fn second(&self, ctx: &Ctx) -> Option<Arc<Msg>> {
        let any = !ctx
            .subs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_empty();
        any.then(|| Msg::text(r#"{"channel":"heartbeat"}"#.into()))
    }

    fn handle(&self, st: &SimState, ctx: &Ctx, text: &str) -> Handled {
        let mut h = Handled::default();
        let time_in = rfc3339_micros(now_ms());
        let req: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        let req_id = req.get("req_id").cloned();
        let method = req
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let finish = |mut v: Value| {
            if let Some(o) = v.as_object_mut() {
                o.insert("time_in".into(), time_in.clone().into());
                o.insert("time_out".into(), rfc3339_micros(now_ms()).into());
                if let Some(id) = &req_id {
                    o.insert("req_id".into(), id.clone());
                }
            }
            Msg::text(v.to_string())
        };
        let refuse = |error: String, symbol: Option<&str>| {
            st.vws.counters.refused.fetch_add(1, Ordering::Relaxed);
            let mut v = json!({"error": error, "method": method, "success": false});
            if let (Some(sym), Some(o)) = (symbol, v.as_object_mut()) {
                o.insert("symbol".into(), sym.into());
            }
            finish(v)
        };
        match method {
            "ping" => {
                st.vws.counters.pings.fetch_add(1, Ordering::Relaxed);
                h.replies.push(finish(json!({"method": "pong"})));
            }
            "subscribe" | "unsubscribe" => {
                let p = &req["params"];
                let channel = p["channel"].as_str().unwrap_or_default();
                let depth = p["depth"].as_u64().unwrap_or(10) as usize;
                let interval = p["interval"].as_u64().unwrap_or(1);
                let kind = match channel {
                    "ticker" => Some(Kind::Ticker),
                    "book" => Some(Kind::Book),
                    "trade" => Some(Kind::Trades),
                    "ohlc" => data::interval(&interval.to_string()).map(Kind::Candle),
                    _ => None,
                };
                let Some(kind) = kind else {
                    h.replies.push(refuse(
                        if channel == "ohlc" {
                            "EGeneral:Invalid arguments:interval".into()
                        } else {
                            format!("Channel {channel} not supported")
                        },
                        None,
                    ));
                    return h;
                };
                if kind == Kind::Book && !DEPTHS.contains(&depth) {
                    h.replies
                        .push(refuse("EGeneral:Invalid arguments:depth".into(), None));
                    return h;
                }
                let m = st.market();
                let symbols: Vec<&str> = p["symbol"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                if symbols.is_empty() {
                    h.replies
                        .push(refuse("EGeneral:Invalid arguments:symbol".into(), None));
                }
                for sym in symbols {
                    let found = sym
                        .split_once('/')
                        .and_then(|(b, q)| m.symbol(&format!("{b}{q}")));
                    let Some(sy) = found else {
                        h.replies.push(refuse(
                            format!("Currency pair not supported {sym}"),
                            Some(sym),
                        ));
                        continue;
                    };
                    let key = TopicKey {
                        kind,
                        symbol: sy.name.clone(),
                        depth: if kind == Kind::Book { depth } else { 0 },
                    };
                    if method == "unsubscribe" && !ctx.subscribed(&key) {
                        h.replies
                            .push(refuse("Subscription Not Found".into(), Some(sym)));
                        continue;
                    }
                    let mut result = json!({"channel": channel, "symbol": sym});
                    if let Some(o) = result.as_object_mut() {
                        match kind {
                            Kind::Book => {
                                o.insert("depth".into(), depth.into());
                            }
                            Kind::Candle(_) => {
                                o.insert("interval".into(), interval.into());
                            }
                            _ => {}
                        }
                        if method == "subscribe" {
                            o.insert("snapshot".into(), true.into());
                        }
                    }
                    h.replies.push(finish(
                        json!({"method": method, "result": result, "success": true}),
                    ));
                    if method == "subscribe" {
                        st.vws.counters.subscribed.fetch_add(1, Ordering::Relaxed);
                        h.subscribe.push(key);
                    } else {
                        st.vws.counters.unsubscribed.fetch_add(1, Ordering::Relaxed);
                        h.unsubscribe.push(key);
                    }
                }
            }
            _ => h
                .replies
                .push(refuse(format!("Method {method} not supported"), None)),
        }
        h
    }
}

fn levels(side: &[(u64, u64)]) -> String {
    let items: Vec<String> = side
        .iter()
        .map(|&(p, q)| obj(&[("price", num(p)), ("qty", num(q))]))
        .collect();
    format!("[{}]", items.join(","))
}

/// A float as a JSON number with `decimals` digits (0 when not finite: JSON has no NaN).
fn fnum(v: f64, decimals: usize) -> String {
    let v = if v.is_finite() { v } else { 0.0 };
    format!("{v:.decimals$}")
}

/// A signed amount of units as a JSON number.
fn signed(v: i64) -> String {
    let t = trimmed(v.unsigned_abs());
    if v < 0 {
        format!("-{t}")
    } else {
        t
    }
}

impl Format for Kraken {
    fn first(
        &self,
        m: &Market,
        s: &Symbol,
        key: &TopicKey,
        last_trade: u64,
        now: u64,
    ) -> Option<Arc<Msg>> {
        super::first_as_snapshot(self, m, s, key, last_trade, now)
    }

    fn book(&self, _m: &Market, s: &Symbol, _key: &TopicKey, ev: &BookEvent<'_>) -> Arc<Msg> {
        let mut checksum = kraken_checksum(ev.book);
        if ev.corrupt {
            checksum ^= 1;
        }
        let item = obj(&[
            ("symbol", self::s(&symbol_id(s))),
            ("bids", levels(ev.bids)),
            ("asks", levels(ev.asks)),
            ("checksum", checksum.to_string()),
            ("timestamp", self::s(&rfc3339_micros(ev.ts_ms))),
        ]);
        channel_msg(
            "book",
            if ev.snapshot { "snapshot" } else { "update" },
            item,
        )
    }

    fn ticker(&self, m: &Market, s: &Symbol, _key: &TopicKey, now: u64) -> Option<Arc<Msg>> {
        let d = m.day_stats(s, now);
        let item = obj(&[
            ("symbol", self::s(&symbol_id(s))),
            ("bid", num(d.bid)),
            ("bid_qty", num(d.bid_qty)),
            ("ask", num(d.ask)),
            ("ask_qty", num(d.ask_qty)),
            ("last", num(d.last)),
            ("volume", num(d.volume)),
            ("vwap", fnum(d.weighted_avg, 5)),
            ("low", num(d.low)),
            ("high", num(d.high)),
            ("change", signed(d.change())),
            ("change_pct", fnum(d.change_percent(), 2)),
            ("timestamp", self::s(&rfc3339_micros(now))),
        ]);
        Some(channel_msg("ticker", "update", item))
    }

    fn trades(
        &self,
        _m: &Market,
        s: &Symbol,
        _key: &TopicKey,
        trades: &[Trade],
        _now: u64,
    ) -> Arc<Msg> {
        let items: Vec<String> = trades
            .iter()
            .map(|t| {
                obj(&[
                    ("symbol", self::s(&symbol_id(s))),
                    ("side", self::s(if t.buyer_maker { "sell" } else { "buy" })),
                    ("price", num(t.price)),
                    ("qty", num(t.qty)),
                    ("ord_type", self::s("market")),
                    ("trade_id", t.id.to_string()),
                    ("timestamp", self::s(&rfc3339_micros(t.time))),
                ])
            })
            .collect();
        channel_msg("trade", "update", items.join(","))
    }

    fn candle(&self, _m: &Market, s: &Symbol, key: &TopicKey, c: &Candle, _now: u64) -> Arc<Msg> {
        let Kind::Candle(iv) = key.kind else {
            return Msg::text(String::new());
        };
        let vwap = if c.volume == 0 {
            crate::market::decimal::to_f64(c.close)
        } else {
            c.quote_volume / crate::market::decimal::to_f64(c.volume)
        };
        // Kraken prints nanoseconds: the microsecond time with three more zeros.
        let begin = rfc3339_micros(c.open_time).replace('Z', "000Z");
        let item = obj(&[
            ("symbol", self::s(&symbol_id(s))),
            ("interval", minutes(iv).to_string()),
            ("interval_begin", self::s(&begin)),
            ("open", num(c.open)),
            ("high", num(c.high)),
            ("low", num(c.low)),
            ("close", num(c.close)),
            ("volume", num(c.volume)),
            ("vwap", fnum(vwap, 5)),
            ("trades", c.trades.to_string()),
        ]);
        channel_msg("ohlc", "update", item)
    }
}
