//! Issue 23: 500 live books (a load generator, not criterion).
//!
//! `cargo build --release -p crypto-market-sim --bin crypto-market-sim && cargo bench --bench books`:
//! the simulator in its own process (the release `crypto-market-sim` binary) with
//! `BENCH_BOOKS` (500) generated symbols, each book changing ~20 levels a walk step (10 steps a
//! second: `@depth@100ms` sends 10 diffs a second, 1,000 levels a side deep), then in one run:
//!
//! 1. the baseline: a bare tokio-tungstenite client reading the same 2,000 streams (each
//!    book's depth, trades, candle and ticker) for `BENCH_SECONDS` (20): its CPU and the
//!    decode time of a depth frame;
//! 2. the real `crypto-market-mcp` over stdio keeping the 500 Binance books (one
//!    `resources/subscribe orderbook://binance/SIMnnnnUSDT` each, SPEC 9 allows 500 a session)
//!    for `BENCH_SECONDS`, once every book is in sequence and the tapes' REST seeding is done
//!    ([`settle`]): its own cost from frame read to book updated
//!    (`cmm_book_apply_seconds`, from its `/metrics`), its CPU (`/proc/<pid>/stat`) and RSS;
//! 3. `watch_read` long-polls on one book: the in-process wake-up (`cmm_watch_wake_seconds`,
//!    book version bump to the answer ready) and the whole path, from the depth frame's
//!    arrival at a bare client reading the same stream to the answer read by this client.
//!
//! Prints Markdown tables to stdout.

#![allow(
    clippy::print_stdout,
    reason = "a benchmark's report is Markdown on stdout"
)]
#![allow(
    deprecated,
    reason = "resources/subscribe: what `initialize` sessions speak"
)]

mod bare;
#[path = "../common/mod.rs"]
mod common;
mod histogram;
mod procstat;

use std::io::BufRead;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::env_number;
use procstat::{rss_mib, CpuMeter};
use rmcp::model::SubscribeRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{json, Value};
use tokio::process::Command;

const MCP_BINARY: &str = env!("CARGO_BIN_EXE_crypto-market-mcp");
const APPLY: &str = "cmm_book_apply_seconds";
const WAKE: &str = "cmm_watch_wake_seconds";
const ITEM: &str = "cmm_watch_item_seconds";

