//! Actor core of crypto-market-mcp.
//!
//! Layers, inside out:
//! - [`model`]: normalised market data (tickers, candles, books, trades, markets) and symbol
//!   resolution. Knows nothing of exchanges, actors, MCP or Redis.
//! - [`venue`]: the [`venue::Exchange`] trait and its ccxt-backed implementation, with the
//!   per-exchange request-weight budget. Knows nothing of actors.
//! - [`cache`]: the thread-safe TTL + LRU cache shared by every symbol actor.
//! - [`symbol`], [`router`]: the actix actors that compose the above; [`engine`] starts them
//!   and is the handle every front end (MCP, Redis worker) talks to.

pub mod bridge;
pub mod cache;
pub mod engine;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod io;
pub mod model;
pub mod redis_target;
pub mod router;
pub mod symbol;
pub mod ticker_watch;
pub mod venue;

pub use engine::{Engine, EngineConfig};
pub use error::{EngineError, ErrorCode};
pub use ticker_watch::TickerWatch;
