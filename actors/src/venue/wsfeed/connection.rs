//! One websocket connection to a venue, carrying many streams (the venue's dialect is its
//! [`Protocol`]). It owns its stream set: after any disconnect it reconnects (jittered
//! exponential back-off) and resubscribes all of it. Control messages are paced below the
//! venue's limit, many streams per message. The read half is polled all the time, so
//! tungstenite's automatic pongs always go out; a venue that wants its own ping gets it. A
//! stream silent for too long is resubscribed; a connection silent for too long is replaced.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use futures::{SinkExt, StreamExt};
use governor::{Quota, RateLimiter};
use tokio::sync::{broadcast, mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

use super::feed::{FeedStatus, ManagerEvent};
use super::protocol::{Protocol, Reader};
use crate::model::{now_ms, MarketData};
use crate::venue::{EventSink, FeedOptions, LiveData, LiveEvent, LiveSink, MarketEvent};

/// Binance ends every connection after 24 h; replace it (make before break) a bit earlier
/// (the others keep theirs longer, so this suits all).
const MAX_AGE: Duration = Duration::from_secs(23 * 3600 + 50 * 60);
/// A connection with no stream hears only pings (every 20 s): this much silence is a dead one.
const IDLE_SILENCE: Duration = Duration::from_secs(60);

/// What the manager tells a connection.
#[derive(Debug)]
pub enum Command {
    /// Carry these streams (name → unified symbol).
    Subscribe(Vec<(String, Arc<str>)>),
    Unsubscribe(Vec<String>),
    /// Unsubscribe and subscribe again (a venue that sends its book snapshot in the stream
    /// sends a new one).
    Resubscribe(Vec<String>),
    /// Close once `ready` says the replacement carries the streams (make before break).
    Retire {
        ready: watch::Receiver<bool>,
    },
    Close,
}

/// The shared parts every connection of a feed uses.
#[derive(Clone)]
pub struct Shared {
    pub exchange: Arc<str>,
    pub protocol: Arc<dyn Protocol>,
    pub options: Arc<FeedOptions>,
    pub events: broadcast::Sender<MarketEvent>,
    /// Direct delivery, once the engine has set it (see [`crate::venue::EventSink`]).
    pub sink: Arc<std::sync::RwLock<Option<EventSink>>>,
    /// Where book, trade and candle events go (none: dropped).
    pub live_sink: Arc<std::sync::RwLock<Option<LiveSink>>>,
    pub status: Arc<FeedStatus>,
    pub manager: mpsc::UnboundedSender<ManagerEvent>,
}

use super::connect::Socket;

/// Why a session ended.
enum Ended {
    /// Lost (error, close, silence): reconnect.
    Lost(String),
    /// Asked to stop, or retired: do not reconnect.
    Done,
}

pub struct Connection {
    id: u64,
    shared: Shared,
    commands: mpsc::UnboundedReceiver<Command>,
    /// Every stream this connection should carry (name → unified symbol).
    streams: HashMap<String, Arc<str>>,
    /// When each stream last delivered (or was (re)subscribed).
    last_seen: HashMap<String, Instant>,
    pending_subscribe: Vec<String>,
    pending_unsubscribe: Vec<String>,
    /// Set once a session carries all its streams and data flows (a replacement's readiness).
    ready: watch::Sender<bool>,
    next_id: u64,
    retire: Option<watch::Receiver<bool>>,
    /// Subscribe requests of this session not yet acknowledged (request id → names).
    awaiting_ack: HashMap<u64, usize>,
    /// The last connection-wide sequence number (venues that number every message), and
    /// gaps in it so far (sessions count too: a new one numbers from scratch).
    last_seq: Option<u64>,
    epoch: u64,
    /// When the frame being read came off the socket: book updates are timed from here
    /// (`cmm_book_apply_seconds`).
    frame_at: Instant,
}

impl Connection {
    pub fn new(
        id: u64,
        shared: Shared,
        commands: mpsc::UnboundedReceiver<Command>,
        ready: watch::Sender<bool>,
    ) -> Self {
        Self {
            id,
            shared,
            commands,
            streams: HashMap::new(),
            last_seen: HashMap::new(),
            pending_subscribe: Vec::new(),
            pending_unsubscribe: Vec::new(),
            ready,
            next_id: 1,
            retire: None,
            awaiting_ack: HashMap::new(),
            last_seq: None,
            epoch: 0,
            frame_at: Instant::now(),
        }
    }

    /// Runs until told to close (or the feed is dropped).
    pub async fn run(mut self) {
        let options = self.shared.options.clone();
        let url = self.shared.protocol.url(&options.url);
        let mut backoff = backoff(&options);
        let mut attempt = 0u32;
        // Sessions in a row that died young: the first reconnects at once, more back off.
        let mut quick_losses = 0u32;
        loop {
            // Commands that came while disconnected only change the wanted set.
            // A retired connection's replacement carries its streams now.
            if !self.drain_commands() || self.retire.is_some() {
                return;
            }
            if attempt > 0 {
                let delay = backoff.next().unwrap_or(options.backoff_max);
                if !self.wait(delay).await {
                    return;
                }
            }
            attempt += 1;
            let socket = match super::connect::connect(&url).await {
                Ok(socket) => socket,
                Err(error) => {
                    tracing::warn!(exchange = %self.shared.exchange, connection = self.id, %error, "websocket connect failed");
                    continue;
                }
            };
            let started = Instant::now();
            self.shared.status.opened(&self.shared.exchange);
            let ended = self.session(socket).await;
            self.shared.status.closed(&self.shared.exchange);
            match ended {
                Ended::Done => return,
                Ended::Lost(why) => {
                    tracing::warn!(exchange = %self.shared.exchange, connection = self.id, %why, "websocket lost; reconnecting");
                    self.shared.status.reconnected(&self.shared.exchange);
                    // A lost connection reconnects at once; one that keeps dying young backs
                    // off (Binance bans IPs that reconnect too often).
                    if started.elapsed() > Duration::from_secs(10) {
                        quick_losses = 0;
                    } else {
                        quick_losses += 1;
                    }
                    if quick_losses <= 1 {
                        backoff = self::backoff(&options);
                        attempt = 0;
                    }
                }
            }
        }
    }

    /// Applies queued commands; `false` when the connection must end.
    fn drain_commands(&mut self) -> bool {
        loop {
            match self.commands.try_recv() {
                Ok(command) => {
                    if !self.apply(command) {
                        return false;
                    }
                }
                Err(mpsc::error::TryRecvError::Empty) => return true,
                Err(mpsc::error::TryRecvError::Disconnected) => return false,
            }
        }
    }

    /// Sleeps `delay` while still following commands; `false` when the connection must end.
    async fn wait(&mut self, delay: Duration) -> bool {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => return true,
                command = self.commands.recv() => {
                    let Some(command) = command else { return false };
                    if !self.apply(command) {
                        return false;
                    }
                }
            }
        }
    }

    /// Updates the wanted set; `false` for Close (and for a retire while disconnected: the
    /// replacement carries the streams).
    fn apply(&mut self, command: Command) -> bool {
        match command {
            Command::Subscribe(streams) => {
                let now = Instant::now();
                for (name, symbol) in streams {
                    self.pending_unsubscribe.retain(|n| *n != name);
                    self.last_seen.insert(name.clone(), now);
                    if self.streams.insert(name.clone(), symbol).is_none() {
                        self.pending_subscribe.push(name);
                    }
                }
                true
            }
            Command::Unsubscribe(names) => {
                for name in names {
                    if self.streams.remove(&name).is_some() {
                        self.last_seen.remove(&name);
                        self.pending_subscribe.retain(|n| *n != name);
                        self.pending_unsubscribe.push(name);
                    }
                }
                true
            }
            Command::Resubscribe(names) => {
                for name in names {
                    if self.streams.contains_key(&name) && !self.pending_subscribe.contains(&name) {
                        self.pending_unsubscribe.push(name.clone());
                        self.pending_subscribe.push(name);
                    }
                }
                true
            }
            Command::Retire { ready } => {
                self.retire = Some(ready);
                true
            }
            Command::Close => false,
        }
    }

    async fn session(&mut self, socket: Socket) -> Ended {
        let options = self.shared.options.clone();
        let (mut sink, mut frames) = socket.split();
        // A new session resubscribes everything wanted; unsubscribes are moot.
        self.pending_unsubscribe.clear();
        self.pending_subscribe = self.streams.keys().cloned().collect();
        let now = Instant::now();
        for seen in self.last_seen.values_mut() {
            *seen = now;
        }
        self.ready.send_replace(self.streams.is_empty());
        let pace = RateLimiter::direct(
            Quota::with_period(options.control_interval.max(Duration::from_millis(1)))
                .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
                .allow_burst(NonZeroU32::MIN),
        );
        let mut checks = tokio::time::interval(Duration::from_millis(500));
        checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let born = Instant::now();
        let mut last_frame = Instant::now();
        self.awaiting_ack.clear();
        self.last_seq = None;
        self.epoch += 1;
        let every = self
            .shared
            .protocol
            .ping_every()
            .max(Duration::from_millis(100));
        let mut pings = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        pings.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let has_control =
                !self.pending_subscribe.is_empty() || !self.pending_unsubscribe.is_empty();
            let retire = self.retire.clone();
            tokio::select! {
                frame = frames.next() => {
                    last_frame = Instant::now();
                    self.frame_at = last_frame;
                    match frame {
                        Some(Ok(Message::Text(text))) => {
                            let protocol = self.shared.protocol.clone();
                            protocol.read(text.as_str(), self);
                        }
                        // Pings are answered by tungstenite itself on the next poll.
                        Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Binary(_) | Message::Frame(_))) => {}
                        Some(Ok(Message::Close(close))) => {
                            return Ended::Lost(format!("closed by the server ({close:?})"));
                        }
                        Some(Err(error)) => return Ended::Lost(error.to_string()),
                        None => return Ended::Lost("connection ended".into()),
                    }
                }
                command = self.commands.recv() => match command {
                    Some(command) => {
                        if !self.apply(command) {
                            let _ = sink.close().await;
                            return Ended::Done;
                        }
                    }
                    None => {
                        let _ = sink.close().await;
                        return Ended::Done;
                    }
                },
                () = pace.until_ready(), if has_control => {
                    let subscribe = self.pending_unsubscribe.is_empty();
                    let per_message = self.shared.protocol.names_per_message();
                    let names = if subscribe {
                        take(&mut self.pending_subscribe, per_message)
                    } else {
                        take(&mut self.pending_unsubscribe, per_message)
                    };
                    let messages = self.shared.protocol.control(subscribe, &names, &mut self.next_id);
                    for (id, text) in messages {
                        if let (true, Some(id)) = (subscribe, id) {
                            self.awaiting_ack.insert(id, names.len());
                        }
                        if let Err(error) = sink.send(Message::text(text)).await {
                            return Ended::Lost(format!("cannot send a control message: {error}"));
                        }
                        self.shared.status.control_sent();
                    }
                }
                _ = pings.tick() => {
                    let id = self.next_id;
                    if let Some(ping) = self.shared.protocol.ping(id) {
                        self.next_id += 1;
                        if let Err(error) = sink.send(Message::text(ping)).await {
                            return Ended::Lost(format!("cannot send a ping: {error}"));
                        }
                    }
                }
                _ = wait_ready(retire) => {
                    let _ = sink.close().await;
                    return Ended::Done;
                }
                _ = checks.tick() => {
                    let silence = if self.streams.is_empty() { IDLE_SILENCE } else { options.stall_after.max(Duration::from_millis(500)) * 2 };
                    if last_frame.elapsed() > silence {
                        return Ended::Lost(format!("silent for {:?}", last_frame.elapsed()));
                    }
                    self.resubscribe_stalled(options.stall_after);
                    if born.elapsed() > MAX_AGE && self.retire.is_none() {
                        let _ = self.shared.manager.send(ManagerEvent::Replace(self.id));
                    }
                }
            }
        }
    }

    /// Notes that `stream` delivered; its unified symbol, or `None` for a stream no longer
    /// carried (unsubscribed a moment ago: its last frames in flight are dropped).
    fn seen(&mut self, stream: &str) -> Option<Arc<str>> {
        let symbol = self.streams.get(stream).cloned()?;
        if let Some(seen) = self.last_seen.get_mut(stream) {
            *seen = Instant::now();
        }
        // Ready (a replacement may take over) once everything is subscribed and data flows,
        // not merely acknowledged.
        if self.awaiting_ack.is_empty() && self.pending_subscribe.is_empty() {
            self.ready
                .send_if_modified(|ready| !std::mem::replace(ready, true));
        }
        Some(symbol)
    }

    /// Hands a parsed event to the engine: straight to its symbol through the sink, else (or
    /// when the sink hands it back) to the feed's broadcast.
    fn deliver(&self, symbol: Arc<str>, stream: &str, update: Result<(MarketData, i64), String>) {
        let (data, event_time_ms) = match update {
            Ok(update) => update,
            Err(error) => {
                tracing::warn!(exchange = %self.shared.exchange, stream, %error, "unreadable stream event dropped");
                self.shared.status.malformed(&self.shared.exchange);
                return;
            }
        };
        let received_ms = now_ms();
        self.shared.status.tick(
            &self.shared.exchange,
            received_ms.saturating_sub(event_time_ms),
        );
        let event = MarketEvent {
            symbol,
            data,
            event_time_ms,
            received_ms,
        };
        let sink = self
            .shared
            .sink
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let undelivered = match sink {
            Some(sink) => sink(event),
            None => Some(event),
        };
        if let Some(event) = undelivered {
            // No receiver (nobody listening yet) is not an error.
            let _ = self.shared.events.send(event);
        }
    }

    /// Hands a book, trade or candle event to the live sink (parsed on the feed's thread).
    fn deliver_live(
        &self,
        symbol: Arc<str>,
        stream: &str,
        parsed: Result<(LiveData, Option<i64>), String>,
    ) {
        let (data, event_time_ms) = match parsed {
            Ok(parsed) => parsed,
            Err(error) => {
                tracing::warn!(exchange = %self.shared.exchange, stream, %error, "unreadable stream event dropped");
                self.shared.status.malformed(&self.shared.exchange);
                return;
            }
        };
        let received_ms = now_ms();
        let event_time_ms = event_time_ms.unwrap_or(received_ms);
        self.shared.status.tick(
            &self.shared.exchange,
            received_ms.saturating_sub(event_time_ms),
        );
        let sink = self
            .shared
            .live_sink
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(sink) = sink {
            sink(LiveEvent {
                symbol,
                data,
                received_ms,
                received_at: self.frame_at,
            });
        }
    }

    /// Streams silent past `stall_after` are resubscribed (UNSUBSCRIBE then SUBSCRIBE); each
    /// is given another full window before the next attempt.
    fn resubscribe_stalled(&mut self, stall_after: Duration) {
        let now = Instant::now();
        let mut stalled = Vec::new();
        for (name, seen) in &mut self.last_seen {
            if now.duration_since(*seen) > stall_after && !self.pending_subscribe.contains(name) {
                *seen = now;
                stalled.push(name.clone());
            }
        }
        if stalled.is_empty() {
            return;
        }
        tracing::warn!(exchange = %self.shared.exchange, connection = self.id, streams = ?stalled, "stalled streams: resubscribing");
        self.shared
            .status
            .stalled(&self.shared.exchange, stalled.len());
        self.pending_unsubscribe.extend(stalled.iter().cloned());
        self.pending_subscribe.extend(stalled);
    }
}

