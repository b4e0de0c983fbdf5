//! Load generator for the real `crypto-market-mcp` binary over stdio (not criterion).
//!
//! Run with `cargo bench --bench mcp_stdio`. One rmcp client on a tokio current-thread runtime
//! keeps 1, 8 or 64 `get_ticker` calls in flight (closed loop) and records each call's latency:
//!
//! 1. cache hits (CACHE_TTL=3600, BTC/USDT warmed first), for `BENCH_SECONDS` (default 5) per
//!    level after a 1 s warm-up;
//! 2. an rmcp echo server (this binary re-executed with `--echo-server`) answering a ticker of
//!    the same JSON, driven by the same client code, levels interleaved with (1) so both see the
//!    same machine state. It is the ceiling of client + transport + rmcp: the ratio server/echo
//!    says how much of the cost is the server's own work;
//! 3. cold misses: every call asks a symbol never asked before while the simulated exchange
//!    answers `ticker/24hr` after 50 ms, a fixed number of calls per level; each answer must come
//!    from the exchange, and the simulator's request counter is reported (concurrent misses are
//!    batched, so it may be below the number of calls).
//!
//! Prints the machine, date, commit and a Markdown table to stdout.

use std::borrow::Cow;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crypto_market_sim::{Faults, SimConfig, SimHandle, Simulator};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, InitializeResult,
    JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities, Tool,
};
use rmcp::service::{RequestContext, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{ErrorData as McpError, RoleClient, RoleServer, ServerHandler, ServiceExt};
use serde_json::{json, Value};
use tokio::process::Command;
use tokio::task::JoinSet;

const MCP_BINARY: &str = env!("CARGO_BIN_EXE_crypto-market-mcp");
/// The argument that turns this binary into the echo server (anywhere in argv: cargo adds
/// `--bench` and maybe a filter, which are ignored).
const ECHO_FLAG: &str = "--echo-server";
/// The ticker the echo server answers with, as JSON (captured from the real server).
const ECHO_TICKER_ENV: &str = "BENCH_ECHO_TICKER";

const LEVELS: [usize; 3] = [1, 8, 64];
const WARMUP: Duration = Duration::from_secs(1);
/// Cold calls per level: together 1240, within the simulator's 3000 generated markets.
const COLD_CALLS: [u64; 3] = [40, 200, 1000];
const COLD_EXTRA_SYMBOLS: usize = 3000;
const COLD_LATENCY_MS: u64 = 50;
/// A call slower than this counts as failed, so a stuck server ends the bench instead of hanging it.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Failure messages printed per level (all are counted).
const MAX_FAILURE_SAMPLES: usize = 5;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == ECHO_FLAG) {
        // Echo mode: serve and nothing else (stdout belongs to the MCP transport).
        echo::serve();
        return;
    }
    let seconds: f64 = match std::env::var("BENCH_SECONDS") {
        Ok(s) => s
            .parse()
            .ok()
            .filter(|s: &f64| s.is_finite() && *s > 0.0)
            .expect("BENCH_SECONDS must be a positive number of seconds"),
        Err(_) => 5.0,
    };
    // The client side on one thread, as in the baseline figures of shared/notes/rmcp.md.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio current-thread runtime")
        .block_on(run(Duration::from_secs_f64(seconds)));
}

async fn run(measure: Duration) {
    print_machine();
    let mut rows = Vec::new();
    rows.extend(cache_hits_and_echo(measure).await);
    rows.extend(cold_misses().await);
    print_table(&rows);
}

// ---------------------------------------------------------------------------------------------
// Load generation

/// How long a level runs.
#[derive(Clone, Copy, Debug)]
enum Load {
    /// Keep calling for `warmup` (not recorded), then for `measure` (recorded).
    For { warmup: Duration, measure: Duration },
    /// Exactly this many calls, all recorded.
    Calls(u64),
}

