//! Derivatives beyond one call (SPEC.md 4.1, 5, 6, 8; issue 22) through the real binaries
//! against the simulator: `stream_ticker` and `ticker://` on a perpetual, Binance's
//! `@markPrice@1s` keeping a watched perpetual's funding fresh, the worker pool and Redis
//! sharing funding, Binance's futures budget apart from spot's, and the command line.

mod common;

use common::derivs::{around, close, f, server, Venues};
use common::{error_code, ok};
use crypto_market_sim::rest_urls;
use serde_json::{json, Value};

/// The command line: `funding` as a table across venues (or one venue's history), `oi`, and a
/// perpetual's `ticker` with mark and index.
#[tokio::test]
async fn command_line_funding_oi_and_a_perpetuals_ticker() {
    use common::cli::{parse_num, row, run};
    let venues = Venues::start();
    let env = [
        ("EXCHANGES", "binance,okx,bybit,kraken,coinbase".to_owned()),
        ("EXCHANGE_REST_URLS", rest_urls(&venues.sims[1..])),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let cli = |args: &[&str]| {
        let mut all = vec!["--rest-url".to_owned(), venues.sim("binance").rest_url()];
        all.extend(args.iter().map(|a| a.to_string()));
        all
    };
    let sim = venues.sim("binance");
    let before = sim.contract("BTCUSDT").expect("listed");
    let out = run(&cli(&["funding", "BTCUSDT"]), &env).await.success();
    let after = sim.contract("BTCUSDT").expect("listed");
    assert!(
        out.stdout
            .contains("BTC/USDT:USDT funding across exchanges"),
        "{}",
        out.stdout
    );
    let binance = row(&out.stdout, "binance");
    let pct = parse_num(binance[1].trim_end_matches('%'));
    assert!(
        [before.funding_rate, after.funding_rate]
            .iter()
            .any(|r| (r * 100.0 - pct).abs() < 0.00006),
        "{}",
        out.stdout
    );
    assert_eq!(binance[3], "8 h");
    assert!(out.stdout.contains("highest "), "{}", out.stdout);

    let out = run(
        &cli(&[
            "--exchange",
            "binance",
            "funding",
            "BTCUSDT",
            "--history",
            "--limit",
            "5",
        ]),
        &env,
    )
    .await
    .success();
    assert!(out.stdout.contains("settled funding"), "{}", out.stdout);
    assert_eq!(out.stdout.matches('%').count(), 5, "{}", out.stdout);

    let v = run(&cli(&["--json", "oi", "ETHUSDT.P"]), &env)
        .await
        .success()
        .json();
    assert_eq!(v["symbol"], "ETH/USDT:USDT");
    assert!(
        v["open_interest"].as_f64().is_some_and(|oi| oi > 0.0),
        "{v}"
    );
    let out = run(&cli(&["oi", "ETHUSDT.P"]), &env).await.success();
    assert_eq!(
        row(&out.stdout, "ETH/USDT:USDT")[1],
        "binance",
        "{}",
        out.stdout
    );

    let out = run(&cli(&["ticker", "BTC/USDT:USDT"]), &env)
        .await
        .success();
    let header = out.stdout.lines().nth(1).unwrap_or_default();
    assert!(
        header.contains("mark") && header.contains("index"),
        "{}",
        out.stdout
    );
    let cells = row(&out.stdout, "BTC/USDT:USDT");
    let (mark, index) = (parse_num(cells[3]), parse_num(cells[4]));
    let near = |x: f64, a: f64, b: f64| {
        (x - a).abs() <= 0.01 * a.abs().max(1e-9) || (x - b).abs() <= 0.01 * b.abs().max(1e-9)
    };
    assert!(near(mark, before.mark, after.mark), "{}", out.stdout);
    assert!(near(index, before.index, after.index), "{}", out.stdout);
    let spot = run(&cli(&["ticker", "BTC/USDT"]), &env).await.success();
    assert!(!spot.stdout.contains("mark"), "{}", spot.stdout);
}

/// The worker pool serves the derivative tools too, and their values are shared through Redis
/// (`{KEY_PREFIX}:cache:binance:funding:BTC/USDT:USDT`): an MCP server on the same Redis
/// answers from there without calling the exchange.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_pool_serves_funding_and_redis_shares_it() {
    use common::redis::RedisServer;
    use common::worker::{
        collect_replies, connect, start_worker, subscribe, wait_for_workers, xadd,
    };
    use redis::AsyncCommands;
    use std::time::Duration;

    let venues = Venues::start();
    let sim = venues.sim("binance");
    let redis = RedisServer::start();
    let shared = [("USE_REDIS_CACHE", "true"), ("CACHE_TTL", "60")];
    let _worker = start_worker(sim, &redis, &shared);
    let mut conn = connect(&redis).await;
    wait_for_workers(&mut conn, 1).await;
    let mut replies = subscribe(&redis, "crypto_mcp:responses").await;
    for (id, tool) in [("f1", "get_funding_rate"), ("o1", "get_open_interest")] {
        let request = json!({"request_id": id, "tool": tool, "args": {"symbol": "BTCUSDT"}});
        xadd(&mut conn, request.to_string().as_bytes()).await;
    }
    let by_id = collect_replies(&mut replies, 2, Duration::from_secs(20), Duration::ZERO).await;
    let funding = &by_id["f1"][0];
    assert_eq!(funding["ok"], true, "{funding}");
    assert_eq!(funding["result"]["symbol"], "BTC/USDT:USDT");
    assert!(funding["result"]["funding_rate"].is_number(), "{funding}");
    assert_eq!(by_id["o1"][0]["ok"], true, "{}", by_id["o1"][0]);
    let key = "crypto_mcp:cache:binance:funding:BTC/USDT:USDT";
    let mut stored = None;
    for _ in 0..100 {
        let value: Option<String> = conn.get(key).await.expect("GET");
        if value.is_some() {
            stored = value;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stored = stored.unwrap_or_else(|| panic!("{key} in Redis"));
    assert!(stored.contains("funding_rate"), "{stored}");
    // The funding call, and the mark the open interest's quote value needs.
    let calls = sim.calls("fapi/v1/premiumIndex");
    assert_eq!(calls, 2);
    let url = redis.url();
    let server = server(
        &venues,
        &[shared[0], shared[1], ("REDIS_URL", url.as_str())],
    )
    .await;
    let result = server
        .call("get_funding_rate", json!({"symbol": "BTC/USDT:USDT"}))
        .await;
    let got = ok(&result);
    assert_eq!(got["source"], "redis", "{got}");
    assert_eq!(got["funding_rate"], funding["result"]["funding_rate"]);
    assert_eq!(
        sim.calls("fapi/v1/premiumIndex"),
        calls,
        "served from Redis"
    );
}

/// `stream_ticker` and the `ticker://` resources work on a perpetual: the updates are the
/// perpetual's (its last, mark and index), not the spot pair's.
#[tokio::test]
async fn stream_ticker_and_ticker_resources_on_a_perpetual() {
    use rmcp::model::{ReadResourceRequestParams, ResourceContents};
    let venues = Venues::start();
    let server = server(&venues, &[("CACHE_TTL", "1")]).await;
    // A venue streamed by REST polling: Bybit where its simulator serves perpetuals, else
    // Binance (its feed, or polling while the feed has nothing).
    let venue = if venues.with_derivatives().contains(&"bybit") {
        "bybit"
    } else {
        "binance"
    };
    let sim = venues.sim(venue);
    let id = venues.perpetual_id(venue, "BTC");
    let (result, quotes) = around(
        sim,
        &id,
        server.call(
            "stream_ticker",
            json!({"symbol": "BTCUSDT.P", "exchange": venue, "duration_s": 4, "max_updates": 1}),
        ),
    )
    .await;
    let got = ok(&result);
    assert_eq!(got["symbol"], "BTC/USDT:USDT", "{got}");
    let first = &got["first"];
    assert_eq!(first["symbol"], "BTC/USDT:USDT", "{got}");
    let last = f(&first["last"]);
    assert!(
        quotes.iter().any(|q| close(last, q.last)),
        "the perpetual's last: {first} vs {quotes:?}"
    );
    assert!(
        quotes
            .iter()
            .any(|q| close(f(&first["mark_price"]), q.mark)),
        "{first}"
    );
    let uri = format!("ticker://{venue}/BTCUSDT.P");
    let read = server
        .client
        .read_resource(ReadResourceRequestParams::new(uri.as_str()))
        .await
        .expect("a perpetual's ticker resource reads");
    let ResourceContents::TextResourceContents { text, .. } = &read.contents[0] else {
        panic!("not text: {:?}", read.contents)
    };
    let ticker: Value = serde_json::from_str(text).expect("ticker JSON");
    assert_eq!(ticker["symbol"], "BTC/USDT:USDT", "{ticker}");
    assert!(ticker["mark_price"].is_number(), "{ticker}");
}

/// Binance's futures weights are a budget of their own: with spot's spent (a tiny
/// `EXCHANGE_WEIGHT_LIMIT`), spot calls are `rate_limited` while funding is still served.
#[tokio::test]
async fn binance_futures_weights_are_a_budget_apart_from_spots() {
    let venues = Venues::start();
    // A call may wait for budget within its 1 s deadline: spot's 30 a minute refills one
    // weight every 2 s, so calls sharing it would be refused.
    let server = server(
        &venues,
        &[
            ("EXCHANGE_WEIGHT_LIMIT", "30"),
            ("CACHE_TTL", "0"),
            ("EXCHANGE_TIMEOUT", "1"),
        ],
    )
    .await;
    let mut limited = false;
    for _ in 0..20 {
        let book = server
            .call(
                "get_order_book",
                json!({"symbol": "BTC/USDT", "exchange": "binance"}),
            )
            .await;
        if book.is_error == Some(true) {
            assert_eq!(error_code(&book), "rate_limited");
            limited = true;
            break;
        }
    }
    assert!(limited, "spot's 30 weight a minute runs out");
    for _ in 0..5 {
        let funding = server
            .call(
                "get_funding_rate",
                json!({"symbol": "BTCUSDT", "exchange": "binance"}),
            )
            .await;
        assert_eq!(ok(&funding)["source"], "exchange");
    }
}

/// A watched Binance perpetual: its `@markPrice@1s` stream keeps funding, mark and index fresh
/// (`source: stream`, the values of the event's own time) without a funding call.
#[tokio::test]
async fn the_mark_price_stream_keeps_a_watched_perpetuals_funding_fresh() {
    let venues = Venues::start_with(200);
    let redis = common::redis::RedisServer::start();
    let url = redis.url();
    let server = server(
        &venues,
        &[
            ("CACHE_TTL", "2"),
            ("USE_REDIS_CACHE", "true"),
            ("REDIS_URL", url.as_str()),
        ],
    )
    .await;
    let sim = venues.sim("binance");
    let watch = server.call(
        "stream_ticker",
        json!({"symbol": "BTCUSDT.P", "exchange": "binance", "duration_s": 6}),
    );
    let read = async {
        tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
        let before = sim.calls("fapi/v1/premiumIndex");
        let mut streamed = Vec::new();
        for _ in 0..3 {
            let result = server
                .call(
                    "get_funding_rate",
                    json!({"symbol": "BTCUSDT", "exchange": "binance"}),
                )
                .await;
            streamed.push(ok(&result).clone());
            tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        }
        (before, streamed, sim.calls("fapi/v1/premiumIndex"))
    };
    let (summary, (before, streamed, after)) = tokio::join!(watch, read);
    ok(&summary);
    let mut marks = Vec::new();
    for got in &streamed {
        assert_eq!(got["source"], "stream", "{got}");
        let at = got["timestamp"].as_u64().expect("the event's time");
        let want = sim.contract_at("BTCUSDT", at).expect("listed");
        assert!(close(f(&got["mark_price"]), want.mark), "{got} vs {want:?}");
        assert!(
            close(f(&got["index_price"]), want.index),
            "{got} vs {want:?}"
        );
        assert!(
            close(f(&got["funding_rate"]), want.funding_rate),
            "{got} vs {want:?}"
        );
        assert!(close(f(&got["interval_hours"]), 8.0), "{got}");
        marks.push(at);
    }
    marks.dedup();
    assert!(marks.len() >= 2, "the stream moved on: {marks:?}");
    // The watch's ticker polls may ask premiumIndex (a perpetual's ticker carries the mark),
    // but funding itself is served from the stream: no more than one call per poll.
    assert!(after - before <= 3, "{before} → {after}");
    // Streamed funding is shared through Redis like a fetched one (no funding was fetched).
    let mut conn = common::worker::connect(&redis).await;
    let stored: Option<String> =
        redis::AsyncCommands::get(&mut conn, "crypto_mcp:cache:binance:funding:BTC/USDT:USDT")
            .await
            .expect("GET");
    let stored: Value =
        serde_json::from_str(&stored.expect("streamed funding in Redis")).expect("JSON");
    assert_eq!(stored["kind"], "funding", "{stored}");
    assert!(stored["data"]["mark_price"].is_number(), "{stored}");
}
