//! OKX swaps: the fixtures' keys and types, funding semantics, contract sizes.

use super::*;
use crate::fixtures::shape;
use crate::venue::Venue;

/// 2026-12-07T03:00:00Z.
const NOW: u64 = 1_796_612_400_000;
const H: u64 = 3_600_000;

fn derivs() -> Derivatives {
    let spot = Market::for_venue(Venue::Okx, 42, 0, false, 100).unwrap();
    Derivatives::for_market(&spot, NOW).unwrap()
}

fn get(d: &Derivatives, endpoint: &str, q: &str) -> Result<Value, Reject> {
    handle(endpoint, d, &Params::parse(Some(q)), NOW)
}

/// The shape (keys and value types) of a fixture's first `data` row whose instId is `id`.
fn fixture_row(text: &str, id: &str) -> crate::fixtures::Shape {
    let v: Value = serde_json::from_str(text).unwrap();
    let row = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["instId"] == id)
        .unwrap()
        .clone();
    shape(&row.to_string()).unwrap()
}

/// Equal up to float rounding (contracts × ctVal).
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(1.0)
}

fn num(v: &Value) -> f64 {
    v.as_str().unwrap().parse().unwrap()
}

#[test]
fn swap_requests_are_told_apart() {
    let p = |q: &str| Params::parse(Some(q));
    assert!(is_swap("market/ticker", &p("instId=BTC-USDT-SWAP")));
    assert!(is_swap("public/instruments", &p("instType=SWAP")));
    assert!(is_swap("public/funding-rate", &p("")));
    assert!(!is_swap("market/ticker", &p("instId=BTC-USDT")));
    assert!(!is_swap("public/instruments", &p("instType=SPOT")));
}

#[test]
fn rows_have_the_fixtures_keys_and_types() {
    let d = derivs();
    let inst = get(&d, "public/instruments", "instType=SWAP").unwrap();
    let ids: Vec<&str> = inst
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["instId"].as_str())
        .collect();
    assert_eq!(ids, ["BTC-USDT-SWAP", "ETH-USDT-SWAP", "SOL-USDT-SWAP"]);
    let fixture = include_str!("../../../fixtures/okx/rest/instruments_swap.json");
    assert_eq!(
        shape(&inst[0].to_string()).unwrap(),
        fixture_row(fixture, "BTC-USDT-SWAP")
    );
    assert_eq!(
        (&inst[0]["ctVal"], &inst[0]["tickSz"]),
        (&json!("0.01"), &json!("0.1"))
    );
    assert_eq!(inst[1]["ctVal"], "0.1");
    let mark = get(
        &d,
        "public/mark-price",
        "instType=SWAP&instId=BTC-USDT-SWAP",
    )
    .unwrap();
    let fixture = include_str!("../../../fixtures/okx/rest/mark_price.json");
    assert_eq!(
        shape(&mark[0].to_string()).unwrap(),
        fixture_row(fixture, "BTC-USDT-SWAP")
    );
    let idx = get(&d, "market/index-tickers", "instId=BTC-USDT").unwrap();
    let fixture = include_str!("../../../fixtures/okx/rest/index_tickers.json");
    assert_eq!(
        shape(&idx[0].to_string()).unwrap(),
        fixture_row(fixture, "BTC-USDT")
    );
    let s = d.by_venue_id("BTC-USDT-SWAP").unwrap();
    assert_eq!(
        num(&mark[0]["markPx"]),
        crate::market::decimal::to_f64(d.mark_price(s, NOW))
    );
    assert_eq!(
        num(&idx[0]["idxPx"]),
        crate::market::decimal::to_f64(d.index_price(s, NOW))
    );
    assert_eq!(
        get(&d, "public/instruments", "instType=FUTURES").unwrap(),
        json!([])
    );
}

