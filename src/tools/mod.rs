//! The market-data tools, independent of the wire: MCP and the Redis worker protocol (same
//! names and arguments, SPEC.md section 6) call them.

pub mod args;
mod bounds;
pub mod compare;
mod context;
pub mod convert;
pub mod derivatives;
mod error;
pub mod fill;
mod hint;
mod history;
pub mod indicators;
pub mod limit;
pub mod movers;
pub mod output;
pub mod status;
pub mod stream;
pub mod watch;
mod watch_producer;

use crypto_market_actors::model::{CandlePrice, DataRequest, MarketData, MarketType, Timeframe};
use crypto_market_actors::Answer;
use crypto_market_actors::{Engine, ErrorCode, TickerWatch};
use std::time::Instant;

use serde::Serialize;
use serde_json::{Map, Value};

use args::parse;
pub use context::{
    CallContext, ClientWatches, IdleHook, ProgressSink, StreamDelivery, WatchKeeper,
};
pub use error::ToolError;
use limit::{Cut, Keep, Resume};
use output::{
    ErrorBody, Freshness, MarketsResult, OhlcvResult, OrderBookResult, SymbolError, TickerResult,
    TickersResult, TradesResult,
};

/// Every tool. Dispatch (here) and each front end's catalog (e.g. `mcp::catalog`) match on it
/// exhaustively, so a tool cannot be listed without being served, or the reverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    GetTicker,
    GetTickers,
    GetOhlcv,
    GetOrderBook,
    GetTrades,
    ListMarkets,
    StreamTicker,
    ComparePrices,
    ExchangeStatus,
    GetFundingRate,
    GetFundingHistory,
    GetOpenInterest,
    CompareFunding,
    EstimateFill,
    TopMovers,
    Convert,
    GetIndicators,
    WatchSubscribe,
    WatchRead,
    WatchUnsubscribe,
}

/// A tool as clients see it: its name, a title for people, and what it does.
pub struct ToolSpec {
    pub tool: Tool,
    pub name: &'static str,
    /// Human-readable name (MCP `title`, SPEC.md section 10).
    pub title: &'static str,
    pub description: &'static str,
}

