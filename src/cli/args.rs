//! The command line of `crypto-market` (clap derive). Every subcommand has `--help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Secret;

/// Crypto market data for people: tickers, candles, order books, trades and markets, served by
/// `crypto-market-mcp` (started as a child by default, or a remote one with --mcp-url) or by
/// the worker pool over Redis (--redis).
#[derive(Debug, Parser)]
#[command(name = "crypto-market", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Exchange to ask (a ccxt id, e.g. binance); default: the server's EXCHANGE_NAME.
    #[arg(long, global = true, value_name = "ID")]
    pub exchange: Option<String>,
    /// Print exactly the tool's structured JSON result on one line (for scripts and jq).
    #[arg(long, global = true)]
    pub json: bool,
    /// TOML settings file, passed to the embedded server.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Exchange REST base URL for the embedded server (EXCHANGE_REST_URL), e.g. a simulator.
    #[arg(long, global = true, value_name = "URL")]
    pub rest_url: Option<String>,
    /// Exchange websocket base URL for the embedded server (EXCHANGE_WS_URL).
    #[arg(long, global = true, value_name = "URL")]
    pub ws_url: Option<String>,
    /// Use a remote crypto-market-mcp over streamable HTTP, e.g. http://host:8080/mcp.
    #[arg(long, global = true, value_name = "URL", conflicts_with = "redis")]
    pub mcp_url: Option<String>,
    /// Use the worker pool (crypto-market-worker) through this Redis, e.g.
    /// redis://host:6379; KEY_PREFIX, REQUEST_CHANNEL, RESPONSE_CHANNEL, REQUEST_TIMEOUT and
    /// REDIS_MODE apply as for the workers.
    #[arg(long, global = true, value_name = "URL", value_parser = secret)]
    pub redis: Option<Secret>,
    /// Client key for a pool with API_KEYS_FILE (PUBSUB_API_KEY); needs --client-id.
    #[arg(long, global = true, value_name = "KEY", requires = "redis", value_parser = secret)]
    pub api_key: Option<Secret>,
    /// The [[client]] id of --api-key in the pool's API_KEYS_FILE (PUBSUB_CLIENT_ID): the pool
    /// replies to a keyed request only on that client's channels.
    #[arg(long, global = true, value_name = "ID", requires = "redis")]
    pub client_id: Option<String>,
    /// Bearer token for --mcp-url (MCP_AUTH_TOKEN).
    #[arg(
        long,
        global = true,
        value_name = "TOKEN",
        env = "MCP_AUTH_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// Show the embedded server's logs on stderr.
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Tickers as a table, with freshness (source, age, stale).
    Ticker(TickerArgs),
    /// Candles: a terminal chart, then the table.
    Ohlcv(OhlcvArgs),
    /// Order book: a depth ladder with cumulative size bars.
    Book(BookArgs),
    /// Recent trades.
    Trades(TradesArgs),
    /// Markets matching a query.
    Markets(MarketsArgs),
    /// A live table of tickers, updated in place, until Ctrl-C; --book: a live depth ladder,
    /// --trades: a live tape.
    Watch(WatchArgs),
    /// One symbol's quote on every exchange that lists it, the best bid and ask across them
    /// and the spread between venues.
    Compare(CompareArgs),
    /// A perpetual's funding rate on every exchange that has it (the highest, the lowest and
    /// the spread); with --exchange only that one; --history: its settled rates.
    Funding(FundingArgs),
    /// A perpetual's (or future's) open interest.
    Oi(OiArgs),
    /// What a market order of a size would cost (estimate_fill): the book walked on the
    /// exchange, or on each of --exchanges, with fees, slippage and the best venue.
    Fill(FillArgs),
    /// The exchange's top 24h gainers, losers or volumes (top_movers).
    Movers(MoversArgs),
    /// An amount of one asset in another at mid prices (convert), e.g. `convert 2 ETH BTC`.
    Convert(ConvertArgs),
    /// Technical indicators: the price chart with a pane per indicator below it, e.g.
    /// `indicators BTC/USDT --ind rsi:14,macd:12:26:9`.
    Indicators(IndicatorsArgs),
    /// The exchanges' health (circuit, calls, errors, latency, markets); with --redis, the
    /// worker pool's status.
    Status,
    /// Questions in plain words ("price of btc", "eth 4h candles"), answered by calling the
    /// tools; with LLM_API_URL, LLM_API_KEY and LLM_MODEL an OpenAI-compatible model decides
    /// which. Reads questions from a pipe too.
    Chat,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// One or more symbols, e.g. BTC/USDT ETHUSDT.
    #[arg(required = true, value_name = "SYMBOL")]
    pub symbols: Vec<String>,
    /// Seconds between updates (the server serves from its cache within its TTL).
    #[arg(long, short, default_value_t = 1.0, value_parser = interval)]
    pub interval: f64,
    /// Stop after this many updates (default: until Ctrl-C); with --book, books; with
    /// --trades, trades.
    #[arg(long, short = 'n')]
    pub count: Option<u64>,
    /// A live depth ladder of one symbol (the top 20 levels a side, as the server's
    /// watch_read gives each update), instead of the tickers table.
    #[arg(long, conflicts_with = "trades")]
    pub book: bool,
    /// A live tape of one symbol: each new trade appended as it comes.
    #[arg(long)]
    pub trades: bool,
}

