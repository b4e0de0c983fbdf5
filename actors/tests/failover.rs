//! Failover and cross-venue comparison over scripted exchanges: who serves when the default
//! cannot answer fresh, what a request naming an exchange gets, and how long a slow venue may
//! hold up `compare_tickers`. (The same against the simulator's five formats, through the real
//! binaries: the workspace's `tests/exchanges.rs`.)

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{config, ScriptedExchange};
use crypto_market_actors::model::{DataRequest, MarketData};
use crypto_market_actors::venue::{Exchange, VenueConfig};
use crypto_market_actors::{Engine, EngineConfig, EngineError, ErrorCode};

/// A venue `id` quoting `price` for BTC/USDT, and for ETH/USDT where `lists_eth`.
fn venue(id: &'static str, price: f64, lists_eth: bool) -> Arc<ScriptedExchange> {
    ScriptedExchange::venue(id, price, lists_eth)
}

fn start(venues: &[Arc<ScriptedExchange>], failover: bool, timeout: Duration) -> Engine {
    let config = EngineConfig {
        default_exchange: venues[0].id().into(),
        venues: venues
            .iter()
            .map(|v| VenueConfig {
                timeout,
                ..VenueConfig::new(v.id())
            })
            .collect(),
        failover,
        // Fresh for 10 s, actors idle after a minute.
        ..config(10_000, 60_000)
    };
    let venues = venues
        .iter()
        .map(|v| v.clone() as Arc<dyn Exchange>)
        .collect();
    Engine::start_with_venues(config, venues).unwrap()
}

fn last(answer: &crypto_market_actors::Answer) -> f64 {
    match &*answer.data.value {
        MarketData::Ticker(t) => t.last.unwrap(),
        other => panic!("expected a ticker, got {other:?}"),
    }
}

#[actix::test]
async fn a_default_that_is_down_fails_over_to_the_next_venue_listing_the_symbol() {
    let (a, b, c) = (
        venue("a", 100.0, true),
        venue("b", 200.0, false),
        venue("c", 300.0, true),
    );
    let engine = start(
        &[a.clone(), b.clone(), c.clone()],
        true,
        Duration::from_secs(2),
    );
    a.set_down(true);

    let answer = engine
        .fetch_named(None, "BTCUSDT", DataRequest::Ticker)
        .await
        .unwrap();
    assert_eq!((&*answer.exchange, last(&answer)), ("b", 200.0));
    assert_eq!(answer.failover_from.as_deref(), Some("a"));
    assert!(!answer.data.stale);

    // b does not list ETH/USDT: the next one that does serves it.
    let answer = engine
        .fetch_named(None, "ETH/USDT", DataRequest::Ticker)
        .await
        .unwrap();
    assert_eq!((&*answer.exchange, last(&answer)), ("c", 300.0));
    assert_eq!(answer.failover_from.as_deref(), Some("a"));

    // Naming the exchange never fails over.
    let error = engine
        .fetch_named(Some("a"), "BTC/USDT", DataRequest::Ticker)
        .await
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::ExchangeUnavailable);
    assert!(error.retryable());

    // A request error (unlisted everywhere) is not a reason to fail over.
    let error = engine
        .fetch_named(None, "NOPE/USDT", DataRequest::Ticker)
        .await
        .unwrap_err();
    assert!(matches!(error, EngineError::InvalidSymbol { ref exchange, .. } if exchange == "a"));
}

#[actix::test]
async fn a_stale_default_value_gives_way_to_a_fresh_one_elsewhere_but_beats_nothing() {
    let (a, b) = (venue("a", 100.0, true), venue("b", 200.0, true));
    let engine = start(&[a.clone(), b.clone()], true, Duration::from_secs(2));
    let exchange = engine.exchange(None).unwrap().clone();
    engine
        .fetch(&exchange, "BTC/USDT", DataRequest::Ticker)
        .await
        .unwrap();
    engine.clock().advance(Duration::from_secs(11));
    a.set_down(true);

    let answer = engine
        .fetch_named(None, "BTC/USDT", DataRequest::Ticker)
        .await
        .unwrap();
    assert_eq!(
        (&*answer.exchange, answer.failover_from.as_deref()),
        ("b", Some("a"))
    );

    // Nobody fresh: the default's stale value, as without failover.
    b.set_down(true);
    engine.clock().advance(Duration::from_secs(11));
    let answer = engine
        .fetch_named(None, "BTC/USDT", DataRequest::Ticker)
        .await
        .unwrap();
    assert_eq!((&*answer.exchange, answer.data.stale), ("a", true));
    assert_eq!(answer.failover_from, None);
}

#[actix::test]
async fn without_failover_the_default_error_is_the_answer() {
    let (a, b) = (venue("a", 100.0, true), venue("b", 200.0, true));
    let engine = start(&[a.clone(), b.clone()], false, Duration::from_secs(2));
    a.set_down(true);
    let error = engine
        .fetch_named(None, "BTC/USDT", DataRequest::Ticker)
        .await
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::ExchangeUnavailable);
    assert_eq!(b.calls(), 0, "b was never asked");

    let tickers = engine
        .fetch_tickers_named(None, &["BTC/USDT".to_owned()])
        .await;
    let error = tickers[0]
        .1
        .as_ref()
        .expect_err("no failover for get_tickers either");
    assert_eq!(error.code(), ErrorCode::ExchangeUnavailable);
    assert_eq!(b.calls(), 0, "b was never asked");
}

