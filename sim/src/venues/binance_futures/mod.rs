//! Binance USDⓈ-M futures public REST (`/fapi/v1/...`, and `/fapi/v2/ticker/price`) on the
//! Binance simulator's port, in the fapi wire format, from the venue's contracts
//! (`market::derivatives`).
//!
//! The same pipeline as `/api/v3` (count and log on arrival → charge weight → latency → rate
//! limit / injected status → handler), with its own REQUEST_WEIGHT budget
//! ([`crate::state::FUTURES_WEIGHT_LIMIT`] a minute, reported in `X-MBX-USED-WEIGHT-1M`) and
//! weights per Binance's futures docs. Endpoint names (counters, faults, request log,
//! `last_response`) are the path without its leading slash: `fapi/v1/premiumIndex`.

mod data;
#[cfg(test)]
mod tests;

use crate::counters::Verdict;
use crate::rest::{ApiError, Params};
use crate::state::{now_ms, SimState};
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The fapi endpoints served; `name` is the path after `/fapi/v1/` (v2's ticker/price apart).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FEndpoint {
    Ping,
    Time,
    ExchangeInfo,
    PremiumIndex,
    FundingRate,
    FundingInfo,
    OpenInterest,
    Ticker24hr,
    BookTicker,
    TickerPrice,
    TickerPriceV2,
    Klines,
    MarkPriceKlines,
    IndexPriceKlines,
    Depth,
    Trades,
    AggTrades,
    HistoricalTrades,
}

impl FEndpoint {
    pub const ALL: [FEndpoint; 18] = [
        FEndpoint::Ping,
        FEndpoint::Time,
        FEndpoint::ExchangeInfo,
        FEndpoint::PremiumIndex,
        FEndpoint::FundingRate,
        FEndpoint::FundingInfo,
        FEndpoint::OpenInterest,
        FEndpoint::Ticker24hr,
        FEndpoint::BookTicker,
        FEndpoint::TickerPrice,
        FEndpoint::TickerPriceV2,
        FEndpoint::Klines,
        FEndpoint::MarkPriceKlines,
        FEndpoint::IndexPriceKlines,
        FEndpoint::Depth,
        FEndpoint::Trades,
        FEndpoint::AggTrades,
        FEndpoint::HistoricalTrades,
    ];

    /// The endpoint name: the request path without its leading slash.
    pub fn name(self) -> &'static str {
        match self {
            FEndpoint::Ping => "fapi/v1/ping",
            FEndpoint::Time => "fapi/v1/time",
            FEndpoint::ExchangeInfo => "fapi/v1/exchangeInfo",
            FEndpoint::PremiumIndex => "fapi/v1/premiumIndex",
            FEndpoint::FundingRate => "fapi/v1/fundingRate",
            FEndpoint::FundingInfo => "fapi/v1/fundingInfo",
            FEndpoint::OpenInterest => "fapi/v1/openInterest",
            FEndpoint::Ticker24hr => "fapi/v1/ticker/24hr",
            FEndpoint::BookTicker => "fapi/v1/ticker/bookTicker",
            FEndpoint::TickerPrice => "fapi/v1/ticker/price",
            FEndpoint::TickerPriceV2 => "fapi/v2/ticker/price",
            FEndpoint::Klines => "fapi/v1/klines",
            FEndpoint::MarkPriceKlines => "fapi/v1/markPriceKlines",
            FEndpoint::IndexPriceKlines => "fapi/v1/indexPriceKlines",
            FEndpoint::Depth => "fapi/v1/depth",
            FEndpoint::Trades => "fapi/v1/trades",
            FEndpoint::AggTrades => "fapi/v1/aggTrades",
            FEndpoint::HistoricalTrades => "fapi/v1/historicalTrades",
        }
    }

    pub fn from_name(name: &str) -> Option<FEndpoint> {
        FEndpoint::ALL.into_iter().find(|e| e.name() == name)
    }

    /// Request weight per Binance's USDⓈ-M futures docs.
    pub fn weight(self, p: &Params) -> u32 {
        let one = p.get("symbol").is_some();
        let limit = p.get("limit").and_then(|l| l.parse::<u64>().ok());
        match self {
            FEndpoint::Ping
            | FEndpoint::Time
            | FEndpoint::ExchangeInfo
            | FEndpoint::FundingRate
            | FEndpoint::FundingInfo
            | FEndpoint::OpenInterest => 1,
            FEndpoint::PremiumIndex => {
                if one {
                    1
                } else {
                    10
                }
            }
            FEndpoint::Ticker24hr => {
                if one {
                    1
                } else {
                    40
                }
            }
            FEndpoint::BookTicker | FEndpoint::TickerPrice | FEndpoint::TickerPriceV2 => {
                if one {
                    2
                } else {
                    5
                }
            }
            FEndpoint::Klines | FEndpoint::MarkPriceKlines | FEndpoint::IndexPriceKlines => {
                match limit.unwrap_or(500) {
                    0..=99 => 1,
                    100..=499 => 2,
                    500..=1000 => 5,
                    _ => 10,
                }
            }
            FEndpoint::Depth => match limit.unwrap_or(500) {
                0..=50 => 2,
                51..=100 => 5,
                101..=500 => 10,
                _ => 20,
            },
            FEndpoint::Trades => 5,
            FEndpoint::AggTrades | FEndpoint::HistoricalTrades => 20,
        }
    }
}

