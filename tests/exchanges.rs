//! Five exchanges through the real binary, each against the simulator speaking that exchange's
//! own REST format on its own port: every tool returns that venue's values, bad symbols get
//! that venue's suggestions, the default exchange failing over to the next, `compare_prices`
//! across all five, and `exchange_status` telling which venue is down.

mod common;

use std::time::{Duration, Instant};

use common::{error_code, error_message, ok, start_server};
use crypto_market_sim::{rest_urls, Faults, Quote, SimConfig, SimHandle, Simulator, Venue};
use serde_json::{json, Value};

/// One simulator per venue, prices frozen (a walk step of an hour) so values compare exactly.
struct Venues {
    sims: Vec<SimHandle>,
}

impl Venues {
    fn start() -> Self {
        let sims = Simulator::start_venues(SimConfig {
            tick_ms: 3_600_000,
            ..SimConfig::default()
        })
        .expect("simulators start");
        Self { sims }
    }

    fn sim(&self, id: &str) -> &SimHandle {
        self.sims
            .iter()
            .find(|s| s.venue().id() == id)
            .expect("a simulator per venue")
    }

    /// `EXCHANGES` and `EXCHANGE_REST_URLS` enabling all five (Binance the default, pointed
    /// at by the common `EXCHANGE_REST_URL`).
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("EXCHANGES", "binance,okx,bybit,kraken,coinbase".to_owned()),
            ("EXCHANGE_REST_URLS", rest_urls(&self.sims[1..])),
        ]
    }
}

async fn server(venues: &Venues, extra: &[(&str, &str)]) -> common::McpServer {
    let env = venues.env();
    let mut all: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    all.extend_from_slice(extra);
    start_server(venues.sim("binance"), &all).await
}

/// The venue's quote before and after `call`: with an hour-long walk step at most one step
/// boundary falls inside, so the answer equals one of them.
async fn around<T>(
    sim: &SimHandle,
    symbol: &str,
    call: impl std::future::Future<Output = T>,
) -> (T, [Quote; 2]) {
    let before = sim.quote(symbol).expect("listed");
    let out = call.await;
    let after = sim.quote(symbol).expect("listed");
    (out, [before, after])
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("a number, got {v}"))
}

