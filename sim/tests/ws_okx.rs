//! OKX's public websocket over a real socket: subscribe acks and errors, ping/pong, a `books`
//! snapshot plus updates rebuilt into a local book that equals the simulator's true book and
//! REST's book at the same step, `seqId`/`prevSeqId` chained, checksums verified with an
//! independent CRC32, the skip and corrupt faults seen, and tickers, trades and candles in the
//! fixtures' shapes.

mod common;

use common::{crc32, fixture, same_shape, Client, Side};
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

/// A local OKX book: checks each message's chain and checksum.
struct Book {
    bids: Side,
    asks: Side,
    seq: i64,
}

impl Book {
    fn new() -> Book {
        Book {
            bids: Side::new(true),
            asks: Side::new(false),
            seq: -1,
        }
    }

    /// Applies `data[0]` of a books message; returns (chained, checksum right).
    fn apply(&mut self, msg: &Value) -> (bool, bool) {
        let d = &msg["data"][0];
        if msg["action"] == "snapshot" {
            *self = Book::new();
        }
        let chained = d["prevSeqId"].as_i64() == Some(self.seq);
        for (side, key) in [(&mut self.bids, "bids"), (&mut self.asks, "asks")] {
            for l in d[key].as_array().expect("levels") {
                side.apply(l[0].as_str().expect("px"), l[1].as_str().expect("sz"));
            }
        }
        self.seq = d["seqId"].as_i64().expect("seqId");
        let sent = d["checksum"].as_i64().expect("checksum");
        (chained, sent == i64::from(self.checksum()))
    }

    /// OKX's checksum, computed here from the strings as received.
    fn checksum(&self) -> i32 {
        let (b, a) = (self.bids.best(), self.asks.best());
        let mut parts = Vec::new();
        for i in 0..25 {
            for side in [&b, &a] {
                if let Some((p, q)) = side.get(i) {
                    parts.push(p.clone());
                    parts.push(q.clone());
                }
            }
        }
        crc32(parts.join(":").as_bytes()) as i32
    }
}

