//! Starting and stopping the simulator on its own thread and runtime.

use crate::config::SimConfig;
use crate::faults::Faults;
use crate::markets::{MarketChange, NewMarket, RuntimeMarkets};
use crate::requests::RequestRecord;
use crate::rest::router;
use crate::state::{now_ms, SimState};
use crate::ws::{self, WsIntervals, WsStats};
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::oneshot;

/// How long in-flight requests may finish after shutdown is requested before connections are cut.
const GRACE: Duration = Duration::from_millis(250);

/// Entry point: `Simulator::start(SimConfig::default())`.
pub struct Simulator;

impl Simulator {
    /// Binds 127.0.0.1:0 and serves on a private thread; see [`start_on`].
    pub fn start(config: SimConfig) -> io::Result<SimHandle> {
        start_on(config, SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// One simulator per exchange format, in [`crate::Venue::ALL`] order (Binance first), each
    /// on its own port with `config` (its `venue` replaced).
    pub fn start_venues(config: SimConfig) -> io::Result<Vec<SimHandle>> {
        crate::Venue::ALL
            .into_iter()
            .map(|venue| {
                Simulator::start(SimConfig {
                    venue,
                    ..config.clone()
                })
            })
            .collect()
    }
}

/// `id=url,id=url` of `sims`' REST URLs (the engine's `EXCHANGE_REST_URLS` form).
pub fn rest_urls(sims: &[SimHandle]) -> String {
    sims.iter()
        .map(|s| format!("{}={}", s.venue().id(), s.rest_url()))
        .collect::<Vec<_>>()
        .join(",")
}

/// Binds `addr` and serves on a dedicated thread with its own 2-worker tokio runtime, so it
/// works the same from a plain thread, a current-thread `#[tokio::test]` or an actix System.
/// The socket is bound before this returns, so the handle's URL accepts connections at once.
pub fn start_on(config: SimConfig, addr: SocketAddr) -> io::Result<SimHandle> {
    let state =
        Arc::new(SimState::new(config).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?);
    let listener = TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("crypto-market-sim")
        .enable_all()
        .build()?;
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    // Every router carries its venue's websocket too (Binance's `ws`, the others' `vws`).
    let app = crate::venues::router(state.clone()).unwrap_or_else(|| router(state.clone()));
    let binance = state.config.venue == crate::Venue::Binance;
    let state_for_ws = state.clone();
    let thread = std::thread::Builder::new()
        .name("crypto-market-sim".into())
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot register listener");
                        return;
                    }
                };
                // The websocket publishers run on this runtime until it shuts down.
                if binance {
                    ws::publish::spawn(state_for_ws);
                } else {
                    crate::vws::spawn(state_for_ws);
                }
                let (grace_tx, grace_rx) = oneshot::channel::<()>();
                let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                    let _ = stop_rx.await;
                    let _ = grace_tx.send(());
                });
                // Graceful shutdown waits for idle keep-alive connections to close, which a client
                // pool may never do; cap the wait so Drop cannot hang.
                let deadline = async move {
                    let _ = grace_rx.await;
                    tokio::time::sleep(GRACE).await;
                };
                tokio::select! {
                    r = serve => if let Err(e) = r { tracing::error!(error = %e, "server error") },
                    _ = deadline => tracing::debug!("grace period over, closing connections"),
                }
            });
            // Cancels leftover connection tasks.
            runtime.shutdown_timeout(Duration::from_millis(100));
        })?;
    tracing::info!(%addr, "crypto-market-sim started");
    Ok(SimHandle {
        addr,
        state,
        stop: Some(stop_tx),
        thread: Some(thread),
    })
}

