//! `crypto-market-mcp`: the MCP server (stdio). Parse settings, start the engine, serve.

use std::process::ExitCode;

use clap::Parser;
use crypto_market_mcp::config::{self, CommonArgs};
use crypto_market_mcp::mcp::{self, McpServer};
use crypto_market_mcp::tools::ToolService;
use crypto_market_mcp::{configure_server, telemetry};

/// Cryptocurrency market data over MCP (stdio). Logs go to stderr.
#[derive(Debug, Parser)]
#[command(name = "crypto-market-mcp", version, about)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
    let system = actix::System::new();
    let outcome = system.block_on(async {
        let engine = configure_server(&settings).map_err(|e| format!("cannot start: {e}"))?;
        tracing::info!(exchange = %settings.exchange.name, ttl_s = settings.cache.ttl, "crypto-market-mcp serving MCP on stdio");
        mcp::serve_stdio(McpServer::new(ToolService::new(engine))).await
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
