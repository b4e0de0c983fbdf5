//! The soak test of issue 20 (a load generator, not criterion): bounded mixed load for
//! `SOAK_MINUTES` (default 30) against the release binaries, with a Redis restart and a worker
//! SIGKILL on the way, watching memory and every failed call.
//!
//! `SOAK_MINUTES=30 cargo bench --bench soak`: the in-process simulator (every REST answer
//! `SOAK_LATENCY_MS`, default 3, plus up to 4 ms jitter; `SOAK_SYMBOLS`, default 3000, generated
//! markets so cold symbols never run out), a private `redis-server`, two `crypto-market-worker`s
//! and one `crypto-market-mcp --http` (all `USE_REDIS_CACHE=true`), and this process as their
//! clients, about 30 calls a second in all (see `lanes.rs` and `plain.rs` for the mix).
//!
//! Schedule, as fractions of the run so that a short run (`SOAK_MINUTES=3`) goes through it
//! all: at 40% Redis is SIGKILLed, stays down `SOAK_REDIS_DOWN_S` (5) and comes back on the
//! same socket, empty; at 60% `worker-1` is SIGKILLed and `worker-3` replaces it 2 s later.
//! A failure during a fault or up to `SOAK_FAULT_WINDOW_S` (30) after it is counted as
//! explained by it; any other is unexplained. Every engine process's RSS is sampled every
//! `SOAK_SAMPLE_S` (10); each is compared at 5 minutes after it started (a sixth of shorter
//! runs) with its last sample. Abandoned HTTP sessions are reclaimed by the server's idle
//! close, `MCP_SESSION_IDLE_S`: the default 300 s for a 30-minute run, a sixth of shorter ones
//! (`SOAK_SESSION_IDLE_S` sets it).
//!
//! Prints Markdown to stdout (progress to stderr); engine logs are written to `SOAK_LOG_DIR`
//! (default a temporary directory, named at the end).

#![allow(
    clippy::print_stdout,
    reason = "a benchmark's report is Markdown on stdout"
)]

#[path = "../../tests/common/mod.rs"]
mod common;
mod lanes;
mod plain;
mod rss;
mod tally;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::redis::RedisServer;
use common::worker::{start_worker, Worker};
use crypto_market_actors::redis_target::RedisTarget;
use crypto_market_mcp::client::{PubSubClient, PubSubConfig};
use crypto_market_sim::{Faults, SimConfig, SimHandle, Simulator};
use serde_json::json;

use lanes::Load;
use rss::Processes;
use tally::{clock, Tally};

fn setting(name: &str, default: f64) -> f64 {
    match std::env::var(name) {
        Err(_) => default,
        Ok(v) => match v.parse::<f64>() {
            Ok(n) if n.is_finite() && n > 0.0 => n,
            _ => {
                eprintln!("{name} must be a positive number, got {v:?}");
                std::process::exit(2);
            }
        },
    }
}

fn main() {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run());
}

/// What the run is told to do, from the environment.
struct Plan {
    run: Duration,
    sample: Duration,
    window: Duration,
    symbols: usize,
    latency_ms: u64,
    redis_down: Duration,
    session_idle_s: u64,
    /// When each process's RSS is taken as its baseline, after it started.
    baseline_s: f64,
    engine_log: String,
}

impl Plan {
    fn from_env() -> Self {
        let run_s = setting("SOAK_MINUTES", 30.0) * 60.0;
        let sixth = (run_s / 6.0).min(300.0);
        Self {
            run: Duration::from_secs_f64(run_s),
            sample: Duration::from_secs_f64(setting("SOAK_SAMPLE_S", 10.0)),
            window: Duration::from_secs_f64(setting("SOAK_FAULT_WINDOW_S", 30.0)),
            symbols: setting("SOAK_SYMBOLS", 3000.0).max(200.0) as usize,
            latency_ms: setting("SOAK_LATENCY_MS", 3.0) as u64,
            redis_down: Duration::from_secs_f64(setting("SOAK_REDIS_DOWN_S", 5.0)),
            session_idle_s: setting("SOAK_SESSION_IDLE_S", sixth.max(10.0)) as u64,
            baseline_s: sixth,
            engine_log: std::env::var("SOAK_ENGINE_LOG").unwrap_or_else(|_| "warn".into()),
        }
    }
}

