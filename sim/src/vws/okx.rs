//! OKX v5 public websocket (`/ws/v5/public`, candles on `/ws/v5/business`).
//!
//! * `{"op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"}],"id":"1"}` →
//!   `{"id":"1","event":"subscribe","arg":{..},"connId":".."}` per arg (`unsubscribe` alike);
//!   a bad request → `{"event":"error","code":"60012",..}`, an unknown channel or instrument →
//!   `"60018"`. Text `ping` → `pong`. Before the simulator's shutdown closes a connection:
//!   `{"event":"notice","code":"64008",..}`, as OKX before a service upgrade.
//! * `tickers` (the REST ticker row), `books` (400 levels: `action` `snapshot` then `update`,
//!   `seqId` = walk step, `prevSeqId` the previous message's (−1 on a snapshot), `checksum`
//!   CRC32 signed over 25 levels), `books5` and `bbo-tbt` (the whole 5- / 1-level book each
//!   step), `trades`; on `/ws/v5/business` `candle<bar>` (`candle1m`, `candle1H`, ..).

use super::book::okx_checksum;
use super::conn::{Ctx, Handled, Protocol};
use super::topics::{BookEvent, Kind, Msg, TopicKey};
use super::Format;
use crate::market::candles::Candle;
use crate::market::trades::Trade;
use crate::market::{Market, Symbol};
use crate::state::SimState;
use crate::venues::format::{float, trimmed};
use crate::venues::okx::data;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Levels of the `books` channel.
pub const BOOK_DEPTH: usize = 400;

/// `/ws/v5/public` (tickers, books, trades) or `/ws/v5/business` (candles: OKX moved them
/// there in 2023); a channel asked on the wrong one is refused with 60018, as OKX does.
pub struct Okx {
    pub business: bool,
}

pub const PUBLIC: Okx = Okx { business: false };
pub const BUSINESS: Okx = Okx { business: true };

fn msg(v: &Value) -> Arc<Msg> {
    Msg::text(v.to_string())
}

/// The channel name of a topic (`candle1m` for a 1-minute candle).
fn channel(key: &TopicKey) -> String {
    match key.kind {
        Kind::Ticker => "tickers".into(),
        Kind::Book => match key.depth {
            1 => "bbo-tbt".into(),
            5 => "books5".into(),
            _ => "books".into(),
        },
        Kind::Trades => "trades".into(),
        Kind::Candle(iv) => {
            let name = crate::market::interval::NAMES
                .into_iter()
                .find(|n| crate::market::interval::Interval::parse(n) == Some(iv))
                .unwrap_or("1m");
            // OKX spells hours, days and weeks in capitals: 1H, 1D, 1W (1M is a month).
            let okx = match name.chars().last() {
                Some('h' | 'd' | 'w') => name.to_uppercase(),
                _ => name.to_string(),
            };
            format!("candle{okx}")
        }
    }
}

fn parse_channel(c: &str) -> Option<(Kind, usize)> {
    match c {
        "tickers" => Some((Kind::Ticker, 0)),
        "books" => Some((Kind::Book, BOOK_DEPTH)),
        "books5" => Some((Kind::Book, 5)),
        "bbo-tbt" => Some((Kind::Book, 1)),
        "trades" => Some((Kind::Trades, 0)),
        _ => c
            .strip_prefix("candle")
            .and_then(data::bar)
            .map(|iv| (Kind::Candle(iv), 0)),
    }
}

fn arg(m: &Market, s: &Symbol, key: &TopicKey) -> Value {
    json!({"channel": channel(key), "instId": m.venue_id(s)})
}

fn with_id(mut v: Value, id: Option<&Value>) -> Value {
    if let (Some(id), Some(obj)) = (id, v.as_object_mut()) {
        obj.insert("id".into(), id.clone());
    }
    v
}

impl Protocol for Okx {
    /// OKX announces a service upgrade's disconnection (then closes after the grace period).
    fn shutdown_notice(&self, ctx: &Ctx) -> Option<Arc<Msg>> {
        Some(msg(&json!({
            "event": "notice", "code": "64008",
            "msg": "The connection will soon be closed for a service upgrade. Please reconnect.",
            "connId": ctx.conn_id
        })))
    }

