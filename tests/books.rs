//! Local order books, trade tapes and candles in progress (SPEC.md 5.1) through the real binary
//! against the simulator's Binance streams: while a book or trades resource (or watch) reads
//! them, a symbol's book is kept from
//! `@depth@100ms` and equals the simulator's true book at the served update id; a skipped
//! update causes one resync, the book right again within 2 s and never crossed meanwhile; its
//! trades come from the tape, in order with Binance's ids, with no REST call.

#![allow(
    deprecated,
    reason = "resources/subscribe: what `initialize` sessions speak"
)]

mod common;

use std::time::{Duration, Instant};

use common::{ok, simulator, start_server, start_server_with, Recorder};
use crypto_market_sim::SimHandle;
use rmcp::model::{
    ReadResourceRequestParams, ResourceContents, SubscribeRequestParams, UnsubscribeRequestParams,
};
use serde_json::{json, Value};

/// Subscribing a book (or trades) resource makes the symbol's book, trades and candle stream.
const WATCH: &str = "orderbook://binance/BTCUSDT";
const WITH_METRICS: &[(&str, &str)] = &[("METRICS_ADDR", "127.0.0.1:0")];

use common::book_json::{levels, side};

/// The served book is exactly the simulator's at its nonce, and not crossed.
fn assert_true_book(sim: &SimHandle, book: &Value, limit: usize) {
    let nonce = book["nonce"].as_u64().expect("a nonce");
    let truth = sim.book_at("BTCUSDT", nonce, limit).expect("BTCUSDT");
    let (bids, asks) = (side(book, "bids"), side(book, "asks"));
    assert_eq!(bids, levels(&truth.bids), "bids at {nonce}");
    assert_eq!(asks, levels(&truth.asks), "asks at {nonce}");
    assert!(bids[0][0] < asks[0][0], "crossed at {nonce}");
}

