//! Issue 20, the HTTP front (SPEC.md section 9), through the real `crypto-market-mcp`: client
//! keys on resources, session and subscription caps, concurrent streams, the header timeout,
//! a prompt stop with streams open, the `Origin` check, the bearer scheme in any case, and
//! client rates the keys file must refuse.

mod common;

use std::time::{Duration, Instant};

use common::http_front::{self, initialize, keys_file, open_session, tempdir};
use common::{error_code, ok, simulator, start_http_server};
use rmcp::model::{ReadResourceRequestParams, SubscribeRequestParams};
use rmcp::service::ServiceError;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::ServiceExt;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn mcp_error<T: std::fmt::Debug>(result: Result<T, ServiceError>) -> rmcp::ErrorData {
    match result {
        Err(ServiceError::McpError(error)) => error,
        other => panic!("expected a JSON-RPC error, got {other:?}"),
    }
}

/// Resources read tickers: a key that may not call get_ticker reads none, and reads count
/// against the key's rate like calls do.
#[tokio::test]
#[allow(
    deprecated,
    reason = "resources/subscribe: what `initialize` sessions speak"
)]
async fn resources_are_admitted_like_get_ticker_calls() {
    let sim = simulator();
    let dir = tempdir("res-keys");
    let file = keys_file(
        &dir,
        &[
            (
                "status-only",
                "status-key",
                100.0,
                100,
                Some(&["exchange_status"]),
            ),
            ("slow", "slow-key", 0.01, 2, Some(&["get_ticker"])),
        ],
    );
    let (_child, addr) =
        start_http_server(&sim, &[("API_KEYS_FILE", file.to_str().unwrap())]).await;
    let url = format!("http://{addr}/mcp");
    let connect = |key: &str| {
        StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(url.as_str()).auth_header(key.to_owned()),
        )
    };
    let uri = "ticker://binance/BTCUSDT";

    let status_only = ().serve(connect("status-key")).await.expect("initialize");
    let read = mcp_error(
        status_only
            .read_resource(ReadResourceRequestParams::new(uri))
            .await,
    );
    assert_eq!(
        read.data.as_ref().unwrap()["error"]["code"],
        "unauthorized",
        "{read:?}"
    );
    let subscribed = mcp_error(
        status_only
            .subscribe(SubscribeRequestParams::new(uri))
            .await,
    );
    assert_eq!(subscribed.data.unwrap()["error"]["code"], "unauthorized");
    assert!(
        sim.last_response("ticker/24hr", Some("BTCUSDT")).is_none(),
        "nothing read"
    );

    // slow: a burst of 2, shared by reads, subscriptions and calls.
    let slow = ().serve(connect("slow-key")).await.expect("initialize");
    slow.read_resource(ReadResourceRequestParams::new(uri))
        .await
        .expect("the first read");
    slow.subscribe(SubscribeRequestParams::new("ticker://binance/ETHUSDT"))
        .await
        .expect("a subscription, the second admission");
    let limited = mcp_error(
        slow.read_resource(ReadResourceRequestParams::new(uri))
            .await,
    );
    let data = limited.data.unwrap();
    assert_eq!(data["error"]["code"], "rate_limited", "{data}");
    assert!(data["error"]["retry_after_ms"]
        .as_u64()
        .is_some_and(|ms| ms > 0));
    let call = common::call(&slow, "get_ticker", json!({"symbol": "BTC/USDT"})).await;
    assert_eq!(error_code(&call), "rate_limited");
}

