//! Live tickers over MCP (SPEC.md section 5), through the real binary and the simulator: the
//! `stream_ticker` tool with progress notifications, and subscribable `ticker://` resources
//! (legacy `resources/subscribe` and 2026-07-28 `subscriptions/listen`), over stdio and over
//! streamable HTTP. A watched symbol streams from the simulator's websocket (a ticker every
//! second, the price walk moving), REST covering any gap.
//!
//! A released watch shows at the exchange: its stream is unsubscribed and the connection
//! closes.

mod common;

use std::time::{Duration, Instant};

use common::{error_code, error_message, ok, simulator, start_server_with, Recorder};
use crypto_market_sim::SimHandle;
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, ClientRequest, ReadResourceRequestParams,
    ResourceContents, ServerNotification, SubscribeRequestParams, SubscriptionFilter,
    UnsubscribeRequestParams,
};
use rmcp::service::{PeerRequestOptions, ServiceError};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::ServiceExt;
use serde_json::{json, Value};

const FAST: &[(&str, &str)] = &[("CACHE_TTL", "1")];
const FAST_WITH_METRICS: &[(&str, &str)] = &[("CACHE_TTL", "1"), ("METRICS_ADDR", "127.0.0.1:0")];
const BTC: &str = "ticker://binance/BTCUSDT";
const ETH: &str = "ticker://binance/ETHUSDT";

/// Every ticker a stream or a read hands out is one the simulator served: its price is the
/// walk's price at the ticker's exchange time.
fn assert_served_by_sim(sim: &SimHandle, ticker: &Value, id: &str) {
    let at = ticker["timestamp"].as_u64().expect("timestamp");
    assert_eq!(
        ticker["last"].as_f64(),
        sim.price_at(id, at),
        "{id} at {at}: {ticker}"
    );
    assert_eq!(ticker["price"], ticker["last"]);
    assert!(
        ticker["source"].is_string() && ticker["age_ms"].is_i64(),
        "{ticker}"
    );
}

/// The ticker of each progress notification so far, checking the counts go 1, 2, 3, ...
fn progress_tickers(recorder: &Recorder) -> Vec<Value> {
    recorder
        .progress()
        .iter()
        .enumerate()
        .map(|(i, p)| {
            assert_eq!(p.progress, (i + 1) as f64, "progress counts updates");
            serde_json::from_str(p.message.as_deref().expect("a message"))
                .expect("the message is the ticker JSON")
        })
        .collect()
}

