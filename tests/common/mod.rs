//! Shared integration-test helpers: an in-process exchange simulator, the real
//! `crypto-market-mcp` binary as a child process, and an rmcp client speaking MCP to it over
//! its stdio, as an AI assistant would.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of this module"
)]

pub mod book_json;
pub mod cli;
pub mod derivs;
pub mod failover_traffic;
pub mod gateway;
pub mod http_front;
pub mod redis;
pub mod redis_topology;
pub mod venue_books;
pub mod worker;

use std::process::Stdio;
use std::sync::{Arc, Mutex};

use crypto_market_sim::{SimConfig, SimHandle, Simulator};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ProgressNotificationParam,
    ResourceUpdatedNotificationParam,
};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, ClientServiceExt, RoleClient, ServiceExt};
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

pub const MCP_BINARY: &str = env!("CARGO_BIN_EXE_crypto-market-mcp");

/// The simulator's `ticker/24hr` requests, in order (what the batching tests count).
pub fn ticker_requests(sim: &SimHandle) -> Vec<crypto_market_sim::RequestRecord> {
    sim.requests()
        .into_iter()
        .filter(|r| r.endpoint == "ticker/24hr")
        .collect()
}

/// The `i`th of the simulator's generated markets (`SimConfig::extra_symbols`).
pub fn generated(i: usize) -> String {
    format!("SIM{i:04}/USDT")
}

pub fn simulator() -> SimHandle {
    Simulator::start(SimConfig::default()).expect("simulator starts")
}

/// The simulator with `extra_symbols` generated markets besides its own ([`generated`]).
pub fn simulator_with(extra_symbols: usize) -> SimHandle {
    Simulator::start(SimConfig {
        extra_symbols,
        ..SimConfig::default()
    })
    .expect("simulator starts")
}

/// Holds every `ticker/24hr` answer of `sim` for `latency_ms`: misses that arrive meanwhile
/// find the call in flight.
pub fn slow_tickers(sim: &SimHandle, latency_ms: u64) {
    sim.set_faults(crypto_market_sim::Faults {
        latency_ms,
        endpoints: Some(vec!["ticker/24hr".into()]),
        ..Default::default()
    });
}

/// The batching verdict on `symbols` distinct cold misses: at most `max_requests`
/// `ticker/24hr` calls, each symbol asked once, at most 20 in a call.
pub fn assert_batched(
    log: &[crypto_market_sim::RequestRecord],
    symbols: usize,
    max_requests: usize,
) {
    assert!(log.len() <= max_requests, "{} requests: {log:?}", log.len());
    assert_eq!(log.iter().map(|r| r.symbols.len()).sum::<usize>(), symbols);
    assert!(log.iter().all(|r| r.symbols.len() <= 20), "{log:?}");
}

/// Answers of one cold symbol from every node: one price for all, from one exchange call.
pub fn assert_one_call_served_all<T: PartialEq + std::fmt::Debug>(
    sim: &SimHandle,
    lasts: &[T],
    expected: usize,
) {
    assert_eq!(lasts.len(), expected);
    assert!(
        lasts.iter().all(|l| *l == lasts[0]),
        "one price for all {expected}: {lasts:?}"
    );
    assert_eq!(
        sim.calls("ticker/24hr"),
        1,
        "one exchange call in the cluster"
    );
}

/// The MCP server binary, pointed at `sim`, with the test's extra settings.
pub fn server_command(sim: &SimHandle, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(MCP_BINARY);
    cmd.env("EXCHANGE_REST_URL", sim.rest_url())
        .env("EXCHANGE_WS_URL", sim.ws_url())
        .env("RUST_LOG", "info")
        .env_remove("RUST_BACKTRACE");
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd.kill_on_drop(true);
    cmd
}

pub struct McpServer<H: ClientHandler = ()> {
    pub client: RunningService<RoleClient, H>,
    /// Everything the server wrote to stderr so far (its logs).
    pub stderr: Arc<Mutex<String>>,
    /// The server process, for signals ([`McpServer::kill`]).
    pub pid: Option<u32>,
}

/// Starts the server binary and completes the MCP handshake with it.
pub async fn start_server(sim: &SimHandle, env: &[(&str, &str)]) -> McpServer {
    start_server_with(sim, env, ()).await
}

/// [`start_server`] with a client handler of the test's (e.g. a [`Recorder`]).
pub async fn start_server_with<H: ClientHandler>(
    sim: &SimHandle,
    env: &[(&str, &str)],
    handler: H,
) -> McpServer<H> {
    let (transport, stderr) = TokioChildProcess::builder(server_command(sim, env))
        .stderr(Stdio::piped())
        .spawn()
        .expect("server binary starts");
    let pid = transport.id();
    let log = match stderr {
        Some(stderr) => collect(stderr),
        None => Arc::new(Mutex::new(String::new())),
    };
    let client = handler.serve(transport).await.expect("MCP handshake");
    McpServer {
        client,
        stderr: log,
        pid,
    }
}

/// The server binary spoken to on protocol 2026-07-28: no `initialize`, each request carries
/// its own protocol metadata (the server's logs are discarded).
pub async fn start_2026_client(
    sim: &SimHandle,
    env: &[(&str, &str)],
) -> RunningService<RoleClient, ()> {
    let (transport, _stderr) = TokioChildProcess::builder(server_command(sim, env))
        .stderr(Stdio::null())
        .spawn()
        .expect("server binary starts");
    ().serve_with_lifecycle(
        transport,
        rmcp::service::ClientLifecycleMode::Discover {
            preferred_versions: vec![rmcp::model::ProtocolVersion::V_2026_07_28],
        },
    )
    .await
    .expect("discovered")
}

