//! The ccxt adapter against the simulator serving OKX, Bybit, Kraken and Coinbase in their own
//! wire formats: every market-data call comes back unified and equal to what the simulator says
//! its ticker shows, and each venue's errors reach us as the right kind.

use std::future::Future;
use std::time::Duration;

use crypto_market_actors::model::Timeframe;
use crypto_market_actors::venue::{CcxtExchange, Exchange, VenueConfig, VenueError};
use crypto_market_sim::{Faults, Quote, SimConfig, SimHandle, Simulator, Venue};

const SYMBOLS: [(&str, &str); 3] = [
    ("BTC/USDT", "BTCUSDT"),
    ("ETH/USDT", "ETHUSDT"),
    ("SOL/USDT", "SOLUSDT"),
];

/// A simulator whose prices move once a minute, so a call and `quote` see the same step.
fn start(venue: Venue) -> SimHandle {
    Simulator::start(SimConfig {
        venue,
        tick_ms: 60_000,
        ..SimConfig::default()
    })
    .expect("simulator")
}

fn adapter(venue: Venue, sim: &SimHandle) -> CcxtExchange {
    let config = VenueConfig {
        rest_url: Some(sim.rest_url()),
        enable_rate_limit: false,
        ..VenueConfig::new(venue.id())
    };
    CcxtExchange::new(&config).expect("adapter")
}

/// Runs `call` and reads the simulator's quote around it; retries when a walk step (a minute
/// boundary, or on Coinbase the first trade of a step) fell in between, so comparisons can be
/// exact.
async fn frozen<T, F, Fut>(sim: &SimHandle, symbol: &str, call: F) -> (T, Quote)
where
    F: Fn() -> Fut,
    Fut: Future<Output = T>,
{
    for _ in 0..3 {
        let before = sim.quote(symbol).expect("listed");
        let out = call().await;
        if sim.quote(symbol) == Some(before) {
            return (out, before);
        }
    }
    panic!("prices kept moving under {symbol}");
}

/// The simulator's name for the venue's single-ticker endpoint (see the sim's `venues` doc).
fn ticker_endpoint(venue: Venue) -> &'static str {
    match venue {
        Venue::Okx => "market/ticker",
        Venue::Bybit => "market/tickers",
        Venue::Kraken => "Ticker",
        Venue::Coinbase => "market/products/{product_id}/ticker",
        Venue::Binance => "ticker/24hr",
    }
}

