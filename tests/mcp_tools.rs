//! Each tool through the real binary over stdio returns what the simulator served.

mod common;

use common::{error_code, error_message, num, ok, simulator, start_server};
use serde_json::json;

#[tokio::test]
async fn lists_every_tool_with_input_and_output_schemas() {
    let sim = simulator();
    let server = start_server(&sim, &[]).await;
    let tools = server.client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(
        names,
        [
            "get_ticker",
            "get_tickers",
            "get_ohlcv",
            "get_order_book",
            "get_trades",
            "list_markets",
            "stream_ticker",
            "compare_prices",
            "exchange_status",
            "get_funding_rate",
            "get_funding_history",
            "get_open_interest",
            "compare_funding",
            "watch_subscribe",
            "watch_read",
            "watch_unsubscribe"
        ]
    );
    for tool in &tools {
        // Clients may retry and parallelise calls freely: every tool only reads, from
        // exchanges outside the server.
        let hints = tool.annotations.as_ref().expect("annotations");
        assert_eq!(
            (
                hints.read_only_hint,
                hints.idempotent_hint,
                hints.open_world_hint
            ),
            (Some(true), Some(true), Some(true)),
            "{}",
            tool.name
        );
        let input = &tool.input_schema;
        assert_eq!(input["type"], "object", "{}", tool.name);
        assert_eq!(
            input["additionalProperties"], false,
            "{} rejects unknown arguments",
            tool.name
        );
        let output = tool
            .output_schema
            .as_ref()
            .unwrap_or_else(|| panic!("{} has an outputSchema", tool.name));
        assert_eq!(output["type"], "object");
        assert!(
            output["properties"]["error"].is_object(),
            "{} admits the error envelope",
            tool.name
        );
        assert_eq!(output["anyOf"][1]["required"], json!(["error"]));
    }
    let ticker = &tools[0];
    assert_eq!(ticker.input_schema["required"], json!(["symbol"]));
    let ticker_out = ticker.output_schema.as_ref().unwrap();
    for field in [
        "symbol",
        "last",
        "bid",
        "ask",
        "baseVolume",
        "exchange",
        "price",
        "source",
        "age_ms",
        "stale",
    ] {
        assert!(
            ticker_out["properties"][field].is_object(),
            "ticker output has {field}"
        );
    }
    let ohlcv = &tools[2].input_schema;
    assert_eq!(ohlcv["properties"]["limit"]["maximum"], 1000);
}

