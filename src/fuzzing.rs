//! Entry points of the fuzz targets (`fuzz/`, `cargo +nightly fuzz`) and of their regression
//! tests (`tests/fuzz_regressions.rs`, plain `cargo test`): each one feeds untrusted input
//! through the parsing and validation production runs on it, and checks what it gets back.
//! A panic here is a finding, either in the code under test or in an invariant stated below.
//! Not a supported API: hidden from the docs, kept only for the fuzz crate and the tests.

use std::path::PathBuf;

use crypto_market_actors::model::{Market, MarketIndex, Timeframe};
use crypto_market_actors::ErrorCode;
use serde_json::{Map, Value};

use crate::config::{self, CommonArgs, ConfigError, ServerConfig, ENV_NAMES};
use crate::tools::args::{self, parse};
use crate::tools::{compare, status, Tool, ToolError};
use crate::worker::request::{self, Malformed, MalformedKind, Request};

/// The tool arguments target's input: `<tool name>\n<JSON arguments>`. Arguments that are not
/// a JSON object (or empty, or `null`: no arguments) are not something either front delivers
/// (MCP and the Redis request parser both insist on an object), so they are skipped (`None`).
pub fn tool_input(data: &[u8]) -> Option<(String, Option<Map<String, Value>>)> {
    let (name, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let name = std::str::from_utf8(name).ok()?.to_owned();
    if rest.iter().all(u8::is_ascii_whitespace) {
        return Some((name, None));
    }
    match serde_json::from_slice::<Value>(rest).ok()? {
        Value::Null => Some((name, None)),
        Value::Object(arguments) => Some((name, Some(arguments))),
        _ => None,
    }
}

/// Markets the symbol checks resolve against: a spot and a swap of one pair, plus neighbours
/// close enough to be suggested.
fn market_index() -> &'static MarketIndex {
    static INDEX: std::sync::OnceLock<MarketIndex> = std::sync::OnceLock::new();
    INDEX.get_or_init(|| {
        let market = |symbol: &str, id: &str, market_type: &str| {
            let (base, quote) = symbol.split_once('/').unwrap_or((symbol, ""));
            let quote = quote.split(':').next().unwrap_or(quote);
            Market {
                symbol: symbol.to_owned(),
                base: base.to_owned(),
                quote: quote.to_owned(),
                market_type: market_type.to_owned(),
                active: true,
                id: id.to_owned(),
                terms: Default::default(),
            }
        };
        MarketIndex::new(vec![
            market("BTC/USDT", "BTCUSDT", "spot"),
            market("ETH/USDT", "ETHUSDT", "spot"),
            market("ETH/BTC", "ETHBTC", "spot"),
            market("BTC/USDT:USDT", "BTC-USDT-SWAP", "swap"),
            market("1000SATS/USDT", "1000SATSUSDT", "spot"),
        ])
    })
}

/// Binance's candle intervals, as ccxt describes them: what `timeframe` is checked against.
const TIMEFRAMES: &[&str] = &[
    "1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w",
    "1M",
];

/// What a symbol argument goes through before the exchange is asked: resolution against the
/// markets (with suggestions when unlisted).
fn check_symbol(symbol: &str) -> Result<(), ToolError> {
    match market_index().resolve(symbol) {
        Ok(market) => {
            assert!(!market.symbol.is_empty(), "resolved to an empty market");
            Ok(())
        }
        Err(lookup) => Err(ToolError::new(
            ErrorCode::InvalidSymbol,
            format!("{symbol:?}: {lookup:?}"),
        )),
    }
}

