//! One websocket connection: a reader (control frames, pongs, Binance's limits, simulator
//! commands) and a writer (stream frames, replies, pings, the close frame), run as two futures
//! of one task so that ending either drops the socket at once.
//!
//! The writer takes replies, pings and close frames from an unbounded priority lane before
//! stream frames, so a SUBSCRIBE reply precedes the new streams' events and a close is not stuck
//! behind a queue of ticker updates. Stream frames come from the bounded queue the publishers
//! fill (`Conn::data_tx`).

use super::hub::{Command, Conn, Frame};
use super::payload;
use super::protocol::{self, Action};
use super::streams::{Now, StreamSpec};
use crate::state::{now_ms, now_us, SimState};
use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant, MissedTickBehavior};

/// Binance's limit: more incoming messages than this within one second closes the connection.
pub const MAX_MESSAGES_PER_SEC: usize = 5;
/// Stream frames queued per connection before it counts as too slow and is closed (a few
/// updates of 1024 streams).
pub const DATA_QUEUE: usize = 8192;
/// Frames written before one flush (one syscall for a burst of updates, not one per frame).
const MAX_BATCH: usize = 512;
/// How long a connection that queued its close frame may take to send it.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

/// Sent before any stream frame.
enum Prio {
    Text(Utf8Bytes),
    Ping(Bytes),
    Close(u16, &'static str),
}

/// Why a connection ended (logged).
enum End {
    PeerGone,
    ReadError(String),
    WriteError(String),
    Aborted,
    Closed(&'static str),
    CloseTimeout,
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::PeerGone => f.write_str("peer gone"),
            End::ReadError(e) => write!(f, "read error: {e}"),
            End::WriteError(e) => write!(f, "write error: {e}"),
            End::Aborted => f.write_str("dropped without close frame"),
            End::Closed(reason) => write!(f, "close frame sent ({reason})"),
            End::CloseTimeout => f.write_str("close frame not sent in time"),
        }
    }
}

/// Serves one upgraded connection until it ends, then unsubscribes it.
pub async fn run(
    socket: WebSocket,
    st: Arc<SimState>,
    conn: Arc<Conn>,
    data_rx: mpsc::Receiver<Arc<Frame>>,
    initial: Vec<StreamSpec>,
) {
    tracing::info!(
        conn = conn.id,
        combined = conn.endpoint_combined,
        streams = initial.len(),
        "ws connection opened"
    );
    // The URL's streams were checked against the limit before the upgrade.
    if let Ok(new) = conn.add_subscriptions(initial) {
        st.ws.attach(&conn, new, now_ms());
    }
    let (prio_tx, prio_rx) = mpsc::unbounded_channel();
    let (sink, stream) = socket.split();
    let end = tokio::select! {
        end = write_loop(sink, data_rx, prio_rx, &conn) => end,
        end = read_loop(stream, &st, &conn, prio_tx) => end,
    };
    tracing::info!(conn = conn.id, %end, "ws connection closed");
    st.ws.close(&conn, end.to_string());
}

async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    mut data: mpsc::Receiver<Arc<Frame>>,
    mut prio: mpsc::UnboundedReceiver<Prio>,
    conn: &Conn,
) -> End {
    enum Item {
        Prio(Prio),
        Data(Arc<Frame>),
    }
    loop {
        let first = tokio::select! {
            biased;
            p = prio.recv() => p.map(Item::Prio),
            d = data.recv() => d.map(Item::Data),
        };
        let mut next = first;
        let mut n = 0;
        while let Some(item) = next.take() {
            let msg = match item {
                Item::Prio(Prio::Close(code, reason)) => {
                    let frame = CloseFrame {
                        code,
                        reason: Utf8Bytes::from_static(reason),
                    };
                    if let Err(e) = sink.send(Message::Close(Some(frame))).await {
                        return End::WriteError(e.to_string());
                    }
                    // The reader now waits for the peer's close (the closing handshake) so the
                    // socket is not dropped with unread data, which would reset it and could
                    // lose the close frame on the client's side.
                    return std::future::pending().await;
                }
                Item::Prio(Prio::Ping(p)) => Message::Ping(p),
                Item::Prio(Prio::Text(t)) => Message::Text(t),
                Item::Data(f) => Message::Text(f.text(conn.combined.load(Ordering::Relaxed))),
            };
            let is_text = matches!(msg, Message::Text(_));
            if let Err(e) = sink.feed(msg).await {
                return End::WriteError(e.to_string());
            }
            if is_text {
                conn.sent.fetch_add(1, Ordering::Relaxed);
            }
            n += 1;
            if n < MAX_BATCH {
                next = match prio.try_recv() {
                    Ok(p) => Some(Item::Prio(p)),
                    Err(_) => data.try_recv().ok().map(Item::Data),
                };
            }
        }
        if n == 0 {
            // Both queues closed: the connection is being torn down.
            return End::PeerGone;
        }
        if let Err(e) = sink.flush().await {
            return End::WriteError(e.to_string());
        }
    }
}

/// Incoming-message accounting for Binance's 5-per-second limit.
struct RateWindow {
    recent: VecDeque<Instant>,
}

