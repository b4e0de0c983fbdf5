//! Derivatives (SPEC.md 4.1, issue 22) through the real binary against the simulator: the
//! funding rate, its history, open interest and compare_funding of each venue equal what that
//! venue's simulator serves; every spelling of a perpetual resolves; a bare pair is spot for
//! section 4's tools and the perpetual for the derivative ones; no futures request before the
//! first derivative call and none again within the TTL; failover of get_funding_rate;
//! list_markets type=swap paging.

mod common;

use common::{error_code, ok, start_server};
use crypto_market_sim::{rest_urls, ContractQuote, Faults, SimConfig, SimHandle, Simulator};
use serde_json::{json, Value};

/// The venues with perpetuals in this build's simulator.
const DERIVATIVE_VENUES: [&str; 3] = ["binance", "okx", "bybit"];

/// One simulator per venue, prices frozen (a walk step of an hour) so values compare exactly.
struct Venues {
    sims: Vec<SimHandle>,
}

impl Venues {
    fn start() -> Self {
        Self::start_with(3_600_000)
    }

    fn start_with(tick_ms: u64) -> Self {
        let sims = Simulator::start_venues(SimConfig {
            tick_ms,
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

    /// The venue's id of its BTC (or `base`) USDT perpetual.
    fn perpetual_id(&self, venue: &str, base: &str) -> String {
        match venue {
            "okx" => format!("{base}-USDT-SWAP"),
            _ => format!("{base}USDT"),
        }
    }

    /// Venues whose simulator lists perpetuals.
    fn with_derivatives(&self) -> Vec<&'static str> {
        DERIVATIVE_VENUES
            .into_iter()
            .filter(|v| !self.sim(v).contract_ids().is_empty())
            .collect()
    }
}

async fn server(venues: &Venues, extra: &[(&str, &str)]) -> common::McpServer {
    let env = [
        ("EXCHANGES", "binance,okx,bybit,kraken,coinbase".to_owned()),
        ("EXCHANGE_REST_URLS", rest_urls(&venues.sims[1..])),
    ];
    let mut all: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    all.extend_from_slice(extra);
    start_server(venues.sim("binance"), &all).await
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// What contract `id` shows before and after `call`: with an hour-long walk step at most one
/// step boundary falls inside, so the answer equals one of them.
async fn around<T>(
    sim: &SimHandle,
    id: &str,
    call: impl std::future::Future<Output = T>,
) -> (T, [ContractQuote; 2]) {
    let before = sim.contract(id).expect("listed contract");
    let out = call.await;
    let after = sim.contract(id).expect("listed contract");
    (out, [before, after])
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("a number, got {v}"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn funding_matches(got: &Value, want: &ContractQuote) -> bool {
    close(f(&got["funding_rate"]), want.funding_rate)
        && close(f(&got["mark_price"]), want.mark)
        && got["next_funding_ms"].as_u64() == Some(want.next_funding_ms)
        && close(f(&got["interval_hours"]), want.interval_hours as f64)
}

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
        let matches = |q: &ContractQuote| {
            close(f(&got["open_interest_base"]), q.open_interest_base)
                && close(
                    f(&got["open_interest"]),
                    q.open_interest_base / q.contract_size,
                )
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

async fn server_with_types(venues: &Venues, types: &str) -> common::McpServer {
    server(venues, &[("MARKET_TYPES", types)]).await
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
    ok(&server
        .call("get_open_interest", json!({"symbol": "BTCUSDT"}))
        .await);
    ok(&server
        .call("get_open_interest", json!({"symbol": "BTCUSDT.P"}))
        .await);
    assert_eq!(
        sim.calls("fapi/v1/premiumIndex"),
        1,
        "a second call within the TTL"
    );
    assert_eq!(sim.calls("fapi/v1/openInterest"), 1);
    assert_eq!(
        sim.derivative_calls(),
        after_first + 1,
        "only the first open interest call reached the exchange"
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
    let calls = sim.calls("fapi/v1/premiumIndex");
    assert_eq!(calls, 1);
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
