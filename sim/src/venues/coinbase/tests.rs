use super::*;
use crate::venue::Venue;
use serde_json::Value;

const NOW: u64 = 1_725_817_008_719;

fn market() -> Market {
    Market::for_venue(Venue::Coinbase, 42, 0, false, 100).unwrap()
}

fn get(m: &Market, path: &str, q: &str) -> Result<Value, Reject> {
    let endpoint = Coinbase.endpoint(path).expect("a coinbase path");
    let body = Coinbase.handle(endpoint, path, m, &Params::parse(Some(q)), NOW)?;
    Ok(serde_json::from_str(&body).unwrap())
}

#[test]
fn paths_map_to_templated_endpoint_names() {
    let e = |p: &str| Coinbase.endpoint(p);
    assert_eq!(
        e("/api/v3/brokerage/market/products"),
        Some("market/products")
    );
    assert_eq!(
        e("/api/v3/brokerage/market/products/BTC-USDT"),
        Some("market/products/{product_id}")
    );
    assert_eq!(
        e("/api/v3/brokerage/market/products/BTC-USDT/ticker"),
        Some("market/products/{product_id}/ticker")
    );
    assert_eq!(
        e("/api/v3/brokerage/market/products/BTC-USDT/candles"),
        Some("market/products/{product_id}/candles")
    );
    assert_eq!(e("/v2/currencies/crypto"), Some("v2/currencies/crypto"));
    assert_eq!(e("/api/v3/brokerage/market/products/BTC-USDT/other"), None);
    assert_eq!(e("/api/v3/ticker/price"), None);
    let named = Coinbase.symbols_named(
        "/api/v3/brokerage/market/products",
        &Params::parse(Some("product_ids=BTC-USDT&product_ids=ETH-USDT")),
    );
    assert_eq!(named, ["BTC-USDT", "ETH-USDT"]);
}

#[test]
fn products_and_currencies() {
    let m = market();
    let all = get(&m, "/api/v3/brokerage/market/products", "").unwrap();
    let ids: Vec<&str> = all["products"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["product_id"].as_str())
        .collect();
    assert_eq!(ids, ["BTC-USDT", "ETH-USDT", "SOL-USDT"]);
    assert_eq!(all["num_products"], 3);
    let p = &all["products"][0];
    assert_eq!(
        (
            &p["base_currency_id"],
            &p["quote_currency_id"],
            &p["product_type"]
        ),
        (&json!("BTC"), &json!("USDT"), &json!("SPOT"))
    );
    assert_eq!(
        (
            &p["price_increment"],
            &p["base_increment"],
            &p["trading_disabled"]
        ),
        (&json!("0.01"), &json!("0.00001"), &json!(false))
    );
    let futures = get(
        &m,
        "/api/v3/brokerage/market/products",
        "product_type=FUTURE",
    )
    .unwrap();
    assert_eq!(futures["products"], json!([]));
    let some = get(
        &m,
        "/api/v3/brokerage/market/products",
        "product_ids=SOL-USDT,NOPE-USDT",
    )
    .unwrap();
    assert_eq!(some["num_products"], 1);
    let one = get(&m, "/api/v3/brokerage/market/products/ETH-USDT", "").unwrap();
    assert_eq!(one["product_id"], "ETH-USDT");
    assert_eq!(
        get(&m, "/api/v3/brokerage/market/products/BNB-USDT", ""),
        Err(Reject::UnknownSymbol)
    );
    let crypto = get(&m, "/v2/currencies/crypto", "").unwrap();
    let codes: Vec<&str> = crypto["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["code"].as_str())
        .collect();
    assert_eq!(codes, ["BTC", "USDT", "ETH", "SOL"]);
    assert!(get(&m, "/v2/currencies", "").unwrap()["data"][0]["id"] == "USD");
    assert!(get(&m, "/v2/exchange-rates", "").unwrap()["data"]["rates"]["BTC"].is_string());
}

#[test]
fn ticker_is_the_latest_trades_with_best_bid_ask() {
    let m = market();
    let t = get(
        &m,
        "/api/v3/brokerage/market/products/BTC-USDT/ticker",
        "limit=3",
    )
    .unwrap();
    let trades = t["trades"].as_array().unwrap();
    assert_eq!(trades.len(), 3);
    let id = |r: &Value| r["trade_id"].as_str().unwrap().parse::<u64>().unwrap();
    assert!(trades.windows(2).all(|w| id(&w[0]) == id(&w[1]) + 1));
    assert!(trades[0]["time"].as_str().unwrap().ends_with('Z'));
    assert!(trades
        .iter()
        .all(|r| r["side"] == "BUY" || r["side"] == "SELL"));
    let s = m.by_venue_id("BTC-USDT").unwrap();
    let last = crate::venues::last_price(&m, s, NOW);
    assert_eq!(trades[0]["price"], crate::venues::format::trimmed(last));
    let book = m.book(s, NOW, 1);
    assert_eq!(
        t["best_ask"],
        crate::venues::format::trimmed(book.asks[0].0)
    );
    assert_eq!(
        t["best_bid"],
        crate::venues::format::trimmed(book.bids[0].0)
    );
}

#[test]
fn candles_and_book() {
    let m = market();
    let end = NOW / 1000;
    let c = get(
        &m,
        "/api/v3/brokerage/market/products/BTC-USDT/candles",
        &format!("granularity=ONE_MINUTE&start={}&end={end}", end - 600),
    )
    .unwrap();
    let rows = c["candles"].as_array().unwrap();
    assert_eq!(rows.len(), 10);
    let start = |r: &Value| r["start"].as_str().unwrap().parse::<u64>().unwrap();
    assert!(rows.windows(2).all(|w| start(&w[0]) == start(&w[1]) + 60));
    assert!(rows[0].as_object().unwrap().values().all(Value::is_string));
    assert!(matches!(
        get(
            &m,
            "/api/v3/brokerage/market/products/BTC-USDT/candles",
            "granularity=ONE_WEEK"
        ),
        Err(Reject::BadParam(_))
    ));
    let b = get(
        &m,
        "/api/v3/brokerage/market/product_book",
        "product_id=SOL-USDT&limit=3",
    )
    .unwrap();
    let book = &b["pricebook"];
    assert_eq!(book["bids"].as_array().unwrap().len(), 3);
    assert!(book["asks"][0]["price"].is_string() && book["asks"][0]["size"].is_string());
    assert!(b["spread_bps"].is_string() && b["mid_market"].is_string());
    assert_eq!(
        get(
            &m,
            "/api/v3/brokerage/market/product_book",
            "product_id=NOPE"
        ),
        Err(Reject::UnknownSymbol)
    );
}

#[test]
fn errors_in_coinbase_format() {
    let unknown = Coinbase.reject(&Reject::UnknownSymbol, NOW);
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let v: Value = serde_json::from_str(&unknown.body).unwrap();
    assert_eq!(v["error"], "NOT_FOUND");
    let limited = Coinbase.rate_limited(NOW);
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.body.contains("rate_limit_exceeded"));
    let down = Coinbase.failure(StatusCode::BAD_GATEWAY, NOW);
    assert_eq!((down.status, down.json), (StatusCode::BAD_GATEWAY, false));
}
