//! Derivatives (SPEC.md 4.1, issue 22) through the real binary against the simulator: the
//! funding rate, its history, open interest and compare_funding of each venue equal what that
//! venue's simulator serves; every spelling of a perpetual resolves; a bare pair is spot for
//! section 4's tools and the perpetual for the derivative ones; no futures request before the
//! first derivative call and none again within the TTL; failover of get_funding_rate;
//! list_markets type=swap paging.

mod common;

use common::derivs::{
    around, close, f, funding_matches, now_ms, server, server_with_types, Venues,
};
use common::{error_code, ok};
use crypto_market_sim::{ContractQuote, Faults};
use serde_json::json;

/// get_funding_rate on each venue equals that venue's simulator: rate, mark, next settlement,
/// interval; index where the venue gives it.
#[tokio::test]
async fn funding_rate_of_each_venue_equals_the_simulators() {
    let venues = Venues::start();
    let server = server(&venues, &[]).await;
    let listed = venues.with_derivatives();
    assert!(listed.contains(&"binance"), "{listed:?}");
    for venue in listed {
        let id = venues.perpetual_id(venue, "BTC");
        let (result, [before, after]) = around(
            venues.sim(venue),
            &id,
            server.call(
                "get_funding_rate",
                json!({"symbol": "BTC/USDT:USDT", "exchange": venue}),
            ),
        )
        .await;
        let got = ok(&result);
        assert_eq!(got["exchange"], venue);
        assert_eq!(got["symbol"], "BTC/USDT:USDT");
        assert_eq!(got["source"], "exchange");
        assert_eq!(got["stale"], false);
        assert!(
            funding_matches(got, &before) || funding_matches(got, &after),
            "{venue}: {got} vs {before:?}"
        );
        if !got["index_price"].is_null() {
            let index = f(&got["index_price"]);
            assert!(
                close(index, before.index) || close(index, after.index),
                "{venue}: {got}"
            );
        }
        assert_ne!(
            f(&got["mark_price"]),
            before.last,
            "{venue}: mark is not last"
        );
    }
}

/// get_open_interest on each venue equals that venue's simulator, in contracts and in base.
#[tokio::test]
async fn open_interest_of_each_venue_equals_the_simulators() {
    let venues = Venues::start();
    let server = server(&venues, &[]).await;
    for venue in venues.with_derivatives() {
        let id = venues.perpetual_id(venue, "ETH");
        let (result, quotes) = around(
            venues.sim(venue),
            &id,
            server.call(
                "get_open_interest",
                json!({"symbol": "ETH/USDT:USDT", "exchange": venue}),
            ),
        )
        .await;
        let got = ok(&result);
        assert_eq!(got["symbol"], "ETH/USDT:USDT");
        // The quote value: as the venue states it (OKX), else the base at the mark.
        let matches = |q: &ContractQuote| {
            close(f(&got["open_interest_base"]), q.open_interest_base)
                && close(
                    f(&got["open_interest"]),
                    q.open_interest_base / q.contract_size,
                )
                && (f(&got["open_interest_value"]) - q.open_interest_base * q.mark).abs()
                    <= 1e-6 * q.open_interest_base * q.mark
        };
        assert!(quotes.iter().any(matches), "{venue}: {got} vs {quotes:?}");
    }
}

