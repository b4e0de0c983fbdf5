//! One connection's shared side: what the hub, the publishers and the stats see of it, and the
//! commands the simulator sends it (drop, close, serverShutdown).

use super::hub::Frame;
use super::stats::WsConnectionStats;
use super::streams::{StreamSpec, TimeUnit, MAX_STREAMS};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::{mpsc, watch};

/// What the simulator asks a connection to do (strongest wins: see [`Command::rank`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Run,
    /// Send `serverShutdown`, then close after `grace_ms`.
    Shutdown {
        grace_ms: u64,
    },
    /// Send a close frame, then drop the connection.
    Close {
        code: u16,
        reason: &'static str,
    },
    /// Drop the TCP connection now, without a close frame.
    Abort,
}

impl Command {
    fn rank(self) -> u8 {
        match self {
            Command::Run => 0,
            Command::Shutdown { .. } => 1,
            Command::Close { .. } => 2,
            Command::Abort => 3,
        }
    }
}

/// A connection's subscriptions in subscription order (LIST_SUBSCRIPTIONS order).
#[derive(Default)]
pub struct Subscriptions {
    order: Vec<String>,
    set: HashSet<String>,
    /// Streams subscribed / unsubscribed over the connection's life: a stream unsubscribed and
    /// subscribed again (a resubscription) counts in both.
    subscribed_total: u64,
    unsubscribed_total: u64,
}

impl Subscriptions {
    pub fn names(&self) -> Vec<String> {
        self.order.clone()
    }
}

/// The shared side of one connection: what the hub, the publishers and the stats see.
pub struct Conn {
    pub id: u64,
    /// `/stream` (true) or `/ws` (false) endpoint.
    pub endpoint_combined: bool,
    pub unit: TimeUnit,
    pub connected_at_ms: u64,
    /// Whether frames are wrapped in the combined envelope (SET_PROPERTY can change it).
    pub combined: AtomicBool,
    /// Stream frames; bounded, so a client that stops reading is closed instead of growing
    /// the simulator's memory.
    pub data_tx: mpsc::Sender<Arc<Frame>>,
    pub subs: Mutex<Subscriptions>,
    pub sent: AtomicU64,
    pub received: AtomicU64,
    pub max_per_sec: AtomicU64,
    command: watch::Sender<Command>,
}

impl Conn {
    pub fn new(
        id: u64,
        endpoint_combined: bool,
        unit: TimeUnit,
        connected_at_ms: u64,
        data_tx: mpsc::Sender<Arc<Frame>>,
    ) -> Conn {
        Conn {
            id,
            endpoint_combined,
            unit,
            connected_at_ms,
            combined: AtomicBool::new(endpoint_combined),
            data_tx,
            subs: Mutex::default(),
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            max_per_sec: AtomicU64::new(0),
            command: watch::Sender::new(Command::Run),
        }
    }

    /// Asks the connection to do `c` unless it already does something stronger; true if it
    /// changed.
    pub fn command(&self, c: Command) -> bool {
        self.command.send_if_modified(|cur| {
            if c.rank() > cur.rank() {
                *cur = c;
                true
            } else {
                false
            }
        })
    }

    pub fn commands(&self) -> watch::Receiver<Command> {
        self.command.subscribe()
    }

    pub fn subscription_names(&self) -> Vec<String> {
        self.subs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .names()
    }

    /// Records `specs` as subscribed, all or none: at most [`MAX_STREAMS`] in total. Returns the
    /// ones not subscribed before (to attach to their topics), in request order.
    pub fn add_subscriptions(&self, specs: Vec<StreamSpec>) -> Result<Vec<StreamSpec>, String> {
        let mut subs = self.subs.lock().unwrap_or_else(PoisonError::into_inner);
        let mut seen = HashSet::new();
        let new: Vec<StreamSpec> = specs
            .into_iter()
            .filter(|s| !subs.set.contains(&s.name) && seen.insert(s.name.clone()))
            .collect();
        if subs.order.len() + new.len() > MAX_STREAMS {
            return Err(format!(
                "too many streams: at most {MAX_STREAMS} per connection ({} subscribed, {} more \
                 requested)",
                subs.order.len(),
                new.len()
            ));
        }
        for s in &new {
            subs.set.insert(s.name.clone());
            subs.order.push(s.name.clone());
        }
        subs.subscribed_total += new.len() as u64;
        Ok(new)
    }

    /// Forgets `names`; returns those that were subscribed.
    pub fn remove_subscriptions(&self, names: &[String]) -> Vec<String> {
        let mut subs = self.subs.lock().unwrap_or_else(PoisonError::into_inner);
        let gone: Vec<String> = names
            .iter()
            .filter(|n| subs.set.remove(n.as_str()))
            .cloned()
            .collect();
        if !gone.is_empty() {
            subs.order.retain(|n| !gone.contains(n));
        }
        subs.unsubscribed_total += gone.len() as u64;
        gone
    }

    pub fn stats(&self) -> WsConnectionStats {
        let (subscribed_total, unsubscribed_total) = {
            let subs = self.subs.lock().unwrap_or_else(PoisonError::into_inner);
            (subs.subscribed_total, subs.unsubscribed_total)
        };
        WsConnectionStats {
            subscribed_total,
            unsubscribed_total,
            closed_at_ms: None,
            end: None,
            id: self.id,
            endpoint: if self.endpoint_combined {
                "/stream"
            } else {
                "/ws"
            }
            .to_string(),
            combined: self.combined.load(Ordering::Relaxed),
            microseconds: self.unit == TimeUnit::Micro,
            subscriptions: self.subscription_names(),
            messages_sent: self.sent.load(Ordering::Relaxed),
            control_received: self.received.load(Ordering::Relaxed),
            max_control_per_sec: self.max_per_sec.load(Ordering::Relaxed),
            connected_at_ms: self.connected_at_ms,
        }
    }
}
