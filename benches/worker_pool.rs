//! Load generator for the worker pool (issue 11's scalability table; not criterion).
//!
//! `cargo bench --bench worker_pool`: the in-process simulator, a private redis-server, N real
//! `crypto-market-worker` processes (release) sharing the Redis cache, and one client process
//! (this one) keeping `BENCH_CLIENTS` (default 64) `get_ticker` calls in flight through
//! `PubSubClient` (XADD to the request stream, replies on its own channel) for `BENCH_SECONDS`
//! (default 5) per row. 80% of calls ask one of 20 warmed symbols (hits); 20% ask a symbol
//! never asked before, which the simulator answers after 100 ms (misses). Then a 100%-hit row,
//! and `redis-benchmark` against the same server as the ceiling.

#![allow(
    clippy::print_stdout,
    reason = "a benchmark's report is Markdown on stdout"
)]

mod common;
#[path = "../tests/common/redis.rs"]
mod redis_server;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{env_fraction, Pool};
use crypto_market_actors::redis_target::RedisTarget;
use crypto_market_mcp::client::PubSubClient;
use crypto_market_sim::{Faults, SimConfig, Simulator};
use redis_server::RedisServer;
use serde_json::json;

const HOT: usize = 20;

fn main() {
    common::run_on_one_thread(run());
}

struct Row {
    label: String,
    calls: usize,
    failed: u64,
    per_s: f64,
    p50: f64,
    p99: f64,
}

async fn run() {
    let seconds = Duration::from_secs_f64(env_fraction("BENCH_SECONDS", 5.0));
    let clients = env_fraction("BENCH_CLIENTS", 64.0) as usize;
    let sim = Simulator::start(SimConfig {
        // Enough new symbols for the misses; few enough that each worker's ccxt instances
        // (which index every market) are made in well under a second.
        extra_symbols: 6_000,
        weight_limit: u32::MAX,
        ..SimConfig::default()
    })
    .expect("simulator");
    sim.set_faults(Faults {
        latency_ms: 100,
        endpoints: Some(vec!["ticker/24hr".into()]),
        ..Default::default()
    });
    let redis = RedisServer::start();
    println!("# worker pool benchmark\n");
    println!(
        "- {clients} calls in flight, {} s per row, 80% hits on {HOT} warmed symbols, 20% misses (100 ms exchange)\n",
        seconds.as_secs_f64()
    );
    let next_cold = Arc::new(AtomicU64::new(1));
    let mut rows = Vec::new();
    let counts: Vec<usize> = std::env::var("BENCH_WORKERS")
        .unwrap_or_else(|_| "1,3,5,10".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    for workers in counts {
        // Every row starts cold: new workers, an empty Redis, the same cold symbols again.
        flush(&redis).await;
        next_cold.store(1, Ordering::Relaxed);
        let pool = start_workers(&sim, &redis, workers).await;
        let client = client(&redis, &format!("bench{workers}")).await;
        warm(&client).await;
        // Let the workers finish making their exchange instances (background, after markets).
        tokio::time::sleep(Duration::from_secs(3)).await;
        rows.push(
            load(
                &client,
                clients,
                seconds,
                0.8,
                &next_cold,
                format!("{workers} workers, 80% hits"),
            )
            .await,
        );
        if workers == 3 {
            rows.push(
                load(
                    &client,
                    clients,
                    seconds,
                    1.0,
                    &next_cold,
                    "3 workers, 100% hits".into(),
                )
                .await,
            );
        }
        drop(pool);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!("| pool | calls | failed | calls/s | p50 ms | p99 ms |");
    println!("|---|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} |",
            r.label, r.calls, r.failed, r.per_s, r.p50, r.p99
        );
    }
    println!();
    let out = std::process::Command::new("redis-benchmark")
        .arg("-s")
        .arg(redis.socket())
        .args(["-c", "50", "-n", "200000", "-q", "-t", "ping,set,get,xadd"])
        .output();
    match out {
        Ok(out) => println!(
            "redis-benchmark (same server, 50 clients, unpipelined):\n\n```\n{}```",
            String::from_utf8_lossy(&out.stdout).replace('\r', "\n")
        ),
        Err(e) => println!("redis-benchmark did not run: {e}"),
    }
}

async fn flush(redis: &RedisServer) {
    let client = redis::Client::open(redis.url()).expect("Redis URL");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("Redis connection");
    let _: () = redis::cmd("FLUSHALL")
        .query_async(&mut conn)
        .await
        .expect("FLUSHALL");
}

async fn start_workers(sim: &crypto_market_sim::SimHandle, redis: &RedisServer, n: usize) -> Pool {
    common::start_workers(sim, n, &[("REDIS_URL", redis.url())], "warn")
}

async fn client(redis: &RedisServer, id: &str) -> Arc<PubSubClient> {
    common::pool_client(RedisTarget::new(redis.url(), "crypto_mcp"), id.to_owned()).await
}

fn hot(i: usize) -> String {
    format!("SIM{:04}/USDT", 5_900 + i % HOT)
}

/// Every hot symbol fetched once (into the shared cache), by every worker eventually.
async fn warm(client: &PubSubClient) {
    for _ in 0..3 {
        let calls = (0..HOT).map(|i| client.call("get_ticker", json!({"symbol": hot(i)})));
        for r in futures::future::join_all(calls).await {
            r.expect("warm-up call");
        }
    }
}

async fn load(
    client: &Arc<PubSubClient>,
    in_flight: usize,
    measure: Duration,
    hit_share: f64,
    next_cold: &Arc<AtomicU64>,
    label: String,
) -> Row {
    let stop = Instant::now() + measure;
    let failed = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..in_flight)
        .map(|t| {
            let (client, next_cold, failed) = (client.clone(), next_cold.clone(), failed.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut n = t;
                while Instant::now() < stop {
                    n += in_flight;
                    // Deterministic mix: of every 10 calls, `hit_share * 10` are hits.
                    let symbol = if (n % 10) as f64 >= hit_share * 10.0 {
                        let c = next_cold.fetch_add(1, Ordering::Relaxed);
                        format!("SIM{:04}/USDT", c % 5_800 + 1)
                    } else {
                        hot(n)
                    };
                    let sent = Instant::now();
                    match client.call("get_ticker", json!({ "symbol": symbol })).await {
                        Ok(_) => latencies.push(sent.elapsed().as_secs_f64() * 1000.0),
                        Err(_) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                latencies
            })
        })
        .collect();
    let started = Instant::now();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap_or_default());
    }
    let wall = started.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    let pct = |q: f64| {
        all.get(((all.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    Row {
        label,
        calls: all.len(),
        failed: failed.load(Ordering::Relaxed),
        per_s: all.len() as f64 / wall,
        p50: pct(0.5),
        p99: pct(0.99),
    }
}
