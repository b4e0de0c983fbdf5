//! The fapi response bodies, built from the venue's contracts. Field names and types follow
//! Binance's USDⓈ-M docs (and what ccxt's binance parsers read): prices and sizes are 8-decimal
//! strings, times integer ms.

use super::FEndpoint;
use crate::market::candles::{Candle, Range};
use crate::market::contract::{fmt_rate8, ContractKind, INTEREST_8H};
use crate::market::decimal::{fmt_f64, fmt_signed_units, fmt_units, mul_units};
use crate::market::derivatives::Derivatives;
use crate::market::interval::Interval;
use crate::market::{Market, Symbol};
use crate::rest::{ApiError, Params};
use crate::venues::format::decimals_of;
use serde_json::{json, Value};

/// Binance's delivery date for perpetuals (2100-12-25 08:00 UTC).
const PERPETUAL_DELIVERY: u64 = 4_133_404_800_000;
const ONBOARD: u64 = 1_569_398_400_000;

fn body(v: &Value) -> Result<String, ApiError> {
    serde_json::to_string(v).map_err(|_| ApiError::Unknown)
}

pub fn handle(e: FEndpoint, d: &Derivatives, p: &Params, now: u64) -> Result<String, ApiError> {
    let m = &d.last;
    let v = match e {
        FEndpoint::Ping => json!({}),
        FEndpoint::Time => json!({ "serverTime": now }),
        FEndpoint::ExchangeInfo => exchange_info(d, now),
        FEndpoint::PremiumIndex => one_or_all(m, p, |s| premium_index(d, s, now))?,
        FEndpoint::FundingRate => funding_rate(d, p, now)?,
        FEndpoint::FundingInfo => funding_info(d),
        FEndpoint::OpenInterest => {
            let s = p.require_symbol(m)?;
            json!({
                "openInterest": fmt_units(d.open_interest(s, now)),
                "symbol": s.name, "time": now
            })
        }
        FEndpoint::Ticker24hr => one_or_all(m, p, |s| ticker(m, s, now))?,
        FEndpoint::BookTicker => one_or_all(m, p, |s| book_ticker(m, s, now))?,
        FEndpoint::TickerPrice | FEndpoint::TickerPriceV2 => one_or_all(
            m,
            p,
            |s| json!({"symbol": s.name, "price": fmt_units(d.last_price(s, now)), "time": now}),
        )?,
        FEndpoint::Klines => klines(m, p.require_symbol(m)?, p, now, true)?,
        FEndpoint::MarkPriceKlines => klines(&d.mark, p.require_symbol(&d.mark)?, p, now, false)?,
        FEndpoint::IndexPriceKlines => {
            // Index klines take the underlying `pair`, not a contract symbol.
            let pair = p.get("pair").ok_or(ApiError::Mandatory("pair"))?;
            let s = d.index.symbol(pair).ok_or(ApiError::InvalidSymbol)?;
            klines(&d.index, s, p, now, false)?
        }
        FEndpoint::Depth => depth(m, p, now)?,
        FEndpoint::Trades | FEndpoint::HistoricalTrades => {
            let s = p.require_symbol(m)?;
            let limit = p.limit(500, 1000)?;
            let list = match p.u64("fromId")? {
                Some(from) if e == FEndpoint::HistoricalTrades => {
                    m.trades_from_id(s, from, limit, now)
                }
                _ => m.recent_trades(s, now, limit),
            };
            list.iter()
                .map(|t| {
                    json!({
                        "id": t.id, "price": fmt_units(t.price), "qty": fmt_units(t.qty),
                        "quoteQty": fmt_units(mul_units(t.price, t.qty)), "time": t.time,
                        "isBuyerMaker": t.buyer_maker
                    })
                })
                .collect()
        }
        FEndpoint::AggTrades => {
            let s = p.require_symbol(m)?;
            let limit = p.limit(500, 1000)?;
            let (from, start, end) = (p.u64("fromId")?, p.u64("startTime")?, p.u64("endTime")?);
            let list = match from {
                Some(_) if start.is_some() || end.is_some() => {
                    return Err(ApiError::BadCombination)
                }
                Some(from) => m.trades_from_id(s, from, limit, now),
                None => m.trades_between(s, start, end, limit, now),
            };
            list.iter()
                .map(|t| {
                    json!({
                        "a": t.id, "p": fmt_units(t.price), "q": fmt_units(t.qty),
                        "f": t.id, "l": t.id, "T": t.time, "m": t.buyer_maker
                    })
                })
                .collect()
        }
    };
    body(&v)
}

