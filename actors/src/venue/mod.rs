//! Exchange adapters. One trait, [`Exchange`]; one ccxt-backed implementation, [`CcxtExchange`].
//! Adapters return the normalised [`crate::model`] types and know nothing of actors.

pub mod binance;
pub mod book_sync;
mod budget;
pub mod bybit;
pub mod ccxt;
mod circuit;
pub mod coinbase;
mod error;
pub mod feed;
mod health;
pub mod kraken;
pub mod okx;
pub mod streamed_sync;
pub mod wsfeed;

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;

use crate::model::{
    Candle, CandlePrice, DataRequest, FundingPoint, FundingRate, Market, MarketData, MarketType,
    OpenInterest, OrderBook, Ticker, Timeframe, Trade, DEFAULT_MARKET_TYPES,
};

pub use self::ccxt::CcxtExchange;
pub use book_sync::{BinanceSync, BookDelta, BookSnapshot, BookSync, SyncOutcome};
pub use budget::{SharedBudget, WeightBudget};
pub use circuit::CircuitBreaker;
pub use error::VenueError;
pub use feed::{
    EventSink, Feed, FeedOptions, FeedStats, LiveData, LiveEvent, LiveSink, MarketEvent, StreamKey,
};
pub use health::{CallLog, CircuitState, InstanceCounts, VenueHealth};

/// Most candles one klines call returns on `venue`: deep history is fetched in pages of this
/// many (Binance and Bybit 1000, Kraken 720, Coinbase 300, OKX 100 for history; others 500).
pub fn candles_per_call(venue: &str) -> u32 {
    match venue {
        "binance" | "binanceusdm" | "bybit" => 1000,
        "kraken" => 720,
        "coinbase" => 300,
        "okx" => 100,
        _ => 500,
    }
}

/// How to reach one exchange.
#[derive(Debug, Clone, PartialEq)]
pub struct VenueConfig {
    /// ccxt id, e.g. `binance`.
    pub id: String,
    /// Replaces scheme, host and port of the REST API (paths kept), e.g. a simulator.
    pub rest_url: Option<String>,
    /// Same for the websocket endpoint (used by streaming feeds).
    pub ws_url: Option<String>,
    /// Deadline of one exchange call; past it the call fails with `timeout`.
    pub timeout: Duration,
    /// Respect the exchange's request-weight budget (shared by every symbol of the exchange).
    pub enable_rate_limit: bool,
    /// Exchange calls that may be in flight at once.
    pub max_concurrent_calls: usize,
    /// Extra time a departing ticker call waits for others to share it (0: none; misses that
    /// arrive while a call is in flight share the next one anyway).
    pub ticker_batch_window: Duration,
    /// A streamed symbol silent this long is resubscribed, and REST polling covers it.
    pub ws_stall_after: Duration,
    /// Request weight per minute this deployment may spend (`EXCHANGE_WEIGHT_LIMIT`); `None`:
    /// the exchange's own limit.
    pub weight_limit: Option<u32>,
    /// Market types whose markets may be loaded (`MARKET_TYPES`); derivatives load on first
    /// use of one, never at start.
    pub market_types: Vec<MarketType>,
}

impl VenueConfig {
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            rest_url: None,
            ws_url: None,
            timeout: Duration::from_secs(10),
            enable_rate_limit: true,
            max_concurrent_calls: 8,
            ticker_batch_window: Duration::ZERO,
            ws_stall_after: Duration::from_secs(10),
            weight_limit: None,
            market_types: DEFAULT_MARKET_TYPES.to_vec(),
        }
    }
}

/// Exchanges whose websocket format this build speaks (the others stream by REST polling).
pub const FEED_EXCHANGES: &[&str] = &["binance", "kraken", "coinbase", "okx", "bybit"];

