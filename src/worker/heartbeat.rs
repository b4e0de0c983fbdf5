//! Worker health (SPEC.md section 6): every 2 s, `HSET {prefix}:workers {id} {json}`; `HDEL`
//! on a clean exit. The same beat refreshes the pool gauges of SPEC.md section 7.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;
use serde_json::json;

use super::{now_ms, status, Shared};

const INTERVAL: Duration = Duration::from_secs(2);
/// Entries of workers unseen this long are removed: a crashed worker never HDELs itself.
const FORGET_AFTER_MS: u64 = 60_000;
/// `MAXLEN ~` of the request stream (SPEC.md section 6), enforced here too in case a client
/// XADDs without it.
const STREAM_MAXLEN: usize = 100_000;

pub async fn run(shared: Arc<Shared>) {
    let mut ticks = tokio::time::interval(INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is immediate; `worker::run` beat once already
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = shared.shutdown.cancelled() => return,
        }
        if let Err(e) = beat(&shared).await {
            tracing::warn!("heartbeat failed: {e}");
        }
        housekeeping(&shared).await;
    }
}

pub async fn beat(shared: &Shared) -> redis::RedisResult<()> {
    let value = json!({
        "id": shared.id,
        "host": shared.host,
        "pid": shared.pid,
        "started_ms": shared.started_ms,
        "last_seen_ms": now_ms(),
        "processed": shared.processed.load(Ordering::Relaxed),
        "errors": shared.errors.load(Ordering::Relaxed),
        "in_flight": shared.in_flight(),
    });
    let mut conn = shared.conn.clone();
    conn.hset::<_, _, _, ()>(shared.target.workers_key(), &shared.id, value.to_string())
        .await
}

/// Gauges, forgetting long-dead workers and their consumers, trimming the stream. Best effort: each runs again in
/// 2 s.
async fn housekeeping(shared: &Shared) {
    let now = now_ms();
    if let Ok(workers) = status::workers(shared).await {
        let live: std::collections::HashSet<&str> = workers
            .iter()
            .filter(|w| now.saturating_sub(w.last_seen_ms) <= status::LIVE_WITHIN_MS)
            .map(|w| w.id.as_str())
            .collect();
        metrics::gauge!("cmm_workers_live").set(live.len() as f64);
        super::consumers::reap(shared, &live).await;
        let gone: Vec<&String> = workers
            .iter()
            .filter(|w| now.saturating_sub(w.last_seen_ms) > FORGET_AFTER_MS)
            .map(|w| &w.id)
            .collect();
        if !gone.is_empty() {
            let mut conn = shared.conn.clone();
            let _: redis::RedisResult<i64> = conn.hdel(shared.target.workers_key(), gone).await;
        }
    }
    if let Ok(queue) = status::queue(shared).await {
        metrics::gauge!("cmm_queue_depth").set(queue.depth as f64);
    }
    let mut conn = shared.conn.clone();
    let trimmed: redis::RedisResult<i64> = conn
        .xtrim(
            &shared.request_channel,
            redis::streams::StreamMaxlen::Approx(STREAM_MAXLEN),
        )
        .await;
    if let Err(e) = trimmed {
        tracing::debug!("XTRIM failed: {e}");
    }
}

/// Leaves the worker list on a clean exit, so `status` stops counting this worker at once.
pub async fn leave(shared: &Shared) {
    let mut conn = shared.conn.clone();
    if let Err(e) = conn
        .hdel::<_, _, i64>(shared.target.workers_key(), &shared.id)
        .await
    {
        tracing::warn!("cannot leave the worker list: {e}");
    }
}
