//! Calls the worker pool over Redis, as a service on another node would.
//!
//! ```sh
//! REDIS_URL=redis://127.0.0.1:6379 cargo run --example pubsub_client -- BTC/USDT ETH/USDT
//! ```
//! (with `crypto-market-worker` running against the same Redis). Settings as everywhere:
//! `REDIS_URL` or `REDIS_HOST`/..., `KEY_PREFIX`, `REQUEST_CHANNEL`, `RESPONSE_CHANNEL`,
//! `REQUEST_TIMEOUT`.

#![allow(
    clippy::print_stdout,
    reason = "an example shows its results on stdout"
)]

use std::process::ExitCode;

use crypto_market_mcp::client::PubSubClient;
use crypto_market_mcp::config::{self, CommonArgs};
use serde_json::json;

#[tokio::main]
async fn main() -> ExitCode {
    let symbols: Vec<String> = std::env::args().skip(1).collect();
    let symbols = if symbols.is_empty() {
        vec!["BTC/USDT".to_owned()]
    } else {
        symbols
    };
    let settings = match config::load(&CommonArgs::default(), |name| std::env::var(name).ok()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("pubsub_client: {e}");
            return ExitCode::from(2);
        }
    };
    let client =
        match PubSubClient::connect(settings.redis_target(), settings.pubsub_client(None)).await {
            Ok(client) => client,
            Err(e) => {
                eprintln!("pubsub_client: {e}");
                return ExitCode::FAILURE;
            }
        };
    let mut failed = false;
    for symbol in symbols {
        match client.call("get_ticker", json!({ "symbol": symbol })).await {
            Ok(t) => println!(
                "{:<12} last {:>14} bid {:>14} ask {:>14}  ({}, {} ms old)",
                t["symbol"].as_str().unwrap_or("?"),
                t["last"],
                t["bid"],
                t["ask"],
                t["source"].as_str().unwrap_or("?"),
                t["age_ms"]
            ),
            Err(e) => {
                eprintln!("{symbol}: {e}");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
