//! OKX response `data` arrays, built from the shared market.

use crate::market::candles::Range;
use crate::market::interval::Interval;
use crate::market::{Market, Symbol};
use crate::rest::Params;
use crate::venues::format::{float, trimmed};
use crate::venues::{limit_param, u64_param, Reject};
use serde_json::{json, Value};

const DAY: u64 = 86_400_000;
const HOUR: u64 = 3_600_000;

/// The `instId` parameter's symbol.
pub fn inst<'m>(m: &'m Market, p: &Params) -> Result<&'m Symbol, Reject> {
    let id = p
        .get("instId")
        .ok_or_else(|| Reject::BadParam("Parameter instId can not be empty".into()))?;
    m.by_venue_id(id).ok_or(Reject::UnknownSymbol)
}

fn inst_type_spot(p: &Params) -> Result<bool, Reject> {
    match p.get("instType") {
        None => Err(Reject::BadParam(
            "Parameter instType can not be empty".into(),
        )),
        Some(t) => Ok(t == "SPOT"),
    }
}

pub fn instruments(m: &Market, p: &Params) -> Result<Value, Reject> {
    if !inst_type_spot(p)? {
        // Only spot markets are simulated; other types exist but list nothing.
        return Ok(json!([]));
    }
    let wanted = p.get("instId");
    Ok(m.symbols()
        .iter()
        .filter(|s| wanted.is_none_or(|w| w == m.venue_id(s)))
        .map(|s| {
            json!({
                "alias": "", "auctionEndTime": "", "baseCcy": s.base, "category": "1",
                "ctMult": "", "ctType": "", "ctVal": "", "ctValCcy": "", "expTime": "",
                "instFamily": "", "instId": m.venue_id(s), "instType": "SPOT", "lever": "10",
                "listTime": "1548133413000", "lotSz": trimmed(s.step),
                "maxIcebergSz": "9999999999.0000000000000000", "maxLmtAmt": "20000000",
                "maxLmtSz": "9999999999", "maxMktAmt": "1000000", "maxMktSz": "1000000",
                "maxStopSz": "1000000", "maxTriggerSz": "9999999999.0000000000000000",
                "maxTwapSz": "9999999999.0000000000000000", "minSz": trimmed(s.step),
                "optType": "", "quoteCcy": s.quote, "ruleType": "normal", "settleCcy": "",
                "state": "live", "stk": "", "tickSz": trimmed(s.tick), "uly": ""
            })
        })
        .collect())
}

/// One ticker row. `last` is the walk price, bid/ask the book's best levels.
pub fn ticker(m: &Market, s: &Symbol, now: u64) -> Value {
    let d = m.day_stats(s, now);
    let sod_utc0 = now - now % DAY;
    let sod_utc8 = ((now + 8 * HOUR) / DAY * DAY).saturating_sub(8 * HOUR);
    json!({
        "instType": "SPOT", "instId": m.venue_id(s),
        "last": trimmed(d.last), "lastSz": trimmed(d.last_qty),
        "askPx": trimmed(d.ask), "askSz": trimmed(d.ask_qty),
        "bidPx": trimmed(d.bid), "bidSz": trimmed(d.bid_qty),
        "open24h": trimmed(d.open), "high24h": trimmed(d.high), "low24h": trimmed(d.low),
        "volCcy24h": float(d.quote_volume, 4), "vol24h": trimmed(d.volume),
        "ts": now.to_string(),
        "sodUtc0": trimmed(m.price_at(s, sod_utc0)), "sodUtc8": trimmed(m.price_at(s, sod_utc8))
    })
}

pub fn tickers(m: &Market, p: &Params, now: u64) -> Result<Value, Reject> {
    if !inst_type_spot(p)? {
        return Ok(json!([]));
    }
    Ok(m.symbols().iter().map(|s| ticker(m, s, now)).collect())
}

/// `sz` levels a side (default 1, as OKX), `[px, sz, "0", orders]`.
pub fn books(m: &Market, p: &Params, now: u64, max: usize) -> Result<Value, Reject> {
    let s = inst(m, p)?;
    let book = m.book(s, now, limit_param(p, "sz", 1, max)?);
    let side = |levels: &[(u64, u64)]| -> Vec<[String; 4]> {
        levels
            .iter()
            .map(|&(px, q)| [trimmed(px), trimmed(q), "0".into(), "1".into()])
            .collect()
    };
    Ok(json!([{"asks": side(&book.asks), "bids": side(&book.bids), "ts": now.to_string()}]))
}

/// OKX `bar` → the market's interval (6h and longer come as `6Hutc` from ccxt; the plain ones
/// are Hong Kong aligned on OKX and served UTC aligned here).
pub fn bar(b: &str) -> Option<Interval> {
    let name = match b.trim_end_matches("utc") {
        "1s" => "1s",
        "1m" => "1m",
        "3m" => "3m",
        "5m" => "5m",
        "15m" => "15m",
        "30m" => "30m",
        "1H" => "1h",
        "2H" => "2h",
        "4H" => "4h",
        "6H" => "6h",
        "12H" => "12h",
        "1D" => "1d",
        "3D" => "3d",
        "1W" => "1w",
        "1M" => "1M",
        _ => return None,
    };
    Interval::parse(name)
}

/// Newest first; `after` = older than, `before` = newer than (both exclusive, ms).
pub fn candles(m: &Market, p: &Params, now: u64, max: usize) -> Result<Value, Reject> {
    let s = inst(m, p)?;
    let iv = bar(p.get("bar").unwrap_or("1m"))
        .ok_or_else(|| Reject::BadParam("Parameter bar error".into()))?;
    let limit = limit_param(p, "limit", 100, max)?;
    let after = u64_param(p, "after")?;
    let before = u64_param(p, "before")?;
    let range = Range {
        start: None,
        end: after.map(|a| a.saturating_sub(1)),
        limit,
    };
    let mut rows: Vec<Value> = m
        .klines(s, iv, range, now)
        .into_iter()
        .filter(|c| before.is_none_or(|b| c.open_time > b) && after.is_none_or(|a| c.open_time < a))
        .map(|c| {
            let closed = if c.close_time < now { "1" } else { "0" };
            json!([
                c.open_time.to_string(),
                trimmed(c.open),
                trimmed(c.high),
                trimmed(c.low),
                trimmed(c.close),
                trimmed(c.volume),
                float(c.quote_volume, 4),
                float(c.quote_volume, 4),
                closed
            ])
        })
        .collect();
    rows.reverse();
    Ok(Value::Array(rows))
}

/// Newest first; `side` is the taker's.
pub fn trades(m: &Market, p: &Params, now: u64, max: usize) -> Result<Value, Reject> {
    let s = inst(m, p)?;
    let limit = limit_param(p, "limit", 100, max)?;
    Ok(m.recent_trades(s, now, limit)
        .iter()
        .rev()
        .map(|t| {
            json!({
                "instId": m.venue_id(s), "side": if t.buyer_maker { "sell" } else { "buy" },
                "sz": trimmed(t.qty), "px": trimmed(t.price), "source": "0",
                "tradeId": t.id.to_string(), "ts": t.time.to_string()
            })
        })
        .collect())
}
