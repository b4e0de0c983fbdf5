//! Live books, tapes and tickers of a venue whose book snapshot comes in the stream (Kraken,
//! Coinbase, OKX, Bybit), through the real binary against that venue's simulator: the checks
//! `tests/books_<venue>.rs` share. The simulator's `ws_venue_book` is the book a client of
//! the venue holds after the last update sent: the served book must equal it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crypto_market_sim::{SimConfig, SimHandle, Simulator, Venue};
use rmcp::model::SubscribeRequestParams;
use serde_json::{json, Value};

use super::{ok, start_server, McpServer};

/// How many of the simulator's latest books a served one may be (it may be a step or two
/// behind: see [`Watched::history`]).
const RECENT: usize = 3;

/// A side's levels as served numbers.
use super::book_json::side;

type Levels = Vec<[f64; 2]>;

/// The walk's step while books are compared: the simulator (a debug build, in the test's
/// process) may send a step's update a few hundred ms after it made it (its true book);
/// steps this far apart keep the served book within the last few the simulator held.
pub const BOOK_TICK_MS: u64 = 600;

/// One venue's simulator and the server watching its BTC/USDT.
pub struct Watched {
    pub sim: Arc<SimHandle>,
    /// Every book the simulator held lately, oldest first (sampled every few ms): it may send
    /// a step's update a while after it made it (a debug build, in this process, sharing
    /// the CPU), so the served book is checked against what the simulator held, not only its
    /// newest.
    history: Arc<Mutex<Vec<(Levels, Levels)>>>,
    stop: Arc<AtomicBool>,
    pub server: McpServer,
    /// Levels compared (a side of the served book).
    pub depth: usize,
    series: String,
}