/// What one level measured. Failed calls are counted, never part of the latencies.
#[derive(Debug)]
struct LoadResult {
    in_flight: usize,
    /// Successful recorded calls, in milliseconds, sorted.
    latencies_ms: Vec<f64>,
    failures: u64,
    failure_samples: Vec<String>,
    /// From the start of the recorded window until the last recorded call ended.
    wall: Duration,
    /// CPU time the server process used during the recorded window.
    server_cpu: Option<Duration>,
    /// CPU time this bench process (the client) used during the recorded window.
    client_cpu: Option<Duration>,
}

fn per_call_us(cpu: Duration, calls: usize) -> Option<f64> {
    (calls > 0).then(|| cpu.as_secs_f64() * 1e6 / calls as f64)
}

impl LoadResult {
    /// Server CPU µs per recorded call.
    fn cpu_us_per_call(&self) -> Option<f64> {
        per_call_us(self.server_cpu?, self.calls())
    }

    /// Client CPU µs per recorded call.
    fn client_cpu_us_per_call(&self) -> Option<f64> {
        per_call_us(self.client_cpu?, self.calls())
    }

    fn calls(&self) -> usize {
        self.latencies_ms.len()
    }

    fn calls_per_s(&self) -> f64 {
        self.calls() as f64 / self.wall.as_secs_f64()
    }

    /// Nearest-rank percentile, `q` in 0..=1.
    fn percentile_ms(&self, q: f64) -> f64 {
        let n = self.latencies_ms.len();
        if n == 0 {
            return f64::NAN;
        }
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        self.latencies_ms[rank - 1]
    }

    fn p50(&self) -> f64 {
        self.percentile_ms(0.50)
    }

    fn p99(&self) -> f64 {
        self.percentile_ms(0.99)
    }

    fn report_failures(&self, label: &str) {
        if self.failures == 0 {
            return;
        }
        eprintln!(
            "!! {label} at {} in flight: {} failed calls (not counted), e.g.:",
            self.in_flight, self.failures
        );
        for sample in &self.failure_samples {
            eprintln!("!!   {sample}");
        }
    }
}

/// What one worker saw.
#[derive(Default)]
struct WorkerLog {
    latencies_ms: Vec<f64>,
    failures: u64,
    failure_samples: Vec<String>,
    last_end: Option<Instant>,
}

