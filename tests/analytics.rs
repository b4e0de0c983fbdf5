//! Issue 24 part A through the real binary against the simulator: deep `get_ohlcv` history in
//! few concurrent pages, a second overlapping request fetching only the newest page,
//! `next_since`; `get_indicators` equal to the indicators over the whole history (the
//! formulas themselves are checked against TA-Lib's values in the actors crate:
//! `model::indicators::tests`), on spot and perpetuals, and its argument errors.

mod common;

use common::{error_code, error_message, ok, simulator, start_server};
use crypto_market_actors::model::indicators::{parse_all, table};
use crypto_market_actors::model::Candle;
use serde_json::{json, Value};

const HOUR: i64 = 3_600_000;

fn candles(result: &Value) -> Vec<Candle> {
    serde_json::from_value(result["candles"].clone()).expect("candles")
}

fn assert_hourly(candles: &[Candle]) {
    for pair in candles.windows(2) {
        assert_eq!(pair[1].timestamp - pair[0].timestamp, HOUR, "{pair:?}");
    }
}

/// 5,000 1h candles in at most 6 klines calls (pages of Binance's 1,000, concurrent); the same
/// range again after the TTL fetches only the newest page; a window from `since` says where the
/// next starts; the candles are the simulator's.
#[tokio::test]
async fn deep_history_pages_and_fetches_only_what_is_new() {
    let sim = simulator();
    let server = start_server(&sim, &[("CACHE_TTL", "1")]).await;
    let started = std::time::Instant::now();
    let first = server
        .call("get_ohlcv", json!({"symbol": "BTC/USDT", "limit": 5000}))
        .await;
    let took = started.elapsed();
    let got = candles(ok(&first));
    assert_eq!(got.len(), 5000);
    assert_hourly(&got);
    let now = common::derivs::now_ms() as i64;
    let newest = got[4999].timestamp;
    assert!(
        now - newest < HOUR && now >= newest,
        "the last is in progress"
    );
    let cold = sim.calls("klines");
    assert!(
        (5..=6).contains(&cold),
        "{cold} klines calls for 5,000 candles"
    );
    assert_eq!(ok(&first)["next_since"], Value::Null);

    // After the TTL: the closed pages are still held, only the newest page is asked again.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let again = server
        .call("get_ohlcv", json!({"symbol": "BTC/USDT", "limit": 5000}))
        .await;
    assert_eq!(candles(ok(&again))[..4999], got[..4999]);
    assert_eq!(sim.calls("klines"), cold + 1, "only the newest page again");

    // An overlapping window of closed candles: nothing new to fetch; it goes on at next_since.
    let since = got[100].timestamp;
    let window = server
        .call(
            "get_ohlcv",
            json!({"symbol": "BTC/USDT", "since": since, "limit": 2000}),
        )
        .await;
    let window_candles = candles(ok(&window));
    assert_eq!(window_candles[..], got[100..2100]);
    assert_eq!(ok(&window)["next_since"], json!(since + 2000 * HOUR));
    assert_eq!(sim.calls("klines"), cold + 1, "all held");

    // `until` bounds the end; the candles equal the simulator's own klines.
    let until = got[2999].timestamp;
    let bounded = server
        .call(
            "get_ohlcv",
            json!({"symbol": "BTC/USDT", "until": until, "limit": 1500}),
        )
        .await;
    assert_eq!(candles(ok(&bounded))[..], got[1500..3000]);
    let (status, body) = common::http_get(
        &sim.rest_url().replace("http://", ""),
        &format!("/api/v3/klines?symbol=BTCUSDT&interval=1h&startTime={since}&limit=3"),
    )
    .await
    .expect("simulator answers");
    assert_eq!(status, 200);
    let rows: Vec<Vec<Value>> = serde_json::from_str(&body).expect("klines");
    for (row, candle) in rows.iter().zip(&got[100..]) {
        assert_eq!(row[0].as_i64(), Some(candle.timestamp));
        assert_eq!(
            row[4].as_str().map(str::parse::<f64>),
            Some(Ok(candle.close))
        );
    }
    eprintln!("5,000 cold candles in {took:?}, {cold} calls");
}

/// Bounds: 10,000 candles at most; `until` before `since` is an error naming it.
#[tokio::test]
async fn deep_history_bounds() {
    let sim = simulator();
    let server = start_server(&sim, &[]).await;
    let big = server
        .call("get_ohlcv", json!({"symbol": "BTC/USDT", "limit": 10001}))
        .await;
    assert_eq!(error_code(&big), "invalid_argument");
    assert!(
        error_message(&big).starts_with("limit:"),
        "{}",
        error_message(&big)
    );
    let backwards = server
        .call(
            "get_ohlcv",
            json!({"symbol": "BTC/USDT", "since": 2 * HOUR, "until": HOUR}),
        )
        .await;
    assert_eq!(error_code(&backwards), "invalid_argument");
    assert!(error_message(&backwards).starts_with("until:"));
}