/// The body `GET /<endpoint>?<params>` would get at `now` (no counting, weight or faults), or
/// its Binance error body: for tests comparing streams with REST at an event's time.
pub fn handle_at(
    endpoint: &str,
    d: &crate::market::derivatives::Derivatives,
    p: &Params,
    now: u64,
) -> Result<String, String> {
    let e = FEndpoint::from_name(endpoint).ok_or_else(|| format!("unknown endpoint {endpoint}"))?;
    data::handle(e, d, p, now).map_err(|err| err.body())
}

/// `GET /fapi/*`: every futures request.
pub async fn serve(
    State(st): State<Arc<SimState>>,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Response {
    let path = uri.path().trim_start_matches('/').to_string();
    st.calls.incr(&path);
    let params = Params::parse(query.as_deref());
    let ticket = st.requests.record(
        &path,
        query
            .as_deref()
            .map(crate::rest::decode)
            .unwrap_or_default(),
        params.symbol_names(),
    );
    let endpoint = FEndpoint::from_name(&path);
    let charge = st
        .futures_weight
        .charge(endpoint.map_or(1, |e| e.weight(&params)), now_ms());
    let plan = st.faults.plan(&path);
    if !plan.delay.is_zero() {
        tokio::time::sleep(plan.delay).await;
    }
    let limit = st.futures_weight.limit();
    let delisted = st
        .faults
        .get()
        .names_delisted(params.get("symbol"), params.get("symbols"));
    let mut resp = match (charge.verdict, plan.status, endpoint, st.derivs.as_ref()) {
        (Verdict::TooMuch { retry_after_s }, ..) => {
            crate::rest::error_response(ApiError::TooMuchWeight(limit), None, Some(retry_after_s))
        }
        (
            Verdict::Banned {
                retry_after_s,
                until_ms,
            },
            ..,
        ) => crate::rest::error_response(ApiError::Banned(until_ms), None, Some(retry_after_s)),
        (Verdict::Ok, Some(status), ..) => crate::rest::forced(status, plan.retry_after_s, limit),
        (Verdict::Ok, None, None, _) | (Verdict::Ok, None, _, None) => {
            StatusCode::NOT_FOUND.into_response()
        }
        (Verdict::Ok, None, Some(e), Some(_)) if delisted && e != FEndpoint::ExchangeInfo => {
            crate::rest::error_response(ApiError::InvalidSymbol, None, None)
        }
        (Verdict::Ok, None, Some(e), Some(d)) => match data::handle(e, d, &params, now_ms()) {
            Ok(body) => {
                let body = Bytes::from(body);
                st.record_last(e.name(), params.get("symbol"), body.clone());
                crate::rest::json(StatusCode::OK, Body::from(body))
            }
            Err(err) => crate::rest::error_response(err, None, None),
        },
    };
    let used = HeaderValue::from(charge.used);
    resp.headers_mut()
        .insert(HeaderName::from_static("x-mbx-used-weight-1m"), used);
    st.requests.answer(ticket, resp.status().as_u16());
    resp
}
