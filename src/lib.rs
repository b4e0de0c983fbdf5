//! crypto-market-mcp: fast, fresh, trustworthy cryptocurrency market data for AI assistants
//! (MCP) and services. This crate wires the actor core (`crypto-market-actors`) to its front
//! ends: settings, the MCP server and the Redis worker pool (`worker`).

mod allocator;
pub mod auth;
pub mod cli;
pub mod client;
pub mod config;
#[doc(hidden)]
pub mod fuzzing;
pub mod mcp;
pub mod metrics;
pub mod startup;
pub mod telemetry;
pub mod tools;
pub mod worker;

pub use config::ServerConfig;
use crypto_market_actors::{Engine, EngineError};

/// Builds and starts an engine from `config`: exchange adapters, cache, router. Call inside an
/// actix System (the actors live there).
pub fn configure_server(config: &ServerConfig) -> Result<Engine, EngineError> {
    Engine::start(config.engine_config())
}
