//! OKX v5 public market data (`/api/v5/...`): `{"code":"0","msg":"","data":[...]}` envelopes,
//! every number a decimal string, instruments `BTC-USDT`; perpetual swaps (`BTC-USDT-SWAP`,
//! `instType=SWAP`) in `derivatives.rs`, counted as `swap:<endpoint>`.

pub(crate) mod data;
mod derivatives;

use super::{Answer, Reject, VenueApi};
use crate::market::derivatives::Derivatives;
use crate::market::Market;
use crate::rest::Params;
use axum::http::StatusCode;
use serde_json::json;

pub struct Okx;

const BASE: &str = "/api/v5/";

const ENDPOINTS: [&str; 19] = [
    "public/instruments",
    "public/time",
    "market/ticker",
    "market/tickers",
    "market/books",
    "market/books-full",
    "market/candles",
    "market/history-candles",
    "market/trades",
    "market/history-trades",
    "public/funding-rate",
    "public/funding-rate-history",
    "public/open-interest",
    "public/mark-price",
    "market/index-tickers",
    "market/mark-price-candles",
    "market/history-mark-price-candles",
    "market/index-candles",
    "market/history-index-candles",
];

/// OKX's envelope around a business error (HTTP 200 unless said otherwise).
fn error(status: StatusCode, code: &str, msg: &str) -> Answer {
    Answer::json(
        status,
        json!({"code": code, "msg": msg, "data": []}).to_string(),
    )
}

impl VenueApi for Okx {
    fn endpoint(&self, path: &str) -> Option<&'static str> {
        let rest = path.strip_prefix(BASE)?;
        ENDPOINTS.into_iter().find(|e| *e == rest)
    }

    fn symbols_named(&self, _path: &str, p: &Params) -> Vec<String> {
        p.get("instId").map(str::to_string).into_iter().collect()
    }

    fn handle(
        &self,
        endpoint: &'static str,
        _path: &str,
        m: &Market,
        p: &Params,
        now: u64,
    ) -> Result<String, Reject> {
        let data = match endpoint {
            "public/instruments" => data::instruments(m, p)?,
            "public/time" => json!([{"ts": now.to_string()}]),
            "market/ticker" => json!([data::ticker(m, data::inst(m, p)?, now)]),
            "market/tickers" => data::tickers(m, p, now)?,
            "market/books" => data::books(m, p, now, 400)?,
            "market/books-full" => data::books(m, p, now, 5000)?,
            "market/candles" => data::candles(m, p, now, 300)?,
            "market/history-candles" => data::candles(m, p, now, 100)?,
            "market/trades" => data::trades(m, p, now, 500)?,
            "market/history-trades" => data::trades(m, p, now, 100)?,
            _ => return Err(Reject::BadParam(format!("no endpoint {endpoint}"))),
        };
        super::to_body(&json!({"code": "0", "msg": "", "data": data}))
    }

    fn derivative(&self, endpoint: &str, p: &Params) -> Option<&'static str> {
        derivatives::is_swap(endpoint, p).then_some("swap:")
    }

    fn handle_derivative(
        &self,
        endpoint: &'static str,
        d: &Derivatives,
        p: &Params,
        now: u64,
    ) -> Result<String, Reject> {
        let data = derivatives::handle(endpoint, d, p, now)?;
        super::to_body(&json!({"code": "0", "msg": "", "data": data}))
    }

    fn reject(&self, r: &Reject, _now: u64) -> Answer {
        match r {
            Reject::UnknownSymbol => error(StatusCode::OK, "51001", "Instrument ID does not exist"),
            Reject::BadParam(msg) => error(StatusCode::BAD_REQUEST, "51000", msg),
        }
    }

    fn rate_limited(&self, _now: u64) -> Answer {
        error(StatusCode::TOO_MANY_REQUESTS, "50011", "Too Many Requests")
    }

    fn failure(&self, status: StatusCode, _now: u64) -> Answer {
        if status.is_server_error() {
            error(
                status,
                "50001",
                "Service temporarily unavailable. Please try again later",
            )
        } else {
            error(status, "50000", "Request failed")
        }
    }
}

#[cfg(test)]
mod tests;
