//! Kraken spot public REST (`/0/public/...`): `{"error":[],"result":{...}}` envelopes, results
//! keyed by pair id (`XBTUSDT`), prices at the pair's decimals, times in seconds. Errors are HTTP
//! 200 with `error` strings such as `EQuery:Unknown asset pair`.

pub(crate) mod data;

use super::{Answer, Reject, VenueApi};
use crate::market::Market;
use crate::rest::Params;
use axum::http::StatusCode;
use serde_json::json;

pub struct Kraken;

const BASE: &str = "/0/public/";

const ENDPOINTS: [&str; 8] = [
    "AssetPairs",
    "Assets",
    "Ticker",
    "Depth",
    "OHLC",
    "Trades",
    "Time",
    "SystemStatus",
];

/// Kraken's asset id: legacy X/Z-prefixed ids for the old assets (ccxt maps `XXBT` → BTC,
/// `XETH` → ETH, `ZUSD` → USD), the plain code for newer ones (`USDT`, `SOL`).
pub fn asset_id(code: &str) -> String {
    match code {
        "BTC" => "XXBT".into(),
        "DOGE" => "XXDG".into(),
        "ETH" | "LTC" | "ETC" | "MLN" | "REP" | "ZEC" => format!("X{code}"),
        "XRP" | "XLM" | "XMR" => format!("X{code}"),
        "USD" | "EUR" | "GBP" | "JPY" | "CAD" | "AUD" => format!("Z{code}"),
        _ => code.into(),
    }
}

/// Kraken's short name of an asset (`altname`): BTC is XBT, DOGE is XDG.
pub fn altname(code: &str) -> &str {
    match code {
        "BTC" => "XBT",
        "DOGE" => "XDG",
        other => other,
    }
}

/// The pair id Kraken uses for newer pairs: the altnames joined (`XBTUSDT`, `ETHUSDT`).
pub fn pair_id(base: &str, quote: &str) -> String {
    format!("{}{}", altname(base), altname(quote))
}

fn error(status: StatusCode, e: &str) -> Answer {
    Answer::json(status, json!({"error": [e]}).to_string())
}

impl VenueApi for Kraken {
    fn endpoint(&self, path: &str) -> Option<&'static str> {
        let rest = path.strip_prefix(BASE)?;
        ENDPOINTS.into_iter().find(|e| *e == rest)
    }

    fn symbols_named(&self, _path: &str, p: &Params) -> Vec<String> {
        p.get("pair")
            .map(|l| l.split(',').map(str::to_string).collect())
            .unwrap_or_default()
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
            "AssetPairs" => data::asset_pairs(m, p)?,
            "Assets" => data::assets(m),
            "Ticker" => data::ticker(m, p, now)?,
            "Depth" => data::depth(m, p, now)?,
            "OHLC" => data::ohlc(m, p, now)?,
            "Trades" => data::trades(m, p, now)?,
            "Time" => json!({
                "unixtime": now / 1000,
                "rfc1123": crate::venues::format::rfc3339_micros(now)
            }),
            "SystemStatus" => json!({
                "status": "online",
                "timestamp": crate::venues::format::rfc3339_micros(now)
            }),
            _ => return Err(Reject::BadParam(format!("no endpoint {endpoint}"))),
        };
        super::to_body(&json!({"error": [], "result": result}))
    }

    fn reject(&self, r: &Reject, _now: u64) -> Answer {
        match r {
            Reject::UnknownSymbol => error(StatusCode::OK, "EQuery:Unknown asset pair"),
            Reject::BadParam(_) => error(StatusCode::OK, "EGeneral:Invalid arguments"),
        }
    }

    fn rate_limited(&self, _now: u64) -> Answer {
        error(StatusCode::OK, "EAPI:Rate limit exceeded")
    }

    fn failure(&self, status: StatusCode, _now: u64) -> Answer {
        match status {
            StatusCode::INTERNAL_SERVER_ERROR => error(status, "EGeneral:Internal error"),
            s if s.is_server_error() => error(status, "EService:Unavailable"),
            s => error(s, "EGeneral:Permission denied"),
        }
    }
}

#[cfg(test)]
mod tests;