/// One tool call's arguments through every check that needs no exchange: the arguments
/// struct (`tools::args::parse`, as `ToolService::dispatch` does), then the bounds, times,
/// timeframes, lists and symbols each tool checks before calling the engine. Mirrors
/// `ToolService`'s tool methods: a check added there belongs here too.
pub fn tool_arguments(name: &str, arguments: Option<Map<String, Value>>) -> Result<(), ToolError> {
    let Some(spec) = Tool::named(name) else {
        return Err(ToolError::new(ErrorCode::UnknownTool, name));
    };
    let result = match spec.tool {
        Tool::GetTicker => {
            let a: args::TickerArgs = parse(arguments)?;
            check_symbol(&a.symbol)
        }
        Tool::GetTickers => {
            let a: args::TickersArgs = parse(arguments)?;
            args::TICKER_SYMBOLS.check_count(a.symbols.len())?;
            // Each symbol fails on its own (listed under `errors`): the call still answers.
            for symbol in &a.symbols {
                let _ = check_symbol(symbol);
            }
            Ok(())
        }
        Tool::GetOhlcv => {
            let a: args::OhlcvArgs = parse(arguments)?;
            let supported: Vec<String> = TIMEFRAMES.iter().map(|t| (*t).to_owned()).collect();
            let name = a.timeframe.as_deref().map(str::trim).unwrap_or("1h");
            Timeframe::parse(name, &supported)
                .ok_or_else(|| ToolError::invalid_argument("timeframe"))?;
            args::OHLCV_LIMIT.check(a.limit)?;
            for time in [&a.since, &a.until].into_iter().flatten() {
                let ms = time.to_millis()?;
                assert!(ms >= 0, "time {ms} accepted before 1970");
            }
            check_symbol(&a.symbol)
        }
        Tool::GetIndicators => {
            let a: crate::tools::indicators::IndicatorsArgs = parse(arguments)?;
            let indicators = a.indicators.parse()?;
            assert!((1..=10).contains(&indicators.len()));
            args::INDICATOR_ROWS.check(a.limit)?;
            check_symbol(&a.symbol)
        }
        Tool::GetOrderBook => {
            let a: args::OrderBookArgs = parse(arguments)?;
            args::BOOK_DEPTH.check(a.limit)?;
            check_symbol(&a.symbol)
        }
        Tool::GetTrades => {
            let a: args::TradesArgs = parse(arguments)?;
            args::TRADES_LIMIT.check(a.limit)?;
            if let Some(since) = &a.since {
                since.to_millis()?;
            }
            check_symbol(&a.symbol)
        }
        Tool::ListMarkets => {
            let a: args::ListMarketsArgs = parse(arguments)?;
            let limit = args::MARKETS_LIMIT.check(a.limit)? as usize;
            let offset = args::MARKETS_OFFSET.check(a.offset)? as usize;
            let found = market_index()
                .search(a.query.as_deref(), a.quote.as_deref())
                .skip(offset)
                .take(limit)
                .count();
            assert!(found <= limit);
            Ok(())
        }
        Tool::StreamTicker => {
            let a: args::StreamTickerArgs = parse(arguments)?;
            let limits = a.limits()?;
            let seconds = limits.duration.as_secs();
            assert!(
                (1..=u64::from(args::STREAM_SECONDS.max)).contains(&seconds),
                "a stream of {seconds} s accepted"
            );
            check_symbol(&a.symbol)
        }
        Tool::ComparePrices => {
            let a: compare::CompareArgs = parse(arguments)?;
            if let Some(list) = a.exchanges()? {
                assert!((1..=compare::MAX_EXCHANGES).contains(&list.len()));
            }
            check_symbol(&a.symbol)
        }
        Tool::ExchangeStatus => parse::<status::StatusArgs>(arguments).map(|_| ()),
        Tool::GetFundingRate | Tool::GetOpenInterest => {
            let a: crate::tools::derivatives::FundingRateArgs = parse(arguments)?;
            check_symbol(&a.symbol)
        }
        Tool::GetFundingHistory => {
            let a: crate::tools::derivatives::FundingHistoryArgs = parse(arguments)?;
            args::FUNDING_HISTORY_LIMIT.check(a.limit)?;
            check_symbol(&a.symbol)
        }
        Tool::CompareFunding => {
            let a: crate::tools::derivatives::CompareFundingArgs = parse(arguments)?;
            if let Some(list) = &a.exchanges {
                args::COMPARED_EXCHANGES.check_count(list.len())?;
            }
            check_symbol(&a.symbol)
        }
        Tool::EstimateFill => {
            let a: crate::tools::fill::EstimateFillArgs = parse(arguments)?;
            a.order()?;
            check_symbol(&a.symbol)
        }
        Tool::TopMovers => parse::<crate::tools::movers::TopMoversArgs>(arguments).and_then(|a| {
            crate::tools::movers::MOVERS_LIMIT
                .check(a.limit)
                .map(|_| ())
        }),
        Tool::Convert => parse::<crate::tools::convert::ConvertArgs>(arguments).map(|_| ()),
        Tool::WatchSubscribe => {
            let a: crate::tools::watch::WatchSubscribeArgs = parse(arguments)?;
            crate::tools::watch::WATCH_SECONDS.check(a.duration_s)?;
            check_symbol(&a.symbol)
        }
        Tool::WatchRead => {
            let a: crate::tools::watch::WatchReadArgs = parse(arguments)?;
            crate::tools::watch::WAIT_MS.check(a.wait_ms)?;
            crate::tools::watch::MAX_ITEMS.check(a.max_items)?;
            Ok(())
        }
        Tool::WatchUnsubscribe => {
            let _: crate::tools::watch::WatchUnsubscribeArgs = parse(arguments)?;
            Ok(())
        }
    };
    if let Err(error) = &result {
        // Whatever the client sent is answered with a code of its own, never `internal`.
        assert!(
            matches!(
                error.code,
                ErrorCode::InvalidArgument | ErrorCode::InvalidSymbol
            ),
            "{name}: {error:?}"
        );
        assert!(
            !error.message.is_empty(),
            "{name}: an error without a message"
        );
    }
    result
}

