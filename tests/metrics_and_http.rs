//! Prometheus metrics on METRICS_ADDR, and MCP over streamable HTTP behind a bearer token.

mod common;

use common::{error_code, http_get, logged_addr, ok, simulator, start_http_server, start_server};
use crypto_market_sim::Faults;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::ServiceExt;
use serde_json::json;

/// The value of the sample `name{labels}` in Prometheus text, if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        line.strip_prefix(series)
            .and_then(|rest| rest.trim().parse().ok())
    })
}

#[tokio::test]
async fn metrics_count_requests_exchange_calls_cache_and_errors() {
    let sim = simulator();
    let server = start_server(&sim, &[("METRICS_ADDR", "127.0.0.1:0")]).await;
    let addr = logged_addr(&server.stderr, "serving /metrics").await;
    // The one ticker call takes at least 150 ms at the exchange: its recorded duration says
    // which unit it is in.
    sim.set_faults(Faults {
        latency_ms: 150,
        endpoints: Some(vec!["ticker/24hr".into()]),
        ..Default::default()
    });
    let started = std::time::Instant::now();
    ok(&server
        .call("get_ticker", json!({"symbol": "BTC/USDT"}))
        .await);
    let first_call = started.elapsed().as_secs_f64();
    ok(&server
        .call("get_ticker", json!({"symbol": "BTC/USDT"}))
        .await);
    assert_eq!(
        error_code(
            &server
                .call("get_ticker", json!({"symbol": "FOO/BAR"}))
                .await
        ),
        "invalid_symbol"
    );

    let (status, text) = http_get(&addr, "/metrics").await.unwrap();
    assert_eq!(status, 200);
    let expect = |series: &str, value: f64| {
        assert_eq!(sample(&text, series), Some(value), "{series} in\n{text}")
    };
    expect(r#"cmm_requests_total{tool="get_ticker",outcome="ok"}"#, 2.0);
    expect(
        r#"cmm_requests_total{tool="get_ticker",outcome="invalid_symbol"}"#,
        1.0,
    );
    expect(r#"cmm_errors_total{code="invalid_symbol"}"#, 1.0);
    expect(
        r#"cmm_exchange_calls_total{exchange="binance",endpoint="ticker",outcome="ok"}"#,
        1.0,
    );
    expect(
        r#"cmm_exchange_calls_total{exchange="binance",endpoint="markets",outcome="ok"}"#,
        1.0,
    );
    expect(r#"cmm_cache_hits_total{layer="memory"}"#, 1.0);
    expect(r#"cmm_cache_misses_total{layer="memory"}"#, 1.0);
    expect("cmm_symbol_actors", 1.0);
    expect(
        r#"cmm_request_duration_seconds_count{tool="get_ticker"}"#,
        3.0,
    );
    // One ticker call timed: counted once, in every bucket from the one that holds it up.
    expect(
        r#"cmm_exchange_call_duration_seconds_count{exchange="binance",endpoint="ticker"}"#,
        1.0,
    );
    expect(
        r#"cmm_exchange_call_duration_seconds_bucket{exchange="binance",endpoint="ticker",le="+Inf"}"#,
        1.0,
    );
    let took = sample(
        &text,
        r#"cmm_exchange_call_duration_seconds_sum{exchange="binance",endpoint="ticker"}"#,
    )
    .expect("a duration sum");
    // Seconds: at least the exchange's 150 ms, at most the whole tool call around it
    // (milliseconds or microseconds recorded as seconds would be 1,000× more).
    assert!(
        (0.15..=first_call).contains(&took),
        "{took} s recorded for an exchange call inside a {first_call} s tool call"
    );

    let (status, body) = http_get(&addr, "/healthz").await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["status"],
        "ok"
    );
}

#[tokio::test]
async fn mcp_over_streamable_http_requires_the_bearer_token() {
    let sim = simulator();
    let (mut child, addr) = start_http_server(&sim, &[("MCP_AUTH_TOKEN", "s3cret")]).await;
    let url = format!("http://{addr}/mcp");

    let denied = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url.as_str()).auth_header("wrong"),
    );
    assert!(
        ().serve(denied).await.is_err(),
        "a wrong token cannot even initialize"
    );

    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url.as_str()).auth_header("s3cret"),
    );
    let client = ().serve(transport).await.expect("initialize over HTTP");
    let tools = client.list_all_tools().await.unwrap();
    assert_eq!(tools.len(), crypto_market_mcp::tools::TOOLS.len());
    let result = common::call(&client, "get_ticker", json!({"symbol": "eth-usdt"})).await;
    let served = sim.last_response("ticker/24hr", Some("ETHUSDT")).unwrap();
    assert_eq!(
        ok(&result)["last"].as_f64().unwrap(),
        common::num(&served["lastPrice"])
    );
    let bad = common::call(
        &client,
        "get_order_book",
        json!({"symbol": "ETH/USDT", "limit": 0}),
    )
    .await;
    assert_eq!(error_code(&bad), "invalid_argument");
    drop(client);
    // SIGTERM: a graceful stop, exit status 0.
    let pid = child.id().expect("running");
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let status = tokio::time::timeout(std::time::Duration::from_secs(10), child.wait())
        .await
        .expect("exits")
        .unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn a_public_http_address_without_a_token_is_refused() {
    let out = tokio::process::Command::new(common::MCP_BINARY)
        .args(["--http", "0.0.0.0:0"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("MCP_AUTH_TOKEN"));
}

#[tokio::test]
async fn a_loopback_http_address_needs_no_token() {
    let sim = simulator();
    let (_child, addr) = start_http_server(&sim, &[]).await;
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(format!("http://{addr}/mcp").as_str()),
    );
    let client = ().serve(transport).await.expect("initialize over HTTP");
    let result = common::call(&client, "get_ticker", json!({"symbol": "BTC/USDT"})).await;
    assert_eq!(ok(&result)["symbol"], "BTC/USDT");
}
