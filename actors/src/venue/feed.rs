//! The push side of an exchange: live streams (websockets) of normalised market events.
//!
//! A venue's feed belongs to the venue, not to each symbol actor: each symbol counts its own
//! watchers, and the feed hears only the first want (subscribe) and the last release
//! (unsubscribe); every event goes to its symbol's actor, where the newer value by exchange
//! time wins whatever its origin. A feed reconnects and resubscribes its current set by itself.
//! Adapters implement [`Feed`]; the tools never see it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;

use crate::model::{BookDelta, LiveCandle, MarketData, Trade};

/// One stream a feed can carry: the unified symbol, and the exchange's own market id the
/// wire format names it by (Binance `BTCUSDT`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StreamKey {
    Ticker {
        symbol: Arc<str>,
        market_id: Arc<str>,
    },
    /// The incremental book (Binance `@depth@100ms`), kept as a local book.
    Book {
        symbol: Arc<str>,
        market_id: Arc<str>,
    },
    /// Every trade (Binance `@trade`), kept as a tape.
    Trades {
        symbol: Arc<str>,
        market_id: Arc<str>,
    },
    /// The candle in progress (Binance `@kline_1m`).
    Candles {
        symbol: Arc<str>,
        market_id: Arc<str>,
    },
}

impl StreamKey {
    pub fn symbol(&self) -> &Arc<str> {
        match self {
            Self::Ticker { symbol, .. }
            | Self::Book { symbol, .. }
            | Self::Trades { symbol, .. }
            | Self::Candles { symbol, .. } => symbol,
        }
    }

    pub fn market_id(&self) -> &Arc<str> {
        match self {
            Self::Ticker { market_id, .. }
            | Self::Book { market_id, .. }
            | Self::Trades { market_id, .. }
            | Self::Candles { market_id, .. } => market_id,
        }
    }

    /// Every stream a watched symbol wants: its ticker, and for a spot market (the only ones
    /// whose books, trades and candles stream here) its book, trades and candle.
    pub fn watched(symbol: &Arc<str>, market_id: &Arc<str>) -> Vec<StreamKey> {
        let (symbol, market_id) = (symbol.clone(), market_id.clone());
        let ticker = Self::Ticker {
            symbol: symbol.clone(),
            market_id: market_id.clone(),
        };
        if symbol.contains(':') {
            return vec![ticker];
        }
        vec![
            ticker,
            Self::Book {
                symbol: symbol.clone(),
                market_id: market_id.clone(),
            },
            Self::Trades {
                symbol: symbol.clone(),
                market_id: market_id.clone(),
            },
            Self::Candles { symbol, market_id },
        ]
    }
}

/// What a book, trade or candle stream delivers, normalised (kept by the symbol, not cached
/// like a ticker: a book change means nothing without the book it applies to).
#[derive(Debug, Clone)]
pub enum LiveData {
    Book(BookDelta),
    Trade(Trade),
    Candle(LiveCandle),
}

/// A [`LiveData`] for one unified symbol.
#[derive(Debug, Clone)]
pub struct LiveEvent {
    pub symbol: Arc<str>,
    pub data: LiveData,
    /// Unix ms when this process received it.
    pub received_ms: i64,
    /// When its frame was read off the socket (the start of `cmm_book_apply_seconds`).
    pub received_at: std::time::Instant,
}

/// Where a feed hands its [`LiveEvent`]s (from its own thread); without one they are dropped.
pub type LiveSink = Arc<dyn Fn(LiveEvent) + Send + Sync>;

/// A normalised update pushed by an exchange, whatever its wire format.
#[derive(Debug, Clone)]
pub struct MarketEvent {
    /// Unified symbol, e.g. `BTC/USDT`.
    pub symbol: Arc<str>,
    pub data: MarketData,
    /// Unix ms the exchange stamped the event with (its age counts from here).
    pub event_time_ms: i64,
    /// Unix ms when this process received it.
    pub received_ms: i64,
}

impl MarketEvent {
    /// When the value was true: the exchange's event time, but never later than its arrival
    /// (a clock ahead of ours must not make ages negative or values "from the future").
    pub fn observed_at_ms(&self) -> i64 {
        self.event_time_ms.min(self.received_ms)
    }
}

/// How a websocket feed keeps its connections healthy.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedOptions {
    /// Base URL (scheme, host, port) of the exchange's websocket endpoint.
    pub url: String,
    /// A wanted stream silent this long is stalled: it is resubscribed (REST polling covers
    /// it meanwhile); a connection with nothing at all for this long is replaced.
    pub stall_after: Duration,
    /// Streams one connection carries at most (Binance: 1024).
    pub max_streams_per_connection: usize,
    /// Least time between two control messages on one connection (Binance disconnects past 5
    /// incoming messages a second, pongs included).
    pub control_interval: Duration,
    /// Reconnect back-off bounds (exponential, jittered).
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

/// Delivers an event straight from the feed's own thread to where it is kept (the symbol's
/// actor), skipping the router; hands the event back when it has nowhere to go (no live
/// symbol), for the slow path ([`Feed::events`]).
pub type EventSink = Arc<dyn Fn(MarketEvent) -> Option<MarketEvent> + Send + Sync>;

/// A venue's live connection(s).
pub trait Feed: Send + Sync + 'static {
    /// Start carrying these streams (first wanted).
    fn subscribe(&self, streams: &[StreamKey]);
    /// Stop carrying these streams (no longer wanted by anyone).
    fn unsubscribe(&self, streams: &[StreamKey]);
    /// Unsubscribe and subscribe again `symbol`'s book stream: where the venue sends its
    /// snapshot in the stream, this is how a book that went wrong gets a new one (the
    /// default: the feed has no such book).
    fn resync_book(&self, _symbol: &str) {}
    /// Every event of every carried stream (with a sink: those it handed back).
    fn events(&self) -> broadcast::Receiver<MarketEvent>;
    /// Where events go first, if the feed supports direct delivery (the default: it does
    /// not, and everything goes through [`Feed::events`]).
    fn set_sink(&self, _sink: EventSink) {}
    /// Where book, trade and candle events go (the default: the feed carries none).
    fn set_live_sink(&self, _sink: LiveSink) {}
    fn connected(&self) -> bool;
    /// Counters since start.
    fn stats(&self) -> FeedStats {
        FeedStats::default()
    }
}

/// A feed's health, for `exchange_status`, metrics and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedStats {
    /// Connections open now.
    pub connections: usize,
    /// Connections lost and reopened.
    pub reconnects: u64,
    /// Events received and parsed.
    pub events: u64,
    /// Streams found silent and resubscribed.
    pub stalls: u64,
    /// Frames that could not be read (dropped).
    pub malformed: u64,
    /// Control messages (SUBSCRIBE, UNSUBSCRIBE) sent.
    pub control_messages: u64,
}
