//! OKX perpetual swaps (`instType=SWAP`, `BTC-USDT-SWAP`): instruments, funding rate and its
//! history, open interest, mark price, index tickers, and the swap's ticker, book, candles
//! (trade, mark, index) and trades. Sizes are in contracts of `ctVal` base (0.01 BTC, 0.1 ETH,
//! 1 of the others), traded in 0.01 contracts; every number a decimal string, as OKX sends.

use super::data::bar;
use crate::market::candles::{Candle, Range};
use crate::market::contract::fmt_rate_trimmed;
use crate::market::decimal::ONE;
use crate::market::derivatives::Derivatives;
use crate::market::{Market, Symbol};
use crate::rest::Params;
use crate::venues::format::{float, trimmed};
use crate::venues::{limit_param, u64_param, Reject};
use serde_json::{json, Value};

const DAY: u64 = 86_400_000;
const HOUR: u64 = 3_600_000;

/// Whether a request is about swaps (then it is counted as `swap:<endpoint>`).
pub fn is_swap(endpoint: &str, p: &Params) -> bool {
    matches!(
        endpoint,
        "public/funding-rate"
            | "public/funding-rate-history"
            | "public/open-interest"
            | "public/mark-price"
            | "market/index-tickers"
            | "market/mark-price-candles"
            | "market/history-mark-price-candles"
            | "market/index-candles"
            | "market/history-index-candles"
    ) || matches!(p.get("instType"), Some("SWAP" | "FUTURES" | "OPTION"))
        || p.get("instId").is_some_and(|id| id.ends_with("-SWAP"))
}

/// Contract sizes (base units) → OKX contracts.
fn contracts(s: &Symbol, base_units: u64) -> String {
    let ct = s.contract.as_ref().map_or(ONE, |c| c.contract_size.max(1));
    trimmed((base_units as u128 * ONE as u128 / ct as u128) as u64)
}

fn swap<'d>(d: &'d Derivatives, p: &Params) -> Result<&'d Symbol, Reject> {
    let id = p
        .get("instId")
        .ok_or_else(|| Reject::BadParam("Parameter instId can not be empty".into()))?;
    d.by_venue_id(id).ok_or(Reject::UnknownSymbol)
}

/// The contract whose index is `BTC-USDT` (the swap's `uly` / `instFamily`).
fn by_index<'d>(d: &'d Derivatives, p: &Params) -> Result<&'d Symbol, Reject> {
    let id = p
        .get("instId")
        .ok_or_else(|| Reject::BadParam("Parameter instId can not be empty".into()))?;
    d.by_venue_id(&format!("{id}-SWAP"))
        .ok_or(Reject::UnknownSymbol)
}

/// Rows of the swaps, or of the one `instId` names.
fn selected<'d>(d: &'d Derivatives, p: &Params) -> Result<Vec<&'d Symbol>, Reject> {
    match p.get("instId") {
        Some(_) => Ok(vec![swap(d, p)?]),
        None => Ok(d.symbols().iter().collect()),
    }
}

