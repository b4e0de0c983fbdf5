//! ccxt's typed values and errors, turned into the normalised model and [`VenueError`].
//! Exchange replies are validated here: non-finite numbers become unknown (`None`), rows that
//! cannot be read are dropped and logged rather than served as zeros.

use std::time::Duration;

use crate::model::{
    Candle, FundingPoint, FundingRate, Market, MarketTerms, OpenInterest, OrderBook, Ticker, Trade,
    TradeSide,
};
use crate::venue::VenueError;

/// Back-off after a 429 that says neither `Retry-After` nor a ban's end.
pub const DEFAULT_RATE_LIMIT_BACK_OFF: Duration = Duration::from_secs(5);
/// Longest ban we honour from a 418 message; a longer one is still reported, retried later.
const MAX_BAN: Duration = Duration::from_secs(3600);

fn finite(value: Option<f64>) -> Option<f64> {
    value.filter(|v| v.is_finite())
}

pub fn ticker(t: ccxt::types::Ticker) -> Ticker {
    Ticker {
        symbol: t.symbol,
        timestamp: t.timestamp,
        datetime: t.datetime,
        high: finite(t.high),
        low: finite(t.low),
        bid: finite(t.bid),
        bid_volume: finite(t.bid_volume),
        ask: finite(t.ask),
        ask_volume: finite(t.ask_volume),
        vwap: finite(t.vwap),
        open: finite(t.open),
        close: finite(t.close),
        last: finite(t.last),
        previous_close: finite(t.previous_close),
        change: finite(t.change),
        percentage: finite(t.percentage),
        average: finite(t.average),
        base_volume: finite(t.base_volume),
        quote_volume: finite(t.quote_volume),
        mark_price: finite(t.mark_price),
        index_price: finite(t.index_price),
    }
}

pub fn market(m: &ccxt::types::Market) -> Option<Market> {
    if m.symbol.is_empty() || m.base.is_empty() || m.quote.is_empty() {
        return None;
    }
    Some(Market {
        symbol: m.symbol.clone(),
        base: m.base.clone(),
        quote: m.quote.clone(),
        market_type: m.market_type.clone(),
        active: m.active,
        id: m.id.clone(),
        terms: MarketTerms {
            settle: m.settle.clone().filter(|s| !s.is_empty()),
            contract_size: finite(ccxt::safe_number(&m.raw, "contractSize", None)),
            linear: m.linear,
            expiry: ccxt::safe_integer(&m.raw, "expiry", None),
            tick_size: finite(m.precision.price),
            amount_step: finite(m.precision.amount),
            min_amount: finite(m.limits.amount.min),
            min_notional: finite(m.limits.cost.min),
            maker_fee: finite(m.maker),
            taker_fee: finite(m.taker),
        },
    })
}

/// ccxt's funding rate. `interval_hours`: the venue's listed interval for the symbol when
/// the rate itself does not say (Binance's premiumIndex does not). The next settlement is
/// ccxt's `fundingTimestamp` (the period under way settles then; OKX's `nextFundingTime` is
/// the one after).
pub fn funding_rate(f: ccxt::types::FundingRate, interval_hours: Option<f64>) -> FundingRate {
    let stated = f.interval.as_deref().and_then(|i| {
        i.trim()
            .trim_end_matches('h')
            .parse::<f64>()
            .ok()
            .filter(|h| h.is_finite() && *h > 0.0)
    });
    FundingRate {
        symbol: f.symbol,
        funding_rate: finite(f.funding_rate),
        next_funding_ms: f.funding_timestamp.or(f.next_funding_timestamp),
        interval_hours: stated.or(interval_hours),
        mark_price: finite(f.mark_price),
        index_price: finite(f.index_price),
        timestamp: f.timestamp,
    }
}

/// Settled funding rates, oldest first, rows without a time or rate dropped.
pub fn funding_history(rows: Vec<ccxt::types::FundingRateHistory>) -> Vec<FundingPoint> {
    let mut points: Vec<FundingPoint> = rows
        .into_iter()
        .filter_map(|r| {
            Some(FundingPoint {
                timestamp: r.timestamp?,
                funding_rate: finite(r.funding_rate)?,
            })
        })
        .collect();
    points.sort_by_key(|p| p.timestamp);
    points.dedup_by_key(|p| p.timestamp);
    points
}