async fn eventually(within: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The symbol is watched now: the engine's feed carries a stream at the simulator.
async fn assert_polled(sim: &SimHandle) {
    eventually(
        Duration::from_secs(10),
        "a stream of the watched symbol",
        || {
            sim.ws_stats()
                .connections
                .iter()
                .any(|c| !c.subscriptions.is_empty())
        },
    )
    .await;
}

/// The engine released the watch: the feed unsubscribes the last stream and closes its
/// connection (with a REST-only exchange the polling would stop instead).
async fn assert_polling_stops(sim: &SimHandle, what: &str) {
    eventually(
        Duration::from_secs(15),
        &format!("{what}: the watch released, its stream closed"),
        || sim.ws_stats().open == 0,
    )
    .await;
}

/// The value of the metric line starting with `series`, from the server's `/metrics`.
async fn metric(log: &std::sync::Arc<std::sync::Mutex<String>>, series: &str) -> f64 {
    let addr = common::logged_addr(log, "serving /metrics").await;
    let (_, text) = common::http_get(&addr, "/metrics").await.expect("/metrics");
    text.lines()
        .find_map(|line| line.strip_prefix(series))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

/// No 1-second window holds more than 10 updates.
/// A simulator ticking 40 times a second: faster than the 10 updates a second a client may
/// get, so the limit is what shapes the updates.
fn fast_ticking() -> SimHandle {
    crypto_market_sim::Simulator::start(crypto_market_sim::SimConfig {
        ws_ticker_interval_ms: 25,
        ..Default::default()
    })
    .expect("simulator starts")
}

/// Updates driven by [`fast_ticking`]: enough of them that 11 in a row exist to check.
const DRIVEN_UPDATES: usize = 20;

fn assert_at_most_ten_a_second(updates: &[Instant]) {
    assert!(
        updates.len() >= DRIVEN_UPDATES,
        "{} updates: too few to check a rate",
        updates.len()
    );
    for window in updates.windows(11) {
        assert!(
            window[10] - window[0] >= Duration::from_millis(950),
            "11 updates within {:?}",
            window[10] - window[0]
        );
    }
}

#[tokio::test]
async fn stream_ticker_sends_each_update_as_progress_then_the_summary() {
    let sim = simulator();
    let recorder = Recorder::default();
    let server = start_server_with(&sim, FAST_WITH_METRICS, recorder.clone()).await;
    let result = server
        .call(
            "stream_ticker",
            json!({"symbol": "btc-usdt", "max_updates": 3, "duration_s": 60}),
        )
        .await;
    let summary = ok(&result).clone();
    eventually(Duration::from_secs(2), "3 progress notifications", || {
        recorder.progress().len() >= 3
    })
    .await;
    let tickers = progress_tickers(&recorder);
    assert_eq!(tickers.len(), 3, "one notification per update, no more");
    for ticker in &tickers {
        assert_eq!(
            (ticker["symbol"].as_str(), ticker["exchange"].as_str()),
            (Some("BTC/USDT"), Some("binance"))
        );
        assert_served_by_sim(&sim, ticker, "BTCUSDT");
    }
    let times: Vec<u64> = tickers
        .iter()
        .map(|t| t["timestamp"].as_u64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "in order: {times:?}");
    assert_eq!(
        (
            &summary["exchange"],
            &summary["symbol"],
            &summary["updates"]
        ),
        (&json!("binance"), &json!("BTC/USDT"), &json!(3))
    );
    assert_eq!(summary["first"], tickers[0]);
    assert_eq!(summary["last"], tickers[2]);
    let delivered = r#"cmm_stream_updates_total{channel="mcp_progress"}"#;
    assert_eq!(metric(&server.stderr, delivered).await, 3.0);
}

#[tokio::test]
async fn a_one_second_stream_ends_with_its_summary() {
    let sim = simulator();
    let recorder = Recorder::default();
    let server = start_server_with(&sim, FAST, recorder.clone()).await;
    // Held already: the stream's first update is at once, however slow this machine is.
    ok(&server
        .call("get_ticker", json!({"symbol": "ETH/USDT"}))
        .await);
    let started = Instant::now();
    let result = server
        .call(
            "stream_ticker",
            json!({"symbol": "ETH/USDT", "duration_s": 1}),
        )
        .await;
    let took = started.elapsed();
    assert!(
        (Duration::from_millis(950)..Duration::from_secs(5)).contains(&took),
        "{took:?}"
    );
    let summary = ok(&result);
    let updates = summary["updates"].as_u64().unwrap();
    assert!((1..=3).contains(&updates), "{summary}");
    assert_served_by_sim(&sim, &summary["last"], "ETHUSDT");
    eventually(Duration::from_secs(2), "the progress", || {
        recorder.progress().len() as u64 >= updates
    })
    .await;
    assert_eq!(progress_tickers(&recorder).last(), Some(&summary["last"]));
}

#[tokio::test]
async fn cancelling_a_stream_ends_it_and_releases_the_watch() {
    let sim = simulator();
    let recorder = Recorder::default();
    let server = start_server_with(&sim, FAST, recorder.clone()).await;
    let mut params = CallToolRequestParams::new("stream_ticker");
    params = params.with_arguments(
        json!({"symbol": "SOL/USDT", "duration_s": 300})
            .as_object()
            .unwrap()
            .clone(),
    );
    let handle = server
        .client
        .send_cancellable_request(
            ClientRequest::CallToolRequest(CallToolRequest::new(params)),
            PeerRequestOptions::no_options(),
        )
        .await
        .expect("sent");
    eventually(Duration::from_secs(10), "2 updates", || {
        recorder.progress().len() >= 2
    })
    .await;
    assert_polled(&sim).await;
    handle
        .cancel(Some("enough".into()))
        .await
        .expect("cancelled");
    assert_polling_stops(&sim, "a cancelled stream").await;
    // The server is still there for other calls.
    let again = server
        .call("get_ticker", json!({"symbol": "SOL/USDT"}))
        .await;
    assert_served_by_sim(&sim, ok(&again), "SOLUSDT");
}

#[tokio::test]
async fn bad_stream_arguments_are_invalid_argument_results_naming_them() {
    let sim = simulator();
    let server = start_server_with(&sim, &[], Recorder::default()).await;
    let tools = server.client.list_all_tools().await.unwrap();
    let tool = tools.iter().find(|t| t.name == "stream_ticker").unwrap();
    assert_eq!(
        tool.input_schema["properties"]["duration_s"]["maximum"],
        300
    );
    let output = tool.output_schema.as_ref().expect("an outputSchema");
    for field in ["exchange", "symbol", "updates", "first", "last", "error"] {
        assert!(output["properties"][field].is_object(), "{field}");
    }
    for (args, named) in [
        (json!({"symbol": "BTC/USDT", "duration_s": 0}), "duration_s"),
        (
            json!({"symbol": "BTC/USDT", "duration_s": 301}),
            "duration_s",
        ),
        (
            json!({"symbol": "BTC/USDT", "duration_s": "ten"}),
            "duration_s",
        ),
        (
            json!({"symbol": "BTC/USDT", "max_updates": 0}),
            "max_updates",
        ),
        (
            json!({"symbol": "BTC/USDT", "max_updates": 2.5}),
            "max_updates",
        ),
        (json!({"symbol": "BTC/USDT", "every": 1}), "every"),
        (json!({"duration_s": 5}), "symbol"),
    ] {
        let result = server.call("stream_ticker", args.clone()).await;
        assert_eq!(error_code(&result), "invalid_argument", "{args}");
        assert!(
            error_message(&result).contains(named),
            "{args}: {}",
            error_message(&result)
        );
    }
    let unknown = server
        .call("stream_ticker", json!({"symbol": "ETH/USDX"}))
        .await;
    assert_eq!(error_code(&unknown), "invalid_symbol");
    assert!(error_message(&unknown).contains("ETH/USDT"));
    assert_eq!(sim.calls("ticker/24hr"), 0, "nothing was polled");
    assert_eq!(sim.ws_stats().accepted_total, 0, "nothing was streamed");
}

#[tokio::test]
async fn ticker_resources_are_listed_and_read_and_bad_ones_are_mcp_errors() {
    let sim = simulator();
    let server = start_server_with(&sim, &[], Recorder::default()).await;
    let templates = server.client.list_all_resource_templates().await.unwrap();
    let listed: Vec<&str> = templates.iter().map(|t| t.uri_template.as_str()).collect();
    assert_eq!(
        listed,
        [
            "ticker://{exchange}/{symbol}",
            "orderbook://{exchange}/{symbol}",
            "trades://{exchange}/{symbol}"
        ]
    );
    assert!(templates
        .iter()
        .all(|t| t.mime_type.as_deref() == Some("application/json")));
    let listed = server.client.list_all_resources().await.unwrap();
    let uris: Vec<&str> = listed.iter().map(|r| r.uri.as_str()).collect();
    assert!(uris.contains(&BTC) && uris.contains(&ETH), "{uris:?}");

    let read = server
        .client
        .read_resource(ReadResourceRequestParams::new(BTC))
        .await
        .expect("read");
    let ResourceContents::TextResourceContents {
        uri,
        mime_type,
        text,
        ..
    } = &read.contents[0]
    else {
        panic!("not text: {:?}", read.contents)
    };
    assert_eq!(
        (uri.as_str(), mime_type.as_deref()),
        (BTC, Some("application/json"))
    );
    let ticker: Value = serde_json::from_str(text).unwrap();
    assert_eq!(ticker["symbol"], "BTC/USDT");
    assert_served_by_sim(&sim, &ticker, "BTCUSDT");

    fn error<T: std::fmt::Debug>(result: Result<T, ServiceError>) -> rmcp::ErrorData {
        match result {
            Err(ServiceError::McpError(error)) => error,
            other => panic!("expected an MCP error, got {other:?}"),
        }
    }
    let unknown = error(
        server
            .client
            .read_resource(ReadResourceRequestParams::new("ticker://binance/ETHUSDX"))
            .await,
    );
    assert_eq!(unknown.code.0, -32002, "resource not found: {unknown:?}");
    assert!(
        unknown.message.contains("ETH/USDT"),
        "suggests: {unknown:?}"
    );
    assert_eq!(unknown.data.unwrap()["error"]["code"], "invalid_symbol");
    let exchange = error(
        server
            .client
            .read_resource(ReadResourceRequestParams::new("ticker://nowhere/BTCUSDT"))
            .await,
    );
    assert_eq!(exchange.code.0, -32602, "invalid params: {exchange:?}");
    let malformed = error(
        server
            .client
            .read_resource(ReadResourceRequestParams::new("ticker://binance"))
            .await,
    );
    assert_eq!(malformed.code.0, -32002);
    #[allow(
        deprecated,
        reason = "resources/subscribe: what `initialize` sessions speak"
    )]
    let subscribe = server
        .client
        .subscribe(SubscribeRequestParams::new("ticker://binance/NOPEUSDT"))
        .await;
    assert_eq!(error(subscribe).code.0, -32002);
}

