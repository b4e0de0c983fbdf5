//! Tool results (SPEC.md section 4). Each carries freshness: where the data came from, how old
//! it is, and whether it is served stale.

use crypto_market_actors::model::{
    now_ms, Candle, Market, OrderBook, Served, Source, Ticker, Trade,
};
use crypto_market_actors::Answer;
use schemars::JsonSchema;
use serde::Serialize;

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Freshness {
    /// exchange | cache | redis | stream
    pub source: Source,
    /// Milliseconds since the value was fetched from (or pushed by) the exchange.
    pub age_ms: i64,
    /// True when served past its TTL because the exchange is unavailable or rate-limited.
    pub stale: bool,
    /// The default exchange that could not answer fresh, when another one served this
    /// (FAILOVER); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failover_from: Option<String>,
}

impl Freshness {
    /// A value this process holds since `fetched_at_ms` (e.g. an exchange's market list).
    pub fn cached(fetched_at_ms: i64) -> Self {
        Self {
            source: Source::Cache,
            age_ms: (now_ms() - fetched_at_ms).max(0),
            stale: false,
            failover_from: None,
        }
    }

    /// An engine answer's freshness, with the venue it failed over from.
    pub fn of(answer: &Answer) -> Self {
        Self {
            failover_from: answer.failover_from.as_deref().map(str::to_owned),
            ..Self::from(&answer.data)
        }
    }
}

impl<T> From<&Served<T>> for Freshness {
    fn from(served: &Served<T>) -> Self {
        Self {
            source: served.source,
            age_ms: served.age_ms,
            stale: served.stale,
            failover_from: None,
        }
    }
}

/// CCXT's unified ticker plus `exchange`, `price` (= `last`) and freshness.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TickerResult<'a> {
    #[serde(flatten)]
    pub ticker: &'a Ticker,
    pub exchange: &'a str,
    pub price: Option<f64>,
    #[serde(flatten)]
    pub freshness: Freshness,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ErrorBody {
    /// One of SPEC.md's error codes, e.g. invalid_symbol.
    pub code: &'static str,
    pub message: String,
    /// Whether the same call may succeed later.
    pub retryable: bool,
    /// How long to wait before retrying (rate limits, an open circuit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// The next step: the tool and argument to try.
    pub hint: String,
}

impl From<super::ToolError> for ErrorBody {
    fn from(error: super::ToolError) -> Self {
        Self {
            code: error.code.as_str(),
            hint: error.hint(),
            message: error.message,
            retryable: error.retryable,
            retry_after_ms: error.retry_after_ms,
        }
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SymbolError {
    pub symbol: String,
    pub error: ErrorBody,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct TickersResult<'a> {
    pub tickers: Vec<TickerResult<'a>>,
    /// Symbols that could not be served, each with its own error.
    pub errors: Vec<SymbolError>,
    /// True when some tickers were left out to keep the result within MAX_RESULT_BYTES.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct OhlcvResult<'a> {
    pub exchange: &'a str,
    pub symbol: &'a str,
    pub timeframe: &'a str,
    /// `[ts_ms, open, high, low, close, volume]`, oldest first.
    pub candles: &'a [Candle],
    #[serde(flatten)]
    pub freshness: Freshness,
    /// True when the newest candles were left out to keep the result within
    /// MAX_RESULT_BYTES: call again with since=next_since for them.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    /// Where the range continues: the first candle left out (cut to MAX_RESULT_BYTES or at
    /// `limit`); null when the range is done.
    pub next_since: Option<i64>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct OrderBookResult<'a> {
    pub exchange: &'a str,
    pub symbol: &'a str,
    /// `[price, amount]`, highest bid first.
    pub bids: &'a [[f64; 2]],
    /// `[price, amount]`, lowest ask first.
    pub asks: &'a [[f64; 2]],
    pub timestamp: Option<i64>,
    pub nonce: Option<i64>,
    #[serde(flatten)]
    pub freshness: Freshness,
    /// True when the deepest levels were left out to keep the result within MAX_RESULT_BYTES.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

impl<'a> OrderBookResult<'a> {
    pub fn new(
        exchange: &'a str,
        symbol: &'a str,
        book: &'a OrderBook,
        freshness: Freshness,
    ) -> Self {
        Self {
            exchange,
            symbol,
            bids: &book.bids,
            asks: &book.asks,
            timestamp: book.timestamp,
            nonce: book.nonce,
            freshness,
            truncated: false,
        }
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct TradesResult<'a> {
    pub exchange: &'a str,
    pub symbol: &'a str,
    /// Oldest first.
    pub trades: &'a [Trade],
    #[serde(flatten)]
    pub freshness: Freshness,
    /// True when the oldest trades were left out to keep the result within MAX_RESULT_BYTES.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct MarketsResult<'a> {
    pub exchange: &'a str,
    /// Markets matching the filters (all pages).
    pub total: usize,
    pub markets: Vec<&'a Market>,
    /// The offset of the next page (call again with offset=next_offset); null at the end.
    pub next_offset: Option<usize>,
    /// True when this page was cut short to keep the result within MAX_RESULT_BYTES.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    #[serde(flatten)]
    pub freshness: Freshness,
}

/// MCP `stream_ticker`: what the stream delivered (SPEC.md section 5).
#[derive(Debug, Serialize, JsonSchema)]
pub struct StreamTickerResult {
    pub exchange: String,
    /// Unified symbol, e.g. BTC/USDT.
    pub symbol: String,
    /// Ticker updates delivered (each one also sent as a progress notification).
    pub updates: u64,
    /// The first ticker of the stream (a get_ticker result), null when none arrived.
    #[schemars(with = "Option<TickerResult<'static>>")]
    pub first: Option<serde_json::Value>,
    /// The last ticker of the stream, null when none arrived.
    #[schemars(with = "Option<TickerResult<'static>>")]
    pub last: Option<serde_json::Value>,
}

/// Redis `stream_ticker`: where the ticker is published, and until when (SPEC.md section 5).
#[derive(Debug, Serialize, JsonSchema)]
pub struct StreamLease {
    /// `{KEY_PREFIX}:ticker:{exchange}:{symbol}`.
    pub channel: String,
    /// Unix ms until which the feed stays published; call again to extend.
    pub expires_at_ms: i64,
}
