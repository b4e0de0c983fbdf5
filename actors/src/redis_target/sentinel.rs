//! Sentinel: the master is whatever the sentinels name now. A connection made once would keep
//! dialling the old master after a failover, so [`SentinelConn`] drops its connection when a
//! command meets a lost connection, a timeout or a demoted master (`READONLY`), and the next
//! command asks the sentinels again. A `+switch-master` subscription on a sentinel makes every
//! connection of the target switch at once, before its next command has to fail.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Once, Weak};
use std::time::Duration;

use futures::StreamExt;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Cmd, Pipeline, RedisError, RedisFuture, RedisResult, Value};
use tokio::time::Instant;

use super::{RedisTarget, Topology};

/// After a failed attempt to reach the master, commands fail at once for this long instead of
/// each asking the sentinels again (a failover takes seconds; this only spares a storm).
const RETRY_AFTER: Duration = Duration::from_millis(200);

/// Failovers seen by a target's `+switch-master` watch; connections compare it with the count
/// they connected at.
pub(super) struct Switches {
    count: AtomicU64,
    watching: Once,
}

impl Default for Switches {
    fn default() -> Self {
        Self {
            count: AtomicU64::new(0),
            watching: Once::new(),
        }
    }
}

#[derive(Clone)]
pub struct SentinelConn {
    inner: Arc<Inner>,
}

struct Inner {
    target: RedisTarget,
    response_timeout: Duration,
    db: i64,
    current: tokio::sync::Mutex<Current>,
}

#[derive(Default)]
struct Current {
    /// The connection to the master, with the generation it was made in and the switch count
    /// then.
    conn: Option<(u64, u64, MultiplexedConnection)>,
    generation: u64,
    failed_at: Option<Instant>,
    master: Option<String>,
}

fn sentinel_setup(target: &RedisTarget) -> (&[String], &str) {
    match &target.topology {
        Topology::Sentinel { nodes, master } => (nodes, master),
        _ => (&[], ""),
    }
}

/// Asks the sentinels, in order, where the master is: `host:port`.
pub(super) async fn master_address(target: &RedisTarget) -> RedisResult<String> {
    let (nodes, name) = sentinel_setup(target);
    let mut last = RedisError::from((redis::ErrorKind::InvalidClientConfig, "no sentinels"));
    for node in nodes {
        let asked = async {
            let mut conn = sentinel_client(target, node)?
                .get_multiplexed_async_connection()
                .await?;
            redis::cmd("SENTINEL")
                .arg("get-master-addr-by-name")
                .arg(name)
                .query_async::<Option<(String, u16)>>(&mut conn)
                .await
        };
        match tokio::time::timeout(target.connection_timeout, asked).await {
            Ok(Ok(Some((host, port)))) => return Ok(format!("{host}:{port}")),
            Ok(Ok(None)) => {
                last = RedisError::from((
                    redis::ErrorKind::InvalidClientConfig,
                    "the sentinels know no such master",
                    name.to_owned(),
                ))
            }
            Ok(Err(e)) => last = e,
            Err(_) => last = RedisError::from((redis::ErrorKind::Io, "a sentinel did not answer")),
        }
    }
    Err(last)
}

/// A sentinel: the URL's scheme (TLS or not) and CA, without the master's password and db.
fn sentinel_client(target: &RedisTarget, node: &str) -> RedisResult<redis::Client> {
    let scheme = if target.url.starts_with("rediss:") {
        "rediss"
    } else {
        "redis"
    };
    let fragment = if target.url.ends_with("#insecure") {
        "#insecure"
    } else {
        ""
    };
    target
        .client_for(&format!("{scheme}://{node}/{fragment}"))
        .map_err(|e| {
            RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "sentinel",
                e.to_string(),
            ))
        })
}

/// Whether `error` means the connection no longer reaches a master.
fn lost(error: &RedisError) -> bool {
    error.is_unrecoverable_error()
        || error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_timeout()
        || matches!(error.code(), Some("READONLY" | "MASTERDOWN" | "LOADING"))
}

impl SentinelConn {
    pub(super) fn new(target: RedisTarget, response_timeout: Duration) -> Self {
        let db = target
            .client()
            .map(|c| c.get_connection_info().redis_settings().db())
            .unwrap_or(0);
        Self {
            inner: Arc::new(Inner {
                target,
                response_timeout,
                db,
                current: tokio::sync::Mutex::default(),
            }),
        }
    }

    pub(super) async fn connect_now(&self) -> RedisResult<()> {
        self.get().await.map(|_| ())
    }

