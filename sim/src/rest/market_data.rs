//! Order book and trade endpoints: depth, trades, historicalTrades, aggTrades.

use super::{to_json, ApiError, Params};
use crate::market::decimal::{fmt_units, mul_units};
use crate::market::trades::Trade;
use crate::market::Market;
use serde::Serialize;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Depth {
    last_update_id: u64,
    bids: Vec<[String; 2]>,
    asks: Vec<[String; 2]>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TradeRow {
    id: u64,
    price: String,
    qty: String,
    quote_qty: String,
    time: u64,
    is_buyer_maker: bool,
    is_best_match: bool,
}

/// aggTrades keys are single letters, case-sensitive ("T" time vs "m" maker flag).
#[derive(Serialize)]
struct AggTradeRow {
    a: u64,
    p: String,
    q: String,
    f: u64,
    l: u64,
    #[serde(rename = "T")]
    t: u64,
    m: bool,
    #[serde(rename = "M")]
    best_match: bool,
}

fn levels(side: &[(u64, u64)]) -> Vec<[String; 2]> {
    side.iter()
        .map(|&(p, q)| [fmt_units(p), fmt_units(q)])
        .collect()
}

pub fn depth(m: &Market, p: &Params, now: u64) -> Result<String, ApiError> {
    let s = p.require_symbol(m)?;
    let book = m.book(s, now, p.limit(100, 5000)?);
    to_json(&Depth {
        last_update_id: book.last_update_id,
        bids: levels(&book.bids),
        asks: levels(&book.asks),
    })
}

fn trade_rows(trades: &[Trade]) -> Vec<TradeRow> {
    trades
        .iter()
        .map(|t| TradeRow {
            id: t.id,
            price: fmt_units(t.price),
            qty: fmt_units(t.qty),
            quote_qty: fmt_units(mul_units(t.price, t.qty)),
            time: t.time,
            is_buyer_maker: t.buyer_maker,
            is_best_match: true,
        })
        .collect()
}

pub fn trades(m: &Market, p: &Params, now: u64) -> Result<String, ApiError> {
    let s = p.require_symbol(m)?;
    to_json(&trade_rows(&m.recent_trades(s, now, p.limit(500, 1000)?)))
}

/// Like trades, plus `fromId`.
pub fn historical_trades(m: &Market, p: &Params, now: u64) -> Result<String, ApiError> {
    let s = p.require_symbol(m)?;
    let limit = p.limit(500, 1000)?;
    let list = match p.u64("fromId")? {
        Some(from) => m.trades_from_id(s, from, limit, now),
        None => m.recent_trades(s, now, limit),
    };
    to_json(&trade_rows(&list))
}

/// Every simulated trade is its own aggregate, so aggregate ids equal trade ids.
pub fn agg_trades(m: &Market, p: &Params, now: u64) -> Result<String, ApiError> {
    let s = p.require_symbol(m)?;
    let limit = p.limit(500, 1000)?;
    let (from, start, end) = (p.u64("fromId")?, p.u64("startTime")?, p.u64("endTime")?);
    let list = match from {
        Some(_) if start.is_some() || end.is_some() => return Err(ApiError::BadCombination),
        Some(from) => m.trades_from_id(s, from, limit, now),
        None => m.trades_between(s, start, end, limit, now),
    };
    let rows: Vec<AggTradeRow> = list
        .iter()
        .map(|t| AggTradeRow {
            a: t.id,
            p: fmt_units(t.price),
            q: fmt_units(t.qty),
            f: t.id,
            l: t.id,
            t: t.time,
            m: t.buyer_maker,
            best_match: true,
        })
        .collect();
    to_json(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{shape, AGG_TRADES, DEPTH, HISTORICAL_TRADES, TRADES};
    use serde_json::Value;

    const NOW: u64 = 1_725_817_008_719;

    fn call(
        f: fn(&Market, &Params, u64) -> Result<String, ApiError>,
        q: &str,
    ) -> Result<String, ApiError> {
        let m = Market::new(42, 0, false, 100).unwrap();
        f(&m, &Params::parse(Some(q)), NOW)
    }

    #[test]
    fn shapes_match_fixtures() {
        assert_eq!(
            shape(&call(depth, "symbol=BTCUSDT&limit=10").unwrap()).unwrap(),
            shape(DEPTH).unwrap()
        );
        assert_eq!(
            shape(&call(trades, "symbol=BTCUSDT").unwrap()).unwrap(),
            shape(TRADES).unwrap()
        );
        assert_eq!(
            shape(&call(historical_trades, "symbol=BTCUSDT").unwrap()).unwrap(),
            shape(HISTORICAL_TRADES).unwrap()
        );
        assert_eq!(
            shape(&call(agg_trades, "symbol=BTCUSDT").unwrap()).unwrap(),
            shape(AGG_TRADES).unwrap()
        );
    }

    #[test]
    fn depth_levels_and_order() {
        let v: Value =
            serde_json::from_str(&call(depth, "symbol=ETHUSDT&limit=50").unwrap()).unwrap();
        let px = |side: &str| -> Vec<f64> {
            v[side]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l[0].as_str().unwrap().parse().unwrap())
                .collect()
        };
        let (bids, asks) = (px("bids"), px("asks"));
        assert_eq!((bids.len(), asks.len()), (50, 50));
        assert!(bids.windows(2).all(|w| w[0] > w[1]));
        assert!(asks.windows(2).all(|w| w[0] < w[1]));
        assert!(bids[0] < asks[0]);
        let default: Value = serde_json::from_str(&call(depth, "symbol=ETHUSDT").unwrap()).unwrap();
        assert_eq!(default["bids"].as_array().unwrap().len(), 100);
    }

    #[test]
    fn trades_limits_and_ids() {
        let v: Value =
            serde_json::from_str(&call(trades, "symbol=BTCUSDT&limit=7").unwrap()).unwrap();
        let ids: Vec<u64> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_u64().unwrap())
            .collect();
        assert_eq!(ids.len(), 7);
        assert!(ids.windows(2).all(|w| w[1] == w[0] + 1));
        let from = ids[0];
        let h: Value = serde_json::from_str(
            &call(
                historical_trades,
                &format!("symbol=BTCUSDT&fromId={from}&limit=3"),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(h[0], v[0]);
        let a: Value = serde_json::from_str(
            &call(agg_trades, &format!("symbol=BTCUSDT&fromId={from}&limit=2")).unwrap(),
        )
        .unwrap();
        assert_eq!(a[0]["a"], from);
        assert_eq!(a[0]["p"], v[0]["price"]);
        assert_eq!(a[0]["T"], v[0]["time"]);
        let start = NOW - 2_000;
        let w: Value = serde_json::from_str(
            &call(
                agg_trades,
                &format!("symbol=BTCUSDT&startTime={start}&endTime={NOW}"),
            )
            .unwrap(),
        )
        .unwrap();
        assert!(w
            .as_array()
            .unwrap()
            .iter()
            .all(|t| (start..=NOW).contains(&t["T"].as_u64().unwrap())));
        assert_eq!(call(trades, "").unwrap_err(), ApiError::Mandatory("symbol"));
    }
}