/// The release simulator next to this benchmark's own binary (target/release/deps/..); when
/// it was not built, this binary itself in the simulator's role ([`SIM_ROLE`]): the same
/// library code the binary wraps, in a process of its own either way.
fn sim_command() -> std::process::Command {
    let exe = std::env::current_exe().expect("own path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let sim = dir.join("crypto-market-sim");
    if sim.exists() {
        return std::process::Command::new(sim);
    }
    eprintln!(
        "{} not built: the simulator runs as this binary's child",
        sim.display()
    );
    let mut cmd = std::process::Command::new(exe);
    cmd.env(SIM_ROLE, "1");
    cmd
}

/// Set in the child that plays the simulator when its binary is not built.
const SIM_ROLE: &str = "BENCH_BOOKS_SIM_ROLE";

/// The simulator's role: the flags `start_sim` passes, read back; prints the URL as the
/// binary does, serves until killed.
fn serve_sim() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
            .expect("flag")
    };
    let config = crypto_market_sim::SimConfig {
        extra_symbols: flag("--symbols").parse().expect("--symbols"),
        book_resize_steps: flag("--book-resize-steps").parse().expect("steps"),
        ws_depth_levels: flag("--ws-depth-levels").parse().expect("levels"),
        weight_limit: flag("--weight-limit").parse().expect("weight"),
        ..crypto_market_sim::SimConfig::default()
    };
    let addr = flag("--addr").parse().expect("--addr");
    let sim = crypto_market_sim::start_on(config, addr).expect("simulator listens");
    println!("crypto-market-sim listening on {}", sim.rest_url());
    loop {
        std::thread::park();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The simulator process; killed with the benchmark.
struct Sim {
    child: std::process::Child,
    url: String,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_sim(books: u64) -> Sim {
    let port = free_port();
    let mut child = sim_command()
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .args(["--symbols", &books.to_string()])
        .args(["--book-resize-steps", "2", "--ws-depth-levels", "1000"])
        // 500 snapshots of 1,000 levels at start: not the subject.
        .args(["--weight-limit", "100000000"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("simulator starts");
    let stdout = child.stdout.take().expect("simulator stdout");
    let mut first = String::new();
    let mut reader = std::io::BufReader::new(stdout);
    reader
        .read_line(&mut first)
        .expect("simulator prints its URL");
    // Keep reading: the binary prints more lines, and a closed pipe would fail its println.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    let url = first
        .split_whitespace()
        .last()
        .expect("a URL")
        .trim_end_matches('/')
        .to_owned();
    Sim { child, url }
}

/// `SIM0001USDT`.. as the simulator names its generated symbols.
fn symbols(books: u64) -> Vec<String> {
    (1..=books).map(|n| format!("SIM{n:04}USDT")).collect()
}

async fn metrics(addr: &str) -> String {
    reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("/metrics")
        .text()
        .await
        .expect("/metrics text")
}

struct Engine {
    client: RunningService<RoleClient, ()>,
    pid: u32,
    metrics_addr: String,
}

impl Engine {
    async fn start(sim: &Sim) -> Self {
        let metrics_addr = format!("127.0.0.1:{}", free_port());
        let mut cmd = Command::new(MCP_BINARY);
        cmd.env("EXCHANGE_REST_URL", &sim.url)
            .env("EXCHANGE_WS_URL", sim.url.replace("http://", "ws://"))
            .env("ENABLE_RATE_LIMIT", "false")
            .env("METRICS_ADDR", &metrics_addr)
            .env("RUST_LOG", "warn")
            .kill_on_drop(true);
        let (transport, _) = TokioChildProcess::builder(cmd)
            .stderr(Stdio::null())
            .spawn()
            .expect("server starts");
        let pid = transport.id().expect("server pid");
        let client = ().serve(transport).await.expect("MCP handshake");
        Self {
            client,
            pid,
            metrics_addr,
        }
    }

    async fn call(&self, tool: &str, args: Value) -> Value {
        common::five_venues::call(&self.client, tool, args).await
    }

    async fn histogram(&self, name: &str) -> Vec<(f64, f64)> {
        histogram::buckets(&metrics(&self.metrics_addr).await, name)
    }
}

fn us(seconds: f64) -> String {
    format!("{:.0} µs", seconds * 1e6)
}

fn sorted_quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 * q) as usize).min(v.len() - 1)]
}

fn main() {
    if std::env::var_os(SIM_ROLE).is_some() {
        return serve_sim();
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run());
}

