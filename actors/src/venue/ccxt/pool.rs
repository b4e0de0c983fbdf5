//! A pool of ccxt exchange instances. A ccxt instance takes `&mut self` on every call, so one
//! instance serialises its calls; separate instances (sharing the loaded markets) run in
//! parallel. Making an instance is CPU work that grows with the market count (ccxt indexes every
//! market: ~0.3 s for 3000), so instances are made on blocking threads, reused, and made ahead
//! of need by [`InstancePool::warm`] once markets are loaded.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use tokio::sync::{Semaphore, SemaphorePermit};

pub struct InstancePool<T> {
    free: Mutex<Vec<T>>,
    /// One permit per instance in use: at most `size` calls at once.
    permits: Semaphore,
    size: usize,
    /// Instances alive or being made (idle + in use); never above `size`.
    live: AtomicUsize,
}

/// An instance borrowed from the pool; back in the pool when dropped.
pub struct Pooled<'a, T> {
    instance: Option<T>,
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
        }
    }

    /// Waits for a free slot, then reuses an idle instance or makes one with `make`.
    pub async fn acquire<F>(&self, make: F) -> Result<Pooled<'_, T>, String>
    where
        F: FnOnce() -> T + Send + 'static,
    {
        // The semaphore is never closed, so acquire cannot fail; a closed one would only mean
        // the pool is being dropped, and then waiting is as good as anything.
        let permit = loop {
            if let Ok(permit) = self.permits.acquire().await {
                break permit;
            }
        };
        let idle = self.free.lock().ok().and_then(|mut free| free.pop());
        let instance = match idle {
            Some(instance) => instance,
            None => {
                self.live.fetch_add(1, Ordering::SeqCst);
                self.make(make).await?
            }
        };
        Ok(Pooled {
            instance: Some(instance),
            pool: self,
            _permit: permit,
        })
    }

    /// Makes instances in the background until the pool is full, one at a time so that a
    /// serving process keeps its CPU.
    pub async fn warm<F>(&self, make: F)
    where
        F: Fn() -> T + Clone + Send + 'static,
    {
        let size = self.size;
        while self
            .live
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < size).then_some(n + 1)
            })
            .is_ok()
        {
            match self.make(make.clone()).await {
                Ok(instance) => match self.free.lock() {
                    Ok(mut free) => free.push(instance),
                    Err(_) => return,
                },
                Err(e) => {
                    tracing::warn!("warming the exchange instance pool stopped: {e}");
                    return;
                }
            }
        }
    }

    async fn make<F: FnOnce() -> T + Send + 'static>(&self, make: F) -> Result<T, String> {
        tokio::task::spawn_blocking(make).await.map_err(|e| {
            self.live.fetch_sub(1, Ordering::SeqCst);
            format!("making an exchange instance failed: {e}")
        })
    }

    /// Drops every idle instance (after markets were reloaded, so new ones get them).
    pub fn clear_idle(&self) {
        if let Ok(mut free) = self.free.lock() {
            self.live.fetch_sub(free.len(), Ordering::SeqCst);
            free.clear();
        }
    }

    #[cfg(test)]
    pub fn idle(&self) -> usize {
        self.free.lock().map(|free| free.len()).unwrap_or(0)
    }
}

impl<T> std::ops::Deref for Pooled<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.instance
            .as_ref()
            .expect("a pooled instance is present until drop")
    }
}

impl<T> std::ops::DerefMut for Pooled<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.instance
            .as_mut()
            .expect("a pooled instance is present until drop")
    }
}

impl<T> Drop for Pooled<'_, T> {
    fn drop(&mut self) {
        // An instance dropped by a panic mid-call may hold half-updated state: keep it only
        // when the call finished normally.
        let instance = self.instance.take();
        if std::thread::panicking() {
            self.pool.live.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        if let (Some(instance), Ok(mut free)) = (instance, self.pool.free.lock()) {
            free.push(instance);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn reuses_instances_and_caps_concurrency() {
        let pool = InstancePool::new(2);
        let made = Arc::new(AtomicUsize::new(0));
        let make = {
            let made = made.clone();
            move || made.fetch_add(1, Ordering::SeqCst)
        };
        {
            let a = pool.acquire(make.clone()).await.unwrap();
            let b = pool.acquire(make.clone()).await.unwrap();
            assert_eq!((*a, *b), (0, 1));
            // A third borrower waits for a slot.
            let third =
                tokio::time::timeout(Duration::from_millis(50), pool.acquire(make.clone())).await;
            assert!(third.is_err());
        }
        let again = pool.acquire(make).await.unwrap();
        assert!(*again <= 1, "an idle instance is reused");
        assert_eq!(made.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn warming_fills_the_pool_once_without_overshooting() {
        let pool = InstancePool::new(3);
        let made = Arc::new(AtomicUsize::new(0));
        let make = {
            let made = made.clone();
            move || made.fetch_add(1, Ordering::SeqCst)
        };
        let held = pool.acquire(make.clone()).await.unwrap();
        pool.warm(make.clone()).await;
        assert_eq!((made.load(Ordering::SeqCst), pool.idle()), (3, 2));
        drop(held);
        pool.warm(make).await;
        assert_eq!((made.load(Ordering::SeqCst), pool.idle()), (3, 3));
        pool.clear_idle();
        assert_eq!(pool.idle(), 0);
    }
}
