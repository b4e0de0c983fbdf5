//! Exchange failures become SPEC error codes, a stale value is served when the exchange
//! rate-limits us, and one slow or failing call never stops the server answering others.

mod common;

use std::time::{Duration, Instant};

use common::{error_code, error_message, ok, simulator, start_server};
use crypto_market_sim::Faults;
use serde_json::json;

fn only(endpoint: &str, faults: Faults) -> Faults {
    Faults {
        endpoints: Some(vec![endpoint.to_owned()]),
        ..faults
    }
}

#[tokio::test]
async fn server_errors_are_exchange_unavailable_and_other_calls_keep_working() {
    let sim = simulator();
    let server = start_server(&sim, &[]).await;
    sim.set_faults(only(
        "ticker/24hr",
        Faults {
            force_status: Some(503),
            ..Default::default()
        },
    ));
    let r = server
        .call("get_ticker", json!({"symbol": "BTC/USDT"}))
        .await;
    assert_eq!(
        error_code(&r),
        "exchange_unavailable",
        "{}",
        error_message(&r)
    );
    let book = server
        .call("get_order_book", json!({"symbol": "BTC/USDT", "limit": 5}))
        .await;
    assert_eq!(ok(&book)["bids"].as_array().unwrap().len(), 5);
    // Every request a 5xx (error_rate 1.0, the random path): exchange_unavailable.
    sim.set_faults(only(
        "ticker/24hr",
        Faults {
            error_rate: 1.0,
            ..Default::default()
        },
    ));
    let r = server
        .call("get_ticker", json!({"symbol": "SOL/USDT"}))
        .await;
    assert_eq!(error_code(&r), "exchange_unavailable");
    // Healthy again: served (failures are not cached).
    sim.set_faults(Faults::default());
    let r = server
        .call("get_ticker", json!({"symbol": "BTC/USDT"}))
        .await;
    assert_eq!(ok(&r)["source"], "exchange");
}

#[tokio::test]
async fn a_slow_exchange_times_out_while_other_calls_are_answered() {
    let sim = simulator();
    let server = start_server(&sim, &[("EXCHANGE_TIMEOUT", "3")]).await;
    // Warm the markets so the slow endpoint is the only slow thing.
    ok(&server
        .call("get_ticker", json!({"symbol": "BTC/USDT"}))
        .await);
    sim.set_faults(only(
        "klines",
        Faults {
            latency_ms: 60_000,
            ..Default::default()
        },
    ));
    let started = Instant::now();
    let mut slow = Box::pin(common::call(
        &server.client,
        "get_ohlcv",
        json!({"symbol": "BTC/USDT", "timeframe": "1m", "limit": 5}),
    ));
    let fast = server.call("get_order_book", json!({"symbol": "ETH/USDT", "limit": 5}));
    // The order book is answered while the candles are still pending: ordering, not a clock.
    let fast = tokio::select! {
        fast = fast => fast,
        slow = &mut slow => panic!("the slow call ended first: {slow:?}"),
    };
    assert_eq!(ok(&fast)["bids"].as_array().unwrap().len(), 5);
    let slow = slow.await;
    assert_eq!(error_code(&slow), "timeout", "{}", error_message(&slow));
    assert!(
        error_message(&slow).contains("did not answer within 3000 ms"),
        "{}",
        error_message(&slow)
    );
    // Our own deadline, not the exchange's 60 s: not before 3 s, and one 3 s wait, not two
    // (2 s of slack for a loaded machine), while the exchange still holds the one request.
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(2900), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?} for a 3 s deadline");
    let klines: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.endpoint == "klines")
        .collect();
    assert_eq!(
        klines.len(),
        1,
        "one exchange call, not retried: {klines:?}"
    );
    assert_eq!(
        klines[0].answered_us, None,
        "answered before the exchange did"
    );
}

