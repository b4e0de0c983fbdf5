//! A venue's live feed: the [`Feed`] the router drives, the same for every venue (the
//! venue's dialect is its [`Protocol`]). A manager task spreads the wanted streams over
//! connections (up to `max_streams_per_connection` each, more connections past
//! that), closes a connection when its last stream goes, and replaces a connection the
//! server is about to drop (`serverShutdown`, 24 h) make-before-break.
//!
//! Everything runs on one thread of its own, started on the first subscription: parsing
//! thousands of events a second never delays the actors, and a process that never streams
//! pays nothing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, mpsc, watch};

use super::connection::{Command, Connection, Shared};
use super::protocol::Protocol;
use crate::venue::{EventSink, Feed, FeedOptions, FeedStats, LiveSink, MarketEvent, StreamKey};

/// Events buffered for a slow consumer before it skips ahead (newer values follow).
const EVENT_BUFFER: usize = 16_384;

/// What connections tell the manager.
#[derive(Debug)]
pub enum ManagerEvent {
    /// This connection is going away soon: open a replacement first.
    Replace(u64),
}

enum Request {
    Subscribe(Vec<StreamKey>),
    Unsubscribe(Vec<StreamKey>),
    /// Resubscribe the book stream(s) of this unified symbol.
    ResyncBook(Arc<str>),
}

/// Counters of one feed, read by tests and `exchange_status`, mirrored to Prometheus.
#[derive(Debug, Default)]
pub struct FeedStatus {
    open: AtomicUsize,
    reconnects: AtomicU64,
    ticks: AtomicU64,
    stalls: AtomicU64,
    malformed: AtomicU64,
    controls: AtomicU64,
    /// `cmm_ws_ticks_total` and `cmm_ws_lag_seconds` of this feed's exchange, resolved on the
    /// first frame: a registry lookup (the label's allocation, a hash, a lock) per frame was
    /// a visible share of a busy feed's thread in `perf`.
    tick_metrics: std::sync::OnceLock<(metrics::Counter, metrics::Histogram)>,
}

impl FeedStatus {
    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }
    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }
    pub fn ticks(&self) -> u64 {
        self.ticks.load(Ordering::Relaxed)
    }
    pub fn stalls(&self) -> u64 {
        self.stalls.load(Ordering::Relaxed)
    }
    pub fn malformed_frames(&self) -> u64 {
        self.malformed.load(Ordering::Relaxed)
    }
    pub fn control_messages(&self) -> u64 {
        self.controls.load(Ordering::Relaxed)
    }

    pub(super) fn opened(&self, exchange: &str) {
        let open = self.open.fetch_add(1, Ordering::Relaxed) + 1;
        metrics::gauge!("cmm_ws_connected", "exchange" => exchange.to_owned()).set(open as f64);
    }
    pub(super) fn closed(&self, exchange: &str) {
        let open = self.open.fetch_sub(1, Ordering::Relaxed).saturating_sub(1);
        metrics::gauge!("cmm_ws_connected", "exchange" => exchange.to_owned()).set(open as f64);
    }
    pub(super) fn reconnected(&self, exchange: &str) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("cmm_ws_reconnects_total", "exchange" => exchange.to_owned())
            .increment(1);
    }
    pub(super) fn tick(&self, exchange: &str, lag_ms: i64) {
        self.ticks.fetch_add(1, Ordering::Relaxed);
        let (ticks, lag) = self.tick_metrics.get_or_init(|| {
            (
                metrics::counter!("cmm_ws_ticks_total", "exchange" => exchange.to_owned()),
                metrics::histogram!("cmm_ws_lag_seconds", "exchange" => exchange.to_owned()),
            )
        });
        ticks.increment(1);
        lag.record(lag_ms.max(0) as f64 / 1000.0);
    }
    pub(super) fn stalled(&self, exchange: &str, streams: usize) {
        self.stalls.fetch_add(streams as u64, Ordering::Relaxed);
        metrics::counter!("cmm_ws_stalls_total", "exchange" => exchange.to_owned())
            .increment(streams as u64);
    }
    pub(super) fn malformed(&self, exchange: &str) {
        self.malformed.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("cmm_ws_malformed_total", "exchange" => exchange.to_owned()).increment(1);
    }
    pub(super) fn control_sent(&self) {
        self.controls.fetch_add(1, Ordering::Relaxed);
    }
}

pub struct WsFeed {
    exchange: Arc<str>,
    protocol: Arc<dyn Protocol>,
    options: Arc<FeedOptions>,
    events: broadcast::Sender<MarketEvent>,
    sink: Arc<std::sync::RwLock<Option<EventSink>>>,
    live_sink: Arc<std::sync::RwLock<Option<LiveSink>>>,
    status: Arc<FeedStatus>,
    /// The manager's inbox, once started.
    requests: Mutex<Option<mpsc::UnboundedSender<Request>>>,
}

