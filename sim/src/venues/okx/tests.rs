use super::*;
use crate::market::decimal::to_f64;
use crate::venue::Venue;
use serde_json::Value;

const NOW: u64 = 1_725_817_008_719;

fn market() -> Market {
    Market::for_venue(Venue::Okx, 42, 0, false, 100).unwrap()
}

fn get(m: &Market, endpoint: &'static str, q: &str) -> Result<Value, Reject> {
    let body = Okx.handle(endpoint, "", m, &Params::parse(Some(q)), NOW)?;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((&v["code"], &v["msg"]), (&json!("0"), &json!("")));
    Ok(v["data"].clone())
}

/// Every value is a string, as OKX sends numbers.
fn all_strings(row: &Value) -> bool {
    row.as_object().unwrap().values().all(Value::is_string)
}

#[test]
fn paths_map_to_endpoint_names() {
    assert_eq!(Okx.endpoint("/api/v5/market/ticker"), Some("market/ticker"));
    assert_eq!(
        Okx.endpoint("/api/v5/public/instruments"),
        Some("public/instruments")
    );
    assert_eq!(Okx.endpoint("/api/v3/ticker/24hr"), None);
    assert_eq!(Okx.endpoint("/api/v5/market/nope"), None);
}

#[test]
fn instruments_are_spot_dash_ids_with_string_fields() {
    let m = market();
    let data = get(&m, "public/instruments", "instType=SPOT").unwrap();
    let ids: Vec<&str> = data
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["instId"].as_str())
        .collect();
    assert_eq!(ids, ["BTC-USDT", "ETH-USDT", "SOL-USDT"]);
    let btc = &data[0];
    assert!(all_strings(btc));
    assert_eq!(
        (&btc["baseCcy"], &btc["quoteCcy"], &btc["state"]),
        (&json!("BTC"), &json!("USDT"), &json!("live"))
    );
    assert_eq!(
        (&btc["tickSz"], &btc["lotSz"]),
        (&json!("0.01"), &json!("0.00001"))
    );
    assert_eq!(
        get(&m, "public/instruments", "instType=SWAP").unwrap(),
        json!([])
    );
    assert!(matches!(
        get(&m, "public/instruments", ""),
        Err(Reject::BadParam(_))
    ));
}

#[test]
fn ticker_follows_the_venue_price() {
    let m = market();
    let data = get(&m, "market/ticker", "instId=BTC-USDT").unwrap();
    let t = &data[0];
    assert!(all_strings(t));
    let s = m.by_venue_id("BTC-USDT").unwrap();
    let f = |k: &str| t[k].as_str().unwrap().parse::<f64>().unwrap();
    assert_eq!(f("last"), to_f64(m.price_at(s, NOW)));
    assert_eq!(f("askPx"), f("last"));
    assert!((f("last") - f("bidPx") - 0.01).abs() < 1e-6);
    assert!(f("high24h") >= f("low24h") && f("vol24h") > 0.0 && f("volCcy24h") > 0.0);
    assert_eq!(t["ts"], json!(NOW.to_string()));
    assert_eq!(
        get(&m, "market/ticker", "instId=BNB-USDT"),
        Err(Reject::UnknownSymbol)
    );
    let all = get(&m, "market/tickers", "instType=SPOT").unwrap();
    assert_eq!(all.as_array().unwrap().len(), 3);
    assert_eq!(all[0], data[0]);
}

#[test]
fn books_have_four_element_levels() {
    let m = market();
    let one = get(&m, "market/books", "instId=ETH-USDT").unwrap();
    assert_eq!(one[0]["asks"].as_array().unwrap().len(), 1); // OKX's default sz is 1
    let b = &get(&m, "market/books", "instId=ETH-USDT&sz=5").unwrap()[0];
    assert_eq!(
        (
            b["bids"].as_array().unwrap().len(),
            b["asks"].as_array().unwrap().len()
        ),
        (5, 5)
    );
    let level = b["bids"][0].as_array().unwrap();
    assert_eq!(level.len(), 4);
    assert!(level.iter().all(Value::is_string));
    let px = |side: &str, i: usize| b[side][i][0].as_str().unwrap().parse::<f64>().unwrap();
    assert!(
        px("bids", 0) > px("bids", 1)
            && px("asks", 0) < px("asks", 1)
            && px("bids", 0) < px("asks", 0)
    );
}

#[test]
fn candles_are_newest_first_and_honour_after_before() {
    let m = market();
    let rows = get(&m, "market/candles", "instId=BTC-USDT&bar=1m&limit=5").unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0].as_array().unwrap().len(), 9);
    assert!(rows[0].as_array().unwrap().iter().all(Value::is_string));
    let ts = |r: &Value| r[0].as_str().unwrap().parse::<u64>().unwrap();
    assert!(rows.windows(2).all(|w| ts(&w[0]) == ts(&w[1]) + 60_000));
    assert_eq!((&rows[0][8], &rows[1][8]), (&json!("0"), &json!("1")));
    let open = ts(&rows[0]);
    let older = get(
        &m,
        "market/candles",
        &format!("instId=BTC-USDT&bar=1H&after={open}&limit=3"),
    )
    .unwrap();
    assert!(older.as_array().unwrap().iter().all(|r| ts(r) < open));
    let window = get(
        &m,
        "market/candles",
        &format!(
            "instId=BTC-USDT&bar=1m&before={}&after={}",
            open - 180_000,
            open
        ),
    )
    .unwrap();
    assert_eq!(window.as_array().unwrap().len(), 2);
    assert_eq!(
        get(&m, "market/candles", "instId=BTC-USDT&bar=1Dutc&limit=1")
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(matches!(
        get(&m, "market/candles", "instId=BTC-USDT&bar=7m"),
        Err(Reject::BadParam(_))
    ));
}

#[test]
fn trades_are_newest_first() {
    let m = market();
    let data = get(&m, "market/trades", "instId=SOL-USDT&limit=4").unwrap();
    let rows = data.as_array().unwrap();
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(all_strings));
    let id = |r: &Value| r["tradeId"].as_str().unwrap().parse::<u64>().unwrap();
    assert!(rows.windows(2).all(|w| id(&w[0]) == id(&w[1]) + 1));
    assert!(rows
        .iter()
        .all(|r| r["side"] == "buy" || r["side"] == "sell"));
}

#[test]
fn errors_in_okx_format() {
    let unknown = Okx.reject(&Reject::UnknownSymbol, NOW);
    assert_eq!(unknown.status, StatusCode::OK);
    let v: Value = serde_json::from_str(&unknown.body).unwrap();
    assert_eq!(
        v,
        json!({"code": "51001", "msg": "Instrument ID does not exist", "data": []})
    );
    let limited = Okx.rate_limited(NOW);
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.body.contains("\"50011\"") && limited.body.contains("Too Many Requests"));
    let down = Okx.failure(StatusCode::SERVICE_UNAVAILABLE, NOW);
    assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(down.json && down.body.contains("\"50001\""));
}
