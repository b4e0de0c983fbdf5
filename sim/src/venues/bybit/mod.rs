//! Bybit v5 public market data (`/v5/market/...`), category `spot`: `{"retCode":0,"retMsg":"OK",
//! "result":{...},"retExtInfo":{},"time":<ms>}` envelopes, numbers as decimal strings, symbols
//! `BTCUSDT`. Errors are HTTP 200 with a non-zero `retCode`, except the IP ban (HTTP 403).
//! Linear perpetuals (`category=linear`) in `derivatives.rs`, counted as `linear:<endpoint>`.

pub(crate) mod data;
mod derivatives;

use super::{Answer, Reject, VenueApi};
use crate::market::derivatives::Derivatives;
use crate::market::Market;
use crate::rest::Params;
use axum::http::StatusCode;
use serde_json::{json, Value};

pub struct Bybit;

const BASE: &str = "/v5/";

/// Bybit's trade id (`execId`, websocket `i`) of the walk's trade `id`: a UUID, as Bybit's are,
/// so clients cannot order trades by id. Its last group is `id` in hex (tests can still tell
/// which trade it is); the rest is scrambled, so the ids do not sort in trade order.
pub(crate) fn exec_id(id: u64) -> String {
    let h = id.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        h >> 32,
        (h >> 16) & 0xffff,
        h & 0xfff,
        0x8000 | ((h >> 4) & 0x3fff),
        id & 0xffff_ffff_ffff
    )
}

const ENDPOINTS: [&str; 10] = [
    "market/instruments-info",
    "market/time",
    "market/tickers",
    "market/orderbook",
    "market/kline",
    "market/recent-trade",
    "market/funding/history",
    "market/open-interest",
    "market/mark-price-kline",
    "market/index-price-kline",
];

fn envelope(code: u32, msg: &str, result: Value, now: u64) -> String {
    json!({"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {}, "time": now})
        .to_string()
}

impl VenueApi for Bybit {
    fn endpoint(&self, path: &str) -> Option<&'static str> {
        let rest = path.strip_prefix(BASE)?;
        ENDPOINTS.into_iter().find(|e| *e == rest)
    }

    fn symbols_named(&self, _path: &str, p: &Params) -> Vec<String> {
        p.get("symbol").map(str::to_string).into_iter().collect()
    }

    fn handle(
        &self,
        endpoint: &'static str,
        _path: &str,
        m: &Market,
        p: &Params,
        now: u64,
    ) -> Result<String, Reject> {
        let result = match endpoint {
            "market/time" => json!({
                "timeSecond": (now / 1000).to_string(),
                "timeNano": (u128::from(now) * 1_000_000).to_string()
            }),
            "market/instruments-info" => data::instruments(m, p)?,
            "market/tickers" => data::tickers(m, p, now)?,
            "market/orderbook" => data::orderbook(m, p, now)?,
            "market/kline" => data::kline(m, p, now)?,
            "market/recent-trade" => data::recent_trades(m, p, now)?,
            _ => return Err(Reject::BadParam(format!("no endpoint {endpoint}"))),
        };
        Ok(envelope(0, "OK", result, now))
    }

    fn derivative(&self, endpoint: &str, p: &Params) -> Option<&'static str> {
        derivatives::is_linear(endpoint, p).then_some("linear:")
    }

    fn handle_derivative(
        &self,
        endpoint: &'static str,
        d: &Derivatives,
        p: &Params,
        now: u64,
    ) -> Result<String, Reject> {
        Ok(envelope(
            0,
            "OK",
            derivatives::handle(endpoint, d, p, now)?,
            now,
        ))
    }

    fn reject(&self, r: &Reject, now: u64) -> Answer {
        let msg = match r {
            Reject::UnknownSymbol => "Not supported symbols",
            Reject::BadParam(msg) => msg.as_str(),
        };
        Answer::json(StatusCode::OK, envelope(10001, msg, json!({}), now))
    }

    fn rate_limited(&self, now: u64) -> Answer {
        Answer::json(
            StatusCode::OK,
            envelope(10006, "Too many visits!", json!({}), now),
        )
    }

    fn failure(&self, status: StatusCode, _now: u64) -> Answer {
        if status == StatusCode::FORBIDDEN {
            // Bybit's IP ban for exceeding the request rate: plain text, HTTP 403.
            Answer::text(status, "access too frequent")
        } else {
            // What the CDN in front of Bybit answers when the API is down.
            Answer::text(status, status.canonical_reason().unwrap_or("error"))
        }
    }
}

#[cfg(test)]
mod tests;