/// `symbol=X` → one object; none → an array of every contract.
fn one_or_all<'m>(
    m: &'m Market,
    p: &Params,
    row: impl Fn(&'m Symbol) -> Value,
) -> Result<Value, ApiError> {
    match p.symbol(m)? {
        Some(s) => Ok(row(s)),
        None => Ok(m.symbols().iter().map(row).collect()),
    }
}

fn contract_type(s: &Symbol) -> (&'static str, u64) {
    match s.contract.as_ref().map(|c| c.kind) {
        Some(ContractKind::Dated { expiry_ms }) => ("CURRENT_QUARTER", expiry_ms),
        _ => ("PERPETUAL", PERPETUAL_DELIVERY),
    }
}

fn exchange_info(d: &Derivatives, now: u64) -> Value {
    let symbols: Vec<Value> = d
        .symbols()
        .iter()
        .map(|s| {
            let (ctype, delivery) = contract_type(s);
            let (tick, step) = (fmt_units(s.tick), fmt_units(s.step));
            json!({
                "symbol": s.name, "pair": format!("{}{}", s.base, s.quote),
                "contractType": ctype, "deliveryDate": delivery, "onboardDate": ONBOARD,
                "status": "TRADING", "maintMarginPercent": "2.5000",
                "requiredMarginPercent": "5.0000", "baseAsset": s.base, "quoteAsset": s.quote,
                "marginAsset": s.quote, "pricePrecision": decimals_of(s.tick),
                "quantityPrecision": decimals_of(s.step), "baseAssetPrecision": 8,
                "quotePrecision": 8, "underlyingType": "COIN", "underlyingSubType": [],
                "settlePlan": 0, "triggerProtect": "0.0500", "liquidationFee": "0.012500",
                "marketTakeBound": "0.05", "maxMoveOrderLimit": 10000,
                "filters": [
                    {"minPrice": tick, "maxPrice": "4529764", "filterType": "PRICE_FILTER", "tickSize": tick},
                    {"stepSize": step, "filterType": "LOT_SIZE", "maxQty": "1000", "minQty": step},
                    {"stepSize": step, "filterType": "MARKET_LOT_SIZE", "maxQty": "120", "minQty": step},
                    {"limit": 200, "filterType": "MAX_NUM_ORDERS"},
                    {"limit": 10, "filterType": "MAX_NUM_ALGO_ORDERS"},
                    {"notional": "5", "filterType": "MIN_NOTIONAL"},
                    {"multiplierDown": "0.9500", "multiplierUp": "1.0500", "multiplierDecimal": "4", "filterType": "PERCENT_PRICE"}
                ],
                "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"],
                "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
                "permissionSets": ["GRID", "COPY"]
            })
        })
        .collect();
    json!({
        "timezone": "UTC", "serverTime": now, "futuresType": "U_MARGINED",
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": crate::state::FUTURES_WEIGHT_LIMIT},
            {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300}
        ],
        "exchangeFilters": [],
        "assets": [{"asset": "USDT", "marginAvailable": true, "autoAssetExchange": "-10000"}],
        "symbols": symbols
    })
}

pub fn premium_index(d: &Derivatives, s: &Symbol, now: u64) -> Value {
    let index = d.index_price(s, now);
    let perpetual = s.contract.as_ref().is_some_and(|c| c.is_perpetual());
    let (rate, interest, next) = match s.contract.as_ref() {
        Some(c) if perpetual => (
            fmt_rate8(d.funding_rate(s, now)),
            fmt_rate8((INTEREST_8H * c.funding_hours as f64 / 8.0 * 1e8).round() as i64),
            c.next_funding(now),
        ),
        _ => (String::new(), String::new(), 0),
    };
    json!({
        "symbol": s.name, "markPrice": fmt_units(d.mark_price(s, now)),
        "indexPrice": fmt_units(index), "estimatedSettlePrice": fmt_units(index),
        "lastFundingRate": rate, "interestRate": interest, "nextFundingTime": next, "time": now
    })
}

