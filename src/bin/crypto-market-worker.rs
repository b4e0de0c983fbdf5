//! `crypto-market-worker`: serves tool calls from Redis (SPEC.md section 6) until SIGTERM or
//! SIGINT, then finishes in-flight work and exits 0. Logs go to stderr.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use crypto_market_mcp::config::{self, CommonArgs, ServerConfig};
use crypto_market_mcp::worker::{self, WorkerError};
use crypto_market_mcp::{configure_server, metrics, telemetry};

/// Serves crypto market data tool calls from a Redis stream and channel.
#[derive(Debug, Parser)]
#[command(name = "crypto-market-worker", version, about)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match config::load(&cli.common, |name| std::env::var(name).ok()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("crypto-market-worker: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = telemetry::init_logging(&settings.server.log) {
        eprintln!("crypto-market-worker: {e}");
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

async fn run(settings: ServerConfig) -> Result<(), WorkerError> {
    // The recorder goes in before the engine starts, so no early measurement is lost.
    let recorder = settings
        .metrics
        .addr
        .as_ref()
        .map(|_| metrics::install())
        .transpose()
        .map_err(WorkerError::Metrics)?;
    let engine = configure_server(&settings)?;
    let addr: Option<SocketAddr> = settings
        .metrics
        .addr
        .as_deref()
        .and_then(|a| a.parse().ok());
    if let (Some(handle), Some(addr)) = (recorder, addr) {
        metrics::start(addr, handle, engine.clone())
            .await
            .map_err(WorkerError::Metrics)?;
    }
    worker::run(&settings, engine).await
}
