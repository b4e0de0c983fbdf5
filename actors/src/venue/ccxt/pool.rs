//! A pool of ccxt exchange instances. A ccxt instance takes `&mut self` on every call, so one
//! instance serialises its calls; separate instances (sharing the loaded markets) run in
//! parallel. Instances are made on demand up to the pool size and reused afterwards.

use std::sync::Mutex;

use tokio::sync::{Semaphore, SemaphorePermit};

pub struct InstancePool<T> {
    free: Mutex<Vec<T>>,
    permits: Semaphore,
}

/// An instance borrowed from the pool; back in the pool when dropped.
pub struct Pooled<'a, T> {
    instance: Option<T>,
    pool: &'a InstancePool<T>,
    _permit: SemaphorePermit<'a>,
}

impl<T> InstancePool<T> {
    pub fn new(size: usize) -> Self {
        Self {
            free: Mutex::new(Vec::with_capacity(size)),
            permits: Semaphore::new(size.max(1)),
        }
    }

    /// Waits for a free slot, then reuses an idle instance or makes one with `make`.
    pub async fn acquire(&self, make: impl FnOnce() -> T) -> Pooled<'_, T> {
        // The semaphore is never closed, so acquire cannot fail; a closed one would only mean
        // the pool is being dropped, and then waiting is as good as anything.
        let permit = loop {
            if let Ok(permit) = self.permits.acquire().await {
                break permit;
            }
        };
        let idle = self.free.lock().ok().and_then(|mut free| free.pop());
        Pooled {
            instance: Some(idle.unwrap_or_else(make)),
            pool: self,
            _permit: permit,
        }
    }

    /// Drops every idle instance (e.g. after markets were reloaded, so new ones get them).
    pub fn clear_idle(&self) {
        if let Ok(mut free) = self.free.lock() {
            free.clear();
        }
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
        if std::thread::panicking() {
            return;
        }
        if let (Some(instance), Ok(mut free)) = (self.instance.take(), self.pool.free.lock()) {
            free.push(instance);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn reuses_instances_and_caps_concurrency() {
        let pool = InstancePool::new(2);
        let made = AtomicUsize::new(0);
        let make = || made.fetch_add(1, Ordering::SeqCst);
        {
            let a = pool.acquire(make).await;
            let b = pool.acquire(make).await;
            assert_eq!((*a, *b), (0, 1));
            // A third borrower waits for a slot.
            let third =
                tokio::time::timeout(std::time::Duration::from_millis(50), pool.acquire(make))
                    .await;
            assert!(third.is_err());
        }
        let again = pool.acquire(make).await;
        assert!(*again <= 1, "an idle instance is reused");
        assert_eq!(made.load(Ordering::SeqCst), 2);
    }
}
