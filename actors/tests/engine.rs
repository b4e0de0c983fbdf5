//! The actor core over a scripted exchange: single flight, TTL, stale serving, restarts after a
//! panic, idle symbol actors, rejected symbols, bounded mailboxes. (The ccxt adapter against
//! the simulator is covered by the workspace's integration tests.)
//!
//! Time is the engine's clock, advanced by the tests; nothing asserts that something happened
//! within a wall-clock window. Waiting is "until a condition holds", bounded only by a long
//! timeout that a healthy run never approaches.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use common::{config, ScriptedExchange, GENERATED_MARKETS};
use crypto_market_actors::model::{DataRequest, MarketData, Source, Ticker};
use crypto_market_actors::venue::{Exchange, StreamKey, VenueError};
use crypto_market_actors::{Engine, EngineConfig, EngineError, ErrorCode};

fn start(exchange: &Arc<ScriptedExchange>, ttl_ms: u64, idle_ms: u64) -> Engine {
    start_with(exchange, config(ttl_ms, idle_ms))
}

fn start_with(exchange: &Arc<ScriptedExchange>, config: EngineConfig) -> Engine {
    Engine::start_with_venues(config, vec![exchange.clone() as Arc<dyn Exchange>]).unwrap()
}

async fn ticker_last(engine: &Engine, symbol: &str) -> Result<(f64, Source, bool), EngineError> {
    let exchange = engine.exchange(None)?.clone();
    let answer = engine.fetch(&exchange, symbol, DataRequest::Ticker).await?;
    match &*answer.data.value {
        MarketData::Ticker(t) => Ok((t.last.unwrap(), answer.data.source, answer.data.stale)),
        other => panic!("expected a ticker, got {other:?}"),
    }
}

/// Waits until `condition` holds (the router's background tick runs every few hundred ms).
async fn eventually<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..400 {
        if condition().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: not within 20 s");
}

#[actix::test]
async fn concurrent_cold_requests_share_one_exchange_call() {
    let exchange = ScriptedExchange::new();
    exchange.delay_ms.store(50, Ordering::SeqCst);
    let engine = start(&exchange, 10_000, 600_000);
    let results = futures::future::join_all((0..50).map(|i| {
        let engine = engine.clone();
        // Every spelling of the symbol lands on the same actor.
        let symbol = ["BTC/USDT", "btcusdt", "btc-usdt"][i % 3];
        async move { ticker_last(&engine, symbol).await }
    }))
    .await;
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok((100.0, Source::Exchange, false)))),
        "{results:?}"
    );
    assert_eq!(exchange.calls(), 1);
    assert_eq!(exchange.market_loads.load(Ordering::SeqCst), 1);

    // Within the TTL: from the symbol's state, no call.
    assert_eq!(
        ticker_last(&engine, "BTC/USDT").await.unwrap(),
        (100.0, Source::Cache, false)
    );
    assert_eq!(exchange.calls(), 1);
    // After the TTL: a new call, with the new price.
    exchange
        .prices
        .lock()
        .unwrap()
        .insert("BTC/USDT".into(), 101.0);
    engine.clock().advance(Duration::from_millis(10_001));
    assert_eq!(
        ticker_last(&engine, "BTC/USDT").await.unwrap(),
        (101.0, Source::Exchange, false)
    );
    assert_eq!(exchange.calls(), 2);
    let stats = engine.cache_stats();
    assert_eq!(stats.hits, 1);
}

#[actix::test]
async fn a_cache_hit_is_served_without_any_actor() {
    let exchange = ScriptedExchange::new();
    let engine = start(&exchange, 10_000, 1_000);
    ticker_last(&engine, "BTC/USDT").await.unwrap();
    assert_eq!(engine.symbol_actor_count().await.unwrap(), 1);
    // Idle: the actor stops; its values stay.
    engine.clock().advance(Duration::from_millis(1_500));
    eventually("the idle actor stops", || async {
        engine.symbol_actor_count().await.unwrap() == 0
    })
    .await;
    for _ in 0..10 {
        assert_eq!(
            ticker_last(&engine, "btcusdt").await.unwrap().1,
            Source::Cache
        );
    }
    // No hop: the hits neither called the exchange nor started the actor again.
    assert_eq!(engine.symbol_actor_count().await.unwrap(), 0);
    assert_eq!(exchange.calls(), 1);
}