/// The websocket feed for `config`'s exchange format, if this build speaks it.
pub fn feed_for(config: &VenueConfig) -> Option<std::sync::Arc<dyn Feed>> {
    match config.id.as_str() {
        "binance" => {
            let options = |default: &str| FeedOptions {
                // A rebased endpoint (the simulator) serves both spot and USDⓈ-M streams.
                url: config.ws_url.clone().unwrap_or_else(|| default.to_owned()),
                stall_after: config.ws_stall_after,
                max_streams_per_connection: binance::MAX_STREAMS_PER_CONNECTION,
                control_interval: Duration::from_millis(300),
                backoff_min: Duration::from_millis(500),
                backoff_max: Duration::from_secs(5),
            };
            let spot = wsfeed::WsFeed::new(
                &config.id,
                options(binance::DEFAULT_WS_URL),
                binance::protocol(),
            );
            let futures = spot.sibling(options(binance::DEFAULT_FUTURES_WS_URL));
            // Derivatives (`BTC/USDT:USDT`) to futures, the rest to spot.
            Some(std::sync::Arc::new(wsfeed::SplitFeed::new(
                spot,
                futures,
                |s| !s.symbol().contains(':'),
            )))
        }
        "kraken" => Some(std::sync::Arc::new(wsfeed::WsFeed::new(
            &config.id,
            FeedOptions {
                url: config
                    .ws_url
                    .clone()
                    .unwrap_or_else(|| kraken::DEFAULT_WS_URL.to_owned()),
                stall_after: config.ws_stall_after,
                max_streams_per_connection: kraken::MAX_STREAMS_PER_CONNECTION,
                // Kraken counts messages per connection more leniently than Binance.
                control_interval: Duration::from_millis(100),
                backoff_min: Duration::from_millis(500),
                backoff_max: Duration::from_secs(5),
            },
            kraken::protocol(),
        ))),
        "coinbase" => Some(std::sync::Arc::new(wsfeed::WsFeed::new(
            &config.id,
            FeedOptions {
                url: config
                    .ws_url
                    .clone()
                    .unwrap_or_else(|| coinbase::DEFAULT_WS_URL.to_owned()),
                stall_after: config.ws_stall_after,
                max_streams_per_connection: coinbase::MAX_STREAMS_PER_CONNECTION,
                control_interval: Duration::from_millis(100),
                backoff_min: Duration::from_millis(500),
                backoff_max: Duration::from_secs(5),
            },
            coinbase::protocol(),
        ))),
        // A rebased endpoint (the simulator) replaces the host; the paths are kept.
        // OKX: at most 3 subscribe requests a second per IP.
        "okx" => Some(std::sync::Arc::new(okx::feed(
            &config.id,
            FeedOptions {
                url: config
                    .ws_url
                    .clone()
                    .unwrap_or_else(|| okx::DEFAULT_WS_URL.to_owned()),
                stall_after: config.ws_stall_after,
                max_streams_per_connection: okx::MAX_STREAMS_PER_CONNECTION,
                control_interval: Duration::from_millis(350),
                backoff_min: Duration::from_millis(500),
                backoff_max: Duration::from_secs(5),
            },
        ))),
        // Bybit documents no pace for subscribe requests; OKX's is kept.
        "bybit" => Some(std::sync::Arc::new(wsfeed::WsFeed::new(
            &config.id,
            FeedOptions {
                url: config
                    .ws_url
                    .clone()
                    .unwrap_or_else(|| bybit::DEFAULT_WS_URL.to_owned()),
                stall_after: config.ws_stall_after,
                max_streams_per_connection: bybit::MAX_STREAMS_PER_CONNECTION,
                control_interval: Duration::from_millis(350),
                backoff_min: Duration::from_millis(500),
                backoff_max: Duration::from_secs(5),
            },
            bybit::protocol(),
        ))),
        _ => None,
    }
}

/// The book synchroniser of `exchange`'s incremental book stream, if this build keeps its
/// books locally.
pub fn book_sync_for(exchange: &str) -> Option<Box<dyn BookSync>> {
    match exchange {
        // 1000 levels: weight 10 on Binance (5000 costs 250).
        "binance" => Some(Box::new(BinanceSync::new(1000))),
        "kraken" => Some(Box::new(kraken::KrakenSync::new(kraken::BOOK_DEPTH))),
        "coinbase" => Some(Box::new(coinbase::CoinbaseSync::new())),
        "okx" => Some(Box::new(okx::book_sync())),
        "bybit" => Some(Box::new(bybit::book_sync())),
        _ => None,
    }
}