pub fn handle(endpoint: &str, d: &Derivatives, p: &Params, now: u64) -> Result<Value, Reject> {
    let m = &d.last;
    let swaps_only = |p: &Params| p.get("instType").is_none_or(|t| t == "SWAP");
    Ok(match endpoint {
        "public/instruments" if !swaps_only(p) => json!([]),
        "public/instruments" => selected(d, p)?
            .into_iter()
            .map(|s| instrument(d, s))
            .collect(),
        // `instId=ANY`: every swap's (what ccxt's fetchFundingRates asks for).
        "public/funding-rate" if p.get("instId") == Some("ANY") => d
            .symbols()
            .iter()
            .map(|s| funding_rate(d, s, now))
            .collect(),
        "public/funding-rate" => json!([funding_rate(d, swap(d, p)?, now)]),
        "public/funding-rate-history" => funding_history(d, swap(d, p)?, p, now)?,
        "public/open-interest" => selected(d, p)?
            .into_iter()
            .map(|s| {
                let base = d.open_interest(s, now);
                let usd = base as f64 / ONE as f64 * d.mark_price(s, now) as f64 / ONE as f64;
                json!({
                    "instId": m.venue_id(s), "instType": "SWAP", "oi": contracts(s, base),
                    "oiCcy": trimmed(base), "oiUsd": float(usd, 4), "ts": now.to_string()
                })
            })
            .collect(),
        "public/mark-price" => selected(d, p)?
            .into_iter()
            .map(|s| {
                json!({
                    "instType": "SWAP", "instId": m.venue_id(s),
                    "markPx": trimmed(d.mark_price(s, now)), "ts": now.to_string()
                })
            })
            .collect(),
        "market/index-tickers" => {
            let list = match p.get("instId") {
                Some(_) => vec![by_index(d, p)?],
                None => d.symbols().iter().collect(),
            };
            list.into_iter().map(|s| index_ticker(d, s, now)).collect()
        }
        "market/ticker" => json!([ticker(m, swap(d, p)?, now)]),
        "market/tickers" if !swaps_only(p) => json!([]),
        "market/tickers" => d.symbols().iter().map(|s| ticker(m, s, now)).collect(),
        "market/books" | "market/books-full" => {
            let s = swap(d, p)?;
            let max = if endpoint == "market/books" {
                400
            } else {
                5000
            };
            let book = m.book(s, now, limit_param(p, "sz", 1, max)?);
            let side = |levels: &[(u64, u64)]| -> Vec<[String; 4]> {
                levels
                    .iter()
                    .map(|&(px, q)| [trimmed(px), contracts(s, q), "0".into(), "1".into()])
                    .collect()
            };
            json!([{"asks": side(&book.asks), "bids": side(&book.bids), "ts": now.to_string()}])
        }
        "market/candles" | "market/history-candles" => {
            let s = swap(d, p)?;
            candles(m, s, p, now, |c| {
                vec![
                    contracts(s, c.volume),
                    trimmed(c.volume),
                    float(c.quote_volume, 4),
                ]
            })?
        }
        "market/mark-price-candles" | "market/history-mark-price-candles" => {
            let s = swap(d, p)?;
            candles(&d.mark, fine(&d.mark, s), p, now, |_| Vec::new())?
        }
        "market/index-candles" | "market/history-index-candles" => {
            let s = by_index(d, p)?;
            candles(&d.index, fine(&d.index, s), p, now, |_| Vec::new())?
        }
        "market/trades" | "market/history-trades" => {
            let s = swap(d, p)?;
            let max = if endpoint == "market/trades" {
                500
            } else {
                100
            };
            let limit = limit_param(p, "limit", 100, max)?;
            m.recent_trades(s, now, limit)
                .iter()
                .rev()
                .map(|t| {
                    json!({
                        "instId": m.venue_id(s), "side": if t.buyer_maker { "sell" } else { "buy" },
                        "sz": contracts(s, t.qty), "px": trimmed(t.price), "source": "0",
                        "tradeId": t.id.to_string(), "ts": t.time.to_string()
                    })
                })
                .collect()
        }
        "public/time" => json!([{"ts": now.to_string()}]),
        _ => return Err(Reject::BadParam(format!("no swap endpoint {endpoint}"))),
    })
}

/// `s` as the mark / index market holds it (finer tick).
fn fine<'m>(m: &'m Market, s: &'m Symbol) -> &'m Symbol {
    m.symbol(&s.name).unwrap_or(s)
}

pub fn instrument(d: &Derivatives, s: &Symbol) -> Value {
    let family = format!("{}-{}", s.base, s.quote);
    let ct_val = s.contract.as_ref().map_or(ONE, |c| c.contract_size);
    json!({
        "alias": "", "auctionEndTime": "", "baseCcy": "", "category": "1", "contTdSwTime": "",
        "ctMult": "1", "ctType": "linear", "ctVal": trimmed(ct_val), "ctValCcy": s.base,
        "expTime": "", "futureSettlement": false, "instFamily": family,
        "instId": d.last.venue_id(s), "instIdCode": 10_000 + (s.key % 90_000), "instType": "SWAP",
        "lever": "100", "listTime": "1573557408000", "lotSz": "0.01",
        "maxIcebergSz": "100000000.0000000000000000", "maxLmtAmt": "20000000",
        "maxLmtSz": "100000000", "maxMktAmt": "", "maxMktSz": "12000", "maxPlatOILmt": "",
        "maxStopSz": "12000", "maxTriggerSz": "100000000.0000000000000000",
        "maxTwapSz": "100000000.0000000000000000", "minSz": "0.01", "openType": "",
        "optType": "", "posLmtAmt": "", "posLmtPct": "", "preMktSwTime": "", "quoteCcy": "",
        "ruleType": "normal", "settleCcy": s.quote, "state": "live", "stk": "",
        "tickSz": trimmed(s.tick), "tradeQuoteCcyList": [], "uly": family
    })
}