fn take(names: &mut Vec<String>, per_message: usize) -> Vec<String> {
    let n = names.len().min(per_message.max(1));
    names.drain(..n).collect()
}

async fn wait_ready(retire: Option<watch::Receiver<bool>>) {
    match retire {
        Some(mut ready) => {
            if ready.wait_for(|ready| *ready).await.is_err() {
                // The replacement went away before it was ready: keep serving.
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}

fn backoff(options: &FeedOptions) -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(options.backoff_min)
        .with_max_delay(options.backoff_max)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build()
}

impl Reader for Connection {
    fn stream(&mut self, stream: &str) -> Option<Arc<str>> {
        self.seen(stream)
    }

    fn market(
        &mut self,
        symbol: Arc<str>,
        stream: &str,
        update: Result<(MarketData, i64), String>,
    ) {
        self.deliver(symbol, stream, update);
    }

    fn live(
        &mut self,
        symbol: Arc<str>,
        stream: &str,
        update: Result<(LiveData, Option<i64>), String>,
    ) {
        self.deliver_live(symbol, stream, update);
    }

    fn ack(&mut self, id: Option<u64>) {
        match id {
            Some(id) => {
                self.awaiting_ack.remove(&id);
            }
            None => self.awaiting_ack.clear(),
        }
    }

    fn refused(&mut self, id: Option<u64>, message: &str) {
        tracing::warn!(exchange = %self.shared.exchange, connection = self.id, ?id, %message, "control message refused");
        if let Some(id) = id {
            self.awaiting_ack.remove(&id);
        }
    }

    fn shutdown(&mut self) {
        tracing::info!(exchange = %self.shared.exchange, connection = self.id, "the server announced a shutdown: opening a replacement first");
        if self.retire.is_none() {
            let _ = self.shared.manager.send(ManagerEvent::Replace(self.id));
        }
    }

    fn malformed(&mut self, error: &str) {
        tracing::warn!(exchange = %self.shared.exchange, %error, "unreadable frame dropped");
        self.shared.status.malformed(&self.shared.exchange);
    }

    fn sequence(&mut self, seq: u64) -> u64 {
        if self
            .last_seq
            .is_some_and(|last| last.checked_add(1) != Some(seq))
        {
            tracing::warn!(exchange = %self.shared.exchange, connection = self.id, seq, "a message was lost on this connection");
            self.epoch += 1;
        }
        self.last_seq = Some(seq);
        // Unique across the feed's connections (a symbol may move to a replacement).
        (self.id << 32) | (self.epoch & 0xffff_ffff)
    }
}
