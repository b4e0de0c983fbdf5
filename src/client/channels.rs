//! Ticker channels (`{KEY_PREFIX}:ticker:{exchange}:{symbol}`, SPEC.md section 5) for a
//! gateway: every follower of one channel shares one subscription, and every channel one
//! subscriber connection (the actors' [`Follower`], which resubscribes after a loss). A
//! channel is followed from its first [`TickerFeed`] until its last is dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crypto_market_actors::bridge::Follower;
use crypto_market_actors::redis_target::RedisTarget;
use tokio::sync::broadcast;

/// Messages of one channel kept for a slow reader; past this it skips to the newest.
const BACKLOG: usize = 16;

type Routes = Arc<Mutex<HashMap<String, broadcast::Sender<Arc<str>>>>>;

pub struct TickerChannels {
    target: RedisTarget,
    /// Started with the first feed (a gateway that streams nothing opens no connection).
    follower: Mutex<Option<Arc<Follower>>>,
    routes: Routes,
}

impl TickerChannels {
    pub fn new(target: RedisTarget) -> Self {
        Self {
            target,
            follower: Mutex::new(None),
            routes: Arc::default(),
        }
    }

    /// The channel this client's Redis publishes `symbol`'s ticks on (unified symbol).
    pub fn channel_of(&self, exchange: &str, symbol: &str) -> String {
        self.target.ticker_channel(exchange, symbol)
    }

    /// Every message published on `channel` from (about) now on.
    pub fn follow(&self, channel: &str) -> TickerFeed {
        let follower = self.follower();
        let mut routes = lock(&self.routes);
        let receiver = match routes.get(channel) {
            Some(sender) => sender.subscribe(),
            None => {
                let (sender, receiver) = broadcast::channel(BACKLOG);
                routes.insert(channel.to_owned(), sender);
                follower.follow(channel.to_owned());
                receiver
            }
        };
        TickerFeed {
            channel: channel.to_owned(),
            receiver: Some(receiver),
            routes: self.routes.clone(),
            follower,
        }
    }

    fn follower(&self) -> Arc<Follower> {
        let mut follower = self.follower.lock().unwrap_or_else(|p| p.into_inner());
        follower
            .get_or_insert_with(|| {
                let routes = self.routes.clone();
                Arc::new(Follower::start(
                    self.target.clone(),
                    Arc::new(move |channel: &str, payload: &str| {
                        if let Some(sender) = lock(&routes).get(channel) {
                            // No receiver left: the feed is being dropped; nothing to do.
                            let _ = sender.send(Arc::from(payload));
                        }
                    }),
                ))
            })
            .clone()
    }
}

fn lock(
    routes: &Routes,
) -> std::sync::MutexGuard<'_, HashMap<String, broadcast::Sender<Arc<str>>>> {
    // Whole entries are inserted and removed: a panic elsewhere leaves nothing half-done.
    routes.lock().unwrap_or_else(|p| p.into_inner())
}

/// The messages of one followed channel.
pub struct TickerFeed {
    channel: String,
    receiver: Option<broadcast::Receiver<Arc<str>>>,
    routes: Routes,
    follower: Arc<Follower>,
}

impl TickerFeed {
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// The next message; a reader that fell behind gets the oldest kept one. Cancel-safe.
    pub async fn next(&mut self) -> Option<Arc<str>> {
        let receiver = self.receiver.as_mut()?;
        loop {
            match receiver.recv().await {
                Ok(message) => return Some(message),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

impl Drop for TickerFeed {
    fn drop(&mut self) {
        let mut routes = lock(&self.routes);
        drop(self.receiver.take());
        let unused = routes
            .get(&self.channel)
            .is_some_and(|sender| sender.receiver_count() == 0);
        if unused {
            routes.remove(&self.channel);
            self.follower.unfollow(self.channel.clone());
        }
    }
}

/// A message of a ticker channel as `get_ticker` answers: the ticker JSON published there,
/// with the age it has now (ticks are published as they arrive, so they are fresh); `None`
/// for a message that is not a ticker object.
pub fn published_ticker(payload: &str) -> Option<serde_json::Value> {
    let mut ticker: serde_json::Value = serde_json::from_str(payload).ok()?;
    let fields = ticker.as_object_mut()?;
    let now = crypto_market_actors::model::now_ms();
    let age_ms = fields
        .get("timestamp")
        .and_then(serde_json::Value::as_i64)
        .map_or(0, |at| (now - at).max(0));
    fields.insert("age_ms".into(), age_ms.into());
    fields.insert("stale".into(), false.into());
    fields.entry("source").or_insert("stream".into());
    Some(ticker)
}
