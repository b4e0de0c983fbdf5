//! Issue 11, the shared cache layer: two MCP servers on one Redis serve each other's fetches
//! (`source: "redis"`); while Redis is down both keep answering from memory and the exchange,
//! and when it is back it is used again, without a restart.

mod common;

use std::time::{Duration, Instant};

use common::redis::RedisServer;
use common::{ok, simulator, start_server};
use serde_json::json;

fn shared_env(redis: &RedisServer) -> Vec<(&'static str, String)> {
    vec![
        ("USE_REDIS_CACHE", "true".to_owned()),
        ("REDIS_URL", redis.url()),
        ("CACHE_TTL", "30".to_owned()),
    ]
}

async fn two_servers(
    sim: &crypto_market_sim::SimHandle,
    redis: &RedisServer,
) -> (common::McpServer, common::McpServer) {
    let env = shared_env(redis);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    (start_server(sim, &env).await, start_server(sim, &env).await)
}

#[tokio::test]
async fn one_servers_fetch_is_served_by_the_other_from_redis() {
    let sim = simulator();
    let redis = RedisServer::start();
    let (a, b) = two_servers(&sim, &redis).await;
    let before_a = Instant::now();
    let first = a.call("get_ticker", json!({"symbol": "BTC/USDT"})).await;
    let after_a = Instant::now();
    assert_eq!(ok(&first)["source"], "exchange");
    // Time for the value to age: B's answer must say how old A's fetch is, not how long ago
    // B read it from Redis.
    tokio::time::sleep(Duration::from_millis(400)).await;
    // The write to Redis happens in the background: B asks until it finds it there.
    let mut shared = None;
    for _ in 0..100 {
        let asked = Instant::now();
        let r = b
            .call("get_order_book", json!({"symbol": "ETH/USDT", "limit": 5}))
            .await;
        ok(&r);
        let t = b.call("get_ticker", json!({"symbol": "BTC/USDT"})).await;
        if ok(&t)["source"] == "redis" {
            shared = Some((t, asked));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        if sim.calls("ticker/24hr") > 1 {
            break;
        }
    }
    let answered = Instant::now();
    let (shared, asked) = shared.expect("B served A's ticker from Redis");
    let shared = ok(&shared);
    assert_eq!(shared["last"], ok(&first)["last"]);
    // The age is A's fetch's, carried through Redis: at least the time from A's answer to B's
    // question, at most the time from A's question to B's answer (1 ms for clock rounding).
    let age_ms = shared["age_ms"].as_i64().expect("age_ms");
    let at_least = (asked - after_a).as_millis() as i64 - 1;
    let at_most = (answered - before_a).as_millis() as i64 + 1;
    assert!(
        (at_least..=at_most).contains(&age_ms),
        "age_ms {age_ms} not within {at_least}..={at_most}: not the age of A's fetch"
    );
    assert_eq!(
        sim.calls("ticker/24hr"),
        1,
        "one exchange call for both servers"
    );
    // get_tickers shares too: A fetches two, B finds both in Redis.
    let r = a
        .call("get_tickers", json!({"symbols": ["SOL/USDT", "BNB/USDT"]}))
        .await;
    assert!(ok(&r)["tickers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["source"] == "exchange"));
    let calls = sim.calls("ticker/24hr");
    // A batch's values are written to Redis behind the answer: wait until they are there.
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    for _ in 0..400 {
        let stored: i64 = redis::cmd("EXISTS")
            .arg("crypto_mcp:cache:binance:ticker:SOL/USDT")
            .arg("crypto_mcp:cache:binance:ticker:BNB/USDT")
            .query_async(&mut conn)
            .await
            .unwrap();
        if stored == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let mut sources = Vec::new();
    for _ in 0..100 {
        let r = b
            .call("get_tickers", json!({"symbols": ["SOL/USDT", "BNB/USDT"]}))
            .await;
        sources = ok(&r)["tickers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["source"].as_str().unwrap_or_default().to_owned())
            .collect();
        if sources.iter().all(|s| s == "redis") || sim.calls("ticker/24hr") > calls {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sources, ["redis", "redis"]);
    assert_eq!(sim.calls("ticker/24hr"), calls);
}

#[tokio::test]
async fn a_redis_outage_costs_nothing_but_the_shared_hits() {
    let sim = crypto_market_sim::Simulator::start(crypto_market_sim::SimConfig {
        extra_symbols: 60,
        ..Default::default()
    })
    .expect("simulator");
    let mut redis = RedisServer::start();
    let (a, b) = two_servers(&sim, &redis).await;
    ok(&a.call("get_ticker", json!({"symbol": "BTC/USDT"})).await);
    redis.kill();
    // Both keep answering, from the exchange, without waiting out long timeouts.
    for (i, symbol) in ["ETH/USDT", "SOL/USDT", "BNB/USDT"].iter().enumerate() {
        let started = Instant::now();
        let server = if i % 2 == 0 { &a } else { &b };
        let r = server.call("get_ticker", json!({"symbol": symbol})).await;
        assert_eq!(ok(&r)["source"], "exchange");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
    redis.restart();
    // Back: what A fetches lands in Redis again and B serves it from there (the layer steps
    // back in by itself after a couple of seconds). Each round a symbol neither has asked yet.
    let mut served_from_redis = false;
    for round in 1..=60 {
        let symbol = format!("SIM{round:04}/USDT");
        ok(&a.call("get_ticker", json!({"symbol": symbol})).await);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let t = b.call("get_ticker", json!({"symbol": symbol})).await;
        if ok(&t)["source"] == "redis" {
            served_from_redis = true;
            break;
        }
    }
    assert!(served_from_redis, "Redis is used again after the restart");
}

/// Cluster-wide single flight: three servers on one Redis, 150 concurrent requests for one
/// cold symbol: one exchange call in all. The other servers wait for the holder's announcement.
#[tokio::test]
async fn many_servers_missing_one_key_at_once_make_one_exchange_call() {
    let sim = simulator();
    let redis = RedisServer::start();
    let env = shared_env(&redis);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let servers = [
        start_server(&sim, &env).await,
        start_server(&sim, &env).await,
        start_server(&sim, &env).await,
    ];
    for server in &servers {
        ok(&server.call("list_markets", json!({})).await);
    }
    // The exchange is slow, so every server misses while the first call is still in flight.
    sim.set_faults(crypto_market_sim::Faults {
        latency_ms: 1000,
        endpoints: Some(vec!["ticker/24hr".into()]),
        ..Default::default()
    });
    let calls = servers.iter().flat_map(|server| {
        (0..50)
            .map(move |_| common::call(&server.client, "get_ticker", json!({"symbol": "ETH/USDT"})))
    });
    let answers = futures::future::join_all(calls).await;
    let lasts: Vec<f64> = answers
        .iter()
        .map(|a| ok(a)["last"].as_f64().unwrap())
        .collect();
    assert!(lasts.iter().all(|l| *l == lasts[0]), "one price for all");
    let sources: std::collections::HashSet<String> = answers
        .iter()
        .map(|a| ok(a)["source"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        sources.contains("exchange") && sources.contains("redis"),
        "{sources:?}"
    );
    assert_eq!(
        sim.calls("ticker/24hr"),
        1,
        "one exchange call in the cluster"
    );
}

/// Each ticker a node fetches is published on `{prefix}:ticker:{exchange}:{symbol}` (SPEC.md
/// section 5): a Redis subscriber on any node sees it.
#[tokio::test]
async fn fetched_tickers_are_published_on_their_channel() {
    use futures::StreamExt;
    let sim = simulator();
    let redis = RedisServer::start();
    let mut pubsub = redis::Client::open(redis.url())
        .unwrap()
        .get_async_pubsub()
        .await
        .unwrap();
    pubsub
        .subscribe("crypto_mcp:ticker:binance:BTC/USDT")
        .await
        .unwrap();
    let env = shared_env(&redis);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = start_server(&sim, &env).await;
    let r = server
        .call("get_ticker", json!({"symbol": "btcusdt"}))
        .await;
    let mut messages = pubsub.on_message();
    let message = tokio::time::timeout(Duration::from_secs(20), messages.next())
        .await
        .expect("an update within 20 s")
        .expect("a message");
    let update: serde_json::Value =
        serde_json::from_str(&message.get_payload::<String>().unwrap()).unwrap();
    assert_eq!(update["symbol"], "BTC/USDT");
    assert_eq!(update["exchange"], "binance");
    assert_eq!(update["last"], ok(&r)["last"]);
    assert_eq!(update["price"], ok(&r)["last"]);
}