/// The worker requests target: one stream entry's payload through `worker::request::parse`,
/// then its tool arguments through [`tool_arguments`] (what the worker does next).
pub fn worker_request(payload: &[u8]) -> Result<Request, Malformed> {
    let parsed = request::parse(payload);
    let chars = |s: &str| s.chars().count();
    match &parsed {
        Ok(request) => {
            assert!(payload.len() <= request::MAX_REQUEST_BYTES);
            assert!((1..=128).contains(&chars(&request.request_id)));
            assert!(!request.tool.is_empty());
            if let Some(reply_to) = &request.reply_to {
                assert!(
                    (1..=256).contains(&chars(reply_to)),
                    "reply_to {reply_to:?}"
                );
            }
            if let Some(client_id) = &request.client_id {
                assert!((1..=128).contains(&chars(client_id)));
            }
            reply_destination(request);
            let _ = tool_arguments(&request.tool, request.args.clone());
        }
        Err(malformed) => {
            assert!(!malformed.message.is_empty());
            // Someone to answer only when the request named itself properly.
            if let Some(id) = &malformed.request_id {
                assert!((1..=128).contains(&chars(id)), "answering {id:?}");
            }
            if let Some(reply_to) = &malformed.reply_to {
                assert!(
                    malformed.request_id.is_some(),
                    "a reply_to without a request_id"
                );
                assert!(
                    (1..=256).contains(&chars(reply_to)),
                    "reply_to {reply_to:?}"
                );
            }
            match malformed.kind {
                MalformedKind::NotJson | MalformedKind::NotObject | MalformedKind::NoRequestId => {
                    assert_eq!(malformed.request_id, None)
                }
                MalformedKind::BadField => assert!(malformed.request_id.is_some()),
                MalformedKind::TooLarge => {
                    assert!(payload.len() > request::MAX_REQUEST_BYTES)
                }
                MalformedKind::NoPayload => {}
            }
        }
    }
    parsed
}

/// Where a worker would publish the reply (SPEC.md section 9), as if the request's
/// `client_id` were its key's client: never outside `RESPONSE_CHANNEL`, never outside the
/// client's own channel.
fn reply_destination(request: &Request) {
    const RESPONSES: &str = "crypto_mcp:responses";
    let under =
        |channel: &str, root: &str| channel == root || channel.starts_with(&format!("{root}:"));
    for client in [None, request.client_id.as_deref()] {
        if let Ok(channel) =
            crate::worker::route::destination(RESPONSES, request.reply_to.as_deref(), client)
        {
            assert!(under(channel, RESPONSES), "a reply on {channel:?}");
            if let Some(client) = client {
                let own = format!("{RESPONSES}:{client}");
                assert!(under(channel, &own), "{client}'s reply on {channel:?}");
            }
        }
    }
}

