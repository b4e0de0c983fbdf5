//! `crypto-market --redis URL`: the real command line against real `crypto-market-worker`
//! processes, a private redis-server and the simulator (SPEC.md sections 6 and 8). Every
//! command goes through the pool: the CLI's own environment points at no exchange, so a
//! command served anywhere else would fail.

mod common;

use std::time::Duration;

use common::cli::{fast_sim, parse_num, row, run, watched, without_freshness, Run};
use common::redis::RedisServer;
use common::worker::{connect, start_worker, wait_for_workers, Worker, WORKERS};
use crypto_market_actors::redis_target::RedisTarget;
use crypto_market_mcp::client::{PubSubClient, PubSubConfig};
use crypto_market_sim::{SimConfig, SimHandle, Simulator};
use redis::AsyncCommands;
use serde_json::{json, Value};

/// The CLI with `--redis` pointed at `redis`, then `args`.
async fn through(redis: &RedisServer, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut all = vec!["--redis".to_owned(), redis.url()];
    all.extend(args.iter().map(|a| a.to_string()));
    run(&all, env).await
}

/// A pool client of the test's own, for the tools' results as the pool gives them.
async fn pool_client(redis: &RedisServer) -> PubSubClient {
    let config = PubSubConfig {
        request_channel: "crypto_mcp:requests".into(),
        response_channel: "crypto_mcp:responses".into(),
        request_timeout: Duration::from_secs(20),
        client_id: Some("test".into()),
    };
    PubSubClient::connect(RedisTarget::new(redis.url(), "crypto_mcp"), config)
        .await
        .expect("the test's pool client connects")
}

/// Requests the live workers processed, by their last heartbeat (every 2 s).
async fn processed(redis: &RedisServer) -> u64 {
    let mut conn = connect(redis).await;
    let all: std::collections::HashMap<String, String> =
        conn.hgetall(WORKERS).await.expect("HGETALL workers");
    all.values()
        .filter_map(|w| serde_json::from_str::<Value>(w).ok())
        .filter_map(|w| w["processed"].as_u64())
        .sum()
}

