//! Normalised market data, the same whatever exchange or wire format it came from.

mod candle;
pub mod conversion;
mod derivatives;
mod exact;
pub mod fill;
pub mod indicators;
mod key;
mod ladder;
mod live_candles;
mod local_book;
mod market;
pub mod movers;
mod order_book;
mod request;
mod served;
pub mod symbol;
mod tape;
mod ticker;
mod trade;

pub use candle::{Candle, Timeframe};
pub use derivatives::{CandlePrice, FundingPoint, FundingRate, OpenInterest};
pub use exact::{BadDecimal, Exact};
pub use key::CacheKey;
pub use live_candles::LiveCandles;
pub use local_book::{BookDelta, BookSnapshot, Level, LevelTexts, LocalBook, Side};
pub use market::{Market, MarketTerms, MarketType, DEFAULT_MARKET_TYPES};
pub use order_book::OrderBook;
pub use request::{DataKind, DataRequest, MarketData};
pub use served::{now_ms, Clock, Served, Source, Stamped};
pub use symbol::{names_derivative, MarketIndex, PairMeans, SymbolLookup, Unlisted};
pub use tape::{LiveCandle, TradeTape, ONE_MINUTE_MS, TAPE_LEN};
pub use ticker::Ticker;
pub use trade::{Trade, TradeSide};
