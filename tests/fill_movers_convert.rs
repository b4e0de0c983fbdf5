//! `estimate_fill`, `top_movers` and `convert` (SPEC.md 4.2, issue 24) through the real binary
//! against the simulator (prices frozen): a fill equals walking each venue's true book by hand,
//! with that venue's taker fee, across two venues, the depth grown when the first fetch is too
//! thin and `complete: false` past the venue's deepest book; the movers' order equals ranking
//! the simulator's own all-tickers reply, from ONE call weighing 80 on Binance, cached; a
//! conversion equals the mids of its path, direct and through an intermediate.

mod common;

use common::derivs::{close, f, server, Venues};
use common::{error_code, error_message, ok};
use crypto_market_sim::{SimConfig, Simulator, TrueBook};
use serde_json::{json, Value};

/// What walking `levels` for `amount` base gives, computed here apart from the server's walk:
/// (filled amount, notional, worst price, levels used, complete).
fn by_hand(levels: &[[f64; 2]], amount: f64) -> (f64, f64, f64, usize, bool) {
    let (mut filled, mut notional, mut worst, mut used) = (0.0, 0.0, 0.0, 0);
    for [price, size] in levels {
        if filled >= amount {
            break;
        }
        let take = size.min(amount - filled);
        filled += take;
        notional += take * price;
        worst = *price;
        used += 1;
    }
    (filled, notional, worst, used, filled >= amount)
}

/// The amount of the first `levels` asks together, a little less so the fill ends inside the
/// last one.
fn size_of(book: &TrueBook, levels: usize) -> f64 {
    let total: f64 = book.asks[..levels].iter().map(|l| l[1]).sum();
    total - book.asks[levels - 1][1] / 2.0
}

/// The market's taker fee as `list_markets` reports it from the venue's market data.
async fn taker_fee(server: &common::McpServer, exchange: &str, symbol: &str) -> f64 {
    let listed = server
        .call(
            "list_markets",
            json!({"exchange": exchange, "query": symbol, "limit": 500}),
        )
        .await;
    let markets = ok(&listed)["markets"].as_array().expect("markets").clone();
    let market = markets
        .iter()
        .find(|m| m["symbol"] == symbol)
        .unwrap_or_else(|| panic!("{symbol} on {exchange}: {markets:?}"));
    f(&market["taker_fee"])
}

fn venue<'a>(result: &'a Value, exchange: &str) -> &'a Value {
    result["venues"]
        .as_array()
        .expect("venues")
        .iter()
        .find(|v| v["exchange"] == exchange)
        .unwrap_or_else(|| panic!("{exchange} in {result}"))
}

