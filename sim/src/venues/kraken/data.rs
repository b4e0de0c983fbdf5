//! Kraken `result` objects, built from the shared market.

use super::{altname, asset_id};
use crate::market::candles::Range;
use crate::market::decimal::ONE;
use crate::market::interval::Interval;
use crate::market::{Market, Symbol};
use crate::rest::Params;
use crate::venues::format::{decimals_of, fixed, float};
use crate::venues::{limit_param, u64_param, Reject};
use serde_json::{json, Map, Value};

/// Volumes are printed with 8 decimals (Kraken's lot_decimals for the simulated pairs).
const LOT_DECIMALS: u32 = 8;

fn px(s: &Symbol, units: u64) -> String {
    fixed(units, decimals_of(s.tick))
}

fn vol(units: u64) -> String {
    fixed(units, LOT_DECIMALS)
}

/// The one pair a market-data endpoint needs.
fn pair<'m>(m: &'m Market, p: &Params) -> Result<&'m Symbol, Reject> {
    let id = p
        .get("pair")
        .ok_or_else(|| Reject::BadParam("pair".into()))?;
    m.by_venue_id(id).ok_or(Reject::UnknownSymbol)
}

/// `pair=A,B` (all pairs when absent); any unknown one fails the request, as on Kraken.
fn pairs<'m>(m: &'m Market, p: &Params) -> Result<Vec<&'m Symbol>, Reject> {
    match p.get("pair") {
        None => Ok(m.symbols().iter().collect()),
        Some(list) => list
            .split(',')
            .map(|id| m.by_venue_id(id).ok_or(Reject::UnknownSymbol))
            .collect(),
    }
}

/// Kraken orders results by pair id. Sorted here, not left to the map: serde_json keeps
/// insertion order when another crate of the build enables its `preserve_order`.
fn keyed<'m>(m: &'m Market, list: Vec<&'m Symbol>, row: impl Fn(&Symbol) -> Value) -> Value {
    let mut keyed: Vec<(String, &Symbol)> = list
        .into_iter()
        .map(|s| (m.venue_id(s).to_string(), s))
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = Map::new();
    for (id, s) in keyed {
        out.insert(id, row(s));
    }
    Value::Object(out)
}

pub fn asset_pairs(m: &Market, p: &Params) -> Result<Value, Reject> {
    let list = pairs(m, p)?;
    Ok(keyed(m, list, |s| {
        json!({
            "altname": m.venue_id(s),
            "wsname": format!("{}/{}", altname(&s.base), altname(&s.quote)),
            "aclass_base": "currency", "base": asset_id(&s.base),
            "aclass_quote": "currency", "quote": asset_id(&s.quote),
            "lot": "unit", "cost_decimals": 5, "pair_decimals": decimals_of(s.tick),
            "lot_decimals": LOT_DECIMALS, "lot_multiplier": 1,
            "leverage_buy": [2, 3], "leverage_sell": [2, 3],
            "fees": [[0, 0.4], [10000, 0.35]], "fees_maker": [[0, 0.25], [10000, 0.2]],
            "fee_volume_currency": "ZUSD", "margin_call": 80, "margin_stop": 40,
            "ordermin": vol(s.step), "costmin": "0.5",
            "tick_size": crate::venues::format::trimmed(s.tick), "status": "online",
            "long_position_limit": 80, "short_position_limit": 80
        })
    }))
}

/// Every asset of the listed pairs (ccxt loads these with the markets).
pub fn assets(m: &Market) -> Value {
    let mut out = Map::new();
    for s in m.symbols() {
        for code in [&s.base, &s.quote] {
            out.entry(asset_id(code)).or_insert_with(|| {
                json!({
                    "aclass": "currency", "altname": altname(code), "decimals": 10,
                    "display_decimals": 5, "collateral_value": 1.0, "status": "enabled"
                })
            });
        }
    }
    Value::Object(out)
}

