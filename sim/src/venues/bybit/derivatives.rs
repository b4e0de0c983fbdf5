//! Bybit linear perpetuals (`category=linear`, `BTCUSDT`): instruments, tickers with funding,
//! mark, index and open interest, funding history, open interest history, trade / mark / index
//! klines, order book and recent trades. Sizes in base coin, numbers as decimal strings
//! (`fundingInterval` in minutes, a number, as Bybit sends it).

use super::data::interval;
use crate::market::candles::{Candle, Range};
use crate::market::contract::fmt_rate_trimmed;
use crate::market::decimal::ONE;
use crate::market::derivatives::Derivatives;
use crate::market::{Market, Symbol};
use crate::rest::Params;
use crate::venues::format::{float, trimmed};
use crate::venues::{limit_param, u64_param, Reject};
use serde_json::{json, Value};

const HOUR: u64 = 3_600_000;

/// Whether a request is about linear contracts (then counted as `linear:<endpoint>`): every
/// call of the derivative-only endpoints, and `category=linear` on the shared ones.
pub fn is_linear(endpoint: &str, p: &Params) -> bool {
    matches!(
        endpoint,
        "market/funding/history"
            | "market/open-interest"
            | "market/mark-price-kline"
            | "market/index-price-kline"
    ) || p.get("category") == Some("linear")
}

fn contract<'d>(d: &'d Derivatives, p: &Params) -> Result<&'d Symbol, Reject> {
    let id = p
        .get("symbol")
        .ok_or_else(|| Reject::BadParam("params error: symbol invalid".into()))?;
    if p.get("category").is_some_and(|c| c != "linear") {
        return Err(Reject::UnknownSymbol);
    }
    d.by_venue_id(id).ok_or(Reject::UnknownSymbol)
}

fn selected<'d>(d: &'d Derivatives, p: &Params) -> Result<Vec<&'d Symbol>, Reject> {
    match p.get("symbol") {
        Some(_) => Ok(vec![contract(d, p)?]),
        None => Ok(d.symbols().iter().collect()),
    }
}

/// `s` as the mark / index market holds it (finer tick).
fn fine<'m>(m: &'m Market, s: &'m Symbol) -> &'m Symbol {
    m.symbol(&s.name).unwrap_or(s)
}

pub fn handle(endpoint: &str, d: &Derivatives, p: &Params, now: u64) -> Result<Value, Reject> {
    let m = &d.last;
    Ok(match endpoint {
        "market/instruments-info" => {
            // Nothing is pre-launch or delisting here.
            let list: Vec<Value> = match p.get("status") {
                Some(s) if s != "Trading" => Vec::new(),
                _ => selected(d, p)?
                    .into_iter()
                    .map(|s| instrument(m, s))
                    .collect(),
            };
            json!({"category": "linear", "list": list, "nextPageCursor": ""})
        }
        "market/tickers" => {
            let list: Vec<Value> = selected(d, p)?
                .into_iter()
                .map(|s| ticker(d, s, now))
                .collect();
            json!({"category": "linear", "list": list})
        }
        "market/funding/history" => funding_history(d, contract(d, p)?, p, now)?,
        "market/open-interest" => open_interest(d, contract(d, p)?, p, now)?,
        "market/kline" => {
            let s = contract(d, p)?;
            klines(m, s, p, now, |c| {
                vec![trimmed(c.volume), float(c.quote_volume, 4)]
            })?
        }
        "market/mark-price-kline" => {
            let s = contract(d, p)?;
            klines(&d.mark, fine(&d.mark, s), p, now, |_| Vec::new())?
        }
        "market/index-price-kline" => {
            let s = contract(d, p)?;
            klines(&d.index, fine(&d.index, s), p, now, |_| Vec::new())?
        }
        "market/orderbook" => {
            let s = contract(d, p)?;
            let book = m.book(s, now, limit_param(p, "limit", 25, 500)?);
            let side = |levels: &[(u64, u64)]| -> Vec<[String; 2]> {
                levels
                    .iter()
                    .map(|&(px, q)| [trimmed(px), trimmed(q)])
                    .collect()
            };
            json!({
                "s": m.venue_id(s), "b": side(&book.bids), "a": side(&book.asks),
                "ts": now, "u": book.last_update_id, "seq": book.last_update_id, "cts": now
            })
        }
        "market/recent-trade" => {
            let s = contract(d, p)?;
            let limit = limit_param(p, "limit", 500, 1000)?;
            let list: Vec<Value> = m
                .recent_trades(s, now, limit)
                .iter()
                .rev()
                .map(|t| {
                    json!({
                        "execId": super::exec_id(t.id), "symbol": m.venue_id(s),
                        "price": trimmed(t.price), "size": trimmed(t.qty),
                        "side": if t.buyer_maker { "Sell" } else { "Buy" },
                        "time": t.time.to_string(), "isBlockTrade": false
                    })
                })
                .collect();
            json!({"category": "linear", "list": list})
        }
        _ => return Err(Reject::BadParam(format!("no linear endpoint {endpoint}"))),
    })
}

pub fn instrument(m: &Market, s: &Symbol) -> Value {
    let hours = s.contract.as_ref().map_or(8, |c| c.funding_hours);
    let step = trimmed(s.step);
    json!({
        "symbol": m.venue_id(s), "contractType": "LinearPerpetual", "status": "Trading",
        "baseCoin": s.base, "quoteCoin": s.quote, "launchTime": "1585526400000",
        "deliveryTime": "0", "deliveryFeeRate": "",
        "priceScale": crate::venues::format::decimals_of(s.tick).to_string(),
        "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
        "priceFilter": {"minPrice": trimmed(s.tick), "maxPrice": "1999999.80", "tickSize": trimmed(s.tick)},
        "lotSizeFilter": {
            "maxOrderQty": "1190.000", "minOrderQty": step.clone(), "qtyStep": step,
            "postOnlyMaxOrderQty": "1190.000", "maxMktOrderQty": "500.000",
            "minNotionalValue": "5"
        },
        "unifiedMarginTrade": true, "fundingInterval": hours * 60, "settleCoin": s.quote
    })
}