/// get_funding_history on each venue equals the simulator's settled rates, oldest first.
#[tokio::test]
async fn funding_history_of_each_venue_equals_the_simulators() {
    let venues = Venues::start();
    let server = server(&venues, &[]).await;
    let since = now_ms() - 3 * 24 * 3_600_000;
    for venue in venues.with_derivatives() {
        let id = venues.perpetual_id(venue, "BTC");
        let result = server
            .call(
                "get_funding_history",
                json!({"symbol": "BTCUSDT", "exchange": venue, "since": since, "limit": 50}),
            )
            .await;
        let got = ok(&result);
        assert_eq!(got["symbol"], "BTC/USDT:USDT");
        let want = venues.sim(venue).funding_history(&id, since, now_ms());
        let rates: Vec<(u64, f64)> = got["rates"]
            .as_array()
            .expect("rates")
            .iter()
            .map(|r| (r["timestamp"].as_u64().expect("ms"), f(&r["funding_rate"])))
            .collect();
        assert_eq!(rates.len(), want.len(), "{venue}: {rates:?} vs {want:?}");
        assert!(want.len() >= 9, "three days of 8 h settlements: {want:?}");
        for (got, want) in rates.iter().zip(&want) {
            assert_eq!(got.0, want.0, "{venue}");
            assert!(close(got.1, want.1), "{venue}: {got:?} vs {want:?}");
        }
        // Longer than one call of the venue (OKX 100, Bybit 200): asked page after page.
        let long_since = now_ms() - 120 * 24 * 3_600_000;
        let result = server
            .call(
                "get_funding_history",
                json!({"symbol": "BTCUSDT", "exchange": venue, "since": long_since, "limit": 250}),
            )
            .await;
        let got = ok(&result);
        let want = venues.sim(venue).funding_history(&id, long_since, now_ms());
        let times: Vec<u64> = got["rates"]
            .as_array()
            .expect("rates")
            .iter()
            .map(|r| r["timestamp"].as_u64().expect("ms"))
            .collect();
        let want: Vec<u64> = want.iter().take(250).map(|w| w.0).collect();
        assert_eq!(times.len(), 250, "{venue}");
        assert_eq!(times, want, "{venue}");
        // Without since: the most recent 250 up to `until`, paged backwards.
        let until = now_ms() - 10 * 24 * 3_600_000;
        let result = server
            .call(
                "get_funding_history",
                json!({"symbol": "BTCUSDT", "exchange": venue, "until": until, "limit": 250}),
            )
            .await;
        let times: Vec<u64> = ok(&result)["rates"]
            .as_array()
            .expect("rates")
            .iter()
            .map(|r| r["timestamp"].as_u64().expect("ms"))
            .collect();
        let all = venues
            .sim(venue)
            .funding_history(&id, until - 200 * 24 * 3_600_000, until);
        let want: Vec<u64> = all[all.len() - 250..].iter().map(|w| w.0).collect();
        assert_eq!(times, want, "{venue}");
    }
}

/// Every spelling of a perpetual names the same market (SPEC.md 4.1), for the derivative tools
/// and for section 4's; OKX's own id on OKX.
#[tokio::test]
async fn every_spelling_of_a_perpetual_resolves() {
    let venues = Venues::start();
    let server = server(&venues, &[]).await;
    let mut spellings = vec![
        ("binance", "BTC/USDT:USDT"),
        ("binance", "btc/usdt:usdt"),
        ("binance", "btc-usdt:usdt"),
        ("binance", "BTCUSDT.P"),
        ("binance", "BTCUSDT-PERP"),
        ("binance", "BTC_USDT_PERP"),
        ("binance", "BTCUSDT"),
    ];
    let listed = venues.with_derivatives();
    if listed.contains(&"okx") {
        spellings.extend([("okx", "BTC-USDT-SWAP"), ("okx", "BTCUSDT.P")]);
    }
    if listed.contains(&"bybit") {
        spellings.extend([("bybit", "BTCUSDT-PERP"), ("bybit", "BTC/USDT:USDT")]);
    }
    for (venue, spelling) in spellings {
        let result = server
            .call(
                "get_funding_rate",
                json!({"symbol": spelling, "exchange": venue}),
            )
            .await;
        assert_eq!(ok(&result)["symbol"], "BTC/USDT:USDT", "{venue} {spelling}");
        if spelling != "BTCUSDT" {
            // Section 4's tools take the perpetual's spellings too.
            let result = server
                .call("get_ticker", json!({"symbol": spelling, "exchange": venue}))
                .await;
            assert_eq!(ok(&result)["symbol"], "BTC/USDT:USDT", "{venue} {spelling}");
        }
    }
    // A dated future by its unified symbol, once futures are a loaded type.
    let sim = venues.sim("binance");
    let dated = sim
        .contract_ids()
        .into_iter()
        .find(|id| id.starts_with("BTCUSDT_"))
        .expect("a dated BTC future on the Binance simulator");
    let expiry = dated.trim_start_matches("BTCUSDT_").to_owned();
    let with_futures = server_with_types(&venues, "spot,swap,future").await;
    let result = with_futures
        .call(
            "get_open_interest",
            json!({"symbol": format!("BTC/USDT:USDT-{expiry}")}),
        )
        .await;
    assert_eq!(ok(&result)["symbol"], format!("BTC/USDT:USDT-{expiry}"));
    // Dated futures are listed where the venue has them, with their expiry.
    let futures = with_futures
        .call("list_markets", json!({"type": "future", "query": "BTC"}))
        .await;
    let listed = ok(&futures)["markets"].as_array().expect("markets").clone();
    let want = sim.contract(&dated).expect("listed").expiry_ms;
    assert!(
        listed
            .iter()
            .any(|m| m["symbol"] == format!("BTC/USDT:USDT-{expiry}")
                && m["expiry"].as_u64() == want
                && m["type"] == "future"),
        "{listed:?}"
    );
    // An unknown perpetual is invalid_symbol with perpetuals as suggestions.
    let result = server
        .call("get_funding_rate", json!({"symbol": "BTCUSDX.P"}))
        .await;
    assert_eq!(error_code(&result), "invalid_symbol");
    assert!(
        common::error_message(&result).contains("BTC/USDT:USDT"),
        "{}",
        common::error_message(&result)
    );
}