/// Ticker rows. Kraken's "today" fields (index 0) are given the rolling 24 h values too; ccxt
/// reads the 24 h ones (index 1).
pub fn ticker(m: &Market, p: &Params, now: u64) -> Result<Value, Reject> {
    let list = pairs(m, p)?;
    Ok(keyed(m, list, |s| {
        let d = m.day_stats(s, now);
        let lots = |q: u64| q.div_ceil(ONE).max(1).to_string();
        json!({
            "a": [px(s, d.ask), lots(d.ask_qty), vol(d.ask_qty)],
            "b": [px(s, d.bid), lots(d.bid_qty), vol(d.bid_qty)],
            "c": [px(s, d.last), vol(d.last_qty)],
            "v": [vol(d.volume), vol(d.volume)],
            "p": [float(d.weighted_avg, 5), float(d.weighted_avg, 5)],
            "t": [d.count, d.count],
            "l": [px(s, d.low), px(s, d.low)],
            "h": [px(s, d.high), px(s, d.high)],
            "o": px(s, d.open)
        })
    }))
}

/// `count` levels a side (default 100, at most 500): `[price, volume, timestamp_s]`.
pub fn depth(m: &Market, p: &Params, now: u64) -> Result<Value, Reject> {
    let s = pair(m, p)?;
    let book = m.book(s, now, limit_param(p, "count", 100, 500)?);
    let ts = now / 1000;
    let side = |levels: &[(u64, u64)]| -> Vec<Value> {
        levels
            .iter()
            .map(|&(price, q)| json!([px(s, price), vol(q), ts]))
            .collect()
    };
    Ok(keyed(
        m,
        vec![s],
        |_| json!({"asks": side(&book.asks), "bids": side(&book.bids)}),
    ))
}

/// Kraken `interval` (minutes) → the market's interval.
pub fn interval(minutes: &str) -> Option<Interval> {
    let name = match minutes {
        "1" => "1m",
        "5" => "5m",
        "15" => "15m",
        "30" => "30m",
        "60" => "1h",
        "240" => "4h",
        "1440" => "1d",
        "10080" => "1w",
        _ => return None,
    };
    Interval::parse(name)
}

/// Up to 720 candles, oldest first, `[time_s, o, h, l, c, vwap, volume, count]`; from `since`
/// (seconds) if given. `last` is the open time of the last closed candle.
pub fn ohlc(m: &Market, p: &Params, now: u64) -> Result<Value, Reject> {
    let s = pair(m, p)?;
    let iv = interval(p.get("interval").unwrap_or("1"))
        .ok_or_else(|| Reject::BadParam("interval".into()))?;
    let range = Range {
        start: u64_param(p, "since")?.map(|t| t.saturating_mul(1000)),
        end: None,
        limit: 720,
    };
    let candles = m.klines(s, iv, range, now);
    let rows: Vec<Value> = candles
        .iter()
        .map(|c| {
            let vwap = if c.volume == 0 {
                0.0
            } else {
                c.quote_volume / (c.volume as f64 / ONE as f64)
            };
            json!([
                c.open_time / 1000,
                px(s, c.open),
                px(s, c.high),
                px(s, c.low),
                px(s, c.close),
                float(vwap, decimals_of(s.tick) as usize),
                vol(c.volume),
                c.trades
            ])
        })
        .collect();
    let last = iv.prev(iv.align(now)) / 1000;
    let mut out = Map::new();
    out.insert(m.venue_id(s).to_string(), Value::Array(rows));
    out.insert("last".into(), json!(last));
    Ok(Value::Object(out))
}

/// Oldest first, `[price, volume, time_s, "b"|"s", "m"|"l", "", trade_id]` (side = taker's);
/// `since` is a nanosecond timestamp, `last` the last trade's, as Kraken's cursor.
pub fn trades(m: &Market, p: &Params, now: u64) -> Result<Value, Reject> {
    let s = pair(m, p)?;
    let count = limit_param(p, "count", 1000, 1000)?;
    let since_ms = u64_param(p, "since")?.map(|ns| ns / 1_000_000);
    let list = m.trades_between(s, since_ms.map(|t| t + 1), None, count, now);
    let rows: Vec<Value> = list
        .iter()
        .map(|t| {
            json!([
                px(s, t.price),
                vol(t.qty),
                t.time as f64 / 1000.0,
                if t.buyer_maker { "s" } else { "b" },
                "l",
                "",
                t.id
            ])
        })
        .collect();
    let last_ns = list.last().map_or(now, |t| t.time) as u128 * 1_000_000;
    let mut out = Map::new();
    out.insert(m.venue_id(s).to_string(), Value::Array(rows));
    out.insert("last".into(), json!(last_ns.to_string()));
    Ok(Value::Object(out))
}
