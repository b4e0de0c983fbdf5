//! `crypto-market`, the command line for people: the real binary (which starts the real
//! `crypto-market-mcp` as its child) against the in-process simulator, output captured (so not
//! a TTY: plain ASCII, no colours); and its renderers on known data.

mod common;

use common::cli::{
    chat, fast_sim, now_ms, parse_num, row, run, sim_args, spawn_in_pty, watched,
    without_freshness, Run,
};
use common::{ok, simulator};
use crypto_market_mcp::cli::render::chart::{self, Candle};
use crypto_market_mcp::cli::render::{self, ladder, Look};
use crypto_market_sim::SimHandle;
use serde_json::{json, Value};

/// The CLI with `args`, its own embedded server pointed at `sim`.
async fn cli(sim: &SimHandle, args: &[&str]) -> Run {
    let mut all = vec![
        "--rest-url".to_owned(),
        sim.rest_url(),
        "--ws-url".to_owned(),
        sim.ws_url(),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    run(&all, &[]).await
}

/// [`cli`] with extra environment for the embedded server (e.g. more exchanges).
async fn run_with_env(sim: &SimHandle, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut all = vec!["--rest-url".to_owned(), sim.rest_url()];
    all.extend(args.iter().map(|a| a.to_string()));
    run(&all, env).await
}

/// Closed hourly candles: the same whoever asks and when.
fn closed_hours_since() -> String {
    ((now_ms() / 3_600_000 - 10) * 3_600_000).to_string()
}

#[tokio::test]
async fn ticker_table_prints_the_simulators_last_price_with_thousands_separators() {
    let sim = simulator();
    let start = now_ms();
    let out = cli(&sim, &["ticker", "BTC/USDT"]).await.success();
    let end = now_ms();
    let cells = row(&out.stdout, "BTC/USDT");
    let header = row(&out.stdout, "symbol");
    assert_eq!(
        header,
        [
            "symbol",
            "exchange",
            "last",
            "bid",
            "ask",
            "change 24h",
            "volume 24h",
            "source",
            "age",
            "stale"
        ]
    );
    let last = cells[2];
    assert!(last.contains(','), "thousands separators: {last}");
    // The simulator's walk price at some moment of the call, as the CLI formats prices.
    assert!(
        (start.saturating_sub(1000)..=end).any(|t| sim
            .price_at("BTCUSDT", t)
            .map(render::num)
            .as_deref()
            == Some(last)),
        "{last} is the simulator's BTCUSDT price during the call"
    );
    assert_eq!(cells[1], "binance");
    assert_eq!(cells[7], "exchange", "source");
    assert!(
        cells[8].ends_with("ms") || cells[8].ends_with(" s"),
        "age: {}",
        cells[8]
    );
    assert_eq!(cells[9], "no", "not stale");
}

#[tokio::test]
async fn ticker_json_is_the_tools_structured_result() {
    let sim = simulator();
    let printed = cli(&sim, &["--json", "ticker", "btc-usdt"])
        .await
        .success()
        .json();
    let server = common::start_server(&sim, &[]).await;
    let direct = ok(&server
        .call("get_ticker", json!({"symbol": "btc-usdt"}))
        .await)
    .clone();
    let keys = |v: &Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&printed),
        keys(&direct),
        "the same fields as the tool's result"
    );
    assert_eq!(printed["symbol"], "BTC/USDT");
    assert_eq!(printed["symbol"], direct["symbol"]);
    assert_eq!(printed["exchange"], direct["exchange"]);
    let at = printed["timestamp"].as_u64().expect("timestamp");
    assert_eq!(printed["last"].as_f64(), sim.price_at("BTCUSDT", at));
    assert_eq!(printed["price"], printed["last"]);
}

#[tokio::test]
async fn several_tickers_are_one_table() {
    let sim = simulator();
    let out = cli(&sim, &["ticker", "BTC/USDT", "ETHUSDT"])
        .await
        .success();
    for symbol in ["BTC/USDT", "ETH/USDT"] {
        let last = parse_num(row(&out.stdout, symbol)[2]);
        let now = sim.current_price(&symbol.replace('/', "")).expect("listed");
        assert!((last - now).abs() / now < 0.01, "{symbol}: {last} vs {now}");
    }
}