#[tokio::test]
#[allow(
    deprecated,
    reason = "resources/subscribe: what `initialize` sessions speak"
)]
async fn a_subscription_hears_each_change_until_unsubscribed_then_the_watch_is_released() {
    let sim = fast_ticking();
    let recorder = Recorder::default();
    let server = start_server_with(&sim, FAST_WITH_METRICS, recorder.clone()).await;
    server
        .client
        .subscribe(SubscribeRequestParams::new(ETH))
        .await
        .expect("subscribed");
    eventually(Duration::from_secs(20), "updates at the limit", || {
        recorder.updates_of(ETH).len() >= DRIVEN_UPDATES
    })
    .await;
    assert_at_most_ten_a_second(&recorder.updates_of(ETH));
    assert!(recorder.updates_of(BTC).is_empty());
    let listed = server.client.list_all_resources().await.unwrap();
    assert_eq!(listed[0].uri, ETH, "the session's subscriptions come first");
    // Each update means a new ticker to read.
    let read = server
        .client
        .read_resource(ReadResourceRequestParams::new(ETH))
        .await
        .unwrap();
    assert_eq!(read.contents.len(), 1);

    server
        .client
        .unsubscribe(UnsubscribeRequestParams::new(ETH))
        .await
        .expect("unsubscribed");
    assert_polling_stops(&sim, "an unsubscribed resource").await;
    let heard = recorder.updates_of(ETH).len();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(recorder.updates_of(ETH).len(), heard, "no update after");
    let delivered = r#"cmm_stream_updates_total{channel="mcp_resource"}"#;
    assert_eq!(metric(&server.stderr, delivered).await, heard as f64);
}