/// A running simulator. Dropping it stops the server and joins its thread.
pub struct SimHandle {
    addr: SocketAddr,
    state: Arc<SimState>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl SimHandle {
    pub(crate) fn state(&self) -> &SimState {
        &self.state
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (no trailing slash or path).
    pub fn rest_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn config(&self) -> &SimConfig {
        &self.state.config
    }

    pub fn set_faults(&self, faults: Faults) {
        self.state.faults.set(faults);
    }

    pub fn faults(&self) -> Faults {
        self.state.faults.get()
    }

    /// Requests received by endpoint name, failed ones included: Binance's path after /api/v3/
    /// ("klines", "ticker/24hr"), another venue's path after its REST base ("market/ticker" on
    /// OKX, "Ticker" on Kraken; the full list is in the `venues` module doc). Derivative
    /// requests have names of their own: the path on Binance USDⓈ-M ("fapi/v1/premiumIndex"),
    /// `swap:<endpoint>` on OKX, `linear:<endpoint>` on Bybit.
    pub fn calls(&self, endpoint: &str) -> u64 {
        self.state.calls.get(endpoint)
    }

    pub fn total_calls(&self) -> u64 {
        self.state.calls.total()
    }

    pub fn reset_calls(&self) {
        self.state.calls.reset();
    }

    /// The request log: every exchange API request (Binance's /api/v3, another venue's REST
    /// paths) since start or the last reset, oldest first (at
    /// most [`crate::MAX_REQUESTS`], the most recent). Requests still in flight have
    /// `answered_us` and `status` None.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.state.requests.snapshot(None)
    }

    /// The instant a request log time (`received_us`, `answered_us`) stands for: orders
    /// requests seen by different simulators (which venue was asked first).
    pub fn request_instant(&self, us: u64) -> std::time::Instant {
        self.state.requests.started() + std::time::Duration::from_micros(us)
    }

    /// Empties the request log; `seq` starts again at 0.
    pub fn reset_requests(&self) {
        self.state.requests.reset();
    }

    /// Lists and delists markets (delistings first, all or nothing); see [`MarketChange`].
    /// Listed markets are served by exchangeInfo and every market-data endpoint, with a price
    /// that starts at their `price` now; delisted ones leave exchangeInfo and answer -1121.
    /// `Err` says why nothing changed (bad id, base + quote ≠ symbol, price out of range, id
    /// already listed / not listed). [`SimHandle::reset`] restores the configured markets.
    pub fn change_markets(&self, change: MarketChange) -> Result<RuntimeMarkets, String> {
        self.state.markets.change(&change, now_ms())
    }

    /// Lists one market at `price`: `list_market("NEWUSDT", "NEW", "USDT", 1.5)`.
    pub fn list_market(
        &self,
        symbol: &str,
        base: &str,
        quote: &str,
        price: f64,
    ) -> Result<(), String> {
        self.change_markets(MarketChange {
            list: vec![NewMarket::new(symbol, base, quote, price)],
            delist: Vec::new(),
        })
        .map(|_| ())
    }

    /// Delists one market (configured or listed at runtime) by its Binance id.
    pub fn delist_market(&self, symbol: &str) -> Result<(), String> {
        self.change_markets(MarketChange {
            list: Vec::new(),
            delist: vec![symbol.to_string()],
        })
        .map(|_| ())
    }

    /// Markets listed / delisted at runtime (what GET /__sim/markets answers).
    pub fn runtime_markets(&self) -> RuntimeMarkets {
        self.state.markets.changes()
    }

    /// Configured markets back, faults off (websocket refusal and stalls too), counters and used
    /// weight zero, recorded responses and request log cleared, configured websocket intervals.
    /// Open websocket connections stay open.
    pub fn reset(&self) {
        self.state.reset();
    }

    /// REQUEST_WEIGHT used in the current minute.
    pub fn used_weight(&self) -> u64 {
        self.state.weight.used(now_ms())
    }

    /// The JSON body last served with 200 for `endpoint` and `symbol` (the request's `symbol`
    /// parameter; `None` for calls without one, including `symbols=[...]` calls).
    pub fn last_response(&self, endpoint: &str, symbol: Option<&str>) -> Option<serde_json::Value> {
        let body = self.state.last(endpoint, symbol)?;
        serde_json::from_slice(&body).ok()
    }

    /// Like [`SimHandle::last_response`] but the exact bytes (key order preserved).
    pub fn last_response_raw(&self, endpoint: &str, symbol: Option<&str>) -> Option<String> {
        let body = self.state.last(endpoint, symbol)?;
        String::from_utf8(body.to_vec()).ok()
    }

    /// Binance only: what REST would answer at wall time `at_ms`: the body of
    /// `GET /api/v3/<endpoint>?<query>`
    /// computed as at that instant (no counting, weight or faults), or the Binance error body.
    /// Lets tests compare a websocket event with REST at the event's own time `E`.
    pub fn rest_body_at(&self, endpoint: &str, query: &str, at_ms: u64) -> Result<String, String> {
        let e = crate::rest::Endpoint::from_name(endpoint)
            .ok_or_else(|| format!("unknown endpoint {endpoint}"))?;
        let params = crate::rest::Params::parse(Some(query));
        e.handle(&self.state, &params, at_ms)
            .map_err(|err| err.body())
    }

    /// Other venues: what their REST would answer to `path_and_query`
    /// (`/api/v5/market/books?instId=BTC-USDT&sz=400`) at wall time `at_ms`, computed as at that
    /// instant (no counting, weight or faults). Lets tests compare a websocket message with REST.
    pub fn venue_rest_body_at(&self, path_and_query: &str, at_ms: u64) -> Result<String, String> {
        crate::venues::body_at(&self.state, path_and_query, at_ms)
    }

    /// `ws://127.0.0.1:PORT` (no trailing slash): append `/ws/btcusdt@ticker` or
    /// `/stream?streams=...`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Websocket connections and faults now (what GET /__sim/ws/stats answers).
    pub fn ws_stats(&self) -> WsStats {
        self.state.ws.stats(now_ms())
    }

    /// Drops every open websocket connection: `close_frame == false` just closes the TCP
    /// stream (no close frame, as a dead server or network), `true` sends close 1001 first.
    /// Returns how many connections there were. New connections are accepted as usual.
    pub fn ws_drop_connections(&self, close_frame: bool) -> usize {
        ws::control::drop_all(&self.state, close_frame)
    }

    /// Answers websocket upgrades with HTTP 503 for `duration` from now (`Duration::ZERO`
    /// accepts again at once). Open connections are not affected.
    pub fn ws_refuse_connections_for(&self, duration: Duration) {
        let ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        ws::control::refuse_for(&self.state, ms);
    }

    /// Stops sending `stream` ("btcusdt@ticker") on every connection, silently: connections,
    /// pings and other streams go on. `Err` if the name is not a stream name.
    pub fn ws_stall_stream(&self, stream: &str) -> Result<(), String> {
        ws::control::stall(&self.state, stream)
    }

    /// Resumes a stalled stream.
    /// Makes the diff depth stream `stream` (`btcusdt@depth@100ms`) lose its next event: a
    /// sequence gap its clients must detect.
    pub fn ws_skip_update(&self, stream: &str) -> Result<(), String> {
        ws::control::skip_update(&self.state, stream)
    }

    /// The true spot book at update id `update_id` (= walk step), `limit` levels a side: what a
    /// client following the diff depth stream holds after the event with that `u`.
    pub fn book_at(
        &self,
        symbol: &str,
        update_id: u64,
        limit: usize,
    ) -> Option<crate::market::book::Book> {
        let m = self.state.market();
        let s = m.symbol(symbol)?;
        Some(m.book_at_step(s, update_id, limit))
    }

    /// Frames stream `stream` (`btcusdt@depth@100ms`) handed to its connections, and when the
    /// last one was; None while nobody subscribes it.
    pub fn ws_delivered(&self, stream: &str) -> Option<crate::WsDelivered> {
        self.state.ws.delivered(stream)
    }

    /// Adds `count` (1..=1000) trades of `symbol` ("BTCUSDT") now, on REST and the streams
    /// alike (what `POST /__sim/trades/burst` does): when, and the new trades' ids.
    pub fn trade_burst(
        &self,
        symbol: &str,
        count: u64,
    ) -> Result<crate::market::trades::BurstAdded, String> {
        crate::rest::control::trade_burst_now(&self.state, symbol, count)
    }

    /// The current spot book update id (`lastUpdateId` of `/api/v3/depth` now).
    pub fn book_update_id(&self) -> u64 {
        self.state.market().walk().step_at(now_ms())
    }

    pub fn ws_unstall_stream(&self, stream: &str) {
        ws::control::unstall(&self.state, stream);
    }

    /// Sends `serverShutdown` on every open connection and closes them `grace` later (None: the
    /// configured `ws_shutdown_grace_ms`). New connections are accepted meanwhile. Returns how
    /// many connections were told.
    pub fn ws_server_shutdown(&self, grace: Option<Duration>) -> usize {
        let grace_ms = grace.map(|g| u64::try_from(g.as_millis()).unwrap_or(u64::MAX));
        ws::control::server_shutdown(&self.state, grace_ms)
    }

    /// The websocket update intervals now.
    pub fn ws_intervals(&self) -> WsIntervals {
        self.state.ws.intervals()
    }

    /// Changes the websocket update intervals (each within 10..=3_600_000 ms); they apply from
    /// now. [`SimHandle::reset`] restores the configured ones.
    pub fn set_ws_intervals(&self, intervals: WsIntervals) -> Result<(), String> {
        self.state.ws.set_intervals(intervals)
    }

    /// Changes only the `@ticker` / `@miniTicker` interval.
    pub fn set_ws_ticker_interval(&self, ms: u64) -> Result<(), String> {
        self.set_ws_intervals(WsIntervals {
            ticker_ms: ms,
            ..self.ws_intervals()
        })
    }

    /// The URL of the venue's public websocket: `ws://127.0.0.1:PORT/ws/v5/public` (OKX; its
    /// candles are on `/ws/v5/business`), `/v5/public/spot` (Bybit), `/v2` (Kraken), `/`
    /// (Coinbase); Binance's `ws_url()` + `/ws`.
    pub fn ws_venue_url(&self) -> String {
        let path = crate::vws::path(self.venue()).unwrap_or("/ws");
        format!("{}{path}", self.ws_url())
    }

    /// OKX's, Bybit's, Kraken's and Coinbase's websocket counters and armed faults.
    pub fn ws_venue_stats(&self) -> crate::VenueWsStats {
        self.state.vws.stats()
    }

    /// The book of `symbol` (`BTCUSDT` or the venue's id) as a client of the venue's websocket
    /// holds it after the last update sent (`depth`: which subscribed depth, None: the deepest),
    /// or None if no connection subscribes to it.
    pub fn ws_venue_book(&self, symbol: &str, depth: Option<usize>) -> Option<crate::VenueBook> {
        crate::vws::control::book(&self.state, symbol, depth)
    }

    /// Loses the next websocket book update of `symbol`: it is not sent, its sequence number is
    /// used up (OKX `prevSeqId`, Bybit `u`, Coinbase `sequence_num` jump; Kraken's book is off).
    pub fn ws_venue_skip(&self, symbol: &str) -> Result<(), String> {
        crate::vws::control::skip(&self.state, symbol)
    }

    /// Sends the next websocket book update of `symbol` with a wrong checksum (OKX, Kraken).
    pub fn ws_venue_corrupt_checksum(&self, symbol: &str) -> Result<(), String> {
        crate::vws::control::corrupt(&self.state, symbol)
    }

    /// Stops (`on`) or resumes a venue websocket stream: `kind` is `book`, `ticker`, `trades`
    /// or `candle`.
    pub fn ws_venue_stall(&self, kind: &str, symbol: &str, on: bool) -> Result<(), String> {
        crate::vws::control::stall(&self.state, kind, symbol, on)
    }

    /// The venue served ([`SimConfig::venue`]).
    pub fn venue(&self) -> crate::Venue {
        self.state.config.venue
    }

    /// The last price of `symbol` now, as this venue's REST ticker shows it (Binance's
    /// ticker/price), or None if the venue does not list it. `symbol` is the Binance-style id
    /// ("BTCUSDT") on every venue.
    pub fn current_price(&self, symbol: &str) -> Option<f64> {
        self.price_at(symbol, now_ms())
    }

    /// The last price of `symbol` at `t_ms` (Unix ms) as this venue's REST ticker showed it
    /// then (on Binance: a ticker/24hr's `lastPrice` with `closeTime` `t_ms`), or None if the
    /// venue does not list it. Each venue's price is the shared walk with its own small skew;
    /// Coinbase's last is its latest trade.
    pub fn price_at(&self, symbol: &str, t_ms: u64) -> Option<f64> {
        let m = self.state.market();
        let s = m.symbol(symbol)?;
        Some(crate::market::decimal::to_f64(crate::venues::last_price(
            &m, s, t_ms,
        )))
    }

    /// The `interval` (`1m`, `5m`, `1h`, Binance's names) candle of `symbol` ("BTCUSDT")
    /// opening at `open_ms`, as this venue's REST klines showed it at `at_ms`:
    /// `[open_ms, open, high, low, close, volume]`; None for an unknown symbol or interval.
    pub fn candle_at(
        &self,
        symbol: &str,
        interval: &str,
        open_ms: u64,
        at_ms: u64,
    ) -> Option<[f64; 6]> {
        let m = self.state.market();
        let s = m.symbol(symbol)?;
        let iv = crate::market::interval::Interval::parse(interval)?;
        let c = m.candle(s, iv, open_ms, at_ms);
        let f = crate::market::decimal::to_f64;
        Some([
            c.open_time as f64,
            f(c.open),
            f(c.high),
            f(c.low),
            f(c.close),
            f(c.volume),
        ])
    }

    /// Best bid, best ask and last price of `symbol` ("BTCUSDT") as this venue's REST ticker
    /// shows them now, or None if the venue does not list it. The values change once per walk
    /// step (`tick_ms`); a large `tick_ms` freezes them for exact comparisons.
    pub fn quote(&self, symbol: &str) -> Option<crate::Quote> {
        let m = self.state.market();
        let s = m.symbol(symbol)?;
        Some(crate::venues::quote(&m, s, now_ms()))
    }

    /// The order book of `symbol` ("BTCUSDT") now, `depth` levels a side best first, as
    /// `[price, amount]`: what every venue's depth endpoint serves at this walk step (each in
    /// its own format), or None if the venue does not list it.
    pub fn book(&self, symbol: &str, depth: usize) -> Option<crate::TrueBook> {
        let m = self.state.market();
        let s = m.symbol(symbol)?;
        let b = m.book(s, now_ms(), depth);
        let side = |levels: &[(u64, u64)]| -> Vec<[f64; 2]> {
            levels
                .iter()
                .map(|&(p, q)| {
                    [
                        crate::market::decimal::to_f64(p),
                        crate::market::decimal::to_f64(q),
                    ]
                })
                .collect()
        };
        Some(crate::TrueBook {
            bids: side(&b.bids),
            asks: side(&b.asks),
        })
    }

    /// Stops the server and waits for its thread (what Drop does).
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("simulator thread panicked");
            }
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}
