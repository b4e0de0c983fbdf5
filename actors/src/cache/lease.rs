//! Cluster-wide single flight: one exchange call per key per TTL however many nodes miss it
//! at once. A miss takes a short lease on the key (`SET NX PX`); the lease holder fetches,
//! stores the value and announces it on `{prefix}:filled`; the others wait for that
//! announcement (not a polling loop) and read the value. A lease whose holder died expires and
//! the next waiter takes over.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::oneshot;

use crate::redis_target::RedisTarget;

/// Longest a waiter waits for an announcement before looking again (an announcement lost
/// with a dropped subscription costs this, not a tight loop).
pub const RECHECK_AFTER: Duration = Duration::from_secs(2);

/// Waiters for announcements, by Redis cache key, and the subscription that wakes them.
pub struct FillWatch {
    channel: String,
    waiters: Arc<Mutex<HashMap<String, Vec<oneshot::Sender<()>>>>>,
    started: std::sync::Once,
    target: RedisTarget,
}

impl FillWatch {
    pub fn new(target: RedisTarget) -> Self {
        Self {
            channel: format!("{}:filled", target.key_prefix),
            waiters: Arc::default(),
            started: std::sync::Once::new(),
            target,
        }
    }

    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// A receiver woken when `key` is announced (or the subscription is lost). Register before
    /// looking for the value, so an announcement between the look and the wait is not missed.
    pub fn watch(&self, key: &str) -> oneshot::Receiver<()> {
        self.started.call_once(|| self.subscribe());
        let (tx, rx) = oneshot::channel();
        self.waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.to_owned())
            .or_default()
            .push(tx);
        rx
    }

    /// One subscription per process, resubscribed after any loss (a plain `PubSub` does not
    /// resubscribe by itself). On a loss every waiter is woken to look again.
    fn subscribe(&self) {
        let (channel, waiters, target) = (
            self.channel.clone(),
            self.waiters.clone(),
            self.target.clone(),
        );
        tokio::spawn(async move {
            loop {
                match target.pubsub().await {
                    Ok(mut pubsub) => {
                        if pubsub.subscribe(&channel).await.is_ok() {
                            let mut messages = pubsub.on_message();
                            while let Some(message) = messages.next().await {
                                if let Ok(key) = message.get_payload::<String>() {
                                    wake(&waiters, Some(&key));
                                }
                            }
                        }
                    }
                    Err(e) => tracing::debug!("fill subscription: {e}"),
                }
                wake(&waiters, None);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
    }
}

/// Wakes the waiters of `key`, or of every key.
fn wake(waiters: &Mutex<HashMap<String, Vec<oneshot::Sender<()>>>>, key: Option<&str>) {
    let mut waiters = waiters.lock().unwrap_or_else(|p| p.into_inner());
    let woken: Vec<oneshot::Sender<()>> = match key {
        Some(key) => waiters.remove(key).unwrap_or_default(),
        None => waiters.drain().flat_map(|(_, w)| w).collect(),
    };
    for tx in woken {
        let _ = tx.send(());
    }
}
