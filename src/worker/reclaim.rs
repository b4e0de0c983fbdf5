//! Taking over requests left pending by a dead worker (SPEC.md section 6): periodically
//! `XAUTOCLAIM` entries idle > 5 s, following the cursor to the end. An entry delivered more
//! than 4 times (reclaimed more than 3) is a request that keeps killing workers, or keeps
//! landing on dying ones: it goes to `{REQUEST_CHANNEL}:dead` and is answered `internal`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crypto_market_actors::ErrorCode;
use redis::streams::{
    StreamAutoClaimOptions, StreamAutoClaimReply, StreamId, StreamPendingCountReply,
};
use redis::{AsyncCommands, RedisResult};

use super::stream::{ack, parse_entry, process};
use super::{Shared, GROUP};
use crate::tools::ToolError;

const MIN_IDLE: Duration = Duration::from_secs(5);
const INTERVAL: Duration = Duration::from_secs(2);
const CLAIM_COUNT: usize = 16;
/// First delivery plus three reclaims.
const MAX_DELIVERIES: usize = 4;

pub async fn run(shared: Arc<Shared>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(INTERVAL) => {}
            () = shared.shutdown.cancelled() => return,
        }
        if let Err(e) = sweep(&shared).await {
            if e.code() == Some("NOGROUP") {
                let _ = super::stream::ensure_group(&shared).await;
            } else {
                tracing::warn!("reclaiming requests failed: {e}");
            }
        }
    }
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
        let reply: StreamAutoClaimReply = conn
            .xautoclaim_options(
                &shared.request_channel,
                GROUP,
                &shared.id,
                MIN_IDLE.as_millis() as u64,
                &cursor,
                StreamAutoClaimOptions::default().count(room),
            )
            .await?;
        for id in &reply.deleted_ids {
            // Trimmed away while pending: the payload is gone, so nobody can be answered.
            tracing::warn!(entry = %id, "a pending request was trimmed from the stream before it was served");
            metrics::counter!("cmm_worker_malformed_total", "kind" => "trimmed").increment(1);
            ack(shared, id).await;
        }
        for entry in reply.claimed {
            if shared.running().contains(&entry.id) {
                continue; // this worker's own slow request, not a dead worker's
            }
            if deliveries(&mut conn, shared, &entry.id).await? > MAX_DELIVERIES {
                dead_letter(shared, entry).await;
                continue;
            }
            tracing::info!(entry = %entry.id, "reclaimed a request from a dead or stuck worker");
            let Some(permit) = shared.slot().await else {
                return Ok(());
            };
            actix_rt::spawn(process(shared.clone(), entry, permit, true));
        }
        if reply.next_stream_id == "0-0" {
            return Ok(());
        }
        cursor = reply.next_stream_id;
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

async fn dead_letter(shared: &Arc<Shared>, entry: StreamId) {
    let received = Instant::now();
    let payload = match entry.map.get("request") {
        Some(redis::Value::BulkString(bytes)) => bytes.clone(),
        _ => Vec::new(),
    };
    let mut conn = shared.conn.clone();
    let moved: RedisResult<String> = conn
        .xadd(
            shared.dead_letter_key(),
            "*",
            &[
                ("request", payload.as_slice()),
                ("entry", entry.id.as_bytes()),
                ("worker", shared.id.as_bytes()),
            ],
        )
        .await;
    if let Err(e) = moved {
        // Left pending: the next sweep tries again.
        tracing::warn!(entry = %entry.id, "cannot move a request to the dead-letter stream: {e}");
        return;
    }
    tracing::warn!(entry = %entry.id, "request reclaimed too often, moved to {}", shared.dead_letter_key());
    if let Ok(request) = parse_entry(&entry) {
        let error = ToolError::new(
            ErrorCode::Internal,
            "the request was abandoned by workers too many times; it was set aside",
        );
        shared
            .reply(
                &request.request_id,
                request.reply_to.as_deref(),
                &Err(error),
                received,
            )
            .await;
    }
    ack(shared, &entry.id).await;
}