/// A value `Debug` never shows (a key, a URL that may hold a password).
fn secret(s: &str) -> Result<Secret, String> {
    Ok(Secret::new(s))
}

fn interval(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if (0.1..=3600.0).contains(&x) => Ok(x),
        _ => Err("expected seconds from 0.1 to 3600".to_owned()),
    }
}

#[derive(Debug, Args)]
pub struct TickerArgs {
    /// One or more symbols, e.g. BTC/USDT ETHUSDT sol-usdt.
    #[arg(required = true, value_name = "SYMBOL")]
    pub symbols: Vec<String>,
}

#[derive(Debug, Args)]
pub struct OhlcvArgs {
    /// Symbol, e.g. BTC/USDT.
    pub symbol: String,
    /// Candle timeframe (one of the exchange's, e.g. 1m, 1h, 1d).
    #[arg(long, short, default_value = "1h")]
    pub timeframe: String,
    /// Number of candles (1..1000).
    #[arg(long, short, default_value_t = 60)]
    pub limit: u32,
    /// First candle's time: ms since the epoch or ISO-8601.
    #[arg(long, short)]
    pub since: Option<String>,
}

#[derive(Debug, Args)]
pub struct BookArgs {
    /// Symbol, e.g. BTC/USDT.
    pub symbol: String,
    /// Levels per side (1..1000).
    #[arg(long, short, default_value_t = 10)]
    pub limit: u32,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Symbol, e.g. BTC/USDT.
    pub symbol: String,
    /// Only these exchanges, e.g. --exchanges binance,okx (default: every enabled one).
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    pub exchanges: Vec<String>,
}

#[derive(Debug, Args)]
pub struct FundingArgs {
    /// Perpetual, e.g. BTCUSDT (its linear USDT perpetual), BTC/USDT:USDT, BTC-USDT-SWAP.
    pub symbol: String,
    /// Settled rates instead of the current ones (on --exchange, else the default one).
    #[arg(long)]
    pub history: bool,
    /// Settled rates to show with --history (1..1000).
    #[arg(long, short, default_value_t = 24)]
    pub limit: u32,
    /// Only these exchanges, e.g. --exchanges binance,okx (default: every enabled one).
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    pub exchanges: Vec<String>,
}

#[derive(Debug, Args)]
pub struct IndicatorsArgs {
    /// Symbol, e.g. BTC/USDT (a perpetual such as BTCUSDT.P too).
    pub symbol: String,
    /// Indicators, comma-separated: sma:N, ema:N, rsi:N, macd:F:S:G, bbands:N:K, atr:N,
    /// stoch:K:D, vwap (a name alone takes the usual periods).
    #[arg(long = "ind", short = 'i', default_value = "rsi:14,macd:12:26:9")]
    pub indicators: String,
    /// Candle timeframe (one of the exchange's, e.g. 1h, 4h, 1d).
    #[arg(long, short, default_value = "1h")]
    pub timeframe: String,
    /// Rows (candles) to show (1..1000).
    #[arg(long, short, default_value_t = 60)]
    pub limit: u32,
}

#[derive(Debug, Args)]
pub struct OiArgs {
    /// Perpetual or future, e.g. BTCUSDT (its linear USDT perpetual), BTC/USDT:USDT.
    pub symbol: String,
}

#[derive(Debug, Args)]
pub struct TradesArgs {
    /// Symbol, e.g. BTC/USDT.
    pub symbol: String,
    /// Number of trades (1..1000).
    #[arg(long, short, default_value_t = 20)]
    pub limit: u32,
}

#[derive(Debug, Args)]
pub struct MarketsArgs {
    /// Substring to look for in symbols, e.g. btc.
    pub query: Option<String>,
    /// Only markets quoted in this currency, e.g. USDT.
    #[arg(long, short)]
    pub quote: Option<String>,
    /// At most this many markets (1..500).
    #[arg(long, short, default_value_t = 50)]
    pub limit: u32,
}

#[derive(Debug, Args)]
pub struct FillArgs {
    /// Symbol, e.g. BTC/USDT.
    pub symbol: String,
    /// buy or sell.
    #[arg(value_parser = ["buy", "sell"])]
    pub side: String,
    /// Size in the base currency (with --notional: in the quote currency).
    pub amount: f64,
    /// AMOUNT is a notional in the quote currency (e.g. 10000 USDT).
    #[arg(long)]
    pub notional: bool,
    /// Walk the books of these exchanges, e.g. --exchanges binance,okx.
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    pub exchanges: Vec<String>,
}

#[derive(Debug, Args)]
pub struct MoversArgs {
    /// Rank by gainers, losers or volume.
    #[arg(long, default_value = "gainers", value_parser = ["gainers", "losers", "volume"])]
    pub by: String,
    /// Only markets quoted in this currency.
    #[arg(long, short, default_value = "USDT")]
    pub quote: String,
    /// Markets to show (1..100).
    #[arg(long, short, default_value_t = 10)]
    pub limit: u32,
    /// Least 24h quote volume a market needs.
    #[arg(long)]
    pub min_quote_volume: Option<f64>,
}

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// How much of FROM.
    pub amount: f64,
    /// Asset held, e.g. ETH.
    pub from: String,
    /// Asset wanted, e.g. BTC.
    pub to: String,
}