/// A buy of ~150 levels' worth on Binance and OKX: each venue's average and worst price,
/// levels, mid, slippage and cost with its own taker fee equal walking its book by hand; the
/// first 100-level fetch was too thin, so the book was fetched again deeper (500 on Binance);
/// the best is the cheaper one.
#[tokio::test]
async fn a_fill_across_two_venues_equals_walking_their_books_by_hand() {
    let venues = Venues::start();
    let server = server(&venues, &[]).await;
    let binance = venues.sim("binance");
    let amount = size_of(&binance.book("BTCUSDT", 1000).expect("listed"), 150);
    let result = server
        .call(
            "estimate_fill",
            json!({"symbol": "btcusdt", "side": "buy", "amount": amount,
                   "exchanges": ["binance", "okx"]}),
        )
        .await;
    let got = ok(&result).clone();
    assert_eq!(got["symbol"], "BTC/USDT");
    assert_eq!(got["side"], "buy");
    assert_eq!(got["errors"], json!([]));
    let mut costs = Vec::new();
    for exchange in ["binance", "okx"] {
        let book = venues.sim(exchange).book("BTCUSDT", 1000).expect("listed");
        let (filled, notional, worst, used, complete) = by_hand(&book.asks, amount);
        assert!(complete && used > 100, "{exchange}: {used} levels");
        let fee = taker_fee(&server, exchange, "BTC/USDT").await;
        assert!(fee > 0.0 && fee < 0.01, "{exchange}: fee {fee}");
        let v = venue(&got, exchange);
        let mid = (book.bids[0][0] + book.asks[0][0]) / 2.0;
        let avg = notional / filled;
        assert!(close(f(&v["filled_amount"]), filled), "{exchange}: {v}");
        assert!(close(f(&v["filled_notional"]), notional), "{exchange}: {v}");
        assert!(close(f(&v["avg_price"]), avg), "{exchange}: {v}");
        assert!(close(f(&v["worst_price"]), worst), "{exchange}: {v}");
        assert_eq!(v["levels_used"], used, "{exchange}: {v}");
        assert_eq!(v["complete"], true);
        assert!(close(f(&v["mid"]), mid), "{exchange}: {v}");
        let slippage = (avg - mid) / mid * 10_000.0;
        assert!((f(&v["slippage_bps"]) - slippage).abs() < 1e-6, "{v}");
        assert!(close(f(&v["taker_fee_rate"]), fee), "{exchange}: {v}");
        let cost = notional * (1.0 + fee);
        assert!(close(f(&v["cost_with_fees"]), cost), "{exchange}: {v}");
        costs.push((exchange, cost));
    }
    let cheapest = costs
        .iter()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .expect("two venues");
    assert_eq!(got["best"]["exchange"], cheapest.0, "{got}");
    assert!(close(f(&got["best"]["cost_with_fees"]), cheapest.1));
    // Binance's book was asked at 100 levels, too thin for ~150, then at 500.
    let depths: Vec<String> = binance
        .requests()
        .into_iter()
        .filter(|r| r.endpoint == "depth")
        .map(|r| r.query)
        .collect();
    assert_eq!(depths.len(), 2, "{depths:?}");
    assert!(
        depths[0].contains("limit=100") && depths[1].contains("limit=500"),
        "{depths:?}"
    );
}

/// A sell of a notional hits the bids; proceeds are net of the fee. Past the deepest book a
/// venue serves (Bybit spot: 200 levels) the fill is `complete: false` with what there was.
#[tokio::test]
async fn a_sell_of_a_notional_and_a_book_too_thin() {
    let venues = Venues::start();
    let server = server(&venues, &[]).await;
    let book = venues.sim("okx").book("ETHUSDT", 1000).expect("listed");
    // 20,000 USDT of ETH, walked by hand in quote.
    let notional = 20_000.0;
    let (mut got_quote, mut base) = (0.0, 0.0);
    for [price, size] in &book.bids {
        let take = size.min((notional - got_quote) / price);
        got_quote += take * price;
        base += take;
        if got_quote >= notional - 1e-9 {
            break;
        }
    }
    let result = server
        .call(
            "estimate_fill",
            json!({"symbol": "ETH/USDT", "side": "sell", "notional": notional,
                   "exchange": "okx"}),
        )
        .await;
    let v = venue(ok(&result), "okx").clone();
    let fee = taker_fee(&server, "okx", "ETH/USDT").await;
    assert!(close(f(&v["filled_notional"]), notional), "{v}");
    assert!(close(f(&v["filled_amount"]), base), "{v}");
    assert!(
        close(f(&v["cost_with_fees"]), notional * (1.0 - fee)),
        "{v}"
    );
    assert!(
        f(&v["slippage_bps"]) >= 0.0,
        "a sell gets less than mid: {v}"
    );
    assert_eq!(ok(&result)["best"]["exchange"], "okx");

    let bybit = venues.sim("bybit").book("BTCUSDT", 200).expect("listed");
    let whole: f64 = bybit.bids.iter().map(|l| l[1]).sum();
    let thin = server
        .call(
            "estimate_fill",
            json!({"symbol": "BTC/USDT", "side": "sell", "amount": whole * 3.0,
                   "exchange": "bybit"}),
        )
        .await;
    let v = venue(ok(&thin), "bybit").clone();
    assert_eq!(v["complete"], false, "{v}");
    assert_eq!(v["levels_used"], 200, "{v}");
    assert!(close(f(&v["filled_amount"]), whole), "{v}");
    assert_eq!(
        ok(&thin)["best"],
        Value::Null,
        "an incomplete fill is never the best"
    );
}

