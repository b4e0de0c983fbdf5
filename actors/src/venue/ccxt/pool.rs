//! A pool of ccxt exchange instances. A ccxt instance takes `&mut self` on every call, so one
//! instance serialises its calls; separate instances (sharing the loaded markets) run in
//! parallel. Instances are made on blocking threads when load needs them (none idle, a slot
//! free), reused, and dropped again by [`InstancePool::trim_idle`] once idle for a while: a
//! venue that once served 8 calls at once does not keep 8 instances all day (issue 25; each
//! is a copy of its factory's template, sharing its tables, made in microseconds).
//!
//! Instances carry the markets they were made with. When markets are reloaded the pool moves
//! to a new *generation*: idle instances are dropped at once, and instances still out on a
//! call are dropped when they come back, so none serves the old list for another hour.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

use crate::venue::InstanceCounts;

struct Idle<T> {
    generation: u64,
    /// When it came back to the pool.
    since: Instant,
    instance: T,
}

pub struct InstancePool<T> {
    /// Idle instances, most recently returned last: reuse takes the last, so the ones at the
    /// front are those load has not needed for longest.
    free: Mutex<Vec<Idle<T>>>,
    /// One permit per instance in use: at most `size` calls at once.
    permits: Semaphore,
    size: usize,
    /// Instances alive or being made (idle + in use); never above `size`.
    live: AtomicUsize,
    generation: AtomicU64,
}

/// An instance borrowed from the pool; back in the pool when dropped (if still current).
pub struct Pooled<'a, T> {
    instance: Option<T>,
    generation: u64,
    pool: &'a InstancePool<T>,
    _permit: SemaphorePermit<'a>,
}

impl<T: Send + 'static> InstancePool<T> {
    pub fn new(size: usize) -> Self {
        let size = size.max(1);
        Self {
            free: Mutex::new(Vec::with_capacity(size)),
            permits: Semaphore::new(size),
            size,
            live: AtomicUsize::new(0),
            generation: AtomicU64::new(0),
        }
    }

    /// Waits for a free slot, then reuses an idle instance or makes one with `make`, which was
    /// built in `generation`.
    pub async fn acquire<F>(&self, generation: u64, make: F) -> Result<Pooled<'_, T>, String>
    where
        F: FnOnce() -> Option<T> + Send + 'static,
    {
        // The semaphore is never closed, so acquire cannot fail; a closed one would only mean
        // the pool is being dropped, and then waiting is as good as anything.
        let permit = loop {
            if let Ok(permit) = self.permits.acquire().await {
                break permit;
            }
        };
        let idle = self.free.lock().ok().and_then(|mut free| free.pop());
        let (generation, instance) = match idle {
            Some(idle) => (idle.generation, idle.instance),
            None => {
                self.live.fetch_add(1, Ordering::SeqCst);
                (generation, self.make(make).await?)
            }
        };
        Ok(Pooled {
            instance: Some(instance),
            generation,
            pool: self,
            _permit: permit,
        })
    }

    /// Makes instances in the background until `target` are alive (at most the pool's size),
    /// one at a time so that a serving process keeps its CPU. Stops when the generation moves
    /// on meanwhile.
    pub async fn warm<F>(&self, generation: u64, target: usize, make: F)
    where
        F: Fn() -> Option<T> + Clone + Send + 'static,
    {
        let size = target.min(self.size);
        while self.generation() == generation
            && self
                .live
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                    (n < size).then_some(n + 1)
                })
                .is_ok()
        {
            match self.make(make.clone()).await {
                Ok(instance) => self.put_back(generation, instance),
                Err(e) => {
                    tracing::warn!("warming the exchange instance pool stopped: {e}");
                    return;
                }
            }
        }
    }

    async fn make<F: FnOnce() -> Option<T> + Send + 'static>(&self, make: F) -> Result<T, String> {
        let made = tokio::task::spawn_blocking(make)
            .await
            .map_err(|e| format!("making an exchange instance failed: {e}"))
            .and_then(|made| made.ok_or_else(|| "the exchange cannot be built".to_owned()));
        if made.is_err() {
            self.live.fetch_sub(1, Ordering::SeqCst);
        }
        made
    }

    /// Starts a new generation (markets were reloaded): idle instances are dropped now, busy
    /// ones when they come back.
    pub fn advance_generation(&self) -> u64 {
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        if let Ok(mut free) = self.free.lock() {
            self.live.fetch_sub(free.len(), Ordering::SeqCst);
            free.clear();
        }
        generation
    }

    /// Drops idle instances beyond the `keep` most recently used that have been idle for
    /// `idle_for` or longer; returns how many went. `keep: 0, idle_for: ZERO` drops every idle
    /// one (memory pressure).
    pub fn trim_idle(&self, keep: usize, idle_for: Duration) -> usize {
        let now = Instant::now();
        let dropped: Vec<Idle<T>> = match self.free.lock() {
            Ok(mut free) => {
                let removable = free.len().saturating_sub(keep);
                // The front holds the longest idle: take from there while they are old enough.
                let old = free[..removable]
                    .iter()
                    .take_while(|idle| now.duration_since(idle.since) >= idle_for)
                    .count();
                free.drain(..old).collect()
            }
            Err(_) => Vec::new(),
        };
        self.live.fetch_sub(dropped.len(), Ordering::SeqCst);
        // Dropped outside the lock: freeing an instance's tables is not free.
        dropped.len()
    }

    pub fn idle(&self) -> usize {
        self.free.lock().map(|free| free.len()).unwrap_or(0)
    }

    pub fn counts(&self) -> InstanceCounts {
        InstanceCounts {
            live: self.live.load(Ordering::SeqCst),
            idle: self.idle(),
            max: self.size,
        }
    }
}