/// The served indicators equal those computed over 10,000 candles (the "whole history") to
/// 1e-4 relative, closed rows; the last row is the candle in progress; warm calls fetch nothing.
#[tokio::test]
async fn indicators_equal_the_whole_history_values() {
    let sim = simulator();
    // A TTL longer than the test: "warm" below does not depend on its speed.
    let server = start_server(&sim, &[("CACHE_TTL", "600")]).await;
    let specs = [
        "rsi:14",
        "macd:12:26:9",
        "bbands:20:2",
        "ema:50",
        "atr:14",
        "stoch:14:3",
        "sma:20",
        "vwap",
    ];
    for symbol in ["BTC/USDT", "BTC/USDT:USDT"] {
        let result = server
            .call(
                "get_indicators",
                json!({"symbol": symbol, "indicators": specs, "limit": 200}),
            )
            .await;
        let got = ok(&result);
        assert_eq!(got["symbol"], symbol);
        let whole = server
            .call("get_ohlcv", json!({"symbol": symbol, "limit": 10000}))
            .await;
        let history = candles(ok(&whole));
        let expected = table(&history, &parse_all(&specs).expect("specs"), 200);
        let columns: Vec<String> = serde_json::from_value(got["columns"].clone()).expect("columns");
        assert_eq!(columns, expected.columns);
        assert_eq!(
            &columns[..9],
            [
                "timestamp",
                "close",
                "rsi_14",
                "macd",
                "macd_signal",
                "macd_hist",
                "bb_lower",
                "bb_middle",
                "bb_upper"
            ]
        );
        let rows = got["rows"].as_array().expect("rows");
        assert_eq!(rows.len(), 200);
        let now = common::derivs::now_ms() as i64;
        let last = rows[199][0].as_i64().expect("timestamp");
        assert!(
            now - last < HOUR && now >= last,
            "the last row is in progress"
        );
        // Closed rows (the one in progress may have moved between the two calls).
        for (row, want) in rows[..199].iter().zip(&expected.rows) {
            assert_eq!(row[0].as_i64(), Some(want.timestamp));
            let row = row.as_array().expect("a row");
            for (value, want) in row[2..].iter().zip(&want.values) {
                let (value, want) = (value.as_f64().expect("a value"), want.expect("a value"));
                assert!(
                    // Plus 1e-9: a value that is 0 up to rounding (a stochastic at its low) has no relative size.
                    (value - want).abs() <= 1e-4 * want.abs() + 1e-9,
                    "{symbol} {row:?}: {value} vs {want}"
                );
            }
        }
    }
    // Warm: the same call again asks the exchange nothing.
    let before = sim.calls("klines");
    let warm = server
        .call(
            "get_indicators",
            json!({"symbol": "BTC/USDT", "indicators": "rsi:14,macd", "limit": 100}),
        )
        .await;
    assert_eq!(ok(&warm)["rows"].as_array().map(Vec::len), Some(100));
    assert_eq!(sim.calls("klines"), before);
}

/// Bad indicator lists are `invalid_argument` naming `indicators`.
#[tokio::test]
async fn bad_indicators_name_the_argument() {
    let sim = simulator();
    let server = start_server(&sim, &[]).await;
    let eleven: Vec<&str> = vec!["sma:5"; 11];
    for bad in [
        json!(["rsi:0"]),
        json!("foo"),
        json!(eleven),
        json!([]),
        json!(["rsi:14", "rsi:14"]),
    ] {
        let result = server
            .call(
                "get_indicators",
                json!({"symbol": "BTC/USDT", "indicators": bad}),
            )
            .await;
        assert_eq!(error_code(&result), "invalid_argument", "{bad}");
        assert!(
            error_message(&result).starts_with("indicators:"),
            "{bad}: {}",
            error_message(&result)
        );
    }
    let rows = server
        .call(
            "get_indicators",
            json!({"symbol": "BTC/USDT", "indicators": ["rsi"], "limit": 1001}),
        )
        .await;
    assert!(error_message(&rows).starts_with("limit:"));
}

