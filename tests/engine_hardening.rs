//! Issue 9: ways the engine misbehaved against a real exchange, each shown fixed through the
//! real binary, the simulator and MCP.

mod common;

use std::time::Duration;

use common::{error_code, error_message, ok, simulator, start_server};
use crypto_market_sim::Faults;
use rmcp::model::{CallToolRequestParams, ClientRequest, Request};
use rmcp::service::PeerRequestOptions;
use serde_json::json;

/// Defect 2: a symbol delisted since the markets loaded is asked for once, then remembered;
/// the markets are reloaded early, after which it is simply not listed (with suggestions).
#[tokio::test]
async fn a_delisted_symbol_costs_one_exchange_call_and_reloads_the_markets() {
    let sim = simulator();
    // A 1 s TTL: without the negative cache, every call after it would ask the exchange.
    let server = start_server(&sim, &[("CACHE_TTL", "1")]).await;
    ok(&server
        .call("get_ticker", json!({"symbol": "BTC/USDT"}))
        .await);
    assert_eq!(sim.calls("exchangeInfo"), 1);
    sim.delist_market("SOLUSDT").unwrap();
    let first = server
        .call("get_ticker", json!({"symbol": "SOL/USDT"}))
        .await;
    assert_eq!(
        error_code(&first),
        "invalid_symbol",
        "{}",
        error_message(&first)
    );
    let asked = sim.calls("ticker/24hr");
    // The rejection makes the server reload the market list now, not in an hour.
    for _ in 0..200 {
        if sim.calls("exchangeInfo") >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sim.calls("exchangeInfo"), 2);
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let again = server
            .call("get_ticker", json!({"symbol": "sol-usdt"}))
            .await;
        assert_eq!(error_code(&again), "invalid_symbol");
        let message = error_message(&again).to_ascii_uppercase();
        assert!(
            message.contains("SOL") && message.contains("NOT LISTED"),
            "{message}"
        );
    }
    assert_eq!(
        sim.calls("ticker/24hr"),
        asked,
        "no exchange call for it again"
    );
}

/// Defect 3: the exchange's Retry-After reaches the client as retry_after_ms; a 418 ban's end
/// too. The server stays away meanwhile.
#[tokio::test]
async fn retry_after_and_ban_ends_reach_the_client() {
    let sim = simulator();
    let server = start_server(&sim, &[]).await;
    ok(&server.call("list_markets", json!({})).await);
    sim.set_faults(Faults {
        force_status: Some(418),
        retry_after_s: 90,
        endpoints: Some(vec!["depth".into()]),
        ..Default::default()
    });
    let banned = server
        .call("get_order_book", json!({"symbol": "BTC/USDT"}))
        .await;
    assert_eq!(error_code(&banned), "rate_limited");
    let error = &banned.structured_content.as_ref().unwrap()["error"];
    assert_eq!(error["retryable"], true);
    let wait = error["retry_after_ms"].as_u64().expect("retry_after_ms");
    assert!(wait > 80_000 && wait <= 90_000, "{wait}");
    // Every call now waits out the ban here, without reaching the exchange.
    sim.set_faults(Faults::default());
    let calls = sim.total_calls();
    let again = server
        .call("get_ticker", json!({"symbol": "ETH/USDT"}))
        .await;
    assert_eq!(error_code(&again), "rate_limited");
    let left = again.structured_content.as_ref().unwrap()["error"]["retry_after_ms"]
        .as_u64()
        .expect("retry_after_ms");
    assert!(left <= wait && left > 70_000, "{left}");
    assert_eq!(sim.total_calls(), calls);
}

/// Defect 5: a REST URL nothing answers on says so, naming the address.
#[tokio::test]
async fn an_unreachable_exchange_is_named_in_the_error() {
    let sim = simulator();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let server = start_server(&sim, &[("EXCHANGE_REST_URL", url.as_str())]).await;
    let r = server
        .call("get_ticker", json!({"symbol": "BTC/USDT"}))
        .await;
    assert_eq!(error_code(&r), "exchange_unavailable");
    let message = error_message(&r);
    assert!(
        message.contains(&format!("connection refused by 127.0.0.1:{port}")),
        "{message}"
    );
    assert!(!message.contains("rejected"), "{message}");
}

