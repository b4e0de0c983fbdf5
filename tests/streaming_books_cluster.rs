//! Issue 23 (build item 4), across nodes: books and trades shared through the Redis bridge
//! like tickers. Two MCP servers share a private redis-server and one simulator; both read a
//! symbol's `orderbook://` and `trades://` resources, yet the cluster opens one book stream
//! and one trade stream at the simulator: the first node holds them and publishes its book
//! and trades, the second serves them (`source: "stream"`) from Redis. The follower's book is
//! the holder's (same nonce, same levels, the simulator's true book) and its tape matches.
//! When the holder dies (SIGKILL) the follower takes the feeds over within the lease.

#![allow(
    deprecated,
    reason = "resources/subscribe: what `initialize` sessions speak"
)]

mod common;

use std::time::{Duration, Instant};

use common::redis::RedisServer;
use common::{ok, simulator, start_server, McpServer};
use crypto_market_sim::SimHandle;
use rmcp::model::SubscribeRequestParams;
use serde_json::{json, Value};

const BOOK: &str = "orderbook://binance/BTCUSDT";
const TRADES: &str = "trades://binance/BTCUSDT";

async fn eventually(within: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Connections at the simulator carrying `stream`.
fn carrying(sim: &SimHandle, stream: &str) -> usize {
    sim.ws_stats()
        .connections
        .iter()
        .filter(|c| c.subscriptions.iter().any(|s| s == stream))
        .count()
}

fn books(sim: &SimHandle) -> usize {
    carrying(sim, "btcusdt@depth@100ms")
}

fn trade_streams(sim: &SimHandle) -> usize {
    carrying(sim, "btcusdt@trade")
}

async fn read_both(server: &McpServer) {
    for uri in [BOOK, TRADES] {
        server
            .client
            .subscribe(SubscribeRequestParams::new(uri))
            .await
            .expect("subscribed");
    }
}

/// The node's book, once served from a stream (its own or the cluster's).
async fn streamed(server: &McpServer, tool: &str, args: Value) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let value = ok(&server.call(tool, args.clone()).await).clone();
        if value["source"] == "stream" {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "{tool} never served from a stream: {value}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn book_args() -> Value {
    json!({"symbol": "BTC/USDT", "limit": 20})
}

use common::book_json::{levels, side};

/// The served book is exactly the simulator's at its nonce.
fn assert_true_book(sim: &SimHandle, book: &Value) {
    let nonce = book["nonce"].as_u64().expect("a nonce");
    let truth = sim.book_at("BTCUSDT", nonce, 20).expect("BTCUSDT");
    assert_eq!(side(book, "bids"), levels(&truth.bids), "bids at {nonce}");
    assert_eq!(side(book, "asks"), levels(&truth.asks), "asks at {nonce}");
}

fn trade_ids(trades: &Value) -> Vec<String> {
    trades["trades"]
        .as_array()
        .expect("trades")
        .iter()
        .map(|t| t["id"].as_str().expect("an id").to_owned())
        .collect()
}

#[tokio::test]
async fn one_node_streams_books_and_trades_for_the_cluster_and_they_move_when_it_dies() {
    let sim = simulator();
    let redis = RedisServer::start();
    let url = redis.url();
    let env = [
        ("USE_REDIS_CACHE", "true"),
        ("REDIS_URL", url.as_str()),
        ("CACHE_TTL", "5"),
    ];
    let holder = start_server(&sim, &env).await;
    read_both(&holder).await;
    eventually(
        Duration::from_secs(20),
        "the first node's book stream",
        || books(&sim) == 1 && trade_streams(&sim) == 1,
    )
    .await;
    streamed(&holder, "get_order_book", book_args()).await;

    let follower = start_server(&sim, &env).await;
    read_both(&follower).await;
    let mirrored = streamed(&follower, "get_order_book", book_args()).await;
    assert_true_book(&sim, &mirrored);

    // The follower's book is the holder's: same nonce, same levels (books move every 100 ms:
    // asked until both answer at one nonce).
    let mut same = 0;
    for _ in 0..100 {
        let a = ok(&holder.call("get_order_book", book_args()).await).clone();
        let b = ok(&follower.call("get_order_book", book_args()).await).clone();
        assert_eq!(b["source"], "stream", "{b}");
        assert_true_book(&sim, &b);
        if a["nonce"] == b["nonce"] {
            assert_eq!(a["bids"], b["bids"]);
            assert_eq!(a["asks"], b["asks"]);
            same += 1;
            if same == 3 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert_eq!(same, 3, "the follower never showed the holder's book");

    // Trades: the follower's tape is the holder's.
    let trades = json!({"symbol": "BTC/USDT", "limit": 50});
    streamed(&follower, "get_trades", trades.clone()).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let a = ok(&holder.call("get_trades", trades.clone()).await).clone();
        let b = ok(&follower.call("get_trades", trades.clone()).await).clone();
        assert_eq!(b["source"], "stream", "{b}");
        let (a, b) = (trade_ids(&a), trade_ids(&b));
        assert_eq!(b.len(), 50);
        if a == b {
            break;
        }
        assert!(Instant::now() < deadline, "tapes differ: {a:?} / {b:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Bad payloads on the channels (not JSON, a crossed book, a negative trade) are logged
    // and dropped: the follower keeps serving the holder's true book.
    for (channel, payload) in [
        ("crypto_mcp:book:binance:BTC/USDT", "not json"),
        (
            "crypto_mcp:book:binance:BTC/USDT",
            r#"{"bids":[[200000,1]],"asks":[[1,1]],"timestamp":1,"nonce":99999999,"depth":50}"#,
        ),
        (
            "crypto_mcp:trades:binance:BTC/USDT",
            r#"{"trades":[{"id":"1","price":-5,"amount":1}]}"#,
        ),
    ] {
        let published = std::process::Command::new("redis-cli")
            .arg("-s")
            .arg(redis.socket())
            .args(["PUBLISH", channel, payload])
            .output()
            .expect("redis-cli");
        assert_eq!(String::from_utf8_lossy(&published.stdout).trim(), "1");
    }
    eventually(Duration::from_secs(5), "the bad payloads logged", || {
        let log = follower.stderr.lock().unwrap();
        log.contains("unreadable book update dropped")
            && log.contains("unreadable trades update dropped")
    })
    .await;
    for _ in 0..5 {
        let book = ok(&follower.call("get_order_book", book_args()).await).clone();
        assert_eq!(book["source"], "stream", "{book}");
        assert_true_book(&sim, &book);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Over the whole run until now: one book stream and one trade stream in the cluster, on
    // the one connection the holder opened; the follower never opened any.
    let stats = sim.ws_stats();
    assert_eq!(
        (books(&sim), trade_streams(&sim), stats.accepted_total),
        (1, 1, 1),
        "one exchange feed in the cluster: {stats:?}"
    );

    // The holder dies: the follower takes the feeds over within the lease (6 s, renewed
    // every 2 s), with one new connection, and serves its own book.
    let died = Instant::now();
    holder.kill();
    // What the follower shows once the holder's last book reached it (the lease outlives
    // the holder by at least 4 s).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let frozen = ok(&follower.call("get_order_book", book_args()).await)["nonce"]
        .as_u64()
        .expect("a nonce");
    eventually(Duration::from_secs(12), "the feeds taken over", || {
        let stats = sim.ws_stats();
        stats.accepted_total >= 2 && books(&sim) == 1 && trade_streams(&sim) == 1
    })
    .await;
    let moved_after = died.elapsed();
    let deadline = Instant::now() + Duration::from_secs(10);
    let own = loop {
        let book = streamed(&follower, "get_order_book", book_args()).await;
        assert_true_book(&sim, &book);
        if book["nonce"].as_u64().unwrap() > frozen && books(&sim) == 1 {
            break book;
        }
        assert!(Instant::now() < deadline, "no newer book: {book}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_true_book(&sim, &own);
    eprintln!("the book feed moved {moved_after:?} after the holder's SIGKILL");
}
