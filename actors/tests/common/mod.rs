//! The fake exchange the actor core's tests script (`engine.rs`, `failover.rs`): its markets,
//! its prices, its failures and delays, and a live feed the test drives; plus the engine
//! settings those tests start from.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of this module"
)]

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use crypto_market_actors::model::{
    now_ms, Candle, Clock, Market, MarketData, OrderBook, Ticker, Timeframe, Trade,
};
use crypto_market_actors::venue::{Exchange, Feed, MarketEvent, StreamKey, VenueError};
use crypto_market_actors::EngineConfig;

/// Extra markets `C0000/USDT`.. of [`ScriptedExchange::new`], for scale tests.
pub const GENERATED_MARKETS: usize = 3000;

/// An exchange whose answers the test scripts: a price per symbol, an optional failure, a delay.
pub struct ScriptedExchange {
    id: &'static str,
    /// The markets it lists, and how many generated ones follow them.
    listed: Vec<&'static str>,
    generated: usize,
    /// The price of a symbol without one in `prices`.
    price: f64,
    pub ticker_calls: AtomicUsize,
    pub market_loads: AtomicUsize,
    pub fail_markets: AtomicBool,
    /// Symbols the exchange rejects (BadSymbol) though its market list has them.
    pub rejects: Mutex<Vec<String>>,
    pub delay_ms: AtomicU64,
    failure: Mutex<Option<VenueError>>,
    /// Symbols whose next ticker call panics (once).
    pub panic_once: Mutex<Vec<String>>,
    pub prices: Mutex<HashMap<String, f64>>,
    timeframes: Vec<String>,
    feed: Option<Arc<FakeFeed>>,
}

impl ScriptedExchange {
    /// `scripted`: BTC, ETH, PANIC and SOL against USDT, and [`GENERATED_MARKETS`] more, at 100.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::scripted(None))
    }

    /// [`Self::new`] with a live feed.
    pub fn with_feed() -> (Arc<Self>, Arc<FakeFeed>) {
        let feed = Arc::new(FakeFeed {
            subscribed: Mutex::default(),
            unsubscribed: Mutex::default(),
            events: tokio::sync::broadcast::channel(64).0,
        });
        (Arc::new(Self::scripted(Some(feed.clone()))), feed)
    }

    /// A venue `id` quoting `price` for BTC/USDT, and for ETH/USDT where `lists_eth`.
    pub fn venue(id: &'static str, price: f64, lists_eth: bool) -> Arc<Self> {
        let mut listed = vec!["BTC/USDT"];
        if lists_eth {
            listed.push("ETH/USDT");
        }
        Arc::new(Self {
            id,
            listed,
            generated: 0,
            price,
            timeframes: Vec::new(),
            ..Self::scripted(None)
        })
    }

    fn scripted(feed: Option<Arc<FakeFeed>>) -> Self {
        Self {
            id: "scripted",
            listed: vec!["BTC/USDT", "ETH/USDT", "PANIC/USDT", "SOL/USDT"],
            generated: GENERATED_MARKETS,
            price: 100.0,
            ticker_calls: AtomicUsize::new(0),
            market_loads: AtomicUsize::new(0),
            fail_markets: AtomicBool::new(false),
            rejects: Mutex::default(),
            delay_ms: AtomicU64::new(0),
            failure: Mutex::default(),
            panic_once: Mutex::default(),
            prices: Mutex::default(),
            timeframes: vec!["1m".into(), "1h".into()],
            feed,
        }
    }

    /// Ticker calls so far.
    pub fn calls(&self) -> usize {
        self.ticker_calls.load(Ordering::SeqCst)
    }

    /// Every ticker call fails with `error` from now on (`None`: answers again).
    pub fn fail_with(&self, error: Option<VenueError>) {
        *self.failure.lock().unwrap() = error;
    }

    /// Down (HTTP 503) or up again.
    pub fn set_down(&self, down: bool) {
        self.fail_with(down.then(|| VenueError::unavailable("HTTP 503")));
    }
}

/// A live feed the test drives: records what it is asked to carry, pushes what the test sends.
pub struct FakeFeed {
    pub subscribed: Mutex<Vec<StreamKey>>,
    pub unsubscribed: Mutex<Vec<StreamKey>>,
    events: tokio::sync::broadcast::Sender<MarketEvent>,
}

impl FakeFeed {
    pub fn push(&self, symbol: &str, timestamp: i64, last: f64) {
        let event = MarketEvent {
            symbol: Arc::from(symbol),
            data: MarketData::Ticker(Ticker {
                symbol: symbol.into(),
                timestamp: Some(timestamp),
                last: Some(last),
                ..Default::default()
            }),
            event_time_ms: now_ms(),
            received_ms: now_ms(),
        };
        self.events.send(event).unwrap();
    }
}