impl<T> InstancePool<T> {
    /// The current generation. Read it *before* reading the factory that `make` will use, so an
    /// instance made from a factory older than the generation is never tagged as current.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Keeps `instance` if it is of the current generation, else lets it go.
    /// The generation is compared under the lock that `advance_generation` clears under, so an
    /// old instance cannot slip in after the clear.
    fn put_back(&self, generation: u64, instance: T) {
        if let Ok(mut free) = self.free.lock() {
            if generation == self.generation() {
                free.push(Idle {
                    generation,
                    since: Instant::now(),
                    instance,
                });
                return;
            }
        }
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

impl<T> std::ops::Deref for Pooled<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // Present from acquire until drop, which is the only place that takes it.
        match &self.instance {
            Some(instance) => instance,
            None => unreachable!("a pooled instance is present until drop"),
        }
    }
}

impl<T> std::ops::DerefMut for Pooled<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        match &mut self.instance {
            Some(instance) => instance,
            None => unreachable!("a pooled instance is present until drop"),
        }
    }
}

impl<T> Drop for Pooled<'_, T> {
    fn drop(&mut self) {
        let Some(instance) = self.instance.take() else {
            return;
        };
        // An instance dropped by a panic mid-call may hold half-updated state: keep it only
        // when the call finished normally.
        if std::thread::panicking() {
            self.pool.live.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        self.pool.put_back(self.generation, instance);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    fn counter() -> (
        Arc<AtomicUsize>,
        impl Fn() -> Option<usize> + Clone + Send + 'static,
    ) {
        let made = Arc::new(AtomicUsize::new(0));
        let make = {
            let made = made.clone();
            move || Some(made.fetch_add(1, Ordering::SeqCst))
        };
        (made, make)
    }

    #[tokio::test]
    async fn reuses_instances_and_caps_concurrency() {
        let pool = InstancePool::new(2);
        let (made, make) = counter();
        {
            let a = pool.acquire(0, make.clone()).await.unwrap();
            let b = pool.acquire(0, make.clone()).await.unwrap();
            assert_eq!((*a, *b), (0, 1));
            // A third borrower waits for a slot.
            let third =
                tokio::time::timeout(Duration::from_millis(50), pool.acquire(0, make.clone()))
                    .await;
            assert!(third.is_err());
        }
        let again = pool.acquire(0, make).await.unwrap();
        assert!(*again <= 1, "an idle instance is reused");
        assert_eq!(made.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn warming_fills_the_pool_once_without_overshooting() {
        let pool = InstancePool::new(3);
        let (made, make) = counter();
        let held = pool.acquire(0, make.clone()).await.unwrap();
        pool.warm(0, 1, make.clone()).await;
        assert_eq!(
            made.load(Ordering::SeqCst),
            1,
            "one is alive: nothing to make"
        );
        pool.warm(0, 10, make.clone()).await;
        assert_eq!((made.load(Ordering::SeqCst), pool.idle()), (3, 2));
        drop(held);
        pool.warm(0, 10, make).await;
        assert_eq!((made.load(Ordering::SeqCst), pool.idle()), (3, 3));
    }

    /// Issue 25: a burst of load makes instances; once they have been idle long enough they
    /// go, down to the ones kept for the next call.
    #[tokio::test(start_paused = true)]
    async fn idle_instances_are_dropped_after_a_while_keeping_the_last_used() {
        let pool = InstancePool::new(8);
        let (made, make) = counter();
        let burst: Vec<_> =
            futures::future::join_all((0..5).map(|_| pool.acquire(0, make.clone())))
                .await
                .into_iter()
                .collect::<Result<_, _>>()
                .unwrap();
        assert_eq!(
            made.load(Ordering::SeqCst),
            5,
            "made on demand, not to the maximum"
        );
        drop(burst);
        assert_eq!(
            pool.counts(),
            InstanceCounts {
                live: 5,
                idle: 5,
                max: 8
            }
        );
        assert_eq!(
            pool.trim_idle(1, Duration::from_secs(60)),
            0,
            "not idle long enough"
        );
        tokio::time::advance(Duration::from_secs(30)).await;
        // One is used again: it is the one kept.
        let used = *pool.acquire(0, make.clone()).await.unwrap();
        tokio::time::advance(Duration::from_secs(45)).await;
        assert_eq!(pool.trim_idle(1, Duration::from_secs(60)), 4);
        assert_eq!(
            pool.counts(),
            InstanceCounts {
                live: 1,
                idle: 1,
                max: 8
            }
        );
        assert_eq!(*pool.acquire(0, make.clone()).await.unwrap(), used);
        // Memory pressure: every idle one goes at once.
        assert_eq!(pool.trim_idle(0, Duration::ZERO), 1);
        assert_eq!(
            pool.counts(),
            InstanceCounts {
                live: 0,
                idle: 0,
                max: 8
            }
        );
        // And the next call makes one again.
        assert_eq!(*pool.acquire(0, make).await.unwrap(), 5);
    }

    /// Issue 9, defect 1: an instance out on a call while markets reload must not come back
    /// into the pool with the old markets.
    #[tokio::test]
    async fn instances_of_an_old_generation_are_dropped_when_they_come_back() {
        let pool = InstancePool::new(2);
        let (made, make) = counter();
        let busy = pool.acquire(pool.generation(), make.clone()).await.unwrap();
        let idle = pool.acquire(pool.generation(), make.clone()).await.unwrap();
        drop(idle);
        assert_eq!(pool.idle(), 1);
        let next = pool.advance_generation();
        assert_eq!(pool.idle(), 0, "idle old instances are dropped at once");
        drop(busy);
        assert_eq!(pool.idle(), 0, "a busy old instance is dropped on return");
        let fresh = pool.acquire(next, make.clone()).await.unwrap();
        assert_eq!(*fresh, 2, "a new instance is made for the new generation");
        drop(fresh);
        pool.warm(next, 2, make).await;
        assert_eq!(pool.idle(), 2);
        assert_eq!(made.load(Ordering::SeqCst), 4);
        // Warming for a generation that has passed makes nothing.
        let (made_late, make_late) = counter();
        pool.advance_generation();
        pool.warm(next, 2, make_late).await;
        assert_eq!(made_late.load(Ordering::SeqCst), 0);
    }
}