/// The one list of tools.
pub const TOOLS: &[ToolSpec] = &[
    ToolSpec {
        tool: Tool::GetTicker,
        name: "get_ticker",
        title: "Latest ticker",
        description: "Latest 24h ticker of one market (last price, bid/ask, high/low, volume, \
                      change), with freshness: source, age_ms, stale. A bare pair (BTCUSDT) is \
                      spot; a perpetual (BTC/USDT:USDT, BTCUSDT.P) adds mark_price and \
                      index_price.",
    },
    ToolSpec {
        tool: Tool::GetTickers,
        name: "get_tickers",
        title: "Tickers of many markets",
        description: "Tickers of many markets at once (see symbols for how many); symbols that \
                      fail are listed under errors.",
    },
    ToolSpec {
        tool: Tool::GetOhlcv,
        name: "get_ohlcv",
        title: "OHLCV candles",
        description: "OHLCV candles [ts_ms, open, high, low, close, volume], oldest first; \
                      price=mark or index gives a derivative's mark or index price candles.",
    },
    ToolSpec {
        tool: Tool::GetOrderBook,
        name: "get_order_book",
        title: "Order book",
        description: "Order book snapshot: bids and asks as [price, amount], best first.",
    },
    ToolSpec {
        tool: Tool::GetTrades,
        name: "get_trades",
        title: "Recent trades",
        description: "Most recent public trades, oldest first.",
    },
    ToolSpec {
        tool: Tool::ListMarkets,
        name: "list_markets",
        title: "List markets",
        description: "Markets listed on the exchange, filtered by symbol substring, quote \
                      currency and type (spot by default; swap, future, option or any, with \
                      the contract terms), a page at a time: total counts every match, \
                      next_offset is the offset of the next page (null at the end).",
    },
    ToolSpec {
        tool: Tool::StreamTicker,
        name: "stream_ticker",
        title: "Stream a ticker",
        description: "Streams one market's ticker for duration_s seconds or until \
                      max_updates: each update is sent as a progress notification \
                      (progress = update count, message = the ticker JSON) when the call has a \
                      progressToken; the result is {exchange, symbol, updates, first, last}.",
    },
    ToolSpec {
        tool: Tool::ComparePrices,
        name: "compare_prices",
        title: "Compare prices across exchanges",
        description: "One market's bid, ask and last on every enabled exchange that lists it \
                      (or the given exchanges), fetched concurrently, with the best bid and ask \
                      across venues and the cross-venue spread in basis points; venues that \
                      fail are listed under errors.",
    },
    ToolSpec {
        tool: Tool::ExchangeStatus,
        name: "exchange_status",
        title: "Exchange status",
        description: "Health of each enabled exchange (or one): circuit state, request weight \
                      used and limit, calls and errors in the last minute, p50/p99 call \
                      latency, last error, markets loaded and their age, websocket state.",
    },
    ToolSpec {
        tool: Tool::GetFundingRate,
        name: "get_funding_rate",
        title: "Perpetual funding rate",
        description: "Current funding rate of a perpetual swap (a bare pair such as BTCUSDT \
                      means its linear USDT perpetual), when it settles next, the interval in \
                      hours, mark and index price, with freshness: source, age_ms, stale.",
    },
    ToolSpec {
        tool: Tool::GetFundingHistory,
        name: "get_funding_history",
        title: "Funding rate history",
        description: "Settled funding rates of a perpetual swap, oldest first, between since \
                      and until (the most recent ones without since).",
    },
    ToolSpec {
        tool: Tool::GetOpenInterest,
        name: "get_open_interest",
        title: "Open interest",
        description: "Open interest of a perpetual or future: in contracts, in the base \
                      currency and its quote value where the venue gives them.",
    },
    ToolSpec {
        tool: Tool::CompareFunding,
        name: "compare_funding",
        title: "Compare funding across exchanges",
        description: "One perpetual's funding rate on every enabled exchange that has it (or \
                      the given exchanges), each annualized (rate × 24 / interval_hours × 365), \
                      with the highest, the lowest and their spread; venues that fail are \
                      listed under errors.",
    },
    ToolSpec {
        tool: Tool::EstimateFill,
        name: "estimate_fill",
        title: "Cost of filling a size",
        description: "What a market order of a size (amount in the base, or notional in the \
                      quote) would cost on one exchange or several: each book walked as deep \
                      as the size needs, average and worst price, slippage from mid in bps, \
                      the venue's taker fee, cost_with_fees (a sell: proceeds net of fees), \
                      complete=false when the book is too thin, and the best venue.",
    },
    ToolSpec {
        tool: Tool::TopMovers,
        name: "top_movers",
        title: "Top movers",
        description: "The exchange's biggest 24h gainers, losers or quote volumes among its \
                      spot markets in one quote currency (USDT by default), from one \
                      all-tickers call cached for the TTL.",
    },
    ToolSpec {
        tool: Tool::Convert,
        name: "convert",
        title: "Convert an amount",
        description: "An amount of one asset in another at mid prices, through a direct \
                      market or one intermediate (USDT, USDC, USD, BTC, ETH, EUR); the \
                      markets used are in path.",
    },
    ToolSpec {
        tool: Tool::GetIndicators,
        name: "get_indicators",
        title: "Technical indicators",
        description: "Indicators over a market's candles, computed as TA-Lib does: 1 to 10 of \
                      sma:N, ema:N, rsi:N, macd:F:S:G, bbands:N:K, atr:N, stoch:K:D, vwap. \
                      A table: columns (timestamp, close, then e.g. rsi_14, macd, macd_signal, \
                      macd_hist, bb_lower, bb_middle, bb_upper) and rows oldest first, the \
                      last row the candle in progress; null where there is no value yet.",
    },
    ToolSpec {
        tool: Tool::WatchSubscribe,
        name: "watch_subscribe",
        title: "Watch a market",
        description: "Starts following one market's ticker, order_book (top 20 levels with \
                      nonce) or trades (one item per trade) for duration_s seconds; read what \
                      arrives with watch_read. For hosts that show the model neither progress \
                      nor resource updates.",
    },
    ToolSpec {
        tool: Tool::WatchRead,
        name: "watch_read",
        title: "Read a watch",
        description: "Items of a watch newer than cursor, oldest first (at once when there are \
                      some, else waiting up to wait_ms for one); pass the returned cursor to \
                      the next read. dropped counts items lost to the 1,000-item buffer.",
    },
    ToolSpec {
        tool: Tool::WatchUnsubscribe,
        name: "watch_unsubscribe",
        title: "End a watch",
        description: "Ends a watch of this session (watches also end with the session or at \
                      expires_at_ms).",
    },
];

