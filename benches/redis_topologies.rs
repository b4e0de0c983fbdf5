//! Issue 13's table (a load generator, not criterion): the worker pool on a 3-master Redis
//! Cluster against a single Redis, and how fast a Sentinel failover lets writes resume.
//!
//! `cargo bench --bench redis_topologies`:
//!
//! 1. Cache-hit throughput through the pool: 3 release `crypto-market-worker`s and one
//!    `PubSubClient` (this process) keeping `BENCH_CLIENTS` (64) `get_ticker` calls in flight
//!    for `BENCH_SECONDS` (5) per row, on a single `redis-server` and on a 3-master + 3-replica
//!    cluster, rows interleaved (single, cluster, single, cluster) so both see the same
//!    machine. Two kinds of hits: the workers' memory (`source: cache`; Redis carries only the
//!    request stream and the replies) and Redis's (`CACHE_MAXSIZE=1`, so each answer is a Redis
//!    GET, `source: redis`).
//! 2. Sentinel failover, `BENCH_FAILOVERS` (5) times: a master, a replica and a sentinel
//!    (`down-after-milliseconds 1000`); a writer on the product's own sentinel connection
//!    (`RedisTarget` with `REDIS_MODE=sentinel`'s topology) SETs every 5 ms; the master is
//!    SIGKILLed; reported: the time to the sentinel's promotion and to the first write that
//!    lands on the new master.

#![allow(
    clippy::print_stdout,
    reason = "a benchmark's report is Markdown on stdout"
)]

mod common;
#[path = "../tests/common/redis_topology.rs"]
#[allow(
    dead_code,
    reason = "the tests' module; this benchmark uses part of it"
)]
mod redis_topology;

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{env_number, Pool};
use crypto_market_actors::redis_target::{RedisTarget, Topology};
use crypto_market_mcp::client::PubSubClient;
use crypto_market_sim::{SimConfig, SimHandle, Simulator};
use redis_topology::{ClusterRig, SentinelRig};
use serde_json::json;

const WORKERS: usize = 3;
const HOT: usize = 20;

fn main() {
    common::run_on_one_thread(run());
}

/// Where the pool's Redis is, as the workers' settings and the client's target.
#[derive(Clone)]
enum Where {
    Single(String),
    Cluster(String),
}

impl Where {
    fn label(&self) -> &'static str {
        match self {
            Where::Single(_) => "single Redis",
            Where::Cluster(_) => "3-master cluster",
        }
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        match self {
            Where::Single(url) => vec![("REDIS_URL", url.clone())],
            Where::Cluster(seeds) => vec![
                ("REDIS_MODE", "cluster".to_owned()),
                ("REDIS_NODES", seeds.clone()),
            ],
        }
    }

    fn target(&self) -> RedisTarget {
        match self {
            Where::Single(url) => RedisTarget::new(url.clone(), "crypto_mcp"),
            Where::Cluster(seeds) => RedisTarget::new("redis://127.0.0.1/0", "crypto_mcp")
                .with_topology(Topology::Cluster {
                    nodes: seeds.split(',').map(str::to_owned).collect(),
                }),
        }
    }
}

fn start_workers(sim: &SimHandle, at: &Where, memory: bool) -> Pool {
    let mut env = at.env();
    if !memory {
        // One value in memory: each answer comes from Redis.
        env.push(("CACHE_MAXSIZE", "1".to_owned()));
    }
    common::start_workers(sim, WORKERS, &env, "warn,redis=error")
}

/// CPU seconds used so far by every process whose `comm` starts with `name` (from /proc).
fn cpu_seconds(name: &str) -> f64 {
    let ticks_per_s = 100.0; // USER_HZ on Linux
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return f64::NAN;
    };
    let mut ticks = 0u64;
    for entry in dir.flatten() {
        let path = entry.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if !comm.starts_with(name) {
            continue;
        }
        let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
        // Fields after the ")" that ends the command name: utime is the 12th, stime the 13th.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let field = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        ticks += field(11) + field(12);
    }
    ticks as f64 / ticks_per_s
}

struct Row {
    redis_cpu_ms_per_1k: f64,
    workers_cpu_ms_per_1k: f64,
    label: String,
    calls: usize,
    failed: usize,
    per_s: f64,
    p50: f64,
    p99: f64,
    sources: String,
}

fn hot(i: usize) -> String {
    format!("SIM{:04}/USDT", i % HOT + 1)
}

