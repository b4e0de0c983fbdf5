//! The websocket machinery every venue's feed shares: connections that pace their control
//! messages, reconnect with jittered back-off and resubscribe, detect stalls and replace
//! themselves make-before-break; a manager spreading streams over connections; counters.
//! A venue plugs in its dialect ([`Protocol`]): Binance, Kraken, Coinbase.

mod connect;
mod connection;
mod feed;
mod protocol;

pub use feed::{FeedStatus, WsFeed};
pub use protocol::{by_channel, Protocol, Reader};
