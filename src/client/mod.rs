//! `PubSubClient`: calls the tools on the worker pool from any node, over Redis (SPEC.md
//! section 6). Requests go on the request stream (`XADD`, so no request is lost while the
//! workers restart); replies come back on this client's own channel,
//! `{RESPONSE_CHANNEL}:{client_id}`, subscribed before the first request leaves.
//! Ticker channels (`{KEY_PREFIX}:ticker:{exchange}:{symbol}`) are followed through
//! [`channels::TickerChannels`], one subscriber connection for all of them.

pub mod channels;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crypto_market_actors::redis_target::{RedisConn, RedisTarget};

use crate::config::Secret;
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// The protocol settings a client needs (SPEC.md section 3).
#[derive(Debug, Clone)]
pub struct PubSubConfig {
    pub request_channel: String,
    pub response_channel: String,
    /// How long `publish_request` waits when not told otherwise (`REQUEST_TIMEOUT`).
    pub request_timeout: Duration,
    /// Names this client's reply channel; a random one when `None`.
    pub client_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClientError {
    #[error("cannot set up the Redis client: {0}")]
    Setup(String),
    #[error("Redis failed: {0}")]
    Redis(String),
    #[error("no reply to {request_id} within {after:?}")]
    Timeout { request_id: String, after: Duration },
    /// The pool answered with an error (SPEC.md section 4's codes).
    #[error("{code}: {message}")]
    Remote {
        code: String,
        message: String,
        retryable: bool,
        retry_after_ms: Option<u64>,
        /// The next step the worker suggested.
        hint: Option<String>,
    },
    #[error("unreadable reply: {0}")]
    BadReply(String),
}

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Value>>>>;

pub struct PubSubClient {
    conn: RedisConn,
    config: PubSubConfig,
    client_id: String,
    reply_channel: String,
    pending: Pending,
    next: AtomicU64,
    listener: tokio::task::JoinHandle<()>,
    /// The key requests carry when the caller brings none (`PUBSUB_API_KEY`), and the pool's
    /// client id of that key (`PUBSUB_CLIENT_ID`).
    api_key: Option<(Secret, Option<String>)>,
    /// Ticker channels, followed from the first stream on.
    channels: channels::TickerChannels,
}

impl PubSubClient {
    /// Connects, and subscribes to this client's reply channel before returning.
    pub async fn connect(target: RedisTarget, config: PubSubConfig) -> Result<Self, ClientError> {
        let client_id = config.client_id.clone().unwrap_or_else(|| {
            format!(
                "client-{}-{}",
                std::process::id(),
                crypto_market_actors::model::now_ms()
            )
        });
        let reply_channel = format!("{}:{client_id}", config.response_channel);
        let conn = target
            .connection()
            .await
            .map_err(|e| ClientError::Setup(e.to_string()))?;
        let replies = Replies {
            own: reply_channel.clone(),
            owned_pattern: format!("{}:*:{client_id}", config.response_channel),
        };
        let pubsub = subscribe(&target, &replies)
            .await
            .map_err(|e| ClientError::Setup(e.to_string()))?;
        let pending: Pending = Arc::default();
        let channels = channels::TickerChannels::new(target.clone());
        let listener = tokio::spawn(listen(target, replies, pubsub, pending.clone()));
        Ok(Self {
            conn,
            config,
            client_id,
            reply_channel,
            pending,
            next: AtomicU64::new(0),
            listener,
            api_key: None,
            channels,
        })
    }

    /// Requests carry `key` as their `api_key` unless the call names another
    /// ([`Self::call_as`]): a pool with `API_KEYS_FILE` refuses requests without one.
    /// `owner` is the key's client id at the pool: a pool with keys replies to a keyed
    /// request only under `{RESPONSE_CHANNEL}:{owner}:` (SPEC.md section 9).
    pub fn with_api_key(mut self, key: Option<Secret>, owner: Option<String>) -> Self {
        self.api_key = key.map(|key| (key, owner));
        self
    }