/// The settings loader target's input, as text in sections: the `--config` file's TOML first,
/// then optionally `--- env` (`NAME=value` lines: the environment), `--- set` (`key=value`
/// lines: `--set` flags) and `--- api_keys` (the `API_KEYS_FILE` contents).
#[derive(Debug, Default, PartialEq)]
pub struct SettingsInput {
    pub file: String,
    pub env: Vec<(String, String)>,
    pub set: Vec<String>,
    pub api_keys: Option<String>,
}

impl SettingsInput {
    pub fn parse(data: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(data).ok()?;
        let mut input = Self::default();
        let mut section = "file";
        for line in text.split_inclusive('\n') {
            if let Some(name) = line.strip_prefix("--- ") {
                section = match name.trim() {
                    "env" => "env",
                    "set" => "set",
                    "api_keys" => {
                        input.api_keys.get_or_insert_with(String::new);
                        "api_keys"
                    }
                    _ => section,
                };
                continue;
            }
            match section {
                "file" => input.file.push_str(line),
                "env" => {
                    let line = line.trim_end_matches(['\n', '\r']);
                    let (k, v) = line.split_once('=').unwrap_or((line, ""));
                    input.env.push((k.to_owned(), v.to_owned()));
                }
                "set" => input
                    .set
                    .push(line.trim_end_matches(['\n', '\r']).to_owned()),
                _ => input
                    .api_keys
                    .get_or_insert_with(String::new)
                    .push_str(line),
            }
        }
        Some(input)
    }
}

/// A file of this process and thread under the temporary directory (fuzzers run targets in
/// parallel processes; tests in parallel threads).
fn scratch_file(name: &str) -> PathBuf {
    let thread = format!("{:?}", std::thread::current().id());
    let thread: String = thread.chars().filter(char::is_ascii_digit).collect();
    std::env::temp_dir().join(format!("cmm-fuzz-{}-{thread}-{name}", std::process::id()))
}

/// The settings loader target: `config::load` with the input's file, environment and flags,
/// then what a binary does with loaded settings before serving.
pub fn settings(input: &SettingsInput) -> Result<ServerConfig, ConfigError> {
    let file = scratch_file("settings.toml");
    std::fs::write(&file, &input.file).map_err(|e| ConfigError::new("--config", e.to_string()))?;
    let mut env: Vec<(String, String)> = input.env.clone();
    if let Some(keys) = &input.api_keys {
        let path = scratch_file("keys.toml");
        std::fs::write(&path, keys).map_err(|e| ConfigError::new("keys", e.to_string()))?;
        env.retain(|(k, _)| k != "API_KEYS_FILE");
        env.push(("API_KEYS_FILE".into(), path.display().to_string()));
    }
    let args = CommonArgs {
        config: Some(file),
        set: input.set.clone(),
        ..CommonArgs::default()
    };
    let loaded = config::load(&args, |name| {
        env.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    });
    match &loaded {
        Ok(config) => {
            // A binary's next steps: the engine's settings, the Redis target, the keys.
            let engine = config.engine_config();
            assert!(!engine.venues.is_empty());
            assert!(engine
                .venues
                .iter()
                .any(|v| v.id == engine.default_exchange));
            let _ = config.redis_target();
            let _ = config.pubsub_client(None);
            let keys = config.api_keys();
            assert!(keys.is_ok(), "validated keys fail later: {keys:?}");
        }
        Err(error) => {
            // One line naming a setting: what the binaries print before exiting 2.
            let line = error.to_string();
            assert!(!error.key.is_empty(), "{line}");
            if let Some(env) = error.env {
                assert!(ENV_NAMES.contains(&env), "{line}");
            }
        }
    }
    loaded
}
