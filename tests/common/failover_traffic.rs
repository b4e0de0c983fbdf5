//! Traffic that needs Redis, kept up through a Redis failover (`tests/redis_sentinel.rs`,
//! `tests/redis_cluster.rs`). Each round asks the worker pool for a symbol not asked for a
//! while (over the request stream; a failed attempt is retried, with backoff, until answered,
//! and the attempts are counted), then an MCP server for the same symbol: served from Redis
//! (the worker's fetch) while Redis works, from the exchange (a miss) while it does not, and
//! never an error. What the failover cost is then read off the rounds.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crypto_market_mcp::client::{ClientError, PubSubClient};
use serde_json::json;

use super::McpServer;

/// One pool attempt's wait for its reply; a reply lost with the old master's subscription
/// costs this much.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// Backoff between attempts: doubles from the first to the last.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// A request still unanswered after this is given up (and fails the test).
const GIVE_UP: Duration = Duration::from_secs(40);
/// Between rounds.
const PACE: Duration = Duration::from_millis(100);

#[derive(Debug)]
pub struct Round {
    pub symbol: String,
    pub started: Instant,
    /// When the pool answered; `None`: given up after 40 s.
    pub answered: Option<Instant>,
    /// Pool attempts (1: answered at the first).
    pub attempts: u32,
    /// Why the failed attempts failed.
    pub failures: Vec<String>,
    /// The MCP server's answer for the same symbol: its `source`, or the error.
    pub mcp: Result<String, String>,
}

impl Round {
    pub fn retries(&self) -> u32 {
        self.attempts.saturating_sub(1)
    }
}