impl Tool {
    pub fn named(name: &str) -> Option<&'static ToolSpec> {
        TOOLS.iter().find(|spec| spec.name == name)
    }
}

const DEFAULT_TIMEFRAME: &str = "1h";

pub type Arguments = Option<Map<String, Value>>;

#[derive(Clone)]
pub struct ToolService {
    engine: Engine,
    /// The longest result's JSON (`MAX_RESULT_BYTES`, SPEC.md section 10).
    max_result_bytes: usize,
}

impl ToolService {
    pub fn new(engine: Engine) -> Self {
        Self {
            engine,
            max_result_bytes: limit::DEFAULT_MAX_RESULT_BYTES,
        }
    }

    /// Results longer than `bytes` are cut (`MAX_RESULT_BYTES`).
    pub fn with_max_result_bytes(mut self, bytes: usize) -> Self {
        self.max_result_bytes = bytes;
        self
    }

    /// The enabled exchanges' ids, the default one first.
    pub fn exchange_ids(&self) -> Vec<&str> {
        self.engine.exchanges().iter().map(|e| &*e.id).collect()
    }

    /// Watches `symbol`'s ticker (see [`Engine::watch_ticker`]): MCP resource subscriptions.
    pub async fn watch_ticker(
        &self,
        exchange: Option<&str>,
        symbol: &str,
    ) -> Result<TickerWatch, ToolError> {
        let exchange = self.engine.exchange(exchange)?;
        Ok(self.engine.watch_ticker(exchange, symbol).await?)
    }

    /// Runs tool `name`; the result is the tool's JSON result. Counted and timed in the
    /// `cmm_requests_total`, `cmm_request_duration_seconds` and `cmm_errors_total` metrics.
    /// A call the client cancels stops waiting at once (outcome `cancelled`).
    pub async fn call(
        &self,
        name: &str,
        arguments: Arguments,
        context: CallContext,
    ) -> Result<Value, ToolError> {
        let started = Instant::now();
        let Some(spec) = Tool::named(name) else {
            let names: Vec<&str> = TOOLS.iter().map(|t| t.name).collect();
            let error = ToolError::new(
                ErrorCode::UnknownTool,
                format!("unknown tool {name:?}; available: {}", names.join(", ")),
            );
            // Label values come from a closed set: an unknown tool name is not a label.
            record("unknown", started, Outcome::Failed(error.code));
            return Err(error);
        };
        // What a failed venue's hint names (the venue asked, the symbol), read before the
        // arguments are consumed.
        let asked = VenueAsked::of(&arguments);
        let outcome = tokio::select! {
            outcome = self.dispatch(spec.tool, arguments, &context) => outcome,
            () = context.cancelled() => {
                record(spec.name, started, Outcome::Cancelled);
                return Err(ToolError::cancelled());
            }
        };
        let label = match &outcome {
            Ok(_) => Outcome::Ok,
            Err(error) => Outcome::Failed(error.code),
        };
        record(spec.name, started, label);
        outcome.map_err(|error| asked.suggest(error, spec.name, self))
    }

