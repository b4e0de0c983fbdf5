//! Issue 13, Redis Cluster: two MCP servers and two workers on three masters (each with a
//! replica). Every tool works through MCP and through the worker protocol, the shared cache
//! spreads over the masters, one exchange call serves a cold key for the whole deployment, and
//! a master SIGKILLed mid-run costs no call (its replica takes over; the cache works again).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::redis_topology::ClusterRig;
use common::worker::{start_worker_env, wait_until};
use common::{ok, start_server};
use crypto_market_actors::redis_target::{RedisTarget, Topology};
use crypto_market_mcp::client::{PubSubClient, PubSubConfig};
use crypto_market_sim::{Faults, SimConfig, Simulator};
use futures::StreamExt;
use redis::AsyncCommands;
use serde_json::{json, Value};

/// Each call's end and its failure, if it failed.
type Outcomes = Vec<(Instant, Result<(), String>)>;

fn client_config(id: &str) -> PubSubConfig {
    PubSubConfig {
        request_channel: "crypto_mcp:requests".into(),
        response_channel: "crypto_mcp:responses".into(),
        request_timeout: Duration::from_secs(20),
        client_id: Some(id.into()),
    }
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
    let sim = Simulator::start(SimConfig {
        extra_symbols: 200,
        ..Default::default()
    })
    .expect("simulator");
    let mut rig = tokio::task::spawn_blocking(ClusterRig::start)
        .await
        .expect("cluster rig");
    let seeds = rig.seeds();
    let env = [
        ("USE_REDIS_CACHE", "true"),
        ("CACHE_TTL", "5"),
        ("REDIS_MODE", "cluster"),
        ("REDIS_NODES", seeds.as_str()),
    ];
    let _workers = [start_worker_env(&sim, &env), start_worker_env(&sim, &env)];
    let servers = [
        Arc::new(start_server(&sim, &env).await),
        Arc::new(start_server(&sim, &env).await),
    ];
    let target = cluster_target(&rig);
    let conn = target.connection().await.expect("the cluster");
    wait_until(Duration::from_secs(60), "2 workers", || {
        let mut conn = conn.clone();
        async move {
            conn.hlen::<_, usize>("crypto_mcp:workers")
                .await
                .unwrap_or(0)
                >= 2
        }
    })
    .await;
    let client = PubSubClient::connect(target.clone(), client_config("cluster-test"))
        .await
        .expect("pool client");

    // Markets loaded everywhere first (each node loads its own list once).
    let warm = (0..10).map(|_| client.call("list_markets", json!({"limit": 1})));
    for answer in futures::future::join_all(warm).await {
        answer.expect("list_markets through the pool");
    }
    for server in &servers {
        ok(&server.call("list_markets", json!({"limit": 1})).await);
    }

    // One exchange call for a cold key, however many nodes ask at once.
    sim.set_faults(Faults {
        latency_ms: 1000,
        endpoints: Some(vec!["ticker/24hr".into()]),
        ..Default::default()
    });
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
    assert_eq!(lasts.len(), 20);
    assert!(
        lasts.iter().all(|l| *l == lasts[0]),
        "one price for all: {lasts:?}"
    );
    assert_eq!(
        sim.calls("ticker/24hr"),
        1,
        "one exchange call in the cluster"
    );
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

    // SIGKILL the master of BTC/USDT's key while MCP clients call every 50 ms.
    let victim = rig.master_of(&cache_key("BTC/USDT")).expect("a master");
    let victim_slots: Vec<(u16, u16)> = rig
        .nodes_view()
        .into_iter()
        .find(|n| n.port == victim)
        .map(|n| n.slots)
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let outcomes: Arc<Mutex<Outcomes>> = Arc::default();
    let callers: Vec<_> = servers
        .iter()
        .map(|server| {
            let (server, stop, outcomes) = (server.clone(), stop.clone(), outcomes.clone());
            tokio::spawn(async move {
                let symbols = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT"];
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let symbol = symbols[i % symbols.len()];
                    i += 1;
                    let r = server.call("get_ticker", json!({"symbol": symbol})).await;
                    let outcome = match r.is_error {
                        Some(true) => Err(format!("{symbol}: {:?}", r.structured_content)),
                        _ => Ok(()),
                    };
                    outcomes.lock().unwrap().push((Instant::now(), outcome));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
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
    stop.store(true, Ordering::Relaxed);
    for caller in callers {
        caller.await.unwrap();
    }
    let outcomes = outcomes.lock().unwrap();
    let during = outcomes.iter().filter(|(at, _)| *at >= killed).count();
    let failed: Vec<_> = outcomes.iter().filter(|(_, o)| o.is_err()).collect();
    assert!(
        failed.is_empty(),
        "failed calls across the master's crash: {failed:?}"
    );
    assert!(
        during >= 20,
        "the callers kept calling ({during} calls after the kill)"
    );
    eprintln!(
        "cluster master crash: all slots served again after {whole:?}, a worker's fetch shared \
         through the promoted replica after {shared:?}; {during} MCP calls during it, none failed; \
         cache keys per master before: {holding:?}"
    );
}
