//! Watches over the worker pool (SPEC.md 5.1, section 6), through the real worker binaries, a
//! private redis-server and the simulator, spoken to as pool clients do (`XADD` requests,
//! replies on the client's channel): a watch belongs to the request's `client_id` (another
//! client's reads and unsubscribes are `invalid_argument`), reads on any worker of the pool
//! get its items with an advancing cursor, long polls wait without taking the worker's slots
//! from other requests and outlive the reclaim idle time without being taken for a dead
//! worker's, the per-client cap holds; and a Bybit trades watch (Bybit trade ids are UUIDs)
//! through the MCP binary returns the tape's trades in order.

mod common;

use std::time::{Duration, Instant};

use common::redis::RedisServer;
use common::venue_books::trade_number;
use common::worker::{start_worker, wait_for_workers, Worker};
use common::{ok, start_server};
use crypto_market_actors::redis_target::RedisTarget;
use crypto_market_mcp::client::{ClientError, PubSubClient};
use crypto_market_sim::{SimConfig, Simulator, Venue};
use serde_json::{json, Value};

async fn client(redis: &RedisServer, id: &str) -> PubSubClient {
    let target = RedisTarget::new(redis.url(), "crypto_mcp");
    PubSubClient::connect(
        target,
        common::worker::pool_config(id, Duration::from_secs(20)),
    )
    .await
    .expect("pool client")
}

fn code(result: Result<Value, ClientError>) -> String {
    match result {
        Err(ClientError::Remote { code, .. }) => code,
        other => {
            let shown: String = format!("{other:?}").chars().take(300).collect();
            panic!("expected a tool error, got {shown}")
        }
    }
}

async fn two_workers(sim: &crypto_market_sim::SimHandle, redis: &RedisServer) -> [Worker; 2] {
    let workers = [start_worker(sim, redis, &[]), start_worker(sim, redis, &[])];
    wait_for_workers(&mut common::worker::connect(redis).await, 2).await;
    workers
}

#[tokio::test]
async fn a_pool_watch_is_its_client_ids_and_reads_follow_it_on_any_worker() {
    let sim = common::simulator();
    let redis = RedisServer::start();
    let workers = two_workers(&sim, &redis).await;
    let alice = client(&redis, "alice").await;
    let bob = client(&redis, "bob").await;

    let watch = alice
        .call(
            "watch_subscribe",
            json!({"channel": "order_book", "symbol": "BTC/USDT", "duration_s": 60}),
        )
        .await
        .expect("subscribed");
    assert_eq!(
        (&watch["channel"], &watch["symbol"]),
        (&json!("order_book"), &json!("BTC/USDT"))
    );
    let id = watch["watch_id"].as_str().expect("an id").to_owned();

    // The first book arrives once the local book is whole.
    let first = alice
        .call("watch_read", json!({"watch_id": id, "wait_ms": 15000}))
        .await
        .expect("read");
    let items = first["items"].as_array().expect("items");
    assert!(!items.is_empty(), "{first}");
    assert_eq!(items[0]["bids"].as_array().map(Vec::len), Some(20));
    let mut cursor = first["cursor"].as_u64().expect("a cursor");
    let mut nonce = items.last().unwrap()["nonce"].as_u64().expect("a nonce");
    assert_eq!(cursor, items.len() as u64, "items numbered from 1: {first}");
    // Reads (the stream's group spreads them over both workers) each return the books
    // after the cursor, newer each time.
    for _ in 0..8 {
        let read = alice
            .call(
                "watch_read",
                json!({"watch_id": id, "cursor": cursor, "wait_ms": 5000}),
            )
            .await
            .expect("read");
        let items = read["items"].as_array().expect("items");
        assert!(
            !items.is_empty(),
            "a long poll returns with the next book: {read}"
        );
        let next = read["cursor"].as_u64().unwrap();
        assert_eq!(next, cursor + items.len() as u64, "{read}");
        assert_eq!(read["dropped"], 0);
        for item in items {
            let n = item["nonce"].as_u64().unwrap();
            assert!(n > nonce, "books in order: {n} after {nonce}");
            nonce = n;
        }
        cursor = next;
    }

    // Bob cannot read nor end Alice's watch.
    let foreign = bob.call("watch_read", json!({"watch_id": id})).await;
    assert_eq!(code(foreign), "invalid_argument");
    let foreign = bob.call("watch_unsubscribe", json!({"watch_id": id})).await;
    assert_eq!(code(foreign), "invalid_argument");
    // ... and her watch still runs.
    let still = alice
        .call(
            "watch_read",
            json!({"watch_id": id, "cursor": cursor, "wait_ms": 5000}),
        )
        .await
        .expect("read");
    assert!(!still["items"].as_array().unwrap().is_empty(), "{still}");

    let closed = alice
        .call("watch_unsubscribe", json!({"watch_id": id}))
        .await
        .expect("unsubscribed");
    assert_eq!(closed["closed"], true);
    let gone = alice.call("watch_read", json!({"watch_id": id})).await;
    assert_eq!(code(gone), "invalid_argument");
    drop(workers);
}

