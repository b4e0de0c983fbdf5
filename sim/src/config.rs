//! Simulator configuration, and the tiny TOML subset read by the binary's `--config FILE`.

use std::net::SocketAddr;

/// How the simulated exchange is built. Fault settings are separate ([`crate::Faults`]) because
/// they change at runtime.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// The exchange served: its paths, wire formats, errors and price skew.
    pub venue: crate::Venue,
    /// Seed of the price walk: same seed, same prices at the same wall time.
    pub seed: u64,
    /// Generated symbols `SIM0001USDT`.. appended to the fixture markets (BTCUSDT-shaped).
    pub extra_symbols: usize,
    /// `false`: the 4 markets of exchangeInfo_small.json; `true`: the real 1248-symbol list.
    pub full_markets: bool,
    /// Wall-time length of one walk step (prices change at most once per tick).
    pub tick_ms: u64,
    /// REQUEST_WEIGHT per minute before 429 (then 418 while still over).
    pub weight_limit: u32,
    /// Websocket `@ticker` / `@miniTicker` update period (Binance: 1000 ms). Changeable at
    /// runtime ([`crate::SimHandle::set_ws_intervals`]).
    pub ws_ticker_interval_ms: u64,
    /// How often websocket `@bookTicker` streams look at the book; a book is sent when it
    /// changed since the last one sent (Binance pushes changes in real time; the simulated book
    /// changes once per walk tick, so `tick_ms` or less sends every change).
    pub ws_book_ticker_interval_ms: u64,
    /// Websocket `@kline_<interval>` update period (Binance: 2000 ms; `kline_1s` streams use at
    /// most 1000 ms so no second is skipped).
    pub ws_kline_interval_ms: u64,
    /// The server pings every websocket connection this often (Binance: 20 s).
    pub ws_ping_interval_ms: u64,
    /// A connection whose oldest unanswered ping is older than this is dropped (Binance: 60 s).
    pub ws_pong_timeout_ms: u64,
    /// After a `serverShutdown` event, connections are closed this much later.
    pub ws_shutdown_grace_ms: u64,
    /// Walk steps between two sizes of one of the 20 best levels of a side (REST and websocket
    /// books alike): 5 changes ~8 levels a step, 2 ~20 (the issue 23 benchmark's load).
    pub book_resize_steps: u64,
    /// Levels a side the Binance diff depth streams cover (REST serves up to 5000): a client
    /// keeping a book from a snapshot this deep or less stays exact; fewer levels cost the
    /// simulator less per event (5,000 diff books a second in the books benchmark).
    pub ws_depth_levels: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            venue: crate::Venue::Binance,
            seed: 42,
            extra_symbols: 0,
            full_markets: false,
            tick_ms: 100,
            weight_limit: 6000,
            ws_ticker_interval_ms: 1000,
            ws_book_ticker_interval_ms: 1000,
            ws_kline_interval_ms: 2000,
            ws_ping_interval_ms: 20_000,
            ws_pong_timeout_ms: 60_000,
            ws_shutdown_grace_ms: 1000,
            book_resize_steps: 5,
            ws_depth_levels: 5000,
        }
    }
}

/// Values read from a config file; `None` = not set there.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FileConfig {
    pub addr: Option<SocketAddr>,
    /// `exchanges = "binance,okx"`: the binary's `--exchanges`.
    pub exchanges: Option<Vec<crate::Venue>>,
    pub seed: Option<u64>,
    pub extra_symbols: Option<usize>,
    pub full_markets: Option<bool>,
    pub tick_ms: Option<u64>,
    pub latency_ms: Option<u64>,
    pub jitter_ms: Option<u64>,
    pub error_rate: Option<f64>,
    pub weight_limit: Option<u32>,
    pub ws_ticker_interval_ms: Option<u64>,
    pub ws_book_ticker_interval_ms: Option<u64>,
    pub ws_kline_interval_ms: Option<u64>,
    pub ws_ping_interval_ms: Option<u64>,
    pub ws_pong_timeout_ms: Option<u64>,
    pub ws_shutdown_grace_ms: Option<u64>,
    pub book_resize_steps: Option<u64>,
    pub ws_depth_levels: Option<usize>,
}