/// A bare pair is spot for get_ticker and the perpetual for get_funding_rate; the perpetual's
/// ticker carries mark and index, the spot one does not.
#[tokio::test]
async fn a_bare_pair_is_spot_for_get_ticker_and_the_perpetual_for_get_funding_rate() {
    let venues = Venues::start();
    let server = server(&venues, &[]).await;
    for bare in ["BTCUSDT", "BTC/USDT", "btc-usdt"] {
        let ticker = server.call("get_ticker", json!({"symbol": bare})).await;
        let ticker = ok(&ticker);
        assert_eq!(ticker["symbol"], "BTC/USDT", "{bare}");
        assert!(
            ticker.get("mark_price").is_none(),
            "spot has no mark: {ticker}"
        );
        let funding = server
            .call("get_funding_rate", json!({"symbol": bare}))
            .await;
        assert_eq!(ok(&funding)["symbol"], "BTC/USDT:USDT", "{bare}");
    }
    let sim = venues.sim("binance");
    let (result, [before, after]) = around(
        sim,
        "BTCUSDT",
        server.call("get_ticker", json!({"symbol": "BTC/USDT:USDT"})),
    )
    .await;
    let perp = ok(&result);
    let mark = f(&perp["mark_price"]);
    let index = f(&perp["index_price"]);
    assert!(
        close(mark, before.mark) || close(mark, after.mark),
        "{perp}"
    );
    assert!(
        close(index, before.index) || close(index, after.index),
        "{perp}"
    );
    let last = f(&perp["last"]);
    assert!(
        close(last, before.last) || close(last, after.last),
        "{perp}"
    );
    // Kraken has no derivatives: the derivative tools say unsupported.
    let result = server
        .call(
            "get_funding_rate",
            json!({"symbol": "BTCUSDT", "exchange": "kraken"}),
        )
        .await;
    assert_eq!(error_code(&result), "unsupported");
}

/// compare_funding: one rate per venue, each annualized by its own interval (BTC settles
/// every 8 h, SOL every 4 h), the highest, the lowest and their spread.
#[tokio::test]
async fn compare_funding_gives_the_extremes_and_annualizes_8h_and_4h_contracts() {
    let venues = Venues::start();
    let server = server(&venues, &[]).await;
    for (base, hours) in [("BTC", 8.0), ("SOL", 4.0)] {
        let result = server
            .call("compare_funding", json!({"symbol": format!("{base}USDT")}))
            .await;
        let got = ok(&result);
        assert_eq!(got["symbol"], format!("{base}/USDT:USDT"));
        let rates = got["rates"].as_array().expect("rates");
        let listed = venues.with_derivatives();
        assert_eq!(rates.len(), listed.len(), "{got}");
        let mut seen = Vec::new();
        for rate in rates {
            let venue = rate["exchange"].as_str().expect("exchange");
            let want = venues
                .sim(venue)
                .contract(&venues.perpetual_id(venue, base))
                .expect("listed");
            assert_eq!(want.interval_hours as f64, hours);
            assert!(close(f(&rate["interval_hours"]), hours), "{rate}");
            let r = f(&rate["funding_rate"]);
            assert!(
                close(f(&rate["annualized"]), r * (24.0 / hours) * 365.0),
                "{rate}"
            );
            seen.push((venue.to_owned(), r));
        }
        let max = seen
            .iter()
            .cloned()
            .fold(None::<(String, f64)>, |m, x| match m {
                Some(m) if m.1 >= x.1 => Some(m),
                _ => Some(x),
            });
        let min = seen
            .iter()
            .cloned()
            .fold(None::<(String, f64)>, |m, x| match m {
                Some(m) if m.1 <= x.1 => Some(m),
                _ => Some(x),
            });
        let (max, min) = (max.expect("a rate"), min.expect("a rate"));
        assert_eq!(got["highest"]["exchange"], max.0.as_str(), "{got}");
        assert_eq!(got["lowest"]["exchange"], min.0.as_str(), "{got}");
        assert!(close(f(&got["highest"]["funding_rate"]), max.1));
        assert!(close(f(&got["spread"]), max.1 - min.1), "{got}");
        assert_eq!(got["errors"], json!([]), "kraken and coinbase are left out");
    }
}

