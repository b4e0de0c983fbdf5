//! Consumers of the request group that no longer serve (SPEC.md section 9): each worker is a
//! consumer named by its id, and Redis keeps a consumer until told otherwise, so a pool that
//! restarts its pods accumulates them forever (`XINFO CONSUMERS` grows, `status` slows). A
//! worker removes its own consumer on a clean exit; the housekeeping of any live worker removes
//! those of workers that died, once the reclaimer has taken over their pending requests.
//!
//! `XGROUP DELCONSUMER` drops a consumer's pending entries with it (they would never be
//! reclaimed), so a consumer is removed only while it has none, checked in the same script.

use std::collections::HashSet;
use std::time::Duration;

use redis::streams::StreamInfoConsumersReply;
use redis::AsyncCommands;

use super::{Shared, GROUP};

/// A consumer idle this long that no live worker owns is gone: past the time after which a
/// worker unseen is dead (SPEC.md section 6).
const STALE_AFTER: Duration = Duration::from_millis(super::status::LIVE_WITHIN_MS);

/// KEYS: stream. ARGV: group, consumer. Deletes the consumer if it has no pending entries:
/// 1 deleted, 0 no such consumer, -1 kept (it has pending entries).
const DELETE_IF_IDLE: &str = r"
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if #pending > 0 then return -1 end
return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
";

static DELETE_SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(DELETE_IF_IDLE));

/// Removes `consumer` unless it still has pending entries. `Ok(true)`: removed.
async fn delete_if_idle(shared: &Shared, consumer: &str) -> redis::RedisResult<bool> {
    let mut conn = shared.conn.clone();
    let deleted: i64 = DELETE_SCRIPT
        .key(&shared.request_channel)
        .arg(GROUP)
        .arg(consumer)
        .invoke_async(&mut conn)
        .await?;
    Ok(deleted >= 0)
}

/// On a clean exit, after the drain: this worker's consumer leaves the group (kept if some
/// request is still pending on it, for the reclaimer).
pub async fn leave(shared: &Shared) {
    match delete_if_idle(shared, &shared.id).await {
        Ok(true) => tracing::debug!("left the request group"),
        Ok(false) => tracing::warn!("requests still pending on this worker; its consumer stays"),
        Err(e) => tracing::warn!("cannot leave the request group: {e}"),
    }
}

/// Removes the consumers of dead workers: idle past [`STALE_AFTER`], not a live worker's,
/// and without pending entries (the reclaimer claims those first). `live`: ids of the
/// workers seen recently.
pub async fn reap(shared: &Shared, live: &HashSet<&str>) {
    let mut conn = shared.conn.clone();
    let consumers: redis::RedisResult<StreamInfoConsumersReply> =
        conn.xinfo_consumers(&shared.request_channel, GROUP).await;
    let Ok(consumers) = consumers else {
        return; // no stream or group yet: nothing to reap
    };
    let stale_ms = u64::try_from(STALE_AFTER.as_millis()).unwrap_or(u64::MAX);
    for consumer in consumers.consumers {
        let stale = consumer.pending == 0
            && consumer.idle as u64 > stale_ms
            && consumer.name != shared.id
            && !live.contains(consumer.name.as_str());
        if !stale {
            continue;
        }
        match delete_if_idle(shared, &consumer.name).await {
            Ok(true) => {
                tracing::info!(consumer = %consumer.name, "removed the consumer of a worker that is gone")
            }
            Ok(false) => {}
            Err(e) => {
                tracing::debug!(consumer = %consumer.name, "cannot remove a stale consumer: {e}")
            }
        }
    }
}
