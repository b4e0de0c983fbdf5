//! Issue 10: natural ticker batching, seen in the simulator's request log. A lone miss leaves
//! at once; misses that arrive while calls are in flight leave together as the next
//! `ticker/24hr?symbols=[..]` call (when a call ends, or after a few milliseconds).

mod common;

use std::time::Duration;

use common::{
    assert_batched, call, generated, ok, simulator, simulator_with, start_server, ticker_requests,
};
use serde_json::json;

#[tokio::test]
async fn a_lone_miss_leaves_at_once_and_later_ones_share_the_next_call() {
    let sim = simulator();
    let server = start_server(&sim, &[]).await;
    ok(&server.call("list_markets", json!({})).await);
    // Hold every ticker call long enough that the next misses arrive while it is in flight.
    common::slow_tickers(&sim, 1500);
    let mut lone = Box::pin(server.call("get_ticker", json!({"symbol": "BTC/USDT"})));
    // The lone miss reaches the exchange with nothing else to trigger it (no window, no
    // company): it is in the log on its own.
    for _ in 0..400 {
        tokio::select! {
            early = &mut lone => panic!("answered before the exchange was asked: {early:?}"),
            () = tokio::time::sleep(Duration::from_millis(25)) => {}
        }
        if !ticker_requests(&sim).is_empty() {
            break;
        }
    }
    let first = ticker_requests(&sim);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].symbols, vec!["BTCUSDT".to_owned()]);
    assert_eq!(first[0].answered_us, None, "still in flight");
    // Three more, asked together while that call is in flight: they share one call, which
    // leaves after a few milliseconds of company, not after the call in flight's round trip.
    let later = server.call(
        "get_tickers",
        json!({"symbols": ["ETH/USDT", "SOL/USDT", "BNB/USDT"]}),
    );
    let (later, lone) = futures::join!(later, lone);
    let later = ok(&later);
    assert_eq!(later["tickers"].as_array().unwrap().len(), 3);
    assert!(later["tickers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["source"] == "exchange"));
    ok(&lone);
    let log = ticker_requests(&sim);
    assert_eq!(log.len(), 2, "{log:?}");
    let mut together = log[1].symbols.clone();
    together.sort();
    assert_eq!(together, ["BNBUSDT", "ETHUSDT", "SOLUSDT"]);
    assert!(
        log[1].received_us < log[0].answered_us.unwrap(),
        "the queue did not wait for the call in flight to end"
    );
}

#[tokio::test]
async fn a_burst_of_150_distinct_cold_misses_makes_at_most_15_exchange_requests() {
    let sim = simulator_with(200);
    let server = start_server(&sim, &[("ENABLE_RATE_LIMIT", "false")]).await;
    ok(&server.call("list_markets", json!({})).await);
    common::slow_tickers(&sim, 50);
    let calls = (1..=150).map(|i| {
        call(
            &server.client,
            "get_ticker",
            json!({"symbol": generated(i)}),
        )
    });
    let answers = futures::future::join_all(calls).await;
    for (i, answer) in answers.iter().enumerate() {
        assert_eq!(ok(answer)["symbol"], generated(i + 1));
    }
    assert_batched(&ticker_requests(&sim), 150, 15);
}

#[tokio::test]
async fn get_tickers_of_40_cold_symbols_makes_at_most_2_requests() {
    let sim = simulator_with(50);
    let server = start_server(&sim, &[]).await;
    let symbols: Vec<String> = (1..=40).map(generated).collect();
    let r = server
        .call("get_tickers", json!({"symbols": symbols}))
        .await;
    let r = ok(&r);
    assert_eq!(r["tickers"].as_array().unwrap().len(), 40);
    assert_eq!(r["errors"].as_array().unwrap().len(), 0);
    let log = ticker_requests(&sim);
    assert!(log.len() <= 2, "{log:?}");
    assert_eq!(log.iter().map(|r| r.symbols.len()).sum::<usize>(), 40);
}
