//! Coinbase Advanced Trade market data websocket (`/`, as `wss://advanced-trade-ws.coinbase.com`).
//!
//! * `{"type":"subscribe","product_ids":["BTC-USD"],"channel":"level2"}` (`unsubscribe` alike)
//!   → a `subscriptions` message listing everything the connection now has; an unknown channel
//!   or product → `{"type":"error","message":..}`. `heartbeats` (no products) sends
//!   `heartbeat_counter` every second.
//! * Every message is `{"channel":..,"client_id":"","timestamp":..,"sequence_num":N,
//!   "events":[..]}`, `sequence_num` counting the connection's messages from 0 (a skipped
//!   update uses its number up: the next message's is one more than expected).
//! * `level2` (messages on `l2_data`: a `snapshot` of [`BOOK_DEPTH`] levels a side, then
//!   `update`s with `side` `bid`/`offer`, `price_level`, `new_quantity`), `ticker`,
//!   `market_trades` (each starting with a `snapshot` event: the ticker now, the last 50
//!   trades), `candles` (5-minute, as Coinbase).

use super::conn::{Ctx, Handled, Protocol};
use super::topics::{BookEvent, Kind, Msg, TopicKey};
use super::Format;
use crate::market::candles::{Candle, Range};
use crate::market::interval::Interval;
use crate::market::trades::Trade;
use crate::market::{Market, Symbol};
use crate::state::{now_ms, SimState};
use crate::venues::format::{rfc3339_micros, trimmed};
use crate::venues::last_price;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

/// Levels a side of the simulated `level2` book (Coinbase sends its whole book).
pub const BOOK_DEPTH: usize = 250;

pub struct Coinbase;