/// A spot-only user makes no futures request (markets of derivatives load on first use); the
/// first derivative call does; a second one within the TTL makes none.
#[tokio::test]
async fn no_futures_request_before_the_first_derivative_call_and_none_again_within_the_ttl() {
    let venues = Venues::start();
    let server = server(&venues, &[("CACHE_TTL", "60")]).await;
    let sim = venues.sim("binance");
    for (tool, args) in [
        ("get_ticker", json!({"symbol": "BTCUSDT"})),
        ("get_tickers", json!({"symbols": ["BTCUSDT", "ETH/USDT"]})),
        ("get_ohlcv", json!({"symbol": "BTC/USDT", "limit": 5})),
        ("get_order_book", json!({"symbol": "BTC/USDT"})),
        ("list_markets", json!({"query": "BTC"})),
        ("compare_prices", json!({"symbol": "BTC/USDT"})),
    ] {
        ok(&server.call(tool, args).await);
    }
    for venue in &venues.sims {
        assert_eq!(
            venue.derivative_calls(),
            0,
            "{}: no futures request from spot tools",
            venue.venue().id()
        );
    }
    ok(&server
        .call("get_funding_rate", json!({"symbol": "BTCUSDT"}))
        .await);
    let after_first = sim.derivative_calls();
    assert!(after_first > 0, "the first derivative call loads and asks");
    assert_eq!(sim.calls("fapi/v1/premiumIndex"), 1);
    let second = server
        .call("get_funding_rate", json!({"symbol": "BTC/USDT:USDT"}))
        .await;
    assert_eq!(ok(&second)["source"], "cache");
    assert_eq!(
        sim.derivative_calls(),
        after_first,
        "a second call within the TTL makes none"
    );
    // Open interest: one call (with the mark its quote value needs), then none within the TTL.
    ok(&server
        .call("get_open_interest", json!({"symbol": "BTCUSDT"}))
        .await);
    let after_interest = sim.derivative_calls();
    assert_eq!(sim.calls("fapi/v1/openInterest"), 1);
    let again = server
        .call("get_open_interest", json!({"symbol": "BTCUSDT.P"}))
        .await;
    assert_eq!(ok(&again)["source"], "cache");
    assert_eq!(sim.calls("fapi/v1/openInterest"), 1);
    assert_eq!(
        sim.derivative_calls(),
        after_interest,
        "a second call within the TTL makes none"
    );
}

