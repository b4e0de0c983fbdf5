//! Issue 13, Redis behind Sentinel: an MCP server and two workers find the master through a
//! sentinel. The master is SIGKILLed while an MCP client calls `get_ticker` every 50 ms: no
//! call fails, and soon after the replica's promotion every node is on the new master (a
//! worker's fetch is served by the MCP server from Redis, the request stream is served, the
//! workers heartbeat there).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::redis_topology::{query, role, SentinelRig};
use common::worker::start_worker_env;
use common::{ok, start_server};
use crypto_market_actors::redis_target::{RedisTarget, Topology};
use crypto_market_mcp::client::{PubSubClient, PubSubConfig};
use crypto_market_sim::{SimConfig, Simulator};
use redis::AsyncCommands;
use serde_json::json;

/// Each call's end and the source it was served from, or its failure.
type Outcomes = Vec<(Instant, Result<String, String>)>;

fn client_config() -> PubSubConfig {
    PubSubConfig {
        request_channel: "crypto_mcp:requests".into(),
        response_channel: "crypto_mcp:responses".into(),
        request_timeout: Duration::from_secs(5),
        client_id: Some("sentinel-test".into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_killed_under_load_fails_no_call_and_every_node_follows_the_new_master() {
    let sim = Simulator::start(SimConfig {
        extra_symbols: 40,
        ..Default::default()
    })
    .expect("simulator");
    let mut rig = tokio::task::spawn_blocking(SentinelRig::start)
        .await
        .expect("sentinel rig");
    let sentinels = rig.sentinels();
    // A short TTL: the MCP server keeps going to Redis (and the exchange), not only memory.
    let env = [
        ("USE_REDIS_CACHE", "true"),
        ("CACHE_TTL", "2"),
        ("REDIS_MODE", "sentinel"),
        ("REDIS_NODES", sentinels.as_str()),
    ];
    let _workers = [start_worker_env(&sim, &env), start_worker_env(&sim, &env)];
    let server = Arc::new(start_server(&sim, &env).await);
    // The test's own connection is the product's: it follows the master as the nodes do.
    let target =
        RedisTarget::new("redis://127.0.0.1:1/0", "crypto_mcp").with_topology(Topology::Sentinel {
            nodes: vec![sentinels.clone()],
            master: "mymaster".into(),
        });
    let conn = target
        .connection()
        .await
        .expect("the master, through the sentinel");
    common::worker::wait_until(Duration::from_secs(60), "2 workers", || {
        let mut conn = conn.clone();
        async move {
            conn.hlen::<_, usize>("crypto_mcp:workers")
                .await
                .unwrap_or(0)
                >= 2
        }
    })
    .await;
    let client = PubSubClient::connect(target.clone(), client_config())
        .await
        .expect("pool client");
    client
        .call("get_ticker", json!({"symbol": "ETH/USDT"}))
        .await
        .expect("the pool serves before the failover");
    ok(&server
        .call("get_ticker", json!({"symbol": "BTC/USDT"}))
        .await);

    // An MCP client calling every 50 ms throughout.
    let stop = Arc::new(AtomicBool::new(false));
    let outcomes: Arc<Mutex<Outcomes>> = Arc::default();
    let caller = {
        let (server, stop, outcomes) = (server.clone(), stop.clone(), outcomes.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let r = server
                    .call("get_ticker", json!({"symbol": "BTC/USDT"}))
                    .await;
                let outcome = match r.is_error {
                    Some(true) => Err(format!("{:?}", r.structured_content)),
                    _ => Ok(r.structured_content.as_ref().map_or(String::new(), |s| {
                        s["source"].as_str().unwrap_or_default().to_owned()
                    })),
                };
                outcomes.lock().unwrap().push((Instant::now(), outcome));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;

    let killed = Instant::now();
    rig.kill_master();
    // Promotion (as the sentinel reports it) and the first write through a sentinel-following
    // connection, both timed from the master's death.
    let (mut promoted, mut first_write) = (None, None);
    let mut probe = conn.clone();
    while promoted.is_none() || first_write.is_none() {
        assert!(
            killed.elapsed() < Duration::from_secs(60),
            "no failover within 60 s (promoted {promoted:?}, first write {first_write:?})"
        );
        if promoted.is_none()
            && rig.master_port() == Some(rig.replica)
            && role(rig.replica).as_deref() == Some("master")
        {
            promoted = Some(killed.elapsed());
        }
        if first_write.is_none() {
            let wrote: redis::RedisResult<()> = probe.set("sentinel-test:probe", "after").await;
            if wrote.is_ok() {
                first_write = Some(killed.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let promoted = promoted.unwrap();
    let promoted_at = killed + promoted;
    let stored: Option<String> =
        query(rig.replica, redis::cmd("GET").arg("sentinel-test:probe")).unwrap();
    assert_eq!(
        stored.as_deref(),
        Some("after"),
        "the write landed on the new master"
    );

    // Within 10 s of the promotion: a worker's fetch (through the request stream) is served
    // by the MCP server from Redis. Each round a symbol nobody asked yet.
    let deadline = promoted_at + Duration::from_secs(10);
    let (mut stream_served, mut shared) = (None, None);
    for round in 1..=40 {
        assert!(Instant::now() < deadline, "nodes not back on the new master within 10 s of the promotion (stream {stream_served:?})");
        let symbol = format!("SIM{round:04}/USDT");
        let reply = client
            .publish_request(
                "get_ticker",
                json!({"symbol": symbol}),
                Duration::from_secs(2),
            )
            .await;
        let Ok(from_worker) = reply else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        stream_served.get_or_insert_with(|| killed.elapsed());
        let from_mcp = server.call("get_ticker", json!({"symbol": symbol})).await;
        if ok(&from_mcp)["source"] == "redis" {
            assert_eq!(ok(&from_mcp)["last"], from_worker["last"]);
            shared = Some(killed.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let shared = shared.expect("a worker's fetch served by the MCP server from Redis");
    // Both workers heartbeat into the new master.
    common::redis_topology::wait(
        Duration::from_secs(10),
        "heartbeats on the new master",
        || {
            let workers: std::collections::HashMap<String, String> =
                query(rig.replica, redis::cmd("HGETALL").arg("crypto_mcp:workers"))
                    .unwrap_or_default();
            let after = crypto_market_mcp::worker::now_ms() - killed.elapsed().as_millis() as u64;
            workers
                .values()
                .filter_map(|w| serde_json::from_str::<serde_json::Value>(w).ok())
                .filter(|w| w["last_seen_ms"].as_u64().is_some_and(|t| t > after))
                .count()
                >= 2
        },
    );

    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    caller.await.unwrap();
    let outcomes = outcomes.lock().unwrap();
    let during = outcomes.iter().filter(|(at, _)| *at >= killed).count();
    let failed: Vec<_> = outcomes.iter().filter(|(_, o)| o.is_err()).collect();
    assert!(
        failed.is_empty(),
        "failed calls across the failover: {failed:?}"
    );
    assert!(
        during >= 20,
        "the caller kept calling ({during} calls after the kill)"
    );
    eprintln!(
        "sentinel failover: promoted after {promoted:?}, first write on the new master after \
         {first_write:?}, stream served after {stream_served:?}, shared cache after {shared:?} \
         (from the master's death); {during} MCP calls during it, none failed",
        first_write = first_write.unwrap()
    );
}
