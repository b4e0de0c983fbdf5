//! One connection to a venue websocket: the venue's protocol answers the client's messages
//! (subscribe, unsubscribe, ping), the topics' messages are written as they come, and the
//! simulator's commands (drop, close, shutdown: `crate::ws::control`) end it. The connection is
//! registered with the Binance hub so those controls and its stats cover every venue.

use super::topics::{Msg, Sub, TopicKey};
use crate::state::{now_ms, SimState};
use crate::ws::hub::{Command, Conn};
use crate::ws::streams::TimeUnit;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};

/// Messages queued per connection before it counts as too slow and is closed.
const QUEUE: usize = 8192;
/// Largest incoming message accepted.
const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// A venue's side of a connection.
pub trait Protocol: Sync {
    /// Sent once the connection is open (Kraken's `status`), if anything.
    fn hello(&self, _ctx: &Ctx) -> Option<Arc<Msg>> {
        None
    }
    /// Answers one text message.
    fn handle(&self, st: &SimState, ctx: &Ctx, text: &str) -> Handled;
    /// What the venue sends before closing for a service upgrade (the simulator's shutdown
    /// command), if it announces one.
    fn shutdown_notice(&self, _ctx: &Ctx) -> Option<Arc<Msg>> {
        None
    }
    /// Called every second: a heartbeat to send, if the venue sends one.
    fn second(&self, _ctx: &Ctx) -> Option<Arc<Msg>> {
        None
    }
}

/// What a message asks for: replies first, then (un)subscriptions in order.
#[derive(Default)]
pub struct Handled {
    pub replies: Vec<Arc<Msg>>,
    pub subscribe: Vec<TopicKey>,
    pub unsubscribe: Vec<TopicKey>,
}

/// A connection as its protocol sees it.
pub struct Ctx {
    pub conn: Arc<Conn>,
    tx: mpsc::Sender<Arc<Msg>>,
    /// The topics subscribed.
    pub subs: Mutex<HashSet<TopicKey>>,
    /// Per-connection options a venue keeps (Coinbase's `heartbeats`).
    pub flags: Mutex<HashSet<String>>,
    /// The id the venue reports (OKX `connId`, Bybit `conn_id`).
    pub conn_id: String,
    /// A per-connection count a venue keeps (Coinbase's `heartbeat_counter`).
    pub counter: AtomicU64,
}

impl Ctx {
    pub fn subscribed(&self, key: &TopicKey) -> bool {
        self.subs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(key)
    }

    pub fn flag(&self, name: &str) -> bool {
        self.flags
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(name)
    }

    pub fn set_flag(&self, name: &str, on: bool) {
        let mut f = self.flags.lock().unwrap_or_else(PoisonError::into_inner);
        if on {
            f.insert(name.to_string());
        } else {
            f.remove(name);
        }
    }

    fn queue(&self, msg: Arc<Msg>) {
        super::topics::send(
            &Sub {
                conn: self.conn.clone(),
                tx: self.tx.clone(),
            },
            msg,
        );
    }
}

/// Accepts an upgrade for `proto` unless the simulator refuses connections now.
pub fn upgrade(st: Arc<SimState>, ws: WebSocketUpgrade, proto: &'static dyn Protocol) -> Response {
    if st.ws.refuses(now_ms()) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "websocket connections refused",
        )
            .into_response();
    }
    ws.max_message_size(MAX_MESSAGE_BYTES)
        .on_failed_upgrade(|e| tracing::warn!(error = %e, "ws upgrade failed"))
        .on_upgrade(move |socket| run(socket, st, proto))
}

/// OKX's `/ws/v5/business` (candles).
pub async fn upgrade_okx_business(
    State(st): State<Arc<SimState>>,
    ws: WebSocketUpgrade,
) -> Response {
    upgrade(st, ws, &super::okx::BUSINESS)
}