    fn handle(&self, st: &SimState, ctx: &Ctx, text: &str) -> Handled {
        let mut h = Handled::default();
        if text == "ping" {
            st.vws.counters.pings.fetch_add(1, Ordering::Relaxed);
            h.replies.push(Msg::text("pong".into()));
            return h;
        }
        let error = |code: &str, msg: String, id: Option<&Value>| {
            st.vws.counters.refused.fetch_add(1, Ordering::Relaxed);
            Msg::text(
                with_id(
                    json!({"event": "error", "code": code, "msg": msg, "connId": ctx.conn_id}),
                    id,
                )
                .to_string(),
            )
        };
        let req: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(_) => {
                h.replies
                    .push(error("60012", format!("Invalid request: {text}"), None));
                return h;
            }
        };
        let id = req.get("id");
        let op = req.get("op").and_then(Value::as_str);
        let args = req.get("args").and_then(Value::as_array);
        let (Some(op @ ("subscribe" | "unsubscribe")), Some(args)) = (op, args) else {
            h.replies
                .push(error("60012", format!("Invalid request: {text}"), id));
            return h;
        };
        let m = st.market();
        for a in args {
            let ch = a.get("channel").and_then(Value::as_str).unwrap_or_default();
            let inst = a.get("instId").and_then(Value::as_str).unwrap_or_default();
            let found = parse_channel(ch)
                .filter(|(kind, _)| matches!(kind, Kind::Candle(_)) == self.business)
                .zip(m.by_venue_id(inst));
            let Some(((kind, depth), s)) = found else {
                h.replies.push(error(
                    "60018",
                    format!(
                        "Wrong URL or channel:{ch},instId:{inst} doesn't exist. Please use the \
                         correct URL, channel and parameters referring to API document."
                    ),
                    id,
                ));
                continue;
            };
            let key = TopicKey {
                kind,
                symbol: s.name.clone(),
                depth,
            };
            let ack =
                json!({"event": op, "arg": {"channel": ch, "instId": inst}, "connId": ctx.conn_id});
            h.replies.push(msg(&with_id(ack, id)));
            if op == "subscribe" {
                st.vws.counters.subscribed.fetch_add(1, Ordering::Relaxed);
                h.subscribe.push(key);
            } else {
                st.vws.counters.unsubscribed.fetch_add(1, Ordering::Relaxed);
                h.unsubscribe.push(key);
            }
        }
        h
    }
}

/// `[px, sz, "0", orders]`; a removed level is `[px, "0", "0", "0"]`.
fn levels(side: &[(u64, u64)]) -> Vec<[String; 4]> {
    side.iter()
        .map(|&(px, q)| {
            let orders = if q == 0 { "0" } else { "1" };
            [trimmed(px), trimmed(q), "0".into(), orders.into()]
        })
        .collect()
}

impl Format for Okx {
    fn incremental(&self, key: &TopicKey) -> bool {
        key.depth == BOOK_DEPTH
    }

    fn book(&self, m: &Market, s: &Symbol, key: &TopicKey, ev: &BookEvent<'_>) -> Arc<Msg> {
        // `books5` and `bbo-tbt` push the whole (5- or 1-level) book each time, no checksum.
        if key.depth == 5 || key.depth == 1 {
            let mut item = json!({
                "asks": levels(&ev.book.asks), "bids": levels(&ev.book.bids),
                "ts": ev.ts_ms.to_string(), "seqId": ev.seq
            });
            if let (5, Some(o)) = (key.depth, item.as_object_mut()) {
                o.insert("instId".into(), m.venue_id(s).into());
            }
            return msg(&json!({"arg": arg(m, s, key), "data": [item]}));
        }
        let mut checksum = okx_checksum(ev.book);
        if ev.corrupt {
            checksum = checksum.wrapping_add(1);
        }
        let prev: i64 = ev.prev_seq.map_or(-1, |p| p as i64);
        msg(&json!({
            "arg": arg(m, s, key),
            "action": if ev.snapshot { "snapshot" } else { "update" },
            "data": [{
                "asks": levels(ev.asks), "bids": levels(ev.bids), "ts": ev.ts_ms.to_string(),
                "checksum": checksum, "prevSeqId": prev, "seqId": ev.seq
            }]
        }))
    }

    fn ticker(&self, m: &Market, s: &Symbol, key: &TopicKey, now: u64) -> Option<Arc<Msg>> {
        Some(msg(
            &json!({"arg": arg(m, s, key), "data": [data::ticker(m, s, now)]}),
        ))
    }

    fn trades(
        &self,
        m: &Market,
        s: &Symbol,
        key: &TopicKey,
        trades: &[Trade],
        _now: u64,
    ) -> Arc<Msg> {
        let rows: Vec<Value> = trades
            .iter()
            .map(|t| {
                json!({
                    "instId": m.venue_id(s), "tradeId": t.id.to_string(), "px": trimmed(t.price),
                    "sz": trimmed(t.qty), "side": if t.buyer_maker { "sell" } else { "buy" },
                    "ts": t.time.to_string(), "count": "1"
                })
            })
            .collect();
        msg(&json!({"arg": arg(m, s, key), "data": rows}))
    }

    fn candle(&self, m: &Market, s: &Symbol, key: &TopicKey, c: &Candle, now: u64) -> Arc<Msg> {
        let confirm = if c.close_time < now { "1" } else { "0" };
        let row = json!([
            c.open_time.to_string(),
            trimmed(c.open),
            trimmed(c.high),
            trimmed(c.low),
            trimmed(c.close),
            trimmed(c.volume),
            float(c.quote_volume, 4),
            float(c.quote_volume, 4),
            confirm
        ]);
        msg(&json!({"arg": arg(m, s, key), "data": [row]}))
    }
}
