//! Kraken's websocket v2 over a real socket: status on connect, ping/pong, subscribe replies
//! and refusals, a `book` snapshot plus updates kept at the subscribed depth whose checksums
//! verify with an independent CRC32 over the numbers' exact text, the book equal to the true
//! book and to REST's `Depth` at the same step, the corrupt and skip faults seen as checksum
//! mismatches, and `ticker`, `trade`, `ohlc` in the fixtures' shapes.

mod common;

use common::{crc32, fixture, same_shape, units, Client, Side};
use crypto_market_sim::{SimConfig, SimHandle, Simulator, Venue};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::time::Duration;

fn start() -> SimHandle {
    Simulator::start(SimConfig {
        venue: Venue::Kraken,
        ..SimConfig::default()
    })
    .expect("simulator")
}

#[derive(Deserialize)]
struct Level<'a> {
    #[serde(borrow)]
    price: &'a RawValue,
    #[serde(borrow)]
    qty: &'a RawValue,
}

#[derive(Deserialize)]
struct BookData<'a> {
    #[serde(borrow)]
    bids: Vec<Level<'a>>,
    #[serde(borrow)]
    asks: Vec<Level<'a>>,
    checksum: u32,
}

#[derive(Deserialize)]
struct BookMsg<'a> {
    #[serde(rename = "type")]
    kind: String,
    #[serde(borrow)]
    data: Vec<BookData<'a>>,
}

struct Book {
    bids: Side,
    asks: Side,
    depth: usize,
}

impl Book {
    fn new(depth: usize) -> Book {
        Book {
            bids: Side::new(true),
            asks: Side::new(false),
            depth,
        }
    }

    /// Applies a book message (its raw text, to keep the numbers' exact text); true if the
    /// checksum matches the book after it.
    fn apply(&mut self, text: &str) -> bool {
        let m: BookMsg<'_> = serde_json::from_str(text).expect("book message");
        if m.kind == "snapshot" {
            *self = Book::new(self.depth);
        }
        let d = &m.data[0];
        for (side, levels) in [(&mut self.bids, &d.bids), (&mut self.asks, &d.asks)] {
            for l in levels {
                side.apply(l.price.get(), l.qty.get());
            }
            // As Kraken says: keep the subscribed depth (levels pushed out get no qty 0).
            side.truncate(self.depth);
        }
        d.checksum == self.checksum()
    }

    /// Kraken's checksum: top 10 asks then top 10 bids, "." removed, leading zeros stripped.
    fn checksum(&self) -> u32 {
        let mut s = String::new();
        for (p, q) in self
            .asks
            .best()
            .iter()
            .take(10)
            .chain(self.bids.best().iter().take(10))
        {
            for v in [p, q] {
                s.push_str(v.replace('.', "").trim_start_matches('0'));
            }
        }
        crc32(s.as_bytes())
    }
}

/// The next book message's text (heartbeats and others skipped).
async fn next_book(c: &mut Client) -> String {
    loop {
        let t = c.next_text().await.expect("open");
        if t.starts_with(r#"{"channel":"book""#) {
            return t;
        }
    }
}