/// The rate to settle at `fundingTime` (the next settlement), predicted now; OKX leaves
/// `nextFundingRate` empty.
pub fn funding_rate(d: &Derivatives, s: &Symbol, now: u64) -> Value {
    let (next, interval) = s
        .contract
        .as_ref()
        .map_or((0, 8 * HOUR), |c| (c.next_funding(now), c.interval_ms()));
    let rate = fmt_rate_trimmed(d.funding_rate(s, now));
    let premium = d.mark_price(s, now) as f64 / d.index_price(s, now).max(1) as f64 - 1.0;
    json!({
        "formulaType": "withRate", "fundingRate": rate, "fundingTime": next.to_string(),
        "impactValue": "20000", "instId": d.last.venue_id(s), "instType": "SWAP",
        "interestRate": "0.0001", "maxFundingRate": "0.003", "method": "current_period",
        "minFundingRate": "-0.003", "nextFundingRate": "",
        "nextFundingTime": (next + interval).to_string(), "premium": format!("{premium:.10}"),
        "settFundingRate": rate, "settState": "settled", "ts": now.to_string()
    })
}

/// Settled rates, newest first. `before` (newer than) alone: the `limit` oldest after it;
/// otherwise the `limit` newest up to `after` (older than) or now.
fn funding_history(d: &Derivatives, s: &Symbol, p: &Params, now: u64) -> Result<Value, Reject> {
    let limit = limit_param(p, "limit", 100, 400)?;
    let (before, after) = (u64_param(p, "before")?, u64_param(p, "after")?);
    let end = after.map_or(now, |a| a.saturating_sub(1)).min(now);
    let rows = match (before, after) {
        (Some(b), None) => d.history_window(s, Some(b + 1), end, limit),
        _ => {
            let mut v = d.history_window(s, None, end, limit);
            v.retain(|r| before.is_none_or(|b| r.0 > b));
            v
        }
    };
    Ok(rows
        .into_iter()
        .rev()
        .map(|(t, r, _)| {
            let rate = fmt_rate_trimmed(r);
            json!({
                "fundingRate": rate, "fundingTime": t.to_string(), "instId": d.last.venue_id(s),
                "instType": "SWAP", "method": "current_period", "realizedRate": rate
            })
        })
        .collect())
}

fn index_ticker(d: &Derivatives, s: &Symbol, now: u64) -> Value {
    let fs = fine(&d.index, s);
    let st = d.index.day_stats(fs, now);
    let sod_utc0 = now - now % DAY;
    let sod_utc8 = ((now + 8 * HOUR) / DAY * DAY).saturating_sub(8 * HOUR);
    json!({
        "instId": format!("{}-{}", s.base, s.quote), "idxPx": trimmed(st.last),
        "high24h": trimmed(st.high), "sodUtc0": trimmed(d.index.price_at(fs, sod_utc0)),
        "open24h": trimmed(st.open), "low24h": trimmed(st.low),
        "sodUtc8": trimmed(d.index.price_at(fs, sod_utc8)), "ts": now.to_string()
    })
}

/// A swap's ticker: sizes in contracts, `volCcy24h` in base.
fn ticker(m: &Market, s: &Symbol, now: u64) -> Value {
    let t = m.day_stats(s, now);
    let sod_utc0 = now - now % DAY;
    let sod_utc8 = ((now + 8 * HOUR) / DAY * DAY).saturating_sub(8 * HOUR);
    json!({
        "instType": "SWAP", "instId": m.venue_id(s),
        "last": trimmed(t.last), "lastSz": contracts(s, t.last_qty),
        "askPx": trimmed(t.ask), "askSz": contracts(s, t.ask_qty),
        "bidPx": trimmed(t.bid), "bidSz": contracts(s, t.bid_qty),
        "open24h": trimmed(t.open), "high24h": trimmed(t.high), "low24h": trimmed(t.low),
        "volCcy24h": trimmed(t.volume), "vol24h": contracts(s, t.volume),
        "ts": now.to_string(),
        "sodUtc0": trimmed(m.price_at(s, sod_utc0)), "sodUtc8": trimmed(m.price_at(s, sod_utc8))
    })
}

/// Newest first; `after` = older than, `before` = newer than. Trade candles carry `volumes`
/// (vol, volCcy, volCcyQuote); mark and index candles none.
fn candles(
    m: &Market,
    s: &Symbol,
    p: &Params,
    now: u64,
    volumes: impl Fn(&Candle) -> Vec<String>,
) -> Result<Value, Reject> {
    let iv = bar(p.get("bar").unwrap_or("1m"))
        .ok_or_else(|| Reject::BadParam("Parameter bar error".into()))?;
    let limit = limit_param(p, "limit", 100, 300)?;
    let (after, before) = (u64_param(p, "after")?, u64_param(p, "before")?);
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
            let mut row = vec![
                c.open_time.to_string(),
                trimmed(c.open),
                trimmed(c.high),
                trimmed(c.low),
                trimmed(c.close),
            ];
            row.extend(volumes(&c));
            row.push(if c.close_time < now { "1" } else { "0" }.to_string());
            Value::from(row)
        })
        .collect();
    rows.reverse();
    Ok(Value::Array(rows))
}

#[cfg(test)]
#[path = "derivatives_tests.rs"]
mod tests;