#[test]
fn funding_rate_settles_at_the_next_boundary() {
    let d = derivs();
    let f = &get(&d, "public/funding-rate", "instId=BTC-USDT-SWAP").unwrap()[0];
    assert_eq!(f["fundingTime"], (NOW + 5 * H).to_string());
    assert_eq!(f["nextFundingTime"], (NOW + 13 * H).to_string());
    let s = d.by_venue_id("BTC-USDT-SWAP").unwrap();
    assert_eq!(num(&f["fundingRate"]), d.funding_rate(s, NOW) as f64 / 1e8);
    let any = get(&d, "public/funding-rate", "instId=ANY").unwrap();
    assert_eq!(any.as_array().map(Vec::len), Some(3));
    assert_eq!(&any[0], f);
    let sol = &get(&d, "public/funding-rate", "instId=SOL-USDT-SWAP").unwrap()[0];
    assert_eq!(sol["fundingTime"], (NOW + H).to_string());
    assert_eq!(sol["nextFundingTime"], (NOW + 5 * H).to_string());
    let day = NOW - 3 * H;
    let times = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r["fundingTime"].as_str().unwrap().to_string())
            .collect()
    };
    let latest = get(
        &d,
        "public/funding-rate-history",
        "instId=BTC-USDT-SWAP&limit=2",
    )
    .unwrap();
    assert_eq!(times(&latest), [day.to_string(), (day - 8 * H).to_string()]);
    assert_eq!(
        num(&latest[0]["realizedRate"]),
        d.funding_rate(s, day) as f64 / 1e8
    );
    let q = format!("instId=BTC-USDT-SWAP&before={}&limit=2", day - 24 * H);
    let from = get(&d, "public/funding-rate-history", &q).unwrap();
    assert_eq!(
        times(&from),
        [(day - 8 * H).to_string(), (day - 16 * H).to_string()]
    );
    let q = format!("instId=BTC-USDT-SWAP&after={day}&limit=1");
    assert_eq!(
        times(&get(&d, "public/funding-rate-history", &q).unwrap()),
        [(day - 8 * H).to_string()]
    );
}

#[test]
fn sizes_are_contracts() {
    let d = derivs();
    let s = d.by_venue_id("BTC-USDT-SWAP").unwrap();
    let oi = &get(
        &d,
        "public/open-interest",
        "instType=SWAP&instId=BTC-USDT-SWAP",
    )
    .unwrap()[0];
    assert!(close(num(&oi["oi"]), num(&oi["oiCcy"]) * 100.0));
    assert_eq!(
        num(&oi["oiCcy"]),
        crate::market::decimal::to_f64(d.open_interest(s, NOW))
    );
    let book = &get(&d, "market/books", "instId=BTC-USDT-SWAP&sz=3").unwrap()[0];
    let b = d.last.book(s, NOW, 3);
    assert!(close(
        num(&book["bids"][0][1]),
        crate::market::decimal::to_f64(b.bids[0].1) * 100.0
    ));
    let t = &get(&d, "market/ticker", "instId=BTC-USDT-SWAP").unwrap()[0];
    assert_eq!(t["instType"], "SWAP");
    assert!(close(num(&t["vol24h"]), num(&t["volCcy24h"]) * 100.0));
    let c = get(&d, "market/candles", "instId=BTC-USDT-SWAP&bar=1H&limit=2").unwrap();
    assert_eq!(c[0].as_array().unwrap().len(), 9);
    let mk = get(
        &d,
        "market/mark-price-candles",
        "instId=BTC-USDT-SWAP&bar=1H&limit=2",
    )
    .unwrap();
    assert_eq!(mk[0].as_array().unwrap().len(), 6);
    assert_eq!(
        num(&mk[0][4]),
        crate::market::decimal::to_f64(d.mark_price(s, NOW))
    );
    let ix = get(&d, "market/index-candles", "instId=BTC-USDT&bar=1H&limit=2").unwrap();
    assert_eq!(
        num(&ix[0][4]),
        crate::market::decimal::to_f64(d.index_price(s, NOW))
    );
    assert_eq!(
        get(&d, "market/ticker", "instId=BNB-USDT-SWAP"),
        Err(Reject::UnknownSymbol)
    );
}
