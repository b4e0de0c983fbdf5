//! Kraken's local books, tapes and tickers (SPEC.md 5.1) through the real binary against the
//! simulator's Kraken websocket v2: a watched symbol's book is kept from `book` (depth 100,
//! its snapshot in the stream) and equals the book a Kraken client holds; a lost update and a
//! corrupted checksum each cause one resync (a resubscribe), the book right again within 2 s
//! and never crossed meanwhile; trades come from the tape in order with Kraken's ids and no
//! REST call; the ticker comes from the stream.

mod common;

use std::time::{Duration, Instant};

use common::{ok, start_server, McpServer};
use crypto_market_sim::{SimConfig, SimHandle, Simulator, Venue};
use rmcp::model::SubscribeRequestParams;
use serde_json::{json, Value};

const WATCH: &str = "ticker://kraken/BTCUSDT";
const DEPTH: usize = 100;
const SERIES: &str = "cmm_book_resyncs_total{exchange=\"kraken\"}";

fn kraken() -> SimHandle {
    Simulator::start(SimConfig {
        venue: Venue::Kraken,
        ..SimConfig::default()
    })
    .expect("kraken simulator")
}

async fn server(sim: &SimHandle) -> McpServer {
    let ws = sim.ws_venue_url();
    start_server(
        sim,
        &[
            ("EXCHANGE_NAME", "kraken"),
            ("EXCHANGE_WS_URL", &ws),
            ("METRICS_ADDR", "127.0.0.1:0"),
        ],
    )
    .await
}

fn side(book: &Value, name: &str) -> Vec<[f64; 2]> {
    book[name]
        .as_array()
        .expect("levels")
        .iter()
        .map(|l| [l[0].as_f64().unwrap(), l[1].as_f64().unwrap()])
        .collect()
}

/// The book a Kraken client holds after the simulator's last update, as served numbers.
fn truth(sim: &SimHandle) -> Option<(Vec<[f64; 2]>, Vec<[f64; 2]>)> {
    let b = sim.ws_venue_book("BTCUSDT", Some(DEPTH))?;
    let levels = |l: &[(String, String)]| -> Vec<[f64; 2]> {
        l.iter()
            .map(|(p, q)| [p.parse().unwrap(), q.parse().unwrap()])
            .collect()
    };
    Some((levels(&b.bids), levels(&b.asks)))
}

fn not_crossed(book: &Value) {
    let (bids, asks) = (side(book, "bids"), side(book, "asks"));
    if let (Some(b), Some(a)) = (bids.first(), asks.first()) {
        assert!(b[0] < a[0], "crossed: {book}");
    }
}

async fn get_book(server: &McpServer) -> Value {
    let book = ok(&server
        .call(
            "get_order_book",
            json!({"symbol": "BTC/USDT", "limit": DEPTH}),
        )
        .await)
        .clone();
    not_crossed(&book);
    book
}

/// Waits (up to `within`) for the served book to come from the stream and equal the
/// simulator's between two looks at it (the engine may be a frame behind: look again).
async fn served_is_true(sim: &SimHandle, server: &McpServer, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let before = truth(sim);
        let book = get_book(server).await;
        let after = truth(sim);
        if book["source"] == "stream" && before == after {
            let (bids, asks) = after.clone().expect("a book subscribed");
            if side(&book, "bids") == bids && side(&book, "asks") == asks {
                assert_eq!(bids.len(), DEPTH);
                return book;
            }
        }
        assert!(
            Instant::now() < deadline,
            "not the true book in time: {book} vs {after:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn metric(server: &McpServer, series: &str) -> f64 {
    let addr = common::logged_addr(&server.stderr, "serving /metrics").await;
    let (_, text) = common::http_get(&addr, "/metrics").await.expect("/metrics");
    text.lines()
        .find_map(|line| line.strip_prefix(series))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0.0)
}

/// After `fault`, exactly one more resync, and the served book true again within 2 s (never
/// crossed on the way: every read checks).
async fn one_resync_then_true(sim: &SimHandle, server: &McpServer, resyncs: f64) {
    let start = Instant::now();
    let deadline = start + Duration::from_secs(2);
    loop {
        let book = get_book(server).await;
        if metric(server, SERIES).await == resyncs && book["source"] == "stream" {
            break;
        }
        assert!(Instant::now() < deadline, "no resync in time: {book}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let left = deadline.saturating_duration_since(Instant::now());
    served_is_true(sim, server, left).await;
    assert!(start.elapsed() <= Duration::from_secs(2));
    // A few more updates: still true, no further resync.
    tokio::time::sleep(Duration::from_millis(500)).await;
    served_is_true(sim, server, Duration::from_secs(1)).await;
    assert_eq!(metric(server, SERIES).await, resyncs, "exactly one resync");
}

#[tokio::test]
async fn a_watched_kraken_book_is_true_and_a_gap_or_bad_checksum_resyncs_once() {
    let sim = kraken();
    let server = server(&sim).await;
    server
        .client
        .subscribe(SubscribeRequestParams::new(WATCH))
        .await
        .expect("subscribed");
    served_is_true(&sim, &server, Duration::from_secs(15)).await;
    // A series of book changes: each served book is the one a Kraken client holds.
    let mut seen = Vec::new();
    for _ in 0..10 {
        let book = served_is_true(&sim, &server, Duration::from_secs(2)).await;
        seen.push((side(&book, "bids"), side(&book, "asks")));
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    seen.dedup();
    assert!(seen.len() >= 3, "the book moved: {} books", seen.len());
    assert_eq!(metric(&server, SERIES).await, 0.0);

    // An update goes missing: the next checksum disagrees; one resync.
    sim.ws_venue_skip("BTCUSDT").expect("skip");
    one_resync_then_true(&sim, &server, 1.0).await;
    assert_eq!(sim.ws_venue_stats().skipped, 1);

    // A corrupted checksum: one more.
    sim.ws_venue_corrupt_checksum("BTCUSDT").expect("corrupt");
    one_resync_then_true(&sim, &server, 2.0).await;
    assert_eq!(sim.ws_venue_stats().corrupted, 1);
}

#[tokio::test]
async fn watched_kraken_trades_and_ticker_come_from_the_stream() {
    let sim = kraken();
    let server = server(&sim).await;
    server
        .client
        .subscribe(SubscribeRequestParams::new(WATCH))
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
    let calls = sim.calls("Trades");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let later = ok(&server.call("get_trades", args.clone()).await).clone();
    assert_eq!(later["source"], "stream");
    assert_eq!(sim.calls("Trades"), calls, "no REST call while watched");
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
        // Kraken's trade ids count up one by one: in order, none missing, none twice.
        assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
    }
    assert!(ids(&later).last() > ids(&first).last(), "new trades arrived");

    let ticker = ok(&server.call("get_ticker", json!({"symbol": "BTC/USDT"})).await).clone();
    assert_eq!(ticker["source"], "stream", "{ticker}");
    let last = ticker["last"].as_f64().expect("a last price");
    let now = sim.current_price("BTCUSDT").expect("listed");
    assert!((last - now).abs() / now < 0.01, "{last} vs {now}");
}
