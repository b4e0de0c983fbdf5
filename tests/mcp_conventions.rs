//! SPEC.md section 10 through the real binary: titles, a hint on every error, `completion/
//! complete`, `list_markets` pages, results within `MAX_RESULT_BYTES`, `ttlMs` on 2026-07-28
//! resource reads, and `server.json` naming the settings there are.

mod common;

use std::collections::HashSet;

use common::{error_code, error_message, ok, simulator, start_server};
use crypto_market_sim::{Faults, SimConfig, Simulator, Venue};
use rmcp::model::{
    ArgumentInfo, CallToolResult, CompleteRequestParams, CompletionContext,
    ReadResourceRequestParams, Reference,
};
use serde_json::{json, Value};

const TICKER_TEMPLATE: &str = "ticker://{exchange}/{symbol}";

/// A simulator listing `extra` generated markets besides its fixture ones.
fn simulator_with_markets(extra: usize) -> crypto_market_sim::SimHandle {
    Simulator::start(SimConfig {
        extra_symbols: extra,
        ..SimConfig::default()
    })
    .expect("simulator starts")
}

/// The error's hint, after checking the envelope carries one.
fn hint(result: &CallToolResult) -> String {
    let code = error_code(result);
    let hint = result.structured_content.as_ref().expect("structured")["error"]["hint"]
        .as_str()
        .unwrap_or_else(|| panic!("{code} has a hint: {:?}", result.structured_content))
        .to_owned();
    assert!(!hint.is_empty(), "{code}: empty hint");
    hint
}

#[tokio::test]
async fn every_tool_has_a_title_and_completions_are_advertised() {
    let sim = simulator();
    let server = start_server(&sim, &[]).await;
    let tools = server.client.list_all_tools().await.unwrap();
    assert!(!tools.is_empty());
    for tool in &tools {
        let title = tool.title.as_deref().unwrap_or_default();
        assert!(
            !title.is_empty() && title != tool.name,
            "{} has a human-readable title: {title:?}",
            tool.name
        );
        let errors = &tool.output_schema.as_ref().expect("outputSchema")["properties"]["error"];
        assert!(errors["properties"]["hint"].is_object(), "{}", tool.name);
    }
    let info = server.client.peer_info().expect("server info");
    assert!(info.capabilities.completions.is_some());
}

#[tokio::test]
async fn every_error_names_its_next_step() {
    let binance = simulator();
    let okx = Simulator::start(SimConfig {
        venue: Venue::Okx,
        ..SimConfig::default()
    })
    .expect("okx simulator");
    let urls = format!("okx={}", okx.rest_url());
    let server = start_server(
        &binance,
        &[
            ("EXCHANGES", "binance,okx"),
            ("EXCHANGE_REST_URLS", &urls),
            ("FAILOVER", "false"),
        ],
    )
    .await;
    let call = |tool: &'static str, args: Value| {
        let server = &server;
        async move { server.call(tool, args).await }
    };

    let unknown = call("get_ticker", json!({"symbol": "FOOBARUSDT"})).await;
    assert_eq!(error_code(&unknown), "invalid_symbol");
    let h = hint(&unknown);
    assert!(
        h.contains("list_markets") && h.contains("query=FOOBAR"),
        "{h}"
    );

    let bounds = call("get_ohlcv", json!({"symbol": "BTC/USDT", "limit": 0})).await;
    assert_eq!(error_code(&bounds), "invalid_argument");
    let h = hint(&bounds);
    assert!(h.contains("limit from 1 to 1000"), "{h}");
    assert!(error_message(&bounds).contains("from 1 to 1000"));

    let extra = call("get_ticker", json!({"symbol": "BTC/USDT", "foo": 1})).await;
    assert!(hint(&extra).contains("without foo"));

    let venue = call(
        "get_ticker",
        json!({"symbol": "BTC/USDT", "exchange": "nope"}),
    )
    .await;
    assert_eq!(error_code(&venue), "invalid_argument");
    assert!(hint(&venue).contains("exchange_status"));

    // A symbol's own error inside a successful get_tickers carries its hint too.
    let mixed = call("get_tickers", json!({"symbols": ["BTC/USDT", "NOPE/USDT"]})).await;
    let errors = ok(&mixed)["errors"].as_array().expect("errors").clone();
    assert!(errors[0]["error"]["hint"]
        .as_str()
        .unwrap()
        .contains("list_markets"));

    let tool = call("get_price", json!({})).await;
    assert_eq!(error_code(&tool), "unknown_tool");
    assert!(hint(&tool).contains("tools/list"));

    binance.set_faults(Faults {
        force_status: Some(503),
        endpoints: Some(vec!["ticker/24hr".into()]),
        ..Faults::default()
    });
    // A symbol not cached yet (BTC/USDT is, from get_tickers).
    let down = call("get_ticker", json!({"symbol": "SOL/USDT"})).await;
    assert_eq!(error_code(&down), "exchange_unavailable");
    let h = hint(&down);
    assert!(
        h.contains("get_ticker with exchange=okx")
            && h.contains("compare_prices with symbol=SOL/USDT"),
        "{h}"
    );

    binance.set_faults(Faults {
        force_status: Some(429),
        retry_after_s: 2,
        endpoints: Some(vec!["klines".into()]),
        ..Faults::default()
    });
    let limited = call("get_ohlcv", json!({"symbol": "ETH/USDT"})).await;
    assert_eq!(
        error_code(&limited),
        "rate_limited",
        "{}",
        error_message(&limited)
    );
    let h = hint(&limited);
    assert!(h.contains("retry_after_ms"), "{h}");
    assert!(h.contains("exchange=okx"), "{h}");
}