/// Protocol 2026-07-28: no `initialize`; `subscriptions/listen` carries the resources, and
/// cancelling it releases them.
#[tokio::test]
async fn a_listen_subscription_hears_each_change_until_cancelled() {
    let sim = fast_ticking();
    let client = common::start_2026_client(&sim, FAST).await;
    let filter = SubscriptionFilter::builder()
        .resource_subscriptions([BTC, "not-a-ticker"])
        .build();
    let mut subscription = client.listen(filter).await.expect("acknowledged");
    assert_eq!(
        subscription.acknowledged().resource_subscriptions,
        Some(vec![BTC.to_owned()])
    );
    let mut updates = Vec::new();
    while updates.len() < DRIVEN_UPDATES {
        let next = tokio::time::timeout(Duration::from_secs(10), subscription.next())
            .await
            .expect("an update within 10 s")
            .expect("no error");
        match next {
            Some(ServerNotification::ResourceUpdatedNotification(n)) => {
                assert_eq!(n.params.uri, BTC);
                updates.push(Instant::now());
            }
            Some(other) => panic!("unexpected {other:?}"),
            None => panic!("the subscription ended: {:?}", subscription.end()),
        }
    }
    assert_at_most_ten_a_second(&updates);
    subscription.cancel().await.expect("cancelled");
    assert_polling_stops(&sim, "a cancelled listen").await;
}