/// A message numbered by the connection: `head` + `sequence_num` + `tail`.
fn numbered(channel: &str, ts_ms: u64, events: &Value) -> Arc<Msg> {
    Arc::new(Msg {
        head: format!(
            r#"{{"channel":"{channel}","client_id":"","timestamp":"{}","sequence_num":"#,
            rfc3339_micros(ts_ms)
        ),
        tail: Some(format!(r#","events":{events}}}"#)),
        lost: false,
    })
}

fn five_minutes() -> Interval {
    Interval::parse("5m").unwrap_or(Interval::Month)
}

/// The subscription channel of a topic.
fn channel(kind: Kind) -> &'static str {
    match kind {
        Kind::Ticker => "ticker",
        Kind::Book => "level2",
        Kind::Trades => "market_trades",
        Kind::Candle(_) => "candles",
    }
}

fn parse_channel(c: &str) -> Option<(Kind, usize)> {
    match c {
        "ticker" => Some((Kind::Ticker, 0)),
        "level2" => Some((Kind::Book, BOOK_DEPTH)),
        "market_trades" => Some((Kind::Trades, 0)),
        "candles" => Some((Kind::Candle(five_minutes()), 0)),
        _ => None,
    }
}

fn error(st: &SimState, message: &str) -> Arc<Msg> {
    st.vws.counters.refused.fetch_add(1, Ordering::Relaxed);
    Msg::text(json!({"type": "error", "message": message}).to_string())
}

impl Protocol for Coinbase {
    fn second(&self, ctx: &Ctx) -> Option<Arc<Msg>> {
        if !ctx.flag("heartbeats") {
            return None;
        }
        let n = ctx.counter.fetch_add(1, Ordering::Relaxed);
        let now = now_ms();
        // "2026-04-07 14:30:10.000000000+00:00"
        let t = rfc3339_micros(now)
            .replace('T', " ")
            .replace('Z', "000+00:00");
        Some(numbered(
            "heartbeats",
            now,
            &json!([{"current_time": t, "heartbeat_counter": n}]),
        ))
    }

    fn handle(&self, st: &SimState, ctx: &Ctx, text: &str) -> Handled {
        let mut h = Handled::default();
        let req: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        let op = req["type"].as_str().unwrap_or_default();
        if op != "subscribe" && op != "unsubscribe" {
            h.replies.push(error(st, "Failed to parse message"));
            return h;
        }
        let ch = req["channel"].as_str().unwrap_or_default();
        let subscribe = op == "subscribe";
        if ch == "heartbeats" {
            ctx.set_flag("heartbeats", subscribe);
        } else {
            let Some((kind, depth)) = parse_channel(ch) else {
                h.replies.push(error(
                    st,
                    &format!("Failed to subscribe: unknown channel {ch}"),
                ));
                return h;
            };
            let m = st.market();
            let ids: Vec<&str> = req["product_ids"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut keys = Vec::new();
            for id in &ids {
                let Some(s) = m.by_venue_id(id) else {
                    h.replies.push(error(
                        st,
                        &format!("Failed to subscribe: unknown product {id}"),
                    ));
                    return h;
                };
                keys.push(TopicKey {
                    kind,
                    symbol: s.name.clone(),
                    depth,
                });
            }
            if keys.is_empty() {
                h.replies
                    .push(error(st, "Failed to subscribe: product_ids is empty"));
                return h;
            }
            let counter = if subscribe {
                &st.vws.counters.subscribed
            } else {
                &st.vws.counters.unsubscribed
            };
            counter.fetch_add(keys.len() as u64, Ordering::Relaxed);
            if subscribe {
                h.subscribe = keys;
            } else {
                h.unsubscribe = keys;
            }
        }
        h.replies.push(subscriptions(st, ctx, &h));
        h
    }
}

/// The `subscriptions` message: what the connection has once `h` is applied.
fn subscriptions(st: &SimState, ctx: &Ctx, h: &Handled) -> Arc<Msg> {
    let mut keys: Vec<TopicKey> = ctx
        .subs
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter(|k| !h.unsubscribe.contains(k))
        .cloned()
        .collect();
    keys.extend(h.subscribe.iter().cloned());
    let m = st.market();
    let mut by_channel: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for k in &keys {
        if let Some(s) = m.symbol(&k.symbol) {
            let ids = by_channel.entry(channel(k.kind)).or_default();
            let id = m.venue_id(s).to_string();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    for ids in by_channel.values_mut() {
        ids.sort();
    }
    if ctx.flag("heartbeats") {
        by_channel.insert("heartbeats", Vec::new());
    }
    numbered(
        "subscriptions",
        now_ms(),
        &json!([{ "subscriptions": by_channel }]),
    )
}

impl Format for Coinbase {
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

    fn book(&self, m: &Market, s: &Symbol, _key: &TopicKey, ev: &BookEvent<'_>) -> Arc<Msg> {
        let time = rfc3339_micros(ev.ts_ms);
        let entry = |side: &str, &(px, q): &(u64, u64)| json!({"side": side, "event_time": time, "price_level": trimmed(px), "new_quantity": trimmed(q)});
        let updates: Vec<Value> = ev
            .bids
            .iter()
            .map(|l| entry("bid", l))
            .chain(ev.asks.iter().map(|l| entry("offer", l)))
            .collect();
        let kind = if ev.snapshot { "snapshot" } else { "update" };
        numbered(
            "l2_data",
            ev.ts_ms,
            &json!([{"type": kind, "product_id": m.venue_id(s), "updates": updates}]),
        )
    }

    fn ticker(&self, m: &Market, s: &Symbol, _key: &TopicKey, now: u64) -> Option<Arc<Msg>> {
        let d = m.day_stats(s, now);
        // 52 weeks of weekly candles for the 52-week range.
        let weeks = m.klines(
            s,
            Interval::parse("1w")?,
            Range {
                start: None,
                end: None,
                limit: 52,
            },
            now,
        );
        let low52 = weeks.iter().map(|c| c.low).min().unwrap_or(d.low);
        let high52 = weeks.iter().map(|c| c.high).max().unwrap_or(d.high);
        let t = json!({
            "type": "ticker", "product_id": m.venue_id(s), "price": trimmed(last_price(m, s, now)),
            "volume_24_h": trimmed(d.volume), "low_24_h": trimmed(d.low), "high_24_h": trimmed(d.high),
            "low_52_w": trimmed(low52.min(d.low)), "high_52_w": trimmed(high52.max(d.high)),
            "price_percent_chg_24_h": format!("{:.2}", finite(d.change_percent())),
            "best_bid": trimmed(d.bid), "best_bid_quantity": trimmed(d.bid_qty),
            "best_ask": trimmed(d.ask), "best_ask_quantity": trimmed(d.ask_qty)
        });
        Some(numbered(
            "ticker",
            now,
            &json!([{"type": "update", "tickers": [t]}]),
        ))
    }

    fn trades(
        &self,
        m: &Market,
        s: &Symbol,
        _key: &TopicKey,
        trades: &[Trade],
        now: u64,
    ) -> Arc<Msg> {
        let rows: Vec<Value> = trades
            .iter()
            .map(|t| {
                json!({
                    "trade_id": t.id.to_string(), "product_id": m.venue_id(s),
                    "price": trimmed(t.price), "size": trimmed(t.qty),
                    "side": if t.buyer_maker { "SELL" } else { "BUY" }, "time": rfc3339_micros(t.time)
                })
            })
            .collect();
        numbered(
            "market_trades",
            now,
            &json!([{"type": "update", "trades": rows}]),
        )
    }

    fn candle(&self, m: &Market, s: &Symbol, _key: &TopicKey, c: &Candle, now: u64) -> Arc<Msg> {
        let row = json!({
            "start": (c.open_time / 1000).to_string(), "high": trimmed(c.high), "low": trimmed(c.low),
            "open": trimmed(c.open), "close": trimmed(c.close), "volume": trimmed(c.volume),
            "product_id": m.venue_id(s)
        });
        numbered(
            "candles",
            now,
            &json!([{"type": "update", "candles": [row]}]),
        )
    }
}

fn finite(v: f64) -> f64 {
    if v.is_finite() {
        v
    } else {
        0.0
    }
}
