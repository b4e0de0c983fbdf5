//! The real `crypto-market-mcp` over stdio with the five venues' simulators enabled (Binance the
//! default), for the benchmarks that compare venues (`venues`, `derivatives`), and their
//! Markdown rows.

use std::process::Stdio;

use crypto_market_sim::{rest_urls, Faults, SimConfig, SimHandle, Simulator};
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;
use tokio::process::Command;

const MCP_BINARY: &str = env!("CARGO_BIN_EXE_crypto-market-mcp");

pub struct Server {
    pub client: RunningService<RoleClient, ()>,
}

impl Server {
    /// `sims` in `Venue::ALL` order (the first is the default exchange), values fresh for
    /// `ttl` seconds.
    pub async fn start(sims: &[SimHandle], ttl: &str) -> Self {
        Self::start_with(sims, ttl, &[]).await
    }

    /// [`Server::start`] with more settings (`METRICS_ADDR` to read the server's own times).
    pub async fn start_with(sims: &[SimHandle], ttl: &str, env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(MCP_BINARY);
        cmd.envs(env.iter().copied());
        cmd.env("EXCHANGE_REST_URL", sims[0].rest_url())
            .env("EXCHANGE_WS_URL", sims[0].ws_url())
            .env("EXCHANGES", "binance,okx,bybit,kraken,coinbase")
            .env("EXCHANGE_REST_URLS", rest_urls(&sims[1..]))
            // The simulators' limits are not the subject; the budgets would queue cold calls.
            .env("ENABLE_RATE_LIMIT", "false")
            .env("CACHE_TTL", ttl)
            .env("RUST_LOG", "warn")
            .kill_on_drop(true);
        let (transport, _) = TokioChildProcess::builder(cmd)
            .stderr(Stdio::null())
            .spawn()
            .expect("server starts");
        let client = ().serve(transport).await.expect("MCP handshake");
        Self { client }
    }

    /// The call's structured result; a failed call ends the benchmark (never timed).
    pub async fn call(&self, tool: &str, args: Value) -> Value {
        call(&self.client, tool, args).await
    }
}

/// `tool`'s structured result over `client`; a failed call ends the benchmark (never timed).
pub async fn call(client: &RunningService<RoleClient, ()>, tool: &str, args: Value) -> Value {
    let result: CallToolResult = client
        .call_tool(
            CallToolRequestParams::new(tool.to_owned())
                .with_arguments(args.as_object().cloned().unwrap_or_default()),
        )
        .await
        .expect("call answered");
    let content = result.structured_content.unwrap_or(Value::Null);
    assert_ne!(result.is_error, Some(true), "{tool}: {content}");
    content
}

/// The five venues' simulators, every REST answer delayed `latency_ms` (a network round trip),
/// their request limits out of the way (not the subject).
pub fn delayed_venues(latency_ms: u64) -> Vec<SimHandle> {
    let sims = Simulator::start_venues(SimConfig {
        weight_limit: u32::MAX,
        ..SimConfig::default()
    })
    .expect("simulators");
    let delayed = Faults {
        latency_ms,
        ..Default::default()
    };
    for sim in &sims {
        sim.set_faults(delayed.clone());
    }
    sims
}

/// Nearest-rank percentile of sorted latencies.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

pub fn p50(ms: &[f64]) -> f64 {
    let mut sorted = ms.to_vec();
    sorted.sort_by(f64::total_cmp);
    percentile(&sorted, 0.5)
}

/// A Markdown row: label, calls, p50 and p99 with `decimals`, and p50 over the baseline's
/// (`floor_p50`; none: this row is the baseline).
pub fn row(label: &str, mut ms: Vec<f64>, floor_p50: Option<f64>, decimals: usize) {
    ms.sort_by(f64::total_cmp);
    let (p50, p99) = (percentile(&ms, 0.5), percentile(&ms, 0.99));
    let ratio = floor_p50.map_or("1.00 (baseline)".to_owned(), |f| format!("{:.2}", p50 / f));
    println!(
        "| {label} | {} | {p50:.decimals$} | {p99:.decimals$} | {ratio} |",
        ms.len()
    );
}

pub fn header(title: &str) {
    println!("\n### {title}\n");
    println!("| call | calls | p50 ms | p99 ms | p50 / baseline |");
    println!("|---|---|---|---|---|");
}
