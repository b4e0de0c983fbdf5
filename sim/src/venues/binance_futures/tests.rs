//! The fapi handlers without HTTP: formats, funding windows, weights.

use super::data::handle;
use super::FEndpoint;
use crate::market::derivatives::Derivatives;
use crate::market::Market;
use crate::rest::{ApiError, Params};
use crate::venue::Venue;
use serde_json::Value;

/// 2026-12-07T03:00:00Z.
const NOW: u64 = 1_796_612_400_000;
const H: u64 = 3_600_000;

fn derivs() -> Derivatives {
    let spot = Market::for_venue(Venue::Binance, 42, 0, false, 100).unwrap();
    Derivatives::for_market(&spot, NOW).unwrap()
}

fn get(d: &Derivatives, e: FEndpoint, q: &str) -> Result<Value, ApiError> {
    let body = handle(e, d, &Params::parse(Some(q)), NOW)?;
    Ok(serde_json::from_str(&body).unwrap())
}

fn num(v: &Value) -> f64 {
    v.as_str().unwrap().parse().unwrap()
}

#[test]
fn names_and_weights() {
    for e in FEndpoint::ALL {
        assert_eq!(FEndpoint::from_name(e.name()), Some(e));
        assert!(e.name().starts_with("fapi/"));
    }
    let w = |e: FEndpoint, q: &str| e.weight(&Params::parse(Some(q)));
    assert_eq!(w(FEndpoint::ExchangeInfo, ""), 1);
    assert_eq!(w(FEndpoint::PremiumIndex, "symbol=BTCUSDT"), 1);
    assert_eq!(w(FEndpoint::PremiumIndex, ""), 10);
    assert_eq!(w(FEndpoint::Ticker24hr, ""), 40);
    assert_eq!(w(FEndpoint::Depth, "limit=1000"), 20);
    assert_eq!(w(FEndpoint::Depth, "limit=5"), 2);
    assert_eq!(w(FEndpoint::Klines, "limit=1500"), 10);
    assert_eq!(w(FEndpoint::Klines, "limit=100"), 2);
    assert_eq!(w(FEndpoint::AggTrades, ""), 20);
}

#[test]
fn exchange_info_lists_perpetuals_and_the_quarter() {
    let d = derivs();
    let v = get(&d, FEndpoint::ExchangeInfo, "").unwrap();
    let syms = v["symbols"].as_array().unwrap();
    let find = |id: &str| syms.iter().find(|s| s["symbol"] == id).unwrap();
    let btc = find("BTCUSDT");
    assert_eq!(btc["contractType"], "PERPETUAL");
    assert_eq!(btc["marginAsset"], "USDT");
    assert_eq!(btc["filters"][0]["tickSize"], "0.10000000");
    let q = find("BTCUSDT_261225");
    assert_eq!(q["contractType"], "CURRENT_QUARTER");
    assert_eq!(q["deliveryDate"], 1_798_185_600_000u64); // 2026-12-25T08:00Z
    assert_eq!(q["pair"], "BTCUSDT");
    assert_eq!(v["rateLimits"][0]["limit"], 2400);
}

#[test]
fn premium_index_is_mark_index_and_the_predicted_rate() {
    let d = derivs();
    let v = get(&d, FEndpoint::PremiumIndex, "symbol=BTCUSDT").unwrap();
    let s = d.last.symbol("BTCUSDT").unwrap();
    let f = crate::market::decimal::to_f64;
    assert_eq!(num(&v["markPrice"]), f(d.mark_price(s, NOW)));
    assert_eq!(num(&v["indexPrice"]), f(d.index_price(s, NOW)));
    assert_ne!(v["markPrice"], v["indexPrice"]);
    assert_eq!(
        num(&v["lastFundingRate"]),
        d.funding_rate(s, NOW) as f64 / 1e8
    );
    assert_eq!(v["nextFundingTime"], NOW + 5 * H);
    assert_eq!(v["interestRate"], "0.00010000");
    let sol = get(&d, FEndpoint::PremiumIndex, "symbol=SOLUSDT").unwrap();
    assert_eq!(sol["nextFundingTime"], NOW + H);
    assert_eq!(sol["interestRate"], "0.00005000");
    let all = get(&d, FEndpoint::PremiumIndex, "").unwrap();
    assert_eq!(all.as_array().unwrap().len(), d.symbols().len());
    assert_eq!(
        get(&d, FEndpoint::PremiumIndex, "symbol=XRPUSDT"),
        Err(ApiError::InvalidSymbol)
    );
}

