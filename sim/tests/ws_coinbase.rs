//! Coinbase Advanced Trade's websocket over a real socket: `subscriptions` replies, every
//! message numbered by `sequence_num` from 0, a `level2` snapshot plus updates rebuilt into the
//! simulator's true book, a skipped update seen as a jump of `sequence_num`, heartbeats
//! counting, and `ticker`, `market_trades`, `candles` in the fixtures' shapes.

mod common;

use common::{fixture, same_shape, Client, Side};
use crypto_market_sim::{SimConfig, SimHandle, Simulator, Venue};
use serde_json::{json, Value};
use std::time::Duration;

fn start() -> SimHandle {
    Simulator::start(SimConfig {
        venue: Venue::Coinbase,
        ..SimConfig::default()
    })
    .expect("simulator")
}

/// A client that checks `sequence_num` on every message.
struct Numbered {
    c: Client,
    next: u64,
    /// Jumps seen: (expected, got).
    jumps: Vec<(u64, u64)>,
}

impl Numbered {
    async fn next(&mut self) -> Value {
        let m = self.c.next_json().await;
        let n = m["sequence_num"]
            .as_u64()
            .unwrap_or_else(|| panic!("numbered: {m}"));
        if n != self.next {
            self.jumps.push((self.next, n));
        }
        self.next = n + 1;
        m
    }

    async fn next_on(&mut self, channel: &str) -> Value {
        loop {
            let m = self.next().await;
            if m["channel"] == channel {
                return m;
            }
        }
    }

    async fn send(&mut self, v: Value) {
        self.c.send(&v.to_string()).await;
    }
}