/// Settled rates, oldest first: from `startTime` on, else the latest `limit` up to `endTime`.
fn funding_rate(d: &Derivatives, p: &Params, now: u64) -> Result<Value, ApiError> {
    let limit = p.limit(100, 1000)?;
    let (start, end) = (p.u64("startTime")?, p.u64("endTime")?);
    let end = end.unwrap_or(now).min(now);
    let symbols: Vec<&Symbol> = match p.symbol(&d.last)? {
        Some(s) => vec![s],
        None => d.symbols().iter().collect(),
    };
    let mut rows: Vec<(u64, &Symbol, i64, u64)> = symbols
        .into_iter()
        .flat_map(|s| {
            d.history_window(s, start, end, limit)
                .into_iter()
                .map(move |(t, r, mk)| (t, s, r, mk))
        })
        .collect();
    rows.sort_by_key(|r| r.0);
    if start.is_some() {
        rows.truncate(limit);
    } else {
        rows.drain(..rows.len().saturating_sub(limit));
    }
    Ok(rows
        .into_iter()
        .map(|(t, s, r, mk)| {
            json!({"symbol": s.name, "fundingTime": t, "fundingRate": fmt_rate8(r), "markPrice": fmt_units(mk)})
        })
        .collect())
}

/// Only contracts whose funding differs from the default (8 h) are listed, as on Binance.
fn funding_info(d: &Derivatives) -> Value {
    d.symbols()
        .iter()
        .filter_map(|s| {
            let c = s.contract.as_ref().filter(|c| c.is_perpetual())?;
            (c.funding_hours != 8).then(|| {
                json!({
                    "symbol": s.name, "adjustedFundingRateCap": "0.02000000",
                    "adjustedFundingRateFloor": "-0.02000000",
                    "fundingIntervalHours": c.funding_hours, "disclaimer": false
                })
            })
        })
        .collect()
}

fn ticker(m: &Market, s: &Symbol, now: u64) -> Value {
    let t = m.day_stats(s, now);
    json!({
        "symbol": s.name, "priceChange": fmt_signed_units(t.change()),
        "priceChangePercent": format!("{:.3}", t.change_percent()),
        "weightedAvgPrice": fmt_f64(t.weighted_avg), "lastPrice": fmt_units(t.last),
        "lastQty": fmt_units(t.last_qty), "openPrice": fmt_units(t.open),
        "highPrice": fmt_units(t.high), "lowPrice": fmt_units(t.low),
        "volume": fmt_units(t.volume), "quoteVolume": fmt_f64(t.quote_volume),
        "openTime": t.open_time, "closeTime": t.close_time, "firstId": t.first_id,
        "lastId": t.last_id, "count": t.count
    })
}

fn book_ticker(m: &Market, s: &Symbol, now: u64) -> Value {
    let b = m.book(s, now, 1);
    let (bid, bid_qty) = b.bids.first().copied().unwrap_or((0, 0));
    let (ask, ask_qty) = b.asks.first().copied().unwrap_or((0, 0));
    json!({
        "symbol": s.name, "bidPrice": fmt_units(bid), "bidQty": fmt_units(bid_qty),
        "askPrice": fmt_units(ask), "askQty": fmt_units(ask_qty), "time": now,
        "lastUpdateId": b.last_update_id
    })
}

fn depth(m: &Market, p: &Params, now: u64) -> Result<Value, ApiError> {
    let s = p.require_symbol(m)?;
    let b = m.book(s, now, p.limit(500, 1000)?);
    let side = |l: &[(u64, u64)]| -> Vec<[String; 2]> {
        l.iter()
            .map(|&(px, q)| [fmt_units(px), fmt_units(q)])
            .collect()
    };
    Ok(json!({
        "lastUpdateId": b.last_update_id, "E": now, "T": now,
        "bids": side(&b.bids), "asks": side(&b.asks)
    }))
}

/// Binance's 12-column rows; mark and index klines carry no volume (zeros, as Binance sends).
fn klines(m: &Market, s: &Symbol, p: &Params, now: u64, trade: bool) -> Result<Value, ApiError> {
    let iv = Interval::parse(p.get("interval").ok_or(ApiError::Mandatory("interval"))?)
        .ok_or(ApiError::BadInterval)?;
    let range = Range {
        start: p.u64("startTime")?,
        end: p.u64("endTime")?,
        limit: p.limit(500, 1500)?,
    };
    let row = |c: &Candle| {
        if trade {
            json!([
                c.open_time,
                fmt_units(c.open),
                fmt_units(c.high),
                fmt_units(c.low),
                fmt_units(c.close),
                fmt_units(c.volume),
                c.close_time,
                fmt_f64(c.quote_volume),
                c.trades,
                fmt_units(c.taker_buy_base),
                fmt_f64(c.taker_buy_quote),
                "0"
            ])
        } else {
            json!([
                c.open_time,
                fmt_units(c.open),
                fmt_units(c.high),
                fmt_units(c.low),
                fmt_units(c.close),
                "0",
                c.close_time,
                "0",
                0,
                "0",
                "0",
                "0"
            ])
        }
    };
    Ok(m.klines(s, iv, range, now).iter().map(row).collect())
}