#[actix::test]
async fn failure_serves_stale_value_only_within_the_stale_window() {
    let exchange = ScriptedExchange::new();
    let engine = start(&exchange, 10_000, 600_000);
    ticker_last(&engine, "BTC/USDT").await.unwrap();
    exchange.fail_with(Some(VenueError::RateLimited {
        message: "429".into(),
        retry_after: Some(Duration::from_secs(7)),
    }));
    engine.clock().advance(Duration::from_secs(11));
    let (last, source, stale) = ticker_last(&engine, "BTC/USDT").await.unwrap();
    assert_eq!((last, source, stale), (100.0, Source::Cache, true));
    let err = ticker_last(&engine, "ETH/USDT").await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::RateLimited);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
    // Past the stale window (60 s): the error, not a value that old.
    engine.clock().advance(Duration::from_secs(60));
    assert_eq!(
        ticker_last(&engine, "BTC/USDT").await.unwrap_err().code(),
        ErrorCode::RateLimited
    );
}

#[actix::test]
async fn request_errors_are_never_papered_over_with_stale_data() {
    let exchange = ScriptedExchange::new();
    let engine = start(&exchange, 10_000, 600_000);
    ticker_last(&engine, "BTC/USDT").await.unwrap();
    exchange.fail_with(Some(VenueError::BadRequest(
        "-1100 illegal characters".into(),
    )));
    engine.clock().advance(Duration::from_secs(11));
    assert_eq!(
        ticker_last(&engine, "BTC/USDT").await.unwrap_err().code(),
        ErrorCode::InvalidArgument
    );
}

/// Issue 9, defect 2: a symbol the market list has but the exchange rejects is remembered
/// (no exchange call for it again) and the list is reloaded early.
#[actix::test]
async fn a_rejected_listed_symbol_is_remembered_and_reloads_the_markets() {
    let exchange = ScriptedExchange::new();
    let engine = start(&exchange, 10_000, 600_000);
    ticker_last(&engine, "BTC/USDT").await.unwrap();
    exchange.rejects.lock().unwrap().push("SOL/USDT".into());
    let err = ticker_last(&engine, "SOL/USDT").await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidSymbol);
    assert!(err.to_string().contains("SOL/USDT"), "{err}");
    let calls = exchange.calls();
    eventually("an early markets reload", || async {
        exchange.market_loads.load(Ordering::SeqCst) == 2
    })
    .await;
    // TTL after TTL: answered from the negative cache, no exchange call.
    for _ in 0..3 {
        engine.clock().advance(Duration::from_secs(11));
        let again = ticker_last(&engine, "sol-usdt").await.unwrap_err();
        assert_eq!(again.code(), ErrorCode::InvalidSymbol);
    }
    assert_eq!(exchange.calls(), calls);
    // Other symbols are unaffected.
    assert_eq!(ticker_last(&engine, "ETH/USDT").await.unwrap().0, 100.0);
}

/// Issue 9, defect 7: a flood finds a bounded mailbox and is told "busy" (rate_limited with a
/// retry hint) instead of queueing without limit; what was accepted is served.
#[actix::test]
async fn a_full_mailbox_answers_busy_instead_of_queueing_without_limit() {
    let exchange = ScriptedExchange::new();
    let mut config = config(10_000, 600_000);
    config.mailbox_capacity = 16;
    let engine = start_with(&exchange, config);
    let info = engine.exchange(None).unwrap().clone();
    let symbols: Vec<String> = (0..200).map(|i| format!("C{i:04}/USDT")).collect();
    let mut calls: Vec<_> = symbols
        .iter()
        .map(|s| Box::pin(engine.fetch(&info, s, DataRequest::Ticker)))
        .collect();
    // Each call reaches the router's mailbox on its first poll; polling them all without
    // yielding leaves the router no chance to drain it in between.
    let mut busy = 0;
    let mut pending = Vec::new();
    for call in calls.iter_mut() {
        match futures::poll!(call.as_mut()) {
            std::task::Poll::Ready(Err(e)) => {
                assert_eq!(e.code(), ErrorCode::RateLimited, "{e}");
                assert!(e.retry_after().is_some());
                busy += 1;
            }
            std::task::Poll::Ready(Ok(_)) => panic!("answered before the router ran"),
            std::task::Poll::Pending => pending.push(call),
        }
    }
    assert!(busy >= 150, "{busy} of 200 told busy");
    for call in pending {
        call.await.unwrap();
    }
}

