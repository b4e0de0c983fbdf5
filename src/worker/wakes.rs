//! Wake-ups of `watch_read` long polls on this worker (SPEC.md 5.1 over Redis): a watch's
//! producer, on whatever worker holds it, `PUBLISH`es on the watch's wake channel when it
//! appends items to the watch's buffer in Redis; a worker with readers waiting on that watch
//! is subscribed to the channel (one pub/sub connection per worker, channels subscribed
//! while someone waits on them) and wakes them. A lost wake-up costs latency, not items: the
//! readers look at the buffer again every [`RECHECK`] anyway.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crypto_market_actors::redis_target::RedisTarget;
use futures::StreamExt;
use redis::aio::PubSubSink;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How often a waiting reader looks at the buffer even without a wake-up.
pub const RECHECK: Duration = Duration::from_secs(1);

/// The channels this worker's readers wait on.
pub struct Wakes {
    target: RedisTarget,
    /// Set while the subscription connection is up.
    sink: Mutex<Option<PubSubSink>>,
    /// Channel → (who waits on it, how many readers).
    waiting: Mutex<HashMap<String, (Arc<Notify>, usize)>>,
}

/// One reader waiting on a channel; unsubscribes the channel when the last one goes.
pub struct Waiter {
    wakes: Arc<Wakes>,
    channel: String,
    pub notify: Arc<Notify>,
}

impl Wakes {
    pub fn new(target: RedisTarget) -> Arc<Self> {
        Arc::new(Self {
            target,
            sink: Mutex::new(None),
            waiting: Mutex::new(HashMap::new()),
        })
    }

    fn waiting(&self) -> MutexGuard<'_, HashMap<String, (Arc<Notify>, usize)>> {
        // Counts are changed in single steps: a panic elsewhere cannot leave them half-done.
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn sink(&self) -> Option<PubSubSink> {
        self.sink.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits on `channel`: subscribed (when the connection is up) before this returns, so a
    /// wake-up published after it is not missed.
    pub async fn wait_on(self: &Arc<Self>, channel: &str) -> Waiter {
        let notify = {
            let mut waiting = self.waiting();
            let entry = waiting
                .entry(channel.to_owned())
                .or_insert_with(|| (Arc::new(Notify::new()), 0));
            entry.1 += 1;
            entry.0.clone()
        };
        // SUBSCRIBE is idempotent: every reader subscribes, so none relies on another's
        // subscription being confirmed already.
        if let Some(mut sink) = self.sink() {
            if let Err(e) = sink.subscribe(channel).await {
                tracing::debug!(channel, "cannot subscribe to a watch's wake-ups: {e}");
            }
        }
        Waiter {
            wakes: self.clone(),
            channel: channel.to_owned(),
            notify,
        }
    }

    fn wake(&self, channel: &str) {
        if let Some((notify, _)) = self.waiting().get(channel) {
            notify.notify_waiters();
        }
    }

    /// Keeps the subscription up (again after Redis restarts) and wakes readers, until
    /// `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        while !shutdown.is_cancelled() {
            match self.target.pubsub().await {
                Ok(pubsub) => {
                    backoff = Duration::from_millis(100);
                    let (mut sink, mut messages) = pubsub.split();
                    let channels: Vec<String> = self.waiting().keys().cloned().collect();
                    for channel in &channels {
                        if let Err(e) = sink.subscribe(channel).await {
                            tracing::debug!(channel, "cannot subscribe to wake-ups: {e}");
                        }
                    }
                    *self.sink.lock().unwrap_or_else(|p| p.into_inner()) = Some(sink);
                    // Readers that waited meanwhile look again.
                    for channel in channels {
                        self.wake(&channel);
                    }
                    loop {
                        tokio::select! {
                            message = messages.next() => match message {
                                Some(message) => self.wake(message.get_channel_name()),
                                None => break,
                            },
                            () = shutdown.cancelled() => return,
                        }
                    }
                    *self.sink.lock().unwrap_or_else(|p| p.into_inner()) = None;
                    tracing::warn!("watch wake-up subscription lost; reconnecting");
                }
                Err(e) => tracing::warn!("cannot subscribe to watch wake-ups: {e}"),
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = shutdown.cancelled() => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let last = {
            let mut waiting = self.wakes.waiting();
            match waiting.get_mut(&self.channel) {
                Some(entry) if entry.1 > 1 => {
                    entry.1 -= 1;
                    false
                }
                Some(_) => {
                    waiting.remove(&self.channel);
                    true
                }
                None => false,
            }
        };
        if let (true, Some(mut sink)) = (last, self.wakes.sink()) {
            let channel = std::mem::take(&mut self.channel);
            tokio::spawn(async move {
                let _ = sink.unsubscribe(&channel).await;
            });
        }
    }
}
