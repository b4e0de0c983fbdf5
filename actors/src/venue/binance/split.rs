//! Binance's two websocket endpoints behind one [`Feed`]: spot streams on `stream.binance.com`,
//! USDⓈ-M streams (a perpetual's `@markPrice@1s`: mark, index, funding) on `fstream.binance.com`.
//! Both share one event channel, sink and counters, so the router sees one feed per venue.

use tokio::sync::broadcast;

use crate::venue::wsfeed::WsFeed;
use crate::venue::{EventSink, Feed, FeedStats, LiveSink, MarketEvent, StreamKey};

pub struct SplitFeed {
    spot: WsFeed,
    futures: WsFeed,
}

impl SplitFeed {
    pub fn new(spot: WsFeed, futures: WsFeed) -> Self {
        Self { spot, futures }
    }

    /// Streams by endpoint: derivatives (`BTC/USDT:USDT`) to futures, the rest to spot.
    fn split(streams: &[StreamKey]) -> (Vec<StreamKey>, Vec<StreamKey>) {
        streams
            .iter()
            .cloned()
            .partition(|s| !s.symbol().contains(':'))
    }
}

impl Feed for SplitFeed {
    fn subscribe(&self, streams: &[StreamKey]) {
        let (spot, futures) = Self::split(streams);
        if !spot.is_empty() {
            self.spot.subscribe(&spot);
        }
        if !futures.is_empty() {
            self.futures.subscribe(&futures);
        }
    }

    fn unsubscribe(&self, streams: &[StreamKey]) {
        let (spot, futures) = Self::split(streams);
        if !spot.is_empty() {
            self.spot.unsubscribe(&spot);
        }
        if !futures.is_empty() {
            self.futures.unsubscribe(&futures);
        }
    }

    fn resync_book(&self, symbol: &str) {
        // Books stream on spot only.
        self.spot.resync_book(symbol);
    }

    fn events(&self) -> broadcast::Receiver<MarketEvent> {
        // One channel, shared by both (see `WsFeed::sibling`).
        self.spot.events()
    }

    fn set_sink(&self, sink: EventSink) {
        self.spot.set_sink(sink);
    }

    fn set_live_sink(&self, sink: LiveSink) {
        self.spot.set_live_sink(sink);
    }

    fn connected(&self) -> bool {
        self.spot.connected() || self.futures.connected()
    }

    fn stats(&self) -> FeedStats {
        // Shared counters: both endpoints' connections and events.
        self.spot.stats()
    }
}