/// A batched ticker miss fails the way a single one does (one miss path): a recent value
/// marked stale when the exchange failed, a rejected listed symbol remembered.
#[actix::test]
async fn a_batched_miss_falls_back_and_reports_rejections_like_a_single_one() {
    let exchange = ScriptedExchange::new();
    let engine = start(&exchange, 10_000, 600_000);
    let info = engine.exchange(None).unwrap().clone();
    let tickers = |symbols: &[&str]| {
        let inputs: Vec<String> = symbols.iter().map(|s| s.to_string()).collect();
        let engine = engine.clone();
        let info = info.clone();
        async move { engine.fetch_tickers(&info, &inputs).await }
    };
    assert!(tickers(&["BTC/USDT"]).await[0].1.is_ok());
    eventually("the ticker is stored", || async {
        engine.cache_stats().entries == 1
    })
    .await;
    exchange.fail_with(Some(VenueError::unavailable("HTTP 503")));
    engine.clock().advance(Duration::from_secs(11));
    let answers = tickers(&["BTC/USDT", "ETH/USDT"]).await;
    let btc = answers[0].1.as_ref().unwrap();
    assert_eq!((btc.data.source, btc.data.stale), (Source::Cache, true));
    assert_eq!(
        answers[1].1.as_ref().unwrap_err().code(),
        ErrorCode::ExchangeUnavailable
    );

    exchange.fail_with(None);
    exchange.rejects.lock().unwrap().push("SOL/USDT".into());
    let answers = tickers(&["SOL/USDT"]).await;
    assert_eq!(
        answers[0].1.as_ref().unwrap_err().code(),
        ErrorCode::InvalidSymbol
    );
    eventually("an early markets reload", || async {
        exchange.market_loads.load(Ordering::SeqCst) == 2
    })
    .await;
    let calls = exchange.calls();
    let again = ticker_last(&engine, "SOL/USDT").await.unwrap_err();
    assert_eq!(again.code(), ErrorCode::InvalidSymbol);
    assert_eq!(exchange.calls(), calls, "answered from the negative cache");
}

/// Issue 9, defect 8 (engine side): spellings of one market are one answer.
#[actix::test]
async fn tickers_of_many_spellings_of_one_market_are_answered_once() {
    let exchange = ScriptedExchange::new();
    let engine = start(&exchange, 10_000, 600_000);
    let info = engine.exchange(None).unwrap().clone();
    let inputs: Vec<String> = ["BTCUSDT", "BTC/USDT", "btc-usdt", "ETH/USDT", "NOPE/USDT"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let answers = engine.fetch_tickers(&info, &inputs).await;
    let names: Vec<&str> = answers.iter().map(|(input, _)| input.as_str()).collect();
    assert_eq!(names, vec!["BTCUSDT", "ETH/USDT", "NOPE/USDT"]);
    assert_eq!(answers[0].1.as_ref().unwrap().symbol.as_ref(), "BTC/USDT");
    assert_eq!(
        answers[2].1.as_ref().unwrap_err().code(),
        ErrorCode::InvalidSymbol
    );
    assert_eq!(exchange.calls(), 2);
    // The fetched tickers reach their symbols' state (through their actors): then a second
    // round is all hits.
    eventually("the tickers are stored", || async {
        engine.cache_stats().entries == 2
    })
    .await;
    let again = engine.fetch_tickers(&info, &inputs[..4]).await;
    assert!(again
        .iter()
        .all(|(_, a)| a.as_ref().unwrap().data.source == Source::Cache));
    assert_eq!(exchange.calls(), 2);
}

#[actix::test]
async fn a_panicking_symbol_actor_fails_its_callers_and_is_restarted() {
    let exchange = ScriptedExchange::new();
    exchange
        .panic_once
        .lock()
        .unwrap()
        .push("PANIC/USDT".into());
    exchange.delay_ms.store(20, Ordering::SeqCst);
    let engine = start(&exchange, 10_000, 60_000);
    let (panicking, other) = futures::join!(
        ticker_last(&engine, "PANIC/USDT"),
        ticker_last(&engine, "ETH/USDT")
    );
    assert_eq!(panicking.unwrap_err().code(), ErrorCode::Internal);
    assert_eq!(other.unwrap().0, 100.0);
    // The restarted actor serves again.
    assert_eq!(
        ticker_last(&engine, "PANIC/USDT").await.unwrap().1,
        Source::Exchange
    );
}

#[actix::test]
async fn idle_symbol_actors_stop_and_come_back_on_demand() {
    let exchange = ScriptedExchange::new();
    let engine = start(&exchange, 10_000, 1_000);
    for symbol in ["BTC/USDT", "ETH/USDT", "SOL/USDT"] {
        ticker_last(&engine, symbol).await.unwrap();
    }
    assert_eq!(engine.symbol_actor_count().await.unwrap(), 3);
    engine.clock().advance(Duration::from_millis(1_500));
    eventually("idle actors stop", || async {
        engine.symbol_actor_count().await.unwrap() == 0
    })
    .await;
    // A miss on an idle symbol starts its actor again.
    engine.clock().advance(Duration::from_secs(10));
    assert_eq!(
        ticker_last(&engine, "BTC/USDT").await.unwrap().1,
        Source::Exchange
    );
    assert_eq!(engine.symbol_actor_count().await.unwrap(), 1);
    assert_eq!(exchange.calls(), 4);
}

#[actix::test]
async fn unknown_symbols_and_exchanges_are_rejected_with_help() {
    let exchange = ScriptedExchange::new();
    let engine = start(&exchange, 10_000, 60_000);
    let err = ticker_last(&engine, "ETH/USDX").await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidSymbol);
    assert!(err.to_string().contains("did you mean ETH/USDT"), "{err}");
    // Asked again (now through the loaded markets, and from the suggestion cache): same help.
    let again = ticker_last(&engine, "eth-usdx").await.unwrap_err();
    assert!(
        again.to_string().contains("did you mean ETH/USDT"),
        "{again}"
    );
    assert_eq!(
        ticker_last(&engine, "FOO/BAR").await.unwrap_err().code(),
        ErrorCode::InvalidSymbol
    );
    assert_eq!(
        engine.exchange(Some("kraken")).unwrap_err().code(),
        ErrorCode::InvalidArgument
    );
    assert_eq!(exchange.calls(), 0);
}

