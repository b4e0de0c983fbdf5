//! Load generator for the real `crypto-market-mcp` binary over stdio (not criterion).
//!
//! Run with `cargo bench --bench mcp_stdio`. One rmcp client on a tokio current-thread runtime
//! keeps 1, 8 or 64 `get_ticker` calls in flight (closed loop) and records each call's latency:
//!
//! 1. cache hits (CACHE_TTL=3600, BTC/USDT warmed first), for `BENCH_SECONDS` (default 5) per
//!    level after a 1 s warm-up;
//! 2. two rmcp echo servers (this binary re-executed with `--echo-server`) answering a ticker of
//!    the same JSON, driven by the same client code, levels interleaved with (1) (server, echo
//!    over pipes, echo over stdio() at each level) so all see the same machine state. The pipe
//!    echo serves through the server's own stdio transport (`mcp::stdio_transport()`, epoll on
//!    non-blocking pipes): the ceiling of client + transport + rmcp, so the ratio server/echo
//!    says how much of the cost is the server's own work. The stdio() echo serves through
//!    `rmcp::transport::stdio()` (tokio's blocking thread pool), the previous baseline;
//! 3. cold misses: every call asks a symbol never asked before while the simulated exchange
//!    answers `ticker/24hr` after 50 ms, a fixed number of calls per level; each answer must come
//!    from the exchange, and the simulator's request counter is reported (concurrent misses are
//!    batched, so it may be below the number of calls).
//!
//! 4. the cost of a cold miss above the exchange call (misses, hits and raw GETs interleaved);
//! 5. cache hits while a flood of distinct unknown symbols runs beside them.
//!
//! `BENCH_ONLY=hits,cold,overhead,flood` picks scenarios (default: all). `BENCH_BEFORE_BINARY=path`
//! (a `crypto-market-mcp` built from an earlier commit) adds it to scenarios 1 and 3, levels
//! interleaved with this build's, so a change is judged before/after in the same run. Prints the machine,
//! date, commit and Markdown tables to stdout.

#![allow(
    clippy::print_stdout,
    reason = "a benchmark's report is Markdown on stdout"
)]

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

const MCP_BINARY: &str = env!("CARGO_BIN_EXE_crypto-market-mcp");
/// The argument that turns this binary into the echo server (anywhere in argv: cargo adds
/// `--bench` and maybe a filter, which are ignored).
const ECHO_FLAG: &str = "--echo-server";
/// The ticker the echo server answers with, as JSON (captured from the real server).
const ECHO_TICKER_ENV: &str = "BENCH_ECHO_TICKER";
/// The echo server's transport: `pipes` (the server's own stdio transport) or `stdio`.
const ECHO_TRANSPORT_ENV: &str = "BENCH_ECHO_TRANSPORT";

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
    // The client side on one thread, as in the baseline figures of docs/notes/rmcp.md.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio current-thread runtime")
        .block_on(run(Duration::from_secs_f64(seconds)));
}

async fn run(measure: Duration) {
    print_machine();
    let mut rows = Vec::new();
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let wants = |name: &str| only.is_empty() || only.split(',').any(|o| o == name);
    if wants("hits") {
        rows.extend(cache_hits_and_echo(measure).await);
    }
    if wants("cold") {
        rows.extend(cold_misses().await);
    }
    if !rows.is_empty() {
        print_table(&rows);
    }
    if wants("overhead") {
        // EXCHANGE_IO_THREADS values to compare (`BENCH_IO_THREADS`, default "2,0").
        let modes = std::env::var("BENCH_IO_THREADS").unwrap_or_else(|_| "2,0".into());
        for threads in modes.split(',') {
            overhead::cold_miss_overhead(threads.trim()).await;
        }
    }
    if wants("flood") {
        overhead::bad_symbol_flood(measure).await;
    }
}

mod echo;
mod load;
mod overhead;
mod report;

use load::{expect_source, run_closed_loop, ticker_args, Load, LoadResult};
use report::{print_machine, print_table};

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

/// The binary of an earlier build to compare with (`BENCH_BEFORE_BINARY`), if any.
fn before_binary() -> Option<String> {
    std::env::var("BENCH_BEFORE_BINARY")
        .ok()
        .filter(|p| !p.is_empty())
}

/// The real server pointed at `sim`. RUST_LOG=warn: per-call logging would distort the figures.
async fn start_mcp_server(sim: &SimHandle, env: &[(&str, &str)]) -> Child {
    start_mcp_server_at(MCP_BINARY, sim, env).await
}

/// [`start_mcp_server`] with another build of the server.
async fn start_mcp_server_at(binary: &str, sim: &SimHandle, env: &[(&str, &str)]) -> Child {
    let mut cmd = Command::new(binary);
    cmd.env("EXCHANGE_REST_URL", sim.rest_url())
        .env("RUST_LOG", "warn")
        .env_remove("RUST_BACKTRACE");
    for (key, value) in env {
        cmd.env(key, value);
    }
    connect(cmd, "crypto-market-mcp").await
}

/// This bench binary again, as an echo server answering every `get_ticker` with `ticker`.
async fn start_echo_server(ticker: &Value, transport: echo::Transport) -> Child {
    let exe = std::env::current_exe().expect("path of the bench binary");
    let mut cmd = Command::new(exe);
    cmd.arg(ECHO_FLAG)
        .env(ECHO_TICKER_ENV, ticker.to_string())
        .env(ECHO_TRANSPORT_ENV, transport.name())
        .env_remove("RUST_BACKTRACE");
    connect(cmd, transport.label()).await
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
    /// The echo servers' figures at the same level (over pipes, over stdio()), for the ratio
    /// columns.
    echo: Option<[Baseline; 2]>,
}

