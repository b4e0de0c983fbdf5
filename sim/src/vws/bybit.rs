//! Bybit v5 public spot websocket (`/v5/public/spot`).
//!
//! * `{"req_id":"1","op":"subscribe","args":["orderbook.50.BTCUSDT"]}` → one
//!   `{"success":true,"ret_msg":"subscribe","conn_id":"..","req_id":"1","op":"subscribe"}` for the
//!   request, or `success: false` with `ret_msg` `Invalid topic: ..` naming the bad topic (then
//!   nothing of that request is subscribed). `unsubscribe` alike. `{"op":"ping"}` →
//!   `{"success":true,"ret_msg":"pong",..,"op":"ping"}`.
//! * `tickers.<symbol>` (REST's spot ticker without the book top), `orderbook.<1|50|200|1000>.
//!   <symbol>` (`snapshot` then `delta`s with `u` = `seq` = walk step, as REST's `u`; depth 1
//!   sends snapshots only, as Bybit), `publicTrade.<symbol>`, `kline.<interval>.<symbol>`.

use super::conn::{Ctx, Handled, Protocol};
use super::topics::{BookEvent, Kind, Msg, TopicKey};
use super::Format;
use crate::market::candles::Candle;
use crate::market::interval::Interval;
use crate::market::trades::Trade;
use crate::market::{Market, Symbol};
use crate::state::SimState;
use crate::venues::bybit::data;
use crate::venues::format::{float, trimmed};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Book depths Bybit spot offers.
const DEPTHS: [usize; 4] = [1, 50, 200, 1000];
/// Bybit's kline interval names.
const INTERVALS: [&str; 13] = [
    "1", "3", "5", "15", "30", "60", "120", "240", "360", "720", "D", "W", "M",
];

pub struct Bybit;

fn msg(v: &Value) -> Arc<Msg> {
    Msg::text(v.to_string())
}

fn interval_name(iv: Interval) -> &'static str {
    INTERVALS
        .into_iter()
        .find(|n| data::interval(n) == Some(iv))
        .unwrap_or("1")
}

/// The topic name (`orderbook.50.BTCUSDT`).
fn topic(m: &Market, s: &Symbol, key: &TopicKey) -> String {
    let id = m.venue_id(s);
    match key.kind {
        Kind::Ticker => format!("tickers.{id}"),
        Kind::Book => format!("orderbook.{}.{id}", key.depth),
        Kind::Trades => format!("publicTrade.{id}"),
        Kind::Candle(iv) => format!("kline.{}.{id}", interval_name(iv)),
    }
}

fn parse_topic(m: &Market, t: &str) -> Option<TopicKey> {
    let parts: Vec<&str> = t.split('.').collect();
    let (kind, depth, id) = match parts[..] {
        ["tickers", id] => (Kind::Ticker, 0, id),
        ["publicTrade", id] => (Kind::Trades, 0, id),
        ["orderbook", d, id] => {
            let d: usize = d.parse().ok().filter(|d| DEPTHS.contains(d))?;
            (Kind::Book, d, id)
        }
        ["kline", iv, id] => (Kind::Candle(data::interval(iv)?), 0, id),
        _ => return None,
    };
    let s = m.by_venue_id(id)?;
    Some(TopicKey {
        kind,
        symbol: s.name.clone(),
        depth,
    })
}

