//! Reaching Redis: where it is, how long a command may take, and the keys and channels of
//! SPEC.md (sections 5 and 6). Shared by the cache layer, the bridge, the worker pool and the
//! clients, so every node names things the same way.
//!
//! Every user gets its connections here, as a [`RedisConn`] whatever the topology
//! (`REDIS_MODE`): a `ConnectionManager` for one Redis, a connection that follows the master
//! the sentinels name, or a cluster connection. A command that meets a dropped connection fails
//! and is the caller's to retry or route around; the connection itself recovers (reconnects,
//! asks the sentinels again, refreshes the cluster's slots). Blocking reads (`XREADGROUP ...
//! BLOCK`) need a connection of their own: on a shared one they would stall every other
//! command (see `docs/notes/redis.md`). Subscribers get a plain `aio::PubSub` from
//! [`RedisTarget::pubsub`] and ask again whenever it ends, which is what makes them follow a
//! failover.
//!
//! TLS: `rediss://host:port/db` verifies the server against Mozilla's roots (compiled in),
//! `rediss://...#insecure` skips verification (self-signed development certificates only), and
//! a private CA is given as a PEM file ([`RedisTarget::with_tls_ca`], `REDIS_TLS_CA`).

mod cluster;
mod conn;
pub mod gcra;
mod sentinel;

use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Once};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

pub use conn::RedisConn;

use crate::model::CacheKey;

/// How Redis is deployed (`REDIS_MODE`); the nodes are `host:port` (`REDIS_NODES`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Topology {
    /// One server (or a proxy in front of several): the URL's host and port.
    #[default]
    Standalone,
    /// The master that these sentinels name `master`; the URL's credentials, db and TLS apply
    /// to it (its host and port are ignored).
    Sentinel { nodes: Vec<String>, master: String },
    /// A Redis Cluster reached through these seed nodes, with the URL's credentials and TLS.
    Cluster { nodes: Vec<String> },
}

/// Where Redis is and how patient to be with it.
#[derive(Clone)]
pub struct RedisTarget {
    /// `redis://`, `rediss://` or `redis+unix://` URL, credentials included.
    url: String,
    /// Prefix of every key and channel this product owns (`KEY_PREFIX`).
    pub key_prefix: String,
    /// Longest wait for a reply to a (non-blocking) command.
    pub response_timeout: Duration,
    /// Longest wait for a connection.
    pub connection_timeout: Duration,
    /// PEM file of the CA that signed the server's certificate (`rediss://` only); `None`
    /// trusts Mozilla's roots.
    tls_ca: Option<PathBuf>,
    topology: Topology,
    /// Which seed node a cluster subscriber tries first: turns on each failure, so a dead
    /// seed is not retried forever.
    next_seed: Arc<AtomicUsize>,
    /// Failovers announced by the sentinels (sentinel mode), shared by the target's clones.
    switches: Arc<sentinel::Switches>,
}

/// The URL without its password, for logs and errors.
impl std::fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTarget")
            .field("url", &redacted(&self.url))
            .field("key_prefix", &self.key_prefix)
            .field("tls_ca", &self.tls_ca)
            .field("topology", &self.topology)
            .finish()
    }
}