    /// The connection to the current master, made (after asking the sentinels) when there is
    /// none or a failover was announced. One caller connects; the others wait for it.
    async fn get(&self) -> RedisResult<(u64, MultiplexedConnection)> {
        let switches = self.inner.target.switches.count.load(Ordering::Relaxed);
        let mut current = self.inner.current.lock().await;
        match &current.conn {
            Some((generation, seen, conn)) if *seen == switches => {
                return Ok((*generation, conn.clone()))
            }
            _ => current.conn = None,
        }
        if current
            .failed_at
            .is_some_and(|at| at.elapsed() < RETRY_AFTER)
        {
            return Err(RedisError::from((
                redis::ErrorKind::Io,
                "the Redis master is unreachable (asking the sentinels again shortly)",
            )));
        }
        match self.connect().await {
            Ok((master, conn)) => {
                if current.master.as_deref() != Some(master.as_str()) {
                    tracing::info!(%master, "Redis master (named by the sentinels)");
                    current.master = Some(master);
                }
                current.generation += 1;
                current.failed_at = None;
                current.conn = Some((current.generation, switches, conn.clone()));
                watch_switches(&self.inner.target);
                Ok((current.generation, conn))
            }
            Err(e) => {
                current.failed_at = Some(Instant::now());
                Err(e)
            }
        }
    }

    async fn connect(&self) -> RedisResult<(String, MultiplexedConnection)> {
        let target = &self.inner.target;
        let master = master_address(target).await?;
        let url = target.node_url(&master).map_err(|e| {
            RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "master",
                e.to_string(),
            ))
        })?;
        let client = target.client_for(&url).map_err(|e| {
            RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "master",
                e.to_string(),
            ))
        })?;
        let config = AsyncConnectionConfig::new()
            .set_response_timeout(Some(self.inner.response_timeout))
            .set_connection_timeout(Some(target.connection_timeout));
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        // Right after a failover a sentinel may still name the old master, restarted as a
        // replica: only a master will do.
        let role: Vec<Value> = redis::cmd("ROLE").query_async(&mut conn).await?;
        match role.first() {
            Some(Value::BulkString(kind)) if kind == b"master" => Ok((master, conn)),
            _ => Err(RedisError::from((
                redis::ErrorKind::Io,
                "the node the sentinels name is not a master (yet)",
                master,
            ))),
        }
    }

    /// Drops the connection of `generation` (not a newer one another caller already made).
    async fn forget(&self, generation: u64) {
        let mut current = self.inner.current.lock().await;
        if current
            .conn
            .as_ref()
            .is_some_and(|(g, _, _)| *g == generation)
        {
            tracing::warn!("lost the Redis master; asking the sentinels again");
            current.conn = None;
        }
    }
}

impl ConnectionLike for SentinelConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let (generation, mut conn) = self.get().await?;
            let result = conn.req_packed_command(cmd).await;
            if result.as_ref().is_err_and(lost) {
                self.forget(generation).await;
            }
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let (generation, mut conn) = self.get().await?;
            let result = conn.req_packed_commands(pipeline, offset, count).await;
            if result.as_ref().is_err_and(lost) {
                self.forget(generation).await;
            }
            result
        })
    }

    fn get_db(&self) -> i64 {
        self.inner.db
    }
}

/// Subscribes (once per target, on the runtime of its first connection) to `+switch-master`
/// on a sentinel, resubscribing on any loss; each event makes every connection of the target
/// ask the sentinels again. Should that runtime stop, the errors still do it.
fn watch_switches(target: &RedisTarget) {
    target.switches.watching.call_once(|| {
        let switches: Weak<Switches> = Arc::downgrade(&target.switches);
        // The task's own copy must not keep the count alive: it stops once every connection
        // and target that shares the count is gone.
        let target = RedisTarget {
            switches: Arc::default(),
            ..target.clone()
        };
        tokio::spawn(async move {
            let (nodes, _) = sentinel_setup(&target);
            let nodes = nodes.to_vec();
            for turn in 0.. {
                if switches.strong_count() == 0 || nodes.is_empty() {
                    return;
                }
                let node = &nodes[turn % nodes.len()];
                let subscribed = async {
                    let mut pubsub = sentinel_client(&target, node)?.get_async_pubsub().await?;
                    pubsub.subscribe("+switch-master").await?;
                    RedisResult::Ok(pubsub)
                };
                if let Ok(Ok(mut pubsub)) =
                    tokio::time::timeout(target.connection_timeout, subscribed).await
                {
                    let mut events = pubsub.on_message();
                    while let Some(event) = events.next().await {
                        let text: String = event.get_payload().unwrap_or_default();
                        tracing::warn!(event = %text, "Redis failover announced by a sentinel");
                        match switches.upgrade() {
                            Some(switches) => switches.count.fetch_add(1, Ordering::Relaxed),
                            None => return,
                        };
                    }
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
    });
}