#[actix::test]
async fn book_limits_within_one_step_share_a_fetch_and_are_cut_best_first() {
    let exchange = ScriptedExchange::new();
    let engine = start(&exchange, 10_000, 60_000);
    let info = engine.exchange(None).unwrap().clone();
    let book = |limit| {
        let engine = engine.clone();
        let info = info.clone();
        async move {
            let answer = engine
                .fetch(&info, "BTC/USDT", DataRequest::OrderBook { limit })
                .await
                .unwrap();
            match &*answer.data.value {
                MarketData::OrderBook(b) => (b.clone(), answer.data.source),
                other => panic!("{other:?}"),
            }
        }
    };
    let (b20, s20) = book(20).await;
    let (b5, s5) = book(5).await;
    assert_eq!(
        (b20.bids.len(), b20.asks.len(), s20),
        (20, 20, Source::Exchange)
    );
    assert_eq!((b5.bids.len(), s5), (5, Source::Cache));
    assert_eq!(b5.bids[0], [99.0, 1.0]);
    assert_eq!(b5.asks[0], [101.0, 1.0]);
}

#[actix::test]
async fn thousands_of_symbols_get_their_own_actors_and_all_stop_when_idle() {
    let exchange = ScriptedExchange::new();
    // Idle after 30 s of the engine's clock, which only the test moves: however long serving
    // 3000 cold symbols takes here, none is let go before it is counted.
    let engine = start(&exchange, 10_000, 30_000);
    let info = engine.exchange(None).unwrap().clone();
    let symbols: Vec<String> = (0..GENERATED_MARKETS)
        .map(|i| format!("c{i:04}usdt"))
        .collect();
    let answers = futures::future::join_all(
        symbols
            .iter()
            .map(|s| engine.fetch(&info, s, DataRequest::Ticker)),
    )
    .await;
    let failed: Vec<_> = answers
        .iter()
        .filter_map(|a| a.as_ref().err())
        .take(3)
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(exchange.calls(), GENERATED_MARKETS);
    let stats = engine.cache_stats();
    assert!(stats.capacity < GENERATED_MARKETS);
    eventually("the cache is trimmed to its capacity", || async {
        engine.cache_stats().entries <= stats.capacity
    })
    .await;
    // Evicted symbols' actors are stopped with them: fewer than one per market remain (how
    // many depends on when each value arrived relative to the trims).
    let live = engine.symbol_actor_count().await.unwrap();
    assert!(live > 0 && live < GENERATED_MARKETS, "{live}");
    engine.clock().advance(Duration::from_secs(31));
    eventually("idle actors are let go", || async {
        engine.symbol_actor_count().await.unwrap() == 0
    })
    .await;
    let stats = engine.cache_stats();
    assert!(
        stats.entries > 0 && stats.entries <= stats.capacity,
        "the most recent values stay, bounded: {stats:?}"
    );
}

