//! `stream_ticker` on the worker pool (SPEC.md section 5): the worker keeps the symbol's
//! [`TickerWatch`] (so the engine keeps it fresh) until the lease the caller asked for ends,
//! and answers with the symbol's channel and the lease's end. A second call for the symbol
//! extends the lease instead of taking a second watch.
//!
//! Who publishes the ticks on the channel: with `USE_REDIS_CACHE=true` the engine does, with
//! every write of the shared cache (one round trip for both). Without it the engine has no
//! Redis at all, so the worker forwards each tick of the watch itself: the channel is SPEC's
//! promise whatever the cache setting.

use std::sync::Arc;
use std::time::Duration;

use crypto_market_actors::redis_target::{RedisConn, RedisTarget};
use crypto_market_actors::TickerWatch;
use redis::AsyncCommands;

use super::leases::Leases;
use crate::tools::output::StreamLease;
use crate::tools::{ticker_payload, WatchKeeper};

/// A market a watch is kept for: (exchange, unified symbol).
type Market = (Arc<str>, Arc<str>);

/// What a lease holds: the watch itself, or the task that owns it and forwards its ticks
/// (dropping either releases the watch).
enum Kept {
    Watch { _watch: TickerWatch },
    Forwarder { _task: AbortOnDrop },
}

/// Stops the forwarding task (and so drops its watch) when the lease ends.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The watches this worker keeps, by market, and where their ticks are published.
pub struct PublishedTickers {
    /// Names the channels (`KEY_PREFIX`).
    target: RedisTarget,
    leases: Arc<Leases<Market, Kept>>,
    /// Set when the engine publishes nothing itself (no shared cache): the worker does.
    forward_with: Option<RedisConn>,
}

impl PublishedTickers {
    /// `forward_with`: the connection to publish ticks on when the engine does not.
    pub fn new(target: RedisTarget, forward_with: Option<RedisConn>) -> Self {
        Self {
            target,
            leases: Leases::new(),
            forward_with,
        }
    }
}

impl WatchKeeper for PublishedTickers {
    fn keep(&self, watch: TickerWatch, duration: Duration) -> StreamLease {
        let (exchange, symbol) = (watch.exchange().clone(), watch.symbol().clone());
        let channel = self.target.ticker_channel(&exchange, &symbol);
        // A market leased already keeps its forwarder: this one, a duplicate, is aborted at
        // once by the lease dropping it.
        let kept = match &self.forward_with {
            Some(conn) => Kept::Forwarder {
                _task: AbortOnDrop(
                    tokio::spawn(forward(watch, conn.clone(), channel.clone())).abort_handle(),
                ),
            },
            None => Kept::Watch { _watch: watch },
        };
        let expires_at_ms = self.leases.lease((exchange, symbol), kept, duration);
        StreamLease {
            channel,
            expires_at_ms,
        }
    }
}

/// Publishes every ticker the watch sees on `channel`, as the tools answer it, until aborted.
async fn forward(mut watch: TickerWatch, mut conn: RedisConn, channel: String) {
    loop {
        let answer = watch.next().await;
        let Some(payload) = ticker_payload(&answer) else {
            continue;
        };
        // A lost tick is followed by the next one: nothing to retry.
        if let Err(e) = conn.publish::<_, _, ()>(&channel, payload).await {
            tracing::debug!(%channel, "ticker not published: {e}");
        }
    }
}
