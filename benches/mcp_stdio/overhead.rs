//! Two scenarios beside the closed-loop tables:
//!
//! - what a cold ticker miss costs above the exchange call itself: misses, hits and raw
//!   keep-alive GETs of the same endpoint, one at a time, interleaved in rounds (issue 10);
//! - whether a flood of distinct unknown symbols (each needing "did you mean" suggestions
//!   against Binance's 1248 markets) slows cache hits served at the same time (issue 9).

use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::*;

const PER_ROUND: usize = 25;

/// Rounds of the miss/hit/GET comparison (`BENCH_MISS_ROUNDS`, default 20; more for profiling).
fn rounds() -> usize {
    std::env::var("BENCH_MISS_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .filter(|r| *r > 0)
        .unwrap_or(20)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn summary(mut ms: Vec<f64>) -> (usize, f64, f64) {
    ms.sort_by(f64::total_cmp);
    (ms.len(), percentile(&ms, 0.5), percentile(&ms, 0.99))
}

/// A minimal HTTP/1.1 keep-alive client: the cheapest way to ask the simulator, the floor
/// under any exchange call.
struct RawGet {
    stream: BufReader<TcpStream>,
    host: String,
}

impl RawGet {
    async fn connect(addr: std::net::SocketAddr) -> Self {
        let stream = TcpStream::connect(addr)
            .await
            .expect("connect to the simulator");
        stream.set_nodelay(true).expect("nodelay");
        Self {
            stream: BufReader::new(stream),
            host: addr.to_string(),
        }
    }

    /// GET `path`; returns the status after reading the whole body.
    async fn get(&mut self, path: &str) -> u16 {
        let request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", self.host);
        self.stream
            .get_mut()
            .write_all(request.as_bytes())
            .await
            .expect("write");
        let mut status = 0;
        let mut length = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            self.stream.read_line(&mut line).await.expect("read");
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some(code) = l.strip_prefix("HTTP/1.1 ") {
                status = code[..3].parse().unwrap_or(0);
            } else if let Some((name, value)) = l.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0u8; length];
        self.stream.read_exact(&mut body).await.expect("body");
        status
    }
}

async fn timed_call(server: &Child, symbol: &str, source: &str) -> f64 {
    let started = Instant::now();
    let value = call_once(server, symbol).await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(value["source"], source, "{symbol}");
    ms
}

/// Cold miss vs cache hit vs raw GET, at 1 in flight, the exchange answering at once.
/// `io_threads`: the server's EXCHANGE_IO_THREADS (2, the default; 0: on the actors' thread).
pub(crate) async fn cold_miss_overhead(io_threads: &str) {
    let rounds = rounds();
    let sim = Simulator::start(SimConfig {
        extra_symbols: rounds * PER_ROUND + 10,
        weight_limit: 1_000_000,
        ..SimConfig::default()
    })
    .expect("simulator starts");
    let server = start_mcp_server(
        &sim,
        &[
            ("ENABLE_RATE_LIMIT", "false"),
            ("CACHE_TTL", "3600"),
            ("EXCHANGE_IO_THREADS", io_threads),
        ],
    )
    .await;
    call_once(&server, "BTC/USDT").await;
    // The pool of ccxt instances is made in the background after markets load.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut raw = RawGet::connect(sim.addr()).await;
    // The simulator computes a symbol's 24h statistics on its first request: ask every symbol
    // once first, so misses and raw GETs alike find them ready (the server has still never
    // asked for them: every miss below is a real miss).
    for i in 1..=rounds * PER_ROUND {
        assert_eq!(
            raw.get(&format!("/api/v3/ticker/24hr?symbol=SIM{i:04}USDT"))
                .await,
            200
        );
    }
    let (mut misses, mut hits, mut gets) = (Vec::new(), Vec::new(), Vec::new());
    let mut n = 1;
    for _ in 0..rounds {
        for _ in 0..PER_ROUND {
            misses.push(timed_call(&server, &format!("SIM{n:04}/USDT"), "exchange").await);
            n += 1;
        }
        for _ in 0..PER_ROUND {
            hits.push(timed_call(&server, "BTC/USDT", "cache").await);
        }
        for i in 0..PER_ROUND {
            // The symbols this round's misses asked for.
            let path = format!("/api/v3/ticker/24hr?symbol=SIM{:04}USDT", n - PER_ROUND + i);
            let started = Instant::now();
            assert_eq!(raw.get(&path).await, 200);
            gets.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    stop(server, "crypto-market-mcp").await;
    let (calls, miss50, miss99) = summary(misses);
    let (_, hit50, hit99) = summary(hits);
    let (_, get50, get99) = summary(gets);
    println!();
    println!("### Cold ticker miss vs cache hit vs raw GET (1 in flight, 0 ms exchange latency, EXCHANGE_IO_THREADS={io_threads})");
    println!();
    println!("{rounds} rounds of {PER_ROUND} misses (new symbols), {PER_ROUND} hits (BTC/USDT), {PER_ROUND} raw keep-alive GETs of ticker/24hr?symbol=, interleaved.");
    println!();
    println!("| case | calls | p50 ms | p99 ms |");
    println!("|---|---:|---:|---:|");
    println!("| get_ticker cold miss | {calls} | {miss50:.3} | {miss99:.3} |");
    println!("| get_ticker cache hit | {calls} | {hit50:.3} | {hit99:.3} |");
    println!("| raw keep-alive GET ticker/24hr | {calls} | {get50:.3} | {get99:.3} |");
    println!();
    println!(
        "miss p50 − hit p50 = {:.3} ms; raw GET p50 = {get50:.3} ms; above the raw GET: {:.3} ms (aim ≤ 0.3)",
        miss50 - hit50,
        miss50 - hit50 - get50
    );
}

/// Cache hits alone, then while a flood of distinct unknown symbols runs beside them.
pub(crate) async fn bad_symbol_flood(measure: Duration) {
    let sim = Simulator::start(SimConfig {
        full_markets: true,
        ..SimConfig::default()
    })
    .expect("simulator starts");
    let server = start_mcp_server(&sim, &[("CACHE_TTL", "3600")]).await;
    call_once(&server, "BTC/USDT").await;
    let listed = server
        .call_tool(
            CallToolRequestParams::new("list_markets").with_arguments(
                json!({"limit": 500})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            ),
        )
        .await
        .expect("list_markets");
    let content = listed.structured_content.expect("markets");
    let total = content["total"].as_u64().unwrap_or(0);
    let seeds: Vec<(String, String)> = content["markets"]
        .as_array()
        .expect("markets")
        .iter()
        .map(|m| {
            (
                m["base"].as_str().unwrap_or("X").to_owned(),
                m["quote"].as_str().unwrap_or("Y").to_owned(),
            )
        })
        .collect();
    let load = Load::For {
        warmup: WARMUP,
        measure,
    };
    let args = |_| ticker_args("BTC/USDT");
    let alone = run_closed_loop(&server, 1, load, args, expect_source("cache")).await;

    // Near misses of real markets (`BTCUSDX0`, `ETHBTX0`, ...), every one distinct, so none
    // is answered from the suggestion cache: the worst case for the server.
    let flood = {
        let peer = server.peer().clone();
        let stop_at = Instant::now() + WARMUP + measure;
        tokio::spawn(async move {
            let mut sent = 0usize;
            let mut workers = tokio::task::JoinSet::new();
            let next = Arc::new(AtomicU64::new(0));
            let seeds = Arc::new(seeds);
            for _ in 0..8 {
                let (peer, next, seeds) = (peer.clone(), next.clone(), seeds.clone());
                workers.spawn(async move {
                    let mut mine = 0usize;
                    while Instant::now() < stop_at {
                        let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                        let (base, quote) = &seeds[i % seeds.len()];
                        let mangled = &quote[..quote.len().saturating_sub(1)];
                        let symbol = format!("{base}{mangled}X{}", i / seeds.len());
                        let params = CallToolRequestParams::new("get_ticker")
                            .with_arguments(ticker_args(&symbol));
                        let result = peer.call_tool(params).await;
                        let code = result
                            .ok()
                            .and_then(|r| r.structured_content)
                            .map(|s| s["error"]["code"].clone());
                        assert_eq!(code, Some(json!("invalid_symbol")), "{symbol}");
                        mine += 1;
                    }
                    mine
                });
            }
            while let Some(done) = workers.join_next().await {
                sent += done.unwrap_or(0);
            }
            sent
        })
    };
    let during = run_closed_loop(&server, 1, load, args, expect_source("cache")).await;
    let bad = flood.await.unwrap_or(0);
    stop(server, "crypto-market-mcp").await;
    let seconds = (WARMUP + measure).as_secs_f64();
    println!();
    println!("### Cache hits while distinct unknown symbols flood the server ({total} markets)");
    println!();
    println!(
        "| cache hits (1 in flight) | calls | calls/s | p50 ms | p99 ms | server CPU µs/call |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (label, r) in [("alone", &alone), ("during the flood", &during)] {
        println!(
            "| {label} | {} | {:.0} | {:.3} | {:.3} | {} |",
            r.calls(),
            r.calls_per_s(),
            r.p50(),
            r.p99(),
            r.cpu_us_per_call()
                .map_or("-".into(), |c| format!("{c:.0}"))
        );
    }
    println!();
    println!(
        "flood: {bad} distinct unknown symbols in {seconds:.1} s ({:.0}/s, 8 in flight), every one answered invalid_symbol with suggestions computed; aim: hit p99 ≤ 2 ms during the flood",
        bad as f64 / seconds
    );
}