/// The engine's settings, the same for every process.
fn engine_env(plan: &Plan) -> Vec<(&'static str, String)> {
    vec![
        ("USE_REDIS_CACHE", "true".into()),
        // The simulator's own limit is off; the engine's budget stays on (shared through
        // Redis, as deployed) with room enough that it never queues this load.
        ("EXCHANGE_WEIGHT_LIMIT", "1000000".into()),
        ("RUST_LOG", plan.engine_log.clone()),
    ]
}

fn as_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'a str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

struct Engine {
    mcp: tokio::process::Child,
    mcp_log: Arc<Mutex<String>>,
    mcp_addr: String,
    workers: Vec<(String, Worker)>,
    /// Every engine process and when it started (s since the load started; 0 for those
    /// started before it).
    started: Vec<(String, f64)>,
}

async fn start_mcp(sim: &SimHandle, redis: &RedisServer, plan: &Plan) -> Engine {
    let mut env = engine_env(plan);
    env.push(("REDIS_URL", redis.url()));
    env.push(("MCP_SESSION_IDLE_S", plan.session_idle_s.to_string()));
    // The address line is logged at info.
    env.retain(|(name, _)| *name != "RUST_LOG");
    env.push((
        "RUST_LOG",
        format!("{},crypto_market_mcp::mcp::http=info", plan.engine_log),
    ));
    let mut mcp = common::server_command(sim, &as_refs(&env))
        .args(["--http", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("crypto-market-mcp starts");
    let mcp_log = common::collect(mcp.stderr.take().expect("stderr"));
    let mcp_addr = common::logged_addr(&mcp_log, "serving MCP over streamable HTTP").await;
    Engine {
        mcp,
        mcp_log,
        mcp_addr,
        workers: Vec::new(),
        started: vec![("mcp".into(), 0.0)],
    }
}

fn worker(sim: &SimHandle, redis: &RedisServer, plan: &Plan) -> Worker {
    start_worker(sim, redis, &as_refs(&engine_env(plan)))
}

async fn pool_client(redis: &RedisServer) -> Arc<PubSubClient> {
    let config = PubSubConfig {
        request_channel: "crypto_mcp:requests".into(),
        response_channel: "crypto_mcp:responses".into(),
        request_timeout: Duration::from_secs(10),
        client_id: Some("soak".into()),
    };
    Arc::new(
        PubSubClient::connect(RedisTarget::new(redis.url(), "crypto_mcp"), config)
            .await
            .expect("the pool client connects"),
    )
}

async fn run() {
    let plan = Plan::from_env();
    let sim = Simulator::start(SimConfig {
        extra_symbols: plan.symbols,
        weight_limit: u32::MAX,
        ..SimConfig::default()
    })
    .expect("simulator");
    sim.set_faults(Faults {
        latency_ms: plan.latency_ms,
        jitter_ms: 4,
        ..Default::default()
    });
    let mut redis = RedisServer::start();
    let mut engine = start_mcp(&sim, &redis, &plan).await;
    for n in 1..=2 {
        let name = format!("worker-{n}");
        engine.started.push((name.clone(), 0.0));
        engine.workers.push((name, worker(&sim, &redis, &plan)));
    }
    let mut conn = common::worker::connect(&redis).await;
    common::worker::wait_for_workers(&mut conn, 2).await;
    let pool = pool_client(&redis).await;
    warm_up(&engine.mcp_addr, &pool).await;

    let started = Instant::now();
    let until = started + plan.run;
    let tally = Arc::new(Tally::new(started, plan.window));
    let processes = Processes::default();
    processes.add("mcp", engine.mcp.id().unwrap_or(0));
    for (name, w) in &engine.workers {
        processes.add(name, w.child.id().unwrap_or(0));
    }
    print_setup(&plan);
    let sampler = tokio::spawn(rss::sample(processes.clone(), started, plan.sample, until));
    let load = Arc::new(Load::new(
        format!("http://{}/mcp", engine.mcp_addr),
        pool.clone(),
        tally.clone(),
        until,
        plan.symbols,
    ));
    let lanes = start_lanes(&load);
    let progress = tokio::spawn(progress(tally.clone(), processes.clone(), until));

    faults(
        &plan,
        &sim,
        &mut redis,
        &mut engine,
        &processes,
        &tally,
        started,
    )
    .await;

    for lane in lanes {
        let _ = lane.await;
    }
    let _ = progress.await;
    let samples = sampler.await.unwrap_or_default();
    report(&plan, &samples, &tally, &engine);
}

/// Every lane, spawned; see `lanes.rs` and `plain.rs`.
fn start_lanes(load: &Arc<Load>) -> Vec<tokio::task::JoinHandle<()>> {
    let ms = Duration::from_millis;
    let mut lanes = Vec::new();
    let mcp: [(lanes::Step, u64); 4] = [
        (lanes::mcp_hit, 100),
        (lanes::mcp_miss, 500),
        (lanes::mcp_book_or_candles, 500),
        (lanes::mcp_stream, 2_000),
    ];
    for (step, period) in mcp {
        let load = load.clone();
        lanes.push(tokio::spawn(async move {
            lanes::mcp_lane(&load, ms(period), step).await
        }));
    }
    let pool: [(plain::Step, u64); 4] = [
        (plain::pool_hit, 100),
        (plain::pool_miss, 500),
        (plain::pool_book, 1_000),
        (plain::pool_stream, 15_000),
    ];
    for (step, period) in pool {
        let load = load.clone();
        lanes.push(tokio::spawn(async move {
            plain::pool_lane(&load, ms(period), step).await
        }));
    }
    let subscribing = load.clone();
    lanes.push(tokio::spawn(async move {
        lanes::subscriber_lane(&subscribing, ms(8_000)).await
    }));
    let abandoning = load.clone();
    lanes.push(tokio::spawn(async move {
        plain::abandoning_lane(&abandoning, ms(4_000)).await
    }));
    lanes
}

/// Markets loaded and hot symbols cached everywhere before the clock starts.
async fn warm_up(addr: &str, pool: &PubSubClient) {
    use rmcp::ServiceExt;
    let transport = rmcp::transport::StreamableHttpClientTransport::from_config(
        rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(
            format!("http://{addr}/mcp").as_str(),
        ),
    );
    let session = ().serve(transport).await.expect("MCP over HTTP answers");
    for symbol in lanes::HOT {
        common::call(&session, "get_ticker", json!({ "symbol": symbol })).await;
        for _ in 0..2 {
            pool.call("get_ticker", json!({ "symbol": symbol }))
                .await
                .expect("the pool answers");
        }
    }
    let _ = session.cancel().await;
}

/// The two faults, at 40% and 60% of the run.
async fn faults(
    plan: &Plan,
    sim: &SimHandle,
    redis: &mut RedisServer,
    engine: &mut Engine,
    processes: &Processes,
    tally: &Tally,
    started: Instant,
) {
    tokio::time::sleep_until((started + plan.run.mul_f64(0.4)).into()).await;
    let fault = tally.fault_began(&format!(
        "Redis SIGKILLed, down {} s, back empty on the same socket",
        plan.redis_down.as_secs_f64()
    ));
    tokio::task::block_in_place(|| redis.kill());
    tokio::time::sleep(plan.redis_down).await;
    tokio::task::block_in_place(|| redis.restart());
    tally.fault_ended(fault);
    eprintln!("[soak] {} Redis restarted", clock(tally.now_s()));

    tokio::time::sleep_until((started + plan.run.mul_f64(0.6)).into()).await;
    let fault = tally.fault_began("worker-1 SIGKILLed, worker-3 started 2 s later");
    if let Some((name, victim)) = engine.workers.first_mut() {
        victim.signal(libc::SIGKILL);
        let _ = victim.exit_status(Duration::from_secs(10)).await;
        processes.remove(name);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let replacement = worker(sim, redis, plan);
    let since_s = tally.now_s();
    processes.add("worker-3", replacement.child.id().unwrap_or(0));
    engine.started.push(("worker-3".into(), since_s));
    engine.workers.push(("worker-3".into(), replacement));
    tally.fault_ended(fault);
    eprintln!(
        "[soak] {} worker-1 killed, worker-3 started",
        clock(since_s)
    );
}

/// A line on stderr every minute, so a long run shows it is alive.
async fn progress(tally: Arc<Tally>, processes: Processes, until: Instant) {
    while Instant::now() + Duration::from_secs(60) <= until {
        tokio::time::sleep(Duration::from_secs(60)).await;
        let (calls, explained, unexplained) = tally.totals();
        let rss: Vec<String> = processes
            .names_and_pids()
            .into_iter()
            .filter_map(|(name, pid)| {
                rss::rss_kib(pid).map(|k| format!("{name} {:.1} MB", k as f64 / 1024.0))
            })
            .collect();
        eprintln!(
            "[soak] {} calls {calls}, failed {explained} explained / {unexplained} unexplained; {}",
            clock(tally.now_s()),
            rss.join(", ")
        );
    }
}

fn print_setup(plan: &Plan) {
    println!("# soak (issue 20)\n");
    println!(
        "- {:.1} min of mixed load; release `crypto-market-mcp --http` + 2 `crypto-market-worker`s, \
         `USE_REDIS_CACHE=true`, private redis-server; simulator REST {} ms + up to 4 ms jitter, \
         {} generated markets",
        plan.run.as_secs_f64() / 60.0,
        plan.latency_ms,
        plan.symbols
    );
    println!(
        "- faults: Redis restart at {}, worker SIGKILL at {}; failures up to {} s after a fault \
         count as explained; RSS every {} s; `MCP_SESSION_IDLE_S={}`",
        clock(plan.run.as_secs_f64() * 0.4),
        clock(plan.run.as_secs_f64() * 0.6),
        plan.window.as_secs(),
        plan.sample.as_secs(),
        plan.session_idle_s
    );
}

fn report(plan: &Plan, samples: &[rss::Sample], tally: &Tally, engine: &Engine) {
    let names: Vec<String> = engine.started.iter().map(|(n, _)| n.clone()).collect();
    rss::print(samples, &names, &engine.started, plan.baseline_s);
    tally.print();
    logs(engine);
    let (calls, explained, unexplained) = tally.totals();
    println!("\n### Verdict\n");
    println!(
        "- calls: {calls}; failed: {explained} explained by the faults, {unexplained} unexplained"
    );
    for (name, ratio) in rss::ratios(samples, &engine.started, plan.baseline_s) {
        let verdict = if ratio <= 1.10 {
            "within 10%"
        } else {
            "OVER 10%"
        };
        println!(
            "- {name}: RSS at the end / at {} after start = {ratio:.3} ({verdict})",
            clock(plan.baseline_s)
        );
    }
}

/// Each engine process's WARN and ERROR lines: counted, the commonest shown, all written out.
fn logs(engine: &Engine) {
    let dir = std::env::var("SOAK_LOG_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir().join(format!("soak-{}", std::process::id())));
    let _ = std::fs::create_dir_all(&dir);
    println!("\n### Engine logs (written to {})\n", dir.display());
    let mut all = vec![("mcp".to_owned(), engine.mcp_log.clone())];
    all.extend(
        engine
            .workers
            .iter()
            .map(|(n, w)| (n.clone(), w.log.clone())),
    );
    for (name, log) in all {
        let text = log.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let _ = std::fs::write(dir.join(format!("{name}.log")), &text);
        let mut by_message: std::collections::BTreeMap<String, u64> = Default::default();
        for line in text.lines() {
            // "2026-…Z  WARN target: message": grouped by level, target and message.
            if let Some(at) = line.find(" WARN ").or_else(|| line.find(" ERROR ")) {
                let message: String = line[at..].trim().chars().take(160).collect();
                *by_message.entry(message).or_default() += 1;
            }
        }
        let total: u64 = by_message.values().sum();
        println!("- {name}: {total} WARN/ERROR lines");
        let mut common: Vec<_> = by_message.into_iter().collect();
        common.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
        for (message, n) in common.into_iter().take(6) {
            println!("  - ×{n} `{message}`");
        }
    }
}