/// Moves the engine's clock by `step` until `condition` holds. A background load counted at
/// its start may finish (and schedule its successor from its own end) after the test's last
/// move: moving again in every round makes the wait independent of that race.
async fn advance_until<F>(engine: &Engine, step: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> bool,
{
    for _ in 0..400 {
        if condition() {
            return;
        }
        engine.clock().advance(step);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: not within 20 s");
}

#[actix::test]
async fn markets_are_reloaded_in_the_background_and_kept_when_a_reload_fails() {
    let exchange = ScriptedExchange::new();
    let engine = start(&exchange, 10_000, 600_000);
    ticker_last(&engine, "BTC/USDT").await.unwrap();
    let loads = || exchange.market_loads.load(Ordering::SeqCst);
    assert_eq!(loads(), 1);
    advance_until(
        &engine,
        Duration::from_secs(3601),
        "an hourly reload",
        || loads() >= 2,
    )
    .await;
    exchange.fail_markets.store(true, Ordering::SeqCst);
    let before = loads();
    advance_until(
        &engine,
        Duration::from_secs(3601),
        "a failing reload",
        || loads() > before,
    )
    .await;
    // A failed reload is retried a minute later, not on every tick: without the clock moving,
    // no more loads.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let failed = loads();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(loads(), failed);
    advance_until(&engine, Duration::from_secs(61), "a retried reload", || {
        loads() > failed
    })
    .await;
    // The failed reloads kept the old list: symbols still resolve.
    assert_eq!(ticker_last(&engine, "btcusdt").await.unwrap().0, 100.0);
}

#[actix::test]
async fn a_first_markets_load_that_fails_is_retried_by_the_next_request() {
    let exchange = ScriptedExchange::new();
    exchange.fail_markets.store(true, Ordering::SeqCst);
    let engine = start(&exchange, 10_000, 600_000);
    let err = ticker_last(&engine, "BTC/USDT").await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::ExchangeUnavailable);
    exchange.fail_markets.store(false, Ordering::SeqCst);
    assert_eq!(ticker_last(&engine, "BTC/USDT").await.unwrap().0, 100.0);
    assert_eq!(exchange.market_loads.load(Ordering::SeqCst), 2);
}

/// `io_threads: 0`: exchange calls run on the actors' thread; everything behaves the same,
/// panics included.
#[actix::test]
async fn exchange_calls_can_run_on_the_actors_thread() {
    let exchange = ScriptedExchange::new();
    exchange
        .panic_once
        .lock()
        .unwrap()
        .push("PANIC/USDT".into());
    let mut config = config(10_000, 600_000);
    config.io_threads = 0;
    let engine = start_with(&exchange, config);
    let info = engine.exchange(None).unwrap().clone();
    assert_eq!(
        ticker_last(&engine, "BTC/USDT").await.unwrap(),
        (100.0, Source::Exchange, false)
    );
    let inputs = vec!["ETH/USDT".to_owned(), "SOL/USDT".to_owned()];
    let answers = engine.fetch_tickers(&info, &inputs).await;
    assert!(answers.iter().all(|(_, a)| a.is_ok()), "{answers:?}");
    assert_eq!(
        ticker_last(&engine, "PANIC/USDT").await.unwrap_err().code(),
        ErrorCode::Internal
    );
    assert_eq!(
        ticker_last(&engine, "PANIC/USDT").await.unwrap().1,
        Source::Exchange
    );
}

/// The feed side: a watched symbol is kept fresh from the venue's feed (one subscription
/// however many watchers), served `source: stream` without REST calls, each stored ticker
/// handed to the watchers, and an older pushed value never replaces a newer one.
#[actix::test]
async fn a_feed_keeps_a_watched_symbol_fresh_and_newer_values_win() {
    let (exchange, feed) = ScriptedExchange::with_feed();
    let engine = start(&exchange, 10_000, 600_000);
    let info = engine.exchange(None).unwrap().clone();
    let mut first = engine.watch_ticker(&info, "btcusdt").await.unwrap();
    assert_eq!(first.symbol().as_ref(), "BTC/USDT");
    let second = engine.watch_ticker(&info, "BTC/USDT").await.unwrap();
    let btc = StreamKey::Ticker {
        symbol: Arc::from("BTC/USDT"),
        market_id: Arc::from("BTCUSDT"),
    };
    assert_eq!(*feed.subscribed.lock().unwrap(), vec![btc.clone()]);
    feed.push("BTC/USDT", 2_000, 105.0);
    let update = timeout(first.next()).await;
    assert_eq!(update.data.source, Source::Stream);
    assert_eq!(ticker_of(&update).last, Some(105.0));
    assert_eq!(
        ticker_last(&engine, "BTC/USDT").await.unwrap(),
        (105.0, Source::Stream, false)
    );
    // An older value (by exchange time) arriving later loses; a newer one after it is the
    // next update the watcher sees.
    feed.push("BTC/USDT", 1_000, 99.0);
    feed.push("BTC/USDT", 3_000, 106.0);
    let update = timeout(first.next()).await;
    assert_eq!(ticker_of(&update).last, Some(106.0));
    assert_eq!(ticker_last(&engine, "BTC/USDT").await.unwrap().0, 106.0);
    assert_eq!(exchange.calls(), 0, "no REST call for a streamed symbol");
    drop(second);
    eventually("the router has handled the first release", || async {
        engine.symbol_actor_count().await.unwrap() == 1
    })
    .await;
    assert!(
        feed.unsubscribed.lock().unwrap().is_empty(),
        "one watcher left"
    );
    drop(first);
    eventually("the last release unsubscribes", || async {
        *feed.unsubscribed.lock().unwrap() == vec![btc.clone()]
    })
    .await;
}

/// A venue without a feed: a watched symbol is polled by REST at the TTL, each answer goes
/// to the watcher, and the polling stops with the last watcher.
#[actix::test]
async fn without_a_feed_a_watched_symbol_is_polled_at_the_ttl() {
    let exchange = ScriptedExchange::new();
    let engine = start(&exchange, 300, 600_000);
    let info = engine.exchange(None).unwrap().clone();
    let mut watch = engine.watch_ticker(&info, "ETH/USDT").await.unwrap();
    let update = timeout(watch.next()).await;
    // Fetched for the watch: handed over as it lands, or (if it landed before the first
    // `next`) as the value held at that moment, a cache read.
    assert!(
        matches!(update.data.source, Source::Exchange | Source::Cache),
        "{:?}",
        update.data.source
    );
    assert_eq!(ticker_of(&update).last, Some(100.0));
    exchange
        .prices
        .lock()
        .unwrap()
        .insert("ETH/USDT".into(), 101.0);
    loop {
        let update = timeout(watch.next()).await;
        if ticker_of(&update).last == Some(101.0) {
            break;
        }
    }
    assert!(exchange.calls() >= 2);
    drop(watch);
    // Polling ends at the first check after the release; give it a few periods.
    tokio::time::sleep(Duration::from_millis(900)).await;
    let after_release = exchange.calls();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        exchange.calls(),
        after_release,
        "no polling without a watcher"
    );
}

