//! Derivatives (issue 22's table; a load generator, not criterion).
//!
//! `cargo bench --bench derivatives`: the five venues' simulators (Binance USDⓈ-M, OKX SWAP and
//! Bybit linear serve perpetuals), every REST answer delayed `BENCH_VENUE_LATENCY_MS` (default
//! 20) as a network round trip would, the real `crypto-market-mcp` binary over stdio with all
//! five enabled, one call at a time (`BENCH_CALLS`, default 100 per row):
//!
//! 1. cold (`CACHE_TTL=0`): `compare_funding` over the derivative venues against, in the same
//!    run, one venue's cold `get_funding_rate` (the floor: one round trip); aim ≤ 1.1×;
//! 2. warm (`CACHE_TTL=3600`): `compare_funding` and `get_funding_rate` from memory; aim p50
//!    ≤ 0.2 ms.
//!
//! Prints Markdown tables to stdout.

#![allow(
    clippy::print_stdout,
    reason = "a benchmark's report is Markdown on stdout"
)]

mod common;

use std::time::Instant;

use common::env_number;
use common::five_venues::{delayed_venues, header, p50, row, Server};
use serde_json::{json, Value};

/// The venues with perpetuals.
const DERIVATIVE_VENUES: [&str; 3] = ["binance", "okx", "bybit"];

fn main() {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run());
}

impl Server {
    /// Latency of `calls` calls of `tool` with `args`, one after another, ms.
    async fn time(&self, calls: u64, tool: &str, args: &Value) -> Vec<f64> {
        let mut out = Vec::with_capacity(calls as usize);
        for _ in 0..calls {
            let started = Instant::now();
            self.call(tool, args.clone()).await;
            out.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        out
    }
}

async fn run() {
    let calls = env_number("BENCH_CALLS", 100);
    let latency = env_number("BENCH_VENUE_LATENCY_MS", 20);
    let sims = delayed_venues(latency);
    // The venues whose simulator serves perpetuals in this build.
    let venues: Vec<&str> = DERIVATIVE_VENUES
        .into_iter()
        .filter(|v| {
            sims.iter()
                .any(|s| s.venue().id() == *v && !s.contract_ids().is_empty())
        })
        .collect();
    let compare = json!({"symbol": "BTCUSDT", "exchanges": venues});
    println!("# derivatives: compare_funding and get_funding_rate\n");
    println!(
        "- {calls} calls per row, one at a time; every simulated REST answer takes {latency} ms; \
         release `crypto-market-mcp` over stdio, `ENABLE_RATE_LIMIT=false`; venues compared: {}",
        venues.join(", ")
    );

    // 1. Cold: every call goes to the venues.
    let cold = Server::start(&sims, "0").await;
    let first = cold.call("compare_funding", compare.clone()).await; // markets loaded
    assert_eq!(
        first["rates"].as_array().map(Vec::len),
        Some(venues.len()),
        "{first}"
    );
    header("cold (CACHE_TTL=0: every call asks the exchanges)");
    let mut floor = f64::MAX;
    for venue in &venues {
        let ms = cold
            .time(
                calls,
                "get_funding_rate",
                &json!({"symbol": "BTCUSDT", "exchange": venue}),
            )
            .await;
        let label = format!("`get_funding_rate` on {venue}");
        if *venue == "binance" {
            floor = p50(&ms);
            row(&label, ms, None, 3);
        } else {
            row(&label, ms, Some(floor), 3);
        }
    }
    let compared = cold.time(calls, "compare_funding", &compare).await;
    row(
        &format!("`compare_funding`, {} venues", venues.len()),
        compared,
        Some(floor),
        3,
    );
    drop(cold);

    // 2. Warm: everything from memory.
    let warm = Server::start(&sims, "3600").await;
    warm.call("compare_funding", compare.clone()).await;
    header("warm (CACHE_TTL=3600: served from memory)");
    let single = warm
        .time(
            calls,
            "get_funding_rate",
            &json!({"symbol": "BTCUSDT", "exchange": "binance"}),
        )
        .await;
    let floor = p50(&single);
    row("`get_funding_rate` on binance", single, None, 3);
    let compared = warm.time(calls, "compare_funding", &compare).await;
    row(
        &format!("`compare_funding`, {} venues", venues.len()),
        compared,
        Some(floor),
        3,
    );
}
