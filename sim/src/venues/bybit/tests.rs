use super::*;
use crate::market::decimal::to_f64;
use crate::venue::Venue;

const NOW: u64 = 1_725_817_008_719;

fn market() -> Market {
    Market::for_venue(Venue::Bybit, 42, 0, false, 100).unwrap()
}

fn get(m: &Market, endpoint: &'static str, q: &str) -> Result<Value, Reject> {
    let body = Bybit.handle(endpoint, "", m, &Params::parse(Some(q)), NOW)?;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (&v["retCode"], &v["retMsg"], &v["time"]),
        (&json!(0), &json!("OK"), &json!(NOW))
    );
    Ok(v["result"].clone())
}

#[test]
fn paths_map_to_endpoint_names() {
    assert_eq!(Bybit.endpoint("/v5/market/tickers"), Some("market/tickers"));
    assert_eq!(
        Bybit.endpoint("/v5/market/recent-trade"),
        Some("market/recent-trade")
    );
    assert_eq!(Bybit.endpoint("/api/v5/market/tickers"), None);
}

#[test]
fn instruments_list_spot_symbols() {
    let m = market();
    let r = get(&m, "market/instruments-info", "category=spot").unwrap();
    let list = r["list"].as_array().unwrap();
    let ids: Vec<&str> = list.iter().filter_map(|i| i["symbol"].as_str()).collect();
    assert_eq!(ids, ["BTCUSDT", "ETHUSDT", "SOLUSDT"]);
    assert_eq!(
        (
            &list[0]["baseCoin"],
            &list[0]["quoteCoin"],
            &list[0]["status"]
        ),
        (&json!("BTC"), &json!("USDT"), &json!("Trading"))
    );
    assert_eq!(list[0]["priceFilter"]["tickSize"], "0.01");
    assert_eq!(list[0]["lotSizeFilter"]["basePrecision"], "0.00001");
    let linear = get(&m, "market/instruments-info", "category=linear").unwrap();
    assert_eq!(linear["list"], json!([]));
}

#[test]
fn tickers_follow_the_venue_price() {
    let m = market();
    let r = get(&m, "market/tickers", "category=spot&symbol=ETHUSDT").unwrap();
    let t = &r["list"][0];
    assert!(t.as_object().unwrap().values().all(Value::is_string));
    let f = |k: &str| t[k].as_str().unwrap().parse::<f64>().unwrap();
    let s = m.symbol("ETHUSDT").unwrap();
    assert_eq!(f("lastPrice"), to_f64(m.price_at(s, NOW)));
    assert_eq!(f("ask1Price"), f("lastPrice"));
    assert!(f("bid1Price") < f("ask1Price") && f("volume24h") > 0.0);
    assert!(f("price24hPcnt").abs() < 1.0); // a fraction, not percent
    let all = get(&m, "market/tickers", "category=spot").unwrap();
    assert_eq!(all["list"].as_array().unwrap().len(), 3);
    assert_eq!(
        get(&m, "market/tickers", "category=spot&symbol=BNBUSDT"),
        Err(Reject::UnknownSymbol)
    );
}

#[test]
fn orderbook_kline_and_trades() {
    let m = market();
    let b = get(
        &m,
        "market/orderbook",
        "category=spot&symbol=BTCUSDT&limit=3",
    )
    .unwrap();
    assert_eq!(
        (
            b["b"].as_array().unwrap().len(),
            b["a"].as_array().unwrap().len()
        ),
        (3, 3)
    );
    assert_eq!(b["b"][0].as_array().unwrap().len(), 2);
    assert!(b["ts"].is_u64() && b["u"].is_u64() && b["s"] == "BTCUSDT");
    let k = get(
        &m,
        "market/kline",
        "category=spot&symbol=BTCUSDT&interval=60&limit=4",
    )
    .unwrap();
    let rows = k["list"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0].as_array().unwrap().len(), 7);
    let ts = |r: &Value| r[0].as_str().unwrap().parse::<u64>().unwrap();
    assert!(rows.windows(2).all(|w| ts(&w[0]) == ts(&w[1]) + 3_600_000));
    let start = ts(&rows[3]);
    let from = get(
        &m,
        "market/kline",
        &format!("category=spot&symbol=BTCUSDT&interval=60&start={start}&limit=2"),
    )
    .unwrap();
    assert_eq!(ts(&from["list"][1]), start);
    assert!(matches!(
        get(
            &m,
            "market/kline",
            "category=spot&symbol=BTCUSDT&interval=7"
        ),
        Err(Reject::BadParam(_))
    ));
    let t = get(
        &m,
        "market/recent-trade",
        "category=spot&symbol=SOLUSDT&limit=500",
    )
    .unwrap();
    let list = t["list"].as_array().unwrap();
    assert_eq!(list.len(), 60); // spot's maximum
    assert!(list
        .iter()
        .all(|r| r["side"] == "Buy" || r["side"] == "Sell"));
    assert!(list[0]["time"].as_str().unwrap() >= list[59]["time"].as_str().unwrap());
}

#[test]
fn errors_in_bybit_format() {
    let unknown = Bybit.reject(&Reject::UnknownSymbol, NOW);
    assert_eq!(unknown.status, StatusCode::OK);
    let v: Value = serde_json::from_str(&unknown.body).unwrap();
    assert_eq!(
        (&v["retCode"], &v["retMsg"]),
        (&json!(10001), &json!("Not supported symbols"))
    );
    let limited: Value = serde_json::from_str(&Bybit.rate_limited(NOW).body).unwrap();
    assert_eq!(limited["retCode"], 10006);
    let ban = Bybit.failure(StatusCode::FORBIDDEN, NOW);
    assert_eq!(
        (ban.status, ban.json, ban.body.as_str()),
        (StatusCode::FORBIDDEN, false, "access too frequent")
    );
    assert!(!Bybit.failure(StatusCode::BAD_GATEWAY, NOW).json);
}