/// A watched symbol's actor is never stopped as idle nor its entry evicted.
#[actix::test]
async fn a_watched_symbol_stays_live_while_idle() {
    let exchange = ScriptedExchange::new();
    let engine = start(&exchange, 10_000, 200);
    let info = engine.exchange(None).unwrap().clone();
    let watch = engine.watch_ticker(&info, "SOL/USDT").await.unwrap();
    ticker_last(&engine, "BTC/USDT").await.unwrap();
    eventually("the unwatched actor stops", || async {
        engine.symbol_actor_count().await.unwrap() == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(engine.symbol_actor_count().await.unwrap(), 1);
    // The one live actor is SOL's, its entry held: asking for SOL is a memory hit that
    // starts no actor and calls no exchange.
    let calls = exchange.calls();
    let (_, source, stale) = ticker_last(&engine, "SOL/USDT").await.unwrap();
    assert_eq!((source, stale), (Source::Cache, false));
    assert_eq!(exchange.calls(), calls, "SOL's entry was kept");
    assert_eq!(
        engine.symbol_actor_count().await.unwrap(),
        1,
        "SOL's actor was the live one"
    );
    drop(watch);
    eventually("the released actor stops too", || async {
        engine.symbol_actor_count().await.unwrap() == 0
    })
    .await;
}

fn ticker_of(answer: &crypto_market_actors::Answer) -> &Ticker {
    match answer.data.value.as_ref() {
        MarketData::Ticker(ticker) => ticker,
        other => panic!("not a ticker: {other:?}"),
    }
}

async fn timeout<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), future)
        .await
        .expect("no update within 20 s")
}