impl FileConfig {
    /// Parses flat `key = value` lines (the CLI flag names, with `-` or `_`), `#` comments and
    /// optional `[table]` headers, which are ignored. Enough TOML for this file without a parser
    /// dependency; anything else is an error naming the line.
    pub fn parse(text: &str) -> Result<FileConfig, String> {
        let mut c = FileConfig::default();
        for (i, line) in text.lines().enumerate() {
            let line = strip_comment(line).trim();
            if line.is_empty() || (line.starts_with('[') && line.ends_with(']')) {
                continue;
            }
            let err = |m: &str| format!("config line {}: {m}", i + 1);
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| err("expected key = value"))?;
            let key = key.trim().trim_matches('"').replace('-', "_");
            let value = value.trim();
            let unquoted = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            let bad = || err(&format!("invalid value {value} for {key}"));
            match key.as_str() {
                "addr" => c.addr = Some(unquoted.parse().map_err(|_| bad())?),
                "exchanges" => {
                    let venues = unquoted
                        .split(',')
                        .map(|id| crate::Venue::from_id(id.trim()))
                        .collect::<Option<Vec<_>>>();
                    c.exchanges = Some(venues.ok_or_else(bad)?);
                }
                "seed" => c.seed = Some(unquoted.parse().map_err(|_| bad())?),
                "symbols" | "extra_symbols" => {
                    c.extra_symbols = Some(unquoted.parse().map_err(|_| bad())?)
                }
                "full_markets" => c.full_markets = Some(unquoted.parse().map_err(|_| bad())?),
                "tick_ms" => c.tick_ms = Some(unquoted.parse().map_err(|_| bad())?),
                "latency_ms" => c.latency_ms = Some(unquoted.parse().map_err(|_| bad())?),
                "jitter_ms" => c.jitter_ms = Some(unquoted.parse().map_err(|_| bad())?),
                "error_rate" => c.error_rate = Some(unquoted.parse().map_err(|_| bad())?),
                "weight_limit" => c.weight_limit = Some(unquoted.parse().map_err(|_| bad())?),
                "ws_ticker_interval_ms" => {
                    c.ws_ticker_interval_ms = Some(unquoted.parse().map_err(|_| bad())?)
                }
                "ws_book_ticker_interval_ms" => {
                    c.ws_book_ticker_interval_ms = Some(unquoted.parse().map_err(|_| bad())?)
                }
                "ws_kline_interval_ms" => {
                    c.ws_kline_interval_ms = Some(unquoted.parse().map_err(|_| bad())?)
                }
                "ws_ping_interval_ms" => {
                    c.ws_ping_interval_ms = Some(unquoted.parse().map_err(|_| bad())?)
                }
                "ws_pong_timeout_ms" => {
                    c.ws_pong_timeout_ms = Some(unquoted.parse().map_err(|_| bad())?)
                }
                "ws_shutdown_grace_ms" => {
                    c.ws_shutdown_grace_ms = Some(unquoted.parse().map_err(|_| bad())?)
                }
                "book_resize_steps" => {
                    c.book_resize_steps = Some(unquoted.parse().map_err(|_| bad())?)
                }
                "ws_depth_levels" => c.ws_depth_levels = Some(unquoted.parse().map_err(|_| bad())?),
                _ => return Err(err(&format!("unknown key {key}"))),
            }
        }
        Ok(c)
    }
}

fn strip_comment(line: &str) -> &str {
    let mut in_string = false;
    for (i, ch) in line.char_indices() {
        match ch {
            '"' => in_string = !in_string,
            '#' if !in_string => return &line[..i],
            _ => {}
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = SimConfig::default();
        assert_eq!((c.seed, c.extra_symbols, c.full_markets), (42, 0, false));
        assert_eq!((c.tick_ms, c.weight_limit), (100, 6000));
        assert_eq!(
            (
                c.ws_ticker_interval_ms,
                c.ws_book_ticker_interval_ms,
                c.ws_kline_interval_ms
            ),
            (1000, 1000, 2000)
        );
        assert_eq!(
            (
                c.ws_ping_interval_ms,
                c.ws_pong_timeout_ms,
                c.ws_shutdown_grace_ms
            ),
            (20_000, 60_000, 1000)
        );
        assert_eq!((c.book_resize_steps, c.ws_depth_levels), (5, 5000));
    }

    #[test]
    fn parses_file() {
        let c = FileConfig::parse(
            "# sim\n[sim]\naddr = \"127.0.0.1:9100\"\nexchanges = \"okx, kraken\"\nseed = 7 # comment\nsymbols = 20\n\
             full-markets = true\ntick_ms = 50\nlatency_ms = 5\njitter_ms = 2\nerror_rate = 0.25\n\
             weight_limit = 1200\nws-ticker-interval-ms = 100\nws_book_ticker_interval_ms = 50\n\
             ws_kline_interval_ms = 500\nws_ping_interval_ms = 300\nws_pong_timeout_ms = 900\n\
             ws_shutdown_grace_ms = 10\nbook-resize-steps = 2\nws_depth_levels = 1000\n",
        )
        .unwrap();
        assert_eq!(c.addr, Some("127.0.0.1:9100".parse().unwrap()));
        assert_eq!(
            c.exchanges,
            Some(vec![crate::Venue::Okx, crate::Venue::Kraken])
        );
        assert_eq!(c.seed, Some(7));
        assert_eq!(c.extra_symbols, Some(20));
        assert_eq!(c.full_markets, Some(true));
        assert_eq!(c.tick_ms, Some(50));
        assert_eq!((c.latency_ms, c.jitter_ms), (Some(5), Some(2)));
        assert_eq!(c.error_rate, Some(0.25));
        assert_eq!(c.weight_limit, Some(1200));
        assert_eq!(
            (
                c.ws_ticker_interval_ms,
                c.ws_book_ticker_interval_ms,
                c.ws_kline_interval_ms
            ),
            (Some(100), Some(50), Some(500))
        );
        assert_eq!(
            (
                c.ws_ping_interval_ms,
                c.ws_pong_timeout_ms,
                c.ws_shutdown_grace_ms
            ),
            (Some(300), Some(900), Some(10))
        );
        assert_eq!(
            (c.book_resize_steps, c.ws_depth_levels),
            (Some(2), Some(1000))
        );
    }

    #[test]
    fn rejects_bad_lines() {
        assert!(FileConfig::parse("seed = x")
            .unwrap_err()
            .contains("line 1"));
        assert!(FileConfig::parse("\nnope = 1")
            .unwrap_err()
            .contains("unknown key nope"));
        assert!(FileConfig::parse("seed").is_err());
        assert!(FileConfig::parse("exchanges = \"okx,ftx\"").is_err());
    }
}