fn books_arg() -> Value {
    json!({"channel": "books", "instId": "BTC-USDT"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn books_rebuild_to_the_true_book_with_chained_sequences_and_checksums() {
    let sim = start();
    let url = sim.ws_venue_url();
    let mut c = Client::connect(&url).await;
    c.send("ping").await;
    assert_eq!(c.next_text().await.as_deref(), Some("pong"));

    c.send(&json!({"id": "7", "op": "subscribe", "args": [books_arg()]}).to_string())
        .await;
    let ack = c.next_json().await;
    assert_eq!(
        (&ack["id"], &ack["event"], &ack["arg"]),
        (&json!("7"), &json!("subscribe"), &books_arg())
    );
    assert!(ack["connId"].is_string(), "{ack}");

    let snap = c.next_json().await;
    assert_eq!(snap["action"], "snapshot");
    assert_eq!(snap["data"][0]["prevSeqId"], -1);
    same_shape(&fixture("okx", "books_snapshot.json"), &snap, "snapshot");
    let mut book = Book::new();
    assert_eq!(book.apply(&snap), (true, true), "snapshot checksum");
    assert_eq!(book.bids.levels.len(), 400);

    let mut updates = 0;
    while updates < 15 {
        let u = c.next_json().await;
        assert_eq!(u["action"], "update", "{u}");
        same_shape(&fixture("okx", "books_update.json"), &u, "update");
        let before = book.seq;
        assert_eq!(book.apply(&u), (true, true), "update after seq {before}");
        assert!(book.seq > before);
        updates += 1;
    }
    assert_eq!(book.bids.levels.len(), 400);
    assert_eq!(book.asks.levels.len(), 400);

    // Stall the stream, read what was in flight: the local book is the true book, and REST's
    // 400 levels at that step.
    sim.ws_venue_stall("book", "BTCUSDT", true).expect("stall");
    for m in c.drain(Duration::from_millis(400)).await {
        assert_eq!(book.apply(&m), (true, true));
    }
    assert!(
        c.drain(Duration::from_millis(300)).await.is_empty(),
        "stalled"
    );
    let truth = sim.ws_venue_book("BTC-USDT", None).expect("true book");
    assert_eq!(truth.seq as i64, book.seq);
    assert_eq!(book.bids.canonical(), truth.bids);
    assert_eq!(book.asks.canonical(), truth.asks);
    let rest: Value = serde_json::from_str(
        &sim.venue_rest_body_at(
            "/api/v5/market/books?instId=BTC-USDT&sz=400",
            truth.seq * sim.config().tick_ms,
        )
        .expect("rest"),
    )
    .expect("json");
    let rest_bids: Vec<(String, String)> = rest["data"][0]["bids"]
        .as_array()
        .expect("bids")
        .iter()
        .map(|l| {
            (
                l[0].as_str().unwrap_or("").into(),
                l[1].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    assert_eq!(
        rest_bids, truth.bids,
        "REST and websocket agree at the same step"
    );
    sim.ws_venue_stall("book", "BTCUSDT", false)
        .expect("unstall");

    // A skipped update: the next one's prevSeqId is not our seqId.
    let skipped = sim.ws_venue_stats().skipped;
    sim.ws_venue_skip("BTCUSDT").expect("skip");
    let mut gap = false;
    for _ in 0..100 {
        let u = c.next_json().await;
        let (chained, _) = book.apply(&u);
        if !chained {
            gap = true;
            break;
        }
    }
    assert!(gap, "a gap after the skip");
    assert_eq!(sim.ws_venue_stats().skipped, skipped + 1);

    // Resubscribe (as a client does on a gap): a new snapshot, then a corrupted checksum once.
    c.send(&json!({"op": "unsubscribe", "args": [books_arg()]}).to_string())
        .await;
    let unsub = c.next_where(|v| v["event"] == "unsubscribe").await;
    assert_eq!(unsub["arg"], books_arg());
    c.send(&json!({"op": "subscribe", "args": [books_arg()]}).to_string())
        .await;
    let snap = c.next_where(|v| v["action"] == "snapshot").await;
    assert_eq!(book.apply(&snap), (true, true));
    sim.ws_venue_corrupt_checksum("BTCUSDT").expect("corrupt");
    let mut bad = 0;
    for _ in 0..10 {
        let u = c.next_json().await;
        let (chained, sum_ok) = book.apply(&u);
        assert!(chained);
        bad += usize::from(!sum_ok);
    }
    assert_eq!(bad, 1, "exactly one wrong checksum");
    let stats = sim.ws_venue_stats();
    assert_eq!(
        (stats.corrupted, stats.subscribed, stats.unsubscribed),
        (1, 2, 1)
    );

    // Dropped by the simulator: the connection ends.
    assert_eq!(sim.ws_drop_connections(false), 1);
    while c.next_text().await.is_some() {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickers_trades_candles_and_errors_in_okx_shapes() {
    let sim = start();
    let url = sim.ws_venue_url();
    let mut c = Client::connect(&url).await;
    let args = json!([
        {"channel": "tickers", "instId": "ETH-USDT"},
        {"channel": "trades", "instId": "ETH-USDT"},
        {"channel": "books", "instId": "NOPE-USDT"},
        {"channel": "candle1m", "instId": "ETH-USDT"}
    ]);
    c.send(&json!({"op": "subscribe", "args": args}).to_string())
        .await;
    for arg in args.as_array().expect("args").iter().take(2) {
        let ack = c.next_json().await;
        assert_eq!((&ack["event"], &ack["arg"]), (&json!("subscribe"), arg));
    }
    // An unknown instrument, and a candle channel on /public (candles are on /business).
    for _ in 0..2 {
        let err = c.next_json().await;
        assert_eq!(
            (&err["event"], &err["code"]),
            (&json!("error"), &json!("60018")),
            "{err}"
        );
    }
    c.send("{not json").await;
    let err = c.next_where(|v| v["event"] == "error").await;
    assert_eq!(err["code"], "60012");
    let mut business = Client::connect(&format!("{}/ws/v5/business", sim.ws_url())).await;
    business
        .send(
            &json!({"op": "subscribe", "args": [{"channel": "candle1m", "instId": "ETH-USDT"}]})
                .to_string(),
        )
        .await;
    assert_eq!(business.next_json().await["event"], "subscribe");
    let candle = business.next_json().await;

    let (mut ticker, mut trades) = (None, None);
    while ticker.is_none() || trades.is_none() {
        let m = c.next_json().await;
        match m["arg"]["channel"].as_str() {
            Some("tickers") => ticker = Some(m),
            Some("trades") => trades = Some(m),
            _ => {}
        }
    }
    let (ticker, trades) = (ticker.unwrap_or_default(), trades.unwrap_or_default());
    // The whole-book channels: the top level and the top 5 of the same book.
    c.send(r#"{"op":"subscribe","args":[{"channel":"bbo-tbt","instId":"ETH-USDT"},{"channel":"books5","instId":"ETH-USDT"}]}"#)
        .await;
    let bbo = c
        .next_where(|v| v["arg"]["channel"] == "bbo-tbt" && v["data"].is_array())
        .await;
    same_shape(&fixture("okx", "bbo_tbt.json"), &bbo, "bbo-tbt");
    let five = c
        .next_where(|v| v["arg"]["channel"] == "books5" && v["data"].is_array())
        .await;
    let d5 = &five["data"][0];
    assert_eq!(
        (d5["asks"].as_array().map(Vec::len), &d5["instId"]),
        (Some(5), &json!("ETH-USDT"))
    );
    assert!(d5["seqId"].is_u64() && d5.get("checksum").is_none());
    same_shape(&fixture("okx", "tickers.json"), &ticker, "tickers");
    same_shape(
        &fixture("okx", "candle.json")["data"],
        &candle["data"],
        "candle",
    );
    let t = &trades["data"][0];
    same_shape(&fixture("okx", "trades.json")["data"][0], t, "trade");
    // The ticker is REST's at its own instant.
    let ts: u64 = ticker["data"][0]["ts"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("ts");
    let rest: Value = serde_json::from_str(
        &sim.venue_rest_body_at("/api/v5/market/ticker?instId=ETH-USDT", ts)
            .expect("rest"),
    )
    .expect("json");
    assert_eq!(rest["data"][0], ticker["data"][0]);
    // Trades come in id order, each id once.
    let mut last: u64 = t["tradeId"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("id");
    for _ in 0..5 {
        let m = c.next_where(|v| v["arg"]["channel"] == "trades").await;
        for tr in m["data"].as_array().expect("trades") {
            let id: u64 = tr["tradeId"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .expect("id");
            assert!(id > last, "{id} after {last}");
            last = id;
        }
    }
}