/// MCP_MAX_SESSIONS_PER_CLIENT per key, MCP_MAX_SESSIONS in all (429 with Retry-After past
/// either), and a session idle for MCP_SESSION_IDLE_S is closed, which frees its place.
#[tokio::test]
async fn sessions_are_capped_per_client_and_in_all_and_idle_ones_close() {
    let sim = simulator();
    let dir = tempdir("sessions");
    let file = keys_file(
        &dir,
        &[
            ("alpha", "alpha-key", 100.0, 100, None),
            ("beta", "beta-key", 100.0, 100, None),
        ],
    );
    let (_child, addr) = start_http_server(
        &sim,
        &[
            ("API_KEYS_FILE", file.to_str().unwrap()),
            ("MCP_MAX_SESSIONS_PER_CLIENT", "3"),
            ("MCP_MAX_SESSIONS", "4"),
            ("MCP_SESSION_IDLE_S", "3"),
        ],
    )
    .await;
    let alpha = [("Authorization", "Bearer alpha-key")];
    let beta = [("Authorization", "Bearer beta-key")];
    let mut alphas = Vec::new();
    for _ in 0..3 {
        alphas.push(open_session(&addr, &alpha).await);
    }
    let refused = initialize(&addr, &alpha).await;
    assert_eq!(refused.status(), 429, "alpha's fourth session");
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "Retry-After: {wait}");
    open_session(&addr, &beta).await;
    assert_eq!(
        initialize(&addr, &beta).await.status(),
        429,
        "a fifth session in all"
    );

    // Idle sessions close (3 s without traffic): their places come back.
    let started = Instant::now();
    loop {
        let response = initialize(&addr, &alpha).await;
        if response.status() == 200 {
            break;
        }
        assert_eq!(response.status(), 429);
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "idle sessions were never closed"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let ping = json!({"jsonrpc": "2.0", "id": 7, "method": "ping"});
    let gone = http_front::post(&addr, Some(&alphas[0]), &alpha, &ping).await;
    assert_eq!(gone.status(), 404, "an idle session is closed");
}

/// Resource subscriptions count by market, however spelled; past MCP_MAX_SUBSCRIPTIONS
/// markets a subscription is a JSON-RPC error.
#[tokio::test]
#[allow(
    deprecated,
    reason = "resources/subscribe: what `initialize` sessions speak"
)]
async fn subscriptions_count_by_market_and_are_capped() {
    let sim = simulator();
    let server = common::start_server(&sim, &[("MCP_MAX_SUBSCRIPTIONS", "2")]).await;
    for uri in [
        "ticker://binance/BTCUSDT",
        "ticker://binance/btc-usdt",
        "ticker://binance/BTC_USDT",
        "ticker://binance/ETHUSDT",
    ] {
        server
            .client
            .subscribe(SubscribeRequestParams::new(uri))
            .await
            .unwrap_or_else(|e| panic!("{uri}: {e:?}"));
    }
    let third = mcp_error(
        server
            .client
            .subscribe(SubscribeRequestParams::new("ticker://binance/BNBUSDT"))
            .await,
    );
    assert_eq!(third.data.unwrap()["error"]["code"], "rate_limited");
    assert!(
        third.message.contains("MCP_MAX_SUBSCRIPTIONS"),
        "{}",
        third.message
    );
    // Unsubscribing every spelling of a market frees its place.
    for uri in [
        "ticker://binance/BTCUSDT",
        "ticker://binance/btc-usdt",
        "ticker://binance/BTC_USDT",
    ] {
        server
            .client
            .unsubscribe(rmcp::model::UnsubscribeRequestParams::new(uri))
            .await
            .expect("unsubscribed");
    }
    server
        .client
        .subscribe(SubscribeRequestParams::new("ticker://binance/BNBUSDT"))
        .await
        .expect("a place again");
}

/// At most 20 stream_ticker calls run at once in a session; the 21st is rate_limited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_runs_at_most_twenty_streams_at_once() {
    let sim = simulator();
    let recorder = common::Recorder::default();
    let server = std::sync::Arc::new(common::start_server_with(&sim, &[], recorder.clone()).await);
    let mut streams = Vec::new();
    for _ in 0..20 {
        let server = server.clone();
        streams.push(tokio::spawn(async move {
            server
                .call(
                    "stream_ticker",
                    json!({"symbol": "BTC/USDT", "duration_s": 8}),
                )
                .await
        }));
    }
    // Each stream sends the ticker it starts with at once: 20 tokens seen, 20 running.
    let started = Instant::now();
    loop {
        let tokens: std::collections::HashSet<String> = recorder
            .progress()
            .iter()
            .map(|p| format!("{:?}", p.progress_token))
            .collect();
        if tokens.len() >= 20 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "20 streams started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refused = server
        .call(
            "stream_ticker",
            json!({"symbol": "ETH/USDT", "duration_s": 1}),
        )
        .await;
    assert_eq!(error_code(&refused), "rate_limited");
    for stream in streams {
        ok(&stream.await.unwrap());
    }
    let again = server
        .call(
            "stream_ticker",
            json!({"symbol": "ETH/USDT", "max_updates": 1}),
        )
        .await;
    ok(&again);
}

