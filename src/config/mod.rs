//! Settings: `ServerConfig { exchange, cache, redis, pubsub, server, metrics }`, layered
//! built-in defaults < `--config FILE` (TOML) < environment < command-line flags, validated
//! before anything starts. A bad value is reported as one line naming the setting, its env
//! variable and the accepted values (the binaries exit 2 with it).

mod load;
mod secret;
mod settings;

use std::num::NonZeroUsize;
use std::time::Duration;

use crypto_market_actors::redis_target::Topology;
use crypto_market_actors::venue::VenueConfig;
use crypto_market_actors::EngineConfig;
use serde::Deserialize;

pub use load::{load, CommonArgs};
pub use secret::Secret;
pub use settings::{Setting, ENV_NAMES, SETTINGS};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub exchange: ExchangeSettings,
    pub cache: CacheSettings,
    pub redis: RedisSettings,
    pub pubsub: PubSubSettings,
    pub server: ServerSettings,
    pub metrics: MetricsSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExchangeSettings {
    /// Default exchange (ccxt id).
    pub name: String,
    /// Exchanges a request may name; empty means just `name`.
    pub exchanges: Vec<String>,
    pub enable_rate_limit: bool,
    pub rest_url: Option<String>,
    pub ws_url: Option<String>,
    /// REST base URL per exchange id (`EXCHANGE_REST_URLS`); `rest_url` wins for the default.
    pub rest_urls: std::collections::BTreeMap<String, String>,
    /// Websocket base URL per exchange id (`EXCHANGE_WS_URLS`).
    pub ws_urls: std::collections::BTreeMap<String, String>,
    /// A request naming no exchange fails over when the default cannot answer fresh.
    pub failover: bool,
    /// Seconds one exchange call may take.
    pub timeout: f64,
    pub max_concurrent_calls: usize,
    /// Threads of the exchange I/O runtime; 0 runs exchange calls on the actors' thread.
    pub io_threads: usize,
    /// Milliseconds the first ticker miss waits for others to share one batched exchange call:
    /// small next to any exchange round trip, long enough to catch a fan-out of many symbols.
    pub ticker_batch_ms: u64,
    /// Milliseconds a streamed symbol may stay silent before its stream counts as stalled
    /// (resubscribed; REST polling covers it). Binance sends a ticker every second.
    pub ws_stall_ms: u64,
    /// Request weight per minute the default exchange may get from this deployment (shared
    /// through Redis by every process); `None`: the exchange's own limit.
    pub weight_limit: Option<u32>,
    /// Symbols of the default exchange kept streamed (or polled) from start.
    pub warm_symbols: Vec<String>,
    /// Market types that may be loaded (`MARKET_TYPES`): `spot`, `swap`, `future`, `option`;
    /// derivative ones load on first use.
    pub market_types: Vec<String>,
}

impl Default for ExchangeSettings {
    fn default() -> Self {
        Self {
            name: "binance".into(),
            exchanges: Vec::new(),
            enable_rate_limit: true,
            rest_url: None,
            ws_url: None,
            rest_urls: Default::default(),
            ws_urls: Default::default(),
            failover: true,
            timeout: 10.0,
            max_concurrent_calls: 8,
            io_threads: 2,
            ticker_batch_ms: 0,
            ws_stall_ms: 10_000,
            weight_limit: None,
            warm_symbols: Vec::new(),
            market_types: vec!["spot".into(), "swap".into()],
        }
    }
}

impl ExchangeSettings {
    /// `MARKET_TYPES`, parsed (validated at load, so never empty here: the default then).
    pub fn market_types(&self) -> Vec<crypto_market_actors::model::MarketType> {
        crypto_market_actors::model::MarketType::parse_list(&self.market_types.join(","))
            .unwrap_or_else(|_| crypto_market_actors::model::DEFAULT_MARKET_TYPES.to_vec())
    }

    /// Where exchange `id`'s REST API is: `EXCHANGE_REST_URL` for the default exchange, else
    /// its entry in `EXCHANGE_REST_URLS`; `None`: the exchange's own.
    pub fn rest_url_of(&self, id: &str) -> Option<&str> {
        let own = (id == self.name)
            .then_some(self.rest_url.as_deref())
            .flatten();
        own.or_else(|| self.rest_urls.get(id).map(String::as_str))
    }