#[tokio::test]
async fn an_unlisted_symbol_exits_1_with_the_code_and_the_suggestion_on_one_line() {
    let sim = simulator();
    let out = cli(&sim, &["ticker", "BTC/USDX"]).await;
    let line = out.one_error_line(1);
    assert!(line.starts_with("error: invalid_symbol: "), "{line}");
    assert!(line.contains("BTC/USDT"), "suggests BTC/USDT: {line}");
    // --json too: errors are never on stdout.
    let out = cli(&sim, &["--json", "book", "BTC/USDX"]).await;
    assert!(out.one_error_line(1).contains("invalid_symbol"));
    // A tool's invalid_argument is a tool error too.
    let out = cli(&sim, &["ohlcv", "BTC/USDT", "--timeframe", "7x"]).await;
    assert!(
        out.one_error_line(1).contains("invalid_argument"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn a_bad_command_line_exits_2() {
    let sim = simulator();
    for args in [
        &["ticker", "--bogus"][..],
        &["ticker"],
        &["book", "BTC/USDT", "--limit", "many"],
        &["frobnicate"],
    ] {
        let out = cli(&sim, args).await;
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty());
    }
    let out = cli(&sim, &["--mcp-url", "not a url", "status"]).await;
    assert!(out.one_error_line(2).contains("--mcp-url"));
    for sub in ["ticker", "ohlcv", "book", "trades", "markets", "status"] {
        let out = run(&[sub.to_owned(), "--help".to_owned()], &[]).await;
        assert_eq!(out.code, 0, "{sub} --help");
        assert!(out.stdout.contains("Usage: crypto-market"), "{sub} --help");
    }
}

#[tokio::test]
async fn ohlcv_draws_an_ascii_chart_above_the_table_of_the_tools_candles() {
    let sim = simulator();
    let since = closed_hours_since();
    let args = [
        "ohlcv",
        "BTC/USDT",
        "--timeframe",
        "1h",
        "--limit",
        "5",
        "--since",
        &since,
    ];
    let printed = {
        let mut a = vec!["--json"];
        a.extend(args);
        cli(&sim, &a).await.success().json()
    };
    let server = common::start_server(&sim, &[]).await;
    let direct = ok(&server
        .call(
            "get_ohlcv",
            json!({"symbol": "BTC/USDT", "timeframe": "1h", "limit": 5, "since": since.parse::<u64>().unwrap()}),
        )
        .await)
    .clone();
    assert_eq!(
        without_freshness(printed.clone()),
        without_freshness(direct)
    );
    let candles = printed["candles"].as_array().expect("candles");
    assert_eq!(candles.len(), 5);

    let out = cli(&sim, &args).await.success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    // The title line, the chart, a blank line, the table.
    let blank = lines
        .iter()
        .position(|l| l.is_empty())
        .expect("chart, then table");
    let chart = &lines[1..blank];
    assert!(lines[blank + 1..].iter().any(|l| l.contains("time (UTC)")));
    assert!(
        chart.iter().any(|l| l.contains('#')),
        "candle bodies:\n{}",
        out.stdout
    );
    let high = candles
        .iter()
        .map(|c| c[2].as_f64().unwrap())
        .fold(f64::MIN, f64::max);
    let low = candles
        .iter()
        .map(|c| c[3].as_f64().unwrap())
        .fold(f64::MAX, f64::min);
    assert!(
        chart[0].trim_start().starts_with(&render::group(high, 2)),
        "top label is the high: {}",
        chart[0]
    );
    let bottom = chart.last().unwrap();
    assert!(
        bottom.trim_start().starts_with(&render::group(low, 2)),
        "bottom label is the low: {bottom}"
    );
    for c in candles {
        let time = render::time(c[0].as_i64().unwrap(), false);
        let cells = row(&out.stdout, &time);
        let fields: Vec<String> = (1..=5)
            .map(|i| render::num(c[i].as_f64().unwrap()))
            .collect();
        assert_eq!(cells[1..], fields[..], "candle {time}");
    }
}

#[tokio::test]
async fn book_draws_a_ladder_of_the_simulators_book() {
    let sim = simulator();
    let printed = cli(&sim, &["--json", "book", "BTC/USDT", "--limit", "5"])
        .await
        .success()
        .json();
    for key in ["exchange", "symbol", "bids", "asks", "timestamp", "nonce"] {
        assert!(printed.get(key).is_some(), "--json has {key}: {printed}");
    }
    assert_eq!(printed["bids"].as_array().unwrap().len(), 5);

    let out = cli(&sim, &["book", "BTC/USDT", "--limit", "5"])
        .await
        .success();
    let now = sim.current_price("BTCUSDT").unwrap();
    let side_prices = |side: &str| -> Vec<f64> {
        out.stdout
            .lines()
            .filter(|l| l.trim_start().starts_with(side))
            .map(|l| parse_num(l.trim_start()[3..].split('|').next().unwrap().trim()))
            .collect()
    };
    let (asks, bids) = (side_prices("ask"), side_prices("bid"));
    assert_eq!((asks.len(), bids.len()), (5, 5), "{}", out.stdout);
    assert!(
        asks.windows(2).all(|w| w[0] > w[1]),
        "asks from the farthest down to the best"
    );
    assert!(
        bids.windows(2).all(|w| w[0] > w[1]),
        "bids from the best down"
    );
    assert!(asks[4] > bids[0], "the spread between them");
    assert!(
        (bids[0] - now).abs() / now < 0.01,
        "the simulator's price: {} vs {now}",
        bids[0]
    );
    assert!(out.stdout.contains("spread"));
}

#[tokio::test]
async fn trades_are_the_simulators() {
    let sim = simulator();
    let printed = cli(&sim, &["--json", "trades", "ETH/USDT", "--limit", "3"])
        .await
        .success()
        .json();
    let trades = printed["trades"].as_array().expect("trades");
    assert_eq!(trades.len(), 3);
    for key in ["id", "timestamp", "side", "price", "amount"] {
        assert!(trades[0].get(key).is_some(), "{key}");
    }
    let out = cli(&sim, &["trades", "ETH/USDT", "--limit", "3"])
        .await
        .success();
    let now = sim.current_price("ETHUSDT").unwrap();
    let rows: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.contains("| buy ") || l.contains("| sell "))
        .collect();
    assert_eq!(rows.len(), 3, "{}", out.stdout);
    for r in rows {
        let cells: Vec<&str> = r.split('|').map(str::trim).collect();
        let price = parse_num(cells[3]);
        assert!((price - now).abs() / now < 0.01, "{price} vs {now}");
        assert!(cells[3].contains(','), "thousands separators: {}", cells[3]);
    }
}

#[tokio::test]
async fn markets_json_equals_the_tools_result_and_the_table_lists_them() {
    let sim = simulator();
    let printed = cli(&sim, &["--json", "markets", "btc"])
        .await
        .success()
        .json();
    let server = common::start_server(&sim, &[]).await;
    let direct = ok(&server.call("list_markets", json!({"query": "btc"})).await).clone();
    assert_eq!(without_freshness(printed), without_freshness(direct));

    let out = cli(&sim, &["markets", "--quote", "USDT"]).await.success();
    assert_eq!(
        row(&out.stdout, "BTC/USDT"),
        ["BTC/USDT", "BTC", "USDT", "spot", "yes"]
    );
    assert!(
        out.stdout.contains("4 of 4 markets on binance"),
        "{}",
        out.stdout
    );
}

#[tokio::test]
async fn status_shows_whether_each_exchange_answers() {
    let sim = simulator();
    // A fresh embedded server has not called the exchange: status asks it for its markets.
    let v = cli(&sim, &["--json", "status"]).await.success().json();
    let binance = &v["exchanges"][0];
    assert_eq!(binance["id"], "binance");
    assert_eq!(binance["circuit"], "closed");
    assert_eq!(binance["markets"], 4, "{v}");
    assert_eq!(
        (binance["calls_1m"].as_u64(), binance["errors_1m"].as_u64()),
        (Some(1), Some(0))
    );
    let out = cli(&sim, &["status"]).await.success();
    assert!(
        out.stdout.starts_with("crypto-market-mcp "),
        "{}",
        out.stdout
    );
    let line = row(&out.stdout, "binance");
    assert_eq!(line[1], "closed", "{line:?}");

    // An exchange that fails: the table says so, with its last error.
    sim.set_faults(crypto_market_sim::Faults {
        force_status: Some(503),
        ..Default::default()
    });
    let out = cli(&sim, &["status"]).await.success();
    let line = row(&out.stdout, "binance");
    assert_eq!((line[3], line[4]), ("1", "1"), "{line:?}");
    // Client instances held of the most (issue 25): the one that made the failed call, of 8
    // per side (spot, and Binance's USDⓈ-M side under the default MARKET_TYPES).
    assert_eq!(line[8], "1/16", "{line:?}");
    assert!(line[10].starts_with("exchange_unavailable"), "{line:?}");
}

#[tokio::test]
async fn compare_shows_every_venue_and_the_best_prices() {
    let venues = crypto_market_sim::Simulator::start_venues(crypto_market_sim::SimConfig {
        tick_ms: 3_600_000,
        ..Default::default()
    })
    .unwrap();
    let env = [
        ("EXCHANGES", "binance,okx,bybit,kraken,coinbase".to_owned()),
        (
            "EXCHANGE_REST_URLS",
            crypto_market_sim::rest_urls(&venues[1..]),
        ),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = run_with_env(&venues[0], &["compare", "BTC/USDT"], &env)
        .await
        .success();
    for venue in ["binance", "okx", "bybit", "kraken", "coinbase"] {
        assert_eq!(row(&out.stdout, venue)[0], venue, "{}", out.stdout);
    }
    assert!(
        out.stdout.contains("best bid ") && out.stdout.contains(" bps"),
        "{}",
        out.stdout
    );
    let v = run_with_env(
        &venues[0],
        &["--json", "compare", "BTC/USDT", "--exchanges", "okx,kraken"],
        &env,
    )
    .await
    .success()
    .json();
    let ids: Vec<&str> = v["quotes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["exchange"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["okx", "kraken"]);
}

#[tokio::test]
async fn a_remote_server_over_streamable_http_gives_the_same_output() {
    let sim = simulator();
    let (_server, addr) = common::start_http_server(&sim, &[("MCP_AUTH_TOKEN", "s3cret")]).await;
    let url = format!("http://{addr}/mcp");
    let since = closed_hours_since();
    let ohlcv = ["ohlcv", "BTC/USDT", "--limit", "6", "--since", &since];
    let remote_args = |extra: &[&str]| -> Vec<String> {
        ["--mcp-url", &url, "--token", "s3cret"]
            .iter()
            .chain(extra)
            .map(|s| s.to_string())
            .collect()
    };
    let remote = run(&remote_args(&ohlcv), &[]).await.success();
    let embedded = cli(&sim, &ohlcv).await.success();
    // All but the freshness line (its age differs).
    let body = |s: &str| {
        s.lines()
            .filter(|l| !l.starts_with("source:"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(body(&remote.stdout), body(&embedded.stdout));

    let remote = run(&remote_args(&["--json", "markets"]), &[])
        .await
        .success()
        .json();
    let embedded = cli(&sim, &["--json", "markets"]).await.success().json();
    assert_eq!(without_freshness(remote), without_freshness(embedded));

    // The remote server's view of its exchanges.
    let status = run(&remote_args(&["--json", "status"]), &[])
        .await
        .success()
        .json();
    assert_eq!(status["exchanges"][0]["id"], "binance", "{status}");
    let status = run(&remote_args(&["status"]), &[]).await.success();
    assert!(status.stdout.contains(&url), "{}", status.stdout);

    // The token from the environment; a wrong one is refused with one line.
    let out = run(&remote_args(&["ticker", "BTC/USDT"])[..2], &[]).await;
    assert_eq!(out.code, 2, "no subcommand");
    let args: Vec<String> = ["--mcp-url", &url, "ticker", "BTC/USDT"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let env_token = run(&args, &[("MCP_AUTH_TOKEN", "s3cret")]).await.success();
    assert!(row(&env_token.stdout, "BTC/USDT")[2].contains(','));
    let denied = run(&args, &[("MCP_AUTH_TOKEN", "wrong")]).await;
    assert!(
        denied.one_error_line(1).starts_with("error: "),
        "{}",
        denied.stderr
    );
}

// ---- renderers on known data ----

fn candle(ts: i64, open: f64, high: f64, low: f64, close: f64) -> Candle {
    Candle {
        ts,
        open,
        high,
        low,
        close,
        volume: 1.0,
    }
}

/// Column of candle `i` in a chart line (after the axis).
fn glyph(line: &str, axis_at: usize, i: usize) -> char {
    line.chars().nth(axis_at + 1 + i).unwrap_or(' ')
}

#[test]
fn the_chart_puts_the_highest_high_on_the_top_row_and_the_lowest_low_on_the_bottom_row() {
    let candles = [
        candle(0, 100.0, 105.0, 98.0, 104.0),
        candle(1, 104.0, 120.0, 103.0, 118.0), // the highest high
        candle(2, 118.0, 118.0, 110.0, 111.0),
        candle(3, 111.0, 112.0, 90.0, 95.0), // the lowest low
        candle(4, 95.0, 101.0, 94.0, 100.0),
    ];
    let lines = chart::candles(&candles, 12, 80, Look::PLAIN);
    assert_eq!(lines.len(), 12);
    assert!(
        lines.iter().all(|l| l.is_ascii()),
        "ASCII:\n{}",
        lines.join("\n")
    );
    let axis_at = lines[0].find('+').expect("a labelled axis");
    assert!(lines[0].trim_start().starts_with("120.00"), "{}", lines[0]);
    assert!(lines[11].trim_start().starts_with("90.00"), "{}", lines[11]);
    let marked = |line: &str| -> Vec<usize> {
        (0..candles.len())
            .filter(|&i| glyph(line, axis_at, i) != ' ')
            .collect()
    };
    assert_eq!(
        marked(&lines[0]),
        [1],
        "only the highest high reaches the top row"
    );
    assert_eq!(
        marked(&lines[11]),
        [3],
        "only the lowest low reaches the bottom row"
    );
    assert_eq!(
        glyph(&lines[0], axis_at, 1),
        '|',
        "a wick above the body (close 118 < high 120)"
    );
    // Candle 3's body (111 → 95) spans the rows between those prices.
    let row_of = |p: f64| ((120.0 - p) / 30.0 * 11.0_f64).round() as usize;
    for (r, line) in lines.iter().enumerate() {
        let g = glyph(line, axis_at, 3);
        if (row_of(111.0)..=row_of(95.0)).contains(&r) {
            assert_eq!(g, '#', "body of candle 3 on row {r}");
        }
    }
    // Unicode when allowed.
    let fancy = chart::candles(
        &candles,
        12,
        80,
        Look {
            color: false,
            unicode: true,
        },
    );
    assert!(fancy.iter().any(|l| l.contains('█')));
    // Too many candles for the width: the latest ones are shown.
    let many: Vec<Candle> = (0..500).map(|i| candle(i, 10.0, 11.0, 9.0, 10.5)).collect();
    let narrow = chart::candles(&many, 8, 60, Look::PLAIN);
    assert!(narrow.iter().all(|l| l.chars().count() <= 60));
}

#[test]
fn ladder_bars_grow_away_from_the_spread() {
    let bids = [(99.0, 1.0), (98.0, 2.0), (97.0, 0.5), (96.0, 3.0)];
    let asks = [(101.0, 0.5), (102.0, 1.5), (103.0, 1.0)];
    let lines = ladder::ladder(&bids, &asks, 20, Look::PLAIN);
    assert!(lines.iter().all(|l| l.is_ascii()));
    let spread_at = lines
        .iter()
        .position(|l| l.contains("spread"))
        .expect("spread line");
    let bar = |l: &str| l.chars().filter(|&c| c == '#').count();
    let ask_bars: Vec<usize> = lines[1..spread_at].iter().map(|l| bar(l)).collect();
    let bid_bars: Vec<usize> = lines[spread_at + 1..].iter().map(|l| bar(l)).collect();
    assert_eq!(ask_bars.len(), 3);
    assert_eq!(bid_bars.len(), 4);
    // Asks are printed farthest first: bars shrink towards the spread.
    assert!(ask_bars.windows(2).all(|w| w[0] > w[1]), "{ask_bars:?}");
    assert!(bid_bars.windows(2).all(|w| w[0] < w[1]), "{bid_bars:?}");
    assert_eq!(
        *bid_bars.last().unwrap(),
        20,
        "the deepest cumulative size fills the width"
    );
    assert!(
        lines[spread_at].contains("spread 2.00"),
        "{}",
        lines[spread_at]
    );
    assert!(lines[spread_at - 1].contains("101.00") && lines[spread_at + 1].contains("99.00"));
}

#[test]
fn numbers_have_thousands_separators_and_keep_their_decimals() {
    assert_eq!(render::num(64123.4), "64,123.40");
    assert_eq!(render::num(1234567.891), "1,234,567.891");
    assert_eq!(render::num(0.00001234), "0.00001234");
    assert_eq!(render::num(-1500.0), "-1,500.00");
    assert_eq!(render::num(999.0), "999.00");
    assert_eq!(render::group(1234.5, 0), "1,234");
    assert_eq!(render::age(850.0), "850 ms");
    assert_eq!(render::age(3200.0), "3.2 s");
}

#[tokio::test]
async fn bad_settings_exit_2_with_the_servers_one_line() {
    let sim = simulator();
    let out = cli(
        &sim,
        &["--config", "/nonexistent/cm.toml", "ticker", "BTC/USDT"],
    )
    .await;
    let line = out.one_error_line(2);
    assert!(line.contains("--config"), "{line}");
    let out = run(
        &[
            "--rest-url".into(),
            sim.rest_url(),
            "ticker".into(),
            "BTC/USDT".into(),
        ],
        &[("CACHE_TTL", "soon")],
    )
    .await;
    assert!(
        out.one_error_line(2).contains("CACHE_TTL"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn a_failed_symbol_among_several_shows_the_others_and_exits_1() {
    let sim = simulator();
    let out = cli(&sim, &["ticker", "BTC/USDT", "BTC/USDX"]).await;
    assert_eq!(out.code, 1);
    row(&out.stdout, "BTC/USDT");
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.starts_with("error: invalid_symbol: BTC/USDX"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn server_logs_reach_stderr_only_with_verbose_and_never_stdout() {
    let sim = simulator();
    let quiet = cli(&sim, &["--json", "ticker", "BTC/USDT"]).await.success();
    quiet.json();
    let loud = cli(&sim, &["-v", "--json", "ticker", "BTC/USDT"]).await;
    assert_eq!(loud.code, 0);
    loud.json();
    assert!(
        loud.stderr.contains("serving MCP on stdio"),
        "{}",
        loud.stderr
    );
}

// ---- watch ----

#[tokio::test]
async fn watch_shows_changing_prices_and_stops_after_count() {
    let sim = fast_sim();
    let out = run(
        &sim_args(
            &sim,
            &["watch", "BTC/USDT", "ETH/USDT", "-i", "0.4", "-n", "6"],
        ),
        &[],
    )
    .await
    .success();
    let prices: Vec<f64> = watched(&out.stdout).into_iter().map(|(p, _)| p).collect();
    assert_eq!(prices.len(), 6, "{}", out.stdout);
    let now = sim.current_price("BTCUSDT").unwrap();
    assert!(prices.iter().all(|p| (p - now).abs() / now < 0.01));
    assert!(
        prices.windows(2).any(|w| w[0] != w[1]),
        "prices change: {prices:?}"
    );
    assert!(
        out.stdout.contains("| stream "),
        "served from the stream:\n{}",
        out.stdout
    );
    assert!(out.stdout.lines().any(|l| l.starts_with("| ETH/USDT")));
}

#[tokio::test]
async fn watch_in_a_terminal_redraws_in_place_and_exits_cleanly_on_sigint() {
    let sim = fast_sim();
    let (child, master) = spawn_in_pty(&sim_args(&sim, &["watch", "BTC/USDT", "-i", "0.3"]), &[]);
    let text = common::cli::pty_output(master);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while text().matches("Ctrl-C to quit").count() < 4 {
        assert!(
            std::time::Instant::now() < deadline,
            "4 updates:\n{}",
            text()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    common::cli::ctrl_c_exits_cleanly(child, &text).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let out = text();
    assert!(
        out.contains("\x1b[?25l"),
        "the cursor hidden while watching"
    );
    let shown = out.rfind("\x1b[?25h").expect("the cursor shown again");
    assert!(
        shown > out.rfind("Ctrl-C to quit").unwrap(),
        "after the last update"
    );
    assert!(
        out.contains('│') || out.contains('┆'),
        "unicode borders on a terminal"
    );
    assert!(
        out.contains("\x1b[2K") || out.contains("\x1b[1A"),
        "redrawn in place"
    );
    assert!(!out.contains("error"), "{out}");
}

// ---- chat ----

#[test]
fn the_built_in_parser_understands_the_common_questions() {
    use crypto_market_mcp::cli::chat::{parse, Intent};
    assert_eq!(parse("price of btc"), Intent::Ticker("BTC/USDT".into()));
    assert_eq!(
        parse("What's the price of ETH?"),
        Intent::Ticker("ETH/USDT".into())
    );
    assert_eq!(parse("btcusdt"), Intent::Ticker("BTCUSDT".into()));
    assert_eq!(
        parse("eth/usdt 4h candles"),
        Intent::Ohlcv {
            symbol: "ETH/USDT".into(),
            timeframe: "4h".into(),
            limit: 24
        }
    );
    assert_eq!(
        parse("order book sol limit 5"),
        Intent::Book {
            symbol: "SOL/USDT".into(),
            limit: 5
        }
    );
    assert_eq!(
        parse("recent trades btc"),
        Intent::Trades {
            symbol: "BTC/USDT".into(),
            limit: 10
        }
    );
    assert_eq!(parse("compare btc"), Intent::Compare("BTC/USDT".into()));
    assert_eq!(
        parse("what markets have pepe"),
        Intent::Markets(Some("pepe".into()))
    );
    assert_eq!(parse("why is the sky blue"), Intent::Unknown);
}

#[tokio::test]
async fn chat_without_a_model_answers_price_of_btc_with_the_simulators_price() {
    let sim = simulator();
    let start = now_ms();
    let out = chat(
        &sim,
        "price of btc\nwhy is the sky blue\nwhat markets have eth\n",
        &[],
    )
    .await;
    let end = now_ms();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.is_ascii());
    let answer = out
        .stdout
        .lines()
        .find(|l| l.starts_with("BTC/USDT on binance: "))
        .unwrap_or_else(|| panic!("a price answer:\n{}", out.stdout));
    let price = answer["BTC/USDT on binance: ".len()..]
        .split_whitespace()
        .next()
        .unwrap();
    assert!(
        (start.saturating_sub(1000)..=end).any(|t| sim
            .price_at("BTCUSDT", t)
            .map(render::num)
            .as_deref()
            == Some(price)),
        "{price} is the simulator's"
    );
    assert!(
        out.stdout.contains("I can't answer that"),
        "says what it cannot answer:\n{}",
        out.stdout
    );
    assert!(out.stdout.contains("| ETH/USDT "), "{}", out.stdout);
}

/// A stub OpenAI-compatible endpoint: the first completion asks for `get_ticker`, the second
/// answers in words with the price the tool result carried. Records the requests.
async fn stub_llm() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(String, Value)>::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 8192];
            let (head, body) = loop {
                let n = socket.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    return;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).into_owned();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if body.len() >= len {
                        break (head.to_owned(), body[..len].to_owned());
                    }
                }
            };
            let request: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let auth = head
                .lines()
                .find(|l| l.to_lowercase().starts_with("authorization:"))
                .unwrap_or_default()
                .to_owned();
            let tool_result = request["messages"]
                .as_array()
                .and_then(|m| m.iter().rev().find(|m| m["role"] == "tool").cloned());
            log.lock().unwrap().push((auth, request));
            let message = match tool_result {
                None => json!({"role": "assistant", "content": null, "tool_calls": [{
                    "id": "call_1", "type": "function",
                    "function": {"name": "get_ticker", "arguments": "{\"symbol\":\"BTC/USDT\"}"}}]}),
                Some(result) => {
                    let ticker: Value =
                        serde_json::from_str(result["content"].as_str().unwrap()).unwrap();
                    json!({"role": "assistant", "content": format!("Bitcoin trades at {} USDT.", ticker["last"])})
                }
            };
            let body = json!({"id": "x", "object": "chat.completion", "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}).to_string();
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
        }
    });
    (format!("http://{addr}/v1"), seen)
}

#[tokio::test]
async fn chat_with_a_model_makes_the_tool_call_it_asks_for_and_prints_its_answer() {
    let sim = simulator();
    let (url, seen) = stub_llm().await;
    let key = "sk-test-secret-key";
    let out = chat(
        &sim,
        "how is bitcoin doing?\n",
        &[
            ("LLM_API_URL", &url),
            ("LLM_API_KEY", key),
            ("LLM_MODEL", "stub-1"),
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("-> get_ticker {\"symbol\":\"BTC/USDT\"}"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("<- source: exchange"),
        "the result's freshness:\n{}",
        out.stdout
    );
    let answer = out
        .stdout
        .lines()
        .find(|l| l.starts_with("Bitcoin trades at "))
        .expect("the model's answer");
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    let (auth, first) = &requests[0];
    assert_eq!(auth.to_lowercase(), format!("authorization: bearer {key}"));
    assert_eq!(first["model"], "stub-1");
    let tools: Vec<&str> = first["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    assert!(
        tools.contains(&"get_ticker") && tools.contains(&"get_ohlcv"),
        "{tools:?}"
    );
    assert!(first["tools"][0]["function"]["parameters"]["properties"].is_object());
    // The tool result went back to the model, and its price is the simulator's.
    let tool_msg = requests[1].1["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .unwrap()
        .clone();
    assert_eq!(tool_msg["tool_call_id"], "call_1");
    let ticker: Value = serde_json::from_str(tool_msg["content"].as_str().unwrap()).unwrap();
    let at = ticker["timestamp"].as_u64().unwrap();
    assert_eq!(ticker["last"].as_f64(), sim.price_at("BTCUSDT", at));
    assert!(answer.contains(&ticker["last"].to_string()));
    assert!(
        !out.stdout.contains(key) && !out.stderr.contains(key),
        "the key is never shown"
    );
}

/// What a one-shot command prints on a pseudo-terminal, until it exits.
async fn in_pty(args: &[String], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let (mut child, master) = spawn_in_pty(args, env);
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut master = master;
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
        }
        all
    });
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .expect("exits");
    let out = tokio::task::spawn_blocking(move || reader.join().unwrap())
        .await
        .unwrap();
    (status.code(), String::from_utf8_lossy(&out).into_owned())
}

#[tokio::test]
async fn colours_and_unicode_on_a_terminal_never_with_no_color() {
    let sim = simulator();
    let args = sim_args(&sim, &["ohlcv", "BTC/USDT", "--limit", "10"]);
    let (code, fancy) = in_pty(&args, &[]).await;
    assert_eq!(code, Some(0), "{fancy}");
    assert!(fancy.contains('\x1b'), "colours on a terminal");
    assert!(
        fancy.contains('█') && fancy.contains('┤'),
        "unicode chart:\n{fancy}"
    );
    let (code, plain) = in_pty(&args, &[("NO_COLOR", "1")]).await;
    assert_eq!(code, Some(0), "{plain}");
    assert!(
        !plain.contains('\x1b'),
        "no colours with NO_COLOR:\n{plain}"
    );
    assert!(plain.is_ascii(), "ASCII with NO_COLOR:\n{plain}");
    assert!(plain.contains('#') && plain.contains('+'));
}
