//! Issue 20, the gateway (`PUBSUB_ENABLED`, SPEC.md section 9): it forwards its caller's key
//! to a pool that requires keys (its own `PUBSUB_API_KEY` for callers without one), the pool
//! charges the client's rate once, and streams and subscriptions follow the ticker's Redis
//! channel instead of asking the pool for the ticker again and again.

mod common;

use std::time::Duration;

use common::gateway::{gateway_env, start_recorded_gateway, subscribe_for_updates};
use common::http_front::{keys_file, tempdir};
use common::redis::RedisServer;
use common::worker::{connect, start_worker, wait_for_workers, REQUESTS};
use common::{error_code, ok, simulator};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::ServiceExt;
use serde_json::{json, Value};

/// Requests ever added to the request stream (entries answered and deleted included).
async fn requests_added(conn: &mut redis::aio::MultiplexedConnection) -> i64 {
    let info: redis::Value = redis::cmd("XINFO")
        .arg("STREAM")
        .arg(REQUESTS)
        .query_async(conn)
        .await
        .expect("XINFO STREAM");
    let pairs: Vec<(redis::Value, redis::Value)> = match info {
        redis::Value::Map(pairs) => pairs,
        redis::Value::Array(items) => items
            .chunks(2)
            .filter_map(|pair| match pair {
                [key, value] => Some((key.clone(), value.clone())),
                _ => None,
            })
            .collect(),
        other => panic!("XINFO STREAM: {other:?}"),
    };
    pairs
        .into_iter()
        .find_map(|(key, value)| match (key, value) {
            (redis::Value::BulkString(key), redis::Value::Int(n)) if key == b"entries-added" => {
                Some(n)
            }
            _ => None,
        })
        .expect("entries-added (Redis 7)")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_forwards_keys_to_a_pool_that_requires_them_and_is_charged_once() {
    let sim = simulator();
    let redis = RedisServer::start();
    let dir = tempdir("gw-keys");
    let file = keys_file(
        &dir,
        &[
            ("gw", "gw-key", 100.0, 100, None),
            ("alpha", "alpha-key", 0.01, 3, None),
        ],
    );
    let file = file.to_str().unwrap();
    let _worker = start_worker(
        &sim,
        &redis,
        &[("API_KEYS_FILE", file), ("USE_REDIS_CACHE", "true")],
    );
    let mut conn = connect(&redis).await;
    wait_for_workers(&mut conn, 1).await;
    let url = redis.url();
    let gateway_env = gateway_env(
        &url,
        &[("PUBSUB_API_KEY", "gw-key"), ("PUBSUB_CLIENT_ID", "gw")],
    );

    // Over stdio the gateway presents its own key.
    let stdio = common::start_server(&sim, &gateway_env).await;
    let r = stdio
        .call("get_ticker", json!({"symbol": "BTC/USDT"}))
        .await;
    assert_eq!(ok(&r)["symbol"], "BTC/USDT");

    // Over HTTP with client keys, each caller's own key: alpha's burst of 3 holds once
    // (a gateway charging it too would let fewer through).
    let mut http_env = gateway_env.clone();
    http_env.push(("API_KEYS_FILE", file));
    let (_child, addr) = common::start_http_server(&sim, &http_env).await;
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(format!("http://{addr}/mcp").as_str())
            .auth_header("alpha-key"),
    );
    let alpha = ().serve(transport).await.expect("initialize");
    let mut codes = Vec::new();
    for _ in 0..5 {
        let r = common::call(&alpha, "get_ticker", json!({"symbol": "ETH/USDT"})).await;
        codes.push(if r.is_error == Some(true) {
            error_code(&r)
        } else {
            "ok".to_owned()
        });
    }
    assert_eq!(codes, ["ok", "ok", "ok", "rate_limited", "rate_limited"]);

    // The pool counted them under alpha, not under the gateway's key.
    let mut replies = common::worker::subscribe(&redis, "crypto_mcp:responses:gw:test").await;
    let status = json!({"request_id": "status", "tool": "status", "args": {},
                        "reply_to": "crypto_mcp:responses:gw:test", "api_key": "gw-key"});
    common::worker::xadd(&mut conn, status.to_string().as_bytes()).await;
    let reply: Value = tokio::time::timeout(Duration::from_secs(10), replies.recv())
        .await
        .expect("a status reply")
        .expect("a reply");
    let clients = &reply["result"]["clients"];
    assert_eq!(clients["alpha"]["requests"], 3, "{reply}");
    assert_eq!(clients["alpha"]["rejected"], 2, "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_follows_ticker_channels_instead_of_polling_the_pool() {
    let sim = simulator();
    let redis = RedisServer::start();
    let _worker = start_worker(&sim, &redis, &[("USE_REDIS_CACHE", "true")]);
    let mut conn = connect(&redis).await;
    wait_for_workers(&mut conn, 1).await;
    let (gateway, recorder) = start_recorded_gateway(&sim, &redis.url()).await;
    let uri = "ticker://binance/ETHUSDT";
    subscribe_for_updates(&gateway, &recorder, uri, 2, Duration::from_secs(15)).await;
    // Updates keep coming while nothing is asked of the pool.
    let before = requests_added(&mut conn).await;
    let updates = recorder.updates_of(uri).len();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let asked = requests_added(&mut conn).await - before;
    let heard = recorder.updates_of(uri).len() - updates;
    assert!(heard >= 2, "updates kept coming: {heard}");
    assert_eq!(asked, 0, "requests to the pool while subscribed: {asked}");

    // stream_ticker too: a read and a lease, then the channel.
    let before = requests_added(&mut conn).await;
    let r = gateway
        .call(
            "stream_ticker",
            json!({"symbol": "BTC/USDT", "duration_s": 4}),
        )
        .await;
    let summary = ok(&r);
    assert!(summary["updates"].as_u64().unwrap() >= 2, "{summary}");
    let asked = requests_added(&mut conn).await - before;
    assert!(asked <= 2, "requests for one 4 s stream: {asked}");
}
