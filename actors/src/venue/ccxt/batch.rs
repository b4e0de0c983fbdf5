//! Natural batching of ticker requests. Binance charges weight 2 for
//! `ticker/24hr?symbols=[..]` with up to 20 symbols, the same as for one, so tickers wanted at
//! the same time should travel together; but a lone request must not wait for company.
//!
//! - A request while no call is in flight and nothing is queued leaves at once (with whatever
//!   keys it asks for).
//! - Requests that arrive while calls are in flight (or others are queued) are part of a
//!   burst: they queue up and leave together, in calls of up to `max_keys` keys, up to
//!   `max_calls` calls in parallel, as soon as a call's worth is queued, or once the burst
//!   pauses (no request for [`QUEUE_WAIT`]), or once the oldest has waited
//!   [`MAX_QUEUE_WAIT`]. A burst thus costs about one call per `max_keys` keys, and a queued
//!   request waits milliseconds, not a whole round trip.
//!
//!   Calls ending do not release a partial queue: against an exchange answering in a few
//!   milliseconds, calls end while the burst is still arriving (requests come in over
//!   milliseconds, through the MCP transport and the symbol actors), and a queue released at
//!   each end left a few keys at a time (27 calls for 150 keys in the unit test of a 5 ms
//!   exchange, up to 45 in issue 20's runs).
//! - A key already queued or in flight is joined, not asked for twice.
//! - `extra_wait` (optional, default 0) makes a departing call wait a little for company.
//!
//! There is no background task: whichever waiting caller finds a call may leave leads it, so
//! the batcher costs nothing when idle and cannot leak a task.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{oneshot, Notify};
use tokio::time::Instant;

use crate::venue::VenueError;

type Answer<T> = Result<T, VenueError>;

/// A burst is over when no request joined the queue for this long: the queue leaves. Above
/// tokio's 1 ms timer granularity and the gaps between the requests of one burst; far below
/// an exchange round trip.
pub const QUEUE_WAIT: Duration = Duration::from_millis(3);
/// Longest a queued request waits for its call to fill up while requests keep coming.
pub const MAX_QUEUE_WAIT: Duration = Duration::from_millis(20);

pub struct Batcher<T> {
    max_keys: usize,
    max_calls: usize,
    extra_wait: Duration,
    state: Mutex<State<T>>,
    /// Signalled when a call ends (queued keys may leave) or a slot frees up.
    wake: Notify,
}

struct State<T> {
    /// Keys not yet sent, oldest first.
    queued: VecDeque<String>,
    /// Callers waiting for each queued or in-flight key.
    waiters: HashMap<String, Vec<oneshot::Sender<Answer<T>>>>,
    /// Calls in flight (or about to leave).
    calls: usize,
    /// The queue holds keys that arrived while the batcher was busy (calls in flight or keys
    /// queued): it waits for the rest of the burst.
    burst: bool,
    /// When the oldest queued key was queued.
    queued_at: Option<Instant>,
    /// When the newest queued key was queued.
    last_queued_at: Option<Instant>,
}

impl<T> State<T> {
    fn may_leave(&self, max_keys: usize, max_calls: usize, now: Instant) -> bool {
        if self.queued.is_empty() || self.calls >= max_calls {
            return false;
        }
        let since = |at: Option<Instant>| at.map(|at| now.saturating_duration_since(at));
        self.queued.len() >= max_keys
            || !self.burst
            || since(self.last_queued_at).is_some_and(|quiet| quiet >= QUEUE_WAIT)
            || since(self.queued_at).is_some_and(|waited| waited >= MAX_QUEUE_WAIT)
    }

    /// When the queue may leave by the clock alone (the burst paused, or waited its most).
    fn due(&self) -> Option<Instant> {
        let quiet = self.last_queued_at.map(|at| at + QUEUE_WAIT);
        let longest = self.queued_at.map(|at| at + MAX_QUEUE_WAIT);
        quiet.into_iter().chain(longest).min()
    }
}