    /// Where the reply to a request made for `owner` (a pool client id) comes back:
    /// `{RESPONSE_CHANNEL}:{owner}:{client_id}`, else this client's own channel. The listener
    /// follows both (the first by pattern).
    fn reply_channel_for(&self, owner: Option<&str>) -> String {
        match owner {
            Some(owner) => format!(
                "{}:{owner}:{}",
                self.config.response_channel, self.client_id
            ),
            None => self.reply_channel.clone(),
        }
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The ticker channels of this client's Redis.
    pub fn channels(&self) -> &channels::TickerChannels {
        &self.channels
    }

    /// Calls `tool` with `args` on the pool and waits for its result, at most `timeout`
    /// (the request carries the matching `deadline_ms`, so no worker starts it after that).
    pub async fn publish_request(
        &self,
        tool: &str,
        args: Value,
        timeout: Duration,
    ) -> Result<Value, ClientError> {
        self.request(tool, args, timeout, None).await
    }

    /// `call` for a caller with its own key and pool client id (`None`: this client's key,
    /// [`Self::with_api_key`]).
    pub async fn call_as(
        &self,
        tool: &str,
        args: Value,
        caller: Option<(&Secret, &str)>,
    ) -> Result<Value, ClientError> {
        self.request(tool, args, self.config.request_timeout, caller)
            .await
    }

    async fn request(
        &self,
        tool: &str,
        args: Value,
        timeout: Duration,
        caller: Option<(&Secret, &str)>,
    ) -> Result<Value, ClientError> {
        let (api_key, owner) = match caller {
            Some((key, owner)) => (Some(key), Some(owner)),
            None => match &self.api_key {
                Some((key, owner)) => (Some(key), owner.as_deref()),
                None => (None, None),
            },
        };
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let request_id = format!("{}-{n}", self.client_id);
        let deadline_ms = crypto_market_actors::model::now_ms()
            + i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX / 2);
        let mut request = json!({
            "request_id": request_id,
            "tool": tool,
            "args": args,
            "reply_to": self.reply_channel_for(owner),
            "deadline_ms": deadline_ms,
            "client_id": self.client_id,
        });
        if let Some(key) = api_key {
            request["api_key"] = json!(key.expose());
        }
        let (tx, rx) = oneshot::channel();
        self.lock().insert(request_id.clone(), tx);
        let mut conn = self.conn.clone();
        let sent: redis::RedisResult<String> = redis::cmd("XADD")
            .arg(&self.config.request_channel)
            .arg("MAXLEN")
            .arg("~")
            .arg(100_000)
            .arg("*")
            .arg("request")
            .arg(request.to_string())
            .query_async(&mut conn)
            .await;
        if let Err(e) = sent {
            self.lock().remove(&request_id);
            return Err(ClientError::Redis(e.to_string()));
        }
        // A long poll answers up to its wait_ms after it starts: the request must start
        // within `timeout` (deadline_ms), and its reply may take that long on top.
        let patience = timeout + long_poll(tool, &request["args"]);
        let reply = match tokio::time::timeout(patience, rx).await {
            Ok(Ok(reply)) => reply,
            _ => {
                self.lock().remove(&request_id);
                return Err(ClientError::Timeout {
                    request_id,
                    after: patience,
                });
            }
        };
        if reply["ok"] == true {
            return Ok(reply["result"].clone());
        }
        let error = &reply["error"];
        match error["code"].as_str() {
            Some(code) => Err(ClientError::Remote {
                code: code.to_owned(),
                message: error["message"].as_str().unwrap_or_default().to_owned(),
                retryable: error["retryable"].as_bool().unwrap_or(false),
                retry_after_ms: error["retry_after_ms"].as_u64(),
                hint: error["hint"].as_str().map(str::to_owned),
            }),
            None => Err(ClientError::BadReply(reply.to_string())),
        }
    }

