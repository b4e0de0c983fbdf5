//! Issue 12, across nodes: a symbol kept warm (`WARM_SYMBOLS`) streams from the simulator's
//! websocket from start; every tick is served locally with `source: "stream"` (no REST call)
//! and published on `{prefix}:ticker:{exchange}:{symbol}` for subscribers on any node.

mod common;

use std::time::Duration;

use common::redis::RedisServer;
use common::{ok, start_server};
use crypto_market_sim::{SimConfig, Simulator};
use serde_json::{json, Value};

#[tokio::test]
async fn a_warm_symbol_streams_from_start_and_every_tick_reaches_redis_subscribers() {
    let sim = Simulator::start(SimConfig {
        ws_ticker_interval_ms: 200,
        ..SimConfig::default()
    })
    .expect("simulator");
    let redis = RedisServer::start();
    let mut ticks = common::worker::subscribe(&redis, "crypto_mcp:ticker:binance:BTC/USDT").await;
    let url = redis.url();
    let server = start_server(
        &sim,
        &[
            ("USE_REDIS_CACHE", "true"),
            ("REDIS_URL", url.as_str()),
            ("WARM_SYMBOLS", "BTC/USDT"),
        ],
    )
    .await;
    // No tool call: the warm symbol's ticks arrive by themselves, in order, the simulator's.
    let mut previous = 0;
    // REST may answer once if the first tick is slow (a loaded machine); none once it flows.
    let mut polled = None;
    for _ in 0..5 {
        let tick = tokio::time::timeout(Duration::from_secs(20), ticks.recv())
            .await
            .expect("a tick within 20 s")
            .expect("a message");
        if tick["source"] == "stream" {
            polled.get_or_insert_with(|| sim.calls("ticker/24hr"));
        }
        assert_eq!(tick["symbol"], "BTC/USDT");
        assert_eq!(tick["exchange"], "binance");
        let at = tick["timestamp"].as_i64().unwrap();
        assert!(at >= previous, "ticks in order");
        previous = at;
        let rest: Value = serde_json::from_str(
            &sim.rest_body_at("ticker/24hr", "symbol=BTCUSDT", at as u64)
                .unwrap(),
        )
        .unwrap();
        let rest_last: f64 = rest["lastPrice"].as_str().unwrap().parse().unwrap();
        assert_eq!(tick["last"].as_f64(), Some(rest_last));
    }
    let served = server
        .call("get_ticker", json!({"symbol": "BTC/USDT"}))
        .await;
    assert_eq!(ok(&served)["source"], "stream");
    assert!(ok(&served)["age_ms"].as_i64().unwrap() < 5_000);
    assert!(polled.is_some(), "ticks came from the stream");
    assert_eq!(
        Some(sim.calls("ticker/24hr")),
        polled,
        "no REST ticker call while the symbol streams"
    );
    assert_eq!(sim.ws_stats().open, 1);
}
