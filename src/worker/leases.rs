//! Values held until a deadline: the worker's `stream_ticker` keeps a symbol's [`TickerWatch`]
//! (so the engine keeps it fresh and published) until the lease's `expires_at_ms`, and a
//! second call extends the lease instead of taking a second watch (see [`super::published`]).
//!
//! Expiry runs on tokio's clock (one background task sleeping until the earliest deadline), so
//! tests drive it with paused time; `expires_at_ms` is the wall-clock time of that deadline.
//!
//! [`TickerWatch`]: crypto_market_actors::TickerWatch

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use crypto_market_actors::model::now_ms;
use tokio::sync::Notify;
use tokio::time::Instant;

struct Lease<V> {
    /// Held only to be dropped at `deadline`.
    _value: V,
    deadline: Instant,
}

pub struct Leases<K, V> {
    held: Mutex<HashMap<K, Lease<V>>>,
    /// Wakes the expiry task: a new lease may expire before the one it sleeps for.
    wake: Arc<Notify>,
    expiry: OnceLock<()>,
}

impl<K, V> Leases<K, V>
where
    K: Eq + Hash + Send + 'static,
    V: Send + 'static,
{
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            held: Mutex::new(HashMap::new()),
            wake: Arc::new(Notify::new()),
            expiry: OnceLock::new(),
        })
    }

    /// Holds `value` under `key` for `duration` from now; when `key` is held already, its
    /// lease is extended to at least that (and `value`, a duplicate, is dropped). Returns when
    /// the lease now ends, in Unix ms. Call within a tokio runtime.
    pub fn lease(self: &Arc<Self>, key: K, value: V, duration: Duration) -> i64 {
        let now = Instant::now();
        let wanted = now + duration;
        let deadline = {
            let mut held = self.lock();
            match held.get_mut(&key) {
                Some(lease) => {
                    lease.deadline = lease.deadline.max(wanted);
                    lease.deadline
                }
                None => {
                    held.insert(
                        key,
                        Lease {
                            _value: value,
                            deadline: wanted,
                        },
                    );
                    wanted
                }
            }
        };
        self.expiry.get_or_init(|| {
            tokio::spawn(expire_until_dropped(
                Arc::downgrade(self),
                self.wake.clone(),
            ));
        });
        self.wake.notify_one();
        let left = i64::try_from(deadline.duration_since(now).as_millis()).unwrap_or(i64::MAX);
        now_ms().saturating_add(left)
    }

    /// Leases held now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops the leases due by `now`; the next deadline, if any lease is left.
    fn expire(&self, now: Instant) -> Option<Instant> {
        let mut due = Vec::new();
        let next = {
            let mut held = self.lock();
            for (key, lease) in std::mem::take(&mut *held) {
                if lease.deadline <= now {
                    due.push(lease);
                } else {
                    held.insert(key, lease);
                }
            }
            held.values().map(|lease| lease.deadline).min()
        };
        // Released outside the lock (a watch's release sends a message).
        drop(due);
        next
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Lease<V>>> {
        // Entries are inserted, extended and removed whole: a panic elsewhere cannot leave the
        // map inconsistent.
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<K, V> Drop for Leases<K, V> {
    fn drop(&mut self) {
        // Lets the expiry task see that the leases are gone and end.
        self.wake.notify_one();
    }
}

/// Sleeps until the earliest deadline (or a new lease), drops what is due, again; ends when
/// the leases are dropped.
async fn expire_until_dropped<K, V>(leases: Weak<Leases<K, V>>, wake: Arc<Notify>)
where
    K: Eq + Hash + Send + 'static,
    V: Send + 'static,
{
    loop {
        let next = match leases.upgrade() {
            Some(leases) => leases.expire(Instant::now()),
            None => return,
        };
        match next {
            Some(deadline) => {
                tokio::select! {
                    () = tokio::time::sleep_until(deadline) => {}
                    () = wake.notified() => {}
                }
            }
            None => wake.notified().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts its drops, as a released watch.
    struct Held(Arc<AtomicUsize>);

    impl Drop for Held {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    async fn at(seconds_from_start: u64, start: Instant) {
        tokio::time::sleep_until(start + Duration::from_secs(seconds_from_start)).await;
        // Let the expiry task run after the clock moved.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_lease_is_held_exactly_until_it_expires_and_calling_again_extends_it() {
        let start = Instant::now();
        let leases = Leases::new();
        let dropped = Arc::new(AtomicUsize::new(0));
        let before = now_ms();
        let first = leases.lease("BTC/USDT", Held(dropped.clone()), Duration::from_secs(10));
        assert!((before + 10_000..=now_ms() + 10_000).contains(&first));

        at(5, start).await;
        // Extended to 5 + 10 = 15 s: the second watch is a duplicate, released at once.
        let extended = leases.lease("BTC/USDT", Held(dropped.clone()), Duration::from_secs(10));
        assert_eq!(dropped.load(Ordering::SeqCst), 1);
        assert_eq!(leases.len(), 1);
        assert!(extended >= now_ms() + 9_900, "{extended}");
        // A shorter call does not shorten it.
        let kept = leases.lease("BTC/USDT", Held(dropped.clone()), Duration::from_secs(1));
        assert!((kept - extended).abs() < 100, "{kept} vs {extended}");
        assert_eq!(dropped.load(Ordering::SeqCst), 2);
        // Another symbol, leased for 2 s, goes first.
        leases.lease("ETH/USDT", Held(dropped.clone()), Duration::from_secs(2));

        at(7, start).await;
        assert_eq!(dropped.load(Ordering::SeqCst), 3, "ETH/USDT expired at 7 s");
        assert_eq!(leases.len(), 1);
        at(14, start).await;
        assert_eq!(dropped.load(Ordering::SeqCst), 3, "BTC/USDT held at 14 s");
        tokio::time::sleep_until(start + Duration::from_millis(14_999)).await;
        tokio::task::yield_now().await;
        assert_eq!(dropped.load(Ordering::SeqCst), 3, "and at 14.999 s");
        at(15, start).await;
        assert_eq!(
            dropped.load(Ordering::SeqCst),
            4,
            "BTC/USDT released at 15 s"
        );
        assert!(leases.is_empty());

        // A lease taken after everything expired is timed from then.
        leases.lease("BTC/USDT", Held(dropped.clone()), Duration::from_secs(1));
        at(16, start).await;
        assert_eq!(dropped.load(Ordering::SeqCst), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_the_leases_releases_what_they_hold() {
        let leases = Leases::new();
        let dropped = Arc::new(AtomicUsize::new(0));
        leases.lease(1, Held(dropped.clone()), Duration::from_secs(60));
        drop(leases);
        assert_eq!(dropped.load(Ordering::SeqCst), 1);
    }
}