async fn load(
    client: &Arc<PubSubClient>,
    in_flight: usize,
    measure: Duration,
    label: String,
) -> Row {
    let stop = Instant::now() + measure;
    let sources: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let tasks: Vec<_> = (0..in_flight)
        .map(|t| {
            let (client, sources) = (client.clone(), sources.clone());
            tokio::spawn(async move {
                let (mut latencies, mut failed, mut n) = (Vec::new(), 0usize, t);
                while Instant::now() < stop {
                    n += in_flight;
                    let sent = Instant::now();
                    match client.call("get_ticker", json!({ "symbol": hot(n) })).await {
                        Ok(v) => {
                            latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                            let source = v["source"].as_str().unwrap_or("?").to_owned();
                            *sources.lock().unwrap().entry(source).or_default() += 1;
                        }
                        Err(_) => failed += 1,
                    }
                }
                (latencies, failed)
            })
        })
        .collect();
    let started = Instant::now();
    let (redis_cpu, workers_cpu) = (cpu_seconds("redis-server"), cpu_seconds("crypto-market-w"));
    let (mut all, mut failed) = (Vec::new(), 0);
    for task in tasks {
        if let Ok((latencies, f)) = task.await {
            all.extend(latencies);
            failed += f;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let per_1k = |used: f64| used * 1000.0 / (all.len().max(1) as f64 / 1000.0);
    let redis_cpu_ms_per_1k = per_1k(cpu_seconds("redis-server") - redis_cpu);
    let workers_cpu_ms_per_1k = per_1k(cpu_seconds("crypto-market-w") - workers_cpu);
    all.sort_by(f64::total_cmp);
    let pct = |q: f64| {
        if all.is_empty() {
            f64::NAN
        } else {
            all[((q * all.len() as f64).ceil() as usize).clamp(1, all.len()) - 1]
        }
    };
    let mut sources: Vec<(String, usize)> = sources.lock().unwrap().clone().into_iter().collect();
    sources.sort();
    let total: usize = sources.iter().map(|(_, n)| n).sum::<usize>().max(1);
    Row {
        redis_cpu_ms_per_1k,
        workers_cpu_ms_per_1k,
        label,
        calls: all.len(),
        failed,
        per_s: all.len() as f64 / elapsed,
        p50: pct(0.5),
        p99: pct(0.99),
        sources: sources
            .iter()
            .map(|(s, n)| format!("{s} {:.0}%", *n as f64 * 100.0 / total as f64))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

async fn pool_row(
    sim: &SimHandle,
    at: &Where,
    memory: bool,
    seconds: Duration,
    clients: usize,
) -> Row {
    let pool = start_workers(sim, at, memory);
    // A new client id per row (a worker answers each request id once).
    let client_id = format!(
        "bench{}-{}{}",
        std::process::id(),
        at.label().len(),
        crypto_market_actors::model::now_ms()
    );
    let client = common::pool_client(at.target(), client_id).await;
    // Every hot symbol into the shared cache, then into every worker's memory.
    for _ in 0..3 {
        let calls = (0..HOT).map(|i| client.call("get_ticker", json!({ "symbol": hot(i) })));
        for r in futures::future::join_all(calls).await {
            r.expect("warm-up call");
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let kind = if memory {
        "hits in the workers' memory"
    } else {
        "Redis hits (CACHE_MAXSIZE=1)"
    };
    let row = load(&client, clients, seconds, format!("{}, {kind}", at.label())).await;
    drop(pool);
    tokio::time::sleep(Duration::from_millis(500)).await;
    row
}

async fn failover(round: u64) -> (f64, f64) {
    let mut rig = tokio::task::spawn_blocking(SentinelRig::start)
        .await
        .expect("sentinel rig");
    let target =
        RedisTarget::new("redis://127.0.0.1/0", "bench").with_topology(Topology::Sentinel {
            nodes: vec![rig.sentinels()],
            master: "mymaster".into(),
        });
    let mut conn = target.connection().await.expect("sentinel connection");
    let key = format!("bench:failover:{round}");
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg(0)
        .query_async(&mut conn)
        .await
        .expect("first write");
    let replica = rig.replica;
    let killed = Instant::now();
    rig.kill_master();
    let mut promoted: Option<f64> = None;
    let mut n = 0u64;
    loop {
        n += 1;
        if promoted.is_none() && rig.master_port() == Some(replica) {
            promoted = Some(killed.elapsed().as_secs_f64() * 1000.0);
        }
        let wrote: redis::RedisResult<()> = redis::cmd("SET")
            .arg(&key)
            .arg(n)
            .query_async(&mut conn)
            .await;
        if wrote.is_ok() {
            let at = killed.elapsed().as_secs_f64() * 1000.0;
            // It must have landed on the new master, the old replica.
            let on_replica: Option<u64> =
                redis_topology::query(replica, redis::cmd("GET").arg(&key)).ok();
            if on_replica == Some(n) {
                return (promoted.unwrap_or(at), at);
            }
        }
        assert!(
            killed.elapsed() < Duration::from_secs(60),
            "no failover within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A `redis-server` on a free loopback TCP port, killed on drop.
struct SingleRedis {
    port: u16,
    child: std::process::Child,
}

impl SingleRedis {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        redis_topology::wait(Duration::from_secs(30), "redis", || {
            redis_topology::query::<String>(port, &redis::cmd("PING")).is_ok()
        });
        Self { port, child }
    }
}

impl Drop for SingleRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// requests/s of one command by `redis-benchmark` (the ceiling of a server), or `-`.
fn redis_benchmark(port: u16, cluster: bool, command: &[&str]) -> String {
    let mut cmd = std::process::Command::new("redis-benchmark");
    cmd.args(["-p", &port.to_string(), "-c", "50", "-n", "100000", "-q"]);
    if cluster {
        cmd.arg("--cluster");
    }
    let out = cmd.args(command).output();
    let text = out
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    // "...: 81234.56 requests per second, p50=0.303 msec"
    text.rsplit('\r')
        .chain(text.lines())
        .find_map(|line| {
            let (_, rest) = line.split_once(": ")?;
            let per_s = rest.split_whitespace().next()?.parse::<f64>().ok()?;
            Some(format!("{per_s:.0}"))
        })
        .unwrap_or_else(|| "-".to_owned())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn run() {
    let seconds = Duration::from_secs(env_number("BENCH_SECONDS", 5));
    let clients = env_number("BENCH_CLIENTS", 64) as usize;
    let failovers = env_number("BENCH_FAILOVERS", 5);
    let sim = Simulator::start(SimConfig {
        extra_symbols: 100,
        weight_limit: u32::MAX,
        ..SimConfig::default()
    })
    .expect("simulator");
    // Over TCP on loopback like the cluster's nodes (a unix socket would flatter it).
    let single = SingleRedis::start();
    let cluster = tokio::task::spawn_blocking(ClusterRig::start)
        .await
        .expect("cluster rig");
    let places = [
        Where::Single(format!("redis://127.0.0.1:{}/0", single.port)),
        Where::Cluster(cluster.seeds()),
    ];
    println!("# Redis topologies\n");
    println!(
        "- {WORKERS} workers, {clients} calls in flight, {} s per row, {HOT} warmed symbols; rows interleaved\n",
        seconds.as_secs()
    );
    let mut rows = Vec::new();
    for round in 0..2 {
        for memory in [true, false] {
            for at in &places {
                let mut row = pool_row(&sim, at, memory, seconds, clients).await;
                row.label = format!("{} (round {})", row.label, round + 1);
                rows.push(row);
            }
        }
    }
    println!("| pool | calls | failed | calls/s | p50 ms | p99 ms | Redis CPU ms / 1k calls | workers CPU ms / 1k calls | sources |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.0} | {:.0} | {} |",
            r.label,
            r.calls,
            r.failed,
            r.per_s,
            r.p50,
            r.p99,
            r.redis_cpu_ms_per_1k,
            r.workers_cpu_ms_per_1k,
            r.sources
        );
    }
    // The ceiling of each: redis-benchmark's PUBLISH of a reply-sized payload (a cluster
    // forwards every PUBLISH to all its nodes over the bus) and XADD, same run.
    println!("\n### redis-benchmark on the same servers (50 clients, unpipelined, calls/s)\n");
    println!("| server | PUBLISH 700 B | XADD |");
    println!("|---|---:|---:|");
    let master = cluster.masters()[0];
    for (label, port, cluster) in [
        ("single Redis", single.port, false),
        ("the cluster (`--cluster`)", master, true),
    ] {
        println!(
            "| {label} | {} | {} |",
            redis_benchmark(port, cluster, &["PUBLISH", "bench:reply", &"x".repeat(700)]),
            redis_benchmark(
                port,
                cluster,
                &["XADD", "bench:{stream}", "*", "request", "x"]
            ),
        );
    }
    drop(cluster);

    println!("\n### Sentinel failover (master SIGKILLed, down-after-milliseconds 1000)\n");
    println!("| failover | promoted after ms | first write on the new master after ms |");
    println!("|---|---:|---:|");
    let (mut promotions, mut writes) = (Vec::new(), Vec::new());
    for round in 1..=failovers {
        let (promoted, wrote) = failover(round).await;
        println!("| {round} | {promoted:.0} | {wrote:.0} |");
        promotions.push(promoted);
        writes.push(wrote);
    }
    println!(
        "| **p50** | **{:.0}** | **{:.0}** |",
        median(promotions),
        median(writes)
    );
}