impl<H: ClientHandler> McpServer<H> {
    pub async fn call(&self, tool: &str, args: Value) -> CallToolResult {
        call(&self.client, tool, args).await
    }

    /// SIGKILL, as a crash: nothing of the server's own shutdown runs.
    pub fn kill(&self) {
        send_signal(self.pid.expect("the server's pid"), libc::SIGKILL);
    }
}

/// Sends `signal` to `pid`, one of the test's own child processes.
#[allow(
    unsafe_code,
    reason = "kill(2) through libc: std can only SIGKILL a Child it owns"
)]
pub fn send_signal(pid: u32, signal: i32) {
    let pid = pid as i32;
    // SAFETY: kill(2) takes two integers and touches no memory of ours.
    let sent = unsafe { libc::kill(pid, signal) };
    assert_eq!(
        sent,
        0,
        "kill({pid}, {signal}): {}",
        std::io::Error::last_os_error()
    );
}

/// A client handler that records the notifications streaming sends: progress (with when it
/// arrived) and resource updates.
#[derive(Clone, Default)]
pub struct Recorder {
    pub progress: Arc<Mutex<Vec<ProgressNotificationParam>>>,
    pub updates: Arc<Mutex<Vec<(String, std::time::Instant)>>>,
}

impl Recorder {
    pub fn progress(&self) -> Vec<ProgressNotificationParam> {
        self.progress.lock().unwrap().clone()
    }

    /// Arrival times of the updates of `uri`.
    pub fn updates_of(&self, uri: &str) -> Vec<std::time::Instant> {
        self.updates
            .lock()
            .unwrap()
            .iter()
            .filter(|(u, _)| u == uri)
            .map(|(_, at)| *at)
            .collect()
    }
}

impl ClientHandler for Recorder {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.progress.lock().unwrap().push(params);
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.updates
            .lock()
            .unwrap()
            .push((params.uri, std::time::Instant::now()));
    }
}

pub async fn call<H: ClientHandler>(
    client: &RunningService<RoleClient, H>,
    tool: &str,
    args: Value,
) -> CallToolResult {
    let mut params = CallToolRequestParams::new(tool.to_owned());
    if let Value::Object(map) = args {
        params = params.with_arguments(map);
    }
    client
        .call_tool(params)
        .await
        .expect("a tool result, not a protocol error")
}

/// The structured result of a successful call (panics with the error otherwise).
pub fn ok(result: &CallToolResult) -> &Value {
    assert_ne!(
        result.is_error,
        Some(true),
        "expected success, got {:?}",
        result.structured_content
    );
    result
        .structured_content
        .as_ref()
        .expect("structuredContent")
}

/// The error code of a failed call, after checking the envelope's shape.
pub fn error_code(result: &CallToolResult) -> String {
    assert_eq!(
        result.is_error,
        Some(true),
        "expected an error, got {:?}",
        result.structured_content
    );
    let error = &result
        .structured_content
        .as_ref()
        .expect("structuredContent on errors")["error"];
    let message = error["message"].as_str().expect("error.message");
    let text = result
        .content
        .first()
        .and_then(|c| c.as_text())
        .map(|t| t.text.as_str());
    assert_eq!(text, Some(message), "the message is the text content");
    error["code"].as_str().expect("error.code").to_owned()
}

pub fn error_message(result: &CallToolResult) -> String {
    result
        .structured_content
        .as_ref()
        .and_then(|s| s["error"]["message"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// Binance decimal string → f64.
pub fn num(v: &Value) -> f64 {
    match v {
        Value::String(s) => s.parse().expect("decimal string"),
        Value::Number(n) => n.as_f64().expect("number"),
        other => panic!("not a number: {other}"),
    }
}

/// The address a server logged it is serving on, after `marker` (e.g. "serving /metrics").
/// Servers bind port 0 and log the port they got: no "free port" is guessed and raced for.
pub async fn logged_addr(log: &Arc<Mutex<String>>, marker: &str) -> String {
    for _ in 0..400 {
        let found = log.lock().unwrap().lines().find_map(|line| {
            line.contains(marker)
                .then(|| {
                    line.split_whitespace()
                        .find_map(|w| w.strip_prefix("addr="))
                })
                .flatten()
                .map(str::to_owned)
        });
        if let Some(addr) = found {
            return addr;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "no {marker:?} with an address in the log:\n{}",
        log.lock().unwrap()
    );
}

/// Collects a child's stderr into a shared string.
pub fn collect(stderr: impl tokio::io::AsyncRead + Unpin + Send + 'static) -> Arc<Mutex<String>> {
    let log = Arc::new(Mutex::new(String::new()));
    let sink = log.clone();
    tokio::spawn(async move {
        let mut stderr = stderr;
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf).await {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    log
}

/// The server binary serving MCP over streamable HTTP on a loopback port of its choosing:
/// the child and the address it serves on.
pub async fn start_http_server(
    sim: &SimHandle,
    env: &[(&str, &str)],
) -> (tokio::process::Child, String) {
    let mut child = server_command(sim, env)
        .args(["--http", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("server binary starts");
    let log = collect(child.stderr.take().expect("stderr"));
    let addr = logged_addr(&log, "serving MCP over streamable HTTP").await;
    (child, addr)
}

/// A plain HTTP/1.0 GET: (status, body). Enough for /metrics and /healthz.
pub async fn http_get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}