/// The handler of the venue's websocket path.
pub async fn upgrade_venue(State(st): State<Arc<SimState>>, ws: WebSocketUpgrade) -> Response {
    match super::protocol(st.config.venue) {
        Some(p) => upgrade(st, ws, p),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn sleep_opt(t: Option<Instant>) {
    match t {
        Some(t) => sleep_until(t).await,
        None => std::future::pending().await,
    }
}

async fn run(socket: WebSocket, st: Arc<SimState>, proto: &'static dyn Protocol) {
    let (tx, mut rx) = mpsc::channel::<Arc<Msg>>(QUEUE);
    // The hub's Binance frame queue is never used by these connections.
    let (unused_tx, _unused_rx) = mpsc::channel(1);
    let conn = st.ws.open(false, TimeUnit::Milli, now_ms(), unused_tx);
    let ctx = Ctx {
        conn: conn.clone(),
        tx: tx.clone(),
        subs: Mutex::default(),
        flags: Mutex::default(),
        conn_id: format!(
            "{:08x}",
            crate::market::walk::hash(&[conn.id, now_ms()]) as u32
        ),
        counter: AtomicU64::new(0),
    };
    tracing::info!(conn = conn.id, venue = %st.config.venue, "venue ws connection opened");
    if let Some(m) = proto.hello(&ctx) {
        ctx.queue(m);
    }
    let mut commands = conn.commands();
    let (mut sink, mut stream) = socket.split();
    // Coinbase's per-connection message number.
    let mut seq: u64 = 0;
    let mut second = tokio::time::interval_at(
        Instant::now() + Duration::from_secs(1),
        Duration::from_secs(1),
    );
    let mut shutdown_at: Option<Instant> = None;
    let mut close: Option<(u16, &'static str)> = None;
    let end: String = loop {
        tokio::select! {
            msg = stream.next() => match msg {
                None => break "peer gone".into(),
                Some(Err(e)) => break format!("read error: {e}"),
                Some(Ok(Message::Text(text))) => {
                    conn.received.fetch_add(1, Ordering::Relaxed);
                    let h = proto.handle(&st, &ctx, text.as_str());
                    for r in h.replies {
                        ctx.queue(r);
                    }
                    for k in h.unsubscribe {
                        let had = ctx.subs.lock().unwrap_or_else(PoisonError::into_inner).remove(&k);
                        if had {
                            st.vws.detach(&k, conn.id);
                        }
                    }
                    for k in h.subscribe {
                        let new = ctx.subs.lock().unwrap_or_else(PoisonError::into_inner).insert(k.clone());
                        if new {
                            st.vws.attach(&st, k, Sub { conn: conn.clone(), tx: tx.clone() });
                        }
                    }
                }
                Some(Ok(Message::Close(_))) => break "peer closed".into(),
                Some(Ok(_)) => {}
            },
            Some(out) = rx.recv() => {
                if out.lost {
                    // A skipped update: its number is used up, nothing is sent.
                    if out.tail.is_some() {
                        seq += 1;
                    }
                    continue;
                }
                let text = match &out.tail {
                    Some(tail) => {
                        let t = format!("{}{seq}{tail}", out.head);
                        seq += 1;
                        t
                    }
                    None => out.head.clone(),
                };
                if let Err(e) = sink.send(Message::Text(Utf8Bytes::from(text))).await {
                    break format!("write error: {e}");
                }
                conn.sent.fetch_add(1, Ordering::Relaxed);
            }
            _ = second.tick() => {
                if let Some(m) = proto.second(&ctx) {
                    ctx.queue(m);
                }
            }
            _ = sleep_opt(shutdown_at), if shutdown_at.is_some() => {
                close = Some((1001, "Server shutdown"));
                break "shutdown".into();
            }
            changed = commands.changed() => {
                if changed.is_err() {
                    break "aborted".into();
                }
                let command = *commands.borrow_and_update();
                match command {
                    Command::Run => {}
                    Command::Abort => break "dropped without close frame".into(),
                    Command::Close { code, reason } => {
                        close = Some((code, reason));
                        break format!("close frame sent ({reason})");
                    }
                    Command::Shutdown { grace_ms } => {
                        if shutdown_at.is_none() {
                            if let Some(m) = proto.shutdown_notice(&ctx) {
                                ctx.queue(m);
                            }
                            shutdown_at = Some(Instant::now() + Duration::from_millis(grace_ms));
                        }
                    }
                }
            }
        }
    };
    if let Some((code, reason)) = close {
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        };
        let _ = tokio::time::timeout(
            Duration::from_secs(3),
            sink.send(Message::Close(Some(frame))),
        )
        .await;
    }
    let subs: Vec<TopicKey> = ctx
        .subs
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .drain()
        .collect();
    for k in &subs {
        st.vws.detach(k, conn.id);
    }
    tracing::info!(conn = conn.id, %end, "venue ws connection closed");
    st.ws.close(&conn, end);
}