/// A perpetual's book comes in contracts (OKX: 0.01 BTC each): the fill's `amount` is base, so
/// the levels are scaled by the contract size before the walk; Binance's contracts are 1 BTC.
#[tokio::test]
async fn a_perpetual_fill_counts_base_not_contracts() {
    let venues = Venues::start();
    let server = server(&venues, &[]).await;
    let amount = 3.0;
    let result = server
        .call(
            "estimate_fill",
            json!({"symbol": "BTC/USDT:USDT", "side": "buy", "amount": amount,
                   "exchanges": ["okx", "binance"]}),
        )
        .await;
    let got = ok(&result).clone();
    assert_eq!(got["symbol"], "BTC/USDT:USDT", "{got}");
    for exchange in ["okx", "binance"] {
        let listed = server
            .call(
                "list_markets",
                json!({"exchange": exchange, "type": "swap", "query": "BTC/USDT:USDT"}),
            )
            .await;
        let market = ok(&listed)["markets"]
            .as_array()
            .and_then(|m| m.iter().find(|m| m["symbol"] == "BTC/USDT:USDT"))
            .cloned()
            .expect("the perpetual");
        let size = f(&market["contract_size"]);
        let book = server
            .call(
                "get_order_book",
                json!({"exchange": exchange, "symbol": "BTC/USDT:USDT", "limit": 1000}),
            )
            .await;
        let asks: Vec<[f64; 2]> = ok(&book)["asks"]
            .as_array()
            .expect("asks")
            .iter()
            .map(|l| [f(&l[0]), f(&l[1]) * size])
            .collect();
        let (filled, notional, worst, used, complete) = by_hand(&asks, amount);
        assert!(complete, "{exchange}");
        let v = venue(&got, exchange);
        assert!(
            close(f(&v["filled_amount"]), filled),
            "{exchange} ({size}): {v}"
        );
        assert!(close(f(&v["filled_notional"]), notional), "{exchange}: {v}");
        assert!(close(f(&v["worst_price"]), worst), "{exchange}: {v}");
        assert_eq!(v["levels_used"], used, "{exchange}: {v}");
        if exchange == "okx" {
            assert!(size < 1.0, "OKX counts in contracts of 0.01 BTC: {market}");
        }
    }
}

/// Bad sizes and venues are `invalid_argument`; an unknown symbol on one venue is
/// `invalid_symbol`, on several an error entry beside the venues that answered.
#[tokio::test]
async fn fill_arguments_and_venue_errors() {
    let venues = Venues::start();
    let server = server(&venues, &[]).await;
    for bad in [
        json!({"symbol": "BTC/USDT", "side": "buy"}),
        json!({"symbol": "BTC/USDT", "side": "buy", "amount": 1, "notional": 5}),
        json!({"symbol": "BTC/USDT", "side": "buy", "amount": -1}),
        json!({"symbol": "BTC/USDT", "side": "long", "amount": 1}),
        json!({"symbol": "BTC/USDT", "side": "buy", "amount": 1, "exchange": "okx",
               "exchanges": ["binance"]}),
    ] {
        let result = server.call("estimate_fill", bad.clone()).await;
        assert_eq!(error_code(&result), "invalid_argument", "{bad}");
    }
    let unknown = server
        .call(
            "estimate_fill",
            json!({"symbol": "NOPE/USDT", "side": "buy", "amount": 1}),
        )
        .await;
    assert_eq!(error_code(&unknown), "invalid_symbol");
    let partly = server
        .call(
            "estimate_fill",
            json!({"symbol": "BTC/USDT", "side": "buy", "amount": 0.01,
                   "exchanges": ["binance", "nowhere"]}),
        )
        .await;
    assert_eq!(error_code(&partly), "invalid_argument");
}

