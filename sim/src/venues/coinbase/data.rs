//! Coinbase bodies, built from the shared market.

use crate::market::candles::Range;
use crate::market::interval::Interval;
use crate::market::{Market, Symbol};
use crate::rest::Params;
use crate::venues::format::{float, rfc3339_micros, trimmed};
use crate::venues::{last_price, limit_param, u64_param, Reject};
use serde_json::{json, Value};

const FIAT: [(&str, &str, &str); 3] = [
    ("USD", "US Dollar", "0.01"),
    ("EUR", "Euro", "0.01"),
    ("GBP", "British Pound", "0.01"),
];

fn is_fiat(code: &str) -> bool {
    FIAT.iter().any(|(c, _, _)| *c == code)
}

pub fn fiat_currencies() -> Value {
    let data: Vec<Value> = FIAT
        .iter()
        .map(|(id, name, min)| json!({"id": id, "name": name, "min_size": min}))
        .collect();
    json!({ "data": data })
}

/// The crypto assets of the listed products (base and non-fiat quote).
fn crypto_codes(m: &Market) -> Vec<&str> {
    let mut codes: Vec<&str> = Vec::new();
    for s in m.symbols() {
        for c in [s.base.as_str(), s.quote.as_str()] {
            if !is_fiat(c) && !codes.contains(&c) {
                codes.push(c);
            }
        }
    }
    codes
}

pub fn crypto_currencies(m: &Market) -> Value {
    let data: Vec<Value> = crypto_codes(m)
        .into_iter()
        .enumerate()
        .map(|(i, code)| {
            json!({
                "asset_id": format!("00000000-0000-4000-8000-{:012}", i + 1),
                "code": code, "name": code, "color": "#000000", "sort_index": 100 + i,
                "exponent": 8, "type": "crypto", "address_regex": ""
            })
        })
        .collect();
    json!({ "data": data })
}

/// USD per-unit rates inverted, as Coinbase's `/v2/exchange-rates` (currency USD).
pub fn exchange_rates(m: &Market, now: u64) -> Value {
    let mut rates = serde_json::Map::new();
    for s in m.symbols() {
        if matches!(s.quote.as_str(), "USDT" | "USD" | "USDC") {
            let p = crate::market::decimal::to_f64(m.price_at(s, now));
            if p > 0.0 {
                rates.insert(s.base.clone(), json!(format!("{:.10}", 1.0 / p)));
            }
        }
    }
    rates.insert("USDT".into(), json!("1.0"));
    json!({"data": {"currency": "USD", "rates": rates}})
}

pub fn product(m: &Market, s: &Symbol, now: u64) -> Value {
    let d = m.day_stats(s, now);
    let vol_change = 0.0;
    json!({
        "product_id": m.venue_id(s), "price": trimmed(last_price(m, s, now)),
        "price_percentage_change_24h": format!("{:.8}", d.change_percent()),
        "volume_24h": trimmed(d.volume),
        "volume_percentage_change_24h": format!("{vol_change:.8}"),
        "base_increment": trimmed(s.step), "quote_increment": trimmed(s.tick),
        "quote_min_size": "1", "quote_max_size": "150000000",
        "base_min_size": trimmed(s.step), "base_max_size": "3400",
        "base_name": s.base, "quote_name": s.quote, "watched": false, "is_disabled": false,
        "new": false, "status": "online", "cancel_only": false, "limit_only": false,
        "post_only": false, "trading_disabled": false, "auction_mode": false,
        "product_type": "SPOT", "quote_currency_id": s.quote, "base_currency_id": s.base,
        "fcm_trading_session_details": null, "mid_market_price": "", "alias": "",
        "alias_to": [], "base_display_symbol": s.base, "quote_display_symbol": s.quote,
        "view_only": false, "price_increment": trimmed(s.tick),
        "display_name": m.venue_id(s), "product_venue": "CBE",
        "approximate_quote_24h_volume": float(d.quote_volume, 2),
        "new_at": "2023-01-01T00:00:00Z"
    })
}

/// `product_type=FUTURE` lists nothing (only spot is simulated); `product_ids` (repeated or
/// comma-separated) filters, unknown ids are left out as Coinbase does.
pub fn products(m: &Market, p: &Params, now: u64) -> Result<Value, Reject> {
    if p.get("product_type").is_some_and(|t| t != "SPOT") {
        return Ok(json!({"products": [], "num_products": 0}));
    }
    let wanted: Vec<&str> = p
        .all("product_ids")
        .into_iter()
        .flat_map(|v| v.split(','))
        .collect();
    let list: Vec<Value> = m
        .symbols()
        .iter()
        .filter(|s| wanted.is_empty() || wanted.contains(&m.venue_id(s)))
        .map(|s| product(m, s, now))
        .collect();
    let n = list.len();
    Ok(json!({"products": list, "num_products": n}))
}