fn ticker(d: &Derivatives, s: &Symbol, now: u64) -> Value {
    let m = &d.last;
    let t = m.day_stats(s, now);
    let pcnt = t.change_percent() / 100.0;
    let (next, hours) = s
        .contract
        .as_ref()
        .map_or((0, 8), |c| (c.next_funding(now), c.funding_hours));
    let mark = d.mark_price(s, now);
    let oi = d.open_interest(s, now);
    let oi_value = oi as f64 / ONE as f64 * mark as f64 / ONE as f64;
    json!({
        "symbol": m.venue_id(s), "lastPrice": trimmed(t.last),
        "indexPrice": trimmed(d.index_price(s, now)), "markPrice": trimmed(mark),
        "prevPrice24h": trimmed(t.open), "price24hPcnt": format!("{pcnt:.6}"),
        "highPrice24h": trimmed(t.high), "lowPrice24h": trimmed(t.low),
        "prevPrice1h": trimmed(m.price_at(s, now.saturating_sub(HOUR))),
        "openInterest": trimmed(oi), "openInterestValue": float(oi_value, 2),
        "turnover24h": float(t.quote_volume, 4), "volume24h": trimmed(t.volume),
        "fundingRate": fmt_rate_trimmed(d.funding_rate(s, now)),
        "nextFundingTime": next.to_string(), "predictedDeliveryPrice": "", "basisRate": "",
        "deliveryFeeRate": "", "deliveryTime": "0",
        "bid1Price": trimmed(t.bid), "bid1Size": trimmed(t.bid_qty),
        "ask1Price": trimmed(t.ask), "ask1Size": trimmed(t.ask_qty), "basis": "",
        "fundingIntervalHour": hours.to_string(), "fundingCap": "0.003"
    })
}

/// Settled rates, newest first: within `[startTime, endTime]`, or the `limit` newest up to
/// `endTime` (or now). `startTime` alone is refused, as on Bybit.
fn funding_history(d: &Derivatives, s: &Symbol, p: &Params, now: u64) -> Result<Value, Reject> {
    let limit = limit_param(p, "limit", 200, 200)?;
    let (start, end) = (u64_param(p, "startTime")?, u64_param(p, "endTime")?);
    let rows = match (start, end) {
        (Some(_), None) => {
            return Err(Reject::BadParam(
                "params error: endTime is required when startTime is set".into(),
            ))
        }
        (Some(st), Some(en)) => {
            let mut v = d.funding_history(s, st, en.min(now));
            v.drain(..v.len().saturating_sub(limit));
            v
        }
        (None, en) => d.history_window(s, None, en.unwrap_or(now).min(now), limit),
    };
    let list: Vec<Value> = rows
        .into_iter()
        .rev()
        .map(|(t, r, _)| {
            json!({
                "symbol": d.last.venue_id(s), "fundingRate": fmt_rate_trimmed(r),
                "fundingRateTimestamp": t.to_string()
            })
        })
        .collect();
    Ok(json!({"category": "linear", "list": list}))
}

/// Open interest (base coin) at each `intervalTime` boundary, newest first.
fn open_interest(d: &Derivatives, s: &Symbol, p: &Params, now: u64) -> Result<Value, Reject> {
    let iv = match p.get("intervalTime") {
        Some("5min") => 300_000,
        Some("15min") => 900_000,
        Some("30min") => 1_800_000,
        Some("1h") => HOUR,
        Some("4h") => 4 * HOUR,
        Some("1d") => 24 * HOUR,
        _ => return Err(Reject::BadParam("Illegal intervalTime".into())),
    };
    let limit = limit_param(p, "limit", 50, 200)? as u64;
    let end = u64_param(p, "endTime")?.unwrap_or(now).min(now);
    let start = u64_param(p, "startTime")?.unwrap_or(0);
    let last = end / iv * iv;
    let list: Vec<Value> = (0..limit)
        .map_while(|i| last.checked_sub(i * iv))
        .take_while(|&t| t >= start)
        .map(
            |t| json!({"openInterest": trimmed(d.open_interest(s, t)), "timestamp": t.to_string()}),
        )
        .collect();
    Ok(json!({
        "category": "linear", "symbol": d.last.venue_id(s), "list": list, "nextPageCursor": ""
    }))
}

/// Newest first: the first `limit` from `start`, else the last `limit` up to `end` (or now).
/// Trade klines add volume and turnover; mark and index klines have five fields.
fn klines(
    m: &Market,
    s: &Symbol,
    p: &Params,
    now: u64,
    volumes: impl Fn(&Candle) -> Vec<String>,
) -> Result<Value, Reject> {
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
            let mut row = vec![
                c.open_time.to_string(),
                trimmed(c.open),
                trimmed(c.high),
                trimmed(c.low),
                trimmed(c.close),
            ];
            row.extend(volumes(&c));
            Value::from(row)
        })
        .collect();
    list.reverse();
    Ok(json!({"category": "linear", "symbol": m.venue_id(s), "list": list}))
}

#[cfg(test)]
#[path = "derivatives_tests.rs"]
mod tests;