impl Watched {
    /// Starts `venue`'s simulator (its walk stepping every `tick_ms`) and the server on it
    /// (its feed pointed at the simulator's websocket), and watches BTC/USDT's ticker and book.
    pub async fn start(venue: Venue, depth: usize, tick_ms: u64) -> Watched {
        let sim = Simulator::start(SimConfig {
            venue,
            tick_ms,
            ..SimConfig::default()
        })
        .expect("simulator");
        let sim = Arc::new(sim);
        let ws = sim.ws_venue_url();
        let id = venue.id();
        let server = start_server(
            &sim,
            &[
                ("EXCHANGE_NAME", id),
                ("EXCHANGE_WS_URL", &ws),
                ("METRICS_ADDR", "127.0.0.1:0"),
            ],
        )
        .await;
        #[allow(
            deprecated,
            reason = "resources/subscribe is how 2025 clients watch, as tests/books.rs does"
        )]
        // Books and trades stream only for their readers (an orderbook:// or trades://
        // subscription, or a watch): subscribe all three, as a client following them would.
        for resource in ["ticker", "orderbook", "trades"] {
            server
                .client
                .subscribe(SubscribeRequestParams::new(format!(
                    "{resource}://{id}/BTCUSDT"
                )))
                .await
                .expect("subscribed");
        }
        let history: Arc<Mutex<Vec<(Levels, Levels)>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (sampler, seen, halt) = (sim.clone(), history.clone(), stop.clone());
        std::thread::spawn(move || {
            while !halt.load(Ordering::Relaxed) {
                if let Some(book) = truth(&sampler, depth) {
                    let mut seen = seen.lock().unwrap();
                    if seen.last() != Some(&book) {
                        seen.push(book);
                        if seen.len() > 100 {
                            seen.remove(0);
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Watched {
            sim,
            history,
            stop,
            server,
            depth,
            series: format!("cmm_book_resyncs_total{{exchange=\"{id}\"}}"),
        }
    }

    /// The served book, checked never crossed.
    pub async fn book(&self) -> Value {
        let args = json!({"symbol": "BTC/USDT", "limit": self.depth});
        let book = ok(&self.server.call("get_order_book", args).await).clone();
        let (bids, asks) = (side(&book, "bids"), side(&book, "asks"));
        if let (Some(b), Some(a)) = (bids.first(), asks.first()) {
            assert!(b[0] < a[0], "crossed: {book}");
        }
        book
    }

    /// Waits (up to `within`) for the served book to come from the stream and equal a book
    /// the simulator held (exactly, `depth` levels a side).
    pub async fn served_is_true(&self, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let book = self.book().await;
            let served = (side(&book, "bids"), side(&book, "asks"));
            // One of the last few books the simulator held (a second or two): never an old one.
            let recent = {
                let history = self.history.lock().unwrap();
                history.iter().rev().take(RECENT).any(|b| *b == served)
            };
            if book["source"] == "stream" && recent {
                assert_eq!(served.0.len(), self.depth);
                return book;
            }
            if Instant::now() >= deadline {
                let truth = self.history.lock().unwrap().last().cloned();
                panic!("not a true book in time: {book} vs {truth:?}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// A series of book changes, each served book the true one.
    pub async fn follows_the_book(&self) {
        self.served_is_true(Duration::from_secs(15)).await;
        let mut seen = Vec::new();
        for _ in 0..10 {
            let book = self.served_is_true(Duration::from_secs(2)).await;
            seen.push((side(&book, "bids"), side(&book, "asks")));
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        seen.dedup();
        assert!(seen.len() >= 3, "the book moved: {} books", seen.len());
        assert_eq!(self.resyncs().await, 0.0);
    }

    pub async fn resyncs(&self) -> f64 {
        let addr = super::logged_addr(&self.server.stderr, "serving /metrics").await;
        let (_, text) = super::http_get(&addr, "/metrics").await.expect("/metrics");
        text.lines()
            .find_map(|line| line.strip_prefix(self.series.as_str()))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0.0)
    }

    /// After a fault: exactly `resyncs` resyncs so far, the last for `why` (as the server
    /// logs it), the served book true again within 2 s (never crossed on the way: every read
    /// checks), and still true with no more later.
    pub async fn one_resync_then_true(&self, resyncs: f64, why: &str) {
        let start = Instant::now();
        let deadline = start + Duration::from_secs(2);
        loop {
            let book = self.book().await;
            if self.resyncs().await == resyncs && book["source"] == "stream" {
                break;
            }
            assert!(Instant::now() < deadline, "no resync in time: {book}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        self.served_is_true(left).await;
        assert!(start.elapsed() <= Duration::from_secs(2));
        tokio::time::sleep(Duration::from_millis(500)).await;
        self.served_is_true(Duration::from_secs(1)).await;
        assert_eq!(self.resyncs().await, resyncs, "exactly one resync each");
        let log = self.server.stderr.lock().unwrap().clone();
        let last = log
            .lines()
            .rfind(|l| l.contains("resynchronising"))
            .unwrap_or_default()
            .to_owned();
        assert!(last.contains(why), "resynchronised for {why}: {last}");
    }

    /// The venue's connections drop (no close frame, as a dead network): the feed reconnects,
    /// resubscribes, the new subscription's snapshot replaces the book, and the served book
    /// is true again within 5 s, with no resync counted (a new session is not a gap).
    pub async fn heals_after_a_drop(&self) {
        let resyncs = self.resyncs().await;
        let snapshots = self.sim.ws_venue_stats().snapshots;
        assert!(self.sim.ws_drop_connections(false) >= 1);
        let dropped_at = Instant::now();
        // Until the new session's snapshot came: a book the simulator held since the drop.
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.served_is_true(Duration::from_secs(5)).await;
        assert!(dropped_at.elapsed() < Duration::from_secs(5));
        assert_eq!(self.resyncs().await, resyncs);
        until("a new book snapshot", || {
            self.sim.ws_venue_stats().snapshots > snapshots
        })
        .await;
        self.served_is_true(Duration::from_secs(2)).await;
    }

    /// Trades served from the tape, in order with the venue's (consecutive) ids, with no REST
    /// call to `trades_endpoint` while watched; the ticker from the stream.
    pub async fn trades_and_ticker_stream(&self, trades_endpoint: &str) {
        self.trades_and_ticker_stream_of(trades_endpoint, 200).await;
    }

    /// [`Watched::trades_and_ticker_stream`] asking `limit` trades (within what the venue's
    /// REST seeds the tape with: Bybit spot answers at most 60).
    pub async fn trades_and_ticker_stream_of(&self, trades_endpoint: &str, limit: usize) {
        let args = json!({"symbol": "BTC/USDT", "limit": limit});
        let deadline = Instant::now() + Duration::from_secs(15);
        let first = loop {
            let t = ok(&self.server.call("get_trades", args.clone()).await).clone();
            if t["source"] == "stream" {
                break t;
            }
            assert!(Instant::now() < deadline, "never served from the tape: {t}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let calls = self.sim.calls(trades_endpoint);
        let ids = |v: &Value| -> Vec<u64> {
            v["trades"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| trade_number(t["id"].as_str().unwrap()))
                .collect()
        };
        // Until new trades came (a quiet walk may trade seldom).
        let deadline = Instant::now() + Duration::from_secs(10);
        let later = loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let later = ok(&self.server.call("get_trades", args.clone()).await).clone();
            assert_eq!(later["source"], "stream");
            if ids(&later).last() > ids(&first).last() {
                break later;
            }
            assert!(Instant::now() < deadline, "no new trades: {later}");
        };
        assert_eq!(
            self.sim.calls(trades_endpoint),
            calls,
            "no REST call while watched"
        );
        for v in [&first, &later] {
            let ids = ids(v);
            assert_eq!(ids.len(), limit);
            // Trade ids count up one by one: in order, none missing, none twice.
            assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
        }

        let args = json!({"symbol": "BTC/USDT"});
        let ticker = ok(&self.server.call("get_ticker", args).await).clone();
        assert_eq!(ticker["source"], "stream", "{ticker}");
        let last = ticker["last"].as_f64().expect("a last price");
        let now = self.sim.current_price("BTCUSDT").expect("listed");
        assert!((last - now).abs() / now < 0.01, "{last} vs {now}");
    }
}

/// The simulator's number of a trade from its venue id: the id itself, or (Bybit's UUIDs) the
/// UUID's last group, which the simulator makes the number in hex.
pub fn trade_number(id: &str) -> u64 {
    id.parse().unwrap_or_else(|_| {
        let last = id.rsplit('-').next().unwrap_or_default();
        u64::from_str_radix(last, 16).unwrap_or_else(|_| panic!("not a simulator trade id: {id}"))
    })
}

async fn until(what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !ready() {
        assert!(Instant::now() < deadline, "{what}: not in 5 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The book a client of the venue holds after the simulator's last update, `depth` levels a
/// side, as served numbers.
fn truth(sim: &SimHandle, depth: usize) -> Option<(Levels, Levels)> {
    let b = sim.ws_venue_book("BTCUSDT", None)?;
    let levels = |l: &[(String, String)]| -> Levels {
        l.iter()
            .take(depth)
            .map(|(p, q)| [p.parse().unwrap(), q.parse().unwrap()])
            .collect()
    };
    Some((levels(&b.bids), levels(&b.asks)))
}