impl<T: Clone> Batcher<T> {
    pub fn new(max_keys: usize, max_calls: usize, extra_wait: Duration) -> Self {
        Self {
            max_keys: max_keys.max(1),
            max_calls: max_calls.max(1),
            extra_wait,
            state: Mutex::new(State {
                queued: VecDeque::new(),
                waiters: HashMap::new(),
                calls: 0,
                burst: false,
                queued_at: None,
                last_queued_at: None,
            }),
            wake: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<T>> {
        // The state is a queue and counters, consistent after every statement: a panic in
        // another holder leaves nothing half-done worth refusing service over.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The value of each of `keys`. `fetch` gets up to `max_keys` distinct keys and answers
    /// each; it may be called several times (for this caller's keys or other callers').
    pub async fn get_many<F, Fut>(&self, keys: &[String], fetch: F) -> HashMap<String, Answer<T>>
    where
        F: Fn(Vec<String>) -> Fut,
        Fut: Future<Output = HashMap<String, Answer<T>>>,
    {
        let mut answers = Vec::with_capacity(keys.len());
        {
            let mut state = self.lock();
            let now = Instant::now();
            // Judged once for all of this caller's keys: asked together, they are one request.
            let busy = state.calls > 0 || !state.queued.is_empty();
            for key in keys {
                if answers.iter().any(|(k, _)| k == key) {
                    continue;
                }
                let (reply, answer) = oneshot::channel();
                match state.waiters.get_mut(key) {
                    Some(waiting) => waiting.push(reply),
                    None => {
                        state.waiters.insert(key.clone(), vec![reply]);
                        state.queued.push_back(key.clone());
                        state.queued_at.get_or_insert(now);
                        state.last_queued_at = Some(now);
                        // Joining a key already asked for adds no call: only a new key
                        // queued while busy makes the queue wait for the rest of a burst.
                        state.burst |= busy;
                    }
                }
                answers.push((key.clone(), answer));
            }
        }
        let mut all = std::pin::pin!(futures::future::join_all(answers.into_iter().map(
            |(key, answer)| async move {
                let answer = answer.await.unwrap_or_else(|_| {
                    Err(VenueError::Other(
                        "the batched request was cancelled".to_owned(),
                    ))
                });
                (key, answer)
            }
        )));
        loop {
            let mut woken = std::pin::pin!(self.wake.notified());
            // Registered before the state is read, so a wake between the read and the wait
            // is not lost.
            woken.as_mut().enable();
            let chunks = self.take_chunks().await;
            if !chunks.is_empty() {
                // Everything that may leave now leaves now, in parallel calls.
                futures::future::join_all(chunks.into_iter().map(|keys| self.run(keys, &fetch)))
                    .await;
                continue;
            }
            let deadline = self.lock().due();
            let queue_due = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                done = &mut all => return done.into_iter().collect(),
                _ = &mut woken => {}
                () = queue_due => {}
            }
        }
    }

    /// The keys of the calls that may leave now (each counted in flight): the whole queue, in
    /// chunks of up to `max_keys`, as many calls as `max_calls` allows.
    async fn take_chunks(&self) -> Vec<Vec<String>> {
        {
            let mut state = self.lock();
            if !state.may_leave(self.max_keys, self.max_calls, Instant::now()) {
                return Vec::new();
            }
            if self.extra_wait.is_zero() {
                return self.drain(&mut state);
            }
            // A slot is ours while we wait for company.
            state.calls += 1;
        }
        let mut slot = Slot {
            batcher: self,
            keys: Vec::new(),
            done: false,
        };
        tokio::time::sleep(self.extra_wait).await;
        let chunks = {
            let mut state = self.lock();
            state.calls = state.calls.saturating_sub(1);
            slot.done = true;
            self.drain(&mut state)
        };
        if chunks.is_empty() {
            // Others took the queue meanwhile; the freed slot may let someone leave.
            self.wake.notify_waiters();
        }
        chunks
    }

    fn drain(&self, state: &mut State<T>) -> Vec<Vec<String>> {
        let mut chunks = Vec::new();
        while !state.queued.is_empty() && state.calls < self.max_calls {
            let n = state.queued.len().min(self.max_keys);
            chunks.push(state.queued.drain(..n).collect());
            state.calls += 1;
        }
        if state.queued.is_empty() {
            state.burst = false;
            state.queued_at = None;
            state.last_queued_at = None;
        } else if !chunks.is_empty() {
            // What stays queued (no free call) waits from now.
            state.queued_at = Some(Instant::now());
        }
        chunks
    }

    async fn run<F, Fut>(&self, keys: Vec<String>, fetch: &F)
    where
        F: Fn(Vec<String>) -> Fut,
        Fut: Future<Output = HashMap<String, Answer<T>>>,
    {
        // Counted in flight by `drain`; the slot frees it if this call is dropped midway.
        let mut slot = Slot {
            batcher: self,
            keys: keys.clone(),
            done: false,
        };
        let results = fetch(keys).await;
        slot.done = true;
        self.finish(&slot.keys, results);
    }

    /// A call ended: answer its keys' waiters and let the queue leave.
    fn finish(&self, keys: &[String], mut results: HashMap<String, Answer<T>>) {
        {
            let mut state = self.lock();
            state.calls = state.calls.saturating_sub(1);
            for key in keys {
                let answer = results.remove(key).unwrap_or_else(|| {
                    Err(VenueError::Malformed(format!(
                        "the exchange's reply had no {key}"
                    )))
                });
                for reply in state.waiters.remove(key).unwrap_or_default() {
                    // A waiter that gave up has dropped its receiver: nothing to tell it.
                    let _ = reply.send(answer.clone());
                }
            }
        }
        // A slot is free: a queue that was only waiting for one may leave.
        self.wake.notify_waiters();
    }
}

/// A call slot taken by a leader. If the leader is dropped (its caller cancelled) before the
/// call ends, its keys go back to the front of the queue and the slot is freed, so the other
/// waiters are served by someone else instead of waiting forever.
struct Slot<'a, T> {
    batcher: &'a Batcher<T>,
    keys: Vec<String>,
    done: bool,
}

impl<T> Drop for Slot<'_, T> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        {
            let mut state = self.batcher.state.lock().unwrap_or_else(|p| p.into_inner());
            state.calls = state.calls.saturating_sub(1);
            for key in self.keys.drain(..).rev() {
                state.queued.push_front(key);
            }
            if !state.queued.is_empty() {
                let now = Instant::now();
                state.queued_at.get_or_insert(now);
                state.last_queued_at.get_or_insert(now);
            }
        }
        self.batcher.wake.notify_waiters();
    }
}

#[cfg(test)]
mod tests;