    /// `result` within `MAX_RESULT_BYTES`, cut as `cut` says.
    fn bounded(&self, mut result: Value, cut: Cut) -> Result<Value, ToolError> {
        limit::fit(&mut result, self.max_result_bytes, &cut)?;
        Ok(result)
    }

    async fn dispatch(
        &self,
        tool: Tool,
        arguments: Arguments,
        context: &CallContext,
    ) -> Result<Value, ToolError> {
        match tool {
            Tool::GetTicker => self.get_ticker(parse(arguments)?).await,
            Tool::GetTickers => self.get_tickers(parse(arguments)?).await,
            Tool::GetOhlcv => self.get_ohlcv(parse(arguments)?).await,
            Tool::GetOrderBook => self.get_order_book(parse(arguments)?).await,
            Tool::GetTrades => self.get_trades(parse(arguments)?).await,
            Tool::ListMarkets => self.list_markets(parse(arguments)?).await,
            Tool::StreamTicker => self.stream_ticker(parse(arguments)?, context).await,
            Tool::ComparePrices => self.compare_prices(parse(arguments)?).await,
            Tool::ExchangeStatus => self.exchange_status(parse(arguments)?),
            Tool::GetFundingRate => self.get_funding_rate(parse(arguments)?).await,
            Tool::GetFundingHistory => self.get_funding_history(parse(arguments)?).await,
            Tool::GetOpenInterest => self.get_open_interest(parse(arguments)?).await,
            Tool::CompareFunding => self.compare_funding(parse(arguments)?).await,
            Tool::EstimateFill => self.estimate_fill(parse(arguments)?).await,
            Tool::TopMovers => self.top_movers(parse(arguments)?).await,
            Tool::Convert => self.convert(parse(arguments)?).await,
            Tool::GetIndicators => self.get_indicators(parse(arguments)?).await,
            Tool::WatchSubscribe => self.watch_subscribe(parse(arguments)?, context).await,
            Tool::WatchRead => {
                let args: watch::WatchReadArgs = parse(arguments)?;
                match watch_holder(context)? {
                    WatchHolder::Session(watches) => to_json(&watch::read(watches, &args).await?),
                    WatchHolder::Client(keeper, client) => {
                        let (wait, max) = watch::read_checked(&args)?;
                        let cursor = args.cursor.unwrap_or(0);
                        let idle = context.on_idle.as_deref();
                        to_json(
                            &keeper
                                .read(client, &args.watch_id, cursor, wait, max, idle)
                                .await?,
                        )
                    }
                }
            }
            Tool::WatchUnsubscribe => {
                let args: watch::WatchUnsubscribeArgs = parse(arguments)?;
                match watch_holder(context)? {
                    WatchHolder::Session(watches) => to_json(&watch::unsubscribe(watches, &args)?),
                    WatchHolder::Client(keeper, client) => {
                        to_json(&keeper.unsubscribe(client, &args.watch_id).await?)
                    }
                }
            }
        }
    }

    /// `watch_subscribe`, in the caller's session or under its client id.
    async fn watch_subscribe(
        &self,
        args: watch::WatchSubscribeArgs,
        context: &CallContext,
    ) -> Result<Value, ToolError> {
        let holder = watch_holder(context)?;
        let (channel, seconds) = watch::subscribe_checked(&args)?;
        let ticker = self
            .watch_ticker(args.exchange.as_deref(), &args.symbol)
            .await?;
        match holder {
            WatchHolder::Session(watches) => to_json(&watch::subscribe(watches, &args, ticker)?),
            WatchHolder::Client(keeper, client) => to_json(
                &keeper
                    .subscribe(client, &args, channel, seconds, ticker)
                    .await?,
            ),
        }
    }