impl Protocol for Bybit {
    fn handle(&self, st: &SimState, ctx: &Ctx, text: &str) -> Handled {
        let mut h = Handled::default();
        let reply = |success: bool, ret_msg: String, op: &str, req_id: Option<&Value>| {
            let mut v =
                json!({"success": success, "ret_msg": ret_msg, "conn_id": ctx.conn_id, "op": op});
            if let (Some(id), Some(o)) = (req_id, v.as_object_mut()) {
                o.insert("req_id".into(), id.clone());
            }
            msg(&v)
        };
        let Ok(req) = serde_json::from_str::<Value>(text) else {
            st.vws.counters.refused.fetch_add(1, Ordering::Relaxed);
            h.replies.push(reply(
                false,
                format!("error:invalid request: {text}"),
                "",
                None,
            ));
            return h;
        };
        let req_id = req.get("req_id");
        let op = req.get("op").and_then(Value::as_str).unwrap_or_default();
        match op {
            "ping" => {
                st.vws.counters.pings.fetch_add(1, Ordering::Relaxed);
                h.replies.push(reply(true, "pong".into(), op, req_id));
            }
            "subscribe" | "unsubscribe" => {
                let m = st.market();
                let args: Vec<&str> = req
                    .get("args")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let keys: Vec<Option<TopicKey>> = args.iter().map(|t| parse_topic(&m, t)).collect();
                if let Some(bad) = args.iter().zip(&keys).find(|(_, k)| k.is_none()) {
                    st.vws.counters.refused.fetch_add(1, Ordering::Relaxed);
                    h.replies.push(reply(
                        false,
                        format!("Invalid topic: {}", bad.0),
                        op,
                        req_id,
                    ));
                    return h;
                }
                if args.is_empty() {
                    st.vws.counters.refused.fetch_add(1, Ordering::Relaxed);
                    h.replies
                        .push(reply(false, "args is empty".into(), op, req_id));
                    return h;
                }
                // Spot answers with the op's name (linear's `ret_msg` is empty).
                h.replies.push(reply(true, op.to_string(), op, req_id));
                let keys: Vec<TopicKey> = keys.into_iter().flatten().collect();
                let counter = if op == "subscribe" {
                    &st.vws.counters.subscribed
                } else {
                    &st.vws.counters.unsubscribed
                };
                counter.fetch_add(keys.len() as u64, Ordering::Relaxed);
                if op == "subscribe" {
                    h.subscribe = keys;
                } else {
                    h.unsubscribe = keys;
                }
            }
            _ => {
                st.vws.counters.refused.fetch_add(1, Ordering::Relaxed);
                h.replies.push(reply(
                    false,
                    format!("error:handler not found,op:{op}"),
                    op,
                    req_id,
                ));
            }
        }
        h
    }
}

fn levels(side: &[(u64, u64)]) -> Vec<[String; 2]> {
    side.iter()
        .map(|&(p, q)| [trimmed(p), trimmed(q)])
        .collect()
}

impl Format for Bybit {
    fn incremental(&self, key: &TopicKey) -> bool {
        key.depth != 1
    }

    fn book(&self, m: &Market, s: &Symbol, key: &TopicKey, ev: &BookEvent<'_>) -> Arc<Msg> {
        // Depth 1 is always a snapshot (the whole one-level book).
        let snapshot = ev.snapshot || key.depth == 1;
        let (bids, asks) = if snapshot {
            (&ev.book.bids[..], &ev.book.asks[..])
        } else {
            (ev.bids, ev.asks)
        };
        msg(&json!({
            "topic": topic(m, s, key), "type": if snapshot { "snapshot" } else { "delta" },
            "ts": ev.ts_ms,
            "data": {"s": m.venue_id(s), "b": levels(bids), "a": levels(asks), "u": ev.seq, "seq": ev.seq},
            "cts": ev.ts_ms
        }))
    }

    fn ticker(&self, m: &Market, s: &Symbol, key: &TopicKey, now: u64) -> Option<Arc<Msg>> {
        let mut t = data::ticker(m, s, now);
        if let Some(o) = t.as_object_mut() {
            // The spot stream has no book top (that is `orderbook.1`).
            for k in ["bid1Price", "bid1Size", "ask1Price", "ask1Size"] {
                o.remove(k);
            }
        }
        let cs = m.walk().step_at(now);
        Some(msg(&json!({
            "topic": topic(m, s, key), "ts": now, "type": "snapshot", "cs": cs, "data": t
        })))
    }

    fn trades(
        &self,
        m: &Market,
        s: &Symbol,
        key: &TopicKey,
        trades: &[Trade],
        now: u64,
    ) -> Arc<Msg> {
        let rows: Vec<Value> = trades
            .iter()
            .map(|t| {
                json!({
                    "T": t.time, "s": m.venue_id(s), "S": if t.buyer_maker { "Sell" } else { "Buy" },
                    "v": trimmed(t.qty), "p": trimmed(t.price), "i": crate::venues::bybit::exec_id(t.id), "BT": false
                })
            })
            .collect();
        msg(&json!({"topic": topic(m, s, key), "type": "snapshot", "ts": now, "data": rows}))
    }

    fn candle(&self, m: &Market, s: &Symbol, key: &TopicKey, c: &Candle, now: u64) -> Arc<Msg> {
        let Kind::Candle(iv) = key.kind else {
            return msg(&Value::Null);
        };
        msg(&json!({
            "topic": topic(m, s, key),
            "data": [{
                "start": c.open_time, "end": c.close_time, "interval": interval_name(iv),
                "open": trimmed(c.open), "close": trimmed(c.close), "high": trimmed(c.high),
                "low": trimmed(c.low), "volume": trimmed(c.volume),
                "turnover": float(c.quote_volume, 4), "confirm": c.close_time < now,
                "timestamp": now
            }],
            "ts": now, "type": "snapshot"
        }))
    }
}