impl Feed for FakeFeed {
    fn subscribe(&self, streams: &[StreamKey]) {
        self.subscribed.lock().unwrap().extend_from_slice(streams);
    }
    fn unsubscribe(&self, streams: &[StreamKey]) {
        self.unsubscribed.lock().unwrap().extend_from_slice(streams);
    }
    fn events(&self) -> tokio::sync::broadcast::Receiver<MarketEvent> {
        self.events.subscribe()
    }
    fn connected(&self) -> bool {
        true
    }
}

pub fn market(symbol: &str) -> Market {
    let (base, quote) = symbol.split_once('/').unwrap();
    Market {
        symbol: symbol.into(),
        base: base.into(),
        quote: quote.into(),
        market_type: "spot".into(),
        active: true,
        id: format!("{base}{quote}"),
        terms: Default::default(),
    }
}

#[async_trait]
impl Exchange for ScriptedExchange {
    fn id(&self) -> &str {
        self.id
    }
    fn timeframes(&self) -> &[String] {
        &self.timeframes
    }
    fn feed(&self) -> Option<Arc<dyn Feed>> {
        self.feed.clone().map(|feed| feed as Arc<dyn Feed>)
    }
    async fn load_markets(&self) -> Result<Vec<Market>, VenueError> {
        self.market_loads.fetch_add(1, Ordering::SeqCst);
        if self.fail_markets.load(Ordering::SeqCst) {
            return Err(VenueError::unavailable("exchangeInfo down"));
        }
        let listed = self.listed.iter().map(|symbol| market(symbol));
        let generated = (0..self.generated).map(|i| market(&format!("C{i:04}/USDT")));
        Ok(listed.chain(generated).collect())
    }
    async fn fetch_ticker(&self, symbol: &str) -> Result<Ticker, VenueError> {
        self.ticker_calls.fetch_add(1, Ordering::SeqCst);
        let delay = self.delay_ms.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let should_panic = {
            let mut once = self.panic_once.lock().unwrap();
            let hit = once.iter().any(|s| s == symbol);
            once.retain(|s| s != symbol);
            hit
        };
        if should_panic {
            panic!("scripted panic for {symbol}");
        }
        if let Some(error) = self.failure.lock().unwrap().clone() {
            return Err(error);
        }
        if self.rejects.lock().unwrap().iter().any(|s| s == symbol) {
            return Err(VenueError::BadSymbol(format!(
                "binance {{\"code\":-1121}} {symbol}"
            )));
        }
        let last = self
            .prices
            .lock()
            .unwrap()
            .get(symbol)
            .copied()
            .unwrap_or(self.price);
        Ok(Ticker {
            symbol: symbol.into(),
            bid: Some(last - 1.0),
            ask: Some(last + 1.0),
            last: Some(last),
            ..Default::default()
        })
    }
    async fn fetch_ohlcv(
        &self,
        _: &str,
        _: &Timeframe,
        _: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Candle>, VenueError> {
        Ok((0..i64::from(limit))
            .map(|i| Candle {
                timestamp: i,
                open: 1.0,
                high: 1.0,
                low: 1.0,
                close: 1.0,
                volume: 1.0,
            })
            .collect())
    }
    async fn fetch_order_book(&self, _: &str, limit: u32) -> Result<OrderBook, VenueError> {
        let levels = |start: f64, step: f64| {
            (0..limit)
                .map(|i| [start + step * f64::from(i), 1.0])
                .collect()
        };
        Ok(OrderBook {
            bids: levels(99.0, -1.0),
            asks: levels(101.0, 1.0),
            timestamp: None,
            nonce: Some(1),
        })
    }
    async fn fetch_trades(&self, _: &str, _: u32) -> Result<Vec<Trade>, VenueError> {
        Err(VenueError::Unsupported("trades".into()))
    }
}

/// The engine over [`ScriptedExchange::new`]: values fresh for `ttl_ms`, actors idle after
/// `idle_ms`, exchange calls on two threads of their own, failover on.
pub fn config(ttl_ms: u64, idle_ms: u64) -> EngineConfig {
    EngineConfig {
        default_exchange: "scripted".into(),
        venues: Vec::new(),
        cache_ttl: Duration::from_millis(ttl_ms),
        cache_stale_ttl: Duration::from_secs(60),
        cache_capacity: NonZeroUsize::new(1024).unwrap(),
        symbol_idle_after: Duration::from_millis(idle_ms),
        markets_refresh: Duration::from_secs(3600),
        io_threads: 2,
        mailbox_capacity: 4096,
        clock: Clock::default(),
        remote_cache: None,
        failover: true,
        memory_target_mb: None,
    }
}