    /// Streams the updates as progress and returns the summary, or (a front end that keeps
    /// watches) keeps the symbol watched, hence fresh and published, until the returned
    /// `expires_at_ms`.
    async fn stream_ticker(
        &self,
        args: args::StreamTickerArgs,
        context: &CallContext,
    ) -> Result<Value, ToolError> {
        let limits = args.limits()?;
        let mut watch = self
            .watch_ticker(args.exchange.as_deref(), &args.symbol)
            .await?;
        match &context.stream {
            StreamDelivery::Progress => {
                let (exchange, symbol) = (watch.exchange().clone(), watch.symbol().clone());
                stream::run(
                    &mut watch,
                    &exchange,
                    &symbol,
                    limits,
                    context.progress.as_deref(),
                )
                .await
            }
            StreamDelivery::Kept(keeper) => to_json(&keeper.keep(watch, limits.duration)),
        }
    }

    async fn get_ticker(&self, args: args::TickerArgs) -> Result<Value, ToolError> {
        let answer = self
            .engine
            .fetch_named(args.exchange.as_deref(), &args.symbol, DataRequest::Ticker)
            .await?;
        to_json(&ticker_result(&answer)?)
    }

    async fn get_tickers(&self, args: args::TickersArgs) -> Result<Value, ToolError> {
        args::TICKER_SYMBOLS.check_count(args.symbols.len())?;
        // Spellings of one market are answered once; cold ones are fetched together.
        let answers = self
            .engine
            .fetch_tickers_named(args.exchange.as_deref(), &args.symbols)
            .await;
        let mut tickers = Vec::with_capacity(answers.len());
        let mut errors = Vec::new();
        for (symbol, answer) in &answers {
            match answer
                .as_ref()
                .map_err(|e| ToolError::from(e.clone()))
                .and_then(ticker_result)
            {
                Ok(ticker) => tickers.push(ticker),
                Err(error) => errors.push(SymbolError {
                    symbol: symbol.clone(),
                    error: ErrorBody::from(error),
                }),
            }
        }
        let result = to_json(&TickersResult {
            tickers,
            errors,
            truncated: false,
        })?;
        self.bounded(result, Cut::of(&["tickers"], Keep::First, Resume::Nowhere))
    }

    /// `name` (default 1h) as one of the exchange's timeframes.
    fn timeframe(
        &self,
        exchange: Option<&str>,
        name: Option<&str>,
    ) -> Result<Timeframe, ToolError> {
        let exchange = self.engine.exchange(exchange)?;
        let name = name.map(str::trim).unwrap_or(DEFAULT_TIMEFRAME);
        Timeframe::parse(name, &exchange.timeframes).ok_or_else(|| {
            ToolError::invalid_argument(format!(
                "timeframe: {name:?} is not a {} timeframe; use one of {}",
                exchange.id,
                exchange.timeframes.join(", ")
            ))
        })
    }

    async fn get_ohlcv(&self, args: args::OhlcvArgs) -> Result<Value, ToolError> {
        let timeframe = self.timeframe(args.exchange.as_deref(), args.timeframe.as_deref())?;
        let limit = args::OHLCV_LIMIT.check(args.limit)?;
        let since = derivatives::millis("since", args.since.as_ref())?;
        let until = derivatives::millis("until", args.until.as_ref())?;
        if let (Some(since), Some(until)) = (since, until) {
            if until < since {
                return Err(ToolError::invalid_argument(format!(
                    "until: {until} is before since ({since})"
                )));
            }
        }
        let price = match args.price.as_deref() {
            None => CandlePrice::Trade,
            Some(text) => CandlePrice::parse(text).ok_or_else(|| {
                ToolError::invalid_argument(format!(
                    "price: {text:?} is not a candle price; use trade, mark or index"
                ))
            })?,
        };
        let window = history::Window {
            since,
            until,
            limit,
        };
        let history = self
            .history(
                args.exchange.as_deref(),
                &args.symbol,
                &timeframe,
                price,
                window,
                false,
            )
            .await?;
        let result = to_json(&OhlcvResult {
            exchange: &history.answer.exchange,
            symbol: &history.answer.symbol,
            timeframe: timeframe.as_str(),
            candles: &history.candles,
            freshness: Freshness::of(&history.answer),
            truncated: false,
            next_since: history.next_since,
        })?;
        self.bounded(result, Cut::of(&["candles"], Keep::First, Resume::Since))
    }