    /// The same for the websocket endpoint (`EXCHANGE_WS_URL`, `EXCHANGE_WS_URLS`).
    pub fn ws_url_of(&self, id: &str) -> Option<&str> {
        let own = (id == self.name)
            .then_some(self.ws_url.as_deref())
            .flatten();
        own.or_else(|| self.ws_urls.get(id).map(String::as_str))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheSettings {
    /// Seconds a cached value is fresh.
    pub ttl: u64,
    pub maxsize: usize,
    /// Seconds past which a value is too old even to be served stale; unset means
    /// [`DEFAULT_STALE_TTL`] or the TTL, whichever is longer.
    pub stale_ttl: Option<u64>,
    pub use_redis: bool,
}

/// Seconds a value may be served stale when `cache.stale_ttl` is not set.
pub const DEFAULT_STALE_TTL: u64 = 300;

impl CacheSettings {
    pub fn effective_stale_ttl(&self) -> u64 {
        self.stale_ttl.unwrap_or(DEFAULT_STALE_TTL.max(self.ttl))
    }
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            ttl: 10,
            maxsize: 2048,
            stale_ttl: None,
            use_redis: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisSettings {
    pub url: Option<Secret>,
    pub host: String,
    pub port: u16,
    pub db: u32,
    pub password: Option<Secret>,
    pub key_prefix: String,
    /// `standalone`, `sentinel` or `cluster` (`REDIS_MODE`).
    pub mode: String,
    /// `host:port` of the sentinels or the cluster's seed nodes (`REDIS_NODES`).
    pub nodes: Vec<String>,
    /// The master's name at the sentinels (`REDIS_SENTINEL_MASTER`).
    pub sentinel_master: String,
    /// PEM file of the CA that signed the Redis server's certificate (`rediss://` only).
    pub tls_ca: Option<std::path::PathBuf>,
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            url: None,
            host: "localhost".into(),
            port: 6379,
            db: 0,
            password: None,
            key_prefix: "crypto_mcp".into(),
            mode: "standalone".into(),
            nodes: Vec::new(),
            sentinel_master: "mymaster".into(),
            tls_ca: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PubSubSettings {
    pub enabled: bool,
    pub request_channel: String,
    pub response_channel: String,
    /// Seconds a pub/sub client waits for a reply.
    pub request_timeout: u64,
    /// The client key a gateway (`enabled`) presents to the pool for callers who bring none
    /// of their own (stdio, `MCP_AUTH_TOKEN` or open HTTP); HTTP callers with a key of
    /// `API_KEYS_FILE` present theirs.
    pub api_key: Option<Secret>,
    /// The pool's client id of `api_key` (its `[[client]] id`): a pool with keys replies to
    /// it only on channels under `{RESPONSE_CHANNEL}:{client_id}:`.
    pub client_id: Option<String>,
}

impl Default for PubSubSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            request_channel: "crypto_mcp:requests".into(),
            response_channel: "crypto_mcp:responses".into(),
            request_timeout: 10,
            api_key: None,
            client_id: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address for MCP over streamable HTTP (`--http`); stdio when unset.
    pub http: Option<String>,
    pub auth_token: Option<Secret>,
    /// Per-client keys and limits (`API_KEYS_FILE`).
    pub api_keys_file: Option<String>,
    /// tracing filter (`RUST_LOG`).
    pub log: String,
    /// Seconds after which an unused symbol actor stops.
    pub symbol_idle: u64,
    /// Resident memory (MB) over which idle exchange instances and cold symbols are shed
    /// (`MEMORY_TARGET_MB`); none by default.
    pub memory_target_mb: Option<u64>,
    /// Browser origins allowed besides the server's own (`MCP_ALLOWED_ORIGINS`), each
    /// `scheme://host[:port]`.
    pub allowed_origins: Vec<String>,
    /// MCP sessions open at once over HTTP, all clients together.
    pub max_sessions: usize,
    /// MCP sessions open at once per client key (per peer address without keys).
    pub max_sessions_per_client: usize,
    /// Seconds without traffic after which an HTTP session is closed.
    pub session_idle: u64,
    /// Resource subscriptions per session, by resolved (exchange, symbol).
    pub max_subscriptions: usize,
    /// The longest tool result's JSON; longer lists are cut (`MAX_RESULT_BYTES`).
    pub max_result_bytes: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            http: None,
            auth_token: None,
            api_keys_file: None,
            log: "info".into(),
            symbol_idle: 300,
            memory_target_mb: None,
            allowed_origins: Vec::new(),
            max_sessions: 10_000,
            max_sessions_per_client: 100,
            session_idle: 300,
            max_subscriptions: 500,
            max_result_bytes: crate::tools::limit::DEFAULT_MAX_RESULT_BYTES,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    pub addr: Option<String>,
}

impl ServerConfig {
    /// The clients of `API_KEYS_FILE`, when set; the error says what is wrong with the file.
    pub fn api_keys(&self) -> Result<Option<std::sync::Arc<crate::auth::ApiKeys>>, String> {
        let Some(path) = &self.server.api_keys_file else {
            return Ok(None);
        };
        let mut tools: Vec<&str> = crate::tools::TOOLS.iter().map(|t| t.name).collect();
        tools.push("status");
        crate::auth::ApiKeys::load(std::path::Path::new(path), &tools)
            .map(|keys| Some(std::sync::Arc::new(keys)))
    }

    /// Where Redis is: `REDIS_URL` when set, else built from host, port, db and password.
    pub fn redis_target(&self) -> crypto_market_actors::redis_target::RedisTarget {
        let url = match &self.redis.url {
            Some(url) => url.expose().to_owned(),
            None => {
                let auth = self
                    .redis
                    .password
                    .as_ref()
                    .map(|p| format!(":{}@", urlencode(p.expose())))
                    .unwrap_or_default();
                format!(
                    "redis://{auth}{}:{}/{}",
                    self.redis.host, self.redis.port, self.redis.db
                )
            }
        };
        let target = crypto_market_actors::redis_target::RedisTarget::new(
            url,
            self.redis.key_prefix.clone(),
        );
        let nodes = self.redis.nodes.clone();
        let target = target.with_topology(match self.redis.mode.as_str() {
            "sentinel" => Topology::Sentinel {
                nodes,
                master: self.redis.sentinel_master.clone(),
            },
            "cluster" => Topology::Cluster { nodes },
            _ => Topology::Standalone,
        });
        match &self.redis.tls_ca {
            Some(path) => target.with_tls_ca(path),
            None => target,
        }
    }

    /// The protocol settings of a pool client (`PubSubClient`).
    pub fn pubsub_client(&self, client_id: Option<String>) -> crate::client::PubSubConfig {
        crate::client::PubSubConfig {
            request_channel: self.pubsub.request_channel.clone(),
            response_channel: self.pubsub.response_channel.clone(),
            request_timeout: std::time::Duration::from_secs(self.pubsub.request_timeout),
            client_id,
        }
    }

    /// The exchanges requests may name, the default one first.
    pub fn enabled_exchanges(&self) -> Vec<String> {
        let mut list = vec![self.exchange.name.clone()];
        for id in &self.exchange.exchanges {
            if !list.contains(id) {
                list.push(id.clone());
            }
        }
        list
    }

    pub fn engine_config(&self) -> EngineConfig {
        /// Requests queued inside the engine before it answers "busy" (`rate_limited`): far
        /// above what a healthy server holds, well below what exhausts memory.
        const MAILBOX_CAPACITY: usize = 4096;
        let venues = self
            .enabled_exchanges()
            .into_iter()
            .map(|id| {
                let is_default = id == self.exchange.name;
                VenueConfig {
                    rest_url: self.exchange.rest_url_of(&id).map(str::to_owned),
                    ws_url: self.exchange.ws_url_of(&id).map(str::to_owned),
                    timeout: Duration::from_secs_f64(self.exchange.timeout),
                    enable_rate_limit: self.exchange.enable_rate_limit,
                    max_concurrent_calls: self.exchange.max_concurrent_calls,
                    ticker_batch_window: Duration::from_millis(self.exchange.ticker_batch_ms),
                    ws_stall_after: Duration::from_millis(self.exchange.ws_stall_ms),
                    weight_limit: if is_default {
                        self.exchange.weight_limit
                    } else {
                        None
                    },
                    market_types: self.exchange.market_types(),
                    id,
                }
            })
            .collect();
        EngineConfig {
            default_exchange: self.exchange.name.clone(),
            venues,
            cache_ttl: Duration::from_secs(self.cache.ttl),
            cache_stale_ttl: Duration::from_secs(self.cache.effective_stale_ttl()),
            cache_capacity: NonZeroUsize::new(self.cache.maxsize).unwrap_or(NonZeroUsize::MIN),
            symbol_idle_after: Duration::from_secs(self.server.symbol_idle),
            markets_refresh: Duration::from_secs(3600),
            io_threads: self.exchange.io_threads,
            mailbox_capacity: MAILBOX_CAPACITY,
            clock: Default::default(),
            remote_cache: self.cache.use_redis.then(|| self.redis_target()),
            failover: self.exchange.failover,
            memory_target_mb: self.server.memory_target_mb,
        }
    }
}

/// A setting with a value it does not accept.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid setting {key}{}: {problem}; accepted: {accepted}", env.map(|e| format!(" ({e})")).unwrap_or_default())]
pub struct ConfigError {
    pub key: String,
    pub env: Option<&'static str>,
    pub problem: String,
    pub accepted: &'static str,
}

impl ConfigError {
    pub fn new(key: &str, problem: impl Into<String>) -> Self {
        let setting = settings::find(key);
        Self {
            key: key.to_owned(),
            env: setting.map(|s| s.env),
            problem: problem.into(),
            accepted: setting.map_or("see README.md, Settings", |s| s.accepted),
        }
    }
}

/// Percent-encodes a password for the userinfo part of a URL.
fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}
