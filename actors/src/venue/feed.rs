//! The push side of an exchange: live streams (websockets) of normalised market events.
//!
//! A venue's feed is owned by the router's slot for that venue, not by each symbol actor: the
//! slot keeps the reference-counted set of wanted streams ([`Subscriptions`]), tells the feed
//! when a stream is first wanted and when it is no longer, and hands every event to its
//! symbol's actor, where the newer value by exchange time wins whatever its origin. A feed
//! reconnects and resubscribes its current set by itself. Adapters implement [`Feed`]; the
//! tools never see it.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::broadcast;

use crate::model::MarketData;

/// One stream a feed can carry, by unified symbol.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StreamKey {
    Ticker { symbol: Arc<str> },
}

impl StreamKey {
    pub fn symbol(&self) -> &Arc<str> {
        match self {
            Self::Ticker { symbol } => symbol,
        }
    }
}

/// A normalised update pushed by an exchange, whatever its wire format.
#[derive(Debug, Clone)]
pub struct MarketEvent {
    /// Unified symbol, e.g. `BTC/USDT`.
    pub symbol: Arc<str>,
    pub data: MarketData,
    /// Unix ms when this process received it.
    pub received_ms: i64,
}

/// A venue's live connection(s).
pub trait Feed: Send + Sync + 'static {
    /// Start carrying these streams (first wanted).
    fn subscribe(&self, streams: &[StreamKey]);
    /// Stop carrying these streams (no longer wanted by anyone).
    fn unsubscribe(&self, streams: &[StreamKey]);
    /// Every event of every carried stream.
    fn events(&self) -> broadcast::Receiver<MarketEvent>;
    fn connected(&self) -> bool;
}

/// How many wanters each stream has. The feed hears only the edges: the first want
/// (subscribe) and the last release (unsubscribe).
#[derive(Debug, Default)]
pub struct Subscriptions {
    wanted: HashMap<StreamKey, usize>,
}

impl Subscriptions {
    /// Counts one more wanter; `true` when the stream was not wanted before.
    pub fn want(&mut self, key: StreamKey) -> bool {
        let count = self.wanted.entry(key).or_insert(0);
        *count += 1;
        *count == 1
    }

    /// Counts one wanter less; `true` when nobody wants the stream any more.
    pub fn release(&mut self, key: &StreamKey) -> bool {
        match self.wanted.get_mut(key) {
            Some(count) if *count > 1 => {
                *count -= 1;
                false
            }
            Some(_) => {
                self.wanted.remove(key);
                true
            }
            None => false,
        }
    }

    /// Every wanted stream (what a reconnected feed resubscribes).
    pub fn streams(&self) -> Vec<StreamKey> {
        self.wanted.keys().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.wanted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.wanted.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticker(symbol: &str) -> StreamKey {
        StreamKey::Ticker {
            symbol: Arc::from(symbol),
        }
    }

    #[test]
    fn the_feed_hears_only_the_first_want_and_the_last_release() {
        let mut subs = Subscriptions::default();
        assert!(subs.want(ticker("BTC/USDT")));
        assert!(!subs.want(ticker("BTC/USDT")));
        assert!(subs.want(ticker("ETH/USDT")));
        assert_eq!(subs.len(), 2);
        assert!(!subs.release(&ticker("BTC/USDT")));
        assert!(subs.release(&ticker("BTC/USDT")));
        assert!(
            !subs.release(&ticker("BTC/USDT")),
            "releasing an unwanted stream is a no-op"
        );
        assert_eq!(subs.streams(), vec![ticker("ETH/USDT")]);
    }
}