#[tokio::test]
async fn get_ticker_returns_the_simulators_ticker() {
    let sim = simulator();
    let server = start_server(&sim, &[]).await;
    let result = server
        .call("get_ticker", json!({"symbol": "BTC/USDT"}))
        .await;
    let t = ok(&result);
    let served = sim
        .last_response("ticker/24hr", Some("BTCUSDT"))
        .expect("the sim served a ticker");
    assert_eq!(t["symbol"], "BTC/USDT");
    assert_eq!(t["exchange"], "binance");
    assert_eq!(t["last"].as_f64().unwrap(), num(&served["lastPrice"]));
    assert_eq!(t["price"], t["last"]);
    assert_eq!(t["close"].as_f64().unwrap(), num(&served["lastPrice"]));
    assert_eq!(t["bid"].as_f64().unwrap(), num(&served["bidPrice"]));
    assert_eq!(t["ask"].as_f64().unwrap(), num(&served["askPrice"]));
    assert_eq!(t["high"].as_f64().unwrap(), num(&served["highPrice"]));
    assert_eq!(t["low"].as_f64().unwrap(), num(&served["lowPrice"]));
    assert_eq!(t["open"].as_f64().unwrap(), num(&served["openPrice"]));
    assert_eq!(t["baseVolume"].as_f64().unwrap(), num(&served["volume"]));
    assert_eq!(
        t["quoteVolume"].as_f64().unwrap(),
        num(&served["quoteVolume"])
    );
    assert_eq!(t["timestamp"], served["closeTime"]);
    assert_eq!(
        (t["source"].as_str(), t["stale"].as_bool()),
        (Some("exchange"), Some(false))
    );
    // Just fetched: young. Served again later from the cache: at least that much older.
    let fresh_age = t["age_ms"].as_i64().unwrap();
    assert!((0..5_000).contains(&fresh_age), "{fresh_age}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let again = server
        .call("get_ticker", json!({"symbol": "BTC/USDT"}))
        .await;
    assert_eq!(ok(&again)["source"], "cache");
    assert!(ok(&again)["age_ms"].as_i64().unwrap() >= fresh_age + 300);
    // The text block carries the same JSON.
    let text = result.content[0].as_text().unwrap().text.clone();
    assert_eq!(
        &serde_json::from_str::<serde_json::Value>(&text).unwrap(),
        t
    );
}

#[tokio::test]
async fn every_spelling_gives_the_same_ticker_and_bad_symbols_suggest() {
    let sim = simulator();
    let server = start_server(&sim, &[]).await;
    let first = ok(&server
        .call("get_ticker", json!({"symbol": "BTCUSDT"}))
        .await)
    .clone();
    for spelling in ["btc-usdt", "BTC/USDT", "BTC_USDT", "btc/usdt"] {
        let t = server.call("get_ticker", json!({"symbol": spelling})).await;
        let t = ok(&t);
        assert_eq!(
            (t["symbol"].as_str(), t["last"].as_f64()),
            (Some("BTC/USDT"), first["last"].as_f64()),
            "{spelling}"
        );
        assert_eq!(t["source"], "cache", "{spelling} hits the same cache entry");
    }
    assert_eq!(sim.calls("ticker/24hr"), 1);

    let foo = server
        .call("get_ticker", json!({"symbol": "FOO/BAR"}))
        .await;
    assert_eq!(error_code(&foo), "invalid_symbol");
    let near = server
        .call("get_ticker", json!({"symbol": "ETH/USDX"}))
        .await;
    assert_eq!(error_code(&near), "invalid_symbol");
    assert!(
        error_message(&near).contains("ETH/USDT"),
        "suggests ETH/USDT: {}",
        error_message(&near)
    );
    assert_eq!(
        sim.calls("ticker/24hr"),
        1,
        "unknown symbols never reach the exchange"
    );
}

#[tokio::test]
async fn bad_arguments_are_invalid_argument_results_naming_the_argument() {
    let sim = simulator();
    let server = start_server(&sim, &[]).await;
    let cases = [
        (
            "get_ohlcv",
            json!({"symbol": "BTC/USDT", "limit": 0}),
            "limit",
        ),
        (
            "get_ohlcv",
            json!({"symbol": "BTC/USDT", "limit": 100000}),
            "limit",
        ),
        (
            "get_ohlcv",
            json!({"symbol": "BTC/USDT", "timeframe": "7m"}),
            "timeframe",
        ),
        (
            "get_ohlcv",
            json!({"symbol": "BTC/USDT", "since": "last tuesday"}),
            "since",
        ),
        (
            "get_order_book",
            json!({"symbol": "BTC/USDT", "limit": 0}),
            "limit",
        ),
        (
            "get_order_book",
            json!({"symbol": "BTC/USDT", "limit": "two"}),
            "limit",
        ),
        (
            "get_trades",
            json!({"symbol": "BTC/USDT", "limit": 1001}),
            "limit",
        ),
        (
            "get_ticker",
            json!({"symbol": "BTC/USDT", "verbose": true}),
            "verbose",
        ),
        ("get_ticker", json!({"symbol": 42}), "symbol"),
        ("get_ticker", json!({}), "symbol"),
        ("get_tickers", json!({"symbols": []}), "symbols"),
        ("list_markets", json!({"limit": 501}), "limit"),
        (
            "get_ticker",
            json!({"symbol": "BTC/USDT", "exchange": "nowhere"}),
            "exchange",
        ),
    ];
    for (tool, args, argument) in cases {
        let result = server.call(tool, args.clone()).await;
        assert_eq!(error_code(&result), "invalid_argument", "{tool} {args}");
        assert!(
            error_message(&result).contains(argument),
            "{tool} {args}: {}",
            error_message(&result)
        );
    }
    let unknown = server.call("get_weather", json!({})).await;
    assert_eq!(error_code(&unknown), "unknown_tool");
    assert_eq!(
        sim.total_calls(),
        0,
        "nothing invalid reaches the exchange (not even its markets)"
    );
}

#[tokio::test]
async fn get_ohlcv_returns_the_simulators_candles_oldest_first() {
    let sim = simulator();
    let server = start_server(&sim, &[]).await;
    let result = server
        .call(
            "get_ohlcv",
            json!({"symbol": "eth-usdt", "timeframe": "1m", "limit": 7}),
        )
        .await;
    let r = ok(&result);
    assert_eq!(
        (
            r["exchange"].as_str(),
            r["symbol"].as_str(),
            r["timeframe"].as_str()
        ),
        (Some("binance"), Some("ETH/USDT"), Some("1m"))
    );
    let candles = r["candles"].as_array().unwrap();
    assert_eq!(candles.len(), 7);
    let served = sim.last_response("klines", Some("ETHUSDT")).unwrap();
    let served = served.as_array().unwrap();
    assert_eq!(served.len(), 7);
    for (candle, row) in candles.iter().zip(served) {
        assert_eq!(candle[0].as_i64(), row[0].as_i64(), "open time");
        for i in 1..=5 {
            assert_eq!(candle[i].as_f64().unwrap(), num(&row[i]), "field {i}");
        }
    }
    let times: Vec<i64> = candles.iter().map(|c| c[0].as_i64().unwrap()).collect();
    assert!(
        times.windows(2).all(|w| w[1] - w[0] == 60_000),
        "oldest first, one minute apart: {times:?}"
    );

    // Default timeframe 1h and limit 100; `since` as ISO-8601 reaches the exchange as startTime.
    let r = server
        .call("get_ohlcv", json!({"symbol": "BTC/USDT"}))
        .await;
    let r = ok(&r);
    assert_eq!(
        (
            r["timeframe"].as_str(),
            r["candles"].as_array().unwrap().len()
        ),
        (Some("1h"), 100)
    );
    let since = "2024-01-30T16:00:00Z";
    let r = server
        .call(
            "get_ohlcv",
            json!({"symbol": "BTC/USDT", "timeframe": "1h", "since": since, "limit": 3}),
        )
        .await;
    let first = ok(&r)["candles"][0][0].as_i64().unwrap();
    assert_eq!(first, 1_706_630_400_000);
}

#[tokio::test]
async fn get_order_book_returns_the_best_levels_sorted_best_first() {
    let sim = simulator();
    let server = start_server(&sim, &[]).await;
    let r = server
        .call("get_order_book", json!({"symbol": "BTC/USDT", "limit": 5}))
        .await;
    let r = ok(&r);
    let (bids, asks) = (r["bids"].as_array().unwrap(), r["asks"].as_array().unwrap());
    assert_eq!((bids.len(), asks.len()), (5, 5));
    let served = sim.last_response("depth", Some("BTCUSDT")).unwrap();
    for (side, ours) in [("bids", bids), ("asks", asks)] {
        for (level, theirs) in ours.iter().zip(served[side].as_array().unwrap()) {
            assert_eq!(level[0].as_f64().unwrap(), num(&theirs[0]), "{side} price");
            assert_eq!(level[1].as_f64().unwrap(), num(&theirs[1]), "{side} amount");
        }
    }
    let prices = |side: &Vec<serde_json::Value>| {
        side.iter()
            .map(|l| l[0].as_f64().unwrap())
            .collect::<Vec<_>>()
    };
    let (bid_prices, ask_prices) = (prices(bids), prices(asks));
    assert!(
        bid_prices.windows(2).all(|w| w[0] > w[1]),
        "bids highest first: {bid_prices:?}"
    );
    assert!(
        ask_prices.windows(2).all(|w| w[0] < w[1]),
        "asks lowest first: {ask_prices:?}"
    );
    assert!(bid_prices[0] < ask_prices[0], "book not crossed");
    assert_eq!(r["nonce"], served["lastUpdateId"]);
    // A deeper book within the same fetch step comes from the same exchange call.
    let r = server
        .call("get_order_book", json!({"symbol": "BTC/USDT"}))
        .await;
    assert_eq!(ok(&r)["bids"].as_array().unwrap().len(), 20);
    assert_eq!(ok(&r)["source"], "cache");
    assert_eq!(sim.calls("depth"), 1);
}

#[tokio::test]
async fn get_trades_returns_the_most_recent_trades() {
    let sim = simulator();
    let server = start_server(&sim, &[]).await;
    let r = server
        .call("get_trades", json!({"symbol": "SOL/USDT", "limit": 10}))
        .await;
    let r = ok(&r);
    let trades = r["trades"].as_array().unwrap();
    assert_eq!(trades.len(), 10);
    let served = sim.last_response("aggTrades", Some("SOLUSDT")).unwrap();
    let served = served.as_array().unwrap();
    // The newest ten of what the exchange sent, in its order (oldest first).
    for (trade, agg) in trades.iter().zip(&served[served.len() - 10..]) {
        assert_eq!(trade["id"].as_str().unwrap(), agg["a"].to_string());
        assert_eq!(trade["price"].as_f64().unwrap(), num(&agg["p"]));
        assert_eq!(trade["amount"].as_f64().unwrap(), num(&agg["q"]));
        assert_eq!(trade["timestamp"], agg["T"]);
        let side = if agg["m"].as_bool().unwrap() {
            "sell"
        } else {
            "buy"
        };
        assert_eq!(trade["side"], side);
    }
}

#[tokio::test]
async fn get_tickers_batches_cold_symbols_into_one_exchange_call_and_lists_failures() {
    let sim = simulator();
    let server = start_server(&sim, &[]).await;
    let r = server
        .call(
            "get_tickers",
            json!({"symbols": ["BTC/USDT", "ethusdt", "NOPE/USDT", "sol-usdt"]}),
        )
        .await;
    let r = ok(&r);
    let tickers = r["tickers"].as_array().unwrap();
    let symbols: Vec<&str> = tickers
        .iter()
        .map(|t| t["symbol"].as_str().unwrap())
        .collect();
    assert_eq!(symbols, ["BTC/USDT", "ETH/USDT", "SOL/USDT"]);
    // Three cold symbols, one exchange call: ticker/24hr?symbols=[...] (Binance weight 2).
    assert_eq!(sim.calls("ticker/24hr"), 1);
    let served = sim
        .last_response("ticker/24hr", None)
        .expect("a batched ticker reply");
    for t in tickers {
        let id = t["symbol"].as_str().unwrap().replace('/', "");
        let row = served
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["symbol"] == id.as_str())
            .unwrap();
        assert_eq!(t["last"].as_f64().unwrap(), num(&row["lastPrice"]), "{id}");
        assert_eq!(t["source"], "exchange");
    }
    let errors = r["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(
        (
            errors[0]["symbol"].as_str(),
            errors[0]["error"]["code"].as_str()
        ),
        (Some("NOPE/USDT"), Some("invalid_symbol"))
    );
    // Cached now: a single get_ticker needs no call.
    let one = server
        .call("get_ticker", json!({"symbol": "ETH/USDT"}))
        .await;
    assert_eq!(ok(&one)["source"], "cache");
    assert_eq!(sim.calls("ticker/24hr"), 1);
}

