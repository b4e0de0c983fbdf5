//! The venue websockets' controls over HTTP, as an operator or a test in another process uses
//! them: `/__sim/ws/venue/{skip,corrupt,stall,unstall,stats,book}` and the shared
//! `/__sim/ws/{refuse,shutdown,drop,stats}` acting on venue connections (OKX here: its
//! `notice` 64008 before a shutdown closes the connection).

mod common;

use common::{get, post, Client};
use crypto_market_sim::{SimConfig, SimHandle, Simulator, Venue};
use serde_json::{json, Value};
use std::time::Duration;

fn start() -> SimHandle {
    Simulator::start(SimConfig {
        venue: Venue::Okx,
        ..SimConfig::default()
    })
    .expect("simulator")
}

/// A connection subscribed to BTC-USDT's books, and its snapshot's seqId.
async fn books(sim: &SimHandle) -> (Client, i64) {
    let mut c = Client::connect(&format!("{}/ws/v5/public", sim.ws_url())).await;
    c.send(r#"{"op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"}]}"#)
        .await;
    let snap = c.next_where(|v| v["action"] == "snapshot").await;
    let seq = snap["data"][0]["seqId"].as_i64().unwrap_or(-1);
    (c, seq)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn book_faults_and_stats_over_http() {
    let sim = start();
    let addr = sim.addr();
    let (mut c, mut last) = books(&sim).await;
    // Whole-book channels of the same symbol must not take the faults meant for `books`.
    c.send(r#"{"op":"subscribe","args":[{"channel":"bbo-tbt","instId":"BTC-USDT"},{"channel":"books5","instId":"BTC-USDT"}]}"#)
        .await;
    c.next_where(|v| v["arg"]["channel"] == "books5" && v["data"].is_array())
        .await;

    let (status, body) = post(addr, "/__sim/ws/venue/skip", r#"{"symbol":"BTC-USDT"}"#);
    assert_eq!((status, &body["pending_skips"]), (200, &json!(["BTCUSDT"])));
    // The lost update shows as one gap in the chain from the snapshot on.
    let mut gaps = 0;
    for _ in 0..5 {
        let d = &c.next_where(|v| v["arg"]["channel"] == "books").await["data"][0];
        gaps += usize::from(d["prevSeqId"].as_i64() != Some(last));
        last = d["seqId"].as_i64().unwrap_or(0);
    }
    assert_eq!(gaps, 1);

    let (status, body) = post(addr, "/__sim/ws/venue/corrupt", r#"{"symbol":"BTCUSDT"}"#);
    assert_eq!(
        (status, &body["pending_corrupts"]),
        (200, &json!(["BTCUSDT"]))
    );
    assert_eq!(
        post(addr, "/__sim/ws/venue/corrupt", r#"{"symbol":"NOPE"}"#).0,
        400
    );
    assert_eq!(
        post(addr, "/__sim/ws/venue/skip", r#"{"sym":"BTCUSDT"}"#).0,
        400
    );

    let (status, body) = post(
        addr,
        "/__sim/ws/venue/stall",
        r#"{"kind":"book","symbol":"BTCUSDT"}"#,
    );
    assert_eq!((status, &body["stalled"]), (200, &json!(["book:BTCUSDT"])));
    c.drain(Duration::from_millis(400)).await;
    let (status, book) = get(addr, "/__sim/ws/venue/book?symbol=BTCUSDT");
    assert_eq!(status, 200);
    let truth = sim.ws_venue_book("BTCUSDT", None).expect("book");
    assert_eq!(book["seq"].as_u64(), Some(truth.seq));
    assert_eq!(book["bids"][0], json!([truth.bids[0].0, truth.bids[0].1]));
    assert_eq!(get(addr, "/__sim/ws/venue/book?symbol=ETHUSDT").0, 404);
    let (_, body) = post(
        addr,
        "/__sim/ws/venue/unstall",
        r#"{"kind":"book","symbol":"BTCUSDT"}"#,
    );
    assert_eq!(body["stalled"], json!([]));

    let (status, stats) = get(addr, "/__sim/ws/venue/stats");
    assert_eq!(status, 200);
    assert_eq!(
        (&stats["skipped"], &stats["subscribed"], &stats["snapshots"]),
        (&json!(1), &json!(3), &json!(3))
    );
    assert!(stats["updates"].as_u64().unwrap_or(0) >= 6, "{stats}");
    // The shared websocket stats count the venue connection.
    let (_, ws) = get(addr, "/__sim/ws/stats");
    assert_eq!(ws["open"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuse_shutdown_and_drop_act_on_venue_connections() {
    let sim = start();
    let addr = sim.addr();
    let url = format!("{}/ws/v5/public", sim.ws_url());

    assert_eq!(post(addr, "/__sim/ws/refuse", r#"{"ms":5000}"#).0, 200);
    let refused = tokio_tungstenite::connect_async(&url).await;
    assert!(refused.is_err(), "refused while the outage lasts");
    post(addr, "/__sim/ws/refuse", r#"{"ms":0}"#);

    // A shutdown: OKX's notice, then a close frame 1001 after the grace.
    let (mut c, _) = books(&sim).await;
    let (status, body) = post(addr, "/__sim/ws/shutdown", r#"{"grace_ms":300}"#);
    assert_eq!((status, &body["connections"]), (200, &json!(1)));
    let notice: Value = c.next_where(|v| v["event"] == "notice").await;
    assert_eq!(notice["code"], "64008");
    assert_eq!(c.close_code().await, Some(1001));

    // A drop with a close frame, and one without.
    let (mut c, _) = books(&sim).await;
    assert_eq!(
        post(addr, "/__sim/ws/drop", r#"{"close_frame":true}"#).0,
        200
    );
    assert_eq!(c.close_code().await, Some(1001));
    let (mut c, _) = books(&sim).await;
    assert_eq!(sim.ws_drop_connections(false), 1);
    assert_eq!(c.close_code().await, None);
}
