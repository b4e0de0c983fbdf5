//! Issue 11, the cluster as a whole: MCP servers and workers on one Redis share one cache and
//! one request queue. Many nodes missing one cold symbol make one exchange call; Redis killed
//! mid-run costs no answers, and after its restart sharing and the queue work again.

mod common;

use std::time::{Duration, Instant};

use common::redis::RedisServer;
use common::worker::{
    collect_replies, connect, start_worker, subscribe, wait_for_workers, xadd, Worker,
};
use common::{ok, start_server};
use serde_json::json;

const SHARED: &[(&str, &str)] = &[("USE_REDIS_CACHE", "true"), ("CACHE_TTL", "30")];

fn with_redis(redis_url: &str) -> Vec<(&str, &str)> {
    let mut env = SHARED.to_vec();
    env.push(("REDIS_URL", redis_url));
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_and_two_mcp_servers_make_one_call_for_200_concurrent_cold_requests() {
    let sim = common::simulator();
    let redis = RedisServer::start();
    let url = redis.url();
    let env = with_redis(&url);
    let workers: Vec<Worker> = (0..3).map(|_| start_worker(&sim, &redis, SHARED)).collect();
    let servers = [
        start_server(&sim, &env).await,
        start_server(&sim, &env).await,
    ];
    let mut conn = connect(&redis).await;
    wait_for_workers(&mut conn, 3).await;
    // Markets loaded everywhere first (each node loads its own list once).
    let mut replies = subscribe(&redis, "crypto_mcp:responses:cluster").await;
    for i in 0..30 {
        let warm = json!({"request_id": format!("warm-{i}"), "tool": "list_markets",
                          "args": {"limit": 1}, "reply_to": "crypto_mcp:responses:cluster"});
        xadd(&mut conn, warm.to_string().as_bytes()).await;
    }
    let warmed = collect_replies(&mut replies, 30, Duration::from_secs(60), Duration::ZERO).await;
    assert_eq!(warmed.len(), 30);
    for server in &servers {
        ok(&server.call("list_markets", json!({"limit": 1})).await);
    }
    // A slow exchange: every node misses while the first call is in flight.
    common::slow_tickers(&sim, 1000);
    let ids: Vec<String> = (0..100).map(|i| format!("cold-{i}")).collect();
    for id in &ids {
        let request = json!({"request_id": id, "tool": "get_ticker",
                             "args": {"symbol": "ETH/USDT"}, "reply_to": "crypto_mcp:responses:cluster"});
        xadd(&mut conn, request.to_string().as_bytes()).await;
    }
    let mcp_calls = servers.iter().flat_map(|server| {
        (0..50)
            .map(move |_| common::call(&server.client, "get_ticker", json!({"symbol": "ETH/USDT"})))
    });
    let mcp_answers = futures::future::join_all(mcp_calls).await;
    let pool_answers = collect_replies(
        &mut replies,
        ids.len(),
        Duration::from_secs(60),
        Duration::from_secs(1),
    )
    .await;
    let mut lasts: Vec<f64> = mcp_answers
        .iter()
        .map(|a| ok(a)["last"].as_f64().expect("a price"))
        .collect();
    for id in &ids {
        let replies = &pool_answers[id];
        assert_eq!(replies.len(), 1, "{id}: exactly one reply");
        assert_eq!(replies[0]["ok"], true, "{}", replies[0]);
        lasts.push(replies[0]["result"]["last"].as_f64().expect("a price"));
    }
    common::assert_one_call_served_all(&sim, &lasts, 200);
    drop(workers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_run_costs_no_answers_and_sharing_resumes_after_its_restart() {
    let sim = common::simulator_with(40);
    let mut redis = RedisServer::start();
    let url = redis.url();
    let env = with_redis(&url);
    let mut workers: Vec<Worker> = (0..2).map(|_| start_worker(&sim, &redis, SHARED)).collect();
    let server = start_server(&sim, &env).await;
    let mut conn = connect(&redis).await;
    wait_for_workers(&mut conn, 2).await;
    ok(&server
        .call("get_ticker", json!({"symbol": "BTC/USDT"}))
        .await);

    redis.kill();
    // The MCP server answers throughout, from memory and the exchange, without long stalls;
    // the workers wait for their queue to come back rather than dying.
    for symbol in ["ETH/USDT", "SOL/USDT", "BNB/USDT", "BTC/USDT"] {
        let started = Instant::now();
        let r = server.call("get_ticker", json!({"symbol": symbol})).await;
        ok(&r);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{symbol}: {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    for worker in &mut workers {
        assert!(worker.still_running(), "a worker died with Redis");
    }

    redis.restart();
    let mut conn = connect(&redis).await;
    wait_for_workers(&mut conn, 2).await;
    let mut replies = subscribe(&redis, "crypto_mcp:responses:after").await;
    // The workers serve the stream again, and what a worker fetches (written to the shared
    // cache) is served by the MCP server from Redis: each round a symbol nobody asked yet.
    let mut shared = false;
    for round in 1..=40 {
        let symbol = format!("SIM{round:04}/USDT");
        let id = format!("after-{round}");
        let request = json!({"request_id": id, "tool": "get_ticker",
                             "args": {"symbol": symbol}, "reply_to": "crypto_mcp:responses:after"});
        xadd(&mut conn, request.to_string().as_bytes()).await;
        let got = collect_replies(&mut replies, 1, Duration::from_secs(30), Duration::ZERO).await;
        let reply = &got[&id][0];
        assert_eq!(reply["ok"], true, "{reply}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        let from_mcp = server.call("get_ticker", json!({"symbol": symbol})).await;
        if ok(&from_mcp)["source"] == "redis" {
            assert_eq!(ok(&from_mcp)["last"], reply["result"]["last"]);
            shared = true;
            break;
        }
    }
    assert!(
        shared,
        "after the restart a worker's fetch is served by the MCP server from Redis"
    );
}