#[tokio::test]
async fn long_polls_leave_the_workers_free_and_are_not_taken_for_a_dead_workers() {
    let sim = common::simulator();
    let redis = RedisServer::start();
    let workers = two_workers(&sim, &redis).await;
    let carol = client(&redis, "carol").await;
    let watch = carol
        .call(
            "watch_subscribe",
            json!({"channel": "ticker", "symbol": "BTC/USDT", "duration_s": 60}),
        )
        .await
        .expect("subscribed");
    let id = watch["watch_id"].as_str().unwrap().to_owned();
    // A cursor past anything the watch will hold: each read waits its whole wait_ms.
    let far = json!({"watch_id": id, "cursor": 1_000_000_000u64, "wait_ms": 8000});
    // More long polls than both workers' request slots (2 × 64).
    let polls: Vec<_> = (0..160)
        .map(|_| carol.call("watch_read", far.clone()))
        .collect();
    let started = Instant::now();
    // Meanwhile other requests are served at once.
    let probe = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let asked = Instant::now();
        let ticker = carol
            .call("get_ticker", json!({"symbol": "ETH/USDT"}))
            .await;
        (ticker, asked.elapsed())
    };
    let (polls, (ticker, took)) = tokio::join!(futures::future::join_all(polls), probe);
    let ticker = ticker.expect("served while 160 reads wait");
    assert_eq!(ticker["symbol"], "ETH/USDT");
    assert!(took < Duration::from_secs(2), "get_ticker took {took:?}");
    let waited = started.elapsed();
    for poll in polls {
        let poll = poll.expect("every long poll answered");
        assert!(poll["items"].as_array().unwrap().is_empty(), "{poll}");
        assert_eq!(poll["cursor"], 1_000_000_000u64);
    }
    assert!(waited >= Duration::from_secs(8), "{waited:?}");
    // 8 s is past the reclaim idle time (5 s): the workers kept their polls fresh, so none was
    // reclaimed (run twice) by the other worker.
    for worker in &workers {
        let log = worker.log.lock().unwrap().clone();
        assert!(!log.contains("reclaimed a request"), "{log}");
    }
    eprintln!("160 long polls of 8 s on 2 workers; get_ticker meanwhile in {took:?}");
}

#[tokio::test]
async fn a_client_holds_at_most_50_watches() {
    let sim = common::simulator();
    let redis = RedisServer::start();
    let _worker = start_worker(&sim, &redis, &[]);
    let dave = client(&redis, "dave").await;
    let erin = client(&redis, "erin").await;
    let subscribe = json!({"channel": "ticker", "symbol": "BTC/USDT", "duration_s": 30});
    let mut ids = Vec::new();
    for _ in 0..50 {
        let watch = dave
            .call("watch_subscribe", subscribe.clone())
            .await
            .expect("under the cap");
        ids.push(watch["watch_id"].as_str().unwrap().to_owned());
    }
    let over = dave.call("watch_subscribe", subscribe.clone()).await;
    assert_eq!(code(over), "rate_limited");
    // The cap is per client, and one unsubscribed makes room again.
    erin.call("watch_subscribe", subscribe.clone())
        .await
        .expect("erin's own");
    dave.call("watch_unsubscribe", json!({"watch_id": ids[0]}))
        .await
        .expect("unsubscribed");
    dave.call("watch_subscribe", subscribe)
        .await
        .expect("room again");
}

#[tokio::test]
async fn a_bybit_trades_watch_returns_the_tape_in_order() {
    let sim = Simulator::start(SimConfig {
        venue: Venue::Bybit,
        tick_ms: 100,
        ..SimConfig::default()
    })
    .expect("simulator");
    let ws = sim.ws_venue_url();
    let server = start_server(
        &sim,
        &[("EXCHANGE_NAME", "bybit"), ("EXCHANGE_WS_URL", &ws)],
    )
    .await;
    let watch = ok(&server
        .call(
            "watch_subscribe",
            json!({"channel": "trades", "symbol": "BTC/USDT", "duration_s": 120}),
        )
        .await)
    .clone();
    let id = watch["watch_id"].as_str().unwrap().to_owned();
    let mut cursor = 0;
    let mut trades: Vec<Value> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(40);
    while trades.len() < 8 {
        assert!(
            Instant::now() < deadline,
            "only {} trades: {trades:?}",
            trades.len()
        );
        let read = ok(&server
            .call(
                "watch_read",
                json!({"watch_id": id, "cursor": cursor, "wait_ms": 5000}),
            )
            .await)
        .clone();
        cursor = read["cursor"].as_u64().unwrap();
        trades.extend(read["items"].as_array().unwrap().iter().cloned());
    }
    let ids: Vec<&str> = trades.iter().map(|t| t["id"].as_str().unwrap()).collect();
    // Bybit's ids: UUIDs, which say nothing of order.
    assert!(
        ids.iter()
            .all(|id| id.len() == 36 && id.parse::<u64>().is_err()),
        "{ids:?}"
    );
    // The simulator's trades one by one: in order, none missing, none twice.
    let numbers: Vec<u64> = ids.iter().map(|id| trade_number(id)).collect();
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{numbers:?}");
}
