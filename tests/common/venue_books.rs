//! Live books, tapes and tickers of a venue whose book snapshot comes in the stream (Kraken,
//! Coinbase), through the real binary against that venue's simulator: the checks
//! `tests/books_<venue>.rs` share. The simulator's `ws_venue_book` is the book a client of
//! the venue holds after the last update sent: the served book must equal it.

use std::time::{Duration, Instant};

use crypto_market_sim::{SimConfig, SimHandle, Simulator, Venue};
use rmcp::model::SubscribeRequestParams;
use serde_json::{json, Value};

use super::{ok, start_server, McpServer};

/// One venue's simulator and the server watching its BTC/USDT.
pub struct Watched {
    pub sim: SimHandle,
    pub server: McpServer,
    /// Levels compared (a side of the served book).
    pub depth: usize,
    series: String,
}

impl Watched {
    /// Starts `venue`'s simulator and the server on it (its feed pointed at the simulator's
    /// websocket), and watches BTC/USDT.
    pub async fn start(venue: Venue, depth: usize) -> Watched {
        let sim = Simulator::start(SimConfig {
            venue,
            ..SimConfig::default()
        })
        .expect("simulator");
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
        #[allow(deprecated)]
        server
            .client
            .subscribe(SubscribeRequestParams::new(format!("ticker://{id}/BTCUSDT")))
            .await
            .expect("subscribed");
        Watched {
            sim,
            server,
            depth,
            series: format!("cmm_book_resyncs_total{{exchange=\"{id}\"}}"),
        }
    }

    /// The book a client of the venue holds after the simulator's last update, `depth`
    /// levels a side, as served numbers.
    fn truth(&self) -> Option<(Vec<[f64; 2]>, Vec<[f64; 2]>)> {
        let b = self.sim.ws_venue_book("BTCUSDT", None)?;
        let levels = |l: &[(String, String)]| -> Vec<[f64; 2]> {
            l.iter()
                .take(self.depth)
                .map(|(p, q)| [p.parse().unwrap(), q.parse().unwrap()])
                .collect()
        };
        Some((levels(&b.bids), levels(&b.asks)))
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

    /// Waits (up to `within`) for the served book to come from the stream and equal the
    /// simulator's between two looks at it (the engine may be a frame behind: look again).
    pub async fn served_is_true(&self, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let before = self.truth();
            let book = self.book().await;
            let after = self.truth();
            if book["source"] == "stream" && before == after {
                let (bids, asks) = after.clone().expect("a book subscribed");
                if side(&book, "bids") == bids && side(&book, "asks") == asks {
                    assert_eq!(bids.len(), self.depth);
                    return book;
                }
            }
            assert!(
                Instant::now() < deadline,
                "not the true book in time: {book} vs {after:?}"
            );
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

    /// After a fault: exactly `resyncs` resyncs so far, the served book true again within 2 s
    /// (never crossed on the way: every read checks), and still true with no more later.
    pub async fn one_resync_then_true(&self, resyncs: f64) {
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
    }

    /// Trades served from the tape, in order with the venue's (consecutive) ids, with no REST
    /// call to `trades_endpoint` while watched; the ticker from the stream.
    pub async fn trades_and_ticker_stream(&self, trades_endpoint: &str) {
        let args = json!({"symbol": "BTC/USDT", "limit": 200});
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
        tokio::time::sleep(Duration::from_secs(2)).await;
        let later = ok(&self.server.call("get_trades", args.clone()).await).clone();
        assert_eq!(later["source"], "stream");
        assert_eq!(
            self.sim.calls(trades_endpoint),
            calls,
            "no REST call while watched"
        );
        let ids = |v: &Value| -> Vec<u64> {
            v["trades"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_str().unwrap().parse().unwrap())
                .collect()
        };
        for v in [&first, &later] {
            let ids = ids(v);
            assert_eq!(ids.len(), 200);
            // Trade ids count up one by one: in order, none missing, none twice.
            assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
        }
        assert!(ids(&later).last() > ids(&first).last(), "new trades arrived");

        let args = json!({"symbol": "BTC/USDT"});
        let ticker = ok(&self.server.call("get_ticker", args).await).clone();
        assert_eq!(ticker["source"], "stream", "{ticker}");
        let last = ticker["last"].as_f64().expect("a last price");
        let now = self.sim.current_price("BTCUSDT").expect("listed");
        assert!((last - now).abs() / now < 0.01, "{last} vs {now}");
    }
}

fn side(book: &Value, name: &str) -> Vec<[f64; 2]> {
    book[name]
        .as_array()
        .expect("levels")
        .iter()
        .map(|l| [l[0].as_f64().unwrap(), l[1].as_f64().unwrap()])
        .collect()
}
