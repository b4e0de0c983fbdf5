//! Taking over requests left pending by a dead worker (SPEC.md section 6): periodically
//! `XAUTOCLAIM` entries idle > 5 s, following the cursor to the end. An entry delivered more
//! than 4 times (reclaimed more than 3) is a request that keeps killing workers, or keeps
//! landing on dying ones: it goes to `{REQUEST_CHANNEL}:dead` and is answered `internal`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crypto_market_actors::ErrorCode;
use redis::streams::{StreamMaxlen, StreamPendingCountReply};
use redis::{AsyncCommands, RedisResult};

use super::read::{self, Delivery};
use super::stream::{ack, process};
use super::{redact, request, Shared, GROUP};
use crate::tools::ToolError;

const MIN_IDLE: Duration = Duration::from_secs(5);
const INTERVAL: Duration = Duration::from_secs(2);
const CLAIM_COUNT: usize = 16;
/// First delivery plus three reclaims.
const MAX_DELIVERIES: usize = 4;
/// Entries the dead-letter stream keeps at most (SPEC.md section 9): what a flood of bad
/// requests can make it hold is bounded.
const DEAD_LETTER_MAXLEN: usize = 10_000;

pub async fn run(shared: Arc<Shared>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(INTERVAL) => {}
            () = shared.shutdown.cancelled() => return,
        }
        if let Err(e) = touch(&shared).await {
            tracing::debug!("cannot keep running requests fresh: {e}");
        }
        if let Err(e) = sweep(&shared).await {
            if read::is_nogroup(&e) {
                let _ = super::stream::ensure_group(&shared).await;
            } else {
                tracing::warn!("reclaiming requests failed: {e}");
            }
        }
    }
}

/// Resets the idle time of this worker's requests running for more than [`INTERVAL`] (a
/// `watch_read` long poll runs up to 30 s): `XCLAIM ... JUSTID` to itself, which counts no
/// delivery. Else, past [`MIN_IDLE`], another worker would take a request that is only slow
/// for a dead worker's, run it a second time, and after a few rounds dead-letter it.
async fn touch(shared: &Shared) -> RedisResult<()> {
    let long: Vec<String> = shared
        .running()
        .iter()
        .filter(|(_, since)| since.elapsed() >= INTERVAL)
        .map(|(id, _)| id.clone())
        .collect();
    if long.is_empty() {
        return Ok(());
    }
    let mut conn = shared.conn.clone();
    redis::cmd("XCLAIM")
        .arg(&shared.request_channel)
        .arg(GROUP)
        .arg(&shared.id)
        .arg(0)
        .arg(&long)
        .arg("JUSTID")
        .query_async::<()>(&mut conn)
        .await
}

async fn sweep(shared: &Arc<Shared>) -> RedisResult<()> {
    let mut conn = shared.conn.clone();
    let mut cursor = "0-0".to_owned();
    loop {
        // Claim only what there is room to run, so claimed entries do not idle here instead.
        let room = shared.slots.available_permits().min(CLAIM_COUNT);
        if room == 0 || shared.shutdown.is_cancelled() {
            return Ok(());
        }
        let (next, claimed, deleted) =
            read::claim(&mut conn, shared, MIN_IDLE, &cursor, room).await?;
        for id in &deleted {
            // Trimmed away while pending: the payload is gone, so nobody can be answered.
            tracing::warn!(entry = %id, "a pending request was trimmed from the stream before it was served");
            metrics::counter!("cmm_worker_malformed_total", "kind" => "trimmed").increment(1);
            ack(shared, id).await;
        }
        for entry in claimed {
            if shared.running().contains_key(entry.id()) {
                continue; // this worker's own slow request, not a dead worker's
            }
            if deliveries(&mut conn, shared, entry.id()).await? > MAX_DELIVERIES {
                dead_letter(shared, entry).await;
                continue;
            }
            tracing::info!(entry = %entry.id(), "reclaimed a request from a dead or stuck worker");
            let Some(permit) = shared.slot().await else {
                return Ok(());
            };
            actix_rt::spawn(process(shared.clone(), entry, permit, true));
        }
        if next == "0-0" {
            return Ok(());
        }
        cursor = next;
    }
}