#[actix::test]
async fn tickers_fail_over_symbol_by_symbol() {
    let (a, b) = (venue("a", 100.0, false), venue("b", 200.0, true));
    let engine = start(&[a.clone(), b.clone()], true, Duration::from_secs(2));
    a.set_down(true);
    let answers = engine
        .fetch_tickers_named(None, &["BTC/USDT".to_owned(), "ETH/USDT".to_owned()])
        .await;
    let btc = answers[0].1.as_ref().unwrap();
    assert_eq!(
        (&*btc.exchange, btc.failover_from.as_deref()),
        ("b", Some("a"))
    );
    // ETH/USDT is not listed on the default: that is the caller's error, not a's outage.
    assert_eq!(
        answers[1].1.as_ref().unwrap_err().code(),
        ErrorCode::InvalidSymbol
    );
}

#[actix::test]
async fn compare_asks_every_venue_at_once_and_a_slow_one_costs_only_its_deadline() {
    let venues = [
        venue("a", 100.0, true),
        venue("b", 102.0, false),
        venue("c", 98.0, true),
    ];
    let engine = start(&venues, true, Duration::from_millis(500));
    venues[2].delay_ms.store(5_000, Ordering::SeqCst);

    let started = Instant::now();
    let comparison = engine.compare_tickers("btc-usdt", None).await.unwrap();
    let took = started.elapsed();
    assert_eq!(&*comparison.symbol, "BTC/USDT");
    let answered: Vec<(&str, f64)> = comparison
        .quotes
        .iter()
        .map(|q| (&*q.exchange, last(q)))
        .collect();
    assert_eq!(answered, vec![("a", 100.0), ("b", 102.0)]);
    assert_eq!(comparison.errors.len(), 1);
    assert_eq!(&*comparison.errors[0].0, "c");
    assert_eq!(comparison.errors[0].1.code(), ErrorCode::Timeout);
    // The deadline (500 ms + a margin) and not the venue's 5 s; generous for a loaded machine.
    assert!(took < Duration::from_secs(3), "took {took:?}");

    // Unnamed venues that do not list the symbol are left out; named ones are errors.
    venues[2].delay_ms.store(0, Ordering::SeqCst);
    let eth = engine.compare_tickers("ETH/USDT", None).await.unwrap();
    assert_eq!(eth.quotes.len(), 2);
    assert!(eth.errors.is_empty());
    let named = engine
        .compare_tickers("ETH/USDT", Some(&["b".to_owned(), "c".to_owned()]))
        .await
        .unwrap();
    assert_eq!(named.quotes.len(), 1);
    assert_eq!(named.errors[0].1.code(), ErrorCode::InvalidSymbol);
    let nowhere = engine.compare_tickers("NOPE/USDT", None).await.unwrap_err();
    assert_eq!(nowhere.code(), ErrorCode::InvalidSymbol);

    // One venue named twice is asked once; an unknown one names the argument.
    let twice = engine
        .compare_tickers("BTC/USDT", Some(&["a".to_owned(), "A".to_owned()]))
        .await
        .unwrap();
    assert_eq!(twice.quotes.len(), 1);
    let unknown = engine
        .compare_tickers("BTC/USDT", Some(&["a".to_owned(), "zz".to_owned()]))
        .await
        .unwrap_err();
    assert!(
        matches!(&unknown, EngineError::InvalidArgument(m) if m.starts_with("exchanges: zz")),
        "{unknown}"
    );
}

#[actix::test]
async fn failing_over_takes_at_most_one_more_deadline() {
    let venues = [
        venue("a", 100.0, true),
        venue("b", 200.0, true),
        venue("c", 300.0, true),
    ];
    let engine = start(&venues, true, Duration::from_millis(300));
    venues[0].set_down(true);
    venues[1].delay_ms.store(5_000, Ordering::SeqCst);
    let started = Instant::now();
    let answer = engine
        .fetch_named(None, "BTC/USDT", DataRequest::Ticker)
        .await;
    let took = started.elapsed();
    // b's call times out at 300 ms, which is also the whole failover's budget: the caller
    // gets a's error rather than waiting a deadline per venue.
    assert_eq!(answer.unwrap_err().code(), ErrorCode::ExchangeUnavailable);
    assert!(took < Duration::from_secs(2), "took {took:?}");
    // Once b answers quickly again, the failover reaches it (another symbol: this fake
    // venue has no call deadline of its own, so b's 5 s BTC call is still in flight).
    venues[1].delay_ms.store(0, Ordering::SeqCst);
    let answer = engine
        .fetch_named(None, "ETH/USDT", DataRequest::Ticker)
        .await
        .unwrap();
    assert_eq!(&*answer.exchange, "b");
}
