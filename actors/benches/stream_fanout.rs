//! Streaming delivery: N symbols at R updates/s each from the simulator's websocket, through
//! the engine's Binance feed (parse → router → symbol actor → state → watch channel) to one
//! watcher per symbol. Latency = arrival at the watcher − the simulator's event time `E`.
//! Baseline in the same run: a bare websocket client reading the very same streams from the
//! simulator (the transport's own latency and `E`'s millisecond rounding).
//!
//! Also: the engine's CPU (this process's threads but the baseline client's, from /proc) and
//! RSS, and the RSS of 1,000 idle symbol actors. The simulator runs as its own process (the
//! release `crypto-market-sim` binary), so none of this counts it.
//!
//! `cargo build --release -p crypto-market-sim &&
//!  cargo bench -p crypto-market-actors --bench stream_fanout`
//! (BENCH_SYMBOLS=500 BENCH_RATE_MS=100 BENCH_SECONDS=10)

#![allow(
    clippy::print_stdout,
    reason = "a benchmark's report is Markdown on stdout"
)]

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crypto_market_actors::model::{Clock, DataRequest, Source};
use crypto_market_actors::venue::VenueConfig;
use crypto_market_actors::{Engine, EngineConfig};
use futures::{SinkExt, StreamExt};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn micros_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// The simulator binary as a child process; its REST/websocket base URL.
fn start_simulator(symbols: usize, rate_ms: u64) -> (std::process::Child, String) {
    use std::io::BufRead;
    let default = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../target/release/crypto-market-sim"
    );
    let binary = std::env::var("BENCH_SIM_BIN").unwrap_or_else(|_| default.to_owned());
    let mut child = std::process::Command::new(&binary)
        .args(["--addr", "127.0.0.1:0", "--symbols"])
        .arg(symbols.to_string())
        .arg("--ws-ticker-interval-ms")
        .arg(rate_ms.to_string())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{binary}: {e} (cargo build --release -p crypto-market-sim)"));
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = std::io::BufReader::new(stdout).lines();
    let url = lines
        .find_map(|line| {
            line.ok()?
                .strip_prefix("crypto-market-sim listening on ")
                .map(|u| u.trim().to_owned())
        })
        .expect("the simulator says where it listens");
    // Keep draining its stdout so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, url)
}

/// CPU seconds of (the baseline client's thread, the rest of the process). The process total
/// comes from /proc/self/stat, which keeps the time of threads that have ended.
fn cpu_seconds() -> (f64, f64) {
    let ticks = 100.0; // USER_HZ on Linux
    let (mut sim, mut rest) = (0.0, 0.0);
    let total = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .map(|stat| utime_stime(&stat) / ticks)
        .unwrap_or(0.0);
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return (0.0, 0.0);
    };
    for task in tasks.flatten() {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let Ok(stat) = std::fs::read_to_string(path.join("stat")) else {
            continue;
        };
        if name.starts_with("ws-baseline") {
            sim += utime_stime(&stat) / ticks;
        }
    }
    rest += total - sim;
    (sim, rest)
}