/// Streamable HTTP: progress rides on the call's SSE response, resource updates on the
/// session's stream, and a client that goes away takes its subscriptions with it.
#[tokio::test]
#[allow(
    deprecated,
    reason = "resources/subscribe: what `initialize` sessions speak"
)]
async fn over_http_progress_and_resource_updates_arrive_and_end_with_the_session() {
    let sim = simulator();
    let (_child, addr) = common::start_http_server(&sim, FAST).await;
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(format!("http://{addr}/mcp").as_str()),
    );
    let recorder = Recorder::default();
    let client = recorder.clone().serve(transport).await.expect("initialize");
    let result = common::call(
        &client,
        "stream_ticker",
        json!({"symbol": "BTCUSDT", "max_updates": 2}),
    )
    .await;
    let summary = ok(&result).clone();
    assert_eq!(summary["updates"], 2);
    eventually(Duration::from_secs(2), "2 progress notifications", || {
        recorder.progress().len() >= 2
    })
    .await;
    let tickers = progress_tickers(&recorder);
    assert_eq!(summary["last"], tickers[1]);
    assert_served_by_sim(&sim, &tickers[1], "BTCUSDT");

    client
        .subscribe(SubscribeRequestParams::new(ETH))
        .await
        .expect("subscribed");
    eventually(Duration::from_secs(10), "2 updates", || {
        recorder.updates_of(ETH).len() >= 2
    })
    .await;
    assert_polled(&sim).await;
    client
        .cancel()
        .await
        .expect("the client closes its session");
    assert_polling_stops(&sim, "a client gone").await;
    // The server itself serves on.
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(format!("http://{addr}/mcp").as_str()),
    );
    let other = ().serve(transport).await.expect("initialize");
    let again = common::call(&other, "get_ticker", json!({"symbol": "ETH/USDT"})).await;
    assert_served_by_sim(&sim, ok(&again), "ETHUSDT");
}

/// A symbol ticking 50 times a second (the simulator's websocket at 20 ms): a resource
/// subscriber hears about it 10 times a second, never more in any one-second window.
#[tokio::test]
#[allow(
    deprecated,
    reason = "resources/subscribe: what `initialize` sessions speak"
)]
async fn a_fast_ticking_resource_is_throttled_to_ten_updates_a_second() {
    let sim = crypto_market_sim::Simulator::start(crypto_market_sim::SimConfig {
        ws_ticker_interval_ms: 20,
        ..Default::default()
    })
    .expect("simulator");
    let recorder = Recorder::default();
    let server = start_server_with(&sim, FAST, recorder.clone()).await;
    server
        .client
        .subscribe(SubscribeRequestParams::new(BTC))
        .await
        .expect("subscribed");
    eventually(Duration::from_secs(10), "the first update", || {
        !recorder.updates_of(BTC).is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let updates = recorder.updates_of(BTC);
    assert_at_most_ten_a_second(&updates);
    assert!(
        updates.len() >= 20,
        "50 changes a second become ~10 updates a second: {} in 3 s",
        updates.len()
    );
}