async fn serves_market_data(venue: Venue) {
    let sim = start(venue);
    let ex = adapter(venue, &sim);
    let markets = ex.load_markets().await.unwrap();
    for (symbol, _) in SYMBOLS {
        let m = markets.iter().find(|m| m.symbol == symbol);
        assert!(m.is_some(), "{venue}: {symbol} in {markets:?}");
    }
    assert!(!markets.iter().any(|m| m.symbol == "BNB/USDT"), "{venue}");

    for (symbol, id) in SYMBOLS {
        let (ticker, q) = frozen(&sim, id, || ex.fetch_ticker(symbol)).await;
        let ticker = ticker.unwrap();
        assert_eq!(ticker.symbol, symbol, "{venue}");
        assert_eq!(
            (ticker.last, ticker.bid, ticker.ask),
            (Some(q.last), Some(q.bid), Some(q.ask)),
            "{venue} {symbol}"
        );
        assert_eq!(sim.current_price(id), Some(q.last), "{venue}");
    }

    let wanted: Vec<String> = SYMBOLS.iter().map(|(s, _)| s.to_string()).collect();
    let (tickers, q) = frozen(&sim, "ETHUSDT", || ex.fetch_tickers(&wanted)).await;
    assert_eq!(tickers.len(), 3, "{venue}");
    let eth = tickers["ETH/USDT"].as_ref().unwrap();
    assert_eq!((eth.symbol.as_str(), eth.last), ("ETH/USDT", Some(q.last)));

    let tf = Timeframe::parse("1m", ex.timeframes()).expect("1m");
    let (candles, q) = frozen(&sim, "BTCUSDT", || {
        ex.fetch_ohlcv("BTC/USDT", &tf, None, 10)
    })
    .await;
    let candles = candles.unwrap();
    assert_eq!(candles.len(), 10, "{venue}");
    assert!(candles
        .windows(2)
        .all(|w| w[1].timestamp - w[0].timestamp == 60_000));
    let last = candles.last().unwrap();
    // The open candle closes at the walk price (the best ask).
    assert_eq!(last.close, q.ask, "{venue}");
    assert!(candles
        .iter()
        .all(|c| c.low <= c.open.min(c.close) && c.high >= c.open.max(c.close)));

    let (book, q) = frozen(&sim, "SOLUSDT", || ex.fetch_order_book("SOL/USDT", 5)).await;
    let book = book.unwrap();
    assert_eq!((book.bids.len(), book.asks.len()), (5, 5), "{venue}");
    assert_eq!(
        (book.bids[0][0], book.asks[0][0]),
        (q.bid, q.ask),
        "{venue}"
    );
    assert!(book.bids.windows(2).all(|w| w[0][0] > w[1][0]));

    let (trades, q) = frozen(&sim, "BTCUSDT", || ex.fetch_trades("BTC/USDT", 10)).await;
    let trades = trades.unwrap();
    assert_eq!(trades.len(), 10, "{venue}");
    assert!(trades
        .iter()
        .all(|t| (t.price - q.last).abs() / q.last < 0.01 && t.amount > 0.0));
    assert!(trades
        .iter()
        .all(|t| t.side.is_some() && t.timestamp.is_some()));

    // Six ticker calls; Coinbase's trades come from the same endpoint.
    let expected = if venue == Venue::Coinbase { 7 } else { 6 };
    assert_eq!(sim.calls(ticker_endpoint(venue)), expected, "{venue}");
    sim.requests()
        .iter()
        .for_each(|r| assert_ne!(r.status, Some(404), "{venue} lacks {r:?}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn okx_serves_market_data() {
    serves_market_data(Venue::Okx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bybit_serves_market_data() {
    serves_market_data(Venue::Bybit).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kraken_serves_market_data() {
    serves_market_data(Venue::Kraken).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coinbase_serves_market_data() {
    serves_market_data(Venue::Coinbase).await;
}

/// What each venue's errors become: symbols ccxt does not know fail before any call; a symbol
/// the venue itself refuses fails as ccxt classifies that venue's error; injected 5xx are
/// `Unavailable`; the venue's rate-limit answer is `RateLimited` with the `Retry-After`.
async fn maps_errors(venue: Venue, venue_refusal: fn(&VenueError) -> bool) {
    let sim = start(venue);
    let ex = adapter(venue, &sim);
    ex.load_markets().await.unwrap();
    let before = sim.total_calls();
    for symbol in ["NOPE/USDT", "BNB/USDT"] {
        let err = ex.fetch_ticker(symbol).await.unwrap_err();
        assert!(
            matches!(err, VenueError::BadSymbol(_)),
            "{venue} {symbol}: {err:?}"
        );
    }
    assert_eq!(sim.total_calls(), before, "{venue}: refused without asking");

    // Listed when the markets were loaded, refused by the venue now.
    sim.set_faults(Faults {
        delisted: vec!["SOLUSDT".into()],
        ..Faults::default()
    });
    let err = ex.fetch_ticker("SOL/USDT").await.unwrap_err();
    assert!(venue_refusal(&err), "{venue}: delisted gave {err:?}");
    let err = ex.fetch_order_book("SOL/USDT", 5).await.unwrap_err();
    assert!(venue_refusal(&err), "{venue}: delisted gave {err:?}");
    assert!(ex.fetch_ticker("BTC/USDT").await.is_ok(), "{venue}");

    for status in [500, 503] {
        sim.set_faults(Faults {
            force_status: Some(status),
            ..Faults::default()
        });
        let err = ex.fetch_trades("BTC/USDT", 5).await.unwrap_err();
        assert!(
            matches!(err, VenueError::Unavailable { .. }),
            "{venue} {status}: {err:?}"
        );
    }

    // Last: a rate limit makes the adapter back off for the Retry-After.
    sim.set_faults(Faults {
        force_status: Some(429),
        retry_after_s: 30,
        ..Faults::default()
    });
    let err = ex.fetch_ticker("ETH/USDT").await.unwrap_err();
    let VenueError::RateLimited { retry_after, .. } = &err else {
        panic!("{venue}: expected rate_limited, got {err:?}")
    };
    assert_eq!(*retry_after, Some(Duration::from_secs(30)), "{venue}");
}

fn bad_symbol(e: &VenueError) -> bool {
    matches!(e, VenueError::BadSymbol(_))
}

/// ccxt maps Kraken's "EQuery:Unknown asset pair" and Coinbase's 404 NOT_FOUND to a plain
/// ExchangeError: the exchange answered and refused.
fn rejected(e: &VenueError) -> bool {
    matches!(e, VenueError::Rejected(_))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn okx_errors() {
    maps_errors(Venue::Okx, bad_symbol).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bybit_errors() {
    maps_errors(Venue::Bybit, bad_symbol).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kraken_errors() {
    maps_errors(Venue::Kraken, rejected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coinbase_errors() {
    maps_errors(Venue::Coinbase, rejected).await;
}

/// Each venue's own limit (`weight_limit` requests a minute here) answers in its format and
/// reaches us as `RateLimited`. Bybit's IP ban (plain-text HTTP 403) is reported by ccxt as
/// `ExchangeNotAvailable` (its 403 → RateLimitExceeded table entry is not applied), so it
/// arrives as `Unavailable`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_limit_is_rate_limited() {
    for venue in [Venue::Okx, Venue::Bybit, Venue::Kraken, Venue::Coinbase] {
        let sim = Simulator::start(SimConfig {
            venue,
            weight_limit: 12,
            ..SimConfig::default()
        })
        .unwrap();
        let ex = adapter(venue, &sim);
        ex.load_markets().await.unwrap();
        let mut outcome = None;
        for _ in 0..20 {
            if let Err(e) = ex.fetch_ticker("BTC/USDT").await {
                outcome = Some(e);
                break;
            }
        }
        let err = outcome.expect("limited within 20 calls");
        assert!(
            matches!(err, VenueError::RateLimited { .. }),
            "{venue}: {err:?}"
        );
    }
    let sim = start(Venue::Bybit);
    let ex = adapter(Venue::Bybit, &sim);
    ex.load_markets().await.unwrap();
    sim.set_faults(Faults {
        force_status: Some(403),
        ..Faults::default()
    });
    let err = ex.fetch_ticker("BTC/USDT").await.unwrap_err();
    assert!(
        matches!(err, VenueError::Unavailable { .. }),
        "bybit 403: {err:?}"
    );
}

/// ccxt's own batched `fetchTickers` (the adapter asks these venues one symbol at a time) also
/// works against each venue. Coinbase's batch is its products list, which carries a last price
/// but no bid/ask: ccxt leaves those empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ccxt_fetch_tickers_batches() {
    for venue in [Venue::Okx, Venue::Bybit, Venue::Kraken, Venue::Coinbase] {
        let sim = start(venue);
        let config = ccxt::Value::from(serde_json::json!({
            "urls": { "api": rebased(venue, &sim) },
            "enableRateLimit": false,
            "options": { "fetchMarkets": { "types": ["spot"] } },
        }));
        let symbols = vec!["BTC/USDT".to_string(), "ETH/USDT".to_string()];
        let before = sim.quote("ETHUSDT").unwrap();
        let tickers = match venue {
            Venue::Okx => {
                ccxt::Okx::new(Some(config))
                    .fetch_tickers(Some(symbols), ())
                    .await
            }
            Venue::Bybit => {
                ccxt::Bybit::new(Some(config))
                    .fetch_tickers(Some(symbols), ())
                    .await
            }
            Venue::Kraken => {
                ccxt::Kraken::new(Some(config))
                    .fetch_tickers(Some(symbols), ())
                    .await
            }
            _ => {
                ccxt::Coinbase::new(Some(config))
                    .fetch_tickers(Some(symbols), ())
                    .await
            }
        }
        .unwrap_or_else(|e| panic!("{venue}: {e:?}"));
        assert_eq!(tickers.len(), 2, "{venue}: {:?}", tickers.keys());
        let eth = &tickers["ETH/USDT"];
        if sim.quote("ETHUSDT") == Some(before) {
            assert_eq!(eth.last, Some(before.last), "{venue}");
            let expect = (venue != Venue::Coinbase).then_some(before.bid);
            assert_eq!(eth.bid, expect, "{venue}");
        }
    }
}

/// The venue's ccxt REST URLs with scheme, host and port replaced by the simulator's.
fn rebased(venue: Venue, sim: &SimHandle) -> serde_json::Value {
    let urls = match venue {
        Venue::Okx => ccxt::Okx::new(None).urls.to_json(),
        Venue::Bybit => ccxt::Bybit::new(None).urls.to_json(),
        Venue::Kraken => ccxt::Kraken::new(None).urls.to_json(),
        _ => ccxt::Coinbase::new(None).urls.to_json(),
    };
    fn walk(v: serde_json::Value, base: &str) -> serde_json::Value {
        match v {
            serde_json::Value::String(s) if s.starts_with("https://") => {
                let rest = &s["https://".len()..];
                let path = rest.find('/').map_or("", |i| &rest[i..]);
                serde_json::Value::String(format!("{base}{path}"))
            }
            serde_json::Value::Object(m) => {
                serde_json::Value::Object(m.into_iter().map(|(k, v)| (k, walk(v, base))).collect())
            }
            other => other,
        }
    }
    walk(urls["api"].clone(), &sim.rest_url())
}
