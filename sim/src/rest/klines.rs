//! GET /api/v3/klines.

use super::{to_json, ApiError, Params};
use crate::market::candles::{Candle, Range};
use crate::market::decimal::{fmt_f64, fmt_units};
use crate::market::interval::Interval;
use crate::market::Market;

/// Binance's 12-element kline row (serialised as a JSON array).
type Row = (
    u64,
    String,
    String,
    String,
    String,
    String,
    u64,
    String,
    u64,
    String,
    String,
    &'static str,
);

fn row(c: &Candle) -> Row {
    (
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
        "0",
    )
}

pub fn klines(m: &Market, p: &Params, now: u64) -> Result<String, ApiError> {
    let s = p.require_symbol(m)?;
    let iv = Interval::parse(p.get("interval").ok_or(ApiError::Mandatory("interval"))?)
        .ok_or(ApiError::BadInterval)?;
    let range = Range {
        start: p.u64("startTime")?,
        end: p.u64("endTime")?,
        limit: p.limit(500, 1000)?,
    };
    let rows: Vec<Row> = m.klines(s, iv, range, now).iter().map(row).collect();
    to_json(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{shape, KLINES_1H};
    use serde_json::Value;

    const NOW: u64 = 1_725_817_008_719;

    fn get(q: &str) -> Result<String, ApiError> {
        let m = Market::new(42, 0, false, 100).unwrap();
        klines(&m, &Params::parse(Some(q)), NOW)
    }

    #[test]
    fn shape_and_defaults() {
        let body = get("symbol=BTCUSDT&interval=1h").unwrap();
        assert_eq!(shape(&body).unwrap(), shape(KLINES_1H).unwrap());
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 500);
        assert_eq!(
            get("symbol=BTCUSDT&interval=1m&limit=5000").map(|b| serde_json::from_str::<Value>(&b)
                .unwrap()
                .as_array()
                .unwrap()
                .len()),
            Ok(1000)
        );
    }

    #[test]
    fn errors() {
        assert_eq!(
            get("symbol=BTCUSDT&interval=7m").unwrap_err(),
            ApiError::BadInterval
        );
        assert_eq!(
            get("symbol=BTCUSDT").unwrap_err(),
            ApiError::Mandatory("interval")
        );
        assert_eq!(
            get("interval=1m").unwrap_err(),
            ApiError::Mandatory("symbol")
        );
        assert_eq!(
            get("symbol=NOPE&interval=1m").unwrap_err(),
            ApiError::InvalidSymbol
        );
        assert!(matches!(
            get("symbol=BTCUSDT&interval=1m&startTime=abc").unwrap_err(),
            ApiError::IllegalChars {
                param: "startTime",
                ..
            }
        ));
    }

    #[test]
    fn a_start_time_at_the_end_of_time_gives_no_candles_not_1970s() {
        for interval in ["1m", "1w", "1M"] {
            let body = get(&format!(
                "symbol=ETHUSDT&interval={interval}&startTime={}",
                u64::MAX
            ))
            .unwrap();
            assert_eq!(body, "[]", "{interval}");
        }
    }

    #[test]
    fn start_time_window() {
        let start = NOW - 10 * 60_000 - 5;
        let v: Value = serde_json::from_str(
            &get(&format!(
                "symbol=ETHUSDT&interval=1m&startTime={start}&limit=3"
            ))
            .unwrap(),
        )
        .unwrap();
        let opens: Vec<u64> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r[0].as_u64().unwrap())
            .collect();
        let first = start.div_ceil(60_000) * 60_000;
        assert_eq!(opens, [first, first + 60_000, first + 120_000]);
    }
}