/// Defect 8: spellings of one market are one ticker in get_tickers.
#[tokio::test]
async fn get_tickers_answers_each_market_once_whatever_its_spelling() {
    let sim = simulator();
    let server = start_server(&sim, &[]).await;
    let r = server
        .call(
            "get_tickers",
            json!({"symbols": ["BTCUSDT", "BTC/USDT", "btc-usdt", "ETH/USDT", "eth_usdt"]}),
        )
        .await;
    let r = ok(&r);
    let symbols: Vec<&str> = r["tickers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["symbol"].as_str().unwrap())
        .collect();
    assert_eq!(symbols, ["BTC/USDT", "ETH/USDT"]);
    assert_eq!(r["errors"].as_array().unwrap().len(), 0);
    assert_eq!(sim.calls("ticker/24hr"), 1);
}

/// Defect 9: the tool list and the tools served are one table: every listed tool is
/// dispatched (a call with no arguments is an argument error, not an unknown tool), and
/// nothing unlisted is.
#[tokio::test]
async fn every_listed_tool_is_served_and_nothing_else() {
    let sim = simulator();
    let server = start_server(&sim, &[]).await;
    let listed = server.client.list_all_tools().await.unwrap();
    let names: Vec<String> = listed.iter().map(|t| t.name.to_string()).collect();
    let table: Vec<&str> = crypto_market_mcp::tools::TOOLS
        .iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, table);
    for name in &names {
        let r = server.call(name, json!({"no_such_argument": 1})).await;
        assert_eq!(error_code(&r), "invalid_argument", "{name}");
    }
    assert_eq!(
        error_code(&server.call("get_tickerz", json!({})).await),
        "unknown_tool"
    );
}

/// A client that cancels a call (notifications/cancelled) frees the server from it: the call
/// ends as cancelled at once, not when the exchange answers.
#[tokio::test]
async fn a_cancelled_call_stops_waiting_for_the_exchange() {
    let sim = simulator();
    let server = start_server(&sim, &[("METRICS_ADDR", "127.0.0.1:0")]).await;
    let addr = common::logged_addr(&server.stderr, "serving /metrics").await;
    ok(&server.call("list_markets", json!({})).await);
    sim.set_faults(Faults {
        latency_ms: 60_000,
        endpoints: Some(vec!["klines".into()]),
        ..Default::default()
    });
    let mut params = CallToolRequestParams::new("get_ohlcv".to_owned());
    if let serde_json::Value::Object(args) = json!({"symbol": "BTC/USDT", "limit": 5}) {
        params = params.with_arguments(args);
    }
    let request = ClientRequest::CallToolRequest(Request::new(params));
    let handle = server
        .client
        .send_cancellable_request(request, PeerRequestOptions::no_options())
        .await
        .unwrap();
    // Wait until the exchange call is under way, then cancel: a cancel before it would prove
    // nothing about waiting for the exchange.
    let mut under_way = false;
    for _ in 0..200 {
        if sim.requests().iter().any(|r| r.endpoint == "klines") {
            under_way = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        under_way,
        "the exchange was never called: {:?}",
        sim.requests()
    );
    handle.cancel(Some("changed my mind".into())).await.unwrap();
    let series = r#"cmm_requests_total{tool="get_ohlcv",outcome="cancelled"} 1"#;
    for _ in 0..200 {
        let (_, text) = common::http_get(&addr, "/metrics").await.unwrap();
        if text.contains(series) {
            // The server answers other calls meanwhile.
            ok(&server
                .call("get_ticker", json!({"symbol": "BTC/USDT"}))
                .await);
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the cancelled call was not ended");
}
