use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A fake exchange: records each call's keys, answers upper-cased keys (none for "missing"),
/// and holds every call until the test opens the gate.
#[derive(Clone)]
struct Fake {
    calls: Arc<Mutex<Vec<Vec<String>>>>,
    in_flight: Arc<AtomicUsize>,
    most_in_flight: Arc<AtomicUsize>,
    gate: Arc<tokio::sync::Semaphore>,
}

impl Fake {
    fn new(open: bool) -> Self {
        let gate = tokio::sync::Semaphore::new(if open {
            tokio::sync::Semaphore::MAX_PERMITS
        } else {
            0
        });
        Self {
            calls: Arc::default(),
            in_flight: Arc::default(),
            most_in_flight: Arc::default(),
            gate: Arc::new(gate),
        }
    }

    async fn fetch(&self, keys: Vec<String>) -> HashMap<String, Answer<String>> {
        self.calls.lock().unwrap().push(keys.clone());
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_in_flight.fetch_max(now, Ordering::SeqCst);
        let permit = self.gate.acquire().await.unwrap();
        permit.forget();
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        keys.into_iter()
            .filter(|k| k != "missing")
            .map(|k| (k.clone(), Ok(k.to_uppercase())))
            .collect()
    }

    fn calls(&self) -> Vec<Vec<String>> {
        self.calls.lock().unwrap().clone()
    }

    fn open(&self) {
        self.gate
            .add_permits(tokio::sync::Semaphore::MAX_PERMITS / 2);
    }

