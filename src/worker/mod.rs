//! `crypto-market-worker`: serves tool calls from Redis (SPEC.md section 6) with the same
//! [`ToolService`] as MCP. Requests come through the request stream (consumer group `workers`,
//! [`stream`]) or, seed-style, through pub/sub ([`pubsub`]); each request_id gets exactly one
//! reply ([`reply`]). Workers heartbeat into `{prefix}:workers` ([`heartbeat`]) and take over
//! requests left pending by dead ones ([`reclaim`]).

mod consumers;
mod error;
mod heartbeat;
mod leases;
mod published;
mod pubsub;
mod read;
mod reclaim;
mod redact;
pub mod reply;
pub mod request;
pub(crate) mod route;
mod slot;
mod status;
mod stream;
mod wakes;
mod watches;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crypto_market_actors::redis_target::{RedisConn, RedisTarget};
use crypto_market_actors::{Engine, ErrorCode};
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

pub use error::WorkerError;
use request::{Malformed, Request};

use crate::auth::{ClientLimiter, Gate};
use crate::config::{Secret, ServerConfig};
use crate::tools::{CallContext, StreamDelivery, ToolError, ToolService};

/// Consumer group of every worker (SPEC.md section 6).
pub const GROUP: &str = "workers";
/// Requests one worker runs at once. Hits take microseconds, so this bounds misses: enough to
/// keep many slow exchange calls going, few enough that a worker does not hoard the queue
/// while others idle.
pub const MAX_IN_FLIGHT: usize = 64;
/// Longest wait for an ordinary Redis command (the manager's 500 ms default is short for a
/// loaded Redis; a blocking read has a connection of its own).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait for in-flight requests at shutdown: past the exchange timeout, so a request
/// that started is answered; short enough that a stuck call cannot hold the exit forever.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

/// What every task of one worker shares.
pub(crate) struct Shared {
    pub id: String,
    pub host: String,
    pub pid: u32,
    pub started_ms: u64,
    pub tools: ToolService,
    pub engine: Engine,
    pub target: RedisTarget,
    /// How `stream_ticker` answers here: the worker keeps the watch and names its channel.
    pub stream: StreamDelivery,
    /// For ordinary commands (replies, acks, claims); cloned per task, multiplexed.
    pub conn: RedisConn,
    pub request_channel: String,
    pub response_channel: String,
    pub processed: AtomicU64,
    pub errors: AtomicU64,
    pub slots: Arc<Semaphore>,
    /// Stream entries this worker is running, since when: the reclaimer must not take them
    /// for dead, and long ones are kept fresh in the pending list ([`reclaim`]).
    pub running: Mutex<HashMap<String, Instant>>,
    /// Places of long polls waiting without a working slot ([`slot`]).
    pub parked: Arc<Semaphore>,
    /// `watch_*` tools, per `client_id`, kept in Redis.
    pub watches: Arc<watches::RedisWatches>,
    pub wakes: Arc<wakes::Wakes>,
    pub shutdown: CancellationToken,
    /// With `API_KEYS_FILE`: who may run requests, and how fast.
    pub gate: Option<Gate>,
}

impl Shared {
    pub fn in_flight(&self) -> usize {
        MAX_IN_FLIGHT - self.slots.available_permits()
    }

    pub fn dead_letter_key(&self) -> String {
        format!("{}:dead", self.request_channel)
    }