/// The latest `limit` trades, newest first, with the best bid and ask (ccxt's ticker: `last` is
/// the first trade's price).
pub fn ticker(m: &Market, s: &Symbol, p: &Params, now: u64) -> Result<Value, Reject> {
    let limit = limit_param(p, "limit", 100, 1000)?;
    let book = m.book(s, now, 1);
    let trades: Vec<Value> = m
        .recent_trades(s, now, limit)
        .iter()
        .rev()
        .map(|t| {
            json!({
                "trade_id": t.id.to_string(), "product_id": m.venue_id(s),
                "price": trimmed(t.price), "size": trimmed(t.qty), "time": rfc3339_micros(t.time),
                "side": if t.buyer_maker { "SELL" } else { "BUY" }, "bid": "", "ask": "",
                "exchange": "coinbase"
            })
        })
        .collect();
    Ok(json!({
        "trades": trades,
        "best_bid": trimmed(book.bids.first().map_or(0, |l| l.0)),
        "best_ask": trimmed(book.asks.first().map_or(0, |l| l.0))
    }))
}

fn granularity(g: &str) -> Option<Interval> {
    let name = match g {
        "ONE_MINUTE" => "1m",
        "FIVE_MINUTE" => "5m",
        "FIFTEEN_MINUTE" => "15m",
        "THIRTY_MINUTE" => "30m",
        "ONE_HOUR" => "1h",
        "TWO_HOUR" => "2h",
        "SIX_HOUR" => "6h",
        "ONE_DAY" => "1d",
        _ => return None,
    };
    Interval::parse(name)
}

/// Candles starting within `[start, end]` (seconds; default: the last 300), newest first, at
/// most 350 as Coinbase.
pub fn candles(m: &Market, s: &Symbol, p: &Params, now: u64) -> Result<Value, Reject> {
    let iv = granularity(p.get("granularity").unwrap_or(""))
        .ok_or_else(|| Reject::BadParam("granularity is required".into()))?;
    let limit = limit_param(p, "limit", 350, 350)?;
    let end = u64_param(p, "end")?.map_or(now, |e| e.saturating_mul(1000));
    let range = Range {
        start: u64_param(p, "start")?.map(|t| t.saturating_mul(1000)),
        end: Some(end),
        limit,
    };
    let mut list: Vec<Value> = m
        .klines(s, iv, range, now)
        .into_iter()
        .map(|c| {
            json!({
                "start": (c.open_time / 1000).to_string(), "low": trimmed(c.low),
                "high": trimmed(c.high), "open": trimmed(c.open), "close": trimmed(c.close),
                "volume": trimmed(c.volume)
            })
        })
        .collect();
    list.reverse();
    Ok(json!({ "candles": list }))
}

/// `limit` levels a side (default 100) as `{price, size}`, with mid and spread.
pub fn product_book(m: &Market, p: &Params, now: u64) -> Result<Value, Reject> {
    let id = p
        .get("product_id")
        .ok_or_else(|| Reject::BadParam("valid product_id is required".into()))?;
    let s = m.by_venue_id(id).ok_or(Reject::UnknownSymbol)?;
    let book = m.book(s, now, limit_param(p, "limit", 100, 5000)?);
    let side = |levels: &[(u64, u64)]| -> Vec<Value> {
        levels
            .iter()
            .map(|&(px, q)| json!({"price": trimmed(px), "size": trimmed(q)}))
            .collect()
    };
    let (bid, ask) = (
        book.bids.first().map_or(0, |l| l.0),
        book.asks.first().map_or(0, |l| l.0),
    );
    let mid = (bid as f64 + ask as f64) / 2.0 / crate::market::decimal::ONE as f64;
    let spread = ask.saturating_sub(bid);
    let spread_bps = if mid > 0.0 {
        crate::market::decimal::to_f64(spread) / mid * 10_000.0
    } else {
        0.0
    };
    Ok(json!({
        "pricebook": {
            "product_id": id, "bids": side(&book.bids), "asks": side(&book.asks),
            "time": rfc3339_micros(now)
        },
        "last": trimmed(last_price(m, s, now)), "mid_market": format!("{mid}"),
        "spread_bps": format!("{spread_bps:.12}"), "spread_absolute": trimmed(spread)
    }))
}
