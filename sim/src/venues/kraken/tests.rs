use super::*;
use crate::market::decimal::to_f64;
use crate::venue::Venue;
use serde_json::Value;

const NOW: u64 = 1_725_817_008_719;

fn market() -> Market {
    Market::for_venue(Venue::Kraken, 42, 0, false, 100).unwrap()
}

fn get(m: &Market, endpoint: &'static str, q: &str) -> Result<Value, Reject> {
    let body = Kraken.handle(endpoint, "", m, &Params::parse(Some(q)), NOW)?;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"], json!([]));
    Ok(v["result"].clone())
}

#[test]
fn ids_use_kraken_asset_names() {
    assert_eq!(pair_id("BTC", "USDT"), "XBTUSDT");
    assert_eq!(pair_id("ETH", "USDT"), "ETHUSDT");
    assert_eq!(
        (
            asset_id("BTC").as_str(),
            asset_id("ETH").as_str(),
            asset_id("USD").as_str(),
            asset_id("SOL").as_str()
        ),
        ("XXBT", "XETH", "ZUSD", "SOL")
    );
    assert_eq!(Kraken.endpoint("/0/public/Ticker"), Some("Ticker"));
    assert_eq!(Kraken.endpoint("/0/private/Balance"), None);
}

#[test]
fn asset_pairs_and_assets() {
    let m = market();
    let pairs = get(&m, "AssetPairs", "").unwrap();
    let ids: Vec<&String> = pairs.as_object().unwrap().keys().collect();
    assert_eq!(ids, ["ETHUSDT", "SOLUSDT", "XBTUSDT"]); // Kraken orders results by id
    let btc = &pairs["XBTUSDT"];
    assert_eq!(
        (&btc["altname"], &btc["wsname"], &btc["base"], &btc["quote"]),
        (
            &json!("XBTUSDT"),
            &json!("XBT/USDT"),
            &json!("XXBT"),
            &json!("USDT")
        )
    );
    assert_eq!(
        (&btc["pair_decimals"], &btc["status"]),
        (&json!(2), &json!("online"))
    );
    let assets = get(&m, "Assets", "").unwrap();
    assert_eq!(assets["XXBT"]["altname"], "XBT");
    assert_eq!(assets["XETH"]["altname"], "ETH");
    assert!(assets["USDT"]["decimals"].is_u64());
    assert_eq!(
        get(&m, "AssetPairs", "pair=BNBUSDT"),
        Err(Reject::UnknownSymbol)
    );
}

#[test]
fn ticker_arrays_at_pair_precision() {
    let m = market();
    let r = get(&m, "Ticker", "pair=XBTUSDT").unwrap();
    let t = &r["XBTUSDT"];
    let s = m.by_venue_id("XBTUSDT").unwrap();
    let last = t["c"][0].as_str().unwrap();
    assert_eq!(last.split('.').nth(1).map(str::len), Some(2));
    assert_eq!(last.parse::<f64>().unwrap(), to_f64(m.price_at(s, NOW)));
    assert_eq!(t["a"].as_array().unwrap().len(), 3);
    assert_eq!(t["a"][0], t["c"][0]);
    assert!(t["b"][0].as_str().unwrap() < t["a"][0].as_str().unwrap());
    assert!(t["t"][1].is_u64() && t["o"].is_string() && t["v"][1].is_string());
    let two = get(&m, "Ticker", "pair=XBTUSDT,SOLUSDT").unwrap();
    assert_eq!(two.as_object().unwrap().len(), 2);
    assert_eq!(get(&m, "Ticker", "").unwrap().as_object().unwrap().len(), 3);
    assert_eq!(
        get(&m, "Ticker", "pair=XBTUSDT,NOPE"),
        Err(Reject::UnknownSymbol)
    );
}

#[test]
fn depth_ohlc_and_trades() {
    let m = market();
    let d = get(&m, "Depth", "pair=ETHUSDT&count=4").unwrap();
    let book = &d["ETHUSDT"];
    assert_eq!(book["bids"].as_array().unwrap().len(), 4);
    let level = book["asks"][0].as_array().unwrap();
    assert!(level[0].is_string() && level[1].is_string() && level[2].is_u64());
    let o = get(&m, "OHLC", "pair=XBTUSDT&interval=60").unwrap();
    let rows = o["XBTUSDT"].as_array().unwrap();
    assert_eq!(rows.len(), 720);
    assert_eq!(rows[0].as_array().unwrap().len(), 8);
    assert!(rows
        .windows(2)
        .all(|w| w[1][0].as_u64().unwrap() == w[0][0].as_u64().unwrap() + 3600));
    assert_eq!(o["last"].as_u64(), Some(rows[718][0].as_u64().unwrap()));
    let since = rows[700][0].as_u64().unwrap();
    let tail = get(
        &m,
        "OHLC",
        &format!("pair=XBTUSDT&interval=60&since={since}"),
    )
    .unwrap();
    assert_eq!(tail["XBTUSDT"].as_array().unwrap().len(), 20);
    let t = get(&m, "Trades", "pair=SOLUSDT&count=5").unwrap();
    let rows = t["SOLUSDT"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0].as_array().unwrap().len(), 7);
    assert!(rows
        .windows(2)
        .all(|w| w[0][2].as_f64() <= w[1][2].as_f64()));
    assert!(rows.iter().all(|r| r[3] == "b" || r[3] == "s"));
    assert!(t["last"].as_str().unwrap().parse::<u128>().is_ok());
}

#[test]
fn errors_in_kraken_format() {
    let unknown = Kraken.reject(&Reject::UnknownSymbol, NOW);
    assert_eq!(
        (unknown.status, unknown.body.as_str()),
        (StatusCode::OK, r#"{"error":["EQuery:Unknown asset pair"]}"#)
    );
    assert_eq!(
        Kraken.rate_limited(NOW).body,
        r#"{"error":["EAPI:Rate limit exceeded"]}"#
    );
    let down = Kraken.failure(StatusCode::SERVICE_UNAVAILABLE, NOW);
    assert_eq!(
        (down.status, down.body.as_str()),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"error":["EService:Unavailable"]}"#
        )
    );
}
