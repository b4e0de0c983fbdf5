//! Reaching Redis: where it is, how long a command may take, and the keys and channels of
//! SPEC.md (sections 5 and 6). Shared by the cache layer, the bridge, the worker pool and the
//! clients, so every node names things the same way.
//!
//! Connections are `redis::aio::ConnectionManager`s (they reconnect in the background; a
//! command that meets a dropped connection fails and is the caller's to retry or route around).
//! Blocking reads (`XREADGROUP ... BLOCK`) need a connection of their own: on a shared one they
//! would stall every other command (see `../shared/notes/redis.md`).
//!
//! TLS: `rediss://host:port/db` verifies the server against Mozilla's roots (compiled in),
//! `rediss://...#insecure` skips verification (self-signed development certificates only), and
//! a private CA is given as a PEM file ([`RedisTarget::with_tls_ca`], `REDIS_TLS_CA`).

use std::path::PathBuf;
use std::sync::Once;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::cache::CacheKey;

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
}

/// The URL without its password, for logs and errors.
impl std::fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTarget")
            .field("url", &redacted(&self.url))
            .field("key_prefix", &self.key_prefix)
            .field("tls_ca", &self.tls_ca)
            .finish()
    }
}

fn redacted(url: &str) -> String {
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
        }
    }

    /// Trusts the CA in this PEM file (instead of Mozilla's roots) for a `rediss://` URL.
    pub fn with_tls_ca(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls_ca = Some(path.into());
        self
    }

    pub fn client(&self) -> Result<redis::Client, RedisSetupError> {
        let url_error = |source| RedisSetupError::Url {
            url: redacted(&self.url),
            source,
        };
        if self.url.starts_with("rediss:") {
            install_crypto_provider();
        }
        match &self.tls_ca {
            None => redis::Client::open(self.url.as_str()).map_err(url_error),
            Some(path) => {
                let root_cert = std::fs::read(path).map_err(|source| RedisSetupError::TlsCa {
                    path: path.display().to_string(),
                    source,
                })?;
                let certificates = redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(root_cert),
                };
                redis::Client::build_with_tls(self.url.as_str(), certificates).map_err(url_error)
            }
        }
    }

    /// A managed, multiplexed connection for ordinary (non-blocking) commands.
    pub async fn manager(&self) -> Result<ConnectionManager, RedisSetupError> {
        self.manager_with(self.response_timeout).await
    }

    /// A managed connection with its own response timeout: give blocking reads one of their
    /// own, with a timeout above their BLOCK time.
    pub async fn manager_with(
        &self,
        response_timeout: Duration,
    ) -> Result<ConnectionManager, RedisSetupError> {
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(response_timeout))
            .set_connection_timeout(Some(self.connection_timeout));
        ConnectionManager::new_with_config(self.client()?, config)
            .await
            .map_err(|source| RedisSetupError::Connect {
                url: redacted(&self.url),
                source,
            })
    }

    /// `{prefix}:cache:{exchange}:{kind}:{symbol}[:{params}]` (SPEC.md section 6).
    pub fn cache_key(&self, key: &CacheKey) -> String {
        format!("{}:cache:{key}", self.key_prefix)
    }

    /// `{prefix}:ticker:{exchange}:{symbol}` (SPEC.md section 5).
    pub fn ticker_channel(&self, exchange: &str, symbol: &str) -> String {
        format!("{}:ticker:{exchange}:{symbol}", self.key_prefix)
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
