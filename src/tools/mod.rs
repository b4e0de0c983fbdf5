//! The market-data tools, independent of the wire: MCP calls them today, the Redis worker
//! protocol (same names and arguments, SPEC.md section 6) will call them too.

pub mod args;
pub mod catalog;
mod error;
pub mod output;

use crypto_market_actors::model::{DataRequest, MarketData, Timeframe};
use crypto_market_actors::symbol::Answer;
use crypto_market_actors::{Engine, ErrorCode};
use std::time::Instant;

use serde::Serialize;
use serde_json::{Map, Value};

use args::{bounded, parse};
pub use error::ToolError;
use output::{
    ErrorBody, Freshness, MarketsResult, OhlcvResult, OrderBookResult, SymbolError, TickerResult,
    TickersResult, TradesResult,
};

pub const TOOL_NAMES: &[&str] = &[
    "get_ticker",
    "get_tickers",
    "get_ohlcv",
    "get_order_book",
    "get_trades",
    "list_markets",
];

const DEFAULT_TIMEFRAME: &str = "1h";

pub type Arguments = Option<Map<String, Value>>;

#[derive(Clone)]
pub struct ToolService {
    engine: Engine,
}

impl ToolService {
    pub fn new(engine: Engine) -> Self {
        Self { engine }
    }

    /// Runs tool `name`; the result is the tool's JSON result. Counted and timed in the
    /// `cmm_requests_total`, `cmm_request_duration_seconds` and `cmm_errors_total` metrics.
    pub async fn call(&self, name: &str, arguments: Arguments) -> Result<Value, ToolError> {
        let started = Instant::now();
        // Label values must come from a closed set: an unknown tool name is not a label.
        let tool = TOOL_NAMES
            .iter()
            .find(|t| **t == name)
            .copied()
            .unwrap_or("unknown");
        let outcome = self.dispatch(name, arguments).await;
        let label = match &outcome {
            Ok(_) => "ok",
            Err(error) => {
                metrics::counter!("cmm_errors_total", "code" => error.code.as_str()).increment(1);
                error.code.as_str()
            }
        };
        metrics::counter!("cmm_requests_total", "tool" => tool, "outcome" => label).increment(1);
        metrics::histogram!("cmm_request_duration_seconds", "tool" => tool)
            .record(started.elapsed().as_secs_f64());
        outcome
    }

    async fn dispatch(&self, name: &str, arguments: Arguments) -> Result<Value, ToolError> {
        match name {
            "get_ticker" => self.get_ticker(parse(arguments)?).await,
            "get_tickers" => self.get_tickers(parse(arguments)?).await,
            "get_ohlcv" => self.get_ohlcv(parse(arguments)?).await,
            "get_order_book" => self.get_order_book(parse(arguments)?).await,
            "get_trades" => self.get_trades(parse(arguments)?).await,
            "list_markets" => self.list_markets(parse(arguments)?).await,
            _ => Err(ToolError::new(
                ErrorCode::UnknownTool,
                format!(
                    "unknown tool {name:?}; available: {}",
                    TOOL_NAMES.join(", ")
                ),
            )),
        }
    }

    async fn get_ticker(&self, args: args::TickerArgs) -> Result<Value, ToolError> {
        let exchange = self.engine.exchange(args.exchange.as_deref())?;
        let answer = self
            .engine
            .fetch(exchange, &args.symbol, DataRequest::Ticker)
            .await?;
        to_json(&ticker_result(&answer)?)
    }

    async fn get_tickers(&self, args: args::TickersArgs) -> Result<Value, ToolError> {
        if args.symbols.is_empty() || args.symbols.len() > args::MAX_TICKERS {
            return Err(ToolError::invalid_argument(format!(
                "symbols: give between 1 and {} symbols, got {}",
                args::MAX_TICKERS,
                args.symbols.len()
            )));
        }
        let exchange = self.engine.exchange(args.exchange.as_deref())?;
        let mut symbols = args.symbols;
        let mut seen = std::collections::HashSet::new();
        symbols.retain(|s| seen.insert(s.trim().to_ascii_uppercase()));
        // Each symbol goes to its own actor: cached ones answer at once; the cold ones' fetches
        // meet in the exchange adapter, which batches them into few `symbols=[..]` calls.
        let answers = futures::future::join_all(
            symbols
                .iter()
                .map(|symbol| self.engine.fetch(exchange, symbol, DataRequest::Ticker)),
        )
        .await;
        let mut tickers = Vec::with_capacity(answers.len());
        let mut errors = Vec::new();
        for (symbol, answer) in symbols.iter().zip(&answers) {
            match answer
                .as_ref()
                .map_err(|e| ToolError::from(e.clone()))
                .and_then(ticker_result)
            {
                Ok(ticker) => tickers.push(ticker),
                Err(error) => errors.push(SymbolError {
                    symbol: symbol.clone(),
                    error: ErrorBody {
                        code: error.code.as_str(),
                        message: error.message,
                    },
                }),
            }
        }
        to_json(&TickersResult { tickers, errors })
    }

