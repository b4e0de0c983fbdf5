//! Issue 13, one exchange budget per IP: processes on one Redis share the exchange's request
//! weight (`EXCHANGE_WEIGHT_LIMIT`), and a 429 seen by one pauses them all.

mod common;

use std::time::{Duration, Instant};

use common::redis::RedisServer;
use common::{error_code, start_server, McpServer};
use crypto_market_sim::{Faults, SimConfig, Simulator};
use serde_json::json;

async fn servers(
    sim: &crypto_market_sim::SimHandle,
    redis: &RedisServer,
    limit: &str,
) -> Vec<McpServer> {
    let url = redis.url();
    let env = [
        ("USE_REDIS_CACHE", "true"),
        ("REDIS_URL", url.as_str()),
        ("EXCHANGE_WEIGHT_LIMIT", limit),
    ];
    let mut servers = Vec::new();
    for _ in 0..3 {
        servers.push(start_server(sim, &env).await);
    }
    servers
}

/// Binance's weights of what the engine calls here.
fn weight(endpoint: &str) -> u64 {
    match endpoint {
        "exchangeInfo" => 20,
        _ => 2,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_stay_inside_one_budget_and_the_exchange_never_says_429() {
    // The simulator enforces Binance's rule at the same 120 a minute: going over means 429s.
    let sim = Simulator::start(SimConfig {
        extra_symbols: 3000,
        weight_limit: 120,
        ..Default::default()
    })
    .expect("simulator");
    let redis = RedisServer::start();
    let servers = servers(&sim, &redis, "120").await;
    let until = Instant::now() + Duration::from_secs(20);
    let hammer = servers.iter().enumerate().map(|(n, server)| async move {
        let mut i = 0;
        let mut outcomes = std::collections::HashMap::<String, usize>::new();
        while Instant::now() < until {
            i += 1;
            let symbol = format!("SIM{:04}/USDT", n * 1000 + i);
            let r = common::call(&server.client, "get_ticker", json!({"symbol": symbol})).await;
            let outcome = if r.is_error == Some(true) {
                error_code(&r)
            } else {
                "ok".into()
            };
            *outcomes.entry(outcome).or_default() += 1;
            if r.is_error == Some(true) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        outcomes
    });
    let outcomes = futures::future::join_all(hammer).await;
    let requests = sim.requests();
    assert!(
        requests
            .iter()
            .all(|r| !matches!(r.status, Some(429 | 418))),
        "the exchange had to say 429: {outcomes:?}"
    );
    let first = requests.iter().map(|r| r.received_us).min().unwrap_or(0);
    let last = requests.iter().map(|r| r.received_us).max().unwrap_or(0);
    let span_s = (last - first) as f64 / 1e6;
    let total: u64 = requests.iter().map(|r| weight(&r.endpoint)).sum();
    // One burst (20) plus 2 a second: the three together, not each.
    let allowed = 20.0 + 2.0 * span_s + 2.0;
    assert!(
        (total as f64) <= allowed,
        "{total} weight in {span_s:.1} s (allowed {allowed:.0}): {outcomes:?}"
    );
    let served: usize = outcomes
        .iter()
        .map(|o| o.get("ok").copied().unwrap_or(0))
        .sum();
    assert!(
        served >= 10,
        "the budget was used, not refused: {outcomes:?}"
    );
    for o in &outcomes {
        assert!(
            o.keys().all(|k| k == "ok" || k == "rate_limited"),
            "only answers or rate_limited: {o:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_seen_by_one_process_stops_the_others_calling() {
    let sim = Simulator::start(SimConfig {
        extra_symbols: 100,
        ..Default::default()
    })
    .expect("simulator");
    let redis = RedisServer::start();
    let servers = servers(&sim, &redis, "6000").await;
    for server in &servers {
        common::ok(&server.call("list_markets", json!({"limit": 1})).await);
    }
    sim.set_faults(Faults {
        force_status: Some(429),
        retry_after_s: 5,
        endpoints: Some(vec!["ticker/24hr".into()]),
        ..Default::default()
    });
    let r = servers[0]
        .call("get_ticker", json!({"symbol": "SIM0001/USDT"}))
        .await;
    assert_eq!(error_code(&r), "rate_limited");
    let calls = sim.calls("ticker/24hr");
    sim.set_faults(Faults::default());
    // The exchange is fine again, but the others were told to wait: they do not call it.
    for (n, server) in servers.iter().enumerate().skip(1) {
        let symbol = format!("SIM{:04}/USDT", 10 + n);
        let r = server.call("get_ticker", json!({"symbol": symbol})).await;
        assert_eq!(
            error_code(&r),
            "rate_limited",
            "server {n}: {}",
            server.stderr.lock().unwrap()
        );
        let wait = r.structured_content.as_ref().unwrap()["error"]["retry_after_ms"]
            .as_u64()
            .expect("retry_after_ms");
        assert!(wait > 0 && wait <= 5_000, "{wait}");
    }
    assert_eq!(
        sim.calls("ticker/24hr"),
        calls,
        "nobody called during the pause"
    );
    // After the pause everyone calls again.
    tokio::time::sleep(Duration::from_millis(5_200)).await;
    let r = servers[2]
        .call("get_ticker", json!({"symbol": "SIM0050/USDT"}))
        .await;
    common::ok(&r);
}
