//! Issue 24 part A: `get_indicators` warm and deep `get_ohlcv` history cold (a load generator,
//! not criterion).
//!
//! `cargo bench --bench analytics`: the five venues' simulators, every REST answer delayed
//! `BENCH_VENUE_LATENCY_MS` (default 20) as a network round trip would, the real
//! `crypto-market-mcp` binary over stdio (Binance the default), one call at a time:
//!
//! 1. warm (`CACHE_TTL=3600`): `get_indicators` with 6 indicators over 1,000 rows
//!    (`BENCH_CALLS`, default 200) against, in the same run, a warm `get_ohlcv` of the same
//!    candles (the rows plus the warm-up); aim p99 ≤ 2 ms and ≤ 2× the `get_ohlcv`;
//! 2. cold: 10,000 1h candles on Binance (`get_ohlcv` `limit=10000`, a fresh server each run,
//!    `BENCH_COLD_RUNS`, default 5): wall time and klines calls, against one cold call of 100
//!    candles; aim ≤ 3× that one call (the pages concurrent).
//!
//! Latencies are the client's (MCP over stdio included, the same for both rows of a table); the
//! warm server's own time per call comes from its `cmm_request_duration_seconds` histogram
//! (`METRICS_ADDR`), read before and after the timed calls.
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

/// Six indicators; the longest period (ema:50) makes the warm-up 5 × 50 + 100 candles.
const INDICATORS: [&str; 6] = [
    "rsi:14",
    "macd:12:26:9",
    "bbands:20:2",
    "ema:50",
    "atr:14",
    "stoch:14:3",
];
const ROWS: u64 = 1000;
const WARM_UP: u64 = 5 * 50 + 100;

fn main() {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run());
}

/// Latency of `calls` calls of `tool` with `args`, one after another, ms.
async fn time(server: &Server, calls: u64, tool: &str, args: &Value) -> Vec<f64> {
    let mut out = Vec::with_capacity(calls as usize);
    for _ in 0..calls {
        let started = Instant::now();
        server.call(tool, args.clone()).await;
        out.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    out
}

async fn run() {
    let calls = env_number("BENCH_CALLS", 200);
    let runs = env_number("BENCH_COLD_RUNS", 5);
    let latency = env_number("BENCH_VENUE_LATENCY_MS", 20);
    let sims = delayed_venues(latency);
    let binance = &sims[0];
    println!("# analytics: get_indicators and deep get_ohlcv history\n");
    println!(
        "- every simulated REST answer takes {latency} ms; release `crypto-market-mcp` over \
         stdio, `ENABLE_RATE_LIMIT=false`; indicators: {}",
        INDICATORS.join(", ")
    );

    // 1. Warm.
    let metrics_addr = free_addr();
    let warm = Server::start_with(&sims, "3600", &[("METRICS_ADDR", &metrics_addr)]).await;
    let indicators = json!({"symbol": "BTC/USDT", "indicators": INDICATORS, "limit": ROWS});
    let candles = json!({"symbol": "BTC/USDT", "limit": ROWS + WARM_UP});
    let first = warm.call("get_indicators", indicators.clone()).await;
    assert_eq!(first["rows"].as_array().map(Vec::len), Some(ROWS as usize));
    warm.call("get_ohlcv", candles.clone()).await;
    let before = binance.calls("klines");
    header(&format!(
        "warm (CACHE_TTL=3600), {ROWS} rows, {} candles",
        ROWS + WARM_UP
    ));
    let before_ohlcv = server_times(&metrics_addr, "get_ohlcv").await;
    let ohlcv = time(&warm, calls, "get_ohlcv", &candles).await;
    let server_ohlcv = server_times(&metrics_addr, "get_ohlcv")
        .await
        .since(&before_ohlcv);
    let floor = p50(&ohlcv);
    row(
        &format!("`get_ohlcv` of the same {} candles", ROWS + WARM_UP),
        ohlcv,
        None,
        3,
    );
    let before_ind = server_times(&metrics_addr, "get_indicators").await;
    let ind = time(&warm, calls, "get_indicators", &indicators).await;
    let server_ind = server_times(&metrics_addr, "get_indicators")
        .await
        .since(&before_ind);
    row("`get_indicators`, 6 indicators", ind, Some(floor), 3);
    println!(
        "\nServer time per call (its `cmm_request_duration_seconds` histogram, bucket bounds):\n"
    );
    println!("| call | calls | server mean ms | server p50 ≤ ms | server p99 ≤ ms |");
    println!("|---|---|---|---|---|");
    for (name, times) in [
        ("`get_ohlcv`", server_ohlcv),
        ("`get_indicators`", server_ind),
    ] {
        println!(
            "| {name} | {} | {:.3} | {} | {} |",
            times.count,
            times.mean_ms(),
            times.quantile_ms(0.5),
            times.quantile_ms(0.99)
        );
    }
    assert_eq!(binance.calls("klines"), before, "warm: no exchange call");
    drop(warm);

    // 2. Cold: a fresh server (empty cache) for each run.
    println!("\n### cold: 10,000 1h candles on Binance ({runs} runs, a fresh server each)\n");
    println!("| call | runs | p50 ms | max ms | klines calls per run | p50 / one call |");
    println!("|---|---|---|---|---|---|");
    let (mut one, mut deep, mut pages) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let cold = Server::start(&sims, "3600").await;
        // Markets loaded first: not the subject.
        cold.call("get_ticker", json!({"symbol": "ETH/USDT"})).await;
        let started = Instant::now();
        cold.call("get_ohlcv", json!({"symbol": "ETH/USDT", "limit": 100}))
            .await;
        one.push(started.elapsed().as_secs_f64() * 1000.0);
        let before = binance.calls("klines");
        let started = Instant::now();
        let result = cold
            .call("get_ohlcv", json!({"symbol": "BTC/USDT", "limit": 10_000}))
            .await;
        deep.push(started.elapsed().as_secs_f64() * 1000.0);
        pages.push(binance.calls("klines") - before);
        assert_eq!(
            result["candles"].as_array().map(Vec::len),
            Some(10_000),
            "10,000 candles"
        );
    }
    let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    let one_p50 = p50(&one);
    println!(
        "| `get_ohlcv` 100 candles (one call) | {runs} | {one_p50:.1} | {:.1} | 1 | 1.00 (baseline) |",
        max(&one)
    );
    println!(
        "| `get_ohlcv` 10,000 candles | {runs} | {:.1} | {:.1} | {:?} | {:.2} |",
        p50(&deep),
        max(&deep),
        pages,
        p50(&deep) / one_p50
    );
}

