//! Micro-batching of ticker requests. Requests that arrive within a short window (a
//! `get_tickers` fanning out to its symbols' actors, a burst of cold symbols) become one exchange
//! call for many symbols: Binance charges weight 2 for `ticker/24hr?symbols=[..]` with up to 20
//! symbols, the same as for one, and one round trip instead of many.
//!
//! The first request of a window leads: it waits out the window, takes every request queued
//! meanwhile and runs the batch; the others wait for their share of the answer.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::venue::VenueError;

type Waiter<T> = (String, oneshot::Sender<Result<T, VenueError>>);

pub struct Batcher<T> {
    window: Duration,
    queue: Mutex<Queue<T>>,
}

struct Queue<T> {
    waiting: Vec<Waiter<T>>,
    /// A leader is waiting out the window and will take `waiting`.
    led: bool,
}

impl<T: Clone> Batcher<T> {
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            queue: Mutex::new(Queue {
                waiting: Vec::new(),
                led: false,
            }),
        }
    }

    /// `key`'s value, fetched together with every other key requested within the window.
    /// `fetch` gets the distinct keys and answers each of them.
    pub async fn get<F, Fut>(&self, key: &str, fetch: F) -> Result<T, VenueError>
    where
        F: FnOnce(Vec<String>) -> Fut,
        Fut: Future<Output = HashMap<String, Result<T, VenueError>>>,
    {
        let (reply, answer) = oneshot::channel();
        let leads = {
            let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            queue.waiting.push((key.to_owned(), reply));
            !std::mem::replace(&mut queue.led, true)
        };
        if leads {
            let mut guard = LeaderGuard {
                batcher: self,
                taken: false,
            };
            tokio::time::sleep(self.window).await;
            let batch = guard.take();
            let mut keys: Vec<String> = batch.iter().map(|(k, _)| k.clone()).collect();
            keys.sort();
            keys.dedup();
            let mut results = fetch(keys).await;
            for (key, reply) in batch {
                let result = results.get(&key).cloned().unwrap_or_else(|| {
                    Err(VenueError::Malformed(format!(
                        "the exchange's reply had no {key}"
                    )))
                });
                let _ = reply.send(result);
            }
            results.clear();
        }
        answer.await.unwrap_or_else(|_| {
            Err(VenueError::Other(
                "the batched request was cancelled".to_owned(),
            ))
        })
    }
}

/// Hands the queue back if the leader is dropped before taking it (cancelled while waiting),
/// so its followers get an error instead of waiting forever.
struct LeaderGuard<'a, T> {
    batcher: &'a Batcher<T>,
    taken: bool,
}

impl<T> LeaderGuard<'_, T> {
    fn take(&mut self) -> Vec<Waiter<T>> {
        self.taken = true;
        let mut queue = self.batcher.queue.lock().unwrap_or_else(|p| p.into_inner());
        queue.led = false;
        std::mem::take(&mut queue.waiting)
    }
}

impl<T> Drop for LeaderGuard<'_, T> {
    fn drop(&mut self) {
        if !self.taken {
            // Dropping the waiters' senders tells them the batch is off.
            drop(self.take());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    async fn fetch_upper(
        calls: Arc<AtomicUsize>,
        seen: Arc<Mutex<Vec<Vec<String>>>>,
        keys: Vec<String>,
    ) -> HashMap<String, Result<String, VenueError>> {
        calls.fetch_add(1, Ordering::SeqCst);
        seen.lock().unwrap().push(keys.clone());
        keys.into_iter()
            .filter(|k| k != "missing")
            .map(|k| (k.clone(), Ok(k.to_uppercase())))
            .collect()
    }

    #[tokio::test]
    async fn requests_within_the_window_share_one_fetch() {
        let batcher = Batcher::new(Duration::from_millis(20));
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let keys = ["a", "b", "a", "c", "missing"];
        let results = futures::future::join_all(
            keys.iter()
                .map(|k| batcher.get(k, |keys| fetch_upper(calls.clone(), seen.clone(), keys))),
        )
        .await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(seen.lock().unwrap()[0], vec!["a", "b", "c", "missing"]);
        assert_eq!(results[0], Ok("A".to_owned()));
        assert_eq!(results[2], Ok("A".to_owned()));
        assert_eq!(results[3], Ok("C".to_owned()));
        assert!(matches!(results[4], Err(VenueError::Malformed(_))));
        // A later request starts a new batch.
        let alone = batcher
            .get("d", |keys| fetch_upper(calls.clone(), seen.clone(), keys))
            .await;
        assert_eq!(
            (alone, calls.load(Ordering::SeqCst)),
            (Ok("D".to_owned()), 2)
        );
    }

    #[tokio::test]
    async fn a_cancelled_leader_fails_its_followers_instead_of_stranding_them() {
        let batcher = Arc::new(Batcher::<String>::new(Duration::from_millis(200)));
        let leader = {
            let batcher = batcher.clone();
            tokio::spawn(async move { batcher.get("a", |_| async { HashMap::new() }).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let follower = {
            let batcher = batcher.clone();
            tokio::spawn(async move { batcher.get("b", |_| async { HashMap::new() }).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        leader.abort();
        let outcome = tokio::time::timeout(Duration::from_secs(1), follower)
            .await
            .expect("follower answered")
            .unwrap();
        assert!(matches!(outcome, Err(VenueError::Other(_))));
        // The batcher is usable again.
        let again = batcher
            .get("c", |keys| async move {
                keys.into_iter().map(|k| (k, Ok("x".to_owned()))).collect()
            })
            .await;
        assert_eq!(again, Ok("x".to_owned()));
    }
}
