//! The Rust pool client against a real worker, simulator and private redis-server.

mod common;

use std::time::Duration;

use common::redis::RedisServer;
use common::simulator;
use common::worker::start_worker;
use crypto_market_actors::redis_target::RedisTarget;
use crypto_market_mcp::client::{ClientError, PubSubClient, PubSubConfig};
use serde_json::json;

fn config(client_id: &str) -> PubSubConfig {
    common::worker::pool_config(client_id, Duration::from_secs(20))
}

#[tokio::test]
async fn the_client_gets_results_and_typed_errors_from_the_pool() {
    let sim = simulator();
    let redis = RedisServer::start();
    let _worker = start_worker(&sim, &redis, &[]);
    let target = RedisTarget::new(redis.url(), "crypto_mcp");
    let client = PubSubClient::connect(target, config("tester"))
        .await
        .unwrap();
    let ticker = client
        .call("get_ticker", json!({"symbol": "BTC/USDT"}))
        .await
        .unwrap();
    let served = sim.last_response("ticker/24hr", Some("BTCUSDT")).unwrap();
    assert_eq!(ticker["symbol"], "BTC/USDT");
    assert_eq!(
        ticker["last"].as_f64().unwrap(),
        common::num(&served["lastPrice"])
    );
    // Many calls at once share the client's one reply channel.
    let calls = (0..20).map(|_| client.call("get_ticker", json!({"symbol": "eth-usdt"})));
    let answers = futures::future::join_all(calls).await;
    assert!(answers
        .iter()
        .all(|a| a.as_ref().unwrap()["symbol"] == "ETH/USDT"));
    let err = client
        .call("get_ticker", json!({"symbol": "NOPE/USDT"}))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Remote { code, retryable: false, .. } if code == "invalid_symbol"),
        "{err:?}"
    );
}

#[tokio::test]
async fn with_no_worker_the_client_times_out_with_the_request_id() {
    let redis = RedisServer::start();
    let target = RedisTarget::new(redis.url(), "crypto_mcp");
    let client = PubSubClient::connect(target, config("lonely"))
        .await
        .unwrap();
    let err = client
        .publish_request(
            "get_ticker",
            json!({"symbol": "BTC/USDT"}),
            Duration::from_millis(300),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Timeout { request_id, .. } if request_id.starts_with("lonely-")),
        "{err:?}"
    );
}