async fn run() {
    let books = env_number("BENCH_BOOKS", 500);
    let seconds = env_number("BENCH_SECONDS", 20);
    let window = Duration::from_secs(seconds);
    let sim = start_sim(books);
    let ws_url = sim.url.replace("http://", "ws://");
    let names = symbols(books);
    eprintln!("simulator at {} with {books} books", sim.url);

    // 1. The baseline, alone on the machine's share.
    let stop = Arc::new(AtomicBool::new(false));
    let reader = tokio::spawn({
        let (url, streams, stop) = (ws_url.clone(), bare::streams(&names), stop.clone());
        async move { bare::read(&url, streams, stop, None).await }
    });
    tokio::time::sleep(Duration::from_secs(3)).await; // subscribed, flowing
    let bare_cpu = CpuMeter::start(std::process::id());
    let sim_cpu = CpuMeter::start(sim.child.id());
    tokio::time::sleep(window).await;
    let bare_cpu = bare_cpu.percent();
    eprintln!("simulator: {:.0}% of one core", sim_cpu.percent());
    stop.store(true, Ordering::Relaxed);
    let mut bare = reader.await.expect("bare client");
    let bare_rate = bare.depth_frames as f64 / (window.as_secs_f64() + 3.0);
    let levels = bare.depth_levels as f64 / bare.depth_frames.max(1) as f64;
    eprintln!(
        "baseline: {} frames, {} depth ({bare_rate:.0}/s, {levels:.1} levels each)",
        bare.frames, bare.depth_frames
    );

    // 2. The engine keeping every book.
    let engine = Engine::start(&sim).await;
    let idle_rss = rss_mib(engine.pid).unwrap_or(f64::NAN);
    eprintln!("engine pid {}", engine.pid);
    for name in &names {
        engine
            .client
            .subscribe(SubscribeRequestParams::new(format!(
                "orderbook://binance/{name}"
            )))
            .await
            .expect("subscribed");
    }
    // Every book synchronised: the applied updates reach ~10 a second a book.
    let target = 0.9 * books as f64 * 10.0;
    let ready_by = Instant::now() + Duration::from_secs(90);
    let mut last = histogram::count(&engine.histogram(APPLY).await);
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = histogram::count(&engine.histogram(APPLY).await);
        let rate = now - last;
        last = now;
        eprintln!("engine: {rate:.0} book updates/s");
        if rate >= target || Instant::now() > ready_by {
            break;
        }
    }
    settle(&sim, engine.pid).await;
    let before = engine.histogram(APPLY).await;
    let cpu = CpuMeter::start(engine.pid);
    let sim_cpu = CpuMeter::start(sim.child.id());
    let own_cpu = CpuMeter::start(std::process::id());
    tokio::time::sleep(window).await;
    let cpu = cpu.percent();
    eprintln!(
        "simulator: {:.0}%, this client (resource notifications): {:.0}% of one core",
        sim_cpu.percent(),
        own_cpu.percent()
    );
    let rss = rss_mib(engine.pid).unwrap_or(f64::NAN);
    let applied = histogram::delta(&before, &engine.histogram(APPLY).await);
    let served = engine
        .call(
            "get_order_book",
            json!({"symbol": format!("{}/USDT", &names[0][..7]), "limit": 1000}),
        )
        .await;

    // 3. watch_read long-polls on one book, a bare client reading the same depth stream.
    let followed = format!("{}@depth@100ms", names[0].to_ascii_lowercase());
    let arrivals: bare::Arrivals = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let follower = tokio::spawn({
        let (url, stop) = (ws_url.clone(), stop.clone());
        let follow = Some((followed.clone(), arrivals.clone()));
        let streams = vec![followed.clone()];
        async move { bare::read(&url, streams, stop, follow).await }
    });
    let watch = engine
        .call(
            "watch_subscribe",
            json!({"channel": "order_book", "symbol": format!("{}/USDT", &names[0][..7])}),
        )
        .await;
    let watch_id = watch["watch_id"].as_str().expect("watch_id").to_owned();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let wake_before = engine.histogram(WAKE).await;
    let item_before = engine.histogram(ITEM).await;
    let mut cursor = engine
        .call("watch_read", json!({"watch_id": watch_id}))
        .await["cursor"]
        .as_u64()
        .unwrap_or(0);
    let mut whole = Vec::new();
    let mut engine_first = 0u64;
    // Reads come ~10 a second (a book changes every 100 ms): 300 for a p99 that is not the
    // slowest read or two.
    let until = Instant::now() + Duration::from_secs(env_number("BENCH_WATCH_SECONDS", 30));
    while Instant::now() < until {
        let sent = Instant::now();
        let read = engine
            .call(
                "watch_read",
                json!({"watch_id": watch_id, "cursor": cursor, "wait_ms": 2000, "max_items": 1}),
            )
            .await;
        let answered = Instant::now();
        cursor = read["cursor"].as_u64().unwrap_or(cursor);
        let Some(nonce) = read["items"][0]["nonce"].as_u64() else {
            continue;
        };
        // Give the follower's task a moment to note the same frame.
        tokio::time::sleep(Duration::from_millis(2)).await;
        let arrived = arrivals.lock().expect("arrivals").get(&nonce).copied();
        match arrived.filter(|a| *a > sent) {
            // The engine's socket got the frame and answered before the bare client's socket
            // got it: the bare arrival is no start time for this read, so it is left out and
            // counted (counting it as 0 µs would flatter the engine).
            Some(arrived) if arrived >= answered => engine_first += 1,
            Some(arrived) => whole.push(answered.duration_since(arrived).as_secs_f64()),
            None => {}
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = follower.await;
    let wake = histogram::delta(&wake_before, &engine.histogram(WAKE).await);
    let item = histogram::delta(&item_before, &engine.histogram(ITEM).await);

    report(Report {
        books,
        seconds,
        bare: &mut bare,
        bare_cpu,
        bare_rate,
        levels,
        applied: &applied,
        cpu,
        rss,
        idle_rss,
        served_levels: served["bids"].as_array().map_or(0, Vec::len),
        served_source: served["source"].as_str().unwrap_or("?").to_owned(),
        wake: &wake,
        item: &item,
        whole: &mut whole,
        engine_first,
    });
    let _ = engine.client.cancel().await;
}

/// Waits until the engine is done starting its 500 books: once every book is in sequence, the
/// tapes are still being seeded (500 REST calls of 1,000 trades, each parsed by ccxt on the
/// engine's thread, for several seconds on 2 cores), which is not the steady state measured.
/// Settled: no REST call for 3 s (the simulator's count), then the engine's CPU over one second
/// within a fifth of the second before (the last parses done). At most 60 s.
async fn settle(sim: &Sim, pid: u32) {
    let calls = || async {
        let answer = reqwest::get(format!("{}/__sim/calls", sim.url))
            .await
            .ok()?;
        answer.json::<Value>().await.ok()?["total"].as_u64()
    };
    let give_up = Instant::now() + Duration::from_secs(60);
    let (mut last, mut quiet) = (calls().await, 0);
    while quiet < 3 && Instant::now() < give_up {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = calls().await;
        quiet = if now == last { quiet + 1 } else { 0 };
        last = now;
    }
    let second = || async {
        let meter = CpuMeter::start(pid);
        tokio::time::sleep(Duration::from_secs(1)).await;
        meter.percent()
    };
    let mut before = second().await;
    loop {
        let now = second().await;
        eprintln!("settling: engine at {now:.0}% of one core (REST quiet)");
        if (now - before).abs() <= before.max(now) / 5.0 || Instant::now() > give_up {
            break;
        }
        before = now;
    }
}

struct Report<'a> {
    books: u64,
    seconds: u64,
    bare: &'a mut bare::Tally,
    bare_cpu: f64,
    bare_rate: f64,
    levels: f64,
    applied: &'a [(f64, f64)],
    cpu: f64,
    rss: f64,
    idle_rss: f64,
    served_levels: usize,
    served_source: String,
    wake: &'a [(f64, f64)],
    /// Its first half: the change to the item in the watch's buffer.
    item: &'a [(f64, f64)],
    whole: &'a mut Vec<f64>,
    /// Reads answered before the bare client got their frame (left out of `whole`).
    engine_first: u64,
}