/// list_markets type=swap pages through every perpetual once, with the contract fields.
#[tokio::test]
async fn list_markets_type_swap_pages_through_every_perpetual() {
    let venues = Venues::start();
    let server = server(&venues, &[]).await;
    let sim = venues.sim("binance");
    let perpetuals: std::collections::BTreeSet<String> = sim
        .contract_ids()
        .into_iter()
        .filter(|id| sim.contract(id).is_some_and(|c| c.perpetual))
        .collect();
    assert!(perpetuals.len() >= 3, "{perpetuals:?}");
    let (mut seen, mut offset, mut pages) = (Vec::new(), 0u64, 0);
    loop {
        let result = server
            .call(
                "list_markets",
                json!({"type": "swap", "limit": 2, "offset": offset}),
            )
            .await;
        let page = ok(&result);
        assert_eq!(page["total"].as_u64(), Some(perpetuals.len() as u64));
        for market in page["markets"].as_array().expect("markets") {
            assert_eq!(market["type"], "swap", "{market}");
            assert_eq!(market["settle"], "USDT", "{market}");
            assert_eq!(market["linear"], true, "{market}");
            assert!(close(f(&market["contract_size"]), 1.0), "{market}");
            assert!(f(&market["tick_size"]) > 0.0, "{market}");
            assert!(market["expiry"].is_null(), "{market}");
            seen.push(market["symbol"].as_str().expect("symbol").to_owned());
        }
        pages += 1;
        match page["next_offset"].as_u64() {
            Some(next) => offset = next,
            None => break,
        }
    }
    assert_eq!(pages, perpetuals.len().div_ceil(2));
    let unique: std::collections::BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "each perpetual once: {seen:?}");
    assert_eq!(seen.len(), perpetuals.len());
    assert!(seen.contains(&"BTC/USDT:USDT".to_owned()));
    // The default type is still spot.
    let spot = server.call("list_markets", json!({"query": "BTC"})).await;
    assert!(ok(&spot)["markets"]
        .as_array()
        .expect("markets")
        .iter()
        .all(|m| m["type"] == "spot"));
}

/// Binance's futures failing, get_funding_rate (no exchange named) is served by OKX and says
/// so; naming Binance gets Binance's error.
#[tokio::test]
async fn get_funding_rate_fails_over_from_binance_to_okx() {
    let venues = Venues::start();
    if !venues.with_derivatives().contains(&"okx") {
        eprintln!("the OKX simulator serves no perpetuals yet");
        return;
    }
    let server = server(&venues, &[]).await;
    venues.sim("binance").set_faults(Faults {
        force_status: Some(503),
        endpoints: Some(vec!["fapi/v1/premiumIndex".into()]),
        ..Default::default()
    });
    let result = server
        .call("get_funding_rate", json!({"symbol": "BTCUSDT"}))
        .await;
    let got = ok(&result);
    assert_eq!(got["exchange"], "okx", "{got}");
    assert_eq!(got["failover_from"], "binance");
    assert_eq!(got["symbol"], "BTC/USDT:USDT");
    let named = server
        .call(
            "get_funding_rate",
            json!({"symbol": "BTCUSDT", "exchange": "binance"}),
        )
        .await;
    assert_eq!(error_code(&named), "exchange_unavailable");
}

/// get_ohlcv price=mark|index of a perpetual are the venue's mark and index klines (read from
/// the simulator's own answer); on spot they are unsupported.
#[tokio::test]
async fn mark_and_index_candles_of_a_perpetual() {
    let venues = Venues::start();
    let server = server(&venues, &[]).await;
    let sim = venues.sim("binance");
    for (price, endpoint) in [
        ("mark", "fapi/v1/markPriceKlines"),
        ("index", "fapi/v1/indexPriceKlines"),
    ] {
        let result = server
            .call(
                "get_ohlcv",
                json!({"symbol": "BTCUSDT.P", "price": price, "limit": 5, "timeframe": "1h"}),
            )
            .await;
        let got = ok(&result);
        assert_eq!(got["symbol"], "BTC/USDT:USDT");
        let raw = sim
            .last_response(endpoint, Some("BTCUSDT"))
            .or_else(|| sim.last_response(endpoint, None))
            .unwrap_or_else(|| panic!("the simulator answered {endpoint}"));
        let want: Vec<(u64, f64)> = raw
            .as_array()
            .expect("klines")
            .iter()
            .map(|k| {
                let close: f64 = k[4].as_str().expect("close").parse().expect("number");
                (k[0].as_u64().expect("open time"), close)
            })
            .collect();
        let candles: Vec<(u64, f64)> = got["candles"]
            .as_array()
            .expect("candles")
            .iter()
            .map(|c| (c[0].as_u64().expect("ts"), f(&c[4])))
            .collect();
        assert_eq!(candles.len(), 5);
        assert_eq!(candles, want, "{price}");
    }
    let trade = server
        .call("get_ohlcv", json!({"symbol": "BTCUSDT.P", "limit": 5}))
        .await;
    let trade_closes: Vec<f64> = ok(&trade)["candles"]
        .as_array()
        .expect("candles")
        .iter()
        .map(|c| f(&c[4]))
        .collect();
    assert_eq!(trade_closes.len(), 5);
    let spot = server
        .call("get_ohlcv", json!({"symbol": "BTCUSDT", "price": "mark"}))
        .await;
    assert_eq!(error_code(&spot), "unsupported");
    let bad = server
        .call("get_ohlcv", json!({"symbol": "BTCUSDT.P", "price": "last"}))
        .await;
    assert_eq!(error_code(&bad), "invalid_argument");
}