impl WsFeed {
    pub fn new(exchange: &str, options: FeedOptions, protocol: Arc<dyn Protocol>) -> Self {
        Self {
            exchange: Arc::from(exchange),
            protocol,
            options: Arc::new(options),
            events: broadcast::channel(EVENT_BUFFER).0,
            sink: Arc::default(),
            live_sink: Arc::default(),
            status: Arc::new(FeedStatus::default()),
            requests: Mutex::new(None),
        }
    }

    /// A feed of another endpoint (Binance USDⓈ-M's `fstream`) whose events, sink and counters
    /// are this one's: the router sees one feed per venue.
    pub fn sibling(&self, options: FeedOptions) -> Self {
        self.sibling_speaking(options, self.protocol.clone())
    }

    /// A sibling speaking another dialect of the venue (OKX's `/ws/v5/business`, whose
    /// streams and path differ from `/ws/v5/public`'s).
    pub fn sibling_speaking(&self, options: FeedOptions, protocol: Arc<dyn Protocol>) -> Self {
        Self {
            exchange: self.exchange.clone(),
            protocol,
            options: Arc::new(options),
            events: self.events.clone(),
            sink: self.sink.clone(),
            live_sink: self.live_sink.clone(),
            status: self.status.clone(),
            requests: Mutex::new(None),
        }
    }

    pub fn status(&self) -> &Arc<FeedStatus> {
        &self.status
    }

    fn send(&self, request: Request) {
        let mut requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        if requests.as_ref().is_none_or(|tx| tx.is_closed()) {
            *requests = self.start();
        }
        match requests.as_ref() {
            Some(tx) => {
                // A closed manager was just replaced; a failure here means it died at once.
                let _ = tx.send(request);
            }
            None => {
                tracing::error!(exchange = %self.exchange, "the websocket feed could not start; REST polling serves watched symbols");
            }
        }
    }

    /// Starts the manager on a thread of its own.
    fn start(&self) -> Option<mpsc::UnboundedSender<Request>> {
        let (requests_tx, requests) = mpsc::unbounded_channel();
        let (manager_tx, manager_events) = mpsc::unbounded_channel();
        let shared = Shared {
            exchange: self.exchange.clone(),
            protocol: self.protocol.clone(),
            options: self.options.clone(),
            events: self.events.clone(),
            sink: self.sink.clone(),
            live_sink: self.live_sink.clone(),
            status: self.status.clone(),
            manager: manager_tx,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| tracing::error!(error = %e, "cannot build the websocket runtime"))
            .ok()?;
        let manager = Manager {
            shared,
            connections: Vec::new(),
            retiring: Vec::new(),
            next_id: 1,
        };
        std::thread::Builder::new()
            .name(format!("ws-{}", self.exchange))
            .spawn(move || runtime.block_on(manager.run(requests, manager_events)))
            .map_err(|e| tracing::error!(error = %e, "cannot start the websocket thread"))
            .ok()?;
        Some(requests_tx)
    }
}

impl Feed for WsFeed {
    fn subscribe(&self, streams: &[StreamKey]) {
        self.send(Request::Subscribe(streams.to_vec()));
    }

    fn unsubscribe(&self, streams: &[StreamKey]) {
        self.send(Request::Unsubscribe(streams.to_vec()));
    }

    fn resync_book(&self, symbol: &str) {
        self.send(Request::ResyncBook(Arc::from(symbol)));
    }

    fn events(&self) -> broadcast::Receiver<MarketEvent> {
        self.events.subscribe()
    }

    fn set_sink(&self, sink: EventSink) {
        *self.sink.write().unwrap_or_else(|p| p.into_inner()) = Some(sink);
    }

    fn set_live_sink(&self, sink: LiveSink) {
        *self.live_sink.write().unwrap_or_else(|p| p.into_inner()) = Some(sink);
    }

    fn connected(&self) -> bool {
        self.status.open_connections() > 0
    }

    fn stats(&self) -> FeedStats {
        FeedStats {
            connections: self.status.open_connections(),
            reconnects: self.status.reconnects(),
            events: self.status.ticks(),
            stalls: self.status.stalls(),
            malformed: self.status.malformed_frames(),
            control_messages: self.status.control_messages(),
        }
    }
}

/// A connection as the manager sees it.
struct Handle {
    id: u64,
    streams: HashMap<String, Arc<str>>,
    commands: mpsc::UnboundedSender<Command>,
    ready: watch::Receiver<bool>,
}

struct Manager {
    shared: Shared,
    connections: Vec<Handle>,
    /// Replaced connections still serving until their replacement is ready (dropping a
    /// handle would close its connection at once).
    retiring: Vec<Handle>,
    next_id: u64,
}

