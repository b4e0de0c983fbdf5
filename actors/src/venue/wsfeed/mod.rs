//! The websocket machinery every venue's feed shares: connections that pace their control
//! messages, reconnect with jittered back-off and resubscribe, detect stalls and replace
//! themselves make-before-break; a manager spreading streams over connections; counters.
//! A venue plugs in its dialect ([`Protocol`]): Binance, Kraken, Coinbase, OKX, Bybit; a
//! venue with two endpoints puts two feeds behind one ([`SplitFeed`]).

mod connect;
mod connection;
mod feed;
pub mod parse;
mod protocol;
mod split;
#[cfg(test)]
pub(crate) mod testing;

pub use feed::{FeedStatus, WsFeed};
pub use protocol::{by_channel, Protocol, Reader};
pub use split::{Route, SplitFeed};