/// Connections that send half their headers are closed within ~10 s.
#[tokio::test]
async fn half_sent_headers_are_cut_off_after_ten_seconds() {
    let sim = simulator();
    let (_child, addr) = start_http_server(&sim, &[]).await;
    let started = Instant::now();
    let mut held = Vec::new();
    for _ in 0..20 {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        stream
            .write_all(format!("POST /mcp HTTP/1.1\r\nHost: {addr}\r\nX-Slow: ").as_bytes())
            .await
            .unwrap();
        held.push(stream);
    }
    for mut stream in held {
        let mut buf = [0u8; 512];
        // EOF (the server closed) or a reset; either ends the read.
        let closed = tokio::time::timeout(Duration::from_secs(14), async {
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(
            closed.is_ok(),
            "a half-sent request still open after {:?}",
            started.elapsed()
        );
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(8),
        "closed after the timeout, not at once: {elapsed:?}"
    );
    // The server serves on.
    assert_eq!(initialize(&addr, &[]).await.status(), 200);
}

/// SIGTERM with a session's SSE stream open: the stream ends and the process exits 0 within
/// 5 s.
#[tokio::test]
async fn sigterm_closes_open_streams_and_exits_within_five_seconds() {
    let sim = simulator();
    let (mut child, addr) = start_http_server(&sim, &[]).await;
    let session = open_session(&addr, &[]).await;
    let mut stream = http_front::open_stream(&addr, &session).await;
    let signalled = Instant::now();
    http_front::signal(&child, libc::SIGTERM);
    let status = tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .unwrap_or_else(|_| panic!("still running 5 s after SIGTERM"))
        .unwrap();
    assert!(status.success(), "{status:?}");
    // The stream was ended, not left hanging.
    let end = tokio::time::timeout(Duration::from_secs(1), async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await;
    assert!(end.is_ok(), "the SSE stream is closed");
    eprintln!("exited {:?} after SIGTERM", signalled.elapsed());
}

/// An `Origin` must be the server's own address or listed in MCP_ALLOWED_ORIGINS.
#[tokio::test]
async fn foreign_origins_are_refused() {
    let sim = simulator();
    let (_child, addr) =
        start_http_server(&sim, &[("MCP_ALLOWED_ORIGINS", "https://app.example.com")]).await;
    let port = addr.rsplit_once(':').unwrap().1;
    let status = |origin: String| {
        let addr = addr.clone();
        async move {
            initialize(&addr, &[("Origin", origin.as_str())])
                .await
                .status()
        }
    };
    assert_eq!(status("http://evil.example".into()).await, 403);
    assert_eq!(status(format!("http://evil.example:{port}")).await, 403);
    assert_eq!(
        status("https://app.example.com.evil.example".into()).await,
        403
    );
    assert_eq!(status("null".into()).await, 403);
    assert_eq!(status(format!("http://127.0.0.1:{port}")).await, 200);
    assert_eq!(status(format!("http://localhost:{port}")).await, 200);
    assert_eq!(status("https://app.example.com".into()).await, 200);
    assert_eq!(initialize(&addr, &[]).await.status(), 200, "no Origin");
}

/// `Authorization: bearer …` in any case.
#[tokio::test]
async fn the_bearer_scheme_is_matched_in_any_case() {
    let sim = simulator();
    let (_child, addr) = start_http_server(&sim, &[("MCP_AUTH_TOKEN", "s3cret")]).await;
    for header in ["Bearer s3cret", "bearer s3cret", "BEARER s3cret"] {
        let response = initialize(&addr, &[("Authorization", header)]).await;
        assert_eq!(response.status(), 200, "{header}");
    }
    for header in ["Bearer wrong", "Basic s3cret", "s3cret"] {
        let response = initialize(&addr, &[("Authorization", header)]).await;
        assert_eq!(response.status(), 401, "{header}");
    }
}

/// A rate below 0.001/s (1e-30 used to panic the limiter) is a settings error: exit 2.
#[tokio::test]
async fn a_rate_below_a_thousandth_is_a_settings_error() {
    for rate in [1e-30, 0.0009] {
        let dir = tempdir("tiny-rate");
        let file = keys_file(&dir, &[("tiny", "tiny-key", rate, 1, None)]);
        let mut command = tokio::process::Command::new(common::MCP_BINARY);
        command
            .args(["--http", "127.0.0.1:0"])
            .env("API_KEYS_FILE", &file)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        // A server that accepted the file serves on: that is the failure.
        let output = tokio::time::timeout(Duration::from_secs(20), command.output())
            .await
            .unwrap_or_else(|_| panic!("rate {rate}: the server started with it"))
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "rate {rate}: {stderr}");
        assert!(
            stderr.contains("API_KEYS_FILE") && stderr.contains("rate_per_s"),
            "{stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}
