//! The limits of watches (SPEC.md 5.1) through the real binary against the simulator: past
//! 1,000 unread items `watch_read` says how many were lost (`dropped`) and returns the newest,
//! in order (the simulator's trade bursts fill the buffer faster than a test waits); a
//! `watch_id` of another MCP session (two sessions over streamable HTTP) is refused as
//! `invalid_argument` and the owner's watch goes on.

mod common;

use std::time::{Duration, Instant};

use common::{ok, simulator, start_http_server, start_server};
use crypto_market_mcp::cli::connection::http;
use crypto_market_mcp::cli::CliError;
use serde_json::{json, Value};

fn trade_id(item: &Value) -> u64 {
    item["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("a Binance trade id: {item}"))
}

#[tokio::test]
async fn past_a_thousand_unread_trades_a_read_counts_the_lost_and_returns_the_newest() {
    let sim = simulator();
    let server = start_server(&sim, &[]).await;
    let w = ok(&server
        .call(
            "watch_subscribe",
            json!({"channel": "trades", "symbol": "BTC/USDT", "duration_s": 120}),
        )
        .await)
    .clone();
    let id = w["watch_id"].as_str().unwrap().to_owned();
    let read = |cursor: u64, wait_ms: u64| {
        let args = json!({"watch_id": id, "cursor": cursor, "wait_ms": wait_ms, "max_items": 500});
        let server = &server;
        async move { ok(&server.call("watch_read", args).await).clone() }
    };
    // The tape is live: a first trade read, its id and cursor (c0) are where "unread" starts.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (c0, id0) = loop {
        let r = read(0, 2_000).await;
        if let Some(last) = r["items"].as_array().and_then(|i| i.last()) {
            break (r["cursor"].as_u64().unwrap(), trade_id(last));
        }
        assert!(Instant::now() < deadline, "no trade came: {r}");
    };
    // 1,600 trades more than the market's own, in two bursts (a stream update carries at most
    // 1,000), none read meanwhile.
    sim.trade_burst("BTCUSDT", 800).expect("a burst");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let last_burst = sim.trade_burst("BTCUSDT", 800).expect("a burst").last_id;
    // Wait until the watch holds the last burst trade, peeking with a cursor of its own (a
    // read consumes nothing).
    let mut peek = c0;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = read(peek, 1_000).await;
        peek = r["cursor"].as_u64().unwrap();
        let newest = r["items"].as_array().unwrap().last().map(trade_id);
        if newest.is_some_and(|n| n >= last_burst) {
            break;
        }
        assert!(Instant::now() < deadline, "the bursts never all arrived");
    }
    // The read after more than 1,000 unread.
    let first = read(c0, 0).await;
    let dropped = first["dropped"].as_u64().expect("dropped");
    let mut ids: Vec<u64> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(trade_id)
        .collect();
    assert_eq!(ids.len(), 500, "max_items");
    // Lost: exactly the trades between the last one read and the first one returned.
    assert!(
        dropped >= 600,
        "1,600+ unread, 1,000 kept: {dropped} dropped"
    );
    assert_eq!(dropped, ids[0] - id0 - 1, "dropped counts the trades lost");
    let mut cursor = first["cursor"].as_u64().unwrap();
    loop {
        let r = read(cursor, 0).await;
        assert_eq!(r["dropped"], 0, "nothing more lost while reading on");
        let items = r["items"].as_array().unwrap();
        if items.is_empty() {
            break;
        }
        ids.extend(items.iter().map(trade_id));
        cursor = r["cursor"].as_u64().unwrap();
    }
    // In order, none missing or twice, up to the newest: the 1,000 kept (from the first
    // returned on) reach the last burst trade, which was held by then.
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "in order");
    assert!(*ids.last().unwrap() >= last_burst, "up to the newest");
    assert!(
        ids.len() >= 1_000,
        "the 1,000 kept, then any newer: {}",
        ids.len()
    );
    assert!(
        ids[0] + 999 >= last_burst,
        "the newest were kept: {} to {last_burst}",
        ids[0]
    );
}

fn code_of(result: Result<Value, CliError>) -> String {
    match result {
        Err(CliError::Tool { code, .. }) => code,
        other => panic!("expected a tool error, got {other:?}"),
    }
}

#[tokio::test]
async fn another_sessions_watch_id_is_refused_and_the_owners_watch_goes_on() {
    let sim = simulator();
    let (_server, addr) = start_http_server(&sim, &[]).await;
    let url = format!("http://{addr}/mcp");
    let a = http::connect(&url, None).await.expect("session A");
    let b = http::connect(&url, None).await.expect("session B");
    let w = a
        .call(
            "watch_subscribe",
            json!({"channel": "ticker", "symbol": "BTC/USDT", "duration_s": 60}),
        )
        .await
        .expect("A's watch");
    let id = w["watch_id"].as_str().unwrap().to_owned();
    // B knows the id, but it is not B's.
    let theirs = b
        .call("watch_read", json!({"watch_id": id, "wait_ms": 100}))
        .await;
    assert_eq!(code_of(theirs), "invalid_argument");
    let theirs = b.call("watch_unsubscribe", json!({"watch_id": id})).await;
    assert_eq!(code_of(theirs), "invalid_argument");
    // A's watch is untouched: it reads, then A ends it.
    let mine = a
        .call("watch_read", json!({"watch_id": id, "wait_ms": 15_000}))
        .await
        .expect("A reads its watch");
    assert!(
        !mine["items"].as_array().unwrap().is_empty(),
        "tickers: {mine}"
    );
    let closed = a
        .call("watch_unsubscribe", json!({"watch_id": id}))
        .await
        .expect("A ends its watch");
    assert_eq!(closed["closed"], true);
    a.close().await;
    b.close().await;
}
