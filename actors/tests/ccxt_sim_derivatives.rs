//! ccxt's parsing of the simulator's derivatives (Binance USDⓈ-M, OKX SWAP, Bybit linear): the
//! raw ccxt crate the engine uses, its URLs rebased onto the simulator as the engine does, and
//! every unified value compared with what the simulator served for that very request (read back
//! from its recorded response) and with the simulator's own contract model.

use ccxt::{TypedExchange, TypedExchangeExt};
use crypto_market_actors::venue::ccxt::rebase_urls;
use crypto_market_sim::{SimConfig, SimHandle, Simulator, Venue};
use serde_json::{json, Value};

/// Prices (and premiums) move once an hour, so a call and the model agree exactly.
fn start(venue: Venue) -> SimHandle {
    Simulator::start(SimConfig {
        venue,
        tick_ms: 3_600_000,
        ..SimConfig::default()
    })
    .expect("simulator")
}

/// ccxt's config for `venue`: URLs rebased onto the simulator, derivative market types.
fn config(urls: ccxt::Value, sim: &SimHandle, types: Value) -> ccxt::Value {
    let api = serde_json::to_value(urls.to_json()["api"].clone()).expect("urls");
    let api = rebase_urls(api, &sim.rest_url()).expect("rebased");
    ccxt::Value::from(json!({
        "enableRateLimit": false,
        "timeout": 10_000,
        "urls": { "api": api },
        "options": { "fetchMarkets": { "types": types } },
    }))
}

/// ccxt calls must answer promptly; a hang names its step.
async fn within<T>(step: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(std::time::Duration::from_secs(20), f)
        .await
        .unwrap_or_else(|_| panic!("{step}: no answer within 20 s"))
}

fn num(v: &Value) -> f64 {
    match v {
        Value::String(s) => s.parse().expect("a decimal string"),
        other => other.as_f64().expect("a number"),
    }
}

fn int(v: &Value) -> i64 {
    match v {
        Value::String(s) => s.parse().expect("an integer string"),
        other => other.as_i64().expect("an integer"),
    }
}

fn served(sim: &SimHandle, endpoint: &str, symbol: Option<&str>) -> Value {
    sim.last_response(endpoint, symbol)
        .unwrap_or_else(|| panic!("no {endpoint} {symbol:?} served"))
}

/// ccxt's load_markets, then the derivative markets it made.
async fn markets<E: TypedExchange>(ex: &mut E) -> Vec<ccxt::types::Market> {
    within("load_markets", ex.load_markets(true)).await;
    ex.markets()
}

