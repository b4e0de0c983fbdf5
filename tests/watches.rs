//! Watches a model can read (SPEC.md 5.1) through the real binary against the simulator:
//! `watch_read` long-polls and returns as soon as an item arrives, refuses a watch_id that is
//! not its session's; the last watch leaving unsubscribes the venue's streams. (`dropped`
//! past the 1,000-item buffer and the wake-up latency are unit tests of `tools::watch`: no
//! simulated stream is fast enough to fill 1,000 items in a test's time.)

mod common;

use std::time::{Duration, Instant};

use common::{error_code, ok, simulator, start_server};
use serde_json::json;

async fn subscribe(server: &common::McpServer, channel: &str) -> String {
    let w = ok(&server
        .call(
            "watch_subscribe",
            json!({"channel": channel, "symbol": "BTC/USDT", "duration_s": 60}),
        )
        .await)
    .clone();
    assert_eq!(w["channel"], channel);
    assert_eq!(w["symbol"], "BTC/USDT");
    w["watch_id"].as_str().expect("an id").to_owned()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[tokio::test]
async fn long_polls_wake_on_an_update_and_the_last_watch_releases_the_streams() {
    let sim = simulator();
    let server = start_server(&sim, &[]).await;
    let id = subscribe(&server, "order_book").await;
    // The first book arrives once the local book is whole.
    let first = ok(&server
        .call("watch_read", json!({"watch_id": id, "wait_ms": 15000}))
        .await)
    .clone();
    let items = first["items"].as_array().expect("items");
    assert!(!items.is_empty(), "{first}");
    assert_eq!(items[0]["bids"].as_array().map(Vec::len), Some(20));
    assert!(items[0]["nonce"].is_u64());
    let mut cursor = first["cursor"].as_u64().unwrap();
    // Each long poll returns with the next book, soon after the simulator published it (its
    // event time): books change every 100 ms.
    let mut delays = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        let read = ok(&server
            .call(
                "watch_read",
                json!({"watch_id": id, "cursor": cursor, "wait_ms": 5000}),
            )
            .await)
        .clone();
        let returned = now_ms();
        // Woken by the next book (every 100 ms), not by the end of wait_ms.
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        let items = read["items"].as_array().unwrap();
        assert!(!items.is_empty());
        let newest = items.last().unwrap();
        delays.push(returned - newest["timestamp"].as_i64().expect("event time"));
        let next = read["cursor"].as_u64().unwrap();
        assert!(next > cursor);
        cursor = next;
    }
    delays.sort_unstable();
    // From the simulator's event time to the answer in hand: the whole path (websocket, book,
    // watch, MCP over stdio), on a shared machine; the wake-up itself is measured in the
    // unit tests of `tools::watch`.
    eprintln!("exchange event to watch_read answer, ms: {delays:?}");
    assert!(
        delays[delays.len() / 2] <= 1000,
        "median {} ms after the update: {delays:?}",
        delays[delays.len() / 2]
    );
    // Unknown ids (and ids of other sessions) are invalid_argument.
    let unknown = server
        .call("watch_read", json!({"watch_id": "w999-0"}))
        .await;
    assert_eq!(error_code(&unknown), "invalid_argument");
    // The last watch leaving: the venue streams go.
    let closed = ok(&server
        .call("watch_unsubscribe", json!({"watch_id": id}))
        .await)
    .clone();
    assert_eq!(closed["closed"], true);
    let gone = server.call("watch_read", json!({"watch_id": id})).await;
    assert_eq!(error_code(&gone), "invalid_argument", "an ended watch");
    let deadline = Instant::now() + Duration::from_secs(15);
    while sim.ws_stats().open > 0 {
        assert!(Instant::now() < deadline, "the streams were not released");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