fn book_params(method: &str) -> String {
    json!({"method": method, "params": {"channel": "book", "symbol": ["BTC/USDT"], "depth": 10}, "req_id": 1})
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn book_checksums_verify_and_the_book_is_the_true_book() {
    let sim = start();
    let mut c = Client::connect(&sim.ws_venue_url()).await;
    let status = c.next_json().await;
    assert_eq!(
        (&status["channel"], &status["data"][0]["system"]),
        (&json!("status"), &json!("online"))
    );
    c.send(r#"{"method":"ping","req_id":3}"#).await;
    let pong = c.next_json().await;
    assert_eq!(
        (&pong["method"], &pong["req_id"]),
        (&json!("pong"), &json!(3))
    );
    assert!(pong["time_in"].is_string() && pong["time_out"].is_string());

    c.send(&book_params("subscribe")).await;
    let ack = c.next_json().await;
    assert_eq!(ack["success"], true, "{ack}");
    assert_eq!(
        ack["result"],
        json!({"channel": "book", "depth": 10, "snapshot": true, "symbol": "BTC/USDT"})
    );
    let snap = next_book(&mut c).await;
    let v: Value = serde_json::from_str(&snap).expect("json");
    same_shape(&fixture("kraken", "book_snapshot.json"), &v, "snapshot");
    let mut book = Book::new(10);
    assert!(book.apply(&snap), "snapshot checksum");
    for _ in 0..15 {
        let u = next_book(&mut c).await;
        let v: Value = serde_json::from_str(&u).expect("json");
        same_shape(&fixture("kraken", "book_update.json"), &v, "update");
        assert!(book.apply(&u), "update checksum: {u}");
        assert_eq!((book.bids.levels.len(), book.asks.levels.len()), (10, 10));
    }

    // Stalled: the local book is the true book, and REST's Depth at that step (numerically:
    // REST prints fixed decimals).
    sim.ws_venue_stall("book", "BTC/USDT", true)
        .expect_err("a venue id is XBTUSDT");
    sim.ws_venue_stall("book", "BTCUSDT", true).expect("stall");
    let in_flight = c.drain_text(Duration::from_millis(400)).await;
    for t in in_flight
        .iter()
        .filter(|t| t.starts_with(r#"{"channel":"book""#))
    {
        assert!(book.apply(t));
    }
    let truth = sim.ws_venue_book("BTCUSDT", Some(10)).expect("true book");
    assert_eq!(
        (book.bids.canonical(), book.asks.canonical()),
        (truth.bids.clone(), truth.asks.clone())
    );
    let rest: Value = serde_json::from_str(
        &sim.venue_rest_body_at(
            "/0/public/Depth?pair=XBTUSDT&count=10",
            truth.seq * sim.config().tick_ms,
        )
        .expect("rest"),
    )
    .expect("json");
    let rest_bids: Vec<(u64, u64)> = rest["result"]["XBTUSDT"]["bids"]
        .as_array()
        .expect("bids")
        .iter()
        .map(|l| {
            (
                units(l[0].as_str().unwrap_or("0")),
                units(l[1].as_str().unwrap_or("0")),
            )
        })
        .collect();
    let ws_bids: Vec<(u64, u64)> = truth
        .bids
        .iter()
        .map(|(p, q)| (units(p), units(q)))
        .collect();
    assert_eq!(
        rest_bids, ws_bids,
        "REST and websocket agree at the same step"
    );
    sim.ws_venue_stall("book", "BTCUSDT", false)
        .expect("unstall");

    // A corrupted checksum: exactly one mismatch, the book itself stays right.
    sim.ws_venue_corrupt_checksum("BTCUSDT").expect("corrupt");
    let mut bad = 0;
    for _ in 0..10 {
        bad += usize::from(!book.apply(&next_book(&mut c).await));
    }
    assert_eq!(bad, 1);

    // A lost update: the book is off, the checksums say so; a resubscription repairs it.
    sim.ws_venue_skip("BTCUSDT").expect("skip");
    let mut mismatches = 0;
    for _ in 0..10 {
        mismatches += usize::from(!book.apply(&next_book(&mut c).await));
    }
    assert!(mismatches >= 1, "the lost update shows");
    c.send(&book_params("unsubscribe")).await;
    let unsub = c.next_where(|v| v["method"] == "unsubscribe").await;
    assert_eq!(unsub["success"], true, "{unsub}");
    c.send(&book_params("subscribe")).await;
    loop {
        let t = next_book(&mut c).await;
        if t.contains(r#""type":"snapshot""#) {
            assert!(book.apply(&t));
            break;
        }
    }
    for _ in 0..5 {
        assert!(book.apply(&next_book(&mut c).await));
    }
    let stats = sim.ws_venue_stats();
    assert_eq!((stats.skipped, stats.corrupted, stats.pings), (1, 1, 1));
    // Unsubscribing what is not subscribed is refused.
    c.send(
        &json!({"method": "unsubscribe", "params": {"channel": "trade", "symbol": ["BTC/USDT"]}})
            .to_string(),
    )
    .await;
    let r = c.next_where(|v| v["method"] == "unsubscribe").await;
    assert_eq!(
        (&r["success"], &r["error"]),
        (&json!(false), &json!("Subscription Not Found"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticker_trade_ohlc_heartbeats_and_refusals_in_kraken_shapes() {
    let sim = start();
    let mut c = Client::connect(&sim.ws_venue_url()).await;
    c.next_json().await; // status
    c.send(
        r#"{"method":"subscribe","params":{"channel":"book","symbol":["NOPE/USDT"]},"req_id":5}"#,
    )
    .await;
    let r = c.next_json().await;
    assert_eq!(
        (&r["success"], &r["error"]),
        (
            &json!(false),
            &json!("Currency pair not supported NOPE/USDT")
        )
    );
    c.send(r#"{"method":"subscribe","params":{"channel":"book","symbol":["BTC/USDT"],"depth":7}}"#)
        .await;
    assert_eq!(c.next_json().await["success"], false);

    for params in [
        r#""channel":"ticker","symbol":["ETH/USDT"]"#,
        r#""channel":"trade","symbol":["ETH/USDT"]"#,
        r#""channel":"ohlc","interval":1,"symbol":["ETH/USDT"]"#,
    ] {
        c.send(&format!(
            r#"{{"method":"subscribe","params":{{{params}}},"req_id":1}}"#
        ))
        .await;
    }
    let (mut acks, mut tickers, mut trades, mut ohlc, mut heartbeat) =
        (Vec::new(), Vec::new(), Vec::new(), None, false);
    while acks.len() < 3 || tickers.is_empty() || trades.len() < 2 || ohlc.is_none() || !heartbeat {
        let m = c.next_json().await;
        if m["method"] == "subscribe" {
            assert_eq!(m["success"], true, "{m}");
            acks.push(m);
            continue;
        }
        match m["channel"].as_str() {
            Some("ticker") => tickers.push(m),
            Some("trade") => trades.push(m),
            Some("ohlc") => ohlc = Some(m),
            Some("heartbeat") => heartbeat = true,
            other => panic!("unexpected {other:?}: {m}"),
        }
    }
    same_shape(
        &fixture("kraken", "subscribe_response.json"),
        &acks[0],
        "ack",
    );
    // Subscribing sends a snapshot first: the ticker now, the last 50 trades; the updates
    // carry on from the last trade of the snapshot.
    assert_eq!(tickers[0]["type"], "snapshot");
    assert_eq!(
        (&trades[0]["type"], &trades[1]["type"]),
        (&json!("snapshot"), &json!("update"))
    );
    let ids = |m: &Value| -> Vec<u64> {
        m["data"]
            .as_array()
            .expect("trades")
            .iter()
            .filter_map(|t| t["trade_id"].as_u64())
            .collect()
    };
    let (snap, next) = (ids(&trades[0]), ids(&trades[1]));
    assert_eq!(snap.len(), 50);
    assert!(snap.windows(2).all(|w| w[1] == w[0] + 1), "{snap:?}");
    assert_eq!(next.first().copied(), snap.last().map(|l| l + 1));
    let ticker = tickers.pop();
    let trade = trades.pop();
    let f = |name| fixture("kraken", name);
    same_shape(
        &f("ticker_snapshot.json")["data"][0],
        &ticker.unwrap_or_default()["data"][0],
        "ticker",
    );
    let trade = trade.unwrap_or_default();
    same_shape(
        &f("trade_update.json")["data"][0],
        &trade["data"][0],
        "trade",
    );
    assert_eq!(trade["data"][0]["symbol"], "ETH/USDT");
    let ohlc = ohlc.unwrap_or_default();
    same_shape(&f("ohlc_update.json")["data"][0], &ohlc["data"][0], "ohlc");
    assert_eq!(ohlc["data"][0]["interval"], 1);
}