/// One exchange's public market data, normalised.
#[async_trait]
pub trait Exchange: Send + Sync + 'static {
    /// The exchange id, e.g. `binance`.
    fn id(&self) -> &str;

    /// Candle intervals the exchange serves, e.g. `["1m", "1h", ...]`.
    fn timeframes(&self) -> &[String];

    /// Shares the exchange's request-weight budget with every process using `shared` (one
    /// budget per IP); adapters without a budget ignore it.
    fn share_budget(&self, _shared: std::sync::Arc<dyn SharedBudget>) {}

    /// How the exchange has been answering lately; `None` when the adapter keeps no record.
    fn health(&self) -> Option<VenueHealth> {
        None
    }

    /// Drops every idle client instance the adapter keeps (memory pressure); how many went.
    fn shed_idle(&self) -> usize {
        0
    }

    /// The exchange's live feed, if this adapter has one (websockets); `None` means REST only.
    fn feed(&self) -> Option<std::sync::Arc<dyn Feed>> {
        None
    }

    /// A new synchroniser for one symbol's local book, where the feed streams books.
    fn book_sync(&self) -> Option<Box<dyn BookSync>> {
        self.feed().and_then(|_| book_sync_for(self.id()))
    }

    /// The spot markets (or none, when `MARKET_TYPES` leaves spot out).
    async fn load_markets(&self) -> Result<Vec<Market>, VenueError>;

    /// Whether this venue serves derivatives here (the exchange has them and `MARKET_TYPES`
    /// names one): `false` answers the derivative tools `unsupported` without a call.
    fn has_derivatives(&self) -> bool {
        false
    }

    /// Whether spot markets are loaded here (`MARKET_TYPES` may leave them out: then a bare
    /// pair names the perpetual for every tool).
    fn has_spot(&self) -> bool {
        true
    }

    /// The derivative markets of the types `MARKET_TYPES` names, loaded apart from spot and
    /// only when a derivative is first asked for.
    async fn load_derivative_markets(&self) -> Result<Vec<Market>, VenueError> {
        Err(VenueError::Unsupported(format!(
            "{} derivatives",
            self.id()
        )))
    }

    /// Hours between `symbol`'s funding settlements as the venue lists them apart from its
    /// rates (Binance `fundingInfo`, else its 8 h default); `None` where it does not.
    fn listed_funding_interval(&self, _symbol: &str) -> Option<f64> {
        None
    }

    /// A perpetual's current funding rate, with mark and index price where given.
    async fn fetch_funding_rate(&self, _symbol: &str) -> Result<FundingRate, VenueError> {
        Err(VenueError::Unsupported(format!(
            "{} funding rates",
            self.id()
        )))
    }

    /// Settled funding rates, oldest first.
    async fn fetch_funding_history(
        &self,
        _symbol: &str,
        _since: Option<i64>,
        _until: Option<i64>,
        _limit: u32,
    ) -> Result<Vec<FundingPoint>, VenueError> {
        Err(VenueError::Unsupported(format!(
            "{} funding history",
            self.id()
        )))
    }

    async fn fetch_open_interest(&self, _symbol: &str) -> Result<OpenInterest, VenueError> {
        Err(VenueError::Unsupported(format!(
            "{} open interest",
            self.id()
        )))
    }

    /// Candles of a derivative's mark or index price.
    async fn fetch_price_ohlcv(
        &self,
        _symbol: &str,
        _timeframe: &Timeframe,
        _since: Option<i64>,
        _limit: u32,
        price: CandlePrice,
    ) -> Result<Vec<Candle>, VenueError> {
        Err(VenueError::Unsupported(format!(
            "{} {} price candles",
            self.id(),
            price.as_str()
        )))
    }

    async fn fetch_ticker(&self, symbol: &str) -> Result<Ticker, VenueError>;

    /// Every spot ticker the exchange has, in one call (`top_movers`).
    async fn fetch_all_tickers(&self) -> Result<Vec<Ticker>, VenueError> {
        Err(VenueError::Unsupported(format!(
            "{} all tickers",
            self.id()
        )))
    }

    /// Most book levels a side one depth call can give (deeper requests get this many).
    fn max_book_depth(&self) -> u32 {
        1000
    }

    /// Tickers of many symbols; an adapter whose exchange serves several per call overrides
    /// this to batch them. Each symbol gets its own result.
    async fn fetch_tickers(
        &self,
        symbols: &[String],
    ) -> HashMap<String, Result<Ticker, VenueError>> {
        let each = symbols
            .iter()
            .map(|symbol| async move { (symbol.clone(), self.fetch_ticker(symbol).await) });
        futures::future::join_all(each).await.into_iter().collect()
    }

    async fn fetch_ohlcv(
        &self,
        symbol: &str,
        timeframe: &Timeframe,
        since: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Candle>, VenueError>;

    async fn fetch_order_book(&self, symbol: &str, limit: u32) -> Result<OrderBook, VenueError>;

    async fn fetch_trades(&self, symbol: &str, limit: u32) -> Result<Vec<Trade>, VenueError>;

    /// Answers any [`DataRequest`] with the matching call.
    async fn fetch(&self, symbol: &str, request: &DataRequest) -> Result<MarketData, VenueError> {
        Ok(match request {
            DataRequest::Ticker => MarketData::Ticker(self.fetch_ticker(symbol).await?),
            DataRequest::Ohlcv {
                timeframe,
                since,
                limit,
                price: CandlePrice::Trade,
            } => MarketData::Ohlcv(self.fetch_ohlcv(symbol, timeframe, *since, *limit).await?),
            DataRequest::Ohlcv {
                timeframe,
                since,
                limit,
                price,
            } => MarketData::Ohlcv(
                self.fetch_price_ohlcv(symbol, timeframe, *since, *limit, *price)
                    .await?,
            ),
            DataRequest::OrderBook { limit } => {
                MarketData::OrderBook(self.fetch_order_book(symbol, *limit).await?)
            }
            DataRequest::Trades { limit } => {
                MarketData::Trades(self.fetch_trades(symbol, *limit).await?)
            }
            DataRequest::FundingRate => {
                MarketData::FundingRate(self.fetch_funding_rate(symbol).await?)
            }
            DataRequest::FundingHistory {
                since,
                until,
                limit,
            } => MarketData::FundingHistory(
                self.fetch_funding_history(symbol, *since, *until, *limit)
                    .await?,
            ),
            DataRequest::OpenInterest => {
                MarketData::OpenInterest(self.fetch_open_interest(symbol).await?)
            }
        })
    }
}