    async fn get_order_book(&self, args: args::OrderBookArgs) -> Result<Value, ToolError> {
        let limit = args::BOOK_DEPTH.check(args.limit)?;
        let answer = self
            .engine
            .fetch_named(
                args.exchange.as_deref(),
                &args.symbol,
                DataRequest::OrderBook { limit },
            )
            .await?;
        let MarketData::OrderBook(book) = &*answer.data.value else {
            return Err(mismatch("an order book"));
        };
        let result = to_json(&OrderBookResult::new(
            &answer.exchange,
            &answer.symbol,
            book,
            Freshness::of(&answer),
        ))?;
        self.bounded(
            result,
            Cut::of(&["bids", "asks"], Keep::First, Resume::Nowhere),
        )
    }

    async fn get_trades(&self, args: args::TradesArgs) -> Result<Value, ToolError> {
        let limit = args::TRADES_LIMIT.check(args.limit)?;
        let since = derivatives::millis("since", args.since.as_ref())?;
        let answer = self
            .engine
            .fetch_named(
                args.exchange.as_deref(),
                &args.symbol,
                DataRequest::Trades { limit },
            )
            .await?;
        let MarketData::Trades(trades) = &*answer.data.value else {
            return Err(mismatch("trades"));
        };
        // `since`: the recent trades from then on (those the venue's recent-trades call holds).
        let first = since.map_or(0, |since| {
            trades.partition_point(|t| t.timestamp.is_some_and(|ts| ts < since))
        });
        let trades = &trades[first..];
        let result = to_json(&TradesResult {
            exchange: &answer.exchange,
            symbol: &answer.symbol,
            trades,
            freshness: Freshness::of(&answer),
            truncated: false,
        })?;
        // The call asked for the most recent trades: those stay.
        self.bounded(result, Cut::of(&["trades"], Keep::Last, Resume::Nowhere))
    }

    async fn compare_prices(&self, args: compare::CompareArgs) -> Result<Value, ToolError> {
        let comparison = self
            .engine
            .compare_tickers(&args.symbol, args.exchanges()?)
            .await?;
        to_json(&compare::CompareResult::new(comparison))
    }

    fn exchange_status(&self, args: status::StatusArgs) -> Result<Value, ToolError> {
        let exchanges = match args.exchange.as_deref() {
            Some(name) => vec![self.engine.exchange(Some(name))?],
            None => self.engine.exchanges().iter().collect(),
        };
        let exchanges = exchanges
            .into_iter()
            .map(|e| status::VenueStatus::new(self.engine.exchange_status(e)))
            .collect();
        to_json(&status::StatusResult { exchanges })
    }

    async fn list_markets(&self, args: args::ListMarketsArgs) -> Result<Value, ToolError> {
        let exchange = self.engine.exchange(args.exchange.as_deref())?;
        let limit = args::MARKETS_LIMIT.check(args.limit)? as usize;
        let offset = args::MARKETS_OFFSET.check(args.offset)? as usize;
        // `None`: any type.
        let wanted = match args.market_type.as_deref().map(str::trim) {
            None => Some(MarketType::Spot),
            Some(text) if text.eq_ignore_ascii_case("any") => None,
            Some(text) => Some(MarketType::parse(text).ok_or_else(|| {
                ToolError::invalid_argument(format!(
                    "type: {text:?} is not a market type; use spot, swap, future, option or any"
                ))
            })?),
        };
        let derivatives = wanted != Some(MarketType::Spot);
        let markets = self.engine.markets(exchange, derivatives).await?;
        let matching: Vec<_> = markets
            .index
            .search(args.query.as_deref(), args.quote.as_deref())
            .filter(|m| wanted.is_none_or(|t| m.kind() == Some(t)))
            .collect();
        let total = matching.len();
        let page: Vec<_> = matching.into_iter().skip(offset).take(limit).collect();
        let end = offset + page.len();
        let result = to_json(&MarketsResult {
            exchange: &markets.exchange,
            total,
            markets: page,
            next_offset: (end < total).then_some(end),
            truncated: false,
            freshness: Freshness::cached(markets.fetched_at_ms),
        })?;
        self.bounded(
            result,
            Cut::of(&["markets"], Keep::First, Resume::Offset { from: offset }),
        )
    }
}