impl Manager {
    async fn run(
        mut self,
        mut requests: mpsc::UnboundedReceiver<Request>,
        mut events: mpsc::UnboundedReceiver<ManagerEvent>,
    ) {
        loop {
            tokio::select! {
                request = requests.recv() => match request {
                    Some(Request::Subscribe(keys)) => self.subscribe(keys),
                    Some(Request::Unsubscribe(keys)) => self.unsubscribe(keys),
                    Some(Request::ResyncBook(symbol)) => self.resync_book(&symbol),
                    // The feed was dropped: close everything and end the thread.
                    None => break,
                },
                Some(event) = events.recv() => match event {
                    ManagerEvent::Replace(id) => self.replace(id),
                },
            }
        }
        for handle in self.connections.drain(..).chain(self.retiring.drain(..)) {
            let _ = handle.commands.send(Command::Close);
        }
        // Give the connections a moment to send their close frames.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    fn spawn(&mut self, streams: HashMap<String, Arc<str>>) -> Handle {
        let id = self.next_id;
        self.next_id += 1;
        let (commands, inbox) = mpsc::unbounded_channel();
        let (ready_tx, ready) = watch::channel(false);
        let connection = Connection::new(id, self.shared.clone(), inbox, ready_tx);
        if !streams.is_empty() {
            let _ = commands.send(Command::Subscribe(
                streams
                    .iter()
                    .map(|(n, s)| (n.clone(), s.clone()))
                    .collect(),
            ));
        }
        tokio::spawn(connection.run());
        Handle {
            id,
            streams,
            commands,
            ready,
        }
    }

    fn subscribe(&mut self, keys: Vec<StreamKey>) {
        let max = self.shared.options.max_streams_per_connection.max(1);
        let mut batches: HashMap<u64, Vec<(String, Arc<str>)>> = HashMap::new();
        let protocol = self.shared.protocol.clone();
        let named = keys.into_iter().flat_map(|key| {
            let symbol = key.symbol().clone();
            protocol
                .stream_names(&key)
                .into_iter()
                .map(move |name| (name, symbol.clone()))
        });
        for (name, symbol) in named {
            if self
                .connections
                .iter()
                .any(|c| c.streams.contains_key(&name))
            {
                continue;
            }
            let index = match self.connections.iter().position(|c| c.streams.len() < max) {
                Some(index) => index,
                None => {
                    let handle = self.spawn(HashMap::new());
                    self.connections.push(handle);
                    self.connections.len() - 1
                }
            };
            let connection = &mut self.connections[index];
            connection.streams.insert(name.clone(), symbol.clone());
            batches
                .entry(connection.id)
                .or_default()
                .push((name, symbol));
        }
        for (id, batch) in batches {
            if let Some(connection) = self.connections.iter().find(|c| c.id == id) {
                let _ = connection.commands.send(Command::Subscribe(batch));
            }
        }
    }

    fn unsubscribe(&mut self, keys: Vec<StreamKey>) {
        let mut batches: HashMap<u64, Vec<String>> = HashMap::new();
        let protocol = self.shared.protocol.clone();
        for name in keys.iter().flat_map(|key| protocol.stream_names(key)) {
            if let Some(connection) = self
                .connections
                .iter_mut()
                .find(|c| c.streams.contains_key(&name))
            {
                connection.streams.remove(&name);
                batches.entry(connection.id).or_default().push(name);
            }
        }
        for (id, batch) in batches {
            if let Some(connection) = self.connections.iter().find(|c| c.id == id) {
                let _ = connection.commands.send(Command::Unsubscribe(batch));
            }
        }
        // A connection left without streams closes: nobody wants anything from it.
        self.connections.retain(|c| {
            let keep = !c.streams.is_empty();
            if !keep {
                let _ = c.commands.send(Command::Close);
            }
            keep
        });
    }

    /// The book streams of `symbol`, wherever carried, unsubscribed and subscribed again.
    fn resync_book(&mut self, symbol: &str) {
        for connection in &self.connections {
            let names: Vec<String> = connection
                .streams
                .iter()
                .filter(|(name, s)| &***s == symbol && self.shared.protocol.is_book(name))
                .map(|(name, _)| name.clone())
                .collect();
            if !names.is_empty() {
                let _ = connection.commands.send(Command::Resubscribe(names));
            }
        }
    }

    /// A replacement takes over `id`'s streams; the old one closes once it is ready.
    fn replace(&mut self, id: u64) {
        let Some(index) = self.connections.iter().position(|c| c.id == id) else {
            return;
        };
        let streams = self.connections[index].streams.clone();
        let replacement = self.spawn(streams);
        let old = std::mem::replace(&mut self.connections[index], replacement);
        tracing::info!(exchange = %self.shared.exchange, old = old.id, new = self.connections[index].id, "replacing a websocket connection");
        let ready = self.connections[index].ready.clone();
        let _ = old.commands.send(Command::Retire { ready });
        // Those that have closed since are forgotten.
        self.retiring.retain(|handle| !handle.commands.is_closed());
        self.retiring.push(old);
    }
}