fn apply(bids: &mut Side, asks: &mut Side, m: &Value) {
    let e = &m["events"][0];
    if e["type"] == "snapshot" {
        *bids = Side::new(true);
        *asks = Side::new(false);
    }
    for u in e["updates"].as_array().expect("updates") {
        let side = if u["side"] == "bid" {
            &mut *bids
        } else {
            &mut *asks
        };
        side.apply(
            u["price_level"].as_str().expect("price"),
            u["new_quantity"].as_str().expect("qty"),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn level2_rebuilds_the_true_book_and_sequence_numbers_count_every_message() {
    let sim = start();
    let mut c = Numbered {
        c: Client::connect(&sim.ws_venue_url()).await,
        next: 0,
        jumps: Vec::new(),
    };
    c.send(json!({"type": "subscribe", "product_ids": ["BTC-USDT", "ETH-USDT"], "channel": "market_trades"}))
        .await;
    c.next_on("subscriptions").await;
    c.send(json!({"type": "subscribe", "product_ids": ["BTC-USDT"], "channel": "level2"}))
        .await;
    let subs = c.next_on("subscriptions").await;
    same_shape(
        &fixture("coinbase", "subscriptions.json"),
        &subs,
        "subscriptions",
    );
    assert_eq!(
        subs["events"][0]["subscriptions"],
        json!({"level2": ["BTC-USDT"], "market_trades": ["BTC-USDT", "ETH-USDT"]})
    );
    let snap = c.next_on("l2_data").await;
    same_shape(
        &fixture("coinbase", "l2_data_snapshot.json"),
        &snap,
        "snapshot",
    );
    let (mut bids, mut asks) = (Side::new(true), Side::new(false));
    apply(&mut bids, &mut asks, &snap);
    assert_eq!((bids.levels.len(), asks.levels.len()), (250, 250));
    for _ in 0..15 {
        let u = c.next_on("l2_data").await;
        same_shape(&fixture("coinbase", "l2_data_update.json"), &u, "update");
        assert_eq!(u["events"][0]["type"], "update");
        apply(&mut bids, &mut asks, &u);
        assert_eq!((bids.levels.len(), asks.levels.len()), (250, 250));
    }

    sim.ws_venue_stall("book", "BTC-USDT", true).expect("stall");
    // In flight: trades go on, the book is quiet after this.
    let until = tokio::time::Instant::now() + Duration::from_millis(500);
    while tokio::time::Instant::now() < until {
        let m = c.next().await;
        if m["channel"] == "l2_data" {
            apply(&mut bids, &mut asks, &m);
        }
    }
    let truth = sim.ws_venue_book("BTCUSDT", None).expect("true book");
    assert_eq!(
        (bids.canonical(), asks.canonical()),
        (truth.bids, truth.asks)
    );
    sim.ws_venue_stall("book", "BTCUSDT", false)
        .expect("unstall");
    assert!(c.jumps.is_empty(), "{:?}", c.jumps);

    assert!(
        sim.ws_venue_corrupt_checksum("BTCUSDT").is_err(),
        "level2 has no checksum"
    );
    sim.ws_venue_skip("BTCUSDT").expect("skip");
    for _ in 0..10 {
        c.next_on("l2_data").await;
    }
    assert_eq!(c.jumps.len(), 1, "{:?}", c.jumps);
    let (expected, got) = c.jumps[0];
    assert_eq!(got, expected + 1, "one number used up");

    c.send(json!({"type": "unsubscribe", "product_ids": ["BTC-USDT"], "channel": "level2"}))
        .await;
    let subs = c.next_on("subscriptions").await;
    assert_eq!(
        subs["events"][0]["subscriptions"],
        json!({"market_trades": ["BTC-USDT", "ETH-USDT"]})
    );
    let stats = sim.ws_venue_stats();
    assert_eq!(
        (stats.subscribed, stats.unsubscribed, stats.skipped),
        (3, 1, 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_ticker_trades_candles_and_errors_in_coinbase_shapes() {
    let sim = start();
    let mut c = Numbered {
        c: Client::connect(&sim.ws_venue_url()).await,
        next: 0,
        jumps: Vec::new(),
    };
    c.c.send(r#"{"type":"subscribe","product_ids":["NOPE-USDT"],"channel":"level2"}"#)
        .await;
    let err = c.c.next_json().await;
    assert_eq!(err["type"], "error", "{err}");
    c.c.send(r#"{"type":"subscribe","channel":"nope"}"#).await;
    assert_eq!(c.c.next_json().await["type"], "error");

    c.send(json!({"type": "subscribe", "channel": "heartbeats"}))
        .await;
    assert_eq!(
        c.next_on("subscriptions").await["events"][0]["subscriptions"],
        json!({"heartbeats": []})
    );
    for ch in ["ticker", "market_trades", "candles"] {
        c.send(json!({"type": "subscribe", "product_ids": ["ETH-USDT"], "channel": ch}))
            .await;
    }
    let (mut ticker, mut trades, mut candles, mut beats) = (None, Vec::new(), None, Vec::new());
    let mut acks = 0;
    while acks < 3 || ticker.is_none() || trades.len() < 2 || candles.is_none() || beats.len() < 2 {
        let m = c.next().await;
        match m["channel"].as_str() {
            Some("subscriptions") => acks += 1,
            Some("ticker") => {
                ticker.get_or_insert(m);
            }
            Some("market_trades") => trades.push(m),
            Some("candles") => candles = Some(m),
            Some("heartbeats") => beats.push(m),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(c.jumps.is_empty(), "{:?}", c.jumps);
    let f = |n| fixture("coinbase", n);
    same_shape(&f("heartbeats.json"), &beats[0], "heartbeat");
    let counters: Vec<u64> = beats
        .iter()
        .map(|b| {
            b["events"][0]["heartbeat_counter"]
                .as_u64()
                .expect("counter")
        })
        .collect();
    assert_eq!(counters, [0, 1]);
    let ticker = ticker.unwrap_or_default();
    // The first ticker and trades messages are snapshots (the last 50 trades); the updates
    // carry on from the snapshot's last trade.
    assert_eq!(ticker["events"][0]["type"], "snapshot");
    let ids = |m: &Value| -> Vec<u64> {
        m["events"][0]["trades"]
            .as_array()
            .expect("trades")
            .iter()
            .filter_map(|t| t["trade_id"].as_str().and_then(|s| s.parse().ok()))
            .collect()
    };
    assert_eq!(trades[0]["events"][0]["type"], "snapshot");
    assert_eq!(trades[1]["events"][0]["type"], "update");
    let (snap, next) = (ids(&trades[0]), ids(&trades[1]));
    assert_eq!(snap.len(), 50);
    assert_eq!(next.first().copied(), snap.last().map(|l| l + 1));
    let trades = trades.pop();
    same_shape(
        &f("ticker.json")["events"][0]["tickers"][0],
        &ticker["events"][0]["tickers"][0],
        "ticker",
    );
    same_shape(
        &f("market_trades.json"),
        &trades.unwrap_or_default(),
        "trades",
    );
    let candles = candles.unwrap_or_default();
    same_shape(&f("candles.json"), &candles, "candles");
    let start: u64 = candles["events"][0]["candles"][0]["start"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("start");
    assert_eq!(start % 300, 0, "five-minute candles");
}