/// Every page of `list_markets` (`limit` each), walked through `next_offset`.
async fn walk_pages(server: &common::McpServer, limit: u32) -> (Vec<String>, u64, usize) {
    let mut offset = 0;
    let mut symbols = Vec::new();
    let mut pages = 0;
    loop {
        let page = server
            .call("list_markets", json!({"limit": limit, "offset": offset}))
            .await;
        let page = ok(&page).clone();
        pages += 1;
        let total = page["total"].as_u64().expect("total");
        let markets = page["markets"].as_array().expect("markets");
        symbols.extend(
            markets
                .iter()
                .map(|m| m["symbol"].as_str().unwrap().to_owned()),
        );
        match page["next_offset"].as_u64() {
            Some(next) => {
                assert_eq!(
                    next as usize,
                    symbols.len(),
                    "next_offset follows this page"
                );
                offset = next;
            }
            None => return (symbols, total, pages),
        }
        assert!(pages < 1000, "the pages end");
    }
}

#[tokio::test]
async fn list_markets_pages_cover_every_market_once() {
    let sim = simulator_with_markets(730);
    let server = start_server(&sim, &[]).await;
    let (symbols, total, pages) = walk_pages(&server, 200).await;
    assert!(total > 730, "{total}");
    assert_eq!(symbols.len() as u64, total);
    let unique: HashSet<&String> = symbols.iter().collect();
    assert_eq!(unique.len(), symbols.len(), "no market twice");
    assert_eq!(pages as u64, total.div_ceil(200));
    // Past the end: an empty last page.
    let past = server
        .call("list_markets", json!({"offset": total + 5}))
        .await;
    assert_eq!(ok(&past)["markets"], json!([]));
    assert_eq!(ok(&past)["next_offset"], Value::Null);
}

