//! `PUBSUB_ENABLED=true`: the MCP server is a gateway to the worker pool. Its tool calls are
//! served by a worker through Redis; it calls no exchange itself (its own REST URL leads
//! nowhere here).

mod common;

use std::time::Duration;

use common::gateway::{gateway_env, start_recorded_gateway, subscribe_for_updates};
use common::redis::RedisServer;
use common::worker::start_worker;
use common::{error_code, ok, simulator, start_server};
use serde_json::json;

#[tokio::test]
async fn an_mcp_gateway_serves_every_call_through_the_pool() {
    let sim = simulator();
    let redis = RedisServer::start();
    let _worker = start_worker(&sim, &redis, &[]);
    let url = redis.url();
    let gateway = start_server(&sim, &gateway_env(&url, &[])).await;
    let r = gateway
        .call("get_ticker", json!({"symbol": "BTC/USDT"}))
        .await;
    let served = sim.last_response("ticker/24hr", Some("BTCUSDT")).unwrap();
    assert_eq!(
        ok(&r)["last"].as_f64().unwrap(),
        common::num(&served["lastPrice"])
    );
    let markets = gateway.call("list_markets", json!({"quote": "USDT"})).await;
    assert_eq!(ok(&markets)["total"], 4);
    // Errors come back with their codes, as tool results.
    let bad = gateway
        .call("get_ticker", json!({"symbol": "NOPE/USDT"}))
        .await;
    assert_eq!(error_code(&bad), "invalid_symbol");
    let bad = gateway
        .call("get_order_book", json!({"symbol": "BTC/USDT", "limit": 0}))
        .await;
    assert_eq!(error_code(&bad), "invalid_argument");
    assert_eq!(
        sim.calls("exchangeInfo"),
        1,
        "only the worker loaded markets"
    );
}

/// Gateway mode cannot carry a stream through the pool's request/reply protocol: it leases the
/// ticker at the pool (`stream_ticker` there keeps it streamed) and follows the ticker's Redis
/// channel, which the pool publishes on with its shared cache (`USE_REDIS_CACHE`), forwarding
/// each new ticker as progress, or as a resource update (tests/gateway_keys.rs: no polling).
#[tokio::test]
async fn an_mcp_gateway_streams_tickers_from_the_pool() {
    let sim = simulator();
    let redis = RedisServer::start();
    let _worker = start_worker(
        &sim,
        &redis,
        &[("CACHE_TTL", "1"), ("USE_REDIS_CACHE", "true")],
    );
    let (gateway, recorder) = start_recorded_gateway(&sim, &redis.url()).await;
    let r = gateway
        .call(
            "stream_ticker",
            json!({"symbol": "ETH/USDT", "max_updates": 2}),
        )
        .await;
    let summary = ok(&r);
    assert_eq!(
        (&summary["symbol"], &summary["updates"]),
        (&json!("ETH/USDT"), &json!(2))
    );
    let last = &summary["last"];
    let at = last["timestamp"].as_u64().unwrap();
    assert_eq!(last["last"].as_f64(), sim.price_at("ETHUSDT", at));
    assert_ne!(summary["first"], summary["last"], "two different tickers");
    let bad = gateway
        .call(
            "stream_ticker",
            json!({"symbol": "ETH/USDT", "duration_s": 0}),
        )
        .await;
    assert_eq!(error_code(&bad), "invalid_argument");

    let uri = "ticker://binance/ETHUSDT";
    subscribe_for_updates(&gateway, &recorder, uri, 2, Duration::from_secs(10)).await;
}