/// Closed loop: `in_flight` tasks on the current runtime, each sending its next `get_ticker`
/// call as soon as its previous one is answered, so exactly `in_flight` calls are outstanding.
/// `make_args(i)` gives the arguments of the i-th call (0-based, unique per call of this level);
/// `check` accepts or rejects a result. Shared by the real server and the echo server so both
/// pay for the same client work.
async fn run_closed_loop<A, C>(
    server: &Child,
    in_flight: usize,
    load: Load,
    make_args: A,
    check: C,
) -> LoadResult
where
    A: Fn(u64) -> JsonObject + Send + Sync + 'static,
    C: Fn(&CallToolResult) -> Result<(), String> + Send + Sync + 'static,
{
    let make_args = Arc::new(make_args);
    let check = Arc::new(check);
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let (record_from, stop_at, total) = match load {
        Load::For { warmup, measure } => (start + warmup, Some(start + warmup + measure), None),
        Load::Calls(n) => (start, None, Some(n)),
    };

    // The server's CPU time over the recorded window: its own cost per call, whatever the
    // client's speed.
    let pid = server.pid;
    let cpu_at_start = tokio::spawn(async move {
        tokio::time::sleep_until(record_from.into()).await;
        (process_cpu(pid), process_cpu(std::process::id()))
    });
    let peer = server.peer();
    let mut workers = JoinSet::new();
    for _ in 0..in_flight {
        let (peer, make_args, check, next) =
            (peer.clone(), make_args.clone(), check.clone(), next.clone());
        workers.spawn(async move {
            let mut log = WorkerLog::default();
            loop {
                let sent = Instant::now();
                if stop_at.is_some_and(|stop| sent >= stop) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if total.is_some_and(|n| i >= n) {
                    break;
                }
                let params = CallToolRequestParams::new("get_ticker").with_arguments(make_args(i));
                let outcome = tokio::time::timeout(CALL_TIMEOUT, peer.call_tool(params)).await;
                let done = Instant::now();
                if sent < record_from {
                    continue; // warm-up
                }
                let verdict = match outcome {
                    Err(_) => Err(format!("no answer within {CALL_TIMEOUT:?}")),
                    Ok(Err(e)) => Err(format!("protocol error: {e}")),
                    Ok(Ok(result)) => check(&result),
                };
                match verdict {
                    Ok(()) => log.latencies_ms.push((done - sent).as_secs_f64() * 1000.0),
                    Err(message) => {
                        log.failures += 1;
                        if log.failure_samples.len() < MAX_FAILURE_SAMPLES {
                            log.failure_samples.push(format!("call {i}: {message}"));
                        }
                    }
                }
                log.last_end = Some(done);
            }
            log
        });
    }

    let mut result = LoadResult {
        in_flight,
        latencies_ms: Vec::new(),
        failures: 0,
        failure_samples: Vec::new(),
        wall: Duration::ZERO,
        server_cpu: None,
        client_cpu: None,
    };
    let mut last_end = record_from;
    while let Some(joined) = workers.join_next().await {
        let log = joined.expect("load worker panicked");
        result.latencies_ms.extend(log.latencies_ms);
        result.failures += log.failures;
        let room = MAX_FAILURE_SAMPLES.saturating_sub(result.failure_samples.len());
        result
            .failure_samples
            .extend(log.failure_samples.into_iter().take(room));
        last_end = last_end.max(log.last_end.unwrap_or(record_from));
    }
    result.latencies_ms.sort_by(f64::total_cmp);
    result.wall = last_end - record_from;
    if let Ok((server_start, client_start)) = cpu_at_start.await {
        let since = |start: Option<Duration>, end: Option<Duration>| end?.checked_sub(start?);
        result.server_cpu = since(server_start, process_cpu(pid));
        result.client_cpu = since(client_start, process_cpu(std::process::id()));
    }
    result
}

/// User + system CPU time of process `pid` so far (Linux /proc; `None` elsewhere).
fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on Linux for every architecture this runs on.
    Some(Duration::from_millis(ticks * 10))
}

fn ticker_args(symbol: &str) -> JsonObject {
    let mut args = JsonObject::new();
    args.insert("symbol".into(), Value::from(symbol));
    args
}

