//! A venue's two websocket endpoints behind one [`Feed`] (Binance: spot streams on
//! `stream.binance.com`, USDⓈ-M's `@markPrice@1s` on `fstream.binance.com`; OKX: candles on
//! `/ws/v5/business`, the rest on `/ws/v5/public`). Both share one event channel, sink and
//! counters (see [`WsFeed::sibling`]), so the router sees one feed per venue.

use tokio::sync::broadcast;

use super::WsFeed;
use crate::venue::{EventSink, Feed, FeedStats, LiveSink, MarketEvent, StreamKey};

/// Whether a stream goes to the first endpoint (else the second).
pub type Route = fn(&StreamKey) -> bool;

pub struct SplitFeed {
    first: WsFeed,
    second: WsFeed,
    route: Route,
}

impl SplitFeed {
    /// `first` carries the streams `route` says, and every book; `second` (its sibling) the
    /// others.
    pub fn new(first: WsFeed, second: WsFeed, route: Route) -> Self {
        Self {
            first,
            second,
            route,
        }
    }

    /// Streams by endpoint.
    fn split(&self, streams: &[StreamKey]) -> (Vec<StreamKey>, Vec<StreamKey>) {
        streams.iter().cloned().partition(|s| (self.route)(s))
    }
}

impl Feed for SplitFeed {
    fn subscribe(&self, streams: &[StreamKey]) {
        let (first, second) = self.split(streams);
        if !first.is_empty() {
            self.first.subscribe(&first);
        }
        if !second.is_empty() {
            self.second.subscribe(&second);
        }
    }

    fn unsubscribe(&self, streams: &[StreamKey]) {
        let (first, second) = self.split(streams);
        if !first.is_empty() {
            self.first.unsubscribe(&first);
        }
        if !second.is_empty() {
            self.second.unsubscribe(&second);
        }
    }

    fn resync_book(&self, symbol: &str) {
        // Books stream on the first endpoint only (Binance spot, OKX public).
        self.first.resync_book(symbol);
    }

    fn events(&self) -> broadcast::Receiver<MarketEvent> {
        // One channel, shared by both (see `WsFeed::sibling`).
        self.first.events()
    }

    fn set_sink(&self, sink: EventSink) {
        self.first.set_sink(sink);
    }

    fn set_live_sink(&self, sink: LiveSink) {
        self.first.set_live_sink(sink);
    }

    fn connected(&self) -> bool {
        self.first.connected() || self.second.connected()
    }

    fn stats(&self) -> FeedStats {
        // Shared counters: both endpoints' connections and events.
        self.first.stats()
    }
}