#[tokio::test]
async fn rate_limited_exchange_serves_a_fresh_enough_value_stale() {
    let sim = simulator();
    let server = start_server(&sim, &[("CACHE_TTL", "1")]).await;
    let fresh = server
        .call("get_ticker", json!({"symbol": "BTC/USDT"}))
        .await;
    let fresh_last = ok(&fresh)["last"].clone();
    sim.set_faults(Faults {
        force_status: Some(429),
        retry_after_s: 30,
        ..Default::default()
    });
    tokio::time::sleep(Duration::from_millis(1200)).await;

    let stale = server
        .call("get_ticker", json!({"symbol": "BTC/USDT"}))
        .await;
    let stale = ok(&stale);
    assert_eq!(
        (stale["stale"].as_bool(), stale["source"].as_str()),
        (Some(true), Some("cache"))
    );
    assert_eq!(stale["last"], fresh_last);
    assert!(
        stale["age_ms"].as_i64().unwrap() >= 1000,
        "age reports the value's real age"
    );

    // Nothing stale to serve: rate_limited, saying when to come back (the 30 s Retry-After
    // of the exchange's 429, less the time since).
    let cold = server
        .call("get_ticker", json!({"symbol": "ETH/USDT"}))
        .await;
    assert_eq!(error_code(&cold), "rate_limited");
    let error = &cold.structured_content.as_ref().unwrap()["error"];
    assert_eq!(error["retryable"], true);
    let wait = error["retry_after_ms"].as_u64().expect("retry_after_ms");
    assert!(wait > 20_000 && wait <= 30_000, "{wait}");
    // While backing off, the server does not hammer the exchange (that earns a 418 ban).
    let calls = sim.total_calls();
    let status = |v: &serde_json::Value| v["exchanges"][0]["calls_1m"].clone();
    let seen = status(ok(&server.call("exchange_status", json!({})).await));
    for symbol in ["SOL/USDT", "BNB/USDT", "ETH/USDT"] {
        assert_eq!(
            error_code(&server.call("get_ticker", json!({"symbol": symbol})).await),
            "rate_limited"
        );
    }
    assert_eq!(sim.total_calls(), calls);
    // Refusals of our own are not exchange calls in exchange_status either.
    assert_eq!(
        status(ok(&server.call("exchange_status", json!({})).await)),
        seen
    );
}

#[tokio::test]
async fn a_run_of_failures_opens_the_circuit_so_calls_fail_fast() {
    let sim = simulator();
    let server = start_server(&sim, &[]).await;
    ok(&server.call("list_markets", json!({})).await);
    sim.set_faults(only(
        "ticker/24hr",
        Faults {
            force_status: Some(502),
            ..Default::default()
        },
    ));
    for _ in 0..5 {
        assert_eq!(
            error_code(
                &server
                    .call("get_ticker", json!({"symbol": "BTC/USDT"}))
                    .await
            ),
            "exchange_unavailable"
        );
    }
    assert_eq!(sim.calls("ticker/24hr"), 5);
    let open = server
        .call("get_ticker", json!({"symbol": "ETH/USDT"}))
        .await;
    assert_eq!(error_code(&open), "exchange_unavailable");
    assert!(
        error_message(&open).contains("circuit open"),
        "{}",
        error_message(&open)
    );
    assert_eq!(
        sim.calls("ticker/24hr"),
        5,
        "an open circuit does not call the exchange"
    );
    assert_eq!(
        open.structured_content.as_ref().unwrap()["error"]["retry_after_ms"]
            .as_u64()
            .map(|ms| ms > 0 && ms <= 5_000),
        Some(true),
        "an open circuit says when to retry"
    );

    // exchange_status says why: the circuit, the failures of the last minute, the last error.
    let status = server.call("exchange_status", json!({})).await;
    let venue = &ok(&status)["exchanges"][0];
    assert_eq!(venue["id"], "binance");
    assert_eq!(venue["circuit"], "open");
    assert_eq!(venue["calls_1m"], 6, "markets + 5 failed tickers: {venue}");
    assert_eq!(venue["errors_1m"], 5, "{venue}");
    assert_eq!(venue["last_error"]["code"], "exchange_unavailable");
    assert!(
        venue["last_error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("binance")),
        "{venue}"
    );
    assert_eq!(venue["markets"], 4);
    assert_eq!(venue["weight_limit"], 6000);
    assert_eq!(venue["weight_used"], 20 + 5 * 2, "{venue}");
    assert!(venue["latency_ms"]["p99"].as_f64().is_some());
    let unknown = server
        .call("exchange_status", json!({"exchange": "nope"}))
        .await;
    assert_eq!(error_code(&unknown), "invalid_argument");
}

#[tokio::test]
async fn a_symbol_delisted_since_markets_loaded_does_not_fail_the_rest_of_its_batch() {
    let sim = simulator();
    let server = start_server(&sim, &[]).await;
    ok(&server.call("list_markets", json!({})).await);
    sim.set_faults(Faults {
        delisted: vec!["SOLUSDT".into()],
        ..Default::default()
    });
    let r = server
        .call(
            "get_tickers",
            json!({"symbols": ["BTC/USDT", "ETH/USDT", "SOL/USDT"]}),
        )
        .await;
    let r = ok(&r);
    let served: Vec<&str> = r["tickers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["symbol"].as_str().unwrap())
        .collect();
    assert_eq!(served, ["BTC/USDT", "ETH/USDT"]);
    assert_eq!(r["errors"][0]["symbol"], "SOL/USDT");
    assert_eq!(r["errors"][0]["error"]["code"], "invalid_symbol");
    assert_eq!(
        r["errors"][0]["error"]["message"],
        "SOL/USDT is not listed on binance"
    );
    // The batch failed as a whole (-1121), then each symbol was asked on its own.
    assert_eq!(sim.calls("ticker/24hr"), 4);
}