    /// Waits (in virtual time: the test runtime is paused) until `n` calls were made.
    async fn wait_calls(&self, n: usize) {
        for _ in 0..10_000 {
            if self.calls.lock().unwrap().len() >= n {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("expected {n} calls, saw {:?}", self.calls());
    }
}

fn spawn_get(
    batcher: &Arc<Batcher<String>>,
    fake: &Fake,
    keys: &[&str],
) -> tokio::task::JoinHandle<HashMap<String, Answer<String>>> {
    let batcher = batcher.clone();
    let fake = fake.clone();
    let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    tokio::spawn(async move { batcher.get_many(&keys, |k| fake.fetch(k)).await })
}

fn keys(calls: &[Vec<String>]) -> Vec<Vec<&str>> {
    calls
        .iter()
        .map(|c| c.iter().map(String::as_str).collect())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_lone_request_leaves_at_once_and_later_ones_queue_behind_it() {
    let batcher = Arc::new(Batcher::new(20, 8, Duration::ZERO));
    let fake = Fake::new(false);
    let started = tokio::time::Instant::now();
    let first = spawn_get(&batcher, &fake, &["a"]);
    fake.wait_calls(1).await;
    // No timer ran before the call left: virtual time did not move.
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(keys(&fake.calls()), vec![vec!["a"]]);
    // While "a" is in flight, three more arrive (one of them "a" again): they wait.
    let later: Vec<_> = ["b", "c", "a", "d"]
        .iter()
        .map(|k| spawn_get(&batcher, &fake, &[k]))
        .collect();
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert_eq!(fake.calls().len(), 1, "queued while a call is in flight");
    // The queue waits at most QUEUE_WAIT for the call in flight, then leaves together.
    tokio::time::advance(QUEUE_WAIT).await;
    fake.wait_calls(2).await;
    assert_eq!(started.elapsed(), QUEUE_WAIT);
    fake.open();
    assert_eq!(first.await.unwrap()["a"], Ok("A".to_owned()));
    let mut answers = Vec::new();
    for handle in later {
        answers.extend(handle.await.unwrap());
    }
    assert_eq!(
        keys(&fake.calls()),
        vec![vec!["a"], vec!["b", "c", "d"]],
        "the queue left together; the repeated key joined the call in flight"
    );
    assert!(answers.iter().all(|(k, v)| v == &Ok(k.to_uppercase())));
}

#[tokio::test(start_paused = true)]
async fn a_burst_of_150_distinct_misses_takes_at_most_15_calls() {
    let batcher = Arc::new(Batcher::new(20, 8, Duration::ZERO));
    let fake = Fake::new(false);
    let names: Vec<String> = (0..150).map(|i| format!("s{i}")).collect();
    let handles: Vec<_> = names
        .iter()
        .map(|k| spawn_get(&batcher, &fake, &[k.as_str()]))
        .collect();
    fake.wait_calls(1).await;
    fake.open();
    for (handle, name) in handles.into_iter().zip(&names) {
        assert_eq!(handle.await.unwrap()[name], Ok(name.to_uppercase()));
    }
    let calls = fake.calls();
    assert!(calls.len() <= 15, "{} calls: {calls:?}", calls.len());
    assert!(calls.iter().all(|c| c.len() <= 20));
    assert_eq!(calls.iter().map(Vec::len).sum::<usize>(), 150);
    assert!(fake.most_in_flight.load(Ordering::SeqCst) <= 8);
}

#[tokio::test(start_paused = true)]
async fn forty_keys_asked_together_take_two_parallel_calls() {
    let batcher = Arc::new(Batcher::new(20, 8, Duration::ZERO));
    let fake = Fake::new(false);
    let names: Vec<String> = (0..40).map(|i| format!("s{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let all = spawn_get(&batcher, &fake, &refs);
    fake.wait_calls(2).await;
    assert_eq!(fake.most_in_flight.load(Ordering::SeqCst), 2, "in parallel");
    fake.open();
    let answers = all.await.unwrap();
    assert_eq!(answers.len(), 40);
    assert_eq!(fake.calls().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_key_missing_from_the_reply_is_an_error_for_that_key_only() {
    let batcher = Arc::new(Batcher::new(20, 8, Duration::ZERO));
    let fake = Fake::new(true);
    let answers = spawn_get(&batcher, &fake, &["x", "missing"]).await.unwrap();
    assert_eq!(answers["x"], Ok("X".to_owned()));
    assert!(matches!(answers["missing"], Err(VenueError::Malformed(_))));
}

#[tokio::test(start_paused = true)]
async fn a_request_after_a_call_ended_leaves_at_once() {
    let batcher = Arc::new(Batcher::new(20, 8, Duration::ZERO));
    let fake = Fake::new(true);
    let started = tokio::time::Instant::now();
    spawn_get(&batcher, &fake, &["a"]).await.unwrap();
    spawn_get(&batcher, &fake, &["b"]).await.unwrap();
    assert_eq!(started.elapsed(), Duration::ZERO, "no timer ran");
    assert_eq!(keys(&fake.calls()), vec![vec!["a"], vec!["b"]]);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_leader_hands_its_keys_back_to_the_queue() {
    let batcher = Arc::new(Batcher::new(20, 8, Duration::ZERO));
    let fake = Fake::new(false);
    let leader = spawn_get(&batcher, &fake, &["a"]);
    fake.wait_calls(1).await;
    // Another caller wants "a" too, and waits on the leader's call.
    let follower = spawn_get(&batcher, &fake, &["a"]);
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    leader.abort();
    let _ = leader.await;
    // The follower leads a new call for "a".
    fake.wait_calls(2).await;
    fake.open();
    assert_eq!(follower.await.unwrap()["a"], Ok("A".to_owned()));
    assert_eq!(keys(&fake.calls()), vec![vec!["a"], vec!["a"]]);
}

#[tokio::test(start_paused = true)]
async fn an_extra_wait_gathers_company_before_leaving() {
    let batcher = Arc::new(Batcher::new(20, 8, Duration::from_millis(5)));
    let fake = Fake::new(true);
    let a = spawn_get(&batcher, &fake, &["a"]);
    tokio::task::yield_now().await;
    let b = spawn_get(&batcher, &fake, &["b"]);
    a.await.unwrap();
    b.await.unwrap();
    assert_eq!(keys(&fake.calls()), vec![vec!["a", "b"]]);
}

/// Issue 20, defect 12: an exchange answering in 5 ms and a burst arriving over 45 ms (one
/// miss every 300 µs, as a server passes them on). Calls end while the burst still arrives; a
/// queue released by each end (or 3 ms after its oldest miss) left a few keys at a time.
#[tokio::test(start_paused = true)]
async fn a_burst_arriving_over_milliseconds_against_a_5_ms_exchange_takes_at_most_15_calls() {
    let batcher = Arc::new(Batcher::new(20, 8, Duration::ZERO));
    let calls: Arc<Mutex<Vec<(Duration, usize)>>> = Arc::default();
    let started = tokio::time::Instant::now();
    let handles: Vec<_> = (0..150u64)
        .map(|i| {
            let (batcher, calls) = (batcher.clone(), calls.clone());
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_micros(300 * i)).await;
                let key = [format!("s{i}")];
                let exchange = |keys: Vec<String>| {
                    let calls = calls.clone();
                    async move {
                        calls.lock().unwrap().push((started.elapsed(), keys.len()));
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        keys.into_iter()
                            .map(|k| (k.clone(), Ok(k.to_uppercase())))
                            .collect::<HashMap<_, Answer<String>>>()
                    }
                };
                batcher.get_many(&key, exchange).await.remove(&key[0])
            })
        })
        .collect();
    for (i, handle) in handles.into_iter().enumerate() {
        assert_eq!(handle.await.unwrap(), Some(Ok(format!("S{i}"))));
    }
    let calls = calls.lock().unwrap().clone();
    assert_eq!(
        calls[0],
        (Duration::ZERO, 1),
        "the first miss left at once, alone"
    );
    assert!(calls.len() <= 15, "{} calls: {calls:?}", calls.len());
    assert_eq!(calls.iter().map(|(_, n)| n).sum::<usize>(), 150);
    assert!(calls.iter().all(|(_, n)| *n <= 20));
}
