//! Actor core of crypto-market-mcp.
//!
//! Layers, inside out (each imports only the ones before it; `tests/module_graph.rs` fails on
//! a cycle):
//! - `memory`: the process's resident memory and the `MEMORY_TARGET_MB` policy (imports no layer).
//! - [`model`]: normalised market data (tickers, candles, books, trades, markets), symbol
//!   resolution, and values stamped with their origin and age. Knows nothing of exchanges,
//!   actors, MCP or Redis.
//! - [`venue`]: the [`venue::Exchange`] trait and its ccxt-backed implementation, with the
//!   per-exchange request-weight budget. Knows nothing of actors.
//! - [`redis_target`], `cache`: the Redis deployment, freshness and bounds of the in-memory
//!   values, and the shared cache layer in Redis.
//! - `directory`: the read side. Each exchange's markets and live symbols with their state,
//!   read by any thread without a mailbox hop (a cache hit costs none).
//! - `miss`: the one path of a miss (Redis first, the exchange, share, stale fallback).
//! - `symbol`, `router`, [`bridge`]: the actix actors that write the read side.
//! - [`engine`]: starts them, and is the handle every front end (MCP, Redis worker) talks to.

pub mod bridge;
mod cache;
mod directory;
pub mod engine;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod io;
mod memory;
mod miss;
pub mod model;
pub mod redis_target;
mod router;
mod symbol;
mod ticker_watch;
pub mod venue;

pub use directory::{Answer, Reply, BOOK_APPLY_SECONDS};
pub use engine::{Engine, EngineConfig};
pub use error::{EngineError, ErrorCode};
pub use ticker_watch::{LiveChannel, TickerWatch};