#[tokio::test]
async fn results_are_cut_to_max_result_bytes_and_say_where_to_continue() {
    const CAP: usize = 16_384;
    let sim = simulator_with_markets(300);
    let server = start_server(&sim, &[("MAX_RESULT_BYTES", "16384")]).await;
    let size = |v: &Value| serde_json::to_string(v).unwrap().len();

    let page = server.call("list_markets", json!({"limit": 500})).await;
    let page = ok(&page);
    assert!(size(page) <= CAP, "{} bytes", size(page));
    assert_eq!(page["truncated"], true);
    let kept = page["markets"].as_array().unwrap().len();
    assert!(kept > 0 && kept < 500);
    assert_eq!(page["next_offset"], json!(kept));
    // Cut pages still cover every market once.
    let (symbols, total, _) = walk_pages(&server, 500).await;
    assert_eq!(symbols.len() as u64, total);
    assert_eq!(symbols.iter().collect::<HashSet<_>>().len(), symbols.len());

    let candles = server
        .call(
            "get_ohlcv",
            json!({"symbol": "BTC/USDT", "timeframe": "1m", "limit": 1000}),
        )
        .await;
    let candles = ok(&candles);
    assert!(size(candles) <= CAP, "{} bytes", size(candles));
    assert_eq!(candles["truncated"], true);
    let rows = candles["candles"].as_array().unwrap();
    let last_kept = rows.last().unwrap()[0].as_i64().unwrap();
    assert_eq!(candles["next_since"], json!(last_kept + 60_000));
    let rest = server
        .call(
            "get_ohlcv",
            json!({"symbol": "BTC/USDT", "timeframe": "1m", "since": candles["next_since"], "limit": 5}),
        )
        .await;
    assert_eq!(ok(&rest)["candles"][0][0], candles["next_since"]);

    let book = server
        .call(
            "get_order_book",
            json!({"symbol": "BTC/USDT", "limit": 1000}),
        )
        .await;
    let book = ok(&book);
    assert!(size(book) <= CAP);
    assert_eq!(book["truncated"], true);

    // What fits is left alone.
    let small = server.call("list_markets", json!({"limit": 3})).await;
    assert!(ok(&small).get("truncated").is_none());
}

#[tokio::test]
async fn exchange_and_symbol_of_the_ticker_template_complete() {
    let sim = simulator_with_markets(150);
    let server = start_server(&sim, &[("EXCHANGES", "binance,okx")]).await;
    let complete = |argument: &str, value: &str, exchange: Option<&str>| {
        let mut request = CompleteRequestParams::new(
            Reference::for_resource(TICKER_TEMPLATE),
            ArgumentInfo::new(argument, value),
        );
        if let Some(exchange) = exchange {
            request = request.with_context(CompletionContext::with_arguments(
                [("exchange".to_owned(), exchange.to_owned())].into(),
            ));
        }
        let client = &server.client;
        async move {
            client
                .complete(request)
                .await
                .expect("completion")
                .completion
        }
    };
    assert_eq!(
        complete("exchange", "", None).await.values,
        ["binance", "okx"]
    );
    assert_eq!(complete("exchange", "B", None).await.values, ["binance"]);
    let btc = complete("symbol", "btc", None).await;
    assert!(
        btc.values.contains(&"BTCUSDT".to_owned()),
        "{:?}",
        btc.values
    );
    assert!(
        btc.values.iter().all(|v| v.starts_with("BTC")),
        "{:?}",
        btc.values
    );
    let named = complete("symbol", "Eth/", Some("binance")).await;
    assert!(
        named.values.contains(&"ETHUSDT".to_owned()),
        "{:?}",
        named.values
    );
    let many = complete("symbol", "s", Some("binance")).await;
    assert_eq!(many.values.len(), 100, "at most 100");
    assert_eq!(many.has_more, Some(true));
    assert!(complete("symbol", "zzz", None).await.values.is_empty());
}

#[tokio::test]
async fn resource_reads_on_2026_07_28_carry_the_time_left_until_stale() {
    let sim = simulator();
    let env = [("CACHE_TTL", "10")];
    let uri = "ticker://binance/BTCUSDT";
    let client = common::start_2026_client(&sim, &env).await;
    let read = client
        .read_resource(ReadResourceRequestParams::new(uri))
        .await
        .expect("read");
    let ttl = read.ttl_ms.expect("ttlMs on 2026-07-28");
    assert!((1..=10_000).contains(&ttl), "{ttl}");
    let legacy = start_server(&sim, &env).await;
    let read = legacy
        .client
        .read_resource(ReadResourceRequestParams::new(uri))
        .await
        .expect("read");
    assert_eq!(read.ttl_ms, None, "older protocols have no ttlMs");
}