#[test]
fn funding_history_windows() {
    let d = derivs();
    let day = NOW - 3 * H;
    let times = |v: &Value| -> Vec<u64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r["fundingTime"].as_u64().unwrap())
            .collect()
    };
    let latest = get(&d, FEndpoint::FundingRate, "symbol=BTCUSDT&limit=3").unwrap();
    assert_eq!(times(&latest), [day - 16 * H, day - 8 * H, day]);
    let from = format!("symbol=BTCUSDT&startTime={}&limit=2", day - 24 * H + 1);
    assert_eq!(
        times(&get(&d, FEndpoint::FundingRate, &from).unwrap()),
        [day - 16 * H, day - 8 * H]
    );
    let upto = format!("symbol=BTCUSDT&endTime={}&limit=2", day - 1);
    assert_eq!(
        times(&get(&d, FEndpoint::FundingRate, &upto).unwrap()),
        [day - 16 * H, day - 8 * H]
    );
    let s = d.last.symbol("BTCUSDT").unwrap();
    let row = &latest[2];
    assert_eq!(
        num(&row["fundingRate"]),
        d.funding_rate(s, day) as f64 / 1e8
    );
    assert_eq!(row["symbol"], "BTCUSDT");
    let sol = get(&d, FEndpoint::FundingRate, "symbol=SOLUSDT&limit=3").unwrap();
    assert_eq!(times(&sol), [day - 8 * H, day - 4 * H, day]);
    let info = get(&d, FEndpoint::FundingInfo, "").unwrap();
    assert_eq!(info.as_array().unwrap().len(), 1);
    assert_eq!(info[0]["symbol"], "SOLUSDT");
    assert_eq!(info[0]["fundingIntervalHours"], 4);
}

#[test]
fn market_data_shapes() {
    let d = derivs();
    let oi = get(&d, FEndpoint::OpenInterest, "symbol=ETHUSDT").unwrap();
    assert!(num(&oi["openInterest"]) > 0.0 && oi["time"] == NOW);
    let t = get(&d, FEndpoint::Ticker24hr, "symbol=BTCUSDT").unwrap();
    assert!(t.get("bidPrice").is_none() && t["lastPrice"].is_string());
    let s = d.last.symbol("BTCUSDT").unwrap();
    assert_eq!(
        num(&t["lastPrice"]),
        crate::market::decimal::to_f64(d.last_price(s, NOW))
    );
    let b = get(&d, FEndpoint::BookTicker, "symbol=BTCUSDT").unwrap();
    assert!(num(&b["askPrice"]) > num(&b["bidPrice"]) && b["time"] == NOW);
    let depth = get(&d, FEndpoint::Depth, "symbol=BTCUSDT&limit=5").unwrap();
    assert_eq!(depth["asks"].as_array().unwrap().len(), 5);
    assert_eq!(depth["E"], NOW);
    let trades = get(&d, FEndpoint::Trades, "symbol=BTCUSDT&limit=3").unwrap();
    assert!(trades[0].get("isBestMatch").is_none() && trades[0]["isBuyerMaker"].is_boolean());
    let agg = get(&d, FEndpoint::AggTrades, "symbol=BTCUSDT&limit=3").unwrap();
    assert!(agg[0].get("M").is_none() && agg[0]["T"].is_u64());
    let kl = |e, q: &str| get(&d, e, q).unwrap();
    let last = kl(FEndpoint::Klines, "symbol=BTCUSDT&interval=1h&limit=2");
    let mark = kl(
        FEndpoint::MarkPriceKlines,
        "symbol=BTCUSDT&interval=1h&limit=2",
    );
    let index = kl(
        FEndpoint::IndexPriceKlines,
        "pair=BTCUSDT&interval=1h&limit=2",
    );
    assert_eq!(
        num(&mark[1][4]),
        crate::market::decimal::to_f64(d.mark_price(s, NOW))
    );
    assert_eq!(
        num(&index[1][4]),
        crate::market::decimal::to_f64(d.index_price(s, NOW))
    );
    assert!(last[1][4] != mark[1][4] && mark[1][4] != index[1][4]);
    assert_eq!(
        (mark[1][5].as_str(), mark[1].as_array().unwrap().len()),
        (Some("0"), 12)
    );
    assert_eq!(
        get(&d, FEndpoint::IndexPriceKlines, "interval=1h"),
        Err(ApiError::Mandatory("pair"))
    );
}
