//! Issue 20, defect 12: ticker batching holds against an exchange that answers in a few
//! milliseconds, as real ones do. A burst of distinct cold misses arrives over some
//! milliseconds while calls end every few: a queue that left whenever a call ended (or 3 ms
//! after its oldest miss) went out a few symbols at a time. Now a partial batch leaves when
//! the burst pauses, when it is full, or after a bounded wait; a lone miss still leaves at once.
//!
//! This end-to-end check holds the requirement; it does not pin the old mechanism down on a
//! loaded machine (a debug server hands the burst to the batcher in clumps, which batch well
//! either way: 9 to 10 requests with the old batcher here). The unit test
//! `a_burst_arriving_over_milliseconds_against_a_5_ms_exchange_takes_at_most_15_calls`
//! (actors, virtual time) does: 27 calls before the change.

mod common;

use std::time::{Duration, Instant};

use common::{assert_batched, call, generated, ok, simulator_with, start_server, ticker_requests};
use serde_json::json;

#[tokio::test]
async fn a_burst_of_150_cold_misses_against_a_5_ms_exchange_makes_at_most_15_requests() {
    let sim = simulator_with(200);
    let server = start_server(&sim, &[("ENABLE_RATE_LIMIT", "false")]).await;
    ok(&server.call("list_markets", json!({})).await);
    common::slow_tickers(&sim, 5);
    sim.reset_requests();
    // All 150 in flight together, arriving over 50 ms as a network spreads them (sent at
    // once, a debug build's server reads them in clumps that hide the problem).
    let calls = (1..=150).map(|i| {
        let client = &server.client;
        async move {
            tokio::time::sleep(Duration::from_millis(i as u64 / 3)).await;
            call(client, "get_ticker", json!({"symbol": generated(i)})).await
        }
    });
    let answers = futures::future::join_all(calls).await;
    for (i, answer) in answers.iter().enumerate() {
        assert_eq!(ok(answer)["symbol"], generated(i + 1));
    }
    let log = ticker_requests(&sim);
    let since_first = |us: u64| us.saturating_sub(log[0].received_us);
    let shape: Vec<(usize, u64, u64)> = log
        .iter()
        .map(|r| {
            let answered = r.answered_us.map_or(0, since_first);
            (r.symbols.len(), since_first(r.received_us), answered)
        })
        .collect();
    eprintln!(
        "{} requests (symbols, sent and answered µs after the first): {shape:?}",
        log.len()
    );
    assert_batched(&log, 150, 15);

    // Idle again: a lone miss does not wait for company that is not coming.
    tokio::time::sleep(Duration::from_millis(200)).await;
    sim.reset_requests();
    let started = Instant::now();
    ok(&server
        .call("get_ticker", json!({"symbol": generated(151)}))
        .await);
    let took = started.elapsed();
    let lone = ticker_requests(&sim);
    assert_eq!(lone.len(), 1);
    assert_eq!(lone[0].symbols, ["SIM0151USDT"]);
    eprintln!("a lone miss took {took:?}");
}