/// A loopback address nobody listens on now.
fn free_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").to_string()
}

/// One tool's `cmm_request_duration_seconds` histogram: cumulative counts per upper bound.
#[derive(Default)]
struct Histogram {
    buckets: Vec<(String, f64)>,
    sum: f64,
    count: f64,
}

impl Histogram {
    /// The calls recorded after `before`.
    fn since(mut self, before: &Histogram) -> Self {
        for ((_, n), (_, b)) in self.buckets.iter_mut().zip(&before.buckets) {
            *n -= b;
        }
        self.sum -= before.sum;
        self.count -= before.count;
        self
    }

    fn mean_ms(&self) -> f64 {
        1000.0 * self.sum / self.count.max(1.0)
    }

    /// The upper bound (ms) of the bucket holding the `q` quantile.
    fn quantile_ms(&self, q: f64) -> String {
        self.buckets
            .iter()
            .find(|(_, n)| *n >= q * self.count)
            .map_or_else(
                || "?".to_owned(),
                |(le, _)| match le.parse::<f64>() {
                    Ok(seconds) => format!("{}", seconds * 1000.0),
                    Err(_) => le.clone(),
                },
            )
    }
}

/// The server's histogram of `tool` from `/metrics`.
async fn server_times(addr: &str, tool: &str) -> Histogram {
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("/metrics answers")
        .text()
        .await
        .expect("/metrics text");
    let name = "cmm_request_duration_seconds";
    let tag = format!("tool=\"{tool}\"");
    let mut out = Histogram::default();
    for line in text
        .lines()
        .filter(|l| l.starts_with(name) && l.contains(&tag))
    {
        let Some((key, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let value: f64 = value.parse().unwrap_or(0.0);
        if key.starts_with(&format!("{name}_bucket")) {
            let le = key
                .split("le=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or("?");
            out.buckets.push((le.to_owned(), value));
        } else if key.starts_with(&format!("{name}_sum")) {
            out.sum = value;
        } else if key.starts_with(&format!("{name}_count")) {
            out.count = value;
        }
    }
    out
}
