//! Five exchanges (issue 14's table; a load generator, not criterion).
//!
//! `cargo bench --bench venues`: five in-process simulators (Binance, OKX, Bybit, Kraken,
//! Coinbase formats, each on its own port, every REST answer delayed `BENCH_VENUE_LATENCY_MS`,
//! default 20, as a network round trip would), the real `crypto-market-mcp` binary over stdio
//! with all five enabled, one call at a time (`BENCH_CALLS`, default 100 per row):
//!
//! 1. `compare_prices` cold (`CACHE_TTL=0`: every venue is asked each time) against, in the same
//!    run, its baselines: one venue's cold `get_ticker` (the floor: one round trip) and the five
//!    `get_ticker`s one after another (what a client without compare would do);
//! 2. `compare_prices` warm (`CACHE_TTL=3600`) against one warm `get_ticker`;
//! 3. failover: Binance (the default) answers 503; the first calls after its death (its circuit
//!    still closed: each call tries Binance, then OKX serves) over `BENCH_ROUNDS` (default 5)
//!    deaths, and the steady state with its circuit open, against OKX's own cold `get_ticker`.
//!
//! Prints Markdown tables to stdout.

#![allow(
    clippy::print_stdout,
    reason = "a benchmark's report is Markdown on stdout"
)]

mod common;

use std::time::{Duration, Instant};

use common::env_number;
use common::five_venues::{delayed_venues, header, p50, row, Server};
use crypto_market_sim::{Faults, Venue};
use serde_json::json;

/// The circuit opens after this many failures in a row (the adapter's threshold), and stays
/// open this long.
const CIRCUIT_THRESHOLD: usize = 5;
const CIRCUIT_OPEN: Duration = Duration::from_secs(5);

fn main() {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run());
}

impl Server {
    /// Every table's baseline: OKX's `get_ticker`, `calls` times, printed as a row; its p50.
    async fn baseline(&self, calls: u64, label: &str) -> f64 {
        let ms = self
            .time(calls, |_| async {
                self.call(
                    "get_ticker",
                    json!({"symbol": "BTC/USDT", "exchange": "okx"}),
                )
                .await;
            })
            .await;
        let floor = p50(&ms);
        row(label, ms, None, 2);
        floor
    }

    /// Latency of `calls` calls made by `call` one after another, ms.
    async fn time<F, Fut>(&self, calls: u64, mut call: F) -> Vec<f64>
    where
        F: FnMut(u64) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let mut out = Vec::with_capacity(calls as usize);
        for i in 0..calls {
            let started = Instant::now();
            call(i).await;
            out.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        out
    }
}

async fn run() {
    let calls = env_number("BENCH_CALLS", 100);
    let rounds = env_number("BENCH_ROUNDS", 5);
    let latency = env_number("BENCH_VENUE_LATENCY_MS", 20);
    let sims = delayed_venues(latency);
    let delayed = Faults {
        latency_ms: latency,
        ..Default::default()
    };
    println!("# five venues: compare_prices and failover\n");
    println!(
        "- {calls} calls per row, one at a time; every simulated REST answer takes {latency} ms; \
         release `crypto-market-mcp` over stdio, `ENABLE_RATE_LIMIT=false`"
    );

    // 1. Cold: every call goes to the venues.
    let cold = Server::start(&sims, "0").await;
    cold.call("compare_prices", json!({"symbol": "BTC/USDT"}))
        .await; // markets loaded
    header("cold (CACHE_TTL=0: every call asks the exchanges)");
    let floor = cold
        .baseline(calls, "`get_ticker` on one venue (OKX)")
        .await;
    let sequential = cold
        .time(calls, |_| async {
            for venue in Venue::ALL {
                cold.call(
                    "get_ticker",
                    json!({"symbol": "BTC/USDT", "exchange": venue.id()}),
                )
                .await;
            }
        })
        .await;
    row(
        "five `get_ticker`s, one after another",
        sequential,
        Some(floor),
        2,
    );
    let compared = cold
        .time(calls, |_| async {
            let c = cold
                .call("compare_prices", json!({"symbol": "BTC/USDT"}))
                .await;
            assert_eq!(c["quotes"].as_array().map(Vec::len), Some(5), "{c}");
        })
        .await;
    row("`compare_prices`, five venues", compared, Some(floor), 2);
    drop(cold);

    // 2. Warm: everything from memory.
    let warm = Server::start(&sims, "3600").await;
    warm.call("compare_prices", json!({"symbol": "BTC/USDT"}))
        .await;
    header("warm (CACHE_TTL=3600: served from memory)");
    let floor = warm
        .baseline(calls, "`get_ticker` on one venue (OKX)")
        .await;
    let compared = warm
        .time(calls, |_| async {
            warm.call("compare_prices", json!({"symbol": "BTC/USDT"}))
                .await;
        })
        .await;
    row("`compare_prices`, five venues", compared, Some(floor), 2);
    drop(warm);

    // 3. Failover: Binance, the default, answers 503.
    let server = Server::start(&sims, "0").await;
    server
        .call("compare_prices", json!({"symbol": "BTC/USDT"}))
        .await;
    header("failover (Binance, the default, answers 503; OKX serves)");
    let floor = server
        .baseline(calls, "`get_ticker` on OKX, named (baseline)")
        .await;
    let mut first_calls = Vec::new();
    let mut steady = Vec::new();
    for _ in 0..rounds {
        sims[0].set_faults(Faults {
            force_status: Some(503),
            ..delayed.clone()
        });
        // Until the circuit opens each call pays Binance's failure, then OKX's answer.
        first_calls.extend(
            server
                .time(CIRCUIT_THRESHOLD as u64, |_| async {
                    let t = server
                        .call("get_ticker", json!({"symbol": "BTC/USDT"}))
                        .await;
                    assert_eq!(t["failover_from"], "binance", "{t}");
                })
                .await,
        );
        steady.extend(
            server
                .time(calls / rounds, |_| async {
                    let t = server
                        .call("get_ticker", json!({"symbol": "BTC/USDT"}))
                        .await;
                    assert_eq!(t["failover_from"], "binance", "{t}");
                })
                .await,
        );
        // Binance back; once its circuit lets a call through, that success closes it.
        sims[0].set_faults(delayed.clone());
        tokio::time::sleep(CIRCUIT_OPEN).await;
        let t = server
            .call("get_ticker", json!({"symbol": "BTC/USDT"}))
            .await;
        assert_eq!(t["exchange"], "binance", "{t}");
    }
    row(
        "first calls after Binance dies (circuit closed: Binance 503, then OKX)",
        first_calls,
        Some(floor),
        2,
    );
    row(
        "steady state, Binance's circuit open (OKX only)",
        steady,
        Some(floor),
        2,
    );
}