/// How many times `id` was delivered, claims included.
async fn deliveries(
    conn: &mut crypto_market_actors::redis_target::RedisConn,
    shared: &Shared,
    id: &str,
) -> RedisResult<usize> {
    let pending: StreamPendingCountReply = conn
        .xpending_count(&shared.request_channel, GROUP, id, id, 1)
        .await?;
    Ok(pending.ids.first().map_or(0, |p| p.times_delivered))
}

/// A request reclaimed too often: set aside (without its key) and answered `internal`.
async fn dead_letter(shared: &Arc<Shared>, entry: Delivery) {
    let received = Instant::now();
    let (id, payload) = match entry {
        Delivery::Oversized { .. } => return set_aside_oversized(shared, entry, received).await,
        Delivery::Entry { id, request } => (id, request.unwrap_or_default()),
    };
    if !copy_to_dead_letters(shared, &id, &redact::without_api_key(&payload), None).await {
        return; // left pending: the next sweep tries again
    }
    tracing::warn!(entry = %id, "request reclaimed too often, moved to {}", shared.dead_letter_key());
    let parsed = request::parse(&payload);
    if let Ok(request) = &parsed {
        let error = ToolError::new(
            ErrorCode::Internal,
            "the request was abandoned by workers too many times; it was set aside",
        );
        shared
            .reply(
                &request.request_id,
                request.reply_to.as_deref(),
                request.api_key.as_ref(),
                &Err(error),
                received,
            )
            .await;
    }
    ack(shared, &id).await;
}

/// An entry over 64 KiB (SPEC.md section 9): its first KiB (without any key) goes to the
/// dead-letter stream, it is answered `invalid_argument` when it named itself, and it leaves
/// the request stream. It was never read in full (see [`read`]).
pub async fn set_aside_oversized(shared: &Shared, entry: Delivery, received: Instant) {
    let Delivery::Oversized {
        id,
        size,
        head,
        request_id,
        reply_to,
    } = entry
    else {
        return;
    };
    metrics::counter!("cmm_worker_malformed_total", "kind" => "too_large").increment(1);
    tracing::warn!(entry = %id, size, "request entry over {} bytes, set aside", read::MAX_ENTRY_BYTES);
    if !copy_to_dead_letters(shared, &id, &redact::without_api_key(&head), Some(size)).await {
        return;
    }
    if let Some(request_id) = request_id {
        let error = ToolError::invalid_argument(format!(
            "request is {size} bytes; at most {} are accepted",
            request::MAX_REQUEST_BYTES
        ));
        shared
            .reply(
                &request_id,
                reply_to.as_deref(),
                None,
                &Err(error),
                received,
            )
            .await;
    }
    ack(shared, &id).await;
}

/// `XADD {REQUEST_CHANNEL}:dead MAXLEN 10000 * request <payload> entry <id> worker <id>
/// [size <bytes>]`; false when Redis refused it.
async fn copy_to_dead_letters(
    shared: &Shared,
    id: &str,
    payload: &[u8],
    size: Option<u64>,
) -> bool {
    let mut conn = shared.conn.clone();
    let mut fields: Vec<(&str, Vec<u8>)> = vec![
        ("request", payload.to_vec()),
        ("entry", id.as_bytes().to_vec()),
        ("worker", shared.id.as_bytes().to_vec()),
    ];
    if let Some(size) = size {
        fields.push(("size", size.to_string().into_bytes()));
    }
    let moved: RedisResult<String> = conn
        .xadd_maxlen(
            shared.dead_letter_key(),
            StreamMaxlen::Equals(DEAD_LETTER_MAXLEN),
            "*",
            &fields,
        )
        .await;
    match moved {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(entry = %id, "cannot move a request to the dead-letter stream: {e}");
            false
        }
    }
}
