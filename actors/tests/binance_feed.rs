//! The engine with the real Binance adapter (ccxt REST + websocket feed) against the
//! simulator's REST and websocket endpoints: streamed tickers are the simulator's, served
//! without REST; dropped connections, refused reconnects, stalled streams and
//! `serverShutdown` are survived with REST polling covering the gaps; many symbols spread
//! over connections within Binance's limits.

use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use crypto_market_actors::engine::ExchangeInfo;
use crypto_market_actors::model::{Clock, DataRequest, MarketData, Source, Ticker};
use crypto_market_actors::venue::VenueConfig;
use crypto_market_actors::Answer;
use crypto_market_actors::{Engine, EngineConfig, TickerWatch};
use crypto_market_sim::{SimConfig, SimHandle, Simulator};

fn sim(ticker_interval_ms: u64, extra_symbols: usize) -> SimHandle {
    Simulator::start(SimConfig {
        ws_ticker_interval_ms: ticker_interval_ms,
        extra_symbols,
        ..SimConfig::default()
    })
    .expect("simulator")
}

fn engine(sim: &SimHandle, ttl: Duration, stall_after: Duration) -> Engine {
    let mut venue = VenueConfig::new("binance");
    venue.rest_url = Some(sim.rest_url());
    venue.ws_url = Some(sim.ws_url());
    venue.enable_rate_limit = false;
    venue.ws_stall_after = stall_after;
    let config = EngineConfig {
        default_exchange: "binance".into(),
        venues: vec![venue],
        cache_ttl: ttl,
        cache_stale_ttl: Duration::from_secs(60),
        cache_capacity: NonZeroUsize::new(100_000).unwrap(),
        symbol_idle_after: Duration::from_secs(600),
        markets_refresh: Duration::from_secs(3600),
        io_threads: 2,
        mailbox_capacity: 65_536,
        clock: Clock::default(),
        remote_cache: None,
        failover: true,
        memory_target_mb: None,
    };
    Engine::start(config).expect("engine")
}

fn info(engine: &Engine) -> ExchangeInfo {
    engine.exchange(None).unwrap().clone()
}

fn ticker(answer: &Answer) -> &Ticker {
    match answer.data.value.as_ref() {
        MarketData::Ticker(ticker) => ticker,
        other => panic!("not a ticker: {other:?}"),
    }
}

async fn next(watch: &mut TickerWatch) -> Answer {
    tokio::time::timeout(Duration::from_secs(20), watch.next())
        .await
        .expect("no ticker update within 20 s")
}

/// The next update from `source`, skipping others; how long it took.
async fn next_from(watch: &mut TickerWatch, source: Source) -> (Answer, Duration) {
    let started = Instant::now();
    loop {
        let update = next(watch).await;
        if update.data.source == source {
            return (update, started.elapsed());
        }
    }
}

/// Waits (up to 10 s) until `condition` holds.
async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..200 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: not within 10 s");
}

/// REST's 24h ticker of `market_id` as the simulator computes it at `at_ms`.
fn rest_last_at(sim: &SimHandle, market_id: &str, at_ms: i64) -> f64 {
    let body = sim
        .rest_body_at("ticker/24hr", &format!("symbol={market_id}"), at_ms as u64)
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    json["lastPrice"].as_str().unwrap().parse().unwrap()
}

#[actix::test]
async fn streamed_tickers_are_the_simulators_and_served_without_rest() {
    let sim = sim(100, 0);
    let engine = engine(&sim, Duration::from_secs(10), Duration::from_secs(5));
    let info = info(&engine);
    let mut watch = engine.watch_ticker(&info, "btcusdt").await.unwrap();
    let mut previous = i64::MIN;
    // REST may answer once if the first tick is slow (a loaded machine); none once it flows.
    let mut polled = None;
    for _ in 0..5 {
        let (update, _) = next_from(&mut watch, Source::Stream).await;
        polled.get_or_insert_with(|| sim.calls("ticker/24hr"));
        let t = ticker(&update);
        let at = t.timestamp.unwrap();
        assert!(at >= previous, "updates in exchange-time order");
        previous = at;
        assert_eq!(t.symbol, "BTC/USDT");
        assert_eq!(t.last, Some(rest_last_at(&sim, "BTCUSDT", at)));
        assert!(t.bid.is_some() && t.ask.is_some() && t.base_volume.is_some());
    }
    let served = engine
        .fetch(&info, "BTC/USDT", DataRequest::Ticker)
        .await
        .unwrap();
    assert_eq!(served.data.source, Source::Stream);
    assert!(served.data.age_ms < 5_000);
    assert_eq!(
        Some(sim.calls("ticker/24hr")),
        polled,
        "no REST ticker call while streaming"
    );
    let stats = engine.feed_stats(&info).unwrap();
    assert_eq!(stats.connections, 1);
    assert!(stats.events >= 5);
    let conns = sim.ws_stats().connections;
    assert_eq!(conns.len(), 1);
    assert_eq!(conns[0].subscriptions, vec!["btcusdt@ticker".to_owned()]);

    // The last watcher leaving closes the stream (and the connection it was alone on).
    drop(watch);
    until("the connection closes with its last stream", || {
        sim.ws_stats().open == 0
    })
    .await;
}

