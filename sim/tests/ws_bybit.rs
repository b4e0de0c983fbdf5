//! Bybit's v5 public spot websocket over a real socket: op replies in the fixtures' shapes,
//! an `orderbook.50` snapshot equal to REST's at its `u`, deltas with `u` counting up by one
//! rebuilt into the simulator's true book, a skipped update seen as a jump of `u`, and
//! `tickers`, `publicTrade` and `kline` in Bybit's shapes.

mod common;

use common::{fixture, same_shape, Client, Side};
use crypto_market_sim::{SimConfig, SimHandle, Simulator, Venue};
use serde_json::{json, Value};
use std::time::Duration;

fn start() -> SimHandle {
    Simulator::start(SimConfig {
        venue: Venue::Bybit,
        ..SimConfig::default()
    })
    .expect("simulator")
}

fn pairs(levels: &Value) -> Vec<(String, String)> {
    levels
        .as_array()
        .expect("levels")
        .iter()
        .map(|l| {
            let s = |i: usize| l[i].as_str().expect("a string").to_string();
            (s(0), s(1))
        })
        .collect()
}

struct Book {
    bids: Side,
    asks: Side,
    u: u64,
}

impl Book {
    /// Applies a snapshot or delta; true if `u` follows the previous one.
    fn apply(&mut self, m: &Value) -> bool {
        let d = &m["data"];
        if m["type"] == "snapshot" {
            self.bids = Side::new(true);
            self.asks = Side::new(false);
        }
        for (side, key) in [(&mut self.bids, "b"), (&mut self.asks, "a")] {
            for (p, q) in pairs(&d[key]) {
                side.apply(&p, &q);
            }
        }
        let u = d["u"].as_u64().expect("u");
        let follows = u == self.u + 1;
        self.u = u;
        follows
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orderbook_snapshot_and_deltas_rebuild_the_true_book() {
    let sim = start();
    let mut c = Client::connect(&sim.ws_venue_url()).await;
    let ack_fixture = fixture("bybit", "subscription_ack.json");
    c.send(r#"{"req_id":"p1","op":"ping"}"#).await;
    let pong = c.next_json().await;
    same_shape(&ack_fixture, &pong, "pong");
    assert_eq!(
        (&pong["ret_msg"], &pong["op"], &pong["req_id"]),
        (&json!("pong"), &json!("ping"), &json!("p1"))
    );

    c.send(r#"{"req_id":"sub-orderbook-1","op":"subscribe","args":["orderbook.50.BTCUSDT"]}"#)
        .await;
    let ack = c.next_json().await;
    same_shape(&ack_fixture, &ack, "ack");
    assert_eq!(
        (&ack["success"], &ack["req_id"]),
        (&json!(true), &json!("sub-orderbook-1"))
    );

    let snap = c.next_json().await;
    assert_eq!(
        (&snap["topic"], &snap["type"]),
        (&json!("orderbook.50.BTCUSDT"), &json!("snapshot"))
    );
    let u = snap["data"]["u"].as_u64().expect("u");
    assert_eq!(snap["data"]["seq"].as_u64(), Some(u));
    assert!(snap["ts"].is_u64() && snap["cts"].is_u64() && snap["data"]["s"] == "BTCUSDT");
    // REST's book at the snapshot's step is the same book with the same `u`.
    let rest: Value = serde_json::from_str(
        &sim.venue_rest_body_at(
            "/v5/market/orderbook?category=spot&symbol=BTCUSDT&limit=50",
            u * sim.config().tick_ms,
        )
        .expect("rest"),
    )
    .expect("json");
    let r = &rest["result"];
    assert_eq!(r["u"].as_u64(), Some(u));
    assert_eq!(
        (pairs(&r["b"]), pairs(&r["a"])),
        (pairs(&snap["data"]["b"]), pairs(&snap["data"]["a"]))
    );

    let mut book = Book {
        bids: Side::new(true),
        asks: Side::new(false),
        u: 0,
    };
    book.apply(&snap);
    for _ in 0..15 {
        let d = c.next_json().await;
        assert_eq!(d["type"], "delta", "{d}");
        assert!(book.apply(&d), "u follows");
        assert_eq!((book.bids.levels.len(), book.asks.levels.len()), (50, 50));
    }

    sim.ws_venue_stall("book", "BTCUSDT", true).expect("stall");
    for d in c.drain(Duration::from_millis(400)).await {
        assert!(book.apply(&d));
    }
    let truth = sim.ws_venue_book("BTCUSDT", Some(50)).expect("true book");
    assert_eq!(truth.seq, book.u);
    assert_eq!(
        (book.bids.canonical(), book.asks.canonical()),
        (truth.bids, truth.asks)
    );
    sim.ws_venue_stall("book", "BTCUSDT", false)
        .expect("unstall");

    // A skipped update: `u` jumps by two.
    assert!(
        sim.ws_venue_corrupt_checksum("BTCUSDT").is_err(),
        "Bybit has no checksum"
    );
    sim.ws_venue_skip("BTCUSDT").expect("skip");
    let mut jumps = Vec::new();
    for _ in 0..20 {
        let before = book.u;
        let d = c.next_json().await;
        if !book.apply(&d) {
            jumps.push(book.u - before);
        }
    }
    assert_eq!(jumps, [2], "one jump of u by 2");
    assert_eq!(sim.ws_venue_stats().skipped, 1);

    // Unsubscribe: acknowledged, and the deltas stop.
    c.send(r#"{"op":"unsubscribe","args":["orderbook.50.BTCUSDT"]}"#)
        .await;
    c.next_where(|v| v["op"] == "unsubscribe" && v["success"] == true)
        .await;
    assert!(c.drain(Duration::from_millis(400)).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickers_trades_klines_and_refusals_in_bybit_shapes() {
    let sim = start();
    let mut c = Client::connect(&sim.ws_venue_url()).await;
    c.send(r#"{"op":"subscribe","args":["orderbook.7.BTCUSDT","tickers.BTCUSDT"]}"#)
        .await;
    let fail = c.next_json().await;
    same_shape(
        &fixture("bybit", "subscription_failure.json"),
        &fail,
        "failure",
    );
    assert_eq!(fail["ret_msg"], "Invalid topic: orderbook.7.BTCUSDT");
    assert_eq!(sim.ws_venue_stats().subscribed, 0, "all or nothing");

    c.send(
        r#"{"op":"subscribe","args":["tickers.ETHUSDT","publicTrade.ETHUSDT","kline.1.ETHUSDT"]}"#,
    )
    .await;
    assert_eq!(c.next_json().await["success"], true);
    let (mut ticker, mut trade, mut kline) = (None, None, None);
    while ticker.is_none() || trade.is_none() || kline.is_none() {
        let m = c.next_json().await;
        match m["topic"].as_str() {
            Some("tickers.ETHUSDT") => ticker = Some(m),
            Some("publicTrade.ETHUSDT") => trade = Some(m),
            Some("kline.1.ETHUSDT") => kline = Some(m),
            other => panic!("unexpected {other:?}"),
        }
    }
    let (ticker, trade, kline) = (
        ticker.unwrap_or_default(),
        trade.unwrap_or_default(),
        kline.unwrap_or_default(),
    );
    let pt = fixture("bybit", "publicTrade.json");
    same_shape(&pt["data"][0], &trade["data"][0], "trade");
    assert_eq!(
        (&trade["type"], trade["ts"].is_u64()),
        (&json!("snapshot"), true)
    );
    let kl = fixture("bybit", "kline.json");
    same_shape(&kl["data"][0], &kline["data"][0], "kline");
    assert_eq!(kline["data"][0]["interval"], "1");
    // The spot ticker is REST's row (without the book top) at the same instant.
    let ts = ticker["ts"].as_u64().expect("ts");
    let rest: Value = serde_json::from_str(
        &sim.venue_rest_body_at("/v5/market/tickers?category=spot&symbol=ETHUSDT", ts)
            .expect("rest"),
    )
    .expect("json");
    let mut row = rest["result"]["list"][0].clone();
    for k in ["bid1Price", "bid1Size", "ask1Price", "ask1Size"] {
        row.as_object_mut().expect("row").remove(k);
    }
    assert_eq!(ticker["data"], row);
    assert!(ticker["data"]
        .as_object()
        .expect("data")
        .values()
        .all(Value::is_string));
    assert!(ticker["cs"].is_u64());
}