/// The venue and symbol a call named, for the hint of a venue's failure.
struct VenueAsked {
    exchange: Option<String>,
    symbol: Option<String>,
}

impl VenueAsked {
    fn of(arguments: &Arguments) -> Self {
        let text = |key: &str| {
            arguments
                .as_ref()
                .and_then(|a| a.get(key))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        Self {
            exchange: text("exchange"),
            symbol: text("symbol"),
        }
    }

    /// `error`'s hint names the other enabled venues when the one asked failed.
    fn suggest(self, error: ToolError, tool: &str, tools: &ToolService) -> ToolError {
        let Ok(asked) = tools.engine.exchange(self.exchange.as_deref()) else {
            return error;
        };
        let enabled = tools.exchange_ids();
        error.suggest_venues(tool, self.symbol.as_deref(), &asked.id, &enabled)
    }
}

enum Outcome {
    Ok,
    Failed(ErrorCode),
    Cancelled,
}

fn record(tool: &'static str, started: Instant, outcome: Outcome) {
    let label = match outcome {
        Outcome::Ok => "ok",
        Outcome::Cancelled => "cancelled",
        Outcome::Failed(code) => {
            metrics::counter!("cmm_errors_total", "code" => code.as_str()).increment(1);
            code.as_str()
        }
    };
    metrics::counter!("cmm_requests_total", "tool" => tool, "outcome" => label).increment(1);
    metrics::histogram!("cmm_request_duration_seconds", "tool" => tool)
        .record(started.elapsed().as_secs_f64());
}

/// Who holds the caller's watches: its MCP session, or (worker pool) its client id.
enum WatchHolder<'a> {
    Session(&'a watch::SessionWatches),
    Client(&'a dyn ClientWatches, &'a str),
}

fn watch_holder(context: &CallContext) -> Result<WatchHolder<'_>, ToolError> {
    if let Some(watches) = context.watches.as_deref() {
        return Ok(WatchHolder::Session(watches));
    }
    match (&context.client_watches, context.client_id.as_deref()) {
        (Some(keeper), Some(client)) => Ok(WatchHolder::Client(keeper.as_ref(), client)),
        (Some(_), None) => Err(ToolError::invalid_argument(
            "watches over the worker pool belong to a client_id; send one with the request",
        )),
        (None, _) => Err(ToolError::new(
            ErrorCode::Unsupported,
            "watches belong to an MCP session or a pool client_id; this front end has neither \
             (use stream_ticker)"
                .to_owned(),
        )),
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
        freshness: Freshness::of(answer),
    })
}

/// A ticker answer as published on its Redis channel: the `get_ticker` result's JSON.
pub(crate) fn ticker_payload(answer: &Answer) -> Option<String> {
    serde_json::to_string(&ticker_result(answer).ok()?).ok()
}

pub(crate) fn to_json(result: &impl Serialize) -> Result<Value, ToolError> {
    serde_json::to_value(result).map_err(|e| {
        ToolError::new(
            ErrorCode::Internal,
            format!("cannot encode the result: {e}"),
        )
    })
}

/// The engine answered with another kind of data than asked: a bug, reported rather than hidden.
pub(crate) fn mismatch(expected: &str) -> ToolError {
    ToolError::new(
        ErrorCode::Internal,
        format!("the engine answered without {expected}"),
    )
}
