//! The `status` tool of the Redis protocol (SPEC.md section 6):
//! `{workers: [...live], queue_depth, pending, cache: {hits, misses, hit_rate}}`.

use std::collections::HashMap;

use redis::streams::StreamInfoGroupsReply;
use redis::AsyncCommands;
use serde_json::{json, Value};

use super::{now_ms, Shared, WorkerError, GROUP};

/// A worker unseen for longer is dead (SPEC.md section 6).
pub const LIVE_WITHIN_MS: u64 = 10_000;

pub struct Seen {
    pub id: String,
    pub info: Value,
    pub last_seen_ms: u64,
}

pub struct Queue {
    /// Requests not yet read by any worker.
    pub depth: u64,
    /// Read but not yet acknowledged.
    pub pending: u64,
}

pub async fn status(shared: &Shared) -> Result<Value, WorkerError> {
    let now = now_ms();
    let mut live: Vec<Value> = workers(shared)
        .await?
        .into_iter()
        .filter(|w| now.saturating_sub(w.last_seen_ms) <= LIVE_WITHIN_MS)
        .map(|w| w.info)
        .collect();
    live.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    let queue = queue(shared).await?;
    // This worker's own cache: each worker's memory cache is its own (the shared Redis cache
    // reports through its own metrics).
    let cache = shared.engine.cache_stats();
    let mut status = json!({
        "workers": live,
        "queue_depth": queue.depth,
        "pending": queue.pending,
        "cache": {"hits": cache.hits, "misses": cache.misses, "hit_rate": cache.hit_rate()},
    });
    // With API_KEYS_FILE: this worker's requests and rejections per client id (never a key).
    if let Some(gate) = &shared.gate {
        status["clients"] = json!(gate.counts());
    }
    Ok(status)
}

/// Every worker in the heartbeat hash; entries that are not a worker's JSON are skipped.
pub async fn workers(shared: &Shared) -> Result<Vec<Seen>, WorkerError> {
    let mut conn = shared.conn.clone();
    let all: HashMap<String, String> = conn.hgetall(shared.target.workers_key()).await?;
    Ok(all
        .into_iter()
        .filter_map(|(id, text)| {
            let info: Value = serde_json::from_str(&text).ok()?;
            let last_seen_ms = info["last_seen_ms"].as_u64()?;
            Some(Seen {
                id,
                info,
                last_seen_ms,
            })
        })
        .collect())
}

pub async fn queue(shared: &Shared) -> Result<Queue, WorkerError> {
    let mut conn = shared.conn.clone();
    let groups: redis::RedisResult<StreamInfoGroupsReply> =
        conn.xinfo_groups(&shared.request_channel).await;
    let group = match groups {
        Ok(reply) => reply.groups.into_iter().find(|g| g.name == GROUP),
        // No stream yet: nothing queued.
        Err(e) if e.code() == Some("ERR") => None,
        Err(e) => return Err(e.into()),
    };
    let Some(group) = group else {
        return Ok(Queue {
            depth: 0,
            pending: 0,
        });
    };
    let depth = match group.lag {
        Some(lag) => lag as u64,
        // Redis cannot tell the lag (answered entries are deleted): what the stream holds
        // is what waits plus what is pending.
        None => conn
            .xlen::<_, u64>(&shared.request_channel)
            .await?
            .saturating_sub(group.pending as u64),
    };
    Ok(Queue {
        depth,
        pending: group.pending as u64,
    })
}
