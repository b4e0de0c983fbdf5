//! Watches a model can read (SPEC.md 5.1) through the real binary against the simulator:
//! `watch_read` long-polls and returns as soon as an item arrives, refuses a watch_id that is
//! not its session's; the last watch leaving unsubscribes the venue's streams. (`dropped`
//! past the 1,000-item buffer and a foreign session's `watch_id` over HTTP: `watches_limits.rs`.)

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

/// The stream the local book follows (Binance's diff depth).
const DEPTH: &str = "btcusdt@depth@100ms";

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
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
    // Each long poll returns with the next book within 50 ms of the simulator sending it:
    // books change every 100 ms. The simulator says when it handed each depth frame to the
    // connections (after computing it: its event time `E` is stamped before, and a debug
    // build's diff of two books takes a while); the delay is from there (websocket, local
    // book, watch, watch_read's answer over MCP stdio) to the answer in hand, on one clock.
    // When more than one frame went out during a read, which one woke it is unknown: the
    // book's own `E` is used instead, which is never after its send (the delay is then
    // overstated, never understated).
    let frames = || {
        sim.ws_delivered(DEPTH)
            .expect("the depth stream is subscribed")
    };
    let mut from_send = 0;
    let mut delays = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let before = frames().frames;
        let read = ok(&server
            .call(
                "watch_read",
                json!({"watch_id": id, "cursor": cursor, "wait_ms": 5000}),
            )
            .await)
        .clone();
        let returned_us = now_us();
        let sent = frames();
        // Woken by the next book (every 100 ms), not by the end of wait_ms.
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        let items = read["items"].as_array().unwrap();
        assert!(!items.is_empty());
        let newest = items.last().unwrap();
        let event_us = newest["timestamp"].as_i64().expect("event time") * 1000;
        // The one frame sent during the read is the newest book's (stamped within one book
        // interval after its event time).
        let woke_by_it = sent.frames == before + 1
            && (event_us..event_us + 100_000).contains(&(sent.last_us as i64));
        let sent_us = if woke_by_it {
            from_send += 1;
            sent.last_us as i64
        } else {
            event_us
        };
        delays.push((returned_us - sent_us) / 1000);
        let next = read["cursor"].as_u64().unwrap();
        assert!(next > cursor);
        cursor = next;
    }
    delays.sort_unstable();
    eprintln!(
        "simulator's send to watch_read answer, ms ({from_send} of 20 timed from the send): \
         {delays:?}"
    );
    // Within 50 ms. Alone on the machine every read is (2–6 ms here, a debug build); a
    // process on 2 shared cores is at times descheduled for tens of ms (measured at load 10:
    // p50 18 ms, p90 46 ms, max 72 ms): 19 reads in 20 must be within 50 ms, and none more
    // than a whole book update (100 ms) late.
    assert!(
        from_send >= 10,
        "most reads timed from the send: {from_send}"
    );
    let p95 = delays[delays.len() * 19 / 20 - 1];
    let max = delays[delays.len() - 1];
    assert!(p95 <= 50, "p95 {p95} ms after the send: {delays:?}");
    assert!(max <= 100, "max {max} ms after the send: {delays:?}");
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
