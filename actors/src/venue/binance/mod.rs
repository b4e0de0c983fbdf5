//! Binance's websocket side (its REST side is ccxt's): the spot market-stream wire format and
//! its dialect of the shared feed ([`crate::venue::wsfeed`]).

mod protocol;
pub mod streams;
pub mod wire;

pub use protocol::{protocol, BinanceWire};

/// Binance's public market-stream endpoint.
pub const DEFAULT_WS_URL: &str = "wss://stream.binance.com:9443";
/// Binance USDⓈ-M's market-stream endpoint (perpetuals' tickers and mark prices).
pub const DEFAULT_FUTURES_WS_URL: &str = "wss://fstream.binance.com";
/// Streams one connection may carry.
pub const MAX_STREAMS_PER_CONNECTION: usize = 1024;