/// `url` fit to show: its password replaced by `***` (a settings error, a log line).
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => "(unparsable URL)".to_owned(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RedisSetupError {
    #[error("Redis URL {url}: {source}")]
    Url {
        url: String,
        source: redis::RedisError,
    },
    #[error("Redis TLS CA file {path}: {source}")]
    TlsCa {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot reach Redis at {url}: {source}")]
    Connect {
        url: String,
        source: redis::RedisError,
    },
}

impl RedisTarget {
    pub fn new(url: impl Into<String>, key_prefix: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            key_prefix: key_prefix.into(),
            response_timeout: Duration::from_millis(500),
            connection_timeout: Duration::from_secs(1),
            tls_ca: None,
            topology: Topology::Standalone,
            next_seed: Arc::default(),
            switches: Arc::default(),
        }
    }

    /// Reaches Redis through sentinels or a cluster's seed nodes instead of the URL's host.
    pub fn with_topology(mut self, topology: Topology) -> Self {
        self.topology = topology;
        self
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Trusts the CA in this PEM file (instead of Mozilla's roots) for a `rediss://` URL.
    pub fn with_tls_ca(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls_ca = Some(path.into());
        self
    }

    /// A client for the configured URL (standalone), TLS CA included.
    pub fn client(&self) -> Result<redis::Client, RedisSetupError> {
        self.client_for(&self.url)
    }

    /// A client for `url`, with this target's TLS settings.
    fn client_for(&self, url: &str) -> Result<redis::Client, RedisSetupError> {
        if url.starts_with("rediss:") {
            install_crypto_provider();
        }
        let certificates = self.certificates()?;
        match certificates {
            None => redis::Client::open(url),
            Some(certificates) => redis::Client::build_with_tls(url, certificates),
        }
        .map_err(|source| RedisSetupError::Url {
            url: redacted(url),
            source,
        })
    }

    /// The private CA, when one is configured.
    fn certificates(&self) -> Result<Option<redis::TlsCertificates>, RedisSetupError> {
        let Some(path) = &self.tls_ca else {
            return Ok(None);
        };
        let root_cert = std::fs::read(path).map_err(|source| RedisSetupError::TlsCa {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Some(redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(root_cert),
        }))
    }

    /// The configured URL with `node` (`host:port`) as its host and port: a sentinel's
    /// master or a cluster node, with the URL's scheme, credentials, db and TLS fragment.
    fn node_url(&self, node: &str) -> Result<String, RedisSetupError> {
        let bad = |why: &str| RedisSetupError::Url {
            url: redacted(&self.url),
            source: redis::RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "cannot address a node",
                format!("{node}: {why}"),
            )),
        };
        let (host, port) = node.rsplit_once(':').ok_or_else(|| bad("not host:port"))?;
        let port: u16 = port.parse().map_err(|_| bad("not a port"))?;
        let mut url = url::Url::parse(&self.url).map_err(|_| bad("unparsable URL"))?;
        url.set_host(Some(host.trim_start_matches('[').trim_end_matches(']')))
            .map_err(|_| bad("not a host"))?;
        url.set_port(Some(port)).map_err(|_| bad("not a port"))?;
        Ok(url.to_string())
    }

    fn connect_error(&self, source: redis::RedisError) -> RedisSetupError {
        RedisSetupError::Connect {
            url: redacted(&self.url),
            source,
        }
    }

    /// A multiplexed connection for ordinary (non-blocking) commands.
    pub async fn connection(&self) -> Result<RedisConn, RedisSetupError> {
        self.connection_with(self.response_timeout).await
    }

    /// A connection of its own with its own response timeout: give blocking reads one, with
    /// a timeout above their BLOCK time.
    pub async fn connection_with(
        &self,
        response_timeout: Duration,
    ) -> Result<RedisConn, RedisSetupError> {
        match &self.topology {
            Topology::Standalone => {
                let config = ConnectionManagerConfig::new()
                    .set_response_timeout(Some(response_timeout))
                    .set_connection_timeout(Some(self.connection_timeout));
                ConnectionManager::new_with_config(self.client()?, config)
                    .await
                    .map(RedisConn::Single)
                    .map_err(|source| self.connect_error(source))
            }
            Topology::Sentinel { .. } => {
                let conn = sentinel::SentinelConn::new(self.clone(), response_timeout);
                // Connected now, so that a wrong setting shows at start as it does standalone.
                conn.connect_now()
                    .await
                    .map_err(|e| self.connect_error(e))?;
                Ok(RedisConn::Sentinel(conn))
            }
            Topology::Cluster { nodes } => cluster::connect(self, nodes, response_timeout)
                .await
                .map(RedisConn::Cluster),
        }
    }

    /// A subscriber connection. `aio::PubSub` never reconnects: callers ask again when its
    /// message stream ends, and get the current master (sentinel) or the next live seed node
    /// (cluster: `PUBLISH` reaches every node of a cluster, so any one will do).
    pub async fn pubsub(&self) -> Result<redis::aio::PubSub, RedisSetupError> {
        let connect = |client: redis::Client| async move {
            match tokio::time::timeout(self.connection_timeout, client.get_async_pubsub()).await {
                Ok(Ok(pubsub)) => Ok(pubsub),
                Ok(Err(e)) => Err(self.connect_error(e)),
                Err(_) => Err(self.connect_error(redis::RedisError::from((
                    redis::ErrorKind::Io,
                    "connecting took too long",
                )))),
            }
        };
        match &self.topology {
            Topology::Standalone => connect(self.client()?).await,
            Topology::Sentinel { .. } => {
                let master = sentinel::master_address(self)
                    .await
                    .map_err(|e| self.connect_error(e))?;
                connect(self.client_for(&self.node_url(&master)?)?).await
            }
            Topology::Cluster { nodes } => {
                let mut last = None;
                for url in cluster::seeds(self, nodes)? {
                    match connect(self.client_for(&url)?).await {
                        Ok(pubsub) => return Ok(pubsub),
                        Err(e) => last = Some(e),
                    }
                }
                Err(last.unwrap_or_else(|| {
                    self.connect_error(redis::RedisError::from((
                        redis::ErrorKind::InvalidClientConfig,
                        "no cluster nodes",
                    )))
                }))
            }
        }
    }

    /// `{prefix}:cache:{exchange}:{kind}:{symbol}[:{params}]` (SPEC.md section 6).
    pub fn cache_key(&self, key: &CacheKey) -> String {
        format!("{}:cache:{key}", self.key_prefix)
    }

    /// `{prefix}:ticker:{exchange}:{symbol}` (SPEC.md section 5).
    pub fn ticker_channel(&self, exchange: &str, symbol: &str) -> String {
        format!("{}:ticker:{exchange}:{symbol}", self.key_prefix)
    }

    /// `{prefix}:book:{exchange}:{symbol}`: the book of a symbol the cluster's feed holder
    /// streams (SPEC.md 5.1), published on every change.
    pub fn book_channel(&self, exchange: &str, symbol: &str) -> String {
        format!("{}:book:{exchange}:{symbol}", self.key_prefix)
    }

    /// `{prefix}:trades:{exchange}:{symbol}`: that symbol's new trades.
    pub fn trades_channel(&self, exchange: &str, symbol: &str) -> String {
        format!("{}:trades:{exchange}:{symbol}", self.key_prefix)
    }

    /// `{prefix}:workers` (SPEC.md section 6): the worker heartbeat hash.
    pub fn workers_key(&self) -> String {
        format!("{}:workers", self.key_prefix)
    }
}

/// Installs ring as rustls's process-wide `CryptoProvider`, once; a provider the embedding
/// program installed first is kept. redis-rs asks rustls for the default provider, which rustls
/// only picks by itself when exactly one provider is compiled in (test builds have two).
pub fn install_crypto_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // Err means a provider is already installed: that one serves.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DataRequest;

    #[test]
    fn keys_and_channels_follow_the_spec_and_secrets_stay_out_of_debug() {
        let target = RedisTarget::new("redis://:hunter2@localhost:6379/0", "crypto_mcp");
        let key = CacheKey {
            exchange: "binance".into(),
            symbol: "BTC/USDT".into(),
            request: DataRequest::OrderBook { limit: 100 },
        };
        assert_eq!(
            target.cache_key(&key),
            "crypto_mcp:cache:binance:orderbook:BTC/USDT:100"
        );
        assert_eq!(
            target.ticker_channel("binance", "BTC/USDT"),
            "crypto_mcp:ticker:binance:BTC/USDT"
        );
        assert_eq!(target.workers_key(), "crypto_mcp:workers");
        let debug = format!("{target:?}");
        assert!(
            !debug.contains("hunter2") && debug.contains("***"),
            "{debug}"
        );
    }

    #[test]
    fn nodes_keep_the_urls_credentials_db_and_tls_and_stay_out_of_debug() {
        let target = RedisTarget::new("rediss://user:hunter2@ignored:6379/2#insecure", "p")
            .with_topology(Topology::Sentinel {
                nodes: vec!["10.0.0.7:26379".into()],
                master: "mymaster".into(),
            });
        assert_eq!(
            target.node_url("10.0.0.9:6380").unwrap(),
            "rediss://user:hunter2@10.0.0.9:6380/2#insecure"
        );
        assert!(target.node_url("no-port").is_err());
        let debug = format!("{target:?}");
        assert!(
            !debug.contains("hunter2") && debug.contains("10.0.0.7:26379"),
            "{debug}"
        );
    }

    #[test]
    fn a_rediss_url_makes_a_tls_client_and_keeps_its_password_out_of_debug() {
        let target = RedisTarget::new("rediss://:hunter2@redis.example.com:6380/0", "p");
        let client = target.client().expect("rediss:// is built in");
        assert!(matches!(
            client.get_connection_info().addr(),
            redis::ConnectionAddr::TcpTls {
                insecure: false,
                ..
            }
        ));
        let debug = format!("{target:?}");
        assert!(
            !debug.contains("hunter2") && debug.contains("rediss://"),
            "{debug}"
        );
        let insecure = RedisTarget::new("rediss://127.0.0.1:6380/#insecure", "p");
        assert!(matches!(
            insecure.client().unwrap().get_connection_info().addr(),
            redis::ConnectionAddr::TcpTls { insecure: true, .. }
        ));
        let missing_ca = target.with_tls_ca("/nonexistent/ca.pem");
        assert!(matches!(
            missing_ca.client(),
            Err(RedisSetupError::TlsCa { .. })
        ));
    }
}