/// `crypto-market indicators`: the price chart, then a pane per indicator titled with its
/// columns and latest values; `--json` is the tool's result. The chat answers "rsi of btc"
/// with `get_indicators`.
#[tokio::test]
async fn the_command_line_draws_indicator_panes_and_the_chat_asks_for_rsi() {
    use common::cli::{run, CLI};
    let sim = simulator();
    let base = ["--rest-url".to_owned(), sim.rest_url()];
    let with = |extra: &[&str]| {
        let mut all = base.to_vec();
        all.extend(extra.iter().map(|a| (*a).to_owned()));
        all
    };
    let command = [
        "indicators",
        "BTC/USDT",
        "--ind",
        "rsi:14,macd:12:26:9",
        "--limit",
        "30",
    ];
    let json_run = run(&with(&[&["--json"], &command[..]].concat()), &[])
        .await
        .success();
    let v = json_run.json();
    assert_eq!(v["columns"][2], "rsi_14");
    assert_eq!(v["rows"].as_array().map(Vec::len), Some(30));
    let out = run(&with(&command), &[]).await.success().stdout;
    assert!(out.starts_with("BTC/USDT 1h binance indicators\n"), "{out}");
    let rsi_title = out
        .lines()
        .position(|l| l.starts_with("* rsi_14 "))
        .expect(&out);
    let macd_title = out
        .lines()
        .position(|l| {
            l.starts_with("* macd ") && l.contains("+ macd_signal") && l.contains("o macd_hist")
        })
        .expect(&out);
    // The candle chart above (12 rows), the RSI pane's 6 rows and a blank line between.
    assert!(rsi_title >= 13, "{out}");
    assert_eq!(macd_title, rsi_title + 8, "{out}");

    // The chat, without a model.
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(CLI)
        .args(with(&["chat"]))
        .env_remove("LLM_API_URL")
        .env_remove("LLM_API_KEY")
        .env_remove("LLM_MODEL")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the CLI runs");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(b"rsi of btc\n")
        .await
        .expect("question sent");
    drop(stdin);
    let answered =
        tokio::time::timeout(std::time::Duration::from_secs(60), child.wait_with_output())
            .await
            .expect("chat ends with its input")
            .expect("chat runs");
    let said = String::from_utf8_lossy(&answered.stdout);
    assert!(said.contains("get_indicators"), "{said}");
    assert!(said.contains("* rsi_14 "), "{said}");
}

/// Closed candle pages outlive the TTL in Redis too: a second server, long after the TTL, reads
/// a range of closed candles another server fetched without asking the exchange.
#[tokio::test]
async fn closed_pages_are_shared_through_redis_past_the_ttl() {
    use common::redis::RedisServer;
    let sim = simulator();
    let redis = RedisServer::start();
    let env = [
        ("USE_REDIS_CACHE", "true".to_owned()),
        ("REDIS_URL", redis.url()),
        ("CACHE_TTL", "1".to_owned()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let a = start_server(&sim, &env).await;
    let now = common::derivs::now_ms() as i64;
    // 3,000 candles ending some 2,000 hours ago: every page closed.
    let since = (now / HOUR - 5000) * HOUR;
    let ask = json!({"symbol": "BTC/USDT", "since": since, "limit": 3000});
    let first = candles(ok(&a.call("get_ohlcv", ask.clone()).await));
    assert_eq!(first.len(), 3000);
    let fetched = sim.calls("klines");
    assert!((3..=4).contains(&fetched), "{fetched}");
    // Past the TTL (a value that is not closed would have left Redis by now).
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    // Redis is an optimisation with a 200 ms command timeout: on a loaded machine a server may
    // give up on it and ask the exchange. One fresh server of three served from Redis suffices;
    // with the TTL's usual expiry none can.
    let mut served = Vec::new();
    for _ in 0..3 {
        let before = sim.calls("klines");
        let b = start_server(&sim, &env).await;
        let shared = b.call("get_ohlcv", ask.clone()).await;
        assert_eq!(candles(ok(&shared)), first);
        let from_redis = ok(&shared)["source"] == "redis" && sim.calls("klines") == before;
        served.push(ok(&shared)["source"].clone());
        if from_redis {
            return;
        }
    }
    panic!("never served from Redis past the TTL: {served:?}");
}

/// Deep history on the other venues: pages of each one's own cap (OKX 100, Coinbase 300, Bybit
/// 1,000), the candles hourly, none missing. Not Kraken: real Kraken serves only its last 720
/// candles, and against the simulator (whose `since` is inclusive where Kraken's is not, which
/// ccxt makes up for) a page boundary loses a candle.
#[tokio::test]
async fn deep_history_on_every_venue() {
    use common::derivs::{server, Venues};
    let venues = Venues::start_with(100);
    let server = server(&venues, &[]).await;
    for venue in ["okx", "bybit", "coinbase"] {
        let result = server
            .call(
                "get_ohlcv",
                json!({"symbol": "BTC/USDT", "exchange": venue, "limit": 1500}),
            )
            .await;
        let got = candles(ok(&result));
        assert_eq!(got.len(), 1500, "{venue}");
        assert_hourly(&got);
    }
}
