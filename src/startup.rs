//! What every binary does before it serves: settings (a bad one exits 2 with one line), logs to
//! stderr, the quiet panic hook for ccxt's error-signalling panics, rustls's crypto provider
//! (TLS to Redis), an actix System for the actors, and, for binaries with an engine, the metrics
//! recorder installed before the engine starts so that no early measurement is lost.

use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;

use crypto_market_actors::{Engine, EngineError};

use crate::config::{self, CommonArgs, ServerConfig};
use crate::{configure_server, metrics, telemetry};

/// Settings from `common` and the environment, with logging and the panic hook in place; the
/// exit code to return when a setting is bad.
pub fn prepare(program: &str, common: &CommonArgs) -> Result<ServerConfig, ExitCode> {
    let settings = match config::load(common, |name| std::env::var(name).ok()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("{program}: {e}");
            return Err(ExitCode::from(2));
        }
    };
    if let Err(e) = telemetry::init_logging(&settings.server.log) {
        eprintln!("{program}: {e}");
        return Err(ExitCode::from(2));
    }
    telemetry::install_panic_hook();
    // rediss:// needs rustls's process-wide crypto provider: ring, installed once.
    crypto_market_actors::redis_target::install_crypto_provider();
    Ok(settings)
}

/// Runs `serve` in an actix System; an error is logged and exits 1.
pub fn run_in_system<E: std::fmt::Display>(serve: impl Future<Output = Result<(), E>>) -> ExitCode {
    match actix::System::new().block_on(serve) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot start the engine: {0}")]
    Engine(#[from] EngineError),
    #[error("{0}")]
    Metrics(String),
}

/// Starts the engine, with `/metrics` and `/healthz` when `METRICS_ADDR` is set. Call inside
/// an actix System.
pub async fn start_engine(settings: &ServerConfig) -> Result<Engine, StartError> {
    let recorder = settings
        .metrics
        .addr
        .as_ref()
        .map(|_| metrics::install())
        .transpose()
        .map_err(StartError::Metrics)?;
    let engine = configure_server(settings)?;
    // Addresses were validated with the settings.
    let addr: Option<SocketAddr> = settings
        .metrics
        .addr
        .as_deref()
        .and_then(|a| a.parse().ok());
    if let (Some(handle), Some(addr)) = (recorder, addr) {
        metrics::start(addr, handle, engine.clone())
            .await
            .map_err(StartError::Metrics)?;
    }
    keep_warm(&engine, &settings.exchange.warm_symbols);
    Ok(engine)
}

/// `WARM_SYMBOLS`: each is watched for the life of the process (streamed where the exchange
/// has a feed, else polled), so its first request is already a hit. A symbol that cannot be
/// watched yet (markets not loadable: the exchange is down) is tried again with back-off; one
/// the exchange does not list is reported once and left.
fn keep_warm(engine: &Engine, symbols: &[String]) {
    for symbol in symbols {
        let engine = engine.clone();
        let symbol = symbol.clone();
        actix_rt::spawn(async move {
            let mut delay = std::time::Duration::from_secs(1);
            loop {
                let Ok(exchange) = engine.exchange(None).cloned() else {
                    return;
                };
                match engine.watch_ticker(&exchange, &symbol).await {
                    Ok(watch) => {
                        tracing::info!(symbol = %watch.symbol(), "kept warm");
                        // Held for the life of the process.
                        std::future::pending::<()>().await;
                        drop(watch);
                    }
                    Err(error) if error.retryable() => {
                        tracing::warn!(%symbol, %error, "cannot warm yet; retrying");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(std::time::Duration::from_secs(60));
                    }
                    Err(error) => {
                        tracing::error!(%symbol, %error, "WARM_SYMBOLS: cannot keep this symbol warm");
                        return;
                    }
                }
            }
        });
    }
}