#[test]
fn server_json_names_the_settings_there_are() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/server.json"))
        .expect("server.json at the repository root");
    let server: Value = serde_json::from_str(&text).expect("server.json is JSON");
    assert!(server["$schema"]
        .as_str()
        .unwrap()
        .starts_with("https://static.modelcontextprotocol.io/schemas/"));
    assert_eq!(server["version"], env!("CARGO_PKG_VERSION"));
    assert!(server["description"].as_str().unwrap().len() <= 100);
    let known: HashSet<&str> = crypto_market_mcp::config::ENV_NAMES
        .iter()
        .copied()
        .collect();
    let packages = server["packages"].as_array().expect("packages");
    let mut transports = HashSet::new();
    for package in packages {
        assert_eq!(package["version"], env!("CARGO_PKG_VERSION"));
        let transport = package["transport"]["type"].as_str().unwrap();
        transports.insert(transport);
        let named: Vec<&str> = package["environmentVariables"]
            .as_array()
            .expect("environmentVariables")
            .iter()
            .map(|v| v["name"].as_str().expect("name"))
            .collect();
        for name in &named {
            assert!(
                known.contains(name),
                "{name} is not a setting src/config knows"
            );
        }
        let named: HashSet<&str> = named.into_iter().collect();
        if transport == "stdio" {
            let missing: Vec<_> = known.difference(&named).collect();
            assert!(missing.is_empty(), "server.json lacks {missing:?}");
        } else {
            for main in [
                "EXCHANGE_NAME",
                "MCP_AUTH_TOKEN",
                "API_KEYS_FILE",
                "MAX_RESULT_BYTES",
            ] {
                assert!(named.contains(main), "{transport} lacks {main}");
            }
            let http = &package["packageArguments"][0];
            assert_eq!(http["name"], "--http");
            assert!(package["transport"]["url"]
                .as_str()
                .unwrap()
                .ends_with("/mcp"));
        }
    }
    assert_eq!(transports, HashSet::from(["stdio", "streamable-http"]));
}

/// The worker pool's error replies carry the same hint, a gateway passes it on, and the
/// pool's results are cut to its own MAX_RESULT_BYTES.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_replies_and_a_gateway_carry_the_hint_and_the_cap() {
    use common::redis::RedisServer;
    use common::worker::{connect, start_worker, subscribe, wait_for_workers, xadd};
    let sim = simulator_with_markets(300);
    let redis = RedisServer::start();
    let _worker = start_worker(&sim, &redis, &[("MAX_RESULT_BYTES", "16384")]);
    let mut conn = connect(&redis).await;
    wait_for_workers(&mut conn, 1).await;
    let channel = "crypto_mcp:responses:hints";
    let mut replies = subscribe(&redis, channel).await;
    let request = json!({"request_id": "h-1", "tool": "get_ticker",
        "args": {"symbol": "FOOBARUSDT"}, "reply_to": channel});
    xadd(&mut conn, request.to_string().as_bytes()).await;
    let reply = tokio::time::timeout(std::time::Duration::from_secs(30), replies.recv())
        .await
        .expect("a reply within 30 s")
        .expect("a reply");
    assert_eq!(reply["error"]["code"], "invalid_symbol", "{reply}");
    let replied = reply["error"]["hint"].as_str().expect("hint in the reply");
    assert!(
        replied.contains("list_markets") && replied.contains("query=FOOBAR"),
        "{replied}"
    );

    let gateway = start_server(
        &sim,
        &[
            ("PUBSUB_ENABLED", "true"),
            ("REDIS_URL", redis.url().as_str()),
        ],
    )
    .await;
    let bad = gateway
        .call("get_ticker", json!({"symbol": "FOOBARUSDT"}))
        .await;
    assert_eq!(hint(&bad), replied);
    let page = gateway.call("list_markets", json!({"limit": 500})).await;
    let page = ok(&page);
    assert_eq!(page["truncated"], true);
    assert!(serde_json::to_string(page).unwrap().len() <= 16_384);
    assert_eq!(
        page["next_offset"],
        json!(page["markets"].as_array().unwrap().len())
    );
}
