//! The ccxt adapter's parsing, driven by Binance's documented replies (`sim/fixtures/`), served
//! verbatim: every field of the normalised model is checked against the fixture it came from.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Path;
use axum::routing::get;
use crypto_market_actors::model::{Timeframe, TradeSide};
use crypto_market_actors::venue::{CcxtExchange, Exchange, VenueConfig};
use serde_json::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../sim/fixtures/binance/rest");

fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(format!("{FIXTURES}/{name}")).expect("fixture file");
    serde_json::from_str(&text).expect("fixture JSON")
}

/// Serves each endpoint's fixture file as is, whatever the query.
async fn serve_fixtures() -> String {
    let app = axum::Router::new().route(
        "/api/v3/{*endpoint}",
        get(|Path(endpoint): Path<String>| async move {
            let file = match endpoint.as_str() {
                "exchangeInfo" => "exchangeInfo_small.json",
                "ticker/24hr" => "ticker_24hr.json",
                "depth" => "depth.json",
                "klines" => "klines_1h.json",
                "aggTrades" => "aggTrades.json",
                _ => return (axum::http::StatusCode::NOT_FOUND, String::new()),
            };
            let body = std::fs::read_to_string(format!("{FIXTURES}/{file}")).unwrap_or_default();
            (axum::http::StatusCode::OK, body)
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn num(v: &Value) -> f64 {
    v.as_str()
        .expect("a decimal string")
        .parse()
        .expect("a number")
}

async fn adapter() -> Arc<CcxtExchange> {
    let mut config = VenueConfig::new("binance");
    config.rest_url = Some(serve_fixtures().await);
    config.enable_rate_limit = false;
    config.timeout = Duration::from_secs(10);
    let ex = Arc::new(CcxtExchange::new(&config).unwrap());
    let markets = ex.load_markets().await.unwrap();
    let symbols: Vec<&str> = markets.iter().map(|m| m.symbol.as_str()).collect();
    assert_eq!(symbols.len(), 4, "{symbols:?}");
    assert!(symbols.contains(&"BTC/USDT"));
    ex
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticker_is_binances_24hr_reply_field_by_field() {
    let ex = adapter().await;
    let t = ex.fetch_ticker("BTC/USDT").await.unwrap();
    let f = fixture("ticker_24hr.json");
    assert_eq!(t.symbol, "BTC/USDT");
    assert_eq!(t.timestamp, f["closeTime"].as_i64());
    assert_eq!(t.last, Some(num(&f["lastPrice"])));
    assert_eq!(t.close, Some(num(&f["lastPrice"])));
    assert_eq!(t.bid, Some(num(&f["bidPrice"])));
    assert_eq!(t.bid_volume, Some(num(&f["bidQty"])));
    assert_eq!(t.ask, Some(num(&f["askPrice"])));
    assert_eq!(t.ask_volume, Some(num(&f["askQty"])));
    assert_eq!(t.high, Some(num(&f["highPrice"])));
    assert_eq!(t.low, Some(num(&f["lowPrice"])));
    assert_eq!(t.open, Some(num(&f["openPrice"])));
    assert_eq!(t.vwap, Some(num(&f["weightedAvgPrice"])));
    assert_eq!(t.previous_close, Some(num(&f["prevClosePrice"])));
    assert_eq!(t.change, Some(num(&f["priceChange"])));
    assert_eq!(t.percentage, Some(num(&f["priceChangePercent"])));
    assert_eq!(t.base_volume, Some(num(&f["volume"])));
    assert_eq!(t.quote_volume, Some(num(&f["quoteVolume"])));
    assert!(t.datetime.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_book_is_binances_depth_best_first() {
    let ex = adapter().await;
    let book = ex.fetch_order_book("BTC/USDT", 100).await.unwrap();
    let f = fixture("depth.json");
    let levels = |side: &Value| -> Vec<[f64; 2]> {
        side.as_array()
            .unwrap()
            .iter()
            .map(|l| [num(&l[0]), num(&l[1])])
            .collect()
    };
    let (mut bids, mut asks) = (levels(&f["bids"]), levels(&f["asks"]));
    bids.sort_by(|a, b| b[0].total_cmp(&a[0]));
    asks.sort_by(|a, b| a[0].total_cmp(&b[0]));
    assert_eq!(book.bids, bids);
    assert_eq!(book.asks, asks);
    assert_eq!(book.nonce, f["lastUpdateId"].as_i64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candles_are_binances_klines_oldest_first() {
    let ex = adapter().await;
    let tf = Timeframe::parse("1h", ex.timeframes()).unwrap();
    let candles = ex.fetch_ohlcv("BTC/USDT", &tf, None, 3).await.unwrap();
    let f = fixture("klines_1h.json");
    let rows = f.as_array().unwrap();
    assert_eq!(candles.len(), rows.len());
    for (c, row) in candles.iter().zip(rows) {
        assert_eq!(c.timestamp, row[0].as_i64().unwrap());
        assert_eq!(
            [c.open, c.high, c.low, c.close, c.volume],
            [
                num(&row[1]),
                num(&row[2]),
                num(&row[3]),
                num(&row[4]),
                num(&row[5])
            ]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trades_are_binances_agg_trades_with_the_takers_side() {
    let ex = adapter().await;
    let trades = ex.fetch_trades("BTC/USDT", 10).await.unwrap();
    let f = fixture("aggTrades.json");
    let rows = f.as_array().unwrap();
    assert_eq!(trades.len(), rows.len());
    for (t, row) in trades.iter().zip(rows) {
        assert_eq!(t.id.as_deref(), Some(row["a"].to_string().as_str()));
        assert_eq!(t.timestamp, row["T"].as_i64());
        assert_eq!(t.price, num(&row["p"]));
        assert_eq!(t.amount, num(&row["q"]));
        // isBuyerMaker: the buyer rested on the book, so the taker sold.
        let side = if row["m"].as_bool().unwrap() {
            TradeSide::Sell
        } else {
            TradeSide::Buy
        };
        assert_eq!(t.side, Some(side));
    }
}