fn report(r: Report<'_>) {
    let applied_n = histogram::count(r.applied);
    let bare_p50 = sorted_quantile(&mut r.bare.depth_parse, 0.5);
    let bare_p99 = sorted_quantile(&mut r.bare.depth_parse, 0.99);
    println!(
        "\n{} books x {:.1} diffs/s ({:.1} levels each), {} s windows\n",
        r.books,
        r.bare_rate / r.books as f64,
        r.levels,
        r.seconds
    );
    println!("| per depth frame | p50 | p99 | frames | CPU (% of one core) | RSS |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| bare client: decode only (baseline) | {} | {} | {} | {:.1}% | – |",
        us(bare_p50),
        us(bare_p99),
        r.bare.depth_frames,
        r.bare_cpu
    );
    println!(
        "| engine: frame read → book updated (`{APPLY}`) | {} | {} | {:.0} | {:.1}% | {:.0} MiB ({:.0} MiB before the books) |",
        us(histogram::quantile(r.applied, 0.5)),
        us(histogram::quantile(r.applied, 0.99)),
        applied_n,
        r.cpu,
        r.rss,
        r.idle_rss
    );
    println!(
        "\nA served book after the window: {} levels a side, source {}.\n",
        r.served_levels, r.served_source
    );
    let whole_p50 = sorted_quantile(r.whole, 0.5);
    let whole_p99 = sorted_quantile(r.whole, 0.99);
    println!("| `watch_read` wake-up | p50 | p99 | reads |");
    println!("|---|---|---|---|");
    println!(
        "| in the engine: book version bump → answer ready (`{WAKE}`) | {} | {} | {:.0} |",
        us(histogram::quantile(r.wake, 0.5)),
        us(histogram::quantile(r.wake, 0.99)),
        histogram::count(r.wake)
    );
    println!(
        "| of which: book version bump → item in the watch's buffer (`{ITEM}`) | {} | {} | {:.0} items |",
        us(histogram::quantile(r.item, 0.5)),
        us(histogram::quantile(r.item, 0.99)),
        histogram::count(r.item)
    );
    println!(
        "| whole path: depth frame at a bare client → answer read over stdio | {} | {} | {} |",
        us(whole_p50),
        us(whole_p99),
        r.whole.len()
    );
    println!(
        "\n{} more reads were answered before the bare client got their frame (left out).",
        r.engine_first
    );
}
