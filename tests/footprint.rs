//! Issue 25: the server's memory stays within what a laptop and a 256 Mi pod can afford. The
//! real binary, at default settings, on each venue's full market list from the simulator
//! (~1,240 markets per venue): the first call per venue loads its markets, then 64 order-book
//! misses per venue run at once, and the process's memory is read from `/proc`.
//!
//! The aims (issue 25) are on the release build's resident set (`VmRSS`): one venue ≤ 60 MB,
//! five ≤ 200 MB, asserted as such when the tests run on a release build. `cargo test` runs the
//! debug build, which holds more in the same scenario: ~20 MB more mapped text (`RssFile`) and
//! ~10 MB more heap and stack (unoptimised frames, deeper parse stacks). That overhead was
//! measured beside the release figures (BENCHMARKS.md, issue 25: 88.4 vs 57.8 MB for one venue,
//! 166.1 vs 138.5 MB for five), and the debug bound is the aim plus it: the regressions this
//! guards against (each instance copying the markets, glibc keeping the load's peak) cost
//! 30–600 MB.

#![cfg(target_os = "linux")]

mod common;

use std::time::{Duration, Instant};

use common::{error_code, ok, start_server};
use crypto_market_sim::{rest_urls, SimConfig, SimHandle, Simulator};
use rmcp::model::CallToolResult;
use serde_json::{json, Value};

const MB: u64 = 1024 * 1024;

/// What the debug build holds over the release build in the same scenario (measured 30.6 and
/// 27.6 MB, BENCHMARKS.md issue 25), rounded up; nothing on a release build.
const DEBUG_OVER_RELEASE: u64 = if cfg!(debug_assertions) { 33 * MB } else { 0 };
/// jemalloc hands freed pages back from a background thread after a second
/// (`src/allocator.rs`): memory is read once that has happened.
const SETTLE: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Copy)]
struct Memory {
    resident: u64,
    anon: u64,
    file: u64,
}

fn memory(pid: u32) -> Memory {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the server runs");
    let kb = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{key} in /proc/{pid}/status"))
            * 1024
    };
    Memory {
        resident: kb("VmRSS:"),
        anon: kb("RssAnon:"),
        file: kb("RssFile:"),
    }
}

fn full_markets() -> Vec<SimHandle> {
    Simulator::start_venues(SimConfig {
        full_markets: true,
        // Prices frozen: only memory is measured.
        tick_ms: 3_600_000,
        ..SimConfig::default()
    })
    .expect("simulators start")
}