    async fn get_ohlcv(&self, args: args::OhlcvArgs) -> Result<Value, ToolError> {
        let exchange = self.engine.exchange(args.exchange.as_deref())?;
        let name = args
            .timeframe
            .as_deref()
            .map(str::trim)
            .unwrap_or(DEFAULT_TIMEFRAME);
        let timeframe = Timeframe::parse(name, &exchange.timeframes).ok_or_else(|| {
            ToolError::invalid_argument(format!(
                "timeframe: {name:?} is not a {} timeframe; use one of {}",
                exchange.id,
                exchange.timeframes.join(", ")
            ))
        })?;
        let limit = bounded("limit", args.limit, 100, args::MAX_CANDLES)?;
        let since = args
            .since
            .as_ref()
            .map(args::Since::to_millis)
            .transpose()?;
        let answer = self
            .engine
            .fetch(
                exchange,
                &args.symbol,
                DataRequest::Ohlcv {
                    timeframe: timeframe.clone(),
                    since,
                    limit,
                },
            )
            .await?;
        let MarketData::Ohlcv(candles) = &*answer.data.value else {
            return Err(mismatch("candles"));
        };
        to_json(&OhlcvResult {
            exchange: &answer.exchange,
            symbol: &answer.symbol,
            timeframe: timeframe.as_str(),
            candles,
            freshness: Freshness::from(&answer.data),
        })
    }

    async fn get_order_book(&self, args: args::OrderBookArgs) -> Result<Value, ToolError> {
        let exchange = self.engine.exchange(args.exchange.as_deref())?;
        let limit = bounded("limit", args.limit, 20, args::MAX_BOOK_DEPTH)?;
        let answer = self
            .engine
            .fetch(exchange, &args.symbol, DataRequest::OrderBook { limit })
            .await?;
        let MarketData::OrderBook(book) = &*answer.data.value else {
            return Err(mismatch("an order book"));
        };
        to_json(&OrderBookResult::new(
            &answer.exchange,
            &answer.symbol,
            book,
            Freshness::from(&answer.data),
        ))
    }

    async fn get_trades(&self, args: args::TradesArgs) -> Result<Value, ToolError> {
        let exchange = self.engine.exchange(args.exchange.as_deref())?;
        let limit = bounded("limit", args.limit, 50, args::MAX_TRADES)?;
        let answer = self
            .engine
            .fetch(exchange, &args.symbol, DataRequest::Trades { limit })
            .await?;
        let MarketData::Trades(trades) = &*answer.data.value else {
            return Err(mismatch("trades"));
        };
        to_json(&TradesResult {
            exchange: &answer.exchange,
            symbol: &answer.symbol,
            trades,
            freshness: Freshness::from(&answer.data),
        })
    }

    async fn list_markets(&self, args: args::ListMarketsArgs) -> Result<Value, ToolError> {
        let exchange = self.engine.exchange(args.exchange.as_deref())?;
        let limit = bounded("limit", args.limit, 50, args::MAX_MARKETS)? as usize;
        let markets = self.engine.markets(exchange).await?;
        let matching: Vec<_> = markets
            .index
            .search(args.query.as_deref(), args.quote.as_deref())
            .collect();
        to_json(&MarketsResult {
            exchange: &markets.exchange,
            total: matching.len(),
            markets: matching.into_iter().take(limit).collect(),
            freshness: Freshness::cached(markets.fetched_at_ms),
        })
    }
}

fn ticker_result(answer: &Answer) -> Result<TickerResult<'_>, ToolError> {
    let MarketData::Ticker(ticker) = &*answer.data.value else {
        return Err(mismatch("a ticker"));
    };
    Ok(TickerResult {
        ticker,
        exchange: &answer.exchange,
        price: ticker.last,
        freshness: Freshness::from(&answer.data),
    })
}

fn to_json(result: &impl Serialize) -> Result<Value, ToolError> {
    serde_json::to_value(result).map_err(|e| {
        ToolError::new(
            ErrorCode::Internal,
            format!("cannot encode the result: {e}"),
        )
    })
}

/// The engine answered with another kind of data than asked: a bug, reported rather than hidden.
fn mismatch(expected: &str) -> ToolError {
    ToolError::new(
        ErrorCode::Internal,
        format!("the engine answered without {expected}"),
    )
}