#[tokio::test]
async fn list_markets_filters_and_counts() {
    let sim = simulator();
    let server = start_server(&sim, &[]).await;
    let r = server.call("list_markets", json!({})).await;
    let r = ok(&r);
    let all: Vec<&str> = r["markets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["symbol"].as_str().unwrap())
        .collect();
    assert_eq!(all, ["BNB/USDT", "BTC/USDT", "ETH/USDT", "SOL/USDT"]);
    assert_eq!(r["total"], 4);
    let m = &r["markets"][1];
    assert_eq!(
        (
            m["base"].as_str(),
            m["quote"].as_str(),
            m["type"].as_str(),
            m["active"].as_bool()
        ),
        (Some("BTC"), Some("USDT"), Some("spot"), Some(true))
    );
    let r = server
        .call(
            "list_markets",
            json!({"query": "btc", "quote": "USDT", "limit": 1}),
        )
        .await;
    let r = ok(&r);
    assert_eq!(
        (r["total"].as_u64(), r["markets"].as_array().unwrap().len()),
        (Some(1), 1)
    );
    let r = server.call("list_markets", json!({"quote": "EUR"})).await;
    assert_eq!(ok(&r)["total"], 0);
    assert_eq!(sim.calls("exchangeInfo"), 1, "markets are loaded once");
}