/// Loads each venue's markets (its first call), then runs `misses` order-book misses per venue
/// (distinct symbols), every venue at once; every call is answered. Returns memory after each.
async fn drive(server: &common::McpServer, venues: &[&str], misses: usize) -> [Memory; 2] {
    let pid = server.pid.expect("the server's pid");
    let mut symbols = Vec::new();
    for venue in venues {
        let page = server
            .call(
                "list_markets",
                json!({"exchange": venue, "limit": 500, "quote": "USDT"}),
            )
            .await;
        let markets = ok(&page)["markets"].as_array().expect("markets").clone();
        assert!(
            markets.len() >= misses,
            "{venue}: {} USDT markets",
            markets.len()
        );
        symbols.extend(
            markets[..misses]
                .iter()
                .map(|m| (*venue, m["symbol"].as_str().expect("a symbol").to_owned())),
        );
    }
    let loaded = memory(pid);
    let started = Instant::now();
    let calls = symbols.iter().map(|(venue, symbol)| {
        server.call(
            "get_order_book",
            json!({"exchange": venue, "symbol": symbol, "limit": 20}),
        )
    });
    let results = futures::future::join_all(calls).await;
    let mut served = 0;
    for result in &results {
        if result.is_error == Some(true) {
            // 64 books at once is far over some venues' request rate: our own budget answers
            // those, as it should, and memory is what is measured.
            let code = error_code(result);
            assert!(
                ["rate_limited", "timeout"].contains(&code.as_str()),
                "{code}"
            );
        } else {
            served += 1;
        }
    }
    assert!(
        served >= misses,
        "at least a venue's worth of misses reached the exchanges: {served}"
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    tokio::time::sleep(SETTLE).await;
    [loaded, memory(pid)]
}

fn report(label: &str, memory: &[Memory]) -> String {
    memory
        .iter()
        .map(|m| {
            format!(
                "{label}: resident {:.1} MB (anon {:.1}, file {:.1})",
                m.resident as f64 / MB as f64,
                m.anon as f64 / MB as f64,
                m.file as f64 / MB as f64
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_venues_stay_under_200_mb_after_64_concurrent_misses_each() {
    let sims = full_markets();
    let venues = ["binance", "okx", "bybit", "kraken", "coinbase"];
    let server = start_server(
        &sims[0],
        &[
            ("EXCHANGES", &venues.join(",")),
            ("EXCHANGE_REST_URLS", &rest_urls(&sims[1..])),
            ("RUST_LOG", "warn"),
        ],
    )
    .await;
    let memory = drive(&server, &venues, 64).await;
    eprintln!("{}", report("five venues", &memory));
    let bound = 200 * MB + DEBUG_OVER_RELEASE;
    assert!(
        memory[1].resident <= bound,
        "five venues: {} over {} MB",
        report("after the misses", &memory[1..]),
        bound / MB
    );
    // The pool made instances for the burst and keeps them until idle; exchange_status says
    // how many, never above the maximum: 8 per side, the derivative side counted where the
    // venue has one (its instances are made only on a derivative's first call: none here).
    let status = server.call("exchange_status", json!({})).await;
    for venue in ok(&status)["exchanges"].as_array().expect("exchanges") {
        let instances: &Value = &venue["instances"];
        let (live, max) = (instances["live"].as_u64(), instances["max"].as_u64());
        let derivatives = ["binance", "okx", "bybit"].contains(&venue["id"].as_str().unwrap_or(""));
        let sides = if derivatives { 2 } else { 1 };
        assert!(
            matches!((live, max), (Some(l), Some(m)) if l <= 8 && m == 8 * sides),
            "{venue}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_venue_stays_under_60_mb_after_64_concurrent_misses() {
    let sims = full_markets();
    let server = start_server(&sims[0], &[("RUST_LOG", "warn")]).await;
    let memory = drive(&server, &["binance"], 64).await;
    eprintln!("{}", report("binance", &memory));
    let bound = 60 * MB + DEBUG_OVER_RELEASE;
    assert!(
        memory[1].resident <= bound,
        "one venue: {} over {} MB",
        report("after the misses", &memory[1..]),
        bound / MB
    );
}

/// Over `MEMORY_TARGET_MB` the server sheds idle exchange instances and cold symbols (the next
/// call fetches again); without a target both stay until they are idle for long.
#[tokio::test]
async fn over_the_memory_target_idle_instances_and_cold_symbols_are_shed() {
    let sim = common::simulator_with(8);
    // Books answered slowly, so that misses at once need instances at once.
    sim.set_faults(crypto_market_sim::Faults {
        latency_ms: 300,
        endpoints: Some(vec!["depth".into()]),
        ..Default::default()
    });
    // Any process is over 32 MB (the least the setting accepts): the target is always exceeded.
    for target in [Some("32"), None] {
        let mut env = vec![("CACHE_TTL", "120"), ("RUST_LOG", "warn")];
        if let Some(target) = target {
            env.push(("MEMORY_TARGET_MB", target));
        }
        let server = start_server(&sim, &env).await;
        let first = server
            .call("get_ticker", json!({"symbol": "BTC/USDT"}))
            .await;
        assert_eq!(ok(&first)["source"], "exchange");
        // Several misses at once: the pool makes instances for them.
        let books = (0..4).map(|i| {
            server.call(
                "get_order_book",
                json!({"symbol": common::generated(i + 1)}),
            )
        });
        for book in futures::future::join_all(books).await {
            ok(&book);
        }
        let instances = |status: &CallToolResult| ok(status)["exchanges"][0]["instances"].clone();
        let busy = instances(&server.call("exchange_status", json!({})).await);
        if target.is_none() {
            // (With a target a check may already have shed them: it runs every 2 s.)
            assert!(busy["live"].as_u64().unwrap_or(0) >= 2, "{busy}");
        }
        // Past the cold age (5 s) and a check (every 2 s).
        tokio::time::sleep(Duration::from_secs(8)).await;
        let after = instances(&server.call("exchange_status", json!({})).await);
        let again = server
            .call("get_ticker", json!({"symbol": "BTC/USDT"}))
            .await;
        match target {
            Some(_) => {
                assert_eq!(after["live"], 0, "idle instances shed: {after}");
                assert_eq!(ok(&again)["source"], "exchange", "the cold symbol was shed");
            }
            None => {
                assert_eq!(
                    after["live"], busy["live"],
                    "kept without a target: {after}"
                );
                assert_eq!(ok(&again)["source"], "cache");
            }
        }
    }
}