    /// `publish_request` with the configured `REQUEST_TIMEOUT`.
    pub async fn call(&self, tool: &str, args: Value) -> Result<Value, ClientError> {
        self.publish_request(tool, args, self.config.request_timeout)
            .await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<Value>>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for PubSubClient {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// Subscribes to `channel`, and by pattern to the channels under other owners that end in
/// this client's id (`{RESPONSE_CHANNEL}:{owner}:{client_id}`, see `reply_channel_for`).
async fn subscribe(target: &RedisTarget, channels: &Replies) -> Result<redis::aio::PubSub, String> {
    let mut pubsub = target.pubsub().await.map_err(|e| e.to_string())?;
    pubsub
        .subscribe(&channels.own)
        .await
        .map_err(|e| e.to_string())?;
    pubsub
        .psubscribe(&channels.owned_pattern)
        .await
        .map_err(|e| e.to_string())?;
    Ok(pubsub)
}

/// The channels replies come on: this client's own, and (by pattern) those under an owner.
#[derive(Clone)]
struct Replies {
    own: String,
    owned_pattern: String,
}

/// Hands each reply to the call waiting for it; replies nobody waits for (timed out) are
/// dropped. `aio::PubSub` does not reconnect: a lost subscription is made again (on the new
/// master after a failover); replies published meanwhile are lost and their calls time out.
async fn listen(
    target: RedisTarget,
    channels: Replies,
    pubsub: redis::aio::PubSub,
    pending: Pending,
) {
    let mut pubsub = Some(pubsub);
    loop {
        let current = match pubsub.take() {
            Some(current) => current,
            None => match subscribe(&target, &channels).await {
                Ok(current) => current,
                Err(error) => {
                    tracing::debug!(%error, "the client's reply channel: cannot subscribe yet");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            },
        };
        hand_over(current, &pending).await;
        tracing::warn!("the client's reply subscription ended; subscribing again");
    }
}

async fn hand_over(mut pubsub: redis::aio::PubSub, pending: &Pending) {
    let mut messages = pubsub.on_message();
    while let Some(message) = messages.next().await {
        let Ok(payload) = message.get_payload::<String>() else {
            continue;
        };
        let Ok(reply) = serde_json::from_str::<Value>(&payload) else {
            tracing::warn!("unreadable reply on the client's channel");
            continue;
        };
        let Some(id) = reply["request_id"].as_str() else {
            continue;
        };
        let waiting = pending.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
        if let Some(tx) = waiting {
            let _ = tx.send(reply);
        }
    }
}

/// A pool failure as the tools report failures: the remote code as it was, or what went wrong
/// on the way (the pool did not answer: `timeout`; Redis failed: retryable `internal`).
impl From<ClientError> for crate::tools::ToolError {
    fn from(error: ClientError) -> Self {
        use crypto_market_actors::ErrorCode;
        match error {
            ClientError::Remote {
                code,
                message,
                retryable,
                retry_after_ms,
                hint,
            } => Self {
                code: ErrorCode::parse(&code).unwrap_or(ErrorCode::Internal),
                message,
                retryable,
                retry_after_ms,
                hint,
            },
            ClientError::Timeout { after, .. } => Self::new(
                ErrorCode::Timeout,
                format!(
                    "the worker pool did not answer within {} ms",
                    after.as_millis()
                ),
            ),
            other => Self {
                retryable: true,
                ..Self::new(ErrorCode::Internal, format!("the worker pool: {other}"))
            },
        }
    }
}

/// How long `tool` may wait by design before answering: `watch_read`'s `wait_ms`.
fn long_poll(tool: &str, args: &Value) -> Duration {
    match (tool, args["wait_ms"].as_u64()) {
        ("watch_read", Some(ms)) => Duration::from_millis(ms.min(30_000)),
        _ => Duration::ZERO,
    }
}
