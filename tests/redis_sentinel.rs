//! Issue 13, Redis behind Sentinel: an MCP server and two workers find the master through a
//! sentinel. The master is SIGKILLed under traffic that needs Redis: pool requests (the request
//! stream and the reply channel are Redis) for symbols nobody holds, each followed by an MCP
//! call for the same symbol (from Redis when it works, a miss to the exchange when not). Every
//! pool request is answered, its retries counted and bounded to the failover; no MCP call
//! fails; MCP calls are served from Redis before the kill and again after the promotion; and
//! every node ends up on the new master (the workers heartbeat there).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::failover_traffic::{verdict, Traffic};
use common::redis_topology::{query, role, SentinelRig};
use common::worker::{pool_config, start_worker_env, topology_env, wait_for_workers};
use common::{ok, start_server};
use crypto_market_actors::redis_target::{RedisTarget, Topology};
use crypto_market_mcp::client::PubSubClient;
use redis::AsyncCommands;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_killed_under_redis_traffic_loses_no_request_and_every_node_follows_the_new_master(
) {
    // Enough symbols that each round asks for one nobody holds in memory.
    let sim = common::simulator_with(600);
    let mut rig = tokio::task::spawn_blocking(SentinelRig::start)
        .await
        .expect("sentinel rig");
    let sentinels = rig.sentinels();
    // A short TTL: the MCP server keeps going to Redis (and the exchange), not only memory.
    let env = topology_env("sentinel", &sentinels, "2");
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
    wait_for_workers(&mut conn.clone(), 2).await;
    let client = Arc::new(
        PubSubClient::connect(
            target.clone(),
            pool_config("sentinel-test", Duration::from_secs(5)),
        )
        .await
        .expect("pool client"),
    );
    // Markets loaded everywhere first (each node loads its own list on its first request,
    // which takes seconds for 600 markets in a debug build).
    let warm = (0..10).map(|_| {
        client.publish_request("list_markets", json!({"limit": 1}), Duration::from_secs(30))
    });
    for answer in futures::future::join_all(warm).await {
        answer.expect("the pool serves before the failover");
    }
    ok(&server.call("list_markets", json!({"limit": 1})).await);

    // Traffic that needs Redis, throughout.
    let symbols = (1..=600).map(|n| format!("SIM{n:04}/USDT")).collect();
    let traffic = Traffic::start(client.clone(), server.clone(), symbols);
    // The kill comes once the traffic is steady: three rounds in a row served from Redis
    // without retries (warming up on a loaded machine may take retries). From then until
    // the kill: served from Redis, no retries (checked at the end).
    let steady_since = traffic.steady(3, Duration::from_secs(60)).await;

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

    // Both workers heartbeat into the new master.
    tokio::task::block_in_place(|| {
        common::redis_topology::wait(
            Duration::from_secs(10),
            "heartbeats on the new master",
            || {
                let workers: std::collections::HashMap<String, String> =
                    query(rig.replica, redis::cmd("HGETALL").arg("crypto_mcp:workers"))
                        .unwrap_or_default();
                let after =
                    crypto_market_mcp::worker::now_ms() - killed.elapsed().as_millis() as u64;
                workers
                    .values()
                    .filter_map(|w| serde_json::from_str::<serde_json::Value>(w).ok())
                    .filter(|w| w["last_seen_ms"].as_u64().is_some_and(|t| t > after))
                    .count()
                    >= 2
            },
        )
    });

    // Some more rounds on the new master, then the verdict.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rounds = traffic.stop().await;
    let summary = verdict(&rounds, steady_since, killed, promoted_at);
    let recovered_at = killed
        + summary
            .first_redis_after
            .unwrap_or_else(|| panic!("no MCP call served from Redis after the kill: {summary:?}"));
    assert!(
        recovered_at <= promoted_at + Duration::from_secs(10),
        "Redis not serving MCP calls within 10 s of the promotion: {summary:?}"
    );
    eprintln!(
        "sentinel failover: promoted after {promoted:?}, first write on the new master after \
         {first_write:?}, an MCP call served from Redis again after {recovered:?} (from the \
         master's death); pool traffic: {summary:?}",
        first_write = first_write.unwrap(),
        recovered = recovered_at - killed,
    );
}
