//! Coinbase Advanced Trade public market data (`/api/v3/brokerage/market/...`, products
//! `BTC-USDT`), plus the v2 currency lists ccxt loads with the markets (`/v2/...`). Bodies carry
//! no envelope; errors are `{"error":"NOT_FOUND","error_details":..,"message":..}` with a 4xx.

pub(crate) mod data;

use super::{Answer, Reject, VenueApi};
use crate::market::Market;
use crate::rest::Params;
use axum::http::StatusCode;
use serde_json::json;

pub struct Coinbase;

const BASE: &str = "/api/v3/brokerage/";

/// The product id in `market/products/{id}[/tail]` and the endpoint name it maps to.
fn product_path(rest: &str) -> Option<(&str, &'static str)> {
    let tail = rest.strip_prefix("market/products/")?;
    match tail.split_once('/') {
        None if !tail.is_empty() => Some((tail, "market/products/{product_id}")),
        Some((id, "ticker")) => Some((id, "market/products/{product_id}/ticker")),
        Some((id, "candles")) => Some((id, "market/products/{product_id}/candles")),
        _ => None,
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Answer {
    Answer::json(
        status,
        json!({"error": code, "error_details": message, "message": message}).to_string(),
    )
}

impl VenueApi for Coinbase {
    fn endpoint(&self, path: &str) -> Option<&'static str> {
        match path {
            "/v2/currencies" => return Some("v2/currencies"),
            "/v2/currencies/crypto" => return Some("v2/currencies/crypto"),
            "/v2/exchange-rates" => return Some("v2/exchange-rates"),
            _ => {}
        }
        let rest = path.strip_prefix(BASE)?;
        match rest {
            "market/products" => Some("market/products"),
            "market/product_book" => Some("market/product_book"),
            "time" => Some("time"),
            _ => product_path(rest).map(|(_, name)| name),
        }
    }

    fn symbols_named(&self, path: &str, p: &Params) -> Vec<String> {
        if let Some((id, _)) = path.strip_prefix(BASE).and_then(product_path) {
            return vec![id.to_string()];
        }
        let mut ids: Vec<String> = p
            .all("product_ids")
            .into_iter()
            .flat_map(|v| v.split(','))
            .map(str::to_string)
            .collect();
        ids.extend(p.get("product_id").map(str::to_string));
        ids
    }

    fn handle(
        &self,
        endpoint: &'static str,
        path: &str,
        m: &Market,
        p: &Params,
        now: u64,
    ) -> Result<String, Reject> {
        let product = || {
            path.strip_prefix(BASE)
                .and_then(product_path)
                .and_then(|(id, _)| m.by_venue_id(id))
                .ok_or(Reject::UnknownSymbol)
        };
        let body = match endpoint {
            "v2/currencies" => data::fiat_currencies(),
            "v2/currencies/crypto" => data::crypto_currencies(m),
            "v2/exchange-rates" => data::exchange_rates(m, now),
            "time" => json!({
                "iso": crate::venues::format::rfc3339_micros(now),
                "epochSeconds": (now / 1000).to_string(),
                "epochMillis": now.to_string()
            }),
            "market/products" => data::products(m, p, now)?,
            "market/products/{product_id}" => data::product(m, product()?, now),
            "market/products/{product_id}/ticker" => data::ticker(m, product()?, p, now)?,
            "market/products/{product_id}/candles" => data::candles(m, product()?, p, now)?,
            "market/product_book" => data::product_book(m, p, now)?,
            _ => return Err(Reject::BadParam(format!("no endpoint {endpoint}"))),
        };
        super::to_body(&body)
    }

    fn reject(&self, r: &Reject, _now: u64) -> Answer {
        match r {
            Reject::UnknownSymbol => error(StatusCode::NOT_FOUND, "NOT_FOUND", "product not found"),
            Reject::BadParam(msg) => error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", msg),
        }
    }

    fn rate_limited(&self, _now: u64) -> Answer {
        error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_exceeded",
            "Too many requests",
        )
    }

    fn failure(&self, status: StatusCode, _now: u64) -> Answer {
        // What the gateway in front of the API answers when it is down: plain text.
        Answer::text(status, status.canonical_reason().unwrap_or("error"))
    }
}

#[cfg(test)]
mod tests;