/// `n` workers on `sim` (plus `env`), once they heartbeat.
async fn pool(sim: &SimHandle, redis: &RedisServer, n: usize, env: &[(&str, &str)]) -> Vec<Worker> {
    let workers = (0..n).map(|_| start_worker(sim, redis, env)).collect();
    wait_for_workers(&mut connect(redis).await, n).await;
    workers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticker_book_compare_and_markets_are_the_pools_results() {
    let venues = Simulator::start_venues(SimConfig {
        tick_ms: 3_600_000,
        ..Default::default()
    })
    .expect("simulators start");
    let sim = &venues[0];
    let redis = RedisServer::start();
    let urls = crypto_market_sim::rest_urls(&venues[1..]);
    let _workers = pool(
        sim,
        &redis,
        2,
        &[
            ("EXCHANGES", "binance,okx,bybit,kraken,coinbase"),
            ("EXCHANGE_REST_URLS", &urls),
            ("USE_REDIS_CACHE", "true"),
        ],
    )
    .await;
    let client = pool_client(&redis).await;

    let out = through(&redis, &["ticker", "BTC/USDT"], &[])
        .await
        .success();
    let cells = row(&out.stdout, "BTC/USDT");
    let now = sim.current_price("BTCUSDT").expect("listed");
    assert!((parse_num(cells[2]) - now).abs() / now < 0.01, "{cells:?}");
    assert_eq!(cells[1], "binance");

    // --json: exactly the tool's result as the pool gives it (one shared cache: whichever
    // worker answers, the same ticker; only its freshness fields differ between reads).
    let printed = through(&redis, &["--json", "ticker", "btc-usdt"], &[])
        .await
        .success()
        .json();
    let direct = client
        .call("get_ticker", json!({"symbol": "btc-usdt"}))
        .await
        .expect("the pool answers");
    assert_eq!(without_freshness(printed), without_freshness(direct));
    let printed = through(&redis, &["--json", "markets", "btc"], &[])
        .await
        .success()
        .json();
    let direct = client
        .call("list_markets", json!({"query": "btc"}))
        .await
        .expect("the pool answers");
    assert_eq!(without_freshness(printed), without_freshness(direct));

    let out = through(&redis, &["book", "BTC/USDT", "--limit", "5"], &[])
        .await
        .success();
    let bids: Vec<f64> = out
        .stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("bid"))
        .map(|l| parse_num(l.trim_start()[3..].split('|').next().unwrap().trim()))
        .collect();
    assert_eq!(bids.len(), 5, "{}", out.stdout);
    assert!((bids[0] - now).abs() / now < 0.01, "{bids:?} vs {now}");
    let book = through(&redis, &["--json", "book", "BTC/USDT", "--limit", "5"], &[])
        .await
        .success()
        .json();
    assert_eq!(book["bids"].as_array().map(Vec::len), Some(5), "{book}");

    let out = through(&redis, &["compare", "BTC/USDT"], &[])
        .await
        .success();
    for venue in ["binance", "okx", "bybit", "kraken", "coinbase"] {
        assert_eq!(row(&out.stdout, venue)[0], venue, "{}", out.stdout);
    }
    assert!(out.stdout.contains("best bid "), "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_the_pools_workers_and_queue() {
    let sim = common::simulator();
    let redis = RedisServer::start();
    let workers = pool(&sim, &redis, 2, &[]).await;
    let v = through(&redis, &["--json", "status"], &[])
        .await
        .success()
        .json();
    // Exactly the pool's `status`: its fields, and both workers.
    let mut keys: Vec<&str> = v
        .as_object()
        .expect("object")
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["cache", "pending", "queue_depth", "workers"], "{v}");
    let mut pids: Vec<u64> = v["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .filter_map(|w| w["pid"].as_u64())
        .collect();
    pids.sort_unstable();
    let mut started: Vec<u64> = workers
        .iter()
        .filter_map(|w| w.child.id().map(u64::from))
        .collect();
    started.sort_unstable();
    assert_eq!(pids, started, "{v}");

    let out = through(&redis, &["status"], &[]).await.success();
    assert!(
        out.stdout.starts_with("worker pool (redis+unix://"),
        "{}",
        out.stdout
    );
    assert_eq!(row(&out.stdout, "workers live")[1], "2", "{}", out.stdout);
    assert_eq!(row(&out.stdout, "queue depth")[1], "0", "{}", out.stdout);
    for w in v["workers"].as_array().expect("workers") {
        let id = w["id"].as_str().expect("id");
        let cells = row(&out.stdout, id);
        assert_eq!(cells[2], w["pid"].to_string(), "{cells:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pools_errors_exit_1_with_their_code_on_one_line() {
    let sim = common::simulator();
    let redis = RedisServer::start();
    let dir = common::http_front::tempdir("cli-redis-keys");
    let file = common::http_front::keys_file(&dir, &[("desk", "desk-secret", 100.0, 100, None)]);
    let _workers = pool(
        &sim,
        &redis,
        1,
        &[("API_KEYS_FILE", file.to_str().unwrap())],
    )
    .await;
    let keyed = ["--api-key", "desk-secret", "--client-id", "desk"];

    let out = through(&redis, &[&keyed[..], &["ticker", "BTC/USDX"]].concat(), &[]).await;
    let line = out.one_error_line(1);
    assert!(line.starts_with("error: invalid_symbol: "), "{line}");
    assert!(line.contains("BTC/USDT"), "suggests BTC/USDT: {line}");
    let out = through(
        &redis,
        &[&keyed[..], &["--json", "book", "BTC/USDX"]].concat(),
        &[],
    )
    .await;
    assert!(out.one_error_line(1).contains("invalid_symbol"));

    // The key from the environment, as the other binaries take it.
    let env = [
        ("PUBSUB_API_KEY", "desk-secret"),
        ("PUBSUB_CLIENT_ID", "desk"),
    ];
    let out = through(&redis, &["ticker", "BTC/USDT"], &env)
        .await
        .success();
    assert_eq!(row(&out.stdout, "BTC/USDT")[1], "binance");
    // Without a key the pool says who is refused; the key never shows.
    let out = through(&redis, &["ticker", "BTC/USDT"], &[]).await;
    assert!(
        out.one_error_line(1).starts_with("error: unauthorized: "),
        "{}",
        out.stderr
    );
    // The pool's status counts the key's client by its id (the answering worker's counts).
    let out = through(&redis, &["status"], &env).await.success();
    let desk = row(&out.stdout, "desk");
    assert!(parse_num(desk[1]) >= 1.0, "{}", out.stdout);
    let out = through(&redis, &["--api-key", "desk-secret", "status"], &[]).await;
    let line = out.one_error_line(2);
    assert!(
        line.contains("PUBSUB_CLIENT_ID") && !line.contains("desk-secret"),
        "{line}"
    );
}

#[tokio::test]
async fn redis_out_of_reach_or_no_worker_is_one_clean_line() {
    let dir = common::http_front::tempdir("cli-redis-none");
    let nowhere = format!("redis+unix://{}", dir.join("no.sock").display());
    let args = |tail: &[&str]| -> Vec<String> {
        ["--redis", nowhere.as_str()]
            .iter()
            .chain(tail)
            .map(|s| s.to_string())
            .collect()
    };
    let started = std::time::Instant::now();
    let out = run(&args(&["ticker", "BTC/USDT"]), &[]).await;
    let line = out.one_error_line(1);
    assert!(
        line.starts_with("error: unavailable: cannot reach Redis at "),
        "{line}"
    );
    // At once, with the cause: not after the connection manager's retries.
    assert!(line.contains("No such file or directory"), "{line}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    // Redis answers but no worker does: within REQUEST_TIMEOUT, not forever.
    let redis = RedisServer::start();
    let started = std::time::Instant::now();
    let out = through(&redis, &["status"], &[("REQUEST_TIMEOUT", "2")]).await;
    let line = out.one_error_line(1);
    assert!(
        line.starts_with("error: unavailable: no worker answered within 2 s"),
        "{line}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );

    // Bad settings: exit 2, naming the setting, never the URL's password.
    let out = run(
        &["--redis", "http://user:hunter2@host", "status"].map(String::from),
        &[],
    )
    .await;
    let line = out.one_error_line(2);
    assert!(
        line.contains("redis.url") && !line.contains("hunter2"),
        "{line}"
    );
    let out = run(
        &[
            "--redis",
            "redis://x",
            "--mcp-url",
            "http://y/mcp",
            "status",
        ]
        .map(String::from),
        &[],
    )
    .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
}

/// `watch` of BTC/USDT and ETH/USDT through `redis`, 8 updates half a second apart: the
/// BTC/USDT rows, checked against `sim`.
async fn watch_eight(sim: &SimHandle, redis: &RedisServer) -> Vec<(f64, String)> {
    let out = through(
        redis,
        &["watch", "BTC/USDT", "ETH/USDT", "-i", "0.5", "-n", "8"],
        &[],
    )
    .await
    .success();
    let rows = watched(&out.stdout);
    assert_eq!(rows.len(), 8, "{}", out.stdout);
    let now = sim.current_price("BTCUSDT").expect("listed");
    assert!(
        rows.iter().all(|(p, _)| (p - now).abs() / now < 0.01),
        "{rows:?}"
    );
    assert!(
        rows.windows(2).any(|w| w[0].0 != w[1].0),
        "prices change: {rows:?}"
    );
    assert!(out.stdout.lines().any(|l| l.starts_with("| ETH/USDT")));
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_follows_the_tickers_redis_channel_instead_of_asking_each_time() {
    // With the shared cache the pool publishes each tick on the symbol's channel.
    let sim = fast_sim();
    let redis = RedisServer::start();
    let _workers = pool(&sim, &redis, 1, &[("USE_REDIS_CACHE", "true")]).await;
    let rows = watch_eight(&sim, &redis).await;
    assert_eq!(
        rows.last().map(|r| r.1.as_str()),
        Some("stream"),
        "{rows:?}"
    );
    // Asked once (get_tickers) and leased once per symbol (stream_ticker): not 8 times.
    tokio::time::sleep(Duration::from_millis(2_500)).await; // a heartbeat
    let asked = processed(&redis).await;
    assert!(asked <= 3, "{asked} requests for 8 updates");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_asks_again_for_what_a_pool_without_shared_cache_does_not_publish() {
    let sim = fast_sim();
    let redis = RedisServer::start();
    let _workers = pool(&sim, &redis, 1, &[]).await;
    watch_eight(&sim, &redis).await;
}