/// utime + stime (clock ticks) of a /proc stat line: the 12th and 13th fields after the ")"
/// that ends the command name.
fn utime_stime(stat: &str) -> f64 {
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    fields
        .get(11)
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        + fields
            .get(12)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
}

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn percentile(sorted: &[i64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

fn report(name: &str, mut lat_us: Vec<i64>, seconds: f64) {
    lat_us.sort_unstable();
    println!(
        "| {name} | {:.0} | {:.2} | {:.2} | {:.2} |",
        lat_us.len() as f64 / seconds,
        percentile(&lat_us, 50.0),
        percentile(&lat_us, 99.0),
        percentile(&lat_us, 100.0),
    );
}

/// The simulator's call counters (GET /__sim/calls), as text.
fn sim_calls(base: &str) -> String {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return String::new();
    };
    let _ = write!(stream, "GET /__sim/calls HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    reply.split("\r\n\r\n").nth(1).unwrap_or("").to_owned()
}

fn main() {
    let symbols = env("BENCH_SYMBOLS", 500) as usize;
    let rate_ms = env("BENCH_RATE_MS", 100);
    let seconds = env("BENCH_SECONDS", 10);
    let (mut sim, sim_url) = start_simulator(symbols + 1000, rate_ms);
    let ws_url = sim_url.replacen("http://", "ws://", 1);
    let system = actix::System::new();
    system.block_on(async move {
        let mut venue = VenueConfig::new("binance");
        venue.rest_url = Some(sim_url.clone());
        venue.ws_url = Some(ws_url.clone());
        venue.enable_rate_limit = false;
        venue.max_concurrent_calls = env("BENCH_MAX_CALLS", 8) as usize;
        let engine = Engine::start(EngineConfig {
            default_exchange: "binance".into(),
            venues: vec![venue],
            cache_ttl: Duration::from_secs(10),
            cache_stale_ttl: Duration::from_secs(60),
            cache_capacity: NonZeroUsize::new(100_000).unwrap(),
            symbol_idle_after: Duration::from_secs(600),
            markets_refresh: Duration::from_secs(3600),
            io_threads: 1,
            mailbox_capacity: 65_536,
            clock: Clock::default(),
            remote_cache: None,
            failover: true,
            memory_target_mb: None,
        })
        .expect("engine");
        let info = engine.exchange(None).unwrap().clone();
        let markets = engine.markets(&info, false).await.expect("markets");
        let chosen: Vec<(String, String)> = markets
            .index
            .markets()
            .iter()
            .filter(|m| m.quote == "USDT")
            .take(symbols)
            .map(|m| (m.symbol.clone(), m.id.clone()))
            .collect();
        // After the markets load, the adapter warms its pool of ccxt instances in the
        // background (one per concurrent call, each holding every market): let it finish so
        // that "before" is the engine at rest, not half-built.
        tokio::time::sleep(Duration::from_secs(4)).await;
        let rss_before = rss_mb();

        if std::env::var("BENCH_TRACE_RSS").is_ok() {
            eprintln!("markets loaded: RSS {:.1} MB", rss_mb());
        }
        // Baseline: a bare client reading the same streams from the simulator.
        let names: Vec<String> = chosen
            .iter()
            .map(|(_, id)| format!("{}@ticker", id.to_lowercase()))
            .collect();
        let baseline = Arc::new(Mutex::new(Vec::<i64>::new()));
        // (market id, E) → when the bare client got that event, to pair it with the engine's.
        let arrivals = Arc::new(Mutex::new(std::collections::HashMap::<(String, i64), i64>::new()));
        let measuring = Arc::new(std::sync::atomic::AtomicBool::new(false));
        if std::env::var("BENCH_NO_BASELINE").is_err() {
            let url = format!("{ws_url}/stream");
            let baseline = baseline.clone();
            let arrivals = arrivals.clone();
            let measuring = measuring.clone();
            let names = names.clone();
            let _ = std::thread::Builder::new().name("ws-baseline".into()).spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
                    for chunk in names.chunks(200) {
                        let msg = serde_json::json!({"method": "SUBSCRIBE", "params": chunk, "id": 1});
                        ws.send(tokio_tungstenite::tungstenite::Message::text(msg.to_string()))
                            .await
                            .unwrap();
                        tokio::time::sleep(Duration::from_millis(300)).await;
                    }
                    while let Some(Ok(frame)) = ws.next().await {
                        let arrived = micros_now();
                        if let tokio_tungstenite::tungstenite::Message::Text(text) = frame {
                            let v: serde_json::Value = match serde_json::from_str(text.as_str()) {
                                Ok(v) => v,
                                Err(_) => continue,
                            };
                            if let Some(e) = v["data"]["E"].as_i64() {
                                if measuring.load(std::sync::atomic::Ordering::Relaxed) {
                                    baseline.lock().unwrap().push(arrived - e * 1000);
                                    if let Some(id) = v["data"]["s"].as_str() {
                                        arrivals.lock().unwrap().insert((id.to_owned(), e), arrived);
                                    }
                                }
                            }
                        }
                    }
                });
            });
        }

        // The engine: one watcher per symbol.
        let engine_lat = Arc::new(Mutex::new(Vec::<i64>::new()));
        let engine_arrivals = Arc::new(Mutex::new(Vec::<(String, i64, i64)>::new()));
        let mut tasks = Vec::new();
        for (symbol, id) in &chosen {
            let engine_arrivals = engine_arrivals.clone();
            let id = id.clone();
            let mut watch = engine.watch_ticker(&info, symbol).await.expect("watch");
            let engine_lat = engine_lat.clone();
            let measuring = measuring.clone();
            tasks.push(actix_rt::spawn(async move {
                loop {
                    let update = watch.next().await;
                    let arrived = micros_now();
                    if update.data.source != Source::Stream {
                        continue;
                    }
                    if measuring.load(std::sync::atomic::Ordering::Relaxed) {
                        engine_lat
                            .lock()
                            .unwrap()
                            .push(arrived - update.data.fetched_at_ms * 1000);
                        engine_arrivals.lock().unwrap().push((
                            id.clone(),
                            update.data.fetched_at_ms,
                            arrived,
                        ));
                    }
                }
            }));
        }
        if std::env::var("BENCH_TRACE_RSS").is_ok() {
            eprintln!("after {} watches: RSS {:.1} MB", chosen.len(), rss_mb());
        }
        // Warm up until every stream flows, then measure.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let (base_cpu0, cpu0) = cpu_seconds();
        let started = Instant::now();
        measuring.store(true, std::sync::atomic::Ordering::Relaxed);
        for second in 1..=seconds {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if std::env::var("BENCH_TRACE_RSS").is_ok() {
                eprintln!("{second} s: RSS {:.1} MB", rss_mb());
            }
        }
        measuring.store(false, std::sync::atomic::Ordering::Relaxed);
        let elapsed = started.elapsed().as_secs_f64();
        let (base_cpu1, cpu1) = cpu_seconds();
        let rss_streaming = rss_mb();
        println!("exchange REST calls so far: {}", sim_calls(&sim_url));
        let stats = engine.feed_stats(&info).unwrap();
        println!(
            "{} symbols × {} updates/s, {seconds} s measured; feed: {} connections, {} events",
            chosen.len(),
            1000 / rate_ms.max(1),
            stats.connections,
            stats.events
        );
        println!("| path | updates/s | p50 ms | p99 ms | max ms |");
        println!("|---|---|---|---|---|");
        report(
            "simulator → bare websocket client (baseline)",
            std::mem::take(&mut *baseline.lock().unwrap()),
            elapsed,
        );
        report(
            "simulator → engine feed → symbol actor → watcher",
            std::mem::take(&mut *engine_lat.lock().unwrap()),
            elapsed,
        );
        // The engine's own cost: the same event's arrival at the watcher minus its arrival at
        // the bare client (both read the simulator at once; the simulator's lateness cancels).
        let arrivals = std::mem::take(&mut *arrivals.lock().unwrap());
        let added: Vec<i64> = engine_arrivals
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(id, e, at)| arrivals.get(&(id.clone(), *e)).map(|base| at - base))
            .collect();
        report(
            "engine's own cost (watcher arrival − bare client arrival, same event)",
            added,
            elapsed,
        );
        println!(
            "CPU: engine (feed, actors, watchers) {:.1}% of one core, baseline client {:.1}%; RSS {:.1} MB (engine at rest with markets and its ccxt pool: {:.1} MB)",
            100.0 * (cpu1 - cpu0) / elapsed,
            100.0 * (base_cpu1 - base_cpu0) / elapsed,
            rss_streaming,
            rss_before
        );
        for task in tasks {
            task.abort();
        }

        // Idle symbol actors: 1,000 symbols fetched once, then left alone.
        let idle: Vec<String> = markets
            .index
            .markets()
            .iter()
            .skip(symbols)
            .take(1000)
            .map(|m| m.symbol.clone())
            .collect();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let before = rss_mb();
        for chunk in idle.chunks(100) {
            let answers = engine.fetch_tickers(&info, chunk).await;
            assert!(answers.iter().all(|(_, a)| a.is_ok()));
        }
        let actors = engine.symbol_actor_count().await.unwrap_or(0);
        let after = rss_mb();
        let _ = engine.fetch(&info, &idle[0], DataRequest::Ticker).await;
        println!(
            "{actors} symbol actors live; 1,000 idle symbols (actor + state + one ticker each) added {:.1} MB RSS (process {:.1} MB)",
            after - before,
            after
        );
    });
    let _ = sim.kill();
    let _ = sim.wait();
}
