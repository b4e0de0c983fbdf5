//! The Python client example (`examples/python/`, redis-py only) gets a ticker through the
//! pool: a real worker, the simulator and a private redis-server.

mod common;

use common::redis::RedisServer;
use common::simulator;
use common::worker::start_worker;

#[tokio::test]
async fn the_python_client_gets_a_ticker_through_the_pool() {
    let sim = simulator();
    let redis = RedisServer::start();
    let _worker = start_worker(&sim, &redis, &[]);
    // redis-py names unix sockets unix://.
    let url = format!("unix://{}", redis.socket().display());
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/python/crypto_market_client.py"
    );
    let out = tokio::process::Command::new("python3")
        .arg(script)
        .args(["BTC/USDT", "NOPE/USDT"])
        .env("REDIS_URL", &url)
        .output()
        .await
        .expect("python3 runs (.ci/run installs redis-py)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}\n{stderr}")))
        .collect();
    assert_eq!(lines.len(), 2, "{stdout}\n{stderr}");
    let served = sim.last_response("ticker/24hr", Some("BTCUSDT")).unwrap();
    assert_eq!(lines[0]["symbol"], "BTC/USDT");
    assert_eq!(
        lines[0]["last"].as_f64().unwrap(),
        common::num(&served["lastPrice"])
    );
    assert_eq!(lines[1]["error"], "invalid_symbol");
    // One symbol failed: the script says so in its exit status.
    assert_eq!(out.status.code(), Some(1), "{stderr}");
}