#[actix::test]
async fn dropped_connections_resume_and_rest_polling_covers_the_gap() {
    let sim = sim(200, 0);
    let engine = engine(&sim, Duration::from_secs(1), Duration::from_secs(3));
    let info = info(&engine);
    let mut btc = engine.watch_ticker(&info, "BTC/USDT").await.unwrap();
    let mut eth = engine.watch_ticker(&info, "ETH/USDT").await.unwrap();
    next_from(&mut btc, Source::Stream).await;
    next_from(&mut eth, Source::Stream).await;

    // A plain drop: ticks resume within 2 s on their own.
    assert_eq!(sim.ws_drop_connections(false), 1);
    let (_, resumed) = next_from(&mut btc, Source::Stream).await;
    assert!(
        resumed < Duration::from_secs(2),
        "ticks resumed after {resumed:?}"
    );

    // Reconnects refused for 4 s: REST polling (at the 1 s TTL) keeps the symbols fresh,
    // then the stream comes back with both subscriptions.
    let calls_before = sim.calls("ticker/24hr");
    sim.ws_refuse_connections_for(Duration::from_secs(4));
    sim.ws_drop_connections(true);
    let (polled, _) = next_from(&mut btc, Source::Exchange).await;
    assert_eq!(
        ticker(&polled).last,
        Some(rest_last_at(
            &sim,
            "BTCUSDT",
            ticker(&polled).timestamp.unwrap()
        ))
    );
    next_from(&mut eth, Source::Exchange).await;
    assert!(sim.calls("ticker/24hr") > calls_before);
    next_from(&mut btc, Source::Stream).await;
    next_from(&mut eth, Source::Stream).await;
    let conns = sim.ws_stats().connections;
    assert_eq!(conns.len(), 1);
    let mut subscribed = conns[0].subscriptions.clone();
    subscribed.sort();
    assert_eq!(subscribed, vec!["btcusdt@ticker", "ethusdt@ticker"]);
    assert!(engine.feed_stats(&info).unwrap().reconnects >= 2);
    for c in &conns {
        assert!(c.max_control_per_sec <= 5, "{c:?}");
    }
}

#[actix::test]
async fn a_stalled_stream_is_detected_resubscribed_and_polled_meanwhile() {
    let sim = sim(100, 0);
    let engine = engine(&sim, Duration::from_secs(1), Duration::from_millis(1500));
    let info = info(&engine);
    let mut btc = engine.watch_ticker(&info, "BTC/USDT").await.unwrap();
    let mut eth = engine.watch_ticker(&info, "ETH/USDT").await.unwrap();
    next_from(&mut btc, Source::Stream).await;
    next_from(&mut eth, Source::Stream).await;
    let before = sim.ws_stats().connections[0].clone();
    sim.ws_stall_stream("btcusdt@ticker").unwrap();
    // ETH keeps streaming while BTC falls back to REST.
    next_from(&mut btc, Source::Exchange).await;
    next_from(&mut eth, Source::Stream).await;
    until("the stall is detected", || {
        engine.feed_stats(&info).unwrap().stalls >= 1
    })
    .await;
    // Resubscribed: the same connection saw BTC's stream unsubscribed and subscribed again
    // (the simulator counts both over the connection's life); ETH's was left alone.
    until("BTC's stream resubscribed", || {
        let now = &sim.ws_stats().connections[0];
        now.unsubscribed_total > before.unsubscribed_total
            && now.subscribed_total > before.subscribed_total
    })
    .await;
    let after = sim.ws_stats();
    assert_eq!(after.connections.len(), 1, "{after:?}");
    assert_eq!(after.connections[0].id, before.id, "not a new connection");
    assert_eq!(after.accepted_total, 1, "{after:?}");
    let mut subscribed = after.connections[0].subscriptions.clone();
    subscribed.sort();
    assert_eq!(subscribed, vec!["btcusdt@ticker", "ethusdt@ticker"]);
    sim.ws_unstall_stream("btcusdt@ticker");
    next_from(&mut btc, Source::Stream).await;
}