/// Accepts a successful result whose `source` is `expected`.
fn expect_source(expected: &'static str) -> impl Fn(&CallToolResult) -> Result<(), String> {
    move |result| {
        let structured = result.structured_content.as_ref();
        if result.is_error == Some(true) {
            return Err(format!("tool error: {structured:?}"));
        }
        match structured.and_then(|s| s.get("source")) {
            Some(source) if source == expected => Ok(()),
            other => Err(format!("source {other:?}, expected {expected:?}")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Children

type Client = RunningService<RoleClient, ()>;

/// A server child process and our MCP session with it.
struct Child {
    client: Client,
    /// For reading the server's CPU time from /proc.
    pid: u32,
}

impl std::ops::Deref for Child {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

/// Starts `cmd` as an MCP server over its stdio and completes the handshake. Its stderr is
/// inherited, so warnings and errors show up next to the results.
async fn connect(mut cmd: Command, what: &str) -> Child {
    // Ends the child even if this process panics before the orderly shutdown.
    cmd.kill_on_drop(true);
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let pid = transport
        .id()
        .unwrap_or_else(|| panic!("{what} has no pid"));
    let client = ()
        .serve(transport)
        .await
        .unwrap_or_else(|e| panic!("MCP handshake with {what} failed: {e}"));
    Child { client, pid }
}

/// The real server pointed at `sim`. RUST_LOG=warn: per-call logging would distort the figures.
async fn start_mcp_server(sim: &SimHandle, env: &[(&str, &str)]) -> Child {
    let mut cmd = Command::new(MCP_BINARY);
    cmd.env("EXCHANGE_REST_URL", sim.rest_url())
        .env("RUST_LOG", "warn")
        .env_remove("RUST_BACKTRACE");
    for (key, value) in env {
        cmd.env(key, value);
    }
    connect(cmd, "crypto-market-mcp").await
}

/// This bench binary again, as an echo server answering every `get_ticker` with `ticker`.
async fn start_echo_server(ticker: &Value) -> Child {
    let exe = std::env::current_exe().expect("path of the bench binary");
    let mut cmd = Command::new(exe);
    cmd.arg(ECHO_FLAG)
        .env(ECHO_TICKER_ENV, ticker.to_string())
        .env_remove("RUST_BACKTRACE");
    connect(cmd, "echo server").await
}

async fn stop(child: Child, what: &str) {
    if let Err(e) = child.client.cancel().await {
        eprintln!("stopping {what}: {e}");
    }
}

/// One call that must succeed; returns its structured content.
async fn call_once(client: &Child, symbol: &str) -> Value {
    let params = CallToolRequestParams::new("get_ticker").with_arguments(ticker_args(symbol));
    let result = client
        .call_tool(params)
        .await
        .unwrap_or_else(|e| panic!("get_ticker {symbol}: protocol error {e}"));
    assert_ne!(
        result.is_error,
        Some(true),
        "get_ticker {symbol} failed: {:?}",
        result.structured_content
    );
    result
        .structured_content
        .unwrap_or_else(|| panic!("get_ticker {symbol}: no structuredContent"))
}

// ---------------------------------------------------------------------------------------------
// Scenarios

struct Row {
    scenario: &'static str,
    result: LoadResult,
    /// The echo server's figures at the same level, for the ratio columns.
    echo: Option<(f64, f64)>,
}

/// Scenario 1 and the echo baseline, levels interleaved (server 1, echo 1, server 8, ...).
async fn cache_hits_and_echo(measure: Duration) -> Vec<Row> {
    let sim = Simulator::start(SimConfig::default()).expect("simulator starts");
    let server = start_mcp_server(&sim, &[("CACHE_TTL", "3600")]).await;
    // Warm: markets and BTC/USDT into the cache; the second answer is a cache hit, the exact
    // JSON the echo server will send back.
    call_once(&server, "BTC/USDT").await;
    let ticker = call_once(&server, "BTC/USDT").await;
    assert_eq!(ticker["source"], "cache", "warmed ticker comes from cache");
    println!(
        "cache hits: the ticker result is {} bytes of JSON (sent twice per answer: \
         structuredContent and text)",
        ticker.to_string().len()
    );
    let echo = start_echo_server(&ticker).await;
    let exchange_calls = sim.calls("ticker/24hr");

    let load = Load::For {
        warmup: WARMUP,
        measure,
    };
    let mut rows = Vec::new();
    let mut echo_rows = Vec::new();
    for in_flight in LEVELS {
        let args = |_| ticker_args("BTC/USDT");
        let hits = run_closed_loop(&server, in_flight, load, args, expect_source("cache")).await;
        hits.report_failures("cache hits");
        let baseline = run_closed_loop(&echo, in_flight, load, args, expect_source("cache")).await;
        baseline.report_failures("echo");
        rows.push(Row {
            scenario: "get_ticker cache hit",
            echo: Some((baseline.calls_per_s(), baseline.p50())),
            result: hits,
        });
        echo_rows.push(Row {
            scenario: "rmcp echo (baseline)",
            echo: None,
            result: baseline,
        });
    }
    let extra = sim.calls("ticker/24hr") - exchange_calls;
    if extra != 0 {
        eprintln!("!! cache-hit scenario made {extra} exchange calls (expected 0)");
    }
    stop(server, "crypto-market-mcp").await;
    stop(echo, "echo server").await;
    rows.extend(echo_rows);
    rows
}

/// Scenario 2: every call a miss on a symbol never asked before, the exchange 50 ms away.
async fn cold_misses() -> Vec<Row> {
    let sim = Simulator::start(SimConfig {
        extra_symbols: COLD_EXTRA_SYMBOLS,
        // The exchange's own weight limit is not what this measures.
        weight_limit: 1_000_000,
        ..SimConfig::default()
    })
    .expect("simulator starts");
    // ENABLE_RATE_LIMIT=false: with the budget on, Binance's weights (ticker 2 of 6000/min,
    // burst 600) cap misses at 50/s after the first 300, so the last level would measure the
    // budget and depend on how much burst earlier levels used. Off, this measures the miss path
    // itself: at most EXCHANGE_MAX_CONCURRENT_CALLS (default 8) exchange calls at once.
    let server = start_mcp_server(&sim, &[("ENABLE_RATE_LIMIT", "false")]).await;
    // Loads the market list (exchangeInfo) before any latency is injected.
    call_once(&server, "BTC/USDT").await;
    // After loading markets the server makes its pool of ccxt instances in the background
    // (~0.3 s of CPU each with 3000 markets). Measure a server that has been up a few seconds,
    // as a deployed one has, not its first second.
    tokio::time::sleep(Duration::from_secs(4)).await;
    sim.set_faults(Faults {
        latency_ms: COLD_LATENCY_MS,
        endpoints: Some(vec!["ticker/24hr".into()]),
        ..Faults::default()
    });

    let mut rows = Vec::new();
    let mut first_symbol = 1; // SIM0001
    for (in_flight, calls) in LEVELS.into_iter().zip(COLD_CALLS) {
        let before = sim.calls("ticker/24hr");
        let base = first_symbol;
        let args = move |i: u64| ticker_args(&format!("SIM{:04}/USDT", base + i));
        let result = run_closed_loop(
            &server,
            in_flight,
            Load::Calls(calls),
            args,
            expect_source("exchange"),
        )
        .await;
        result.report_failures("cold misses");
        first_symbol += calls;
        // Every call was a miss (its `source` was checked to be "exchange"); concurrent misses
        // are batched into ticker/24hr?symbols=[..] requests, so there may be fewer requests.
        let requests = sim.calls("ticker/24hr") - before;
        let verdict = if requests >= 1 && requests <= calls {
            "ok"
        } else {
            "UNEXPECTED"
        };
        println!(
            "cold misses, {in_flight} in flight: {calls} calls, {requests} ticker/24hr requests \
             at the simulator ({verdict})"
        );
        rows.push(Row {
            scenario: "get_ticker cold miss (50 ms exchange)",
            echo: None,
            result,
        });
    }
    stop(server, "crypto-market-mcp").await;
    rows
}

// ---------------------------------------------------------------------------------------------
// Output

fn print_machine() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = command_output("uname", &["-sr"]).unwrap_or_else(|| "unknown".into());
    let date = command_output("date", &["-u", "+%Y-%m-%d %H:%M:%S UTC"])
        .unwrap_or_else(|| "unknown".into());
    let commit = command_output("git", &["rev-parse", "--short", "HEAD"])
        .map(|c| {
            let dirty = command_output("git", &["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{c} (with uncommitted changes)")
            } else {
                c
            }
        })
        .unwrap_or_else(|| "unknown".into());
    println!("# crypto-market-mcp stdio benchmark");
    println!();
    println!("- machine: nproc {cores}, {cpu}, {kernel}");
    println!("- date: {date}");
    println!("- commit: {commit}");
    println!(
        "- client: one rmcp client, tokio current-thread runtime; server RUST_LOG=warn; \
         release build"
    );
    println!();
}

/// Trimmed stdout of a command run in the package directory, `None` if it fails.
fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(program)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn print_table(rows: &[Row]) {
    println!();
    println!(
        "| scenario | in flight | calls | failed | calls/s | p50 ms | p99 ms | server CPU µs/call | client CPU µs/call | vs echo (calls/s) | vs echo (p50) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        let r = &row.result;
        let (ratio_rate, ratio_p50) = match row.echo {
            Some((rate, p50)) => (
                format!("{:.2}", r.calls_per_s() / rate),
                format!("{:.2}", r.p50() / p50),
            ),
            None => ("".into(), "".into()),
        };
        let show = |us: Option<f64>| us.map(|us| format!("{us:.0}")).unwrap_or_default();
        let (cpu, client_cpu) = (show(r.cpu_us_per_call()), show(r.client_cpu_us_per_call()));
        println!(
            "| {} | {} | {} | {} | {:.0} | {:.3} | {:.3} | {} | {} | {} | {} |",
            row.scenario,
            r.in_flight,
            r.calls(),
            r.failures,
            r.calls_per_s(),
            r.p50(),
            r.p99(),
            cpu,
            client_cpu,
            ratio_rate,
            ratio_p50
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Echo server

mod echo {
    use super::*;

    /// The baseline: a do-nothing rmcp stdio server with one tool, `get_ticker`, that answers
    /// every call with the same ticker JSON the real server sends, so the bytes on the pipe and
    /// the (de)serialisation work match and only the server's own work differs.
    #[derive(Clone)]
    struct EchoServer {
        ticker: Arc<Value>,
        tools: Arc<Vec<Tool>>,
    }

    impl ServerHandler for EchoServer {
        fn get_info(&self) -> InitializeResult {
            InitializeResult::new(ServerCapabilities::builder().enable_tools().build())
                .with_server_info(Implementation::new("bench-echo", "0"))
        }

        async fn list_tools(
            &self,
            _request: Option<PaginatedRequestParams>,
            _context: RequestContext<RoleServer>,
        ) -> Result<ListToolsResult, McpError> {
            Ok(ListToolsResult::with_all_items(self.tools.as_ref().clone()))
        }

        async fn call_tool(
            &self,
            request: CallToolRequestParams,
            _context: RequestContext<RoleServer>,
        ) -> Result<CallToolResponse, McpError> {
            if request.name != "get_ticker" {
                return Err(McpError::invalid_params(
                    format!("no tool {}", request.name),
                    None,
                ));
            }
            Ok(CallToolResult::structured(self.ticker.as_ref().clone()).into())
        }
    }

    /// Entry point of `--echo-server`: serves on stdin/stdout until the client goes away.
    pub fn serve() {
        let ticker_json = std::env::var(ECHO_TICKER_ENV)
            .unwrap_or_else(|_| panic!("{ECHO_TICKER_ENV} must hold the ticker JSON"));
        let ticker: Value = serde_json::from_str(&ticker_json)
            .unwrap_or_else(|e| panic!("{ECHO_TICKER_ENV} is not JSON: {e}"));
        let schema = json!({
            "type": "object",
            "properties": { "symbol": { "type": "string" } },
            "required": ["symbol"],
        });
        let Value::Object(schema) = schema else {
            unreachable!("a JSON object literal")
        };
        let server = EchoServer {
            ticker: Arc::new(ticker),
            tools: Arc::new(vec![Tool::new(
                "get_ticker",
                Cow::Borrowed("Echoes a fixed ticker"),
                schema,
            )]),
        };
        // Current-thread, like the client: the baseline is one thread per side.
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio current-thread runtime")
            .block_on(async move {
                let service = server
                    .serve(rmcp::transport::stdio())
                    .await
                    .expect("echo server handshake");
                // Ends when the client closes the pipe; that is the normal way out.
                let _ = service.waiting().await;
            });
    }
}