/// Section 4's tools on a perpetual: the book and trades are the contract's (Binance's read
/// from the simulator's own `fapi` answer), `get_tickers` takes perpetuals and spot pairs
/// together, and every venue with perpetuals answers each tool for `BTC/USDT:USDT`.
#[tokio::test]
async fn section_4_tools_work_on_a_perpetual() {
    let venues = Venues::start();
    let server = server(&venues, &[]).await;
    let sim = venues.sim("binance");
    let book = server
        .call(
            "get_order_book",
            json!({"symbol": "BTCUSDT.P", "limit": 5, "exchange": "binance"}),
        )
        .await;
    let book = ok(&book);
    assert_eq!(book["symbol"], "BTC/USDT:USDT");
    let raw = sim
        .last_response("fapi/v1/depth", Some("BTCUSDT"))
        .expect("the simulator answered fapi/v1/depth");
    let best_bid: f64 = raw["bids"][0][0]
        .as_str()
        .expect("price")
        .parse()
        .expect("number");
    assert!(close(f(&book["bids"][0][0]), best_bid), "{book} vs {raw}");
    assert_eq!(sim.calls("depth"), 0, "not the spot book");
    let trades = server
        .call(
            "get_trades",
            json!({"symbol": "BTCUSDT.P", "limit": 5, "exchange": "binance"}),
        )
        .await;
    let trades = ok(&trades);
    assert_eq!(
        trades["trades"].as_array().map(Vec::len),
        Some(5),
        "{trades}"
    );
    let tickers = server
        .call(
            "get_tickers",
            json!({"symbols": ["BTC/USDT", "BTCUSDT.P", "ETH/USDT:USDT"], "exchange": "binance"}),
        )
        .await;
    let tickers = ok(&tickers);
    let symbols: Vec<&str> = tickers["tickers"]
        .as_array()
        .expect("tickers")
        .iter()
        .map(|t| t["symbol"].as_str().expect("symbol"))
        .collect();
    assert_eq!(
        symbols,
        ["BTC/USDT", "BTC/USDT:USDT", "ETH/USDT:USDT"],
        "{tickers}"
    );
    for t in &tickers["tickers"].as_array().expect("tickers")[1..] {
        assert!(t["mark_price"].is_number(), "{t}");
    }
    for venue in venues.with_derivatives() {
        for (tool, args) in [
            ("get_ticker", json!({})),
            ("get_order_book", json!({"limit": 5})),
            ("get_trades", json!({"limit": 5})),
            ("get_ohlcv", json!({"limit": 3})),
        ] {
            let mut args = args;
            args["symbol"] = json!("BTC/USDT:USDT");
            args["exchange"] = json!(venue);
            let result = server.call(tool, args).await;
            assert_eq!(ok(&result)["symbol"], "BTC/USDT:USDT", "{venue} {tool}");
        }
    }
}

/// `MARKET_TYPES=swap`: no spot market list is loaded at all, and a bare pair names the
/// perpetual for every tool.
#[tokio::test]
async fn market_types_without_spot_load_no_spot_markets() {
    let venues = Venues::start();
    let server = server_with_types(&venues, "swap").await;
    let sim = venues.sim("binance");
    let ticker = server
        .call(
            "get_ticker",
            json!({"symbol": "BTCUSDT", "exchange": "binance"}),
        )
        .await;
    let ticker = ok(&ticker);
    assert_eq!(ticker["symbol"], "BTC/USDT:USDT", "{ticker}");
    assert!(ticker["mark_price"].is_number(), "{ticker}");
    assert_eq!(sim.calls("exchangeInfo"), 0, "no spot market list");
    assert_eq!(sim.calls("fapi/v1/exchangeInfo"), 1);
    let spot = server
        .call(
            "list_markets",
            json!({"type": "any", "exchange": "binance"}),
        )
        .await;
    assert!(ok(&spot)["markets"]
        .as_array()
        .expect("markets")
        .iter()
        .all(|m| m["type"] == "swap"));
}
