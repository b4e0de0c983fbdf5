//! Bybit linear: the fixtures' keys and types, funding and open interest semantics.

use super::*;
use crate::fixtures::shape;
use crate::market::decimal::to_f64;
use crate::venue::Venue;

/// 2026-12-07T03:00:00Z.
const NOW: u64 = 1_796_612_400_000;
const H: u64 = 3_600_000;

fn derivs() -> Derivatives {
    let spot = Market::for_venue(Venue::Bybit, 42, 0, false, 100).unwrap();
    Derivatives::for_market(&spot, NOW).unwrap()
}

fn get(d: &Derivatives, endpoint: &str, q: &str) -> Result<Value, Reject> {
    handle(endpoint, d, &Params::parse(Some(q)), NOW)
}

fn num(v: &Value) -> f64 {
    v.as_str().unwrap().parse().unwrap()
}

fn fixture(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn linear_requests_are_told_apart() {
    let p = |q: &str| Params::parse(Some(q));
    assert!(is_linear("market/tickers", &p("category=linear")));
    assert!(is_linear("market/funding/history", &p("")));
    assert!(!is_linear("market/tickers", &p("category=spot")));
}

#[test]
fn rows_have_the_fixtures_keys_and_types() {
    let d = derivs();
    let inst = get(&d, "market/instruments-info", "category=linear").unwrap();
    let f = fixture(include_str!(
        "../../../fixtures/bybit/rest/instruments_info_linear.json"
    ));
    assert_eq!(
        shape(&inst["list"][0].to_string()).unwrap(),
        shape(&f["result"]["list"][0].to_string()).unwrap()
    );
    assert_eq!(inst["list"].as_array().unwrap().len(), 3);
    assert_eq!(inst["list"][0]["fundingInterval"], 480);
    assert_eq!(inst["list"][2]["fundingInterval"], 240); // SOL: 4 h
    let pre = get(
        &d,
        "market/instruments-info",
        "category=linear&status=PreLaunch",
    )
    .unwrap();
    assert_eq!(pre["list"], json!([]));
    let k = get(
        &d,
        "market/kline",
        "category=linear&symbol=BTCUSDT&interval=60&limit=2",
    )
    .unwrap();
    let f = fixture(include_str!(
        "../../../fixtures/bybit/rest/kline_linear.json"
    ));
    assert_eq!(
        shape(&k.to_string()).unwrap(),
        shape(&f["result"].to_string()).unwrap()
    );
    let t = get(
        &d,
        "market/recent-trade",
        "category=linear&symbol=BTCUSDT&limit=2",
    )
    .unwrap();
    let f = fixture(include_str!(
        "../../../fixtures/bybit/rest/recent_trade_linear.json"
    ));
    assert_eq!(
        shape(&t.to_string()).unwrap(),
        shape(&f["result"].to_string()).unwrap()
    );
    // The REST ticker carries every field of the websocket ticker fixture but tickDirection.
    let tk = get(&d, "market/tickers", "category=linear&symbol=BTCUSDT").unwrap();
    let row = tk["list"][0].as_object().unwrap();
    let ws = fixture(include_str!(
        "../../../fixtures/bybit/ws/tickers_linear.json"
    ));
    for (k, v) in ws["data"].as_object().unwrap() {
        if k != "tickDirection" {
            assert!(
                row.get(k)
                    .is_some_and(|ours| ours.is_string() == v.is_string()),
                "{k}"
            );
        }
    }
}

#[test]
fn ticker_carries_funding_mark_index_and_open_interest() {
    let d = derivs();
    let s = d.by_venue_id("BTCUSDT").unwrap();
    let t = &get(&d, "market/tickers", "category=linear&symbol=BTCUSDT").unwrap()["list"][0];
    assert_eq!(num(&t["markPrice"]), to_f64(d.mark_price(s, NOW)));
    assert_eq!(num(&t["indexPrice"]), to_f64(d.index_price(s, NOW)));
    assert_eq!(num(&t["lastPrice"]), to_f64(d.last_price(s, NOW)));
    assert_eq!(num(&t["fundingRate"]), d.funding_rate(s, NOW) as f64 / 1e8);
    assert_eq!(t["nextFundingTime"], (NOW + 5 * H).to_string());
    assert_eq!(num(&t["openInterest"]), to_f64(d.open_interest(s, NOW)));
    let value = num(&t["openInterest"]) * num(&t["markPrice"]);
    assert!((num(&t["openInterestValue"]) - value).abs() < 0.01);
    let all = get(&d, "market/tickers", "category=linear").unwrap();
    assert_eq!(all["list"].as_array().unwrap().len(), 3);
}

#[test]
fn funding_history_and_open_interest_windows() {
    let d = derivs();
    let day = NOW - 3 * H;
    let times = |v: &Value| -> Vec<String> {
        v["list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["fundingRateTimestamp"].as_str().unwrap().to_string())
            .collect()
    };
    let latest = get(
        &d,
        "market/funding/history",
        "category=linear&symbol=BTCUSDT&limit=2",
    )
    .unwrap();
    assert_eq!(times(&latest), [day.to_string(), (day - 8 * H).to_string()]);
    let q = format!(
        "category=linear&symbol=BTCUSDT&startTime={}&endTime={}",
        day - 24 * H,
        day - 8 * H
    );
    let range = get(&d, "market/funding/history", &q).unwrap();
    assert_eq!(
        times(&range),
        [
            (day - 8 * H).to_string(),
            (day - 16 * H).to_string(),
            (day - 24 * H).to_string()
        ]
    );
    let q = format!("category=linear&symbol=BTCUSDT&startTime={day}");
    assert!(matches!(
        get(&d, "market/funding/history", &q),
        Err(Reject::BadParam(_))
    ));
    let oi = get(
        &d,
        "market/open-interest",
        "category=linear&symbol=ETHUSDT&intervalTime=1h&limit=3",
    )
    .unwrap();
    let list = oi["list"].as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list[0]["timestamp"], NOW.to_string());
    assert_eq!(list[2]["timestamp"], (NOW - 2 * H).to_string());
    let s = d.by_venue_id("ETHUSDT").unwrap();
    assert_eq!(
        num(&list[1]["openInterest"]),
        to_f64(d.open_interest(s, NOW - H))
    );
    assert!(matches!(
        get(&d, "market/open-interest", "category=linear&symbol=ETHUSDT"),
        Err(Reject::BadParam(_))
    ));
    let mk = get(
        &d,
        "market/mark-price-kline",
        "category=linear&symbol=BTCUSDT&interval=60&limit=2",
    )
    .unwrap();
    let btc = d.by_venue_id("BTCUSDT").unwrap();
    assert_eq!(mk["list"][0].as_array().unwrap().len(), 5);
    assert_eq!(num(&mk["list"][0][4]), to_f64(d.mark_price(btc, NOW)));
    let ix = get(
        &d,
        "market/index-price-kline",
        "category=linear&symbol=BTCUSDT&interval=60&limit=2",
    )
    .unwrap();
    assert_eq!(num(&ix["list"][0][4]), to_f64(d.index_price(btc, NOW)));
}
