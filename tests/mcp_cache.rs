//! Caching and single flight, counted at the simulator.

mod common;

use std::time::Duration;

use common::{call, ok, simulator, start_server};
use serde_json::json;

#[tokio::test]
async fn calls_within_the_ttl_share_one_exchange_call_and_after_it_fetch_again() {
    let sim = simulator();
    // A TTL long enough that two back-to-back calls fall within it even on a loaded machine;
    // waiting past it can only make the value older (one-sided).
    let server = start_server(&sim, &[("CACHE_TTL", "2")]).await;
    let first = server
        .call("get_ticker", json!({"symbol": "BTC/USDT"}))
        .await;
    let second = server
        .call("get_ticker", json!({"symbol": "BTC/USDT"}))
        .await;
    assert_eq!(ok(&first)["source"], "exchange");
    assert_eq!(ok(&second)["source"], "cache");
    assert_eq!(ok(&second)["last"], ok(&first)["last"]);
    assert_eq!(sim.calls("ticker/24hr"), 1);

    tokio::time::sleep(Duration::from_millis(2300)).await;
    let third = server
        .call("get_ticker", json!({"symbol": "BTC/USDT"}))
        .await;
    assert_eq!(ok(&third)["source"], "exchange");
    assert_eq!(sim.calls("ticker/24hr"), 2);
    let served = sim.last_response("ticker/24hr", Some("BTCUSDT")).unwrap();
    assert_eq!(
        ok(&third)["last"].as_f64().unwrap(),
        common::num(&served["lastPrice"]),
        "the new fetch's price"
    );
}

#[tokio::test]
async fn fifty_concurrent_calls_for_a_cold_symbol_make_one_exchange_call() {
    let sim = simulator();
    // Latency keeps the first call in flight while the other 49 arrive (they are sent at
    // once; 1.5 s is a margin a loaded machine does not eat).
    sim.set_faults(crypto_market_sim::Faults {
        latency_ms: 1500,
        endpoints: Some(vec!["ticker/24hr".into()]),
        ..Default::default()
    });
    let server = start_server(&sim, &[]).await;
    let calls = (0..50).map(|_| call(&server.client, "get_ticker", json!({"symbol": "ETH/USDT"})));
    let results = futures::future::join_all(calls).await;
    let lasts: Vec<f64> = results
        .iter()
        .map(|r| ok(r)["last"].as_f64().unwrap())
        .collect();
    assert!(
        lasts.iter().all(|l| *l == lasts[0]),
        "every caller got the same price"
    );
    assert_eq!(sim.calls("ticker/24hr"), 1);
    assert_eq!(sim.calls("exchangeInfo"), 1);
    let from_exchange = results
        .iter()
        .filter(|r| ok(r)["source"] == "exchange")
        .count();
    assert_eq!(from_exchange, 50, "all 50 shared the one in-flight fetch");
}
