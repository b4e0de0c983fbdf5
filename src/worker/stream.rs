//! The request stream (SPEC.md section 6): `XREADGROUP` in group `workers`, each entry run in a
//! task of its own (a slow miss never holds up hits read with it), replied to, then `XACK`ed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crypto_market_actors::redis_target::RedisConn;
use redis::streams::{StreamId, StreamReadOptions, StreamReadReply};
use redis::{AsyncCommands, RedisResult};
use tokio::sync::OwnedSemaphorePermit;

use super::request::{self, Malformed, MalformedKind};
use super::{Shared, WorkerError, GROUP};

/// How long one read blocks: also how long a shutdown may wait for the reader to notice.
const BLOCK: Duration = Duration::from_secs(1);
/// Entries per read, at most: batching saves round trips under load.
const READ_COUNT: usize = 16;

/// `XGROUP CREATE {stream} workers 0 MKSTREAM`; an existing group is fine.
pub async fn ensure_group(shared: &Shared) -> RedisResult<()> {
    let mut conn = shared.conn.clone();
    match conn
        .xgroup_create_mkstream::<_, _, _, ()>(&shared.request_channel, GROUP, "0")
        .await
    {
        Err(e) if e.code() != Some("BUSYGROUP") => Err(e),
        _ => Ok(()),
    }
}

/// The reader's own connection: `XREADGROUP ... BLOCK` would stall every command multiplexed
/// with it, and fail on the default response timeout.
pub async fn reader(shared: &Shared) -> Result<RedisConn, WorkerError> {
    Ok(shared
        .target
        .connection_with(BLOCK + Duration::from_secs(5))
        .await?)
}

pub async fn read_loop(shared: Arc<Shared>, mut reader: RedisConn) {
    let mut backoff = Duration::from_millis(100);
    // Only take work there is room for: an entry read but not started would sit idle in this
    // worker's pending list while others could serve it.
    while let Some(first) = shared.slot().await {
        let room = 1 + shared.slots.available_permits().min(READ_COUNT - 1);
        let options = StreamReadOptions::default()
            .group(GROUP, &shared.id)
            .count(room)
            .block(BLOCK.as_millis() as usize);
        let read: RedisResult<Option<StreamReadReply>> = reader
            .xread_options(&[&shared.request_channel], &[">"], &options)
            .await;
        match read {
            Ok(reply) => {
                backoff = Duration::from_millis(100);
                let entries = reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids);
                let mut first = Some(first);
                for entry in entries {
                    let permit = match first.take() {
                        Some(permit) => permit,
                        // Entries already read are run even while shutting down: they are
                        // this worker's now.
                        None => match shared.slots.clone().acquire_owned().await {
                            Ok(permit) => permit,
                            Err(_) => break,
                        },
                    };
                    actix_rt::spawn(process(shared.clone(), entry, permit, false));
                }
            }
            Err(e) if e.code() == Some("NOGROUP") => {
                // Redis lost the stream and group (a restart without persistence).
                tracing::warn!("request group missing, creating it again");
                if let Err(e) = ensure_group(&shared).await {
                    tracing::warn!("cannot create the request group: {e}");
                    pause(&shared, &mut backoff).await;
                }
            }
            Err(e) => {
                tracing::warn!("reading requests failed: {e}");
                pause(&shared, &mut backoff).await;
            }
        }
        if shared.shutdown.is_cancelled() {
            break;
        }
    }
    tracing::debug!("request stream reader stopped");
}

/// Waits before retrying Redis, doubling up to 5 s; returns early on shutdown.
pub async fn pause(shared: &Shared, backoff: &mut Duration) {
    tokio::select! {
        () = tokio::time::sleep(*backoff) => {}
        () = shared.shutdown.cancelled() => {}
    }
    *backoff = (*backoff * 2).min(Duration::from_secs(5));
}

/// The `request` field of an entry, parsed.
pub fn parse_entry(entry: &StreamId) -> Result<request::Request, Malformed> {
    match entry.map.get("request") {
        Some(redis::Value::BulkString(bytes)) => request::parse(bytes),
        Some(redis::Value::SimpleString(text)) => request::parse(text.as_bytes()),
        _ => Err(Malformed {
            kind: MalformedKind::NoPayload,
            message: format!("stream entry {} has no request field", entry.id),
            request_id: None,
            reply_to: None,
        }),
    }
}

/// Runs one entry, replies, acknowledges. `reclaimed`: it was taken over from another worker,
/// which may have answered it before dying.
pub async fn process(
    shared: Arc<Shared>,
    entry: StreamId,
    _permit: OwnedSemaphorePermit,
    reclaimed: bool,
) {
    let received = Instant::now();
    let _running = Running::new(&shared, &entry.id);
    let parsed = parse_entry(&entry);
    let answered = match (&parsed, reclaimed) {
        (Ok(request), true) => {
            let mut conn = shared.conn.clone();
            super::reply::already_replied(&mut conn, &shared.target.key_prefix, &request.request_id)
                .await
                .unwrap_or(false)
        }
        _ => false,
    };
    if !answered {
        shared.serve(parsed, received).await;
    }
    ack(&shared, &entry.id).await;
}

/// Marks an entry as this worker's while it runs. Removed on drop, so that even a task that
/// panics does not leave an entry the reclaimer would skip forever.
struct Running<'a> {
    shared: &'a Shared,
    id: String,
}

impl<'a> Running<'a> {
    fn new(shared: &'a Shared, id: &str) -> Self {
        shared.running().insert(id.to_owned());
        Self {
            shared,
            id: id.to_owned(),
        }
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.shared.running().remove(&self.id);
    }
}

pub async fn ack(shared: &Shared, id: &str) {
    let mut conn = shared.conn.clone();
    // XACK is idempotent; one that fails leaves the entry pending, and the reclaimer, seeing
    // it answered, acknowledges it later.
    if let Err(e) = conn
        .xack::<_, _, _, i64>(&shared.request_channel, GROUP, &[id])
        .await
    {
        tracing::warn!(entry = id, "XACK failed: {e}");
    }
}