#[actix::test]
async fn server_shutdown_opens_the_replacement_before_the_old_connection_closes() {
    let mut config = SimConfig {
        ws_ticker_interval_ms: 100,
        ..SimConfig::default()
    };
    config.ws_shutdown_grace_ms = 3_000;
    let sim = Simulator::start(config).expect("simulator");
    let engine = engine(&sim, Duration::from_secs(10), Duration::from_secs(5));
    let info = info(&engine);
    let mut btc = engine.watch_ticker(&info, "BTC/USDT").await.unwrap();
    next_from(&mut btc, Source::Stream).await;
    let old = sim.ws_stats().connections[0].id;
    let shut_down = Instant::now();
    assert_eq!(sim.ws_server_shutdown(None), 1);
    // The old connection closes (by us, once the replacement delivers) within the grace.
    until("the old connection closed", || {
        sim.ws_stats().closed.iter().any(|c| c.id == old)
    })
    .await;
    let closed_after = shut_down.elapsed();
    // Make before break, by the simulator's own clock: the replacement was accepted before
    // the old connection closed, and it carries the stream.
    let stats = sim.ws_stats();
    let closed = stats.closed.iter().find(|c| c.id == old).expect("closed");
    let new = stats
        .connections
        .iter()
        .find(|c| c.id != old)
        .unwrap_or_else(|| panic!("no replacement: {stats:?}"));
    assert_eq!(stats.accepted_total, 2, "{stats:?}");
    let closed_at = closed.closed_at_ms.expect("a close time");
    assert!(
        // Strictly: the replacement delivers a tick (every 100 ms here) before the old one
        // is closed, so the two are never in the same millisecond.
        new.connected_at_ms < closed_at,
        "the replacement ({} ms) opened after the old one closed ({closed_at} ms): {stats:?}",
        new.connected_at_ms
    );
    assert_eq!(
        new.subscriptions,
        vec!["btcusdt@ticker".to_owned()],
        "{stats:?}"
    );
    assert!(
        closed_after < Duration::from_secs(3),
        "the old connection closed before the server's grace ran out ({closed_after:?}): {:?}",
        closed.end
    );
    assert_eq!(
        engine.feed_stats(&info).unwrap().reconnects,
        0,
        "not a loss"
    );
    next_from(&mut btc, Source::Stream).await;
}

#[actix::test]
async fn fifteen_hundred_symbols_use_two_connections_within_the_message_limit() {
    let sim = sim(1000, 1500);
    let engine = engine(&sim, Duration::from_secs(30), Duration::from_secs(10));
    let info = info(&engine);
    let markets = engine.markets(&info, false).await.unwrap();
    let symbols: Vec<String> = markets
        .index
        .markets()
        .iter()
        .map(|m| m.symbol.clone())
        .take(1500)
        .collect();
    assert_eq!(symbols.len(), 1500);
    let mut watches = Vec::new();
    for symbol in &symbols {
        watches.push(engine.watch_ticker(&info, symbol).await.unwrap());
    }
    // Every symbol's ticks arrive from the stream.
    for watch in &mut watches {
        next_from(watch, Source::Stream).await;
    }
    let stats = sim.ws_stats();
    assert_eq!(stats.connections.len(), 2, "1024 + 476 streams");
    let total: usize = stats
        .connections
        .iter()
        .map(|c| c.subscriptions.len())
        .sum();
    assert_eq!(total, 1500);
    assert!(stats
        .connections
        .iter()
        .all(|c| c.subscriptions.len() <= 1024));
    for c in &stats.connections {
        assert!(c.max_control_per_sec <= 5, "{c:?}");
    }
    // The last subscribers leaving close the streams and the connections.
    drop(watches);
    until("every connection closes", || sim.ws_stats().open == 0).await;
}