/// ccxt's open interest, in contracts, base and quote. OKX says all three (`oi`, `oiCcy`,
/// `oiUsd`); elsewhere ccxt's amount is in contracts, the base is it times the contract
/// size, and the value is what the venue states (else unknown).
pub fn open_interest(o: ccxt::types::OpenInterest, contract_size: Option<f64>) -> OpenInterest {
    let info = ccxt::get_value(&o.raw, &ccxt::Value::from("info"));
    let raw = |key: &str| finite(ccxt::safe_number(&info, key, None));
    let contracts = raw("oi")
        .or_else(|| finite(o.open_interest_amount))
        .or_else(|| raw("openInterest"));
    let base = raw("oiCcy").or_else(|| {
        contracts
            .zip(contract_size.or(Some(1.0)))
            .map(|(c, size)| c * size)
    });
    OpenInterest {
        symbol: o.symbol,
        open_interest: contracts,
        open_interest_base: base,
        open_interest_value: raw("oiUsd")
            .or_else(|| finite(o.open_interest_value))
            .or_else(|| finite(o.quote_volume)),
        timestamp: o.timestamp,
    }
}

pub fn candles(rows: Vec<[f64; 6]>) -> Vec<Candle> {
    let total = rows.len();
    let mut candles: Vec<Candle> = rows
        .into_iter()
        .filter(|row| row.iter().all(|v| v.is_finite()) && row[0] > 0.0)
        .map(|[ts, open, high, low, close, volume]| Candle {
            timestamp: ts as i64,
            open,
            high,
            low,
            close,
            volume,
        })
        .collect();
    if candles.len() != total {
        tracing::warn!(
            dropped = total - candles.len(),
            "dropped unreadable candles"
        );
    }
    candles.sort_by_key(|c| c.timestamp);
    candles
}

pub fn order_book(book: ccxt::types::OrderBook) -> OrderBook {
    let level_ok = |level: &[f64; 2]| level[0].is_finite() && level[1].is_finite();
    let mut book = OrderBook {
        bids: book.bids.into_iter().filter(level_ok).collect(),
        asks: book.asks.into_iter().filter(level_ok).collect(),
        timestamp: book.timestamp,
        nonce: book.nonce,
    };
    book.sort_best_first();
    book
}

pub fn trades(raw: Vec<ccxt::types::Trade>) -> Vec<Trade> {
    let total = raw.len();
    let trades: Vec<Trade> = raw
        .into_iter()
        .filter_map(|t| {
            Some(Trade {
                id: t.id,
                timestamp: t.timestamp,
                side: match t.side.as_deref() {
                    Some("buy") => Some(TradeSide::Buy),
                    Some("sell") => Some(TradeSide::Sell),
                    _ => None,
                },
                price: finite(t.price)?,
                amount: finite(t.amount)?,
            })
        })
        .collect();
    if trades.len() != total {
        tracing::warn!(dropped = total - trades.len(), "dropped unreadable trades");
    }
    trades
}

/// Maps ccxt's error classes (its class hierarchy, via `is`) onto [`VenueError`].
/// `retry_after`: the response's `Retry-After` header, if it had one.
pub fn error(e: ccxt::ExchangeError, retry_after: Option<Duration>) -> VenueError {
    let message = e.message.clone();
    if e.is("BadSymbol") {
        VenueError::BadSymbol(message)
    } else if e.is("DDoSProtection") || e.is("RateLimitExceeded") {
        VenueError::RateLimited {
            retry_after: Some(back_off_for(&message, retry_after)),
            message,
        }
    } else if e.is("AuthenticationError") {
        VenueError::Unauthorized(message)
    } else if e.is("NotSupported") {
        VenueError::Unsupported(message)
    } else if e.is("BadResponse") || e.is("NullResponse") {
        VenueError::Malformed(message)
    } else if e.is("BadRequest") || e.is("ArgumentsRequired") {
        VenueError::BadRequest(message)
    } else if e.kind == "NetworkError" {
        // The base NetworkError class (not one of its subclasses above or below): the request
        // never got an HTTP answer (refused, DNS, TLS, reset).
        VenueError::Unreachable(message)
    } else if e.is("OperationFailed") {
        // ccxt's "may succeed on retry" class: 5xx, 404, 504 (RequestTimeout), refused
        // connections (NetworkError), and Binance's -1000 "unknown error" reply to a 5xx. The
        // exchange could not serve us right now.
        VenueError::unavailable(message)
    } else if e.is("ExchangeError") {
        // An error reply of the exchange's own that fits no class above: the exchange is up and
        // answered, so this must not open its circuit.
        VenueError::Rejected(message)
    } else {
        VenueError::Other(format!("{}: {message}", e.kind))
    }
}