pub struct Traffic {
    stop: Arc<AtomicBool>,
    done: Arc<Mutex<Vec<Round>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Traffic {
    /// Rounds over `symbols` (cycled) until [`Traffic::stop`].
    pub fn start(client: Arc<PubSubClient>, server: Arc<McpServer>, symbols: Vec<String>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn(rounds(client, server, symbols, stop.clone(), done.clone()));
        Self { stop, done, task }
    }

    /// Waits (up to `within`, else panics) for the steady state the failover is measured
    /// from: the last `n` rounds each answered by the pool at the first attempt and by the
    /// MCP server from Redis. Returns when the first of those rounds started. Warming up (the
    /// first markets loads, a loaded machine) may take retries; the steady state may not.
    pub async fn steady(&self, n: usize, within: Duration) -> Instant {
        let deadline = Instant::now() + within;
        loop {
            {
                let done = self.done.lock().expect("the rounds");
                let last = done.len().checked_sub(n).map(|from| &done[from..]);
                if let Some(last) = last.filter(|last| {
                    last.iter()
                        .all(|r| r.attempts == 1 && r.mcp.as_deref() == Ok("redis"))
                }) {
                    return last[0].started;
                }
                assert!(
                    Instant::now() < deadline,
                    "no {n} rounds in a row served from Redis without retries within {within:?}: {:#?}",
                    &done[done.len().saturating_sub(n)..]
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Ends after the round under way, and hands over every round.
    pub async fn stop(self) -> Vec<Round> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("the traffic task");
        std::mem::take(&mut *self.done.lock().expect("the rounds"))
    }
}

async fn rounds(
    client: Arc<PubSubClient>,
    server: Arc<McpServer>,
    symbols: Vec<String>,
    stop: Arc<AtomicBool>,
    done: Arc<Mutex<Vec<Round>>>,
) {
    for symbol in symbols.iter().cycle() {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let started = Instant::now();
        let (mut attempts, mut failures, mut answered) = (0, Vec::new(), None);
        let mut backoff = FIRST_BACKOFF;
        while started.elapsed() < GIVE_UP {
            attempts += 1;
            let reply = client
                .publish_request("get_ticker", json!({"symbol": symbol}), ATTEMPT_TIMEOUT)
                .await;
            match reply {
                Ok(_) => {
                    answered = Some(Instant::now());
                    break;
                }
                Err(e) => failures.push(describe(&e, started)),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        let r = server.call("get_ticker", json!({"symbol": symbol})).await;
        let mcp = match (r.is_error, r.structured_content) {
            (Some(true), content) => Err(format!("{content:?}")),
            (_, Some(content)) => Ok(content["source"].as_str().unwrap_or_default().to_owned()),
            (_, None) => Err("no structured content".to_owned()),
        };
        done.lock().expect("the rounds").push(Round {
            symbol: symbol.clone(),
            started,
            answered,
            attempts,
            failures,
            mcp,
        });
        tokio::time::sleep(PACE).await;
    }
}

fn describe(error: &ClientError, started: Instant) -> String {
    let kind = match error {
        ClientError::Timeout { .. } => "timeout".to_owned(),
        ClientError::Redis(e) => format!("redis: {e}"),
        other => other.to_string(),
    };
    format!("{kind} at +{:?}", started.elapsed())
}

/// What the rounds say about a failover that began at `killed`.
#[derive(Debug)]
pub struct Summary {
    pub rounds: usize,
    /// Rounds that overlapped the failover or came after it.
    pub through: usize,
    pub retried_rounds: usize,
    pub retries: u32,
    pub most_attempts: u32,
    /// The longest a pool request took, first attempt to answer.
    pub longest: Duration,
    /// From the kill to the end of the last round that needed a retry.
    pub last_retry_ended: Option<Duration>,
    /// From the kill to the first round after it whose MCP call was served from Redis.
    pub first_redis_after: Option<Duration>,
    pub mcp_sources: std::collections::BTreeMap<String, usize>,
}

/// One line per round, times from the kill: for the test's output.
pub fn timeline(rounds: &[Round], killed: Instant) -> String {
    let at = |t: Instant| {
        if t >= killed {
            format!("+{:.2}", (t - killed).as_secs_f64())
        } else {
            format!("-{:.2}", (killed - t).as_secs_f64())
        }
    };
    rounds
        .iter()
        .map(|r| {
            format!(
                "{} {} -> {} attempts {} mcp {:?} {:?}\n",
                r.symbol,
                at(r.started),
                r.answered.map_or("never".to_owned(), at),
                r.attempts,
                r.mcp,
                r.failures
            )
        })
        .collect()
}

pub fn summarize(rounds: &[Round], killed: Instant) -> Summary {
    let mut s = Summary {
        rounds: rounds.len(),
        through: 0,
        retried_rounds: 0,
        retries: 0,
        most_attempts: 0,
        longest: Duration::ZERO,
        last_retry_ended: None,
        first_redis_after: None,
        mcp_sources: Default::default(),
    };
    for r in rounds {
        let ended = r.answered.unwrap_or_else(Instant::now);
        if ended >= killed {
            s.through += 1;
        }
        s.retries += r.retries();
        s.most_attempts = s.most_attempts.max(r.attempts);
        s.longest = s.longest.max(ended - r.started);
        if r.attempts > 1 {
            s.retried_rounds += 1;
            s.last_retry_ended = Some(ended.saturating_duration_since(killed));
        }
        let source = match &r.mcp {
            Ok(source) => source.clone(),
            Err(_) => "error".to_owned(),
        };
        if r.started >= killed && source == "redis" && s.first_redis_after.is_none() {
            s.first_redis_after = Some(ended - killed);
        }
        *s.mcp_sources.entry(source).or_default() += 1;
    }
    s
}

/// The verdict both failover tests give on their rounds: every pool request answered and every
/// MCP call served; from `steady_since` to the kill served from Redis without retries; Redis
/// serving MCP calls again after the kill; retries only while the failover lasted (none in a
/// round begun 2 s after `served_again`, the time a node's cache layer stands aside after a
/// failure), at most 12 attempts for one request (backoff 0.1 s doubling to 1 s: some 10 s of
/// trying); and rounds under way during the failover and after it.
pub fn verdict(
    rounds: &[Round],
    steady_since: Instant,
    killed: Instant,
    served_again: Instant,
) -> Summary {
    let summary = summarize(rounds, killed);
    eprintln!("rounds:\n{}", timeline(rounds, killed));
    let unanswered: Vec<_> = rounds.iter().filter(|r| r.answered.is_none()).collect();
    assert!(
        unanswered.is_empty(),
        "pool requests never answered: {unanswered:#?}"
    );
    let failed: Vec<_> = rounds.iter().filter(|r| r.mcp.is_err()).collect();
    assert!(failed.is_empty(), "failed MCP calls: {failed:#?}");
    let before: Vec<_> = rounds
        .iter()
        .filter(|r| r.started >= steady_since && r.answered.is_some_and(|at| at < killed))
        .collect();
    assert!(
        before.iter().any(|r| r.mcp.as_deref() == Ok("redis")),
        "no MCP call served from Redis before the kill: {summary:?}"
    );
    assert!(
        before.iter().all(|r| r.attempts == 1),
        "retries before the kill: {before:#?}"
    );
    assert!(
        summary.first_redis_after.is_some(),
        "no MCP call served from Redis after the kill: {summary:?}"
    );
    let late = served_again + Duration::from_secs(2);
    let retried_late: Vec<_> = rounds
        .iter()
        .filter(|r| r.started >= late && r.attempts > 1)
        .collect();
    assert!(
        retried_late.is_empty(),
        "retries after the failover: {retried_late:#?}"
    );
    assert!(
        summary.most_attempts <= 12,
        "a pool request took {} attempts: {summary:?}",
        summary.most_attempts
    );
    let during = rounds
        .iter()
        .filter(|r| r.started < late && r.answered.is_some_and(|at| at >= killed))
        .count();
    let after = rounds.iter().filter(|r| r.started >= late).count();
    assert!(
        during >= 1 && after >= 5,
        "the traffic did not go through the failover ({during} rounds during it, {after} \
         after): {summary:?}"
    );
    summary
}
