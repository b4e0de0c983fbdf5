//! The ccxt adapter against the exchange simulator: what happens between the adapter and a
//! real (simulated) Binance, below the actors.

use std::sync::Arc;
use std::time::Duration;

use crypto_market_actors::venue::{CcxtExchange, Exchange, VenueConfig, VenueError};
use crypto_market_sim::{Faults, SimConfig, SimHandle, Simulator};

fn adapter(rest_url: String, max_calls: usize) -> Arc<CcxtExchange> {
    let mut config = VenueConfig::new("binance");
    config.rest_url = Some(rest_url);
    config.max_concurrent_calls = max_calls;
    config.enable_rate_limit = false;
    config.timeout = Duration::from_secs(10);
    Arc::new(CcxtExchange::new(&config).expect("a binance adapter"))
}

fn only(endpoint: &str, faults: Faults) -> Faults {
    Faults {
        endpoints: Some(vec![endpoint.to_owned()]),
        ..faults
    }
}

/// Waits until the simulator has received a request for `endpoint`.
async fn until_requested(sim: &SimHandle, endpoint: &str) {
    for _ in 0..400 {
        if sim.requests().iter().any(|r| r.endpoint == endpoint) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no {endpoint} request within 10 s");
}

/// Issue 9, defect 1: an instance busy on a call while the markets reload comes back with the
/// old markets; it must not serve (it would reject a newly listed symbol without asking).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_during_a_call_leaves_no_instance_with_the_old_markets() {
    let sim = Simulator::start(SimConfig::default()).expect("simulator");
    let ex = adapter(sim.rest_url(), 2);
    ex.load_markets().await.unwrap();
    sim.set_faults(only(
        "ticker/24hr",
        Faults {
            latency_ms: 1500,
            ..Default::default()
        },
    ));
    let slow = {
        let ex = ex.clone();
        tokio::spawn(async move { ex.fetch_ticker("BTC/USDT").await })
    };
    until_requested(&sim, "ticker/24hr").await;
    sim.list_market("NEWUSDT", "NEW", "USDT", 1.5).unwrap();
    let markets = ex.load_markets().await.unwrap();
    assert!(markets.iter().any(|m| m.symbol == "NEW/USDT"));
    slow.await.unwrap().unwrap();
    sim.set_faults(Faults::default());
    // Every instance the pool hands out now knows the new market.
    for _ in 0..4 {
        let ticker = ex.fetch_ticker("NEW/USDT").await.unwrap();
        assert_eq!(ticker.symbol, "NEW/USDT");
    }
}

/// Issue 9, defect 3: a 429's Retry-After is read from the response (ccxt hides it) and
/// becomes the back-off and the hint to the caller, instead of a fixed 5 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_carries_the_exchanges_retry_after() {
    let sim = Simulator::start(SimConfig::default()).expect("simulator");
    let ex = adapter(sim.rest_url(), 2);
    ex.load_markets().await.unwrap();
    sim.set_faults(only(
        "depth",
        Faults {
            force_status: Some(429),
            retry_after_s: 30,
            ..Default::default()
        },
    ));
    let err = ex.fetch_order_book("BTC/USDT", 100).await.unwrap_err();
    let VenueError::RateLimited { retry_after, .. } = &err else {
        panic!("expected rate_limited, got {err:?}")
    };
    assert_eq!(*retry_after, Some(Duration::from_secs(30)));
    // Backing off: the next call is refused here, without reaching the exchange.
    sim.set_faults(Faults::default());
    let before = sim.calls("depth");
    let again = ex.fetch_order_book("BTC/USDT", 100).await.unwrap_err();
    let VenueError::RateLimited {
        retry_after: Some(left),
        ..
    } = again
    else {
        panic!("expected the back-off, got {again:?}")
    };
    assert!(
        left > Duration::from_secs(25) && left <= Duration::from_secs(30),
        "{left:?}"
    );
    assert_eq!(sim.calls("depth"), before);
}

/// A 418 ban: Binance says until when; the adapter stays away that long.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_is_honoured_until_its_end() {
    let sim = Simulator::start(SimConfig::default()).expect("simulator");
    let ex = adapter(sim.rest_url(), 2);
    ex.load_markets().await.unwrap();
    sim.set_faults(only(
        "klines",
        Faults {
            force_status: Some(418),
            retry_after_s: 120,
            ..Default::default()
        },
    ));
    let tf = crypto_market_actors::model::Timeframe::parse("1h", ex.timeframes()).unwrap();
    let err = ex.fetch_ohlcv("BTC/USDT", &tf, None, 10).await.unwrap_err();
    let VenueError::RateLimited {
        retry_after: Some(wait),
        ..
    } = err
    else {
        panic!("expected rate_limited, got {err:?}")
    };
    assert!(
        wait > Duration::from_secs(110) && wait <= Duration::from_secs(120),
        "{wait:?}"
    );
}

/// Issue 9, defect 5: an exchange that cannot be reached says what failed, not "binance
/// rejected the request".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_exchange_says_what_failed() {
    // A port nothing listens on: bound, learnt, released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let ex = adapter(format!("http://127.0.0.1:{port}"), 1);
    let err = ex.load_markets().await.unwrap_err();
    let VenueError::Unreachable(message) = &err else {
        panic!("expected unreachable, got {err:?}")
    };
    assert!(
        message.contains(&format!("connection refused by 127.0.0.1:{port}")),
        "{message}"
    );
    assert!(err.says_exchange_down());

    let bad_name = adapter("http://exchange.invalid".to_owned(), 1);
    let err = bad_name.load_markets().await.unwrap_err();
    assert!(
        matches!(&err, VenueError::Unreachable(m) if m.contains("cannot resolve exchange.invalid")),
        "{err:?}"
    );

    let mut config = VenueConfig::new("binance");
    config.rest_url = Some("not a url".to_owned());
    assert!(
        matches!(CcxtExchange::new(&config), Err(VenueError::Config(m)) if m.contains("not a URL"))
    );
}

/// A symbol delisted since the markets loaded fails only itself inside a batched call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delisted_symbol_fails_only_itself_in_a_batch() {
    let sim = Simulator::start(SimConfig::default()).expect("simulator");
    let ex = adapter(sim.rest_url(), 4);
    ex.load_markets().await.unwrap();
    sim.delist_market("SOLUSDT").unwrap();
    let symbols: Vec<String> = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let answers = ex.fetch_tickers(&symbols).await;
    assert!(answers["BTC/USDT"].is_ok());
    assert!(answers["ETH/USDT"].is_ok());
    assert!(
        matches!(answers["SOL/USDT"], Err(VenueError::BadSymbol(_))),
        "{:?}",
        answers["SOL/USDT"]
    );
}