    /// Waits for room for one more request, or `None` when shutting down.
    pub async fn slot(&self) -> Option<OwnedSemaphorePermit> {
        tokio::select! {
            permit = self.slots.clone().acquire_owned() => permit.ok(),
            () = self.shutdown.cancelled() => None,
        }
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        // The set is only inserted into and removed from; a panic elsewhere cannot leave it
        // inconsistent, so a poisoned lock is still usable.
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs one parsed (or malformed) request and replies. Never fails: problems are logged and
    /// counted; an unsent reply shows up as a client timeout. A request whose reply may not go
    /// where it asks ([`route`]) is dropped before it runs. `permit`: its working place, which
    /// a long poll may trade for a parked one ([`slot`]).
    pub async fn serve(
        &self,
        parsed: Result<Request, Malformed>,
        received: Instant,
        permit: OwnedSemaphorePermit,
    ) {
        let slot = slot::Slot::new(permit, self.parked.clone());
        let (request_id, reply_to, api_key, outcome) = match parsed {
            Err(malformed) => {
                count_malformed(&malformed);
                let Some(request_id) = malformed.request_id else {
                    return;
                };
                if let Err(why) = self.destination(malformed.reply_to.as_deref(), None) {
                    route::record(Some(&request_id), malformed.reply_to.as_deref(), why);
                    return;
                }
                let error = ToolError::invalid_argument(malformed.message);
                (request_id, malformed.reply_to, None, Err(error))
            }
            Ok(request) => {
                let reply_to = request.reply_to.as_deref();
                if let Err(why) = self.destination(reply_to, request.api_key.as_ref()) {
                    route::record(Some(&request.request_id), reply_to, why);
                    return;
                }
                let outcome = self.run(&request, &slot).await;
                (
                    request.request_id,
                    request.reply_to,
                    request.api_key,
                    outcome,
                )
            }
        };
        self.reply(
            &request_id,
            reply_to.as_deref(),
            api_key.as_ref(),
            &outcome,
            received,
        )
        .await;
    }

    /// The channel a reply to `reply_to` may go to, given the request's key (SPEC.md
    /// section 9): a known key confines it to its client's channels.
    fn destination<'a>(
        &'a self,
        reply_to: Option<&'a str>,
        api_key: Option<&Secret>,
    ) -> Result<&'a str, route::Dropped> {
        let client = match (&self.gate, api_key) {
            (Some(gate), Some(key)) => gate.client_of(key),
            _ => None,
        };
        route::destination(
            &self.response_channel,
            reply_to,
            client.as_ref().map(|c| c.id.as_str()),
        )
    }

    async fn run(&self, request: &Request, slot: &Arc<slot::Slot>) -> Result<Value, ToolError> {
        if request
            .deadline_ms
            .is_some_and(|deadline| now_ms() > deadline)
        {
            return Err(ToolError::new(
                ErrorCode::Timeout,
                "the request's deadline_ms passed before a worker could start it",
            ));
        }
        let client = match &self.gate {
            Some(gate) => Some(
                gate.admit_key(request.api_key.as_ref(), &request.tool)
                    .await?,
            ),
            None => None,
        };
        if request.tool == "status" {
            return status::status(self).await.map_err(|e| e.to_tool_error());
        }
        let context = CallContext {
            stream: self.stream.clone(),
            // A keyed client is who its key says, whatever the request claims.
            client_id: client
                .map(|c| c.id.clone())
                .or_else(|| request.client_id.clone()),
            client_watches: Some(self.watches.clone()),
            on_idle: Some({
                let slot = slot.clone();
                Arc::new(move || slot.park())
            }),
            ..CallContext::default()
        };
        self.tools
            .call(&request.tool, request.args.clone(), context)
            .await
    }

    /// Publishes the reply, where [`route`] allows (else drops and counts it).
    pub async fn reply(
        &self,
        request_id: &str,
        reply_to: Option<&str>,
        api_key: Option<&Secret>,
        outcome: &Result<Value, ToolError>,
        received: Instant,
    ) {
        let channel = match self.destination(reply_to, api_key) {
            Ok(channel) => channel,
            Err(why) => {
                route::record(Some(request_id), reply_to, why);
                return;
            }
        };
        let body = reply::body(request_id, outcome, &self.id, received.elapsed());
        let mut conn = self.conn.clone();
        match reply::send(
            &mut conn,
            &self.target.key_prefix,
            channel,
            request_id,
            &body,
        )
        .await
        {
            Ok(true) => {
                self.processed.fetch_add(1, Ordering::Relaxed);
                if outcome.is_err() {
                    self.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(false) => {
                tracing::debug!(request_id, "already answered by another delivery")
            }
            Err(e) => tracing::warn!(request_id, "cannot reply: {e}"),
        }
    }
}

fn count_malformed(malformed: &Malformed) {
    metrics::counter!("cmm_worker_malformed_total", "kind" => malformed.kind.as_str()).increment(1);
    tracing::warn!(
        request_id = malformed.request_id.as_deref().unwrap_or("-"),
        "malformed request: {malformed}"
    );
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `{host}-{pid}-{4 hex digits}`: the suffix keeps ids apart where hosts and pids repeat
/// (containers that all run as pid 1 under one host name); a shared consumer name would mix
/// two workers' pending requests.
fn worker_id(host: &str, pid: u32) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{host}-{pid}-{:04x}", (nanos ^ pid) & 0xffff)
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

/// Serves requests until SIGTERM or SIGINT, then stops reading, finishes and acknowledges
/// what it started, leaves the worker list and returns. Call inside an actix System (the
/// engine's actors live there).
pub async fn run(settings: &ServerConfig, engine: Engine) -> Result<(), WorkerError> {
    use tokio::signal::unix::{signal, SignalKind};
    // Signals first: one that arrives during start-up must not kill the process untidily.
    let mut terminate = signal(SignalKind::terminate()).map_err(WorkerError::Signals)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(WorkerError::Signals)?;

    let target = settings.redis_target();
    let conn = target.connection_with(COMMAND_TIMEOUT).await?;
    let gate = match settings.api_keys() {
        Ok(Some(keys)) => Some(Gate::new(
            keys,
            ClientLimiter::new(Some((conn.clone(), target.key_prefix.clone()))),
        )),
        Ok(None) => None,
        Err(problem) => return Err(WorkerError::Keys(problem)),
    };
    let host = host_name();
    let pid = std::process::id();
    let id = worker_id(&host, pid);
    let wakes = wakes::Wakes::new(target.clone());
    let shared = Arc::new(Shared {
        watches: Arc::new(watches::RedisWatches::new(
            &target.key_prefix,
            conn.clone(),
            &id,
            wakes.clone(),
        )),
        wakes,
        parked: Arc::new(Semaphore::new(slot::MAX_PARKED)),
        id,
        host,
        pid,
        started_ms: now_ms(),
        tools: ToolService::new(engine.clone())
            .with_max_result_bytes(settings.server.max_result_bytes),
        engine,
        // Without the shared cache the engine publishes nothing: the worker forwards the ticks.
        stream: StreamDelivery::Kept(Arc::new(published::PublishedTickers::new(
            target.clone(),
            (!settings.cache.use_redis).then(|| conn.clone()),
        ))),
        target,
        conn,
        request_channel: settings.pubsub.request_channel.clone(),
        response_channel: settings.pubsub.response_channel.clone(),
        processed: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        slots: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        running: Mutex::new(HashMap::new()),
        shutdown: CancellationToken::new(),
        gate,
    });

    // Ready before announced: the first heartbeat tells clients and tests this worker serves.
    stream::ensure_group(&shared).await?;
    let subscription = pubsub::subscribe(&shared).await?;
    heartbeat::beat(&shared).await?;
    let tasks = vec![
        actix_rt::spawn(stream::read_loop(shared.clone())),
        actix_rt::spawn(pubsub::listen(shared.clone(), subscription)),
        actix_rt::spawn(heartbeat::run(shared.clone())),
        actix_rt::spawn(reclaim::run(shared.clone())),
        actix_rt::spawn(shared.wakes.clone().run(shared.shutdown.clone())),
    ];
    tracing::info!(worker = %shared.id, stream = %shared.request_channel, "crypto-market-worker serving");

    tokio::select! {
        _ = terminate.recv() => tracing::info!("SIGTERM: finishing in-flight requests"),
        _ = interrupt.recv() => tracing::info!("SIGINT: finishing in-flight requests"),
    }
    shared.shutdown.cancel();
    for task in tasks {
        let _ = task.await;
    }
    let all = u32::try_from(MAX_IN_FLIGHT).unwrap_or(u32::MAX);
    let all_parked = u32::try_from(slot::MAX_PARKED).unwrap_or(u32::MAX);
    // Long polls (at most 30 s) end within the drain too: parked ones are waited for as well.
    let everything = async {
        let working = shared.slots.acquire_many(all).await;
        let parked = shared.parked.acquire_many(all_parked).await;
        (working, parked)
    };
    // A second signal means "now": what is still running stays pending and is reclaimed by
    // another worker.
    let drained = tokio::select! {
        drained = tokio::time::timeout(DRAIN_TIMEOUT, everything) => drained.is_ok(),
        _ = terminate.recv() => false,
        _ = interrupt.recv() => false,
    };
    if !drained {
        tracing::warn!(
            in_flight = shared.in_flight(),
            "requests still running at exit; they will be reclaimed"
        );
    }
    heartbeat::leave(&shared).await;
    if drained {
        consumers::leave(&shared).await;
    }
    tracing::info!(
        processed = shared.processed.load(Ordering::Relaxed),
        "crypto-market-worker stopped"
    );
    Ok(())
}
