//! `stream_ticker` on the worker pool (SPEC.md section 5): the worker keeps the symbol's
//! [`TickerWatch`] (so the engine keeps it fresh and publishes each tick on the symbol's
//! channel) until the lease the caller asked for ends, and answers with that channel and the
//! lease's end. A second call for the symbol extends the lease instead of taking a second watch.

use std::sync::Arc;
use std::time::Duration;

use crypto_market_actors::redis_target::RedisTarget;
use crypto_market_actors::TickerWatch;

use super::leases::Leases;
use crate::tools::output::StreamLease;
use crate::tools::WatchKeeper;

/// A market a watch is kept for: (exchange, unified symbol).
type Market = (Arc<str>, Arc<str>);

/// The watches this worker keeps, by market, and where their ticks are published.
pub struct PublishedTickers {
    /// Names the channels (`KEY_PREFIX`).
    target: RedisTarget,
    leases: Arc<Leases<Market, TickerWatch>>,
}

impl PublishedTickers {
    pub fn new(target: RedisTarget) -> Self {
        Self {
            target,
            leases: Leases::new(),
        }
    }
}

impl WatchKeeper for PublishedTickers {
    fn keep(&self, watch: TickerWatch, duration: Duration) -> StreamLease {
        let (exchange, symbol) = (watch.exchange().clone(), watch.symbol().clone());
        let channel = self.target.ticker_channel(&exchange, &symbol);
        let expires_at_ms = self.leases.lease((exchange, symbol), watch, duration);
        StreamLease {
            channel,
            expires_at_ms,
        }
    }
}
