//! Issue 13, Redis Cluster: two MCP servers and two workers on three masters (each with a
//! replica). Every tool works through MCP and through the worker protocol, the shared cache
//! spreads over the masters, one exchange call serves a cold key for the whole deployment, and
//! the master holding the request stream is SIGKILLed under traffic that needs Redis (pool
//! requests, each followed by an MCP call for the same symbol): every pool request is
//! answered, its retries counted and bounded to the failover, no MCP call fails, and the
//! cache is shared again through the promoted replica.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::failover_traffic::{verdict, Traffic};
use common::redis_topology::ClusterRig;
use common::worker::{pool_config, start_worker_env, topology_env, wait_for_workers};
use common::{ok, start_server};
use crypto_market_actors::redis_target::{RedisTarget, Topology};
use crypto_market_mcp::client::{PubSubClient, PubSubConfig};
use crypto_market_sim::Faults;
use futures::StreamExt;
use redis::AsyncCommands;
use serde_json::{json, Value};

fn client_config(id: &str) -> PubSubConfig {
    pool_config(id, Duration::from_secs(20))
}

fn cluster_target(rig: &ClusterRig) -> RedisTarget {
    RedisTarget::new("redis://127.0.0.1:1/0", "crypto_mcp").with_topology(Topology::Cluster {
        nodes: rig.seeds().split(',').map(str::to_owned).collect(),
    })
}

