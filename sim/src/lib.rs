//! `crypto-market-sim`: an offline exchange simulator speaking Binance's spot REST and websocket
//! market-stream formats, and the public spot REST market data and websockets of OKX, Bybit,
//! Kraken and Coinbase in each one's own format.
//!
//! ```no_run
//! use crypto_market_sim::{Faults, SimConfig, Simulator};
//! let sim = Simulator::start(SimConfig::default()).unwrap();
//! let url = format!("{}/api/v3/ticker/price?symbol=BTCUSDT", sim.rest_url());
//! sim.set_faults(Faults { latency_ms: 50, ..Faults::default() });
//! sim.list_market("NEWUSDT", "NEW", "USDT", 1.5).unwrap();
//! sim.delist_market("SOLUSDT").unwrap();
//! // Websocket streams on the same port; faults for them too:
//! let stream = format!("{}/stream?streams=btcusdt@ticker/ethusdt@trade", sim.ws_url());
//! sim.ws_stall_stream("btcusdt@ticker").unwrap();
//! sim.ws_drop_connections(false);
//! // ... run the client, then look at what it asked for:
//! let batched = sim.requests().iter().filter(|r| r.symbols.len() > 1).count();
//! # let _ = (url, stream, batched);
//! ```
//!
//! One instance serves one exchange ([`SimConfig::venue`], default [`Venue::Binance`]) on its
//! own listener, with that exchange's own paths; [`SimHandle::rest_url`] is its base URL
//! (scheme, host and port) and every per-handle control (faults, call counters, request log,
//! rate limit, runtime listings) works for every venue:
//!
//! ```no_run
//! use crypto_market_sim::{SimConfig, Simulator, Venue};
//! let okx = Simulator::start(SimConfig { venue: Venue::Okx, tick_ms: 60_000, ..SimConfig::default() }).unwrap();
//! let url = format!("{}/api/v5/market/ticker?instId=BTC-USDT", okx.rest_url());
//! let q = okx.quote("BTCUSDT").unwrap(); // what that ticker shows: bid, ask, last
//! assert_eq!(okx.current_price("BTCUSDT"), Some(q.last));
//! let n = okx.calls("market/ticker");
//! # let _ = (url, n);
//! ```
//!
//! All venues share the seed's price walk; each adds a small fixed skew and per-step wobble
//! (a few basis points), so their prices differ slightly and deterministically. Binance lists
//! BNB/USDT, the others do not. Their REST endpoint names and how ccxt maps their errors: see
//! the `venues` module (`src/venues/mod.rs`). Each also serves its public websocket (OKX
//! `/ws/v5/public` and `/ws/v5/business`, Bybit `/v5/public/spot`, Kraken `/v2`, Coinbase `/`:
//! see `src/vws/mod.rs`), books with the venue's sequence numbers and checksums, and faults to
//! lose an update or corrupt a checksum:
//!
//! ```no_run
//! use crypto_market_sim::{SimConfig, Simulator, Venue};
//! let okx = Simulator::start(SimConfig { venue: Venue::Okx, ..SimConfig::default() }).unwrap();
//! let url = format!("{}/ws/v5/public", okx.ws_url()); // subscribe to books BTC-USDT there
//! okx.ws_venue_skip("BTCUSDT").unwrap(); // the next update's prevSeqId is not the last seqId
//! okx.ws_venue_corrupt_checksum("BTCUSDT").unwrap();
//! let book = okx.ws_venue_book("BTCUSDT", None); // what the client should now hold
//! # let _ = (url, book);
//! ```
//! The binary serves several at once: `crypto-market-sim --exchanges binance,okx,bybit,kraken,
//! coinbase` (consecutive ports from `--addr`, one `<id> <url>` line each on stdout).
//!
//! Derivatives: Binance USDⓈ-M (`/fapi/v1/...` and the `@markPrice` streams on the Binance
//! port), OKX `SWAP` and Bybit `linear` perpetuals (plus a Binance CURRENT_QUARTER future), on
//! the same walk as spot with a small basis; mark and index distinct from last; funding that
//! settles on the UTC grid (SOL every 4 h, the others every 8 h); open interest that moves.
//! [`SimHandle::contract_at`] and [`SimHandle::funding_history`] say what those endpoints serve
//! at an instant, [`SimHandle::derivative_calls`] whether a client asked for any:
//!
//! ```no_run
//! use crypto_market_sim::{SimConfig, Simulator};
//! let sim = Simulator::start(SimConfig::default()).unwrap();
//! let url = format!("{}/fapi/v1/premiumIndex?symbol=BTCUSDT", sim.rest_url());
//! let c = sim.contract("BTCUSDT").unwrap(); // last, mark, index, funding_rate, next_funding_ms, ..
//! assert!(c.mark != c.index && sim.derivative_calls() == 0);
//! # let _ = url;
//! ```
//!
//! Layout:
//! * `market`: symbols, the deterministic random walk and the data derived from it. Transport
//!   agnostic: REST and the websocket streams publish the same trades/book/candles. Its
//!   `contract` and `derivatives` modules are the venues' perpetuals and futures.
//! * `markets`: markets listed and delisted at runtime (each change is a new `Market` version).
//! * `rest`: the `/api/v3` handlers in Binance's wire format plus `/__sim` controls.
//! * `ws`: Binance's websocket market streams (`/ws/<stream>`, `/stream?streams=..`) on the same
//!   port, with their limits, pings and `/__sim/ws` controls (drop, refuse, stall,
//!   serverShutdown, update intervals).
//! * `vws`: OKX's, Bybit's, Kraken's and Coinbase's websockets on their listeners: topics
//!   published once per update (`topics`), book updates and checksums (`book`), one module per
//!   venue's protocol and formats, and the `/__sim/ws/venue/*` controls (`control`).
//! * `faults`, `counters`, `requests`: fault injection, call counting, REQUEST_WEIGHT limiting,
//!   the request log.
//! * `venue`, `venues`: [`Venue`] and its price skew; OKX, Bybit, Kraken and Coinbase REST
//!   (a folder each, with OKX's and Bybit's derivatives in their `derivatives.rs`), served by one
//!   request pipeline with the same faults and counters; Binance USDⓈ-M in `binance_futures`.
//! * `derivs_handle`: [`SimHandle`]'s view of the contracts ([`ContractQuote`]).
//! * `server`: the thread + runtime that hosts it, and [`SimHandle`].

mod config;
mod counters;
mod derivs_handle;
mod faults;
mod fixtures;
mod market;
mod markets;
mod requests;
mod rest;
mod server;
mod state;
mod venue;
mod venues;
mod vws;
mod ws;

pub use config::{FileConfig, SimConfig};
pub use derivs_handle::{is_derivative_name, ContractQuote};
pub use faults::Faults;
pub use market::book::Book;
pub use market::trades::BurstAdded;
pub use markets::{MarketChange, NewMarket, RuntimeMarkets};
pub use requests::{RequestRecord, MAX_REQUESTS};
pub use server::{rest_urls, start_on, SimHandle, Simulator};
pub use venue::{Quote, TrueBook, Venue};
pub use vws::control::VenueBook;
pub use vws::VenueWsStats;
pub use ws::{WsConnectionStats, WsDelivered, WsIntervals, WsStats};
