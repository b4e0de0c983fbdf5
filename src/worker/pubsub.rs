//! Seed-style requests: `PUBLISH {REQUEST_CHANNEL} <json>` reaches every worker; the one that
//! claims the request_id (`SET {prefix}:claimed:{request_id} NX PX`) runs it, the rest skip it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use redis::aio::PubSub;
use tokio::sync::OwnedSemaphorePermit;

use super::request::{self, Malformed, Request};
use super::{Shared, WorkerError};

/// How long a claim is remembered: every worker hears a message within moments of the others,
/// so a minute is plenty; the reply claim (5 minutes) still guards against a late duplicate.
const CLAIM_TTL: Duration = Duration::from_secs(60);

pub async fn subscribe(shared: &Shared) -> Result<PubSub, WorkerError> {
    let mut pubsub = shared.target.pubsub().await?;
    pubsub.subscribe(&shared.request_channel).await?;
    Ok(pubsub)
}

/// Hears requests until shutdown. `aio::PubSub` does not reconnect: when the subscription
/// ends (Redis restarted) a new one is made. Requests published meanwhile are lost, as with
/// any pub/sub; clients that must not lose them use the stream.
pub async fn listen(shared: Arc<Shared>, subscription: PubSub) {
    let mut subscription = Some(subscription);
    let mut backoff = Duration::from_millis(100);
    while !shared.shutdown.is_cancelled() {
        let pubsub = match subscription.take() {
            Some(pubsub) => pubsub,
            None => match subscribe(&shared).await {
                Ok(pubsub) => {
                    tracing::info!("subscribed to the request channel again");
                    backoff = Duration::from_millis(100);
                    pubsub
                }
                Err(e) => {
                    tracing::warn!("cannot subscribe to the request channel: {e}");
                    super::stream::pause(&shared, &mut backoff).await;
                    continue;
                }
            },
        };
        let mut messages = pubsub.into_on_message();
        loop {
            let message = tokio::select! {
                message = messages.next() => message,
                () = shared.shutdown.cancelled() => return,
            };
            let Some(message) = message else {
                tracing::warn!("request channel subscription lost");
                break;
            };
            let received = Instant::now();
            let parsed = request::parse(message.get_payload_bytes());
            let Some(permit) = shared.slot().await else {
                return;
            };
            actix_rt::spawn(handle(shared.clone(), parsed, received, permit));
        }
    }
}

async fn handle(
    shared: Arc<Shared>,
    parsed: Result<Request, Malformed>,
    received: Instant,
    permit: OwnedSemaphorePermit,
) {
    let request_id = match &parsed {
        Ok(request) => Some(request.request_id.as_str()),
        Err(malformed) => malformed.request_id.as_deref(),
    };
    if let Some(request_id) = request_id {
        match claim(&shared, request_id).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                // Unclaimed means unanswered by us; another worker may still claim it.
                tracing::warn!(request_id, "cannot claim a pub/sub request: {e}");
                return;
            }
        }
    }
    // Without a request_id every worker logs and counts it: nobody can be answered anyway.
    shared.serve(parsed, received, permit).await;
}

async fn claim(shared: &Shared, request_id: &str) -> redis::RedisResult<bool> {
    let mut conn = shared.conn.clone();
    let claimed: Option<String> = redis::cmd("SET")
        .arg(format!("{}:claimed:{request_id}", shared.target.key_prefix))
        .arg(&shared.id)
        .arg("NX")
        .arg("PX")
        .arg(CLAIM_TTL.as_millis() as u64)
        .query_async(&mut conn)
        .await?;
    Ok(claimed.is_some())
}
