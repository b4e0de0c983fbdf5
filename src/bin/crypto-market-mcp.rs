//! `crypto-market-mcp`: the MCP server, on stdio (default) or streamable HTTP (`--http ADDR`).
//! Parse settings, start the engine, serve. Logs go to stderr; stdout is the MCP channel.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use crypto_market_mcp::config::{self, CommonArgs, ServerConfig};
use crypto_market_mcp::mcp::{self, McpServer};
use crypto_market_mcp::tools::ToolService;
use crypto_market_mcp::{configure_server, metrics, telemetry};

/// Cryptocurrency market data over MCP: stdio by default, streamable HTTP with --http.
#[derive(Debug, Parser)]
#[command(name = "crypto-market-mcp", version, about)]
struct Cli {
    /// Serve MCP over streamable HTTP at http://ADDR/mcp instead of stdio.
    #[arg(long, value_name = "ADDR")]
    http: Option<String>,
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    if let Some(addr) = cli.http.take() {
        cli.common.set.push(format!("server.http={addr}"));
    }
    let settings = match config::load(&cli.common, |name| std::env::var(name).ok()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("crypto-market-mcp: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = telemetry::init_logging(&settings.server.log) {
        eprintln!("crypto-market-mcp: {e}");
        return ExitCode::from(2);
    }
    telemetry::install_panic_hook();
    match actix::System::new().block_on(run(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(settings: ServerConfig) -> Result<(), String> {
    // Settings of slices still to come: accepted (one config serves every version), but say so
    // rather than silently behave differently from what was asked.
    if settings.pubsub.enabled {
        tracing::warn!("PUBSUB_ENABLED=true: this version has no worker-pool gateway yet; calling exchanges itself");
    }
    // The recorder goes in before the engine starts, so no early measurement is lost.
    let recorder = settings
        .metrics
        .addr
        .as_ref()
        .map(|_| metrics::install())
        .transpose()?;
    let engine = configure_server(&settings).map_err(|e| format!("cannot start: {e}"))?;
    if let (Some(handle), Some(addr)) = (recorder, parse_addr(&settings.metrics.addr)) {
        metrics::start(addr, handle, engine.clone()).await?;
    }
    let server = McpServer::new(ToolService::new(engine));
    match parse_addr(&settings.server.http) {
        Some(addr) => mcp::serve_http(addr, server, settings.server.auth_token.clone()).await,
        None => {
            tracing::info!(exchange = %settings.exchange.name, ttl_s = settings.cache.ttl, "crypto-market-mcp serving MCP on stdio");
            mcp::serve_stdio(server).await
        }
    }
}

/// Addresses were validated with the settings; `None` means unset.
fn parse_addr(addr: &Option<String>) -> Option<SocketAddr> {
    addr.as_deref().and_then(|a| a.parse().ok())
}
