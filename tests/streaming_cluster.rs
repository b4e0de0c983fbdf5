//! Issue 12, across nodes: only one node in the cluster holds the exchange feed of a symbol
//! (a feed lease in Redis); the others follow its ticks through Redis and serve
//! `source: "stream"` from them; when the holder dies (SIGKILL: no goodbye, its lease simply
//! stops being renewed) another node takes the feed over within seconds. The simulator counts
//! every websocket connection it ever accepted, so a second feed however brief is seen.

mod common;

use std::time::{Duration, Instant};

use common::redis::RedisServer;
use common::{ok, start_server, McpServer};
use crypto_market_sim::{SimConfig, SimHandle, Simulator};
use serde_json::json;

async fn eventually(within: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Connections at the simulator carrying `btcusdt@ticker`.
fn btc_streams(sim: &SimHandle) -> usize {
    sim.ws_stats()
        .connections
        .iter()
        .filter(|c| c.subscriptions.iter().any(|s| s == "btcusdt@ticker"))
        .count()
}

async fn streamed_ticker(server: &McpServer) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = server
            .call("get_ticker", json!({"symbol": "BTC/USDT"}))
            .await;
        let ticker = ok(&r).clone();
        if ticker["source"] == "stream" && ticker["age_ms"].as_i64().unwrap_or(i64::MAX) < 2_000 {
            return ticker;
        }
        assert!(
            Instant::now() < deadline,
            "never served fresh from a stream: {ticker}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn one_node_holds_the_feed_the_others_follow_and_it_moves_when_the_holder_dies() {
    let sim = Simulator::start(SimConfig {
        ws_ticker_interval_ms: 200,
        ..SimConfig::default()
    })
    .expect("simulator");
    let redis = RedisServer::start();
    let url = redis.url();
    let env = [
        ("USE_REDIS_CACHE", "true"),
        ("REDIS_URL", url.as_str()),
        ("WARM_SYMBOLS", "BTC/USDT"),
        ("CACHE_TTL", "5"),
    ];
    let holder = start_server(&sim, &env).await;
    eventually(Duration::from_secs(20), "the first node's feed", || {
        btc_streams(&sim) == 1
    })
    .await;
    let follower = start_server(&sim, &env).await;
    // Both serve the symbol from the one stream; the second never opens its own.
    let a = streamed_ticker(&holder).await;
    let b = streamed_ticker(&follower).await;
    assert_eq!(a["symbol"], "BTC/USDT");
    assert_eq!(b["symbol"], "BTC/USDT");
    // (A slow start may have had REST answer once before the first tick; none after.)
    let polled = sim.calls("ticker/24hr");
    // A few seconds of both nodes serving: longer than the feed lease's renewal.
    tokio::time::sleep(Duration::from_secs(3)).await;
    streamed_ticker(&follower).await;
    assert_eq!(
        sim.calls("ticker/24hr"),
        polled,
        "nobody polls REST while the feed streams"
    );
    // Over the whole run until now: one websocket connection ever accepted, never closed.
    let stats = sim.ws_stats();
    assert_eq!(
        (stats.accepted_total, stats.open, stats.refused_total),
        (1, 1, 0),
        "one exchange feed in the cluster: {stats:?}"
    );
    assert_eq!(btc_streams(&sim), 1);
    assert!(stats.closed.is_empty(), "{stats:?}");

    // The holder is killed: the follower takes the feed over within seconds, with one
    // connection.
    let died = Instant::now();
    holder.kill();
    eventually(Duration::from_secs(15), "the feed taken over", || {
        let stats = sim.ws_stats();
        stats.accepted_total >= 2 && btc_streams(&sim) == 1 && stats.open == 1
    })
    .await;
    let moved_after = died.elapsed();
    assert!(moved_after < Duration::from_secs(15), "{moved_after:?}");
    let after = streamed_ticker(&follower).await;
    assert!(after["timestamp"].as_i64() > b["timestamp"].as_i64());
    let stats = sim.ws_stats();
    assert_eq!(
        stats.accepted_total, 2,
        "one connection taking over, no more: {stats:?}"
    );
    eprintln!("the feed moved {moved_after:?} after the holder's SIGKILL");
}
