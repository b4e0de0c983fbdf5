//! Bybit `result` objects, built from the shared market.

use crate::market::candles::Range;
use crate::market::interval::Interval;
use crate::market::{Market, Symbol};
use crate::rest::Params;
use crate::venues::format::{float, trimmed};
use crate::venues::{limit_param, u64_param, Reject};
use serde_json::{json, Value};

/// Only spot is simulated: other categories exist but list nothing.
fn spot(p: &Params) -> Result<bool, Reject> {
    match p.get("category") {
        None => Err(Reject::BadParam("Illegal category".into())),
        Some(c) => Ok(c == "spot"),
    }
}

fn symbol<'m>(m: &'m Market, p: &Params) -> Result<&'m Symbol, Reject> {
    let id = p
        .get("symbol")
        .ok_or_else(|| Reject::BadParam("params error: symbol invalid".into()))?;
    if !spot(p)? {
        return Err(Reject::UnknownSymbol);
    }
    m.by_venue_id(id).ok_or(Reject::UnknownSymbol)
}

/// The symbols a list endpoint covers: `symbol` if given (unknown → error), else all.
fn selected<'m>(m: &'m Market, p: &Params) -> Result<Vec<&'m Symbol>, Reject> {
    match p.get("symbol") {
        Some(_) => Ok(vec![symbol(m, p)?]),
        None => Ok(m.symbols().iter().collect()),
    }
}

pub fn instruments(m: &Market, p: &Params) -> Result<Value, Reject> {
    let list: Vec<Value> = if spot(p)? {
        selected(m, p)?
            .into_iter()
            .map(|s| {
                json!({
                    "symbol": m.venue_id(s), "baseCoin": s.base, "quoteCoin": s.quote,
                    "innovation": "0", "status": "Trading", "marginTrading": "utaOnly",
                    "stTag": "0",
                    "lotSizeFilter": {
                        "basePrecision": trimmed(s.step), "quotePrecision": "0.00000001",
                        "minOrderQty": trimmed(s.step), "maxOrderQty": "9000",
                        "minOrderAmt": "1", "maxOrderAmt": "4000000"
                    },
                    "priceFilter": {"tickSize": trimmed(s.tick)},
                    "riskParameters": {"priceLimitRatioX": "0.01", "priceLimitRatioY": "0.02"}
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(json!({"category": p.get("category"), "list": list, "nextPageCursor": ""}))
}

pub fn ticker(m: &Market, s: &Symbol, now: u64) -> Value {
    let d = m.day_stats(s, now);
    // Bybit reports the 24h change as a fraction ("0.0123" = +1.23 %).
    let pcnt = d.change_percent() / 100.0;
    json!({
        "symbol": m.venue_id(s),
        "bid1Price": trimmed(d.bid), "bid1Size": trimmed(d.bid_qty),
        "ask1Price": trimmed(d.ask), "ask1Size": trimmed(d.ask_qty),
        "lastPrice": trimmed(d.last), "prevPrice24h": trimmed(d.open),
        "price24hPcnt": format!("{pcnt:.4}"),
        "highPrice24h": trimmed(d.high), "lowPrice24h": trimmed(d.low),
        "turnover24h": float(d.quote_volume, 4), "volume24h": trimmed(d.volume),
        "usdIndexPrice": trimmed(d.last)
    })
}

pub fn tickers(m: &Market, p: &Params, now: u64) -> Result<Value, Reject> {
    let list: Vec<Value> = if spot(p)? {
        selected(m, p)?
            .into_iter()
            .map(|s| ticker(m, s, now))
            .collect()
    } else {
        Vec::new()
    };
    Ok(json!({"category": p.get("category"), "list": list}))
}

/// `limit` levels a side (spot: 1..=200, default 1), `[price, size]`.
pub fn orderbook(m: &Market, p: &Params, now: u64) -> Result<Value, Reject> {
    let s = symbol(m, p)?;
    let book = m.book(s, now, limit_param(p, "limit", 1, 200)?);
    let side = |levels: &[(u64, u64)]| -> Vec<[String; 2]> {
        levels
            .iter()
            .map(|&(px, q)| [trimmed(px), trimmed(q)])
            .collect()
    };
    Ok(json!({
        "s": m.venue_id(s), "b": side(&book.bids), "a": side(&book.asks),
        "ts": now, "u": book.last_update_id, "seq": book.last_update_id, "cts": now
    }))
}

/// Bybit `interval` → the market's interval.
pub fn interval(i: &str) -> Option<Interval> {
    let name = match i {
        "1" => "1m",
        "3" => "3m",
        "5" => "5m",
        "15" => "15m",
        "30" => "30m",
        "60" => "1h",
        "120" => "2h",
        "240" => "4h",
        "360" => "6h",
        "720" => "12h",
        "D" => "1d",
        "W" => "1w",
        "M" => "1M",
        _ => return None,
    };
    Interval::parse(name)
}

/// `[startTime, open, high, low, close, volume, turnover]`, newest first. With `start`, the
/// first `limit` candles from it; else the last `limit` up to `end` (or now).
pub fn kline(m: &Market, p: &Params, now: u64) -> Result<Value, Reject> {
    let s = symbol(m, p)?;
    let iv = interval(p.get("interval").unwrap_or(""))
        .ok_or_else(|| Reject::BadParam("Invalid period!".into()))?;
    let range = Range {
        start: u64_param(p, "start")?,
        end: u64_param(p, "end")?,
        limit: limit_param(p, "limit", 200, 1000)?,
    };
    let mut list: Vec<Value> = m
        .klines(s, iv, range, now)
        .into_iter()
        .map(|c| {
            json!([
                c.open_time.to_string(),
                trimmed(c.open),
                trimmed(c.high),
                trimmed(c.low),
                trimmed(c.close),
                trimmed(c.volume),
                float(c.quote_volume, 4)
            ])
        })
        .collect();
    list.reverse();
    Ok(json!({"category": "spot", "symbol": m.venue_id(s), "list": list}))
}

/// Newest first (spot: at most 60); `side` is the taker's.
pub fn recent_trades(m: &Market, p: &Params, now: u64) -> Result<Value, Reject> {
    let s = symbol(m, p)?;
    let limit = limit_param(p, "limit", 60, 60)?;
    let list: Vec<Value> = m
        .recent_trades(s, now, limit)
        .iter()
        .rev()
        .map(|t| {
            json!({
                "execId": super::exec_id(t.id), "symbol": m.venue_id(s),
                "price": trimmed(t.price), "size": trimmed(t.qty),
                "side": if t.buyer_maker { "Sell" } else { "Buy" },
                "time": t.time.to_string(), "isBlockTrade": false, "isRPITrade": false
            })
        })
        .collect();
    Ok(json!({"category": "spot", "list": list}))
}