async fn metric(log: &std::sync::Arc<std::sync::Mutex<String>>, series: &str) -> f64 {
    let addr = common::logged_addr(log, "serving /metrics").await;
    let (_, text) = common::http_get(&addr, "/metrics").await.expect("/metrics");
    text.lines()
        .find_map(|line| line.strip_prefix(series))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn a_watched_book_is_the_true_book_and_a_gap_resyncs_once() {
    let sim = simulator();
    let server = start_server(&sim, WITH_METRICS).await;
    server
        .client
        .subscribe(SubscribeRequestParams::new(WATCH))
        .await
        .expect("subscribed");
    let book_args = json!({"symbol": "BTC/USDT", "limit": 100});
    // The stream starts, the snapshot comes, the book is served from the stream.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let book = ok(&server.call("get_order_book", book_args.clone()).await).clone();
        if book["source"] == "stream" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never served from the stream: {book}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A series of book changes: each served book is the simulator's at its update id.
    let mut nonces = Vec::new();
    for _ in 0..10 {
        let book = ok(&server.call("get_order_book", book_args.clone()).await).clone();
        assert_eq!(book["source"], "stream", "{book}");
        assert_true_book(&sim, &book, 100);
        nonces.push(book["nonce"].as_u64().unwrap());
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert!(nonces.windows(2).all(|w| w[0] <= w[1]), "{nonces:?}");
    assert!(nonces.last() > nonces.first(), "the book moved: {nonces:?}");
    let series = "cmm_book_resyncs_total{exchange=\"binance\"}";
    let resyncs = metric(&server.stderr, series).await;
    let log = server.stderr.lock().unwrap().clone();
    let why: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("resynchronising") || l.contains("websocket lost"))
        .collect();
    assert_eq!(resyncs, 0.0, "{why:?}");

    // One update goes missing: one resync, right again within 2 s, never crossed meanwhile.
    let skipped_after = sim.book_update_id();
    sim.ws_skip_update("btcusdt@depth@100ms").unwrap();
    let deadline = Instant::now() + Duration::from_secs(2) + Duration::from_millis(500);
    let healed = loop {
        let book = ok(&server.call("get_order_book", book_args.clone()).await).clone();
        let bids = side(&book, "bids");
        let asks = side(&book, "asks");
        assert!(bids[0][0] < asks[0][0], "crossed: {book}");
        if book["source"] == "stream" {
            assert_true_book(&sim, &book, 100);
            if book["nonce"].as_u64().unwrap() > skipped_after + 2
                && metric(&server.stderr, series).await == 1.0
            {
                break Instant::now();
            }
        }
        assert!(Instant::now() < deadline, "not healed in time: {book}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(healed <= deadline);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        metric(&server.stderr, series).await,
        1.0,
        "exactly one resync"
    );

    // The last watcher leaves: the streams go, the connection closes.
    server
        .client
        .unsubscribe(UnsubscribeRequestParams::new(WATCH))
        .await
        .expect("unsubscribed");
    let deadline = Instant::now() + Duration::from_secs(15);
    while sim.ws_stats().open > 0 {
        assert!(Instant::now() < deadline, "the streams were not released");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let book = ok(&server.call("get_order_book", book_args.clone()).await).clone();
    assert_ne!(
        book["source"], "stream",
        "not served from a stream nobody keeps"
    );
}

#[tokio::test]
async fn watched_trades_and_candles_come_from_the_streams_without_rest_calls() {
    let sim = simulator();
    let server = start_server(&sim, &[("CACHE_TTL", "60")]).await;
    server
        .client
        .subscribe(SubscribeRequestParams::new("trades://binance/BTCUSDT"))
        .await
        .expect("subscribed");
    let args = json!({"symbol": "BTC/USDT", "limit": 200});
    let deadline = Instant::now() + Duration::from_secs(15);
    let first = loop {
        let t = ok(&server.call("get_trades", args.clone()).await).clone();
        if t["source"] == "stream" {
            break t;
        }
        assert!(Instant::now() < deadline, "never served from the tape: {t}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let calls = sim.calls("trades");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let later = ok(&server.call("get_trades", args.clone()).await).clone();
    assert_eq!(later["source"], "stream");
    assert_eq!(sim.calls("trades"), calls, "no REST call while watched");
    let ids = |v: &Value| -> Vec<u64> {
        v["trades"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().parse().unwrap())
            .collect()
    };
    for v in [&first, &later] {
        let ids = ids(v);
        assert_eq!(ids.len(), 200);
        // Binance numbers trades one by one: in order, none missing, none twice.
        assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
    }
    assert!(
        ids(&later).last() > ids(&first).last(),
        "new trades arrived"
    );

    // Candles end with the one in progress from the kline stream: the cached REST candles
    // (CACHE_TTL 60 s here) are not fetched again, yet the last candle follows the market.
    let ohlcv = json!({"symbol": "BTC/USDT", "timeframe": "1m", "limit": 5});
    let before = ok(&server.call("get_ohlcv", ohlcv.clone()).await).clone();
    let klines = sim.calls("klines");
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let after = ok(&server.call("get_ohlcv", ohlcv.clone()).await).clone();
    assert_eq!(sim.calls("klines"), klines, "served from the cache");
    let candles = after["candles"].as_array().unwrap();
    assert_eq!(candles.len(), 5);
    let last = |v: &Value| v["candles"].as_array().unwrap().last().unwrap().clone();
    assert_ne!(
        last(&before),
        last(&after),
        "the candle in progress moved: {after}"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert_eq!(
        last(&after)[0].as_i64().unwrap(),
        now / 60_000 * 60_000,
        "this minute's"
    );
}

const BOOK: &str = "orderbook://binance/BTCUSDT";
const TAPE: &str = "trades://binance/BTCUSDT";

async fn read(server: &common::McpServer<Recorder>, uri: &str) -> Value {
    let result = server
        .client
        .read_resource(ReadResourceRequestParams::new(uri))
        .await
        .expect("read");
    match &result.contents[0] {
        ResourceContents::TextResourceContents { text, .. } => {
            serde_json::from_str(text).expect("JSON")
        }
        other => panic!("{other:?}"),
    }
}

fn assert_at_most_ten_a_second(updates: &[Instant]) {
    for window in updates.windows(11) {
        assert!(
            window[10] - window[0] >= Duration::from_millis(950),
            "11 updates within {:?}",
            window[10] - window[0]
        );
    }
}

#[tokio::test]
async fn book_and_trade_resources_read_and_notify_at_most_ten_a_second() {
    let sim = simulator();
    let recorder = Recorder::default();
    let server = start_server_with(&sim, &[], recorder.clone()).await;
    for uri in [BOOK, TAPE] {
        server
            .client
            .subscribe(SubscribeRequestParams::new(uri))
            .await
            .expect("subscribed");
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    let book = loop {
        let book = read(&server, BOOK).await;
        if book["source"] == "stream" {
            break book;
        }
        assert!(Instant::now() < deadline, "never from the stream: {book}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(side(&book, "bids").len(), 20, "the top 20 levels");
    assert_eq!(side(&book, "asks").len(), 20);
    assert_true_book(&sim, &book, 20);
    let tape = read(&server, TAPE).await;
    assert_eq!(
        tape["trades"].as_array().map(Vec::len),
        Some(50),
        "the last 50"
    );
    // The book changes every 100 ms and trades come every 20-400 ms: updates keep coming, never
    // more than ten in a second.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for uri in [BOOK, TAPE] {
        let updates = recorder.updates_of(uri);
        assert!(
            updates.len() >= 10,
            "{uri}: {} updates in 3 s",
            updates.len()
        );
        assert_at_most_ten_a_second(&updates);
    }
    // The last change reaches the subscriber: after the last update, the value read is newer
    // than or equal to the one at that update.
    let last_book = read(&server, BOOK).await;
    assert!(last_book["nonce"].as_u64() >= book["nonce"].as_u64());
}
