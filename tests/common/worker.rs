//! The real `crypto-market-worker` binary as a child process, and a Redis client talking to it
//! the way SPEC.md section 6 describes: XADD or PUBLISH requests, replies on a channel.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crypto_market_mcp::client::PubSubConfig;
use crypto_market_sim::SimHandle;
use futures::StreamExt;
use redis::aio::MultiplexedConnection;
use redis::AsyncCommands;
use serde_json::Value;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use super::redis::RedisServer;

pub const WORKER_BINARY: &str = env!("CARGO_BIN_EXE_crypto-market-worker");
pub const REQUESTS: &str = "crypto_mcp:requests";
pub const WORKERS: &str = "crypto_mcp:workers";

pub struct Worker {
    pub child: Child,
    pub log: Arc<Mutex<String>>,
}

/// A worker pointed at `sim` and `redis`, with the test's extra settings.
pub fn start_worker(sim: &SimHandle, redis: &RedisServer, env: &[(&str, &str)]) -> Worker {
    let url = redis.url();
    let mut all = vec![("REDIS_URL", url.as_str())];
    all.extend_from_slice(env);
    start_worker_env(sim, &all)
}

/// A worker pointed at `sim`, Redis as `env` says (e.g. `REDIS_MODE` and `REDIS_NODES`).
pub fn start_worker_env(sim: &SimHandle, env: &[(&str, &str)]) -> Worker {
    let mut cmd = Command::new(WORKER_BINARY);
    cmd.env("EXCHANGE_REST_URL", sim.rest_url())
        .env("EXCHANGE_WS_URL", sim.ws_url())
        .env("RUST_LOG", "info")
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (key, value) in env {
        cmd.env(key, value);
    }
    let mut child = cmd.spawn().expect("worker binary starts");
    let log = super::collect(child.stderr.take().expect("stderr"));
    Worker { child, log }
}

impl Worker {
    pub fn signal(&self, signal: i32) {
        super::send_signal(self.child.id().expect("running"), signal);
    }

    /// Its exit status, waiting at most `within`.
    pub async fn exit_status(&mut self, within: Duration) -> std::process::ExitStatus {
        match tokio::time::timeout(within, self.child.wait()).await {
            Ok(status) => status.expect("wait"),
            Err(_) => panic!(
                "worker still running after {within:?}; log:\n{}",
                self.log.lock().unwrap()
            ),
        }
    }

    pub fn still_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }
}

/// A pool client's settings: the product's request stream and reply channel, `client_id`.
pub fn pool_config(client_id: &str, request_timeout: Duration) -> PubSubConfig {
    PubSubConfig {
        request_channel: REQUESTS.into(),
        response_channel: "crypto_mcp:responses".into(),
        request_timeout,
        client_id: Some(client_id.into()),
    }
}

/// Settings of nodes sharing a Redis cache (`CACHE_TTL` `ttl_s`) on a Redis `mode`
/// (`sentinel`, `cluster`) reached through `nodes`.
pub fn topology_env<'a>(mode: &'a str, nodes: &'a str, ttl_s: &'a str) -> [(&'a str, &'a str); 4] {
    [
        ("USE_REDIS_CACHE", "true"),
        ("CACHE_TTL", ttl_s),
        ("REDIS_MODE", mode),
        ("REDIS_NODES", nodes),
    ]
}

pub async fn connect(redis: &RedisServer) -> MultiplexedConnection {
    redis::Client::open(redis.url())
        .expect("URL")
        .get_multiplexed_async_connection()
        .await
        .expect("connects")
}

/// Polls `check` every 50 ms until it holds, failing after `within` with `what`.
pub async fn wait_until<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `n` workers announced themselves (they heartbeat once ready to serve), read
/// through `conn` (any topology's connection).
pub async fn wait_for_workers<C>(conn: &mut C, n: usize)
where
    C: redis::aio::ConnectionLike + Clone + Send + Sync,
{
    wait_until(Duration::from_secs(60), &format!("{n} workers"), || {
        let mut conn = conn.clone();
        async move { conn.hlen::<_, usize>(WORKERS).await.unwrap_or(0) >= n }
    })
    .await;
}

/// Requests read by some worker but not yet acknowledged. A Redis error fails the test (a
/// 0 made up from an error would pass "every request acknowledged").
pub async fn pending(conn: &mut MultiplexedConnection) -> usize {
    let reply: redis::RedisResult<redis::streams::StreamPendingReply> =
        conn.xpending(REQUESTS, "workers").await;
    match reply {
        Ok(reply) => reply.count(),
        Err(e) => panic!("XPENDING {REQUESTS} workers: {e}"),
    }
}

pub async fn xadd(conn: &mut MultiplexedConnection, payload: &[u8]) {
    let _: String = conn
        .xadd_maxlen(
            REQUESTS,
            redis::streams::StreamMaxlen::Approx(100_000),
            "*",
            &[("request", payload)],
        )
        .await
        .expect("XADD");
}

/// Replies published on `channel`, subscribed before this returns.
pub async fn subscribe(redis: &RedisServer, channel: &str) -> mpsc::UnboundedReceiver<Value> {
    listen(redis, channel, false).await
}

/// Replies published on any channel matching `pattern` (`PSUBSCRIBE`): e.g. the channels of
/// several clients at once.
pub async fn psubscribe(redis: &RedisServer, pattern: &str) -> mpsc::UnboundedReceiver<Value> {
    listen(redis, pattern, true).await
}

async fn listen(
    redis: &RedisServer,
    channel: &str,
    pattern: bool,
) -> mpsc::UnboundedReceiver<Value> {
    let mut pubsub = redis::Client::open(redis.url())
        .expect("URL")
        .get_async_pubsub()
        .await
        .expect("connects");
    if pattern {
        pubsub.psubscribe(channel).await.expect("PSUBSCRIBE");
    } else {
        pubsub.subscribe(channel).await.expect("SUBSCRIBE");
    }
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = pubsub.into_on_message();
        while let Some(message) = messages.next().await {
            let reply: Value =
                serde_json::from_slice(message.get_payload_bytes()).expect("replies are JSON");
            if tx.send(reply).is_err() {
                break;
            }
        }
    });
    rx
}

/// Replies by request_id: until `expected` distinct ids answered (at most `within`), then
/// for `linger` more, so that duplicates have every chance to show up.
pub async fn collect_replies(
    replies: &mut mpsc::UnboundedReceiver<Value>,
    expected: usize,
    within: Duration,
    linger: Duration,
) -> HashMap<String, Vec<Value>> {
    let mut by_id: HashMap<String, Vec<Value>> = HashMap::new();
    let deadline = tokio::time::Instant::now() + within;
    while by_id.len() < expected {
        match tokio::time::timeout_at(deadline, replies.recv()).await {
            Ok(Some(reply)) => add(&mut by_id, reply),
            _ => break,
        }
    }
    let linger_until = tokio::time::Instant::now() + linger;
    while let Ok(Some(reply)) = tokio::time::timeout_at(linger_until, replies.recv()).await {
        add(&mut by_id, reply);
    }
    by_id
}

fn add(by_id: &mut HashMap<String, Vec<Value>>, reply: Value) {
    let id = reply["request_id"]
        .as_str()
        .expect("replies carry request_id")
        .to_owned();
    by_id.entry(id).or_default().push(reply);
}