impl RateWindow {
    /// Records one message; true if the last second now holds too many.
    fn over_limit(&mut self, st: &SimState, conn: &Conn) -> bool {
        let now = Instant::now();
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            self.recent.pop_front();
        }
        self.recent.push_back(now);
        conn.received.fetch_add(1, Ordering::Relaxed);
        conn.max_per_sec
            .fetch_max(self.recent.len() as u64, Ordering::Relaxed);
        st.ws.note_rate(self.recent.len() as u64);
        self.recent.len() > MAX_MESSAGES_PER_SEC
    }
}

/// `sleep_until(t)` for `Some(t)`, never for `None` (select! branches also check `is_some`).
async fn sleep_opt(t: Option<Instant>) {
    match t {
        Some(t) => sleep_until(t).await,
        None => std::future::pending().await,
    }
}

async fn read_loop(
    mut stream: SplitStream<WebSocket>,
    st: &SimState,
    conn: &Arc<Conn>,
    prio: mpsc::UnboundedSender<Prio>,
) -> End {
    let ping_every = Duration::from_millis(st.config.ws_ping_interval_ms.max(1));
    let pong_timeout = Duration::from_millis(st.config.ws_pong_timeout_ms.max(1));
    let mut ping_timer = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
    ping_timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // Unanswered pings, oldest first: a pong echoing one answers it and every older one.
    let mut pings: VecDeque<(Bytes, Instant)> = VecDeque::new();
    let mut window = RateWindow {
        recent: VecDeque::new(),
    };
    let mut commands = conn.commands();
    let mut shutdown_at: Option<Instant> = None;
    // Set once a close frame is queued: from then on incoming messages are only drained until
    // the peer's close, and the connection ends by the deadline regardless.
    let mut closing: Option<(Instant, &'static str)> = None;
    let close = |code, reason| {
        let _ = prio.send(Prio::Close(code, reason));
        Some((Instant::now() + CLOSE_TIMEOUT, reason))
    };
    loop {
        let pong_deadline = pings.front().map(|(_, t)| *t + pong_timeout);
        let open = closing.is_none();
        tokio::select! {
            msg = stream.next() => match (msg, closing) {
                (None, Some((_, reason))) => return End::Closed(reason),
                (None, None) => return End::PeerGone,
                (Some(Err(_)), Some((_, reason))) => return End::Closed(reason),
                (Some(Err(e)), None) => return End::ReadError(e.to_string()),
                (Some(Ok(Message::Close(_))), Some((_, reason))) => return End::Closed(reason),
                (Some(Ok(_)), Some(_)) => {}
                (Some(Ok(msg)), None) => {
                    if window.over_limit(st, conn) {
                        tracing::info!(conn = conn.id, "ws client over 5 messages per second, closing");
                        st.ws.note_rate_limit_close();
                        closing = close(1008, "Too many requests");
                        continue;
                    }
                    match msg {
                        Message::Text(text) => {
                            let (reply, action) = protocol::handle(text.as_str(), conn);
                            let _ = prio.send(Prio::Text(Utf8Bytes::from(reply)));
                            match action {
                                Action::Subscribe(new) => st.ws.attach(conn, new, now_ms()),
                                Action::Unsubscribe(gone) => st.ws.detach(conn, &gone),
                                Action::None => {}
                            }
                        }
                        Message::Pong(payload) => {
                            if let Some(i) = pings.iter().position(|(p, _)| *p == payload) {
                                pings.drain(..=i);
                            }
                        }
                        // The peer's close: answer it (the writer flushes tungstenite's reply).
                        Message::Close(_) => closing = close(1000, "peer closed"),
                        // tungstenite answers pings itself; binary frames mean nothing here.
                        Message::Ping(_) | Message::Binary(_) => {}
                    }
                }
            },
            _ = ping_timer.tick(), if open => {
                let payload = Bytes::from(now_ms().to_string());
                pings.push_back((payload.clone(), Instant::now()));
                let _ = prio.send(Prio::Ping(payload));
            }
            _ = sleep_opt(pong_deadline), if open && pong_deadline.is_some() => {
                tracing::info!(conn = conn.id, "ws client did not answer a ping in time, closing");
                st.ws.note_pong_timeout_close();
                closing = close(1008, "Pong timeout");
            }
            _ = sleep_opt(shutdown_at), if open && shutdown_at.is_some() => {
                closing = close(1001, "Server shutdown");
            }
            _ = sleep_opt(closing.map(|(by, _)| by)), if closing.is_some() => return End::CloseTimeout,
            changed = commands.changed() => {
                if changed.is_err() {
                    return End::Aborted;
                }
                let command = *commands.borrow_and_update();
                match command {
                    Command::Run => {}
                    Command::Abort => return End::Aborted,
                    Command::Close { code, reason } => {
                        if open {
                            closing = close(code, reason);
                        }
                    }
                    Command::Shutdown { grace_ms } => {
                        if open && shutdown_at.is_none() {
                            let event = shutdown_event(conn);
                            let _ = prio.send(Prio::Text(Utf8Bytes::from(event)));
                            shutdown_at = Some(Instant::now() + Duration::from_millis(grace_ms));
                        }
                    }
                }
            }
        }
    }
}

/// `{"e":"serverShutdown","E":..}`, wrapped as stream `!serverShutdown` on combined connections.
fn shutdown_event(conn: &Conn) -> String {
    let data = payload::server_shutdown(Now::from_us(now_us()), conn.unit);
    if conn.combined.load(Ordering::Relaxed) {
        payload::combined("!serverShutdown", &data)
    } else {
        data
    }
}