/// Many contracts in one call, as the engine batches them: `fetch_funding_rates` and
/// `fetch_tickers` on `(unified symbol, venue id)` pairs, each equal to the contract model.
async fn batched<E: TypedExchangeExt + Send>(ex: &mut E, sim: &SimHandle, pairs: &[(&str, &str)]) {
    let symbols: Vec<String> = pairs.iter().map(|(s, _)| (*s).to_owned()).collect();
    let rates = within(
        "funding rates",
        ex.fetch_funding_rates(Some(symbols.clone()), ()),
    )
    .await
    .expect("funding rates");
    let tickers = within("tickers", ex.fetch_tickers(Some(symbols), ()))
        .await
        .expect("tickers");
    for (symbol, id) in pairs {
        let model = sim.contract(id).expect("modelled");
        let rate = rates
            .get(*symbol)
            .unwrap_or_else(|| panic!("no {symbol} rate"));
        assert_eq!(rate.funding_rate, Some(model.funding_rate), "{symbol}");
        let ticker = tickers
            .get(*symbol)
            .unwrap_or_else(|| panic!("no {symbol} ticker"));
        assert_eq!(ticker.last, Some(model.last), "{symbol}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_usdm_through_ccxt() {
    let sim = start(Venue::Binance);
    let mut ex = ccxt::Binance::new(Some(config(
        ccxt::Binance::new(None).urls.clone(),
        &sim,
        json!(["linear"]),
    )));
    let markets = markets(&mut ex).await;
    assert!(sim.derivative_calls() >= 1 && sim.calls("exchangeInfo") == 0);
    let find = |s: &str| markets.iter().find(|m| m.symbol == s).cloned();
    let btc = find("BTC/USDT:USDT").expect("the BTC perpetual");
    assert!(btc.swap && btc.contract && btc.linear == Some(true) && btc.active);
    assert_eq!(
        (btc.id.as_str(), btc.settle.as_deref()),
        ("BTCUSDT", Some("USDT"))
    );
    assert_eq!(btc.precision.price, Some(0.1));
    let quarter = sim
        .contract_ids()
        .into_iter()
        .find(|id| id.starts_with("BTCUSDT_"))
        .expect("a quarterly");
    let dated = format!("BTC/USDT:USDT-{}", &quarter[8..]);
    let q = find(&dated).unwrap_or_else(|| panic!("{dated} in {markets:?}"));
    assert!(q.future && !q.swap);
    assert_eq!(
        q.raw.to_json()["expiry"].as_i64(),
        sim.contract(&quarter)
            .and_then(|c| c.expiry_ms)
            .map(|e| e as i64)
    );
    assert!(find("SOL/USDT:USDT").is_some() && find("BNB/USDT:USDT").is_some());

    let symbol = "BTC/USDT:USDT";
    let fr = within("funding rate", ex.fetch_funding_rate(symbol, ()))
        .await
        .expect("funding rate");
    let raw = served(&sim, "fapi/v1/premiumIndex", Some("BTCUSDT"));
    let model = sim.contract("BTCUSDT").expect("modelled");
    assert_eq!(fr.funding_rate, Some(num(&raw["lastFundingRate"])));
    assert_eq!(fr.funding_rate, Some(model.funding_rate));
    assert_eq!(fr.mark_price, Some(num(&raw["markPrice"])));
    assert_eq!(fr.mark_price, Some(model.mark));
    assert_eq!(fr.index_price, Some(model.index));
    // ccxt's binance puts the next settlement in `fundingTimestamp` (nextFundingTimestamp null).
    assert_eq!(fr.funding_timestamp, Some(int(&raw["nextFundingTime"])));
    assert_eq!(fr.funding_timestamp, Some(model.next_funding_ms as i64));
    assert!(model.mark != model.index && model.last != model.mark);

    let since = model.next_funding_ms as i64 - 5 * 8 * 3_600_000;
    let hist = within(
        "history",
        ex.fetch_funding_rate_history(Some(symbol), Some(since), Some(3), ()),
    )
    .await
    .expect("history");
    let raw = served(&sim, "fapi/v1/fundingRate", Some("BTCUSDT"));
    let expected = sim.funding_history("BTCUSDT", since as u64, u64::MAX);
    assert_eq!(hist.len(), 3);
    for (i, h) in hist.iter().enumerate() {
        assert_eq!(h.timestamp, Some(int(&raw[i]["fundingTime"])));
        assert_eq!(h.funding_rate, Some(num(&raw[i]["fundingRate"])));
        assert_eq!(
            (h.timestamp, h.funding_rate),
            (Some(expected[i].0 as i64), Some(expected[i].1))
        );
        assert_eq!(expected[i].0 % (8 * 3_600_000), 0);
    }

    let oi = within("open interest", ex.fetch_open_interest(symbol, ()))
        .await
        .expect("open interest");
    let raw = served(&sim, "fapi/v1/openInterest", Some("BTCUSDT"));
    assert_eq!(oi.open_interest_amount, Some(num(&raw["openInterest"])));
    assert!(oi.open_interest_amount.unwrap_or(0.0) > 0.0);

    let t = within("ticker", ex.fetch_ticker(symbol, ()))
        .await
        .expect("ticker");
    let raw = served(&sim, "fapi/v1/ticker/24hr", Some("BTCUSDT"));
    assert_eq!(t.last, Some(num(&raw["lastPrice"])));
    assert_eq!(t.last, Some(model.last));

    for (price, endpoint, key, value) in [
        (
            "mark",
            "fapi/v1/markPriceKlines",
            Some("BTCUSDT"),
            model.mark,
        ),
        ("index", "fapi/v1/indexPriceKlines", None, model.index),
        ("trade", "fapi/v1/klines", Some("BTCUSDT"), model.last),
    ] {
        let params: ccxt::Params = if price == "trade" {
            ().into()
        } else {
            [("price", price)].into()
        };
        let candles = within(
            price,
            ex.fetch_ohlcv(symbol, Some("1h"), None, Some(3), params),
        )
        .await
        .expect("candles");
        let raw = served(&sim, endpoint, key);
        assert_eq!(candles.len(), 3, "{price}");
        for (c, r) in candles.iter().zip(raw.as_array().expect("rows")) {
            assert_eq!(c[0] as i64, int(&r[0]), "{price}");
            assert_eq!(c[4], num(&r[4]), "{price}");
        }
        assert_eq!(
            candles[2][4], value,
            "{price}: the open candle closes at the price now"
        );
    }

    let book = within("book", ex.fetch_order_book(symbol, Some(5), ()))
        .await
        .expect("book");
    let raw = served(&sim, "fapi/v1/depth", Some("BTCUSDT"));
    assert_eq!(
        book.bids[0],
        [num(&raw["bids"][0][0]), num(&raw["bids"][0][1])]
    );
    assert_eq!(book.asks.len(), 5);
    let trades = within("trades", ex.fetch_trades(symbol, None, Some(5), ()))
        .await
        .expect("trades");
    let raw = served(&sim, "fapi/v1/aggTrades", Some("BTCUSDT"));
    assert_eq!(trades.len(), 5);
    assert_eq!(trades[4].price, Some(num(&raw[4]["p"])));
    assert_eq!(trades[4].amount, Some(num(&raw[4]["q"])));

    batched(
        &mut ex,
        &sim,
        &[("BTC/USDT:USDT", "BTCUSDT"), ("SOL/USDT:USDT", "SOLUSDT")],
    )
    .await;
    // Futures weight is its own budget; spot's is untouched.
    assert!(sim.futures_used_weight() > 0);
    assert_eq!(sim.used_weight(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn okx_swaps_through_ccxt() {
    let sim = start(Venue::Okx);
    let mut ex = ccxt::Okx::new(Some(config(
        ccxt::Okx::new(None).urls.clone(),
        &sim,
        json!(["swap"]),
    )));
    assert_eq!(sim.derivative_calls(), 0);
    let markets = markets(&mut ex).await;
    assert!(sim.derivative_calls() >= 1);
    assert_eq!(
        sim.calls("public/instruments"),
        0,
        "no spot instruments asked for"
    );
    let btc = markets
        .iter()
        .find(|m| m.symbol == "BTC/USDT:USDT")
        .expect("the BTC swap");
    assert!(btc.swap && btc.linear == Some(true));
    assert_eq!(btc.id, "BTC-USDT-SWAP");
    assert_eq!(btc.raw.to_json()["contractSize"].as_f64(), Some(0.01));

    let symbol = "BTC/USDT:USDT";
    let id = "BTC-USDT-SWAP";
    let model = sim.contract(id).expect("modelled");
    let fr = within("funding rate", ex.fetch_funding_rate(symbol, ()))
        .await
        .expect("funding rate");
    let raw = served(&sim, "swap:public/funding-rate", Some(id));
    let raw = &raw["data"][0];
    assert_eq!(fr.funding_rate, Some(num(&raw["fundingRate"])));
    assert_eq!(fr.funding_rate, Some(model.funding_rate));
    assert_eq!(fr.funding_timestamp, Some(model.next_funding_ms as i64));
    assert_eq!(
        fr.next_funding_timestamp,
        Some(int(&raw["nextFundingTime"]))
    );
    assert_eq!(fr.interval.as_deref(), Some("8h"));
    let sol = within("SOL funding", ex.fetch_funding_rate("SOL/USDT:USDT", ()))
        .await
        .expect("SOL funding");
    assert_eq!(sol.interval.as_deref(), Some("4h"));

    let since = model.next_funding_ms as i64 - 5 * 8 * 3_600_000;
    let hist = within(
        "history",
        ex.fetch_funding_rate_history(Some(symbol), Some(since), Some(3), ()),
    )
    .await
    .expect("history");
    let expected = sim.funding_history(id, since as u64, u64::MAX);
    let raw = served(&sim, "swap:public/funding-rate-history", Some(id));
    assert_eq!(hist.len(), 3);
    assert_eq!(raw["data"].as_array().map(Vec::len), Some(3));
    for (i, h) in hist.iter().enumerate() {
        assert_eq!(
            (h.timestamp, h.funding_rate),
            (Some(expected[i].0 as i64), Some(expected[i].1))
        );
    }

    let oi = within("open interest", ex.fetch_open_interest(symbol, ()))
        .await
        .expect("open interest");
    let raw = served(&sim, "swap:public/open-interest", Some(id));
    let raw = &raw["data"][0];
    assert_eq!(oi.open_interest_amount, Some(num(&raw["oi"])));
    assert_eq!(oi.base_volume, Some(num(&raw["oiCcy"])));
    assert_eq!(oi.open_interest_value, Some(num(&raw["oiUsd"])));

    let t = within("ticker", ex.fetch_ticker(symbol, ()))
        .await
        .expect("ticker");
    let raw = served(&sim, "swap:market/ticker", Some(id));
    assert_eq!(t.last, Some(num(&raw["data"][0]["last"])));
    assert_eq!(t.last, Some(model.last));

    for (price, endpoint, key, value) in [
        ("mark", "swap:market/mark-price-candles", id, model.mark),
        (
            "index",
            "swap:market/index-candles",
            "BTC-USDT",
            model.index,
        ),
        ("trade", "swap:market/candles", id, model.last),
    ] {
        let params: ccxt::Params = if price == "trade" {
            ().into()
        } else {
            [("price", price)].into()
        };
        let candles = within(
            price,
            ex.fetch_ohlcv(symbol, Some("1h"), None, Some(3), params),
        )
        .await
        .expect("candles");
        let raw = served(&sim, endpoint, Some(key));
        let rows = raw["data"].as_array().expect("rows");
        assert_eq!(candles.len(), 3, "{price}");
        // OKX sends newest first; ccxt returns oldest first.
        for (c, r) in candles.iter().zip(rows.iter().rev()) {
            assert_eq!(c[0] as i64, int(&r[0]), "{price}");
            assert_eq!(c[4], num(&r[4]), "{price}");
        }
        assert_eq!(candles[2][4], value, "{price}");
    }

    let book = within("book", ex.fetch_order_book(symbol, Some(5), ()))
        .await
        .expect("book");
    let raw = served(&sim, "swap:market/books", Some(id));
    let raw = &raw["data"][0];
    assert_eq!(
        book.bids[0],
        [num(&raw["bids"][0][0]), num(&raw["bids"][0][1])]
    );
    let trades = within("trades", ex.fetch_trades(symbol, None, Some(5), ()))
        .await
        .expect("trades");
    let raw = served(&sim, "swap:market/trades", Some(id));
    assert_eq!(trades.len(), 5);
    assert_eq!(trades[4].price, Some(num(&raw["data"][0]["px"])));
    assert_eq!(trades[4].amount, Some(num(&raw["data"][0]["sz"])));
    batched(
        &mut ex,
        &sim,
        &[
            ("BTC/USDT:USDT", "BTC-USDT-SWAP"),
            ("SOL/USDT:USDT", "SOL-USDT-SWAP"),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bybit_linear_through_ccxt() {
    let sim = start(Venue::Bybit);
    let mut ex = ccxt::Bybit::new(Some(config(
        ccxt::Bybit::new(None).urls.clone(),
        &sim,
        json!(["linear"]),
    )));
    assert_eq!(sim.derivative_calls(), 0);
    let markets = markets(&mut ex).await;
    assert!(sim.derivative_calls() >= 1);
    assert_eq!(
        sim.calls("market/instruments-info"),
        0,
        "no spot instruments asked for"
    );
    let btc = markets
        .iter()
        .find(|m| m.symbol == "BTC/USDT:USDT")
        .expect("the BTC perpetual");
    assert!(btc.swap && btc.linear == Some(true) && btc.active);
    assert_eq!(btc.id, "BTCUSDT");

    let symbol = "BTC/USDT:USDT";
    let id = "BTCUSDT";
    let model = sim.contract(id).expect("modelled");
    let fr = within("funding rate", ex.fetch_funding_rate(symbol, ()))
        .await
        .expect("funding rate");
    let raw = served(&sim, "linear:market/tickers", Some(id));
    let raw = &raw["result"]["list"][0];
    assert_eq!(fr.funding_rate, Some(num(&raw["fundingRate"])));
    assert_eq!(fr.funding_rate, Some(model.funding_rate));
    assert_eq!(fr.mark_price, Some(model.mark));
    assert_eq!(fr.index_price, Some(model.index));
    assert_eq!(fr.funding_timestamp, Some(model.next_funding_ms as i64));
    assert_eq!(fr.interval.as_deref(), Some("8h"));
    let sol = within("SOL funding", ex.fetch_funding_rate("SOL/USDT:USDT", ()))
        .await
        .expect("SOL funding");
    assert_eq!(sol.interval.as_deref(), Some("4h"));

    // Between two settlements, so ccxt's [since, since + 3 intervals] holds exactly three.
    let since = model.next_funding_ms as i64 - 5 * 8 * 3_600_000 + 1;
    let hist = within(
        "history",
        ex.fetch_funding_rate_history(Some(symbol), Some(since), Some(3), ()),
    )
    .await
    .expect("history");
    let expected = sim.funding_history(id, since as u64, u64::MAX);
    let raw = served(&sim, "linear:market/funding/history", Some(id));
    assert_eq!(raw["result"]["list"].as_array().map(Vec::len), Some(3));
    assert_eq!(hist.len(), 3);
    for (i, h) in hist.iter().enumerate() {
        assert_eq!(
            (h.timestamp, h.funding_rate),
            (Some(expected[i].0 as i64), Some(expected[i].1))
        );
    }

    let oi = within("open interest", ex.fetch_open_interest(symbol, ()))
        .await
        .expect("open interest");
    let raw = served(&sim, "linear:market/open-interest", Some(id));
    let row = &raw["result"]["list"][0];
    assert_eq!(oi.open_interest_amount, Some(num(&row["openInterest"])));
    assert_eq!(oi.timestamp, Some(int(&row["timestamp"])));

    let t = within("ticker", ex.fetch_ticker(symbol, ()))
        .await
        .expect("ticker");
    assert_eq!(t.last, Some(model.last));
    assert_eq!(
        (t.mark_price, t.index_price),
        (Some(model.mark), Some(model.index))
    );

    for (price, endpoint, value) in [
        ("mark", "linear:market/mark-price-kline", model.mark),
        ("index", "linear:market/index-price-kline", model.index),
        ("trade", "linear:market/kline", model.last),
    ] {
        let params: ccxt::Params = if price == "trade" {
            ().into()
        } else {
            [("price", price)].into()
        };
        let candles = within(
            price,
            ex.fetch_ohlcv(symbol, Some("1h"), None, Some(3), params),
        )
        .await
        .expect("candles");
        let raw = served(&sim, endpoint, Some(id));
        let rows = raw["result"]["list"].as_array().expect("rows");
        assert_eq!(candles.len(), 3, "{price}");
        for (c, r) in candles.iter().zip(rows.iter().rev()) {
            assert_eq!(c[0] as i64, int(&r[0]), "{price}");
            assert_eq!(c[4], num(&r[4]), "{price}");
        }
        assert_eq!(candles[2][4], value, "{price}");
    }

    let book = within("book", ex.fetch_order_book(symbol, Some(5), ()))
        .await
        .expect("book");
    let raw = served(&sim, "linear:market/orderbook", Some(id));
    let raw = &raw["result"];
    assert_eq!(book.bids[0], [num(&raw["b"][0][0]), num(&raw["b"][0][1])]);
    let trades = within("trades", ex.fetch_trades(symbol, None, Some(5), ()))
        .await
        .expect("trades");
    let raw = served(&sim, "linear:market/recent-trade", Some(id));
    let newest = &raw["result"]["list"][0];
    assert_eq!(trades.len(), 5);
    assert_eq!(trades[4].price, Some(num(&newest["price"])));
    assert_eq!(trades[4].amount, Some(num(&newest["size"])));
    batched(
        &mut ex,
        &sim,
        &[("BTC/USDT:USDT", "BTCUSDT"), ("SOL/USDT:USDT", "SOLUSDT")],
    )
    .await;
}

/// The engine's `MARKET_TYPES=spot,swap`: both kinds load side by side, each from its own
/// endpoint, and a spot ticker is still spot's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spot_and_derivative_markets_load_together() {
    for (venue, types, spot_markets, swap_markets) in [
        (
            Venue::Binance,
            json!(["spot", "linear"]),
            "exchangeInfo",
            "fapi/v1/exchangeInfo",
        ),
        (
            Venue::Okx,
            json!(["spot", "swap"]),
            "public/instruments",
            "swap:public/instruments",
        ),
        (
            Venue::Bybit,
            json!(["spot", "linear"]),
            "market/instruments-info",
            "linear:market/instruments-info",
        ),
    ] {
        let sim = start(venue);
        let (markets, spot_last) = match venue {
            Venue::Binance => {
                let mut ex = ccxt::Binance::new(Some(config(
                    ccxt::Binance::new(None).urls.clone(),
                    &sim,
                    types,
                )));
                let m = markets(&mut ex).await;
                (m, ex.fetch_ticker("BTC/USDT", ()).await.map(|t| t.last))
            }
            Venue::Okx => {
                let mut ex =
                    ccxt::Okx::new(Some(config(ccxt::Okx::new(None).urls.clone(), &sim, types)));
                let m = markets(&mut ex).await;
                (m, ex.fetch_ticker("BTC/USDT", ()).await.map(|t| t.last))
            }
            _ => {
                let mut ex = ccxt::Bybit::new(Some(config(
                    ccxt::Bybit::new(None).urls.clone(),
                    &sim,
                    types,
                )));
                let m = markets(&mut ex).await;
                (m, ex.fetch_ticker("BTC/USDT", ()).await.map(|t| t.last))
            }
        };
        let has = |s: &str| markets.iter().any(|m| m.symbol == s);
        assert!(has("BTC/USDT") && has("BTC/USDT:USDT"), "{venue}");
        assert!(sim.calls(spot_markets) >= 1, "{venue}");
        assert!(sim.calls(swap_markets) >= 1, "{venue}");
        let spot = spot_last.expect("a spot ticker");
        assert_eq!(spot, sim.current_price("BTCUSDT"), "{venue}");
        let perpetual = sim.contract_ids().first().and_then(|id| sim.contract(id));
        assert_ne!(
            spot,
            perpetual.map(|c| c.last),
            "{venue}: spot is not the perpetual"
        );
    }
}