fn percent_of(row: &Value) -> f64 {
    common::num(&row["priceChangePercent"])
}

/// Gainers, losers and volume rank the simulator's own all-tickers reply; they come from ONE
/// ticker/24hr call without symbols (weight 80, charged to the budget) and the next calls
/// within the TTL make none.
#[tokio::test]
async fn top_movers_rank_one_all_tickers_call() {
    let sims = Simulator::start_venues(SimConfig {
        tick_ms: 3_600_000,
        extra_symbols: 30,
        ..SimConfig::default()
    })
    .expect("simulators start");
    let venues = Venues { sims };
    let server = server(&venues, &[("CACHE_TTL", "60")]).await;
    let binance = venues.sim("binance");
    let gainers = server
        .call("top_movers", json!({"by": "gainers", "limit": 5}))
        .await;
    let got = ok(&gainers).clone();
    assert_eq!(
        (got["exchange"].clone(), got["by"].clone()),
        (json!("binance"), json!("gainers"))
    );
    let calls: Vec<_> = binance
        .requests()
        .into_iter()
        .filter(|r| r.endpoint == "ticker/24hr")
        .collect();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(calls[0].symbols.is_empty(), "no symbols: every ticker");
    let status = server
        .call("exchange_status", json!({"exchange": "binance"}))
        .await;
    let used = f(&ok(&status)["exchanges"][0]["weight_used"]);
    assert!(used >= 80.0, "the all-tickers call weighs 80: {used}");

    // The truth: the simulator's reply, ranked here.
    let reply = binance
        .last_response("ticker/24hr", None)
        .expect("the all-tickers reply");
    let mut rows: Vec<&Value> = reply
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["symbol"].as_str().is_some_and(|s| s.ends_with("USDT")))
        .collect();
    rows.sort_by(|a, b| percent_of(b).total_cmp(&percent_of(a)));
    let want: Vec<f64> = rows.iter().take(5).map(|r| percent_of(r)).collect();
    let markets = got["markets"].as_array().expect("markets");
    let have: Vec<f64> = markets.iter().map(|m| f(&m["percentage"])).collect();
    assert_eq!(have.len(), 5);
    for (h, w) in have.iter().zip(&want) {
        assert!((h - w).abs() < 1e-9, "{have:?} vs {want:?}");
    }
    assert!(markets
        .iter()
        .all(|m| m["symbol"].as_str().is_some_and(|s| s.ends_with("/USDT"))));

    let losers = server
        .call("top_movers", json!({"by": "losers", "limit": 100}))
        .await;
    let losers: Vec<f64> = ok(&losers)["markets"]
        .as_array()
        .expect("markets")
        .iter()
        .map(|m| f(&m["percentage"]))
        .collect();
    assert_eq!(losers.len(), rows.len(), "every USDT market");
    assert!(losers.windows(2).all(|w| w[0] <= w[1]), "{losers:?}");
    let volume = server
        .call(
            "top_movers",
            json!({"by": "volume", "limit": 100, "min_quote_volume": 1.0}),
        )
        .await;
    let volumes: Vec<f64> = ok(&volume)["markets"]
        .as_array()
        .expect("markets")
        .iter()
        .map(|m| f(&m["quote_volume"]))
        .collect();
    assert!(!volumes.is_empty());
    assert!(volumes.windows(2).all(|w| w[0] >= w[1]), "{volumes:?}");
    assert_eq!(ok(&volume)["source"], "cache");
    assert_eq!(
        binance.calls("ticker/24hr"),
        1,
        "within the TTL the reply is reused"
    );
    let bad = server.call("top_movers", json!({"by": "hot"})).await;
    assert_eq!(error_code(&bad), "invalid_argument");
}