/// An echo server's calls/s and p50 at one level.
#[derive(Clone, Copy)]
struct Baseline {
    calls_per_s: f64,
    p50: f64,
}

impl From<&LoadResult> for Baseline {
    fn from(r: &LoadResult) -> Baseline {
        Baseline {
            calls_per_s: r.calls_per_s(),
            p50: r.p50(),
        }
    }
}

/// Scenario 1 and the echo baselines, levels interleaved (server 1, echo pipes 1, echo stdio()
/// 1, server 8, ...).
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
    let echo_pipes = start_echo_server(&ticker, echo::Transport::Pipes).await;
    let echo_stdio = start_echo_server(&ticker, echo::Transport::Stdio).await;
    let before = match before_binary() {
        Some(binary) => {
            let before = start_mcp_server_at(&binary, &sim, &[("CACHE_TTL", "3600")]).await;
            call_once(&before, "BTC/USDT").await;
            Some(before)
        }
        None => None,
    };
    let exchange_calls = sim.calls("ticker/24hr");

    let load = Load::For {
        warmup: WARMUP,
        measure,
    };
    let mut rows = Vec::new();
    let (mut pipe_rows, mut stdio_rows, mut before_rows) = (Vec::new(), Vec::new(), Vec::new());
    for in_flight in LEVELS {
        let args = |_| ticker_args("BTC/USDT");
        let hits = run_closed_loop(&server, in_flight, load, args, expect_source("cache")).await;
        hits.report_failures("cache hits");
        if let Some(before) = &before {
            let hits = run_closed_loop(before, in_flight, load, args, expect_source("cache")).await;
            hits.report_failures("cache hits (before)");
            before_rows.push(Row {
                scenario: "get_ticker cache hit, BENCH_BEFORE_BINARY",
                echo: None,
                result: hits,
            });
        }
        let pipes =
            run_closed_loop(&echo_pipes, in_flight, load, args, expect_source("cache")).await;
        pipes.report_failures("echo over pipes");
        let stdio =
            run_closed_loop(&echo_stdio, in_flight, load, args, expect_source("cache")).await;
        stdio.report_failures("echo over stdio()");
        rows.push(Row {
            scenario: "get_ticker cache hit",
            echo: Some([Baseline::from(&pipes), Baseline::from(&stdio)]),
            result: hits,
        });
        pipe_rows.push(Row {
            scenario: echo::Transport::Pipes.label(),
            echo: None,
            result: pipes,
        });
        stdio_rows.push(Row {
            scenario: echo::Transport::Stdio.label(),
            echo: None,
            result: stdio,
        });
    }
    let extra = sim.calls("ticker/24hr") - exchange_calls;
    if extra != 0 {
        eprintln!("!! cache-hit scenario made {extra} exchange calls (expected 0)");
    }
    stop(server, "crypto-market-mcp").await;
    stop(echo_pipes, echo::Transport::Pipes.label()).await;
    stop(echo_stdio, echo::Transport::Stdio.label()).await;
    if let Some(before) = before {
        stop(before, "crypto-market-mcp (before)").await;
    }
    rows.extend(before_rows);
    rows.extend(pipe_rows);
    rows.extend(stdio_rows);
    rows
}

/// Scenario 2: every call a miss on a symbol never asked before, the exchange 50 ms away; with
/// `BENCH_BEFORE_BINARY`, the earlier build too (its own simulator), levels interleaved.
async fn cold_misses() -> Vec<Row> {
    let mut servers = vec![(
        MCP_BINARY.to_string(),
        "get_ticker cold miss (50 ms exchange)",
    )];
    if let Some(before) = before_binary() {
        servers.push((
            before,
            "get_ticker cold miss (50 ms exchange), BENCH_BEFORE_BINARY",
        ));
    }
    let mut started = Vec::new();
    for (binary, scenario) in &servers {
        started.push((cold_server(binary).await, *scenario));
    }
    let mut rows = Vec::new();
    let mut first_symbol = 1; // SIM0001
    for (in_flight, calls) in LEVELS.into_iter().zip(COLD_CALLS) {
        for ((sim, server), scenario) in &started {
            let before = sim.calls("ticker/24hr");
            let base = first_symbol;
            let args = move |i: u64| ticker_args(&format!("SIM{:04}/USDT", base + i));
            let result = run_closed_loop(
                server,
                in_flight,
                Load::Calls(calls),
                args,
                expect_source("exchange"),
            )
            .await;
            result.report_failures("cold misses");
            // Every call was a miss (its `source` was checked to be "exchange"); concurrent
            // misses are batched into ticker/24hr?symbols=[..] requests, so there may be fewer
            // requests.
            let requests = sim.calls("ticker/24hr") - before;
            let verdict = if requests >= 1 && requests <= calls {
                "ok"
            } else {
                "UNEXPECTED"
            };
            println!(
                "{scenario}, {in_flight} in flight: {calls} calls, {requests} ticker/24hr \
                 requests at the simulator ({verdict})"
            );
            rows.push(Row {
                scenario,
                echo: None,
                result,
            });
        }
        first_symbol += calls;
    }
    for ((_, server), _) in started {
        stop(server, "crypto-market-mcp").await;
    }
    rows
}

/// A server of `binary` on a simulator of its own with 3000 extra markets, warmed up and with
/// the exchange's latency set for cold misses.
async fn cold_server(binary: &str) -> (SimHandle, Child) {
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
    let server = start_mcp_server_at(binary, &sim, &[("ENABLE_RATE_LIMIT", "false")]).await;
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
    (sim, server)
}