#[tokio::test]
async fn every_tool_returns_each_venues_own_values() {
    let venues = Venues::start();
    let server = server(&venues, &[]).await;
    let mut lasts = Vec::new();
    for venue in Venue::ALL {
        let id = venue.id();
        let sim = venues.sim(id);
        let (ticker, quotes) = around(
            sim,
            "BTCUSDT",
            server.call("get_ticker", json!({"symbol": "BTC/USDT", "exchange": id})),
        )
        .await;
        let t = ok(&ticker);
        assert_eq!(
            (t["exchange"].as_str(), t["symbol"].as_str()),
            (Some(id), Some("BTC/USDT"))
        );
        assert_eq!(t["source"], "exchange", "{id}");
        assert!(
            quotes
                .iter()
                .any(|q| f(&t["last"]) == q.last && f(&t["bid"]) == q.bid && f(&t["ask"]) == q.ask),
            "{id}: {t} vs {quotes:?}"
        );
        assert_eq!(t["price"], t["last"]);
        lasts.push(f(&t["last"]));

        let (book, quotes) = around(
            sim,
            "BTCUSDT",
            server.call(
                "get_order_book",
                json!({"symbol": "BTC/USDT", "exchange": id, "limit": 5}),
            ),
        )
        .await;
        let b = ok(&book);
        assert_eq!(b["exchange"], id);
        let (bids, asks) = (b["bids"].as_array().unwrap(), b["asks"].as_array().unwrap());
        assert!(
            !bids.is_empty() && bids.len() <= 5 && !asks.is_empty(),
            "{id}: {b}"
        );
        assert!(
            quotes
                .iter()
                .any(|q| f(&bids[0][0]) == q.bid && f(&asks[0][0]) == q.ask),
            "{id}: best levels {} / {} vs {quotes:?}",
            bids[0][0],
            asks[0][0]
        );
        assert!(f(&bids[0][0]) > f(&bids[bids.len() - 1][0]) || bids.len() == 1);

        let candles = server
            .call(
                "get_ohlcv",
                json!({"symbol": "BTC/USDT", "exchange": id, "timeframe": "1h", "limit": 5}),
            )
            .await;
        let c = ok(&candles);
        let rows = c["candles"].as_array().unwrap();
        assert!(!rows.is_empty() && rows.len() <= 5, "{id}: {c}");
        let times: Vec<f64> = rows.iter().map(|r| f(&r[0])).collect();
        assert!(
            times.windows(2).all(|w| w[1] - w[0] == 3_600_000.0),
            "{id}: hourly, oldest first: {times:?}"
        );
        for r in rows {
            let (o, h, l, cl) = (f(&r[1]), f(&r[2]), f(&r[3]), f(&r[4]));
            assert!(l <= o.min(cl) && h >= o.max(cl) && l > 0.0, "{id}: {r}");
        }

        let trades = server
            .call(
                "get_trades",
                json!({"symbol": "BTC/USDT", "exchange": id, "limit": 10}),
            )
            .await;
        let list = ok(&trades)["trades"].as_array().unwrap().clone();
        assert!(!list.is_empty() && list.len() <= 10, "{id}");
        let btc = lasts[lasts.len() - 1];
        for trade in &list {
            assert!(
                matches!(trade["side"].as_str(), Some("buy" | "sell")),
                "{id}: {trade}"
            );
            // Trades happen near the venue's price.
            assert!(
                (f(&trade["price"]) / btc - 1.0).abs() < 0.05,
                "{id}: {trade} vs {btc}"
            );
        }

        let markets = ok(&server
            .call("list_markets", json!({"exchange": id, "quote": "USDT"}))
            .await)
        .clone();
        let symbols: Vec<&str> = markets["markets"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["symbol"].as_str())
            .collect();
        assert!(
            symbols.contains(&"BTC/USDT") && symbols.contains(&"ETH/USDT"),
            "{id}: {symbols:?}"
        );
        assert_eq!(
            symbols.contains(&"BNB/USDT"),
            id == "binance",
            "{id}: {symbols:?}"
        );

        let tickers = server
            .call(
                "get_tickers",
                json!({"symbols": ["ETH/USDT", "SOL/USDT", "NOPE/USDT"], "exchange": id}),
            )
            .await;
        let tk = ok(&tickers);
        let served: Vec<&str> = tk["tickers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["symbol"].as_str().unwrap())
            .collect();
        assert_eq!(served, ["ETH/USDT", "SOL/USDT"], "{id}: {tk}");
        for t in tk["tickers"].as_array().unwrap() {
            assert_eq!(t["exchange"], id);
            let quote = sim
                .quote(&t["symbol"].as_str().unwrap().replace('/', ""))
                .unwrap();
            assert!(
                (f(&t["last"]) / quote.last - 1.0).abs() < 1e-9,
                "{id}: {t} vs {quote:?}"
            );
        }
        assert_eq!(tk["errors"][0]["error"]["code"], "invalid_symbol", "{id}");

        // Streaming works on every venue (polled over REST where there is no websocket).
        let streamed = server
            .call(
                "stream_ticker",
                json!({"symbol": "SOL/USDT", "exchange": id, "max_updates": 1, "duration_s": 5}),
            )
            .await;
        let st = ok(&streamed);
        assert_eq!(
            (st["exchange"].as_str(), st["updates"].as_u64()),
            (Some(id), Some(1)),
            "{st}"
        );
        assert_eq!(st["first"]["exchange"], id);

        // A symbol the venue lacks: invalid_symbol with suggestions from its own markets.
        let bad = server
            .call("get_ticker", json!({"symbol": "BTC/USDX", "exchange": id}))
            .await;
        assert_eq!(error_code(&bad), "invalid_symbol", "{id}");
        let message = error_message(&bad);
        assert!(
            message.contains(id) && message.contains("BTC/USDT"),
            "{id}: {message}"
        );
    }
    // The venues' prices differ, slightly.
    let (lo, hi) = lasts
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
    assert!(hi > lo && hi / lo < 1.01, "{lasts:?}");

    // Each venue's own spellings resolve: Kraken's XBT is BTC, OKX's BTC-USDT.
    for (id, spelling) in [
        ("kraken", "XBTUSDT"),
        ("okx", "BTC-USDT"),
        ("coinbase", "btc-usdt"),
    ] {
        let t = server
            .call("get_ticker", json!({"symbol": spelling, "exchange": id}))
            .await;
        assert_eq!(ok(&t)["symbol"], "BTC/USDT", "{id} {spelling}");
    }
    // BNB/USDT is Binance's only: other venues say so with their own markets' suggestions.
    let bnb = server
        .call(
            "get_ticker",
            json!({"symbol": "BNB/USDT", "exchange": "okx"}),
        )
        .await;
    assert_eq!(error_code(&bnb), "invalid_symbol");
}

#[tokio::test]
async fn a_failing_default_fails_over_to_the_next_venue_and_says_so() {
    let venues = Venues::start();
    // Nothing held in memory: every call goes to the venues, so their calls can be counted.
    let server = server(&venues, &[("CACHE_TTL", "0")]).await;
    let binance = venues.sim("binance");
    ok(&server.call("list_markets", json!({})).await);
    binance.set_faults(Faults {
        force_status: Some(503),
        ..Default::default()
    });

    let okx = venues.sim("okx");
    // Until the circuit opens each call tries Binance first (its failure answered before OKX
    // is asked), then costs exactly one OKX ticker call.
    let mut tried_binance = 0;
    for call in 0..6 {
        let (binance_seen, okx_seen) = (binance.requests().len(), okx.requests().len());
        let (answer, quotes) = around(
            okx,
            "BTCUSDT",
            server.call("get_ticker", json!({"symbol": "BTC/USDT"})),
        )
        .await;
        let t = ok(&answer);
        assert_eq!(t["exchange"], "okx");
        assert_eq!(t["failover_from"], "binance");
        assert_eq!(t["stale"], false);
        assert!(quotes.iter().any(|q| f(&t["last"]) == q.last), "{t}");
        let okx_new = &okx.requests()[okx_seen..];
        let tickers: Vec<_> = okx_new
            .iter()
            .filter(|r| r.endpoint == "market/ticker")
            .collect();
        assert_eq!(tickers.len(), 1, "one call to the next venue: {okx_new:?}");
        let binance_new = &binance.requests()[binance_seen..];
        assert!(
            call > 0 || !binance_new.is_empty(),
            "the first call did not try the default"
        );
        if let Some(last) = binance_new.last() {
            tried_binance += 1;
            let failed_at = binance.request_instant(last.answered_us.expect("answered"));
            assert!(
                failed_at <= okx.request_instant(tickers[0].received_us),
                "OKX asked before Binance's failure: {binance_new:?} {tickers:?}"
            );
        }
    }
    eprintln!("Binance tried on {tried_binance} of 6 calls before its circuit opened");
    // Open circuit: Binance is not called at all, and the failover costs one OKX call.
    let binance_calls = binance.total_calls();
    let okx_calls = okx.calls("market/ticker");
    let t = server
        .call("get_ticker", json!({"symbol": "ETH/USDT"}))
        .await;
    assert_eq!(ok(&t)["exchange"], "okx");
    assert_eq!(ok(&t)["failover_from"], "binance");
    assert_eq!(
        binance.total_calls(),
        binance_calls,
        "the open circuit calls nobody"
    );
    assert_eq!(
        okx.calls("market/ticker"),
        okx_calls + 1,
        "one call to the next venue"
    );
    for tool in [
        json!({"name": "get_order_book", "args": {"symbol": "SOL/USDT", "limit": 5}}),
        json!({"name": "get_trades", "args": {"symbol": "SOL/USDT", "limit": 5}}),
        json!({"name": "get_ohlcv", "args": {"symbol": "SOL/USDT", "timeframe": "1h", "limit": 3}}),
    ] {
        let result = server
            .call(tool["name"].as_str().unwrap(), tool["args"].clone())
            .await;
        assert_eq!(ok(&result)["exchange"], "okx", "{tool}");
        assert_eq!(ok(&result)["failover_from"], "binance", "{tool}");
    }
    let tickers = server
        .call("get_tickers", json!({"symbols": ["BTC/USDT", "SOL/USDT"]}))
        .await;
    for t in ok(&tickers)["tickers"].as_array().unwrap() {
        assert_eq!(
            (&t["exchange"], &t["failover_from"]),
            (&json!("okx"), &json!("binance"))
        );
    }

    // Naming the exchange never fails over.
    let named = server
        .call(
            "get_ticker",
            json!({"symbol": "BTC/USDT", "exchange": "binance"}),
        )
        .await;
    assert_eq!(error_code(&named), "exchange_unavailable");
    let error = &named.structured_content.as_ref().unwrap()["error"];
    assert_eq!(error["retryable"], true);
    assert!(error["retry_after_ms"].as_u64().is_some(), "{error}");

    // exchange_status: Binance's circuit is open, with its last error; OKX is healthy.
    let status = ok(&server.call("exchange_status", json!({})).await).clone();
    let by_id = |id: &str| {
        status["exchanges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["id"] == id)
            .cloned()
            .unwrap()
    };
    let (b, o) = (by_id("binance"), by_id("okx"));
    assert_eq!(b["circuit"], "open", "{b}");
    assert_eq!(b["last_error"]["code"], "exchange_unavailable", "{b}");
    assert!(b["errors_1m"].as_u64().unwrap() >= 5, "{b}");
    assert_eq!(o["circuit"], "closed", "{o}");
    assert_eq!(
        (o["errors_1m"].as_u64(), o["last_error"].is_null()),
        (Some(0), true),
        "{o}"
    );
    assert!(
        o["calls_1m"].as_u64().unwrap() >= 2 && o["markets"].as_u64().unwrap() >= 3,
        "{o}"
    );
    assert_eq!(status["exchanges"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn without_failover_the_default_venues_error_is_the_answer() {
    let venues = Venues::start();
    let server = server(&venues, &[("FAILOVER", "false")]).await;
    venues.sim("binance").set_faults(Faults {
        force_status: Some(503),
        ..Default::default()
    });
    let answer = server
        .call("get_ticker", json!({"symbol": "BTC/USDT"}))
        .await;
    assert_eq!(error_code(&answer), "exchange_unavailable");
    assert_eq!(venues.sim("okx").total_calls(), 0, "OKX was never asked");
}

#[tokio::test]
async fn compare_prices_quotes_all_five_and_a_slow_venue_costs_only_its_timeout() {
    let venues = Venues::start();
    let server = server(&venues, &[("EXCHANGE_TIMEOUT", "2")]).await;
    let before: Vec<Quote> = Venue::ALL
        .iter()
        .map(|v| venues.sim(v.id()).quote("BTCUSDT").unwrap())
        .collect();
    let compared = server
        .call("compare_prices", json!({"symbol": "btc/usdt"}))
        .await;
    let after: Vec<Quote> = Venue::ALL
        .iter()
        .map(|v| venues.sim(v.id()).quote("BTCUSDT").unwrap())
        .collect();
    let c = ok(&compared).clone();
    assert_eq!(c["symbol"], "BTC/USDT");
    assert_eq!(c["errors"], json!([]));
    let quotes = c["quotes"].as_array().unwrap();
    let ids: Vec<&str> = quotes
        .iter()
        .map(|q| q["exchange"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["binance", "okx", "bybit", "kraken", "coinbase"]);
    // Each quote is the venue's own, from one moment's prices.
    let expected = if quotes
        .iter()
        .zip(&before)
        .all(|(q, e)| f(&q["bid"]) == e.bid && f(&q["ask"]) == e.ask && f(&q["last"]) == e.last)
    {
        before
    } else {
        after
    };
    for (q, e) in quotes.iter().zip(&expected) {
        assert_eq!(
            (f(&q["bid"]), f(&q["ask"]), f(&q["last"])),
            (e.bid, e.ask, e.last),
            "{q}"
        );
        assert_eq!(q["source"], "exchange");
    }
    let (best_bid_at, best_bid) = expected
        .iter()
        .enumerate()
        .map(|(i, q)| (i, q.bid))
        .fold((0, f64::MIN), |b, x| if x.1 > b.1 { x } else { b });
    let (best_ask_at, best_ask) = expected
        .iter()
        .enumerate()
        .map(|(i, q)| (i, q.ask))
        .fold((0, f64::MAX), |b, x| if x.1 < b.1 { x } else { b });
    assert_eq!(
        c["best_bid"],
        json!({"exchange": ids[best_bid_at], "price": best_bid})
    );
    assert_eq!(
        c["best_ask"],
        json!({"exchange": ids[best_ask_at], "price": best_ask})
    );
    let spread = (best_ask - best_bid) / ((best_ask + best_bid) / 2.0) * 10_000.0;
    assert!((f(&c["spread_bps"]) - spread).abs() < 1e-9, "{c}");

    // A second compare is served from memory on every venue.
    let again = server
        .call("compare_prices", json!({"symbol": "BTC/USDT"}))
        .await;
    for q in ok(&again)["quotes"].as_array().unwrap() {
        assert_eq!(q["source"], "cache", "{q}");
    }

    // Kraken answering in 5 s with a 2 s timeout: the others answer, Kraken is an error, and
    // the whole call takes about the timeout, not 5 s.
    venues.sim("kraken").set_faults(Faults {
        latency_ms: 5_000,
        ..Default::default()
    });
    let started = Instant::now();
    let slow = server
        .call("compare_prices", json!({"symbol": "ETH/USDT"}))
        .await;
    let took = started.elapsed();
    let s = ok(&slow);
    assert_eq!(s["quotes"].as_array().unwrap().len(), 4, "{s}");
    assert_eq!(s["errors"][0]["exchange"], "kraken", "{s}");
    assert_eq!(s["errors"][0]["error"]["code"], "timeout", "{s}");
    assert!(
        took >= Duration::from_millis(1_900) && took < Duration::from_millis(3_500),
        "{took:?}"
    );

    // Only the venues asked for; a venue that lacks the symbol is an error entry.
    let named = server
        .call(
            "compare_prices",
            json!({"symbol": "BNB/USDT", "exchanges": ["binance", "okx"]}),
        )
        .await;
    let n = ok(&named);
    assert_eq!(n["quotes"].as_array().unwrap().len(), 1);
    assert_eq!(n["errors"][0]["exchange"], "okx");
    assert_eq!(n["errors"][0]["error"]["code"], "invalid_symbol");
    let bad = server
        .call(
            "compare_prices",
            json!({"symbol": "BTC/USDT", "exchanges": []}),
        )
        .await;
    assert_eq!(error_code(&bad), "invalid_argument");
}