/// 2 ETH in USDT through its direct market (and back, inverted) at the mid; ETH in BTC
/// through USDT, the product of the two mids; an unknown asset is `invalid_symbol` naming the
/// closest listed one.
#[tokio::test]
async fn convert_direct_and_through_an_intermediate() {
    let venues = Venues::start();
    let server = server(&venues, &[]).await;
    let sim = venues.sim("binance");
    let mid = |id: &str| {
        let q = sim.quote(id).expect("listed");
        (q.bid + q.ask) / 2.0
    };
    let direct = server
        .call("convert", json!({"amount": 2, "from": "eth", "to": "USDT"}))
        .await;
    let got = ok(&direct);
    assert_eq!(got["path"], json!(["ETH/USDT"]));
    assert!(close(f(&got["rate"]), mid("ETHUSDT")), "{got}");
    assert!(close(f(&got["result"]), 2.0 * mid("ETHUSDT")), "{got}");
    let back = server
        .call(
            "convert",
            json!({"amount": 1000, "from": "USDT", "to": "ETH"}),
        )
        .await;
    assert!(close(f(&ok(&back)["result"]), 1000.0 / mid("ETHUSDT")));

    let via = server
        .call("convert", json!({"amount": 2, "from": "ETH", "to": "BTC"}))
        .await;
    let got = ok(&via);
    assert_eq!(got["path"], json!(["ETH/USDT", "BTC/USDT"]), "{got}");
    let rate = mid("ETHUSDT") / mid("BTCUSDT");
    assert!(close(f(&got["rate"]), rate), "{got}");
    assert!(close(f(&got["result"]), 2.0 * rate), "{got}");
    assert!(got["age_ms"].as_i64().is_some() && got["source"].is_string());

    let unknown = server
        .call("convert", json!({"amount": 1, "from": "ETHH", "to": "BTC"}))
        .await;
    assert_eq!(error_code(&unknown), "invalid_symbol");
    assert!(
        error_message(&unknown).contains("ETH"),
        "{}",
        error_message(&unknown)
    );
}

/// Every venue answers top_movers from its spot tickers (Bybit's default type would be its
/// perpetuals: the last prices here are the spot ones), and estimate_fill and convert work on
/// each, a fill too big for the book stopping at the venue's deepest book.
#[tokio::test]
async fn every_venue_serves_movers_fill_and_convert() {
    let venues = Venues::start();
    let server = server(&venues, &[]).await;
    for (exchange, deepest) in [
        ("binance", 1000),
        ("okx", 400),
        ("bybit", 200),
        ("kraken", 500),
        ("coinbase", 1000),
    ] {
        let sim = venues.sim(exchange);
        let movers = server
            .call(
                "top_movers",
                json!({"exchange": exchange, "by": "volume", "limit": 10}),
            )
            .await;
        let markets = ok(&movers)["markets"].as_array().expect("markets").clone();
        assert!(markets.len() >= 3, "{exchange}: {markets:?}");
        let btc = markets
            .iter()
            .find(|m| m["symbol"] == "BTC/USDT")
            .unwrap_or_else(|| panic!("{exchange}: {markets:?}"));
        let spot = sim.quote("BTCUSDT").expect("listed");
        assert!(
            close(f(&btc["last"]), spot.last),
            "{exchange}: {btc} vs {spot:?}"
        );

        let fill = server
            .call(
                "estimate_fill",
                json!({"exchange": exchange, "symbol": "BTC/USDT", "side": "buy",
                       "amount": 1_000_000}),
            )
            .await;
        let v = venue(ok(&fill), exchange);
        assert_eq!(v["complete"], false, "{exchange}: {v}");
        assert_eq!(v["levels_used"], deepest, "{exchange}: {v}");

        let converted = server
            .call(
                "convert",
                json!({"exchange": exchange, "amount": 2, "from": "ETH", "to": "BTC"}),
            )
            .await;
        let got = ok(&converted);
        let rate = f(&got["rate"]);
        let rough = sim.quote("ETHUSDT").expect("listed").last / spot.last;
        assert!((rate / rough - 1.0).abs() < 0.01, "{exchange}: {got}");
    }
}
