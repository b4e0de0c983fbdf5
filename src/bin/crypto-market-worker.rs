//! `crypto-market-worker`: serves tool calls from Redis (SPEC.md section 6) until SIGTERM or
//! SIGINT, then finishes in-flight work and exits 0. Logs go to stderr.

use std::process::ExitCode;

use clap::Parser;
use crypto_market_mcp::config::{CommonArgs, ServerConfig};
use crypto_market_mcp::startup;
use crypto_market_mcp::worker::{self, WorkerError};

/// Serves crypto market data tool calls from a Redis stream and channel.
#[derive(Debug, Parser)]
#[command(name = "crypto-market-worker", version, about)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match startup::prepare("crypto-market-worker", &cli.common) {
        Ok(settings) => startup::run_in_system(run(settings)),
        Err(code) => code,
    }
}

async fn run(settings: ServerConfig) -> Result<(), WorkerError> {
    let engine = startup::start_engine(&settings).await?;
    worker::run(&settings, engine).await
}
