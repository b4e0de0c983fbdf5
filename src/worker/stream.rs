//! The request stream (SPEC.md section 6): entries read in group `workers` (through
//! [`read`](super::read), which bounds what one entry can cost), each run in a task of its own
//! (a slow miss never holds up hits read with it), replied to, then `XACK`ed and `XDEL`eted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::{AsyncCommands, RedisResult};
use tokio::sync::OwnedSemaphorePermit;

use super::read::{self, Delivery, Poll};
use super::request::{self, Malformed, MalformedKind};
use super::{Shared, GROUP};

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

/// Reads new entries until shutdown, each run in a task of its own.
pub async fn read_loop(shared: Arc<Shared>) {
    let mut conn = shared.conn.clone();
    let mut backoff = Duration::from_millis(100);
    let mut poll = Poll::new();
    // Only take work there is room for: an entry read but not started would sit idle in this
    // worker's pending list while others could serve it.
    while let Some(first) = shared.slot().await {
        let room = 1 + shared.slots.available_permits().min(READ_COUNT - 1);
        match read::new_entries(&mut conn, &shared, room).await {
            Ok(entries) if entries.is_empty() => {
                drop(first);
                let wait = poll.idle();
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = shared.shutdown.cancelled() => {}
                }
            }
            Ok(entries) => {
                backoff = Duration::from_millis(100);
                poll.busy();
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
            Err(e) if read::is_nogroup(&e) => {
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

/// Runs one entry, replies, acknowledges and deletes it. `reclaimed`: it was taken over from
/// another worker, which may have answered it before dying.
pub async fn process(
    shared: Arc<Shared>,
    entry: Delivery,
    permit: OwnedSemaphorePermit,
    reclaimed: bool,
) {
    let received = Instant::now();
    let _running = Running::new(&shared, entry.id());
    let (id, request) = match entry {
        Delivery::Oversized { .. } => {
            super::reclaim::set_aside_oversized(&shared, entry, received).await;
            return;
        }
        Delivery::Entry { id, request } => (id, request),
    };
    let parsed = match request {
        Some(payload) => request::parse(&payload),
        None => Err(Malformed {
            kind: MalformedKind::NoPayload,
            message: format!("stream entry {id} has no request field"),
            request_id: None,
            reply_to: None,
        }),
    };
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
        shared.serve(parsed, received, permit).await;
    }
    ack(&shared, &id).await;
}

/// Marks an entry as this worker's while it runs. Removed on drop, so that even a task that
/// panics does not leave an entry the reclaimer would skip forever.
struct Running<'a> {
    shared: &'a Shared,
    id: String,
}

impl<'a> Running<'a> {
    fn new(shared: &'a Shared, id: &str) -> Self {
        shared.running().insert(id.to_owned(), Instant::now());
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

/// `XACK` then `XDEL`: an answered entry leaves the stream at once, and with it the client's
/// `api_key` (SPEC.md section 9), instead of lingering until trimmed.
pub async fn ack(shared: &Shared, id: &str) {
    let mut conn = shared.conn.clone();
    // Both are idempotent; one that fails leaves the entry pending, and the reclaimer, seeing
    // it answered, acknowledges (and deletes) it later.
    let done: RedisResult<(i64, i64)> = redis::pipe()
        .cmd("XACK")
        .arg(&shared.request_channel)
        .arg(GROUP)
        .arg(id)
        .cmd("XDEL")
        .arg(&shared.request_channel)
        .arg(id)
        .query_async(&mut conn)
        .await;
    if let Err(e) = done {
        tracing::warn!(entry = id, "XACK/XDEL failed: {e}");
    }
}