/// How long to stay away after a 429/418: until the ban's end when Binance's message says it
/// ("IP banned until 1710328245391"), else the `Retry-After` header, else a default.
fn back_off_for(message: &str, retry_after: Option<Duration>) -> Duration {
    let banned_until = message
        .split("banned until ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|ms| ms.parse::<i64>().ok());
    match banned_until {
        Some(until_ms) => {
            let left = until_ms - crate::model::now_ms();
            Duration::from_millis(left.max(0) as u64).clamp(DEFAULT_RATE_LIMIT_BACK_OFF, MAX_BAN)
        }
        None => retry_after
            .map(|wait| wait.min(MAX_BAN))
            .unwrap_or(DEFAULT_RATE_LIMIT_BACK_OFF),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_follow_ccxt_class_hierarchy() {
        let e = |kind: &str| {
            error(
                ccxt::ExchangeError::new(kind, "binance {\"code\":-1}"),
                None,
            )
        };
        assert!(matches!(e("BadSymbol"), VenueError::BadSymbol(_)));
        assert!(matches!(
            e("DDoSProtection"),
            VenueError::RateLimited { .. }
        ));
        assert!(matches!(
            e("RateLimitExceeded"),
            VenueError::RateLimited { .. }
        ));
        for down in ["ExchangeNotAvailable", "RequestTimeout", "OperationFailed"] {
            assert!(e(down).says_exchange_down(), "{down}");
        }
        assert!(matches!(e("NetworkError"), VenueError::Unreachable(_)));
        assert!(e("NetworkError").says_exchange_down());
        // Issue 9, defect 4: an unmapped error reply is the exchange answering, not down.
        for up in ["ExchangeError", "InvalidOrder", "OperationRejected"] {
            let mapped = e(up);
            assert!(
                matches!(mapped, VenueError::Rejected(_)),
                "{up}: {mapped:?}"
            );
            assert!(!mapped.says_exchange_down(), "{up}");
        }
        assert!(matches!(e("PermissionDenied"), VenueError::Unauthorized(_)));
        assert!(matches!(e("NotSupported"), VenueError::Unsupported(_)));
        assert!(matches!(e("BadResponse"), VenueError::Malformed(_)));
    }

    #[test]
    fn ban_message_sets_the_back_off() {
        let until = crate::model::now_ms() + 60_000;
        let wait = back_off_for(&format!("binance {{\"code\":-1003,\"msg\":\"Way too much request weight used; IP banned until {until}. Please use\"}}"), Some(Duration::from_secs(1)));
        assert!(
            wait > Duration::from_secs(55) && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
        assert_eq!(
            back_off_for("Too much request weight used", None),
            DEFAULT_RATE_LIMIT_BACK_OFF
        );
        // Issue 9, defect 3: a 429's Retry-After is honoured, not replaced by a fixed 5 s.
        assert_eq!(
            back_off_for(
                "Too much request weight used",
                Some(Duration::from_secs(30))
            ),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn unreadable_rows_are_dropped_not_zeroed() {
        let rows = vec![
            [2.0, 1.0, 2.0, 0.5, 1.5, 10.0],
            [1.0, f64::NAN, 2.0, 0.5, 1.5, 10.0],
            [0.0, 1.0, 1.0, 1.0, 1.0, 1.0],
        ];
        let candles = candles(rows);
        assert_eq!(candles.len(), 1);
        assert_eq!(candles[0].timestamp, 2);
    }
}