fn cache_key(symbol: &str) -> String {
    format!("crypto_mcp:cache:binance:ticker:{symbol}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_and_two_workers_share_a_three_master_cluster_and_ride_out_a_master_crash() {
    // SIM0001..0200 for the check after the failover, SIM0201..1000 for the traffic.
    let sim = common::simulator_with(1000);
    let mut rig = tokio::task::spawn_blocking(ClusterRig::start)
        .await
        .expect("cluster rig");
    let seeds = rig.seeds();
    let env = topology_env("cluster", &seeds, "5");
    let _workers = [start_worker_env(&sim, &env), start_worker_env(&sim, &env)];
    let servers = [
        Arc::new(start_server(&sim, &env).await),
        Arc::new(start_server(&sim, &env).await),
    ];
    let target = cluster_target(&rig);
    let conn = target.connection().await.expect("the cluster");
    wait_for_workers(&mut conn.clone(), 2).await;
    let client = Arc::new(
        PubSubClient::connect(target.clone(), client_config("cluster-test"))
            .await
            .expect("pool client"),
    );

    // Markets loaded everywhere first (each node loads its own list once).
    let warm = (0..10).map(|_| client.call("list_markets", json!({"limit": 1})));
    for answer in futures::future::join_all(warm).await {
        answer.expect("list_markets through the pool");
    }
    for server in &servers {
        ok(&server.call("list_markets", json!({"limit": 1})).await);
    }

    // One exchange call for a cold key, however many nodes ask at once.
    common::slow_tickers(&sim, 1000);
    sim.reset_calls();
    let mcp = servers.iter().flat_map(|server| {
        (0..5)
            .map(move |_| common::call(&server.client, "get_ticker", json!({"symbol": "SOL/USDT"})))
    });
    let pool = (0..10).map(|_| client.call("get_ticker", json!({"symbol": "SOL/USDT"})));
    let (mcp, pool) = futures::join!(
        futures::future::join_all(mcp),
        futures::future::join_all(pool)
    );
    let mcp: Vec<Value> = mcp.iter().map(|r| ok(r).clone()).collect();
    let pool: Vec<Value> = pool
        .into_iter()
        .map(|r| r.expect("a pool answer"))
        .collect();
    let lasts: Vec<Value> = mcp.iter().chain(&pool).map(|a| a["last"].clone()).collect();
    common::assert_one_call_served_all(&sim, &lasts, 20);
    sim.set_faults(Faults::default());

    // Every tool, through MCP and through the pool.
    let calls: &[(&str, Value)] = &[
        ("get_ticker", json!({"symbol": "BTC/USDT"})),
        (
            "get_tickers",
            json!({"symbols": ["BTC/USDT", "ETH/USDT", "BNB/USDT"]}),
        ),
        (
            "get_ohlcv",
            json!({"symbol": "BTC/USDT", "timeframe": "1h", "limit": 5}),
        ),
        ("get_order_book", json!({"symbol": "ETH/USDT", "limit": 5})),
        ("get_trades", json!({"symbol": "BNB/USDT", "limit": 5})),
        ("list_markets", json!({"quote": "USDT", "limit": 5})),
    ];
    for (tool, args) in calls {
        for server in &servers {
            ok(&server.call(tool, args.clone()).await);
        }
        client
            .call(tool, args.clone())
            .await
            .unwrap_or_else(|e| panic!("{tool} through the pool: {e}"));
    }
    let streamed = servers[0]
        .call(
            "stream_ticker",
            json!({"symbol": "BTC/USDT", "duration_s": 10, "max_updates": 1}),
        )
        .await;
    assert_eq!(ok(&streamed)["updates"], 1);
    // The pool's stream_ticker names a channel; its ticks reach a subscriber on any node.
    let mut pubsub = target.pubsub().await.expect("a subscriber");
    let lease = client
        .call(
            "stream_ticker",
            json!({"symbol": "ETH/USDT", "duration_s": 30}),
        )
        .await
        .expect("stream_ticker through the pool");
    let channel = lease["channel"].as_str().expect("a channel").to_owned();
    assert_eq!(channel, "crypto_mcp:ticker:binance:ETH/USDT");
    pubsub.subscribe(&channel).await.unwrap();
    let tick = tokio::time::timeout(Duration::from_secs(20), pubsub.on_message().next())
        .await
        .expect("a tick on the channel")
        .expect("a message");
    let tick: Value = serde_json::from_slice(tick.get_payload_bytes()).unwrap();
    assert_eq!(tick["symbol"], "ETH/USDT");
    drop(pubsub);
    // The exchange budget's script touches three keys: one hash tag keeps them in one slot.
    let mut check = conn.clone();
    let sharers: usize = check
        .zcard("crypto_mcp:budget:{binance}:sharers")
        .await
        .expect("ZCARD");
    assert!(
        sharers >= 2,
        "the shared budget works on the cluster ({sharers} sharers)"
    );
    let status = client.call("status", json!({})).await.expect("status");
    assert_eq!(
        status["workers"].as_array().map(Vec::len),
        Some(2),
        "{status}"
    );

    // The shared cache spreads over the masters (keys are hashed to slots).
    let masters = rig.masters();
    assert_eq!(masters.len(), 3);
    let holding: Vec<(u16, usize)> = masters
        .iter()
        .map(|&m| (m, rig.keys_on(m, "crypto_mcp:cache:*").len()))
        .collect();
    assert!(
        holding.iter().filter(|(_, n)| *n > 0).count() >= 2,
        "cache keys on one master only: {holding:?}"
    );

    // SIGKILL the master holding the request stream (every pool request goes through it)
    // under traffic that needs Redis.
    let victim = rig.master_of("crypto_mcp:requests").expect("a master");
    let victim_slots: Vec<(u16, u16)> = rig
        .nodes_view()
        .into_iter()
        .find(|n| n.port == victim)
        .map(|n| n.slots)
        .unwrap();
    let symbols = (201..=1000).map(|n| format!("SIM{n:04}/USDT")).collect();
    let traffic = Traffic::start(client.clone(), servers[0].clone(), symbols);
    // The kill comes once the traffic is steady: three rounds in a row served from Redis
    // without retries (warming up on a loaded machine may take retries). From then until
    // the kill: served from Redis, no retries (checked at the end).
    let steady_since = traffic.steady(3, Duration::from_secs(60)).await;
    let killed = Instant::now();
    rig.kill(victim);
    let whole = {
        let rig = &rig;
        tokio::task::block_in_place(|| rig.wait_until_whole(Duration::from_secs(60)));
        killed.elapsed()
    };
    // After the promotion: a worker's fetch of a key in the dead master's slots (now the
    // promoted replica's) is served by an MCP server from Redis.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut shared = None;
    let mut seen = Vec::new();
    'symbols: for n in 1..=200 {
        let symbol = format!("SIM{n:04}/USDT");
        let slot = rig.slot(&cache_key(&symbol)).expect("a slot");
        if !victim_slots.iter().any(|(a, b)| (*a..=*b).contains(&slot)) {
            continue;
        }
        while Instant::now() < deadline {
            let Ok(from_worker) = client
                .publish_request(
                    "get_ticker",
                    json!({"symbol": symbol}),
                    Duration::from_secs(3),
                )
                .await
            else {
                seen.push(format!("{symbol}: pool failed at {:?}", killed.elapsed()));
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            tokio::time::sleep(Duration::from_millis(200)).await;
            let from_mcp = servers[1]
                .call("get_ticker", json!({"symbol": symbol}))
                .await;
            if ok(&from_mcp)["source"] == "redis" {
                assert_eq!(ok(&from_mcp)["last"], from_worker["last"]);
                shared = Some(killed.elapsed());
                break 'symbols;
            }
            seen.push(format!(
                "{symbol}: {} at {:?}",
                ok(&from_mcp)["source"],
                killed.elapsed()
            ));
            // This symbol is cached in memory now: try the next one (a node's cache layer
            // that met a failure stands aside for 2 s).
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue 'symbols;
        }
        break;
    }
    let Some(shared) = shared else {
        panic!("the cache not shared again through the promoted replica: {seen:#?}");
    };
    // Some more rounds on the whole cluster, then the verdict.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rounds = traffic.stop().await;
    let summary = verdict(&rounds, steady_since, killed, killed + whole);
    eprintln!(
        "cluster master crash (the request stream's master): all slots served again after \
         {whole:?}, a worker's fetch shared through the promoted replica after {shared:?}; \
         pool traffic: {summary:?}; cache keys per master before: {holding:?}"
    );
}
