use std::net::SocketAddr;
use std::path::PathBuf;

use config::{Config, File, FileFormat};
use crypto_market_actors::venue::ccxt::SUPPORTED_EXCHANGES;

use super::settings::SETTINGS;
use super::{ConfigError, ServerConfig};

/// Flags every binary shares. Each overrides the file and the environment.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CommonArgs {
    /// TOML settings file (keys as in README.md, e.g. [cache] ttl = 5).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Default exchange (EXCHANGE_NAME).
    #[arg(long, value_name = "ID")]
    pub exchange: Option<String>,
    /// Exchange REST base URL, e.g. a simulator (EXCHANGE_REST_URL).
    #[arg(long, value_name = "URL")]
    pub rest_url: Option<String>,
    /// Exchange websocket base URL (EXCHANGE_WS_URL).
    #[arg(long, value_name = "URL")]
    pub ws_url: Option<String>,
    /// Seconds a cached value is fresh (CACHE_TTL).
    #[arg(long, value_name = "SECONDS")]
    pub cache_ttl: Option<String>,
    /// Entries in the in-memory cache (CACHE_MAXSIZE).
    #[arg(long, value_name = "N")]
    pub cache_maxsize: Option<String>,
    /// Log filter (RUST_LOG).
    #[arg(long, value_name = "FILTER")]
    pub log: Option<String>,
    /// Any setting by its file key, e.g. --set exchange.timeout=2 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

impl CommonArgs {
    fn overrides(&self) -> Result<Vec<(String, String)>, ConfigError> {
        let named = [
            ("exchange.name", &self.exchange),
            ("exchange.rest_url", &self.rest_url),
            ("exchange.ws_url", &self.ws_url),
            ("cache.ttl", &self.cache_ttl),
            ("cache.maxsize", &self.cache_maxsize),
            ("server.log", &self.log),
        ];
        let mut out: Vec<(String, String)> = named
            .into_iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.to_owned(), v)))
            .collect();
        for pair in &self.set {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| ConfigError::new("--set", format!("{pair:?} is not KEY=VALUE")))?;
            if super::settings::find(key.trim()).is_none() {
                return Err(ConfigError::new(key.trim(), "no such setting"));
            }
            out.push((key.trim().to_owned(), value.to_owned()));
        }
        Ok(out)
    }
}

/// Builds the settings: defaults < `--config` file < environment (read through `env`) < flags.
pub fn load(
    args: &CommonArgs,
    env: impl Fn(&str) -> Option<String>,
) -> Result<ServerConfig, ConfigError> {
    let mut builder = Config::builder();
    if let Some(path) = &args.config {
        let path_text = path.display().to_string();
        if !path.is_file() {
            return Err(ConfigError {
                key: "--config".into(),
                env: None,
                problem: format!("{path_text} is not a readable file"),
                accepted: "a TOML file",
            });
        }
        builder = builder.add_source(File::new(&path_text, FileFormat::Toml).required(true));
    }
    let from_env = SETTINGS
        .iter()
        // An empty variable counts as unset, as shells and compose files often export them so.
        .filter_map(|s| {
            env(s.env)
                .filter(|v| !v.trim().is_empty())
                .map(|v| (s.key.to_owned(), v))
        });
    for (key, value) in from_env
        .collect::<Vec<_>>()
        .into_iter()
        .chain(args.overrides()?)
    {
        if key == "exchange.rest_urls" || key == "exchange.ws_urls" {
            // `id=url,id=url` → one entry per exchange, as a [exchange.rest_urls] table would.
            for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let (id, url) = pair
                    .split_once('=')
                    .ok_or_else(|| ConfigError::new(&key, format!("{pair:?} is not id=URL")))?;
                let id = id.trim();
                // The id becomes part of a `config` path: `.` would nest tables and `okx[N]`
                // would index an array, which `config` grows to N entries (an abort, not an
                // error, for a large N).
                if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(ConfigError::new(
                        &key,
                        format!("{id:?} is not an exchange id"),
                    ));
                }
                builder = builder
                    .set_override(format!("{key}.{id}"), url.trim())
                    .map_err(|e| ConfigError::new(&key, e.to_string()))?;
            }
            continue;
        }
        builder = if matches!(
            key.as_str(),
            "exchange.exchanges"
                | "exchange.warm_symbols"
                | "exchange.market_types"
                | "redis.nodes"
                | "server.allowed_origins"
        ) {
            let list: Vec<String> = value
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect();
            builder.set_override(key.as_str(), list)
        } else {
            builder.set_override(key.as_str(), value)
        }
        .map_err(|e| ConfigError::new(&key, e.to_string()))?;
    }
    let built = builder.build().map_err(|e| from_config_error(&e))?;
    let config: ServerConfig = built.try_deserialize().map_err(|e| from_config_error(&e))?;
    validate(&config)?;
    Ok(config)
}

/// Names the setting a `config` crate error is about, when its message says.
fn from_config_error(e: &config::ConfigError) -> ConfigError {
    let text = e.to_string();
    let key = SETTINGS
        .iter()
        .map(|s| s.key)
        .find(|key| text.contains(&format!("`{key}`")) || text.contains(key));
    match key {
        Some(key) => ConfigError::new(key, text),
        None => ConfigError {
            key: "config".into(),
            env: None,
            problem: text,
            accepted: "the keys listed in README.md, Settings",
        },
    }
}

fn check(ok: bool, key: &str, problem: impl FnOnce() -> String) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(ConfigError::new(key, problem()))
    }
}

fn check_url(key: &str, value: &Option<String>, schemes: &[&str]) -> Result<(), ConfigError> {
    let Some(value) = value else { return Ok(()) };
    let parsed = url::Url::parse(value)
        .map_err(|e| ConfigError::new(key, format!("{value:?} is not a URL ({e})")))?;
    check(
        schemes.contains(&parsed.scheme()) && parsed.host_str().is_some(),
        key,
        || format!("{value:?} has the wrong scheme or no host"),
    )
}

fn check_addr(key: &str, value: &Option<String>) -> Result<(), ConfigError> {
    match value {
        Some(v) => check(v.parse::<SocketAddr>().is_ok(), key, || {
            format!("{v:?} is not host:port")
        }),
        None => Ok(()),
    }
}

fn check_name(key: &str, value: &str) -> Result<(), ConfigError> {
    let ok = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.:{}".contains(c));
    check(ok, key, || {
        format!("{value:?} is empty or has spaces or odd characters")
    })
}

/// `REDIS_MODE` and what each mode needs: nodes for sentinel and cluster, a TCP URL (its host
/// is replaced by the nodes'), and db 0 in a cluster (a cluster has no other).
fn check_topology(c: &ServerConfig) -> Result<(), ConfigError> {
    let r = &c.redis;
    let mode = r.mode.as_str();
    check(
        matches!(mode, "standalone" | "sentinel" | "cluster"),
        "redis.mode",
        || format!("{mode:?} is not a mode"),
    )?;
    if let Some(bad) = r.nodes.iter().find(|n| {
        n.rsplit_once(':').is_none_or(|(host, port)| {
            host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0)
        })
    }) {
        return Err(ConfigError::new(
            "redis.nodes",
            format!("{bad:?} is not host:port"),
        ));
    }
    if mode == "standalone" {
        return Ok(());
    }
    check(!r.nodes.is_empty(), "redis.nodes", || {
        format!("REDIS_MODE={mode} needs the nodes")
    })?;
    let tcp = r
        .url
        .as_ref()
        .is_none_or(|u| u.expose().starts_with("redis://") || u.expose().starts_with("rediss://"));
    check(tcp, "redis.url", || {
        format!("REDIS_MODE={mode} needs a redis:// or rediss:// URL (or none)")
    })?;
    check(
        !r.sentinel_master.is_empty()
            && r.sentinel_master
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "_-.".contains(ch)),
        "redis.sentinel_master",
        || format!("{:?} is not a master name", r.sentinel_master),
    )?;
    if mode == "cluster" {
        let db = c
            .redis_target()
            .client()
            .map(|client| client.get_connection_info().redis_settings().db())
            .unwrap_or(0);
        check(db == 0, "redis.db", || {
            format!("{db}: a Redis Cluster has only database 0")
        })?;
    }
    Ok(())
}

fn validate(c: &ServerConfig) -> Result<(), ConfigError> {
    c.api_keys()
        .map_err(|problem| ConfigError::new("server.api_keys_file", problem))?;
    for id in c.enabled_exchanges() {
        let key = if id == c.exchange.name {
            "exchange.name"
        } else {
            "exchange.exchanges"
        };
        check(SUPPORTED_EXCHANGES.contains(&id.as_str()), key, || {
            format!("{id:?} is not an exchange this server was built with")
        })?;
    }
    check_url(
        "exchange.rest_url",
        &c.exchange.rest_url,
        &["http", "https"],
    )?;
    check_url("exchange.ws_url", &c.exchange.ws_url, &["ws", "wss"])?;
    let enabled = c.enabled_exchanges();
    for (key, urls, schemes) in [
        (
            "exchange.rest_urls",
            &c.exchange.rest_urls,
            &["http", "https"],
        ),
        ("exchange.ws_urls", &c.exchange.ws_urls, &["ws", "wss"]),
    ] {
        for (id, url) in urls {
            // A websocket URL for a venue without a feed would be accepted and never used.
            let has_feed = crypto_market_actors::venue::FEED_EXCHANGES.contains(&id.as_str());
            check(key != "exchange.ws_urls" || has_feed, key, || {
                format!(
                    "{id} has no websocket feed in this build (it streams by REST polling; feeds: {})",
                    crypto_market_actors::venue::FEED_EXCHANGES.join(", ")
                )
            })?;
            check(enabled.contains(id), key, || {
                format!(
                    "{id:?} is not an enabled exchange (EXCHANGES: {})",
                    enabled.join(",")
                )
            })?;
            check_url(key, &Some(url.clone()), schemes)?;
        }
    }
    let timeout = c.exchange.timeout;
    check(
        (0.05..=120.0).contains(&timeout),
        "exchange.timeout",
        || format!("{timeout} is out of range"),
    )?;
    let window = c.exchange.ticker_batch_ms;
    check(window <= 1000, "exchange.ticker_batch_ms", || {
        format!("{window} is out of range")
    })?;
    if let Some(limit) = c.exchange.weight_limit {
        check(
            (1..=1_000_000).contains(&limit),
            "exchange.weight_limit",
            || format!("{limit} is out of range"),
        )?;
    }
    if let Err(problem) =
        crypto_market_actors::model::MarketType::parse_list(&c.exchange.market_types.join(","))
    {
        return Err(ConfigError::new("exchange.market_types", problem));
    }
    let stall = c.exchange.ws_stall_ms;
    check(
        (100..=600_000).contains(&stall),
        "exchange.ws_stall_ms",
        || format!("{stall} is out of range"),
    )?;
    if let Some(bad) = c
        .exchange
        .warm_symbols
        .iter()
        .find(|s| s.trim().is_empty() || s.len() > 64)
    {
        return Err(ConfigError::new(
            "exchange.warm_symbols",
            format!("{bad:?} is not a symbol"),
        ));
    }
    let io_threads = c.exchange.io_threads;
    check(io_threads <= 64, "exchange.io_threads", || {
        format!("{io_threads} is out of range")
    })?;
    let calls = c.exchange.max_concurrent_calls;
    check(
        (1..=256).contains(&calls),
        "exchange.max_concurrent_calls",
        || format!("{calls} is out of range"),
    )?;
    check(c.cache.ttl <= 86_400, "cache.ttl", || {
        format!("{} is out of range", c.cache.ttl)
    })?;
    check(
        (1..=10_000_000).contains(&c.cache.maxsize),
        "cache.maxsize",
        || format!("{} is out of range", c.cache.maxsize),
    )?;
    if let Some(stale) = c.cache.stale_ttl {
        check(
            stale >= c.cache.ttl && stale <= 86_400,
            "cache.stale_ttl",
            || format!("{stale} is out of range"),
        )?;
    }
    if let Some(url) = &c.redis.url {
        let ok = url::Url::parse(url.expose())
            .is_ok_and(|u| matches!(u.scheme(), "redis" | "rediss" | "redis+unix" | "unix"));
        // The URL may hold a password: the message must not echo it.
        check(ok, "redis.url", || {
            "not a redis://, rediss:// or redis+unix:// URL".to_owned()
        })?;
    }
    if let Some(path) = &c.redis.tls_ca {
        let tls_url = c
            .redis
            .url
            .as_ref()
            .is_some_and(|u| u.expose().starts_with("rediss://"));
        check(tls_url, "redis.tls_ca", || {
            "is set but REDIS_URL is not a rediss:// URL".to_owned()
        })?;
        check(
            std::fs::File::open(path).is_ok_and(|f| f.metadata().is_ok_and(|m| m.is_file())),
            "redis.tls_ca",
            || format!("{} is not a readable file", path.display()),
        )?;
    }
    check(!c.redis.host.trim().is_empty(), "redis.host", || {
        "empty".to_owned()
    })?;
    check(c.redis.port != 0, "redis.port", || {
        "0 is not a port".to_owned()
    })?;
    check(c.redis.db <= 65_535, "redis.db", || {
        format!("{} is out of range", c.redis.db)
    })?;
    check_name("redis.key_prefix", &c.redis.key_prefix)?;
    check_topology(c)?;
    check_name("pubsub.request_channel", &c.pubsub.request_channel)?;
    check_name("pubsub.response_channel", &c.pubsub.response_channel)?;
    let wait = c.pubsub.request_timeout;
    check((1..=3600).contains(&wait), "pubsub.request_timeout", || {
        format!("{wait} is out of range")
    })?;
    check_addr("metrics.addr", &c.metrics.addr)?;
    check_addr("server.http", &c.server.http)?;
    if let Some(addr) = c
        .server
        .http
        .as_deref()
        .and_then(|a| a.parse::<SocketAddr>().ok())
    {
        check(
            addr.ip().is_loopback() || c.server.auth_token.is_some(),
            "server.http",
            || format!("{addr} is not a loopback address, which requires MCP_AUTH_TOKEN"),
        )?;
    }
    check(
        (1..=86_400).contains(&c.server.symbol_idle),
        "server.symbol_idle",
        || format!("{} is out of range", c.server.symbol_idle),
    )?;
    if let Some(mb) = c.server.memory_target_mb {
        check(
            (32..=1_048_576).contains(&mb),
            "server.memory_target_mb",
            || format!("{mb} is out of range"),
        )?;
    }
    check_front_limits(c)?;
    tracing_subscriber::EnvFilter::try_new(&c.server.log)
        .map(|_| ())
        .map_err(|e| ConfigError::new("server.log", format!("{:?}: {e}", c.server.log)))
}

/// The limits of the HTTP front (SPEC.md section 9) and its allowed origins.
fn check_front_limits(c: &ServerConfig) -> Result<(), ConfigError> {
    let s = &c.server;
    check(
        (1..=1_000_000).contains(&s.max_sessions),
        "server.max_sessions",
        || format!("{} is out of range", s.max_sessions),
    )?;
    check(
        (1..=s.max_sessions).contains(&s.max_sessions_per_client),
        "server.max_sessions_per_client",
        || format!("{} is out of range", s.max_sessions_per_client),
    )?;
    check(
        (1..=86_400).contains(&s.session_idle),
        "server.session_idle",
        || format!("{} is out of range", s.session_idle),
    )?;
    check(
        (1..=100_000).contains(&s.max_subscriptions),
        "server.max_subscriptions",
        || format!("{} is out of range", s.max_subscriptions),
    )?;
    check(
        (crate::tools::limit::MIN_MAX_RESULT_BYTES..=100_000_000).contains(&s.max_result_bytes),
        "server.max_result_bytes",
        || format!("{} is out of range", s.max_result_bytes),
    )?;
    let pool = &c.pubsub;
    check(
        pool.api_key.is_some() == pool.client_id.is_some(),
        "pubsub.client_id",
        || "PUBSUB_API_KEY and PUBSUB_CLIENT_ID go together".to_owned(),
    )?;
    if let Some(id) = &pool.client_id {
        let ok = !id.is_empty()
            && id.len() <= 64
            && id
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "-_.:".contains(ch));
        check(ok, "pubsub.client_id", || {
            format!("{id:?} is not a client id")
        })?;
    }
    for origin in &s.allowed_origins {
        check(
            crate::mcp::Origin::parse(origin).is_some(),
            "server.allowed_origins",
            || format!("{origin:?} is not scheme://host[:port]"),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load_with(args: CommonArgs, env: &[(&str, &str)]) -> Result<ServerConfig, ConfigError> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        load(&args, |name| env.get(name).cloned())
    }

    #[test]
    fn defaults_match_the_spec() {
        let c = load_with(CommonArgs::default(), &[]).unwrap();
        assert_eq!(
            (c.exchange.name.as_str(), c.exchange.enable_rate_limit),
            ("binance", true)
        );
        assert_eq!(
            (c.cache.ttl, c.cache.maxsize, c.cache.use_redis),
            (10, 2048, false)
        );
        assert_eq!(
            (c.redis.host.as_str(), c.redis.port, c.redis.db),
            ("localhost", 6379, 0)
        );
        assert_eq!(c.redis.key_prefix, "crypto_mcp");
        assert_eq!(
            (
                c.pubsub.request_channel.as_str(),
                c.pubsub.response_channel.as_str()
            ),
            ("crypto_mcp:requests", "crypto_mcp:responses")
        );
        assert_eq!((c.pubsub.request_timeout, c.pubsub.enabled), (10, false));
        assert_eq!(c.server.log, "info");
        assert_eq!(c.enabled_exchanges(), vec!["binance".to_owned()]);
        assert_eq!(c.cache.effective_stale_ttl(), 300);
    }

    #[test]
    fn a_long_ttl_stretches_the_default_stale_window_but_not_an_explicit_one() {
        let c = load_with(CommonArgs::default(), &[("CACHE_TTL", "3600")]).unwrap();
        assert_eq!(c.cache.effective_stale_ttl(), 3600);
        let err = load_with(
            CommonArgs::default(),
            &[("CACHE_TTL", "3600"), ("CACHE_STALE_TTL", "60")],
        )
        .unwrap_err();
        assert_eq!(err.key, "cache.stale_ttl");
    }

    #[test]
    fn layers_file_then_env_then_flags() {
        let dir = std::env::temp_dir().join(format!("cmm-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("settings.toml");
        std::fs::write(
            &file,
            "[cache]\nttl = 3\nmaxsize = 10\n[redis]\nkey_prefix = \"filep\"\n",
        )
        .unwrap();
        let args = CommonArgs {
            config: Some(file.clone()),
            cache_ttl: Some("7".into()),
            ..Default::default()
        };
        let c = load_with(
            args,
            &[
                ("CACHE_TTL", "5"),
                ("CACHE_MAXSIZE", "20"),
                ("EXCHANGES", "binance, binance"),
            ],
        )
        .unwrap();
        assert_eq!(c.cache.ttl, 7, "flag beats env");
        assert_eq!(c.cache.maxsize, 20, "env beats file");
        assert_eq!(c.redis.key_prefix, "filep", "file beats default");
        assert_eq!(c.enabled_exchanges(), vec!["binance".to_owned()]);
        std::fs::remove_dir_all(dir).ok();
    }

    /// `MARKET_TYPES` (SPEC.md 4.1): default `spot,swap`, a list, an unknown type refused
    /// naming the setting and what it accepts.
    #[test]
    fn market_types_default_parse_and_refuse_unknown_types() {
        use crypto_market_actors::model::MarketType;
        let c = load_with(CommonArgs::default(), &[]).unwrap();
        assert_eq!(
            c.engine_config().venues[0].market_types,
            vec![MarketType::Spot, MarketType::Swap]
        );
        let c = load_with(
            CommonArgs::default(),
            &[("MARKET_TYPES", "future, spot,swap")],
        )
        .unwrap();
        assert_eq!(
            c.engine_config().venues[0].market_types,
            vec![MarketType::Spot, MarketType::Swap, MarketType::Future]
        );
        let e = load_with(CommonArgs::default(), &[("MARKET_TYPES", "spot,perp")]).unwrap_err();
        assert_eq!(e.key, "exchange.market_types");
        let line = e.to_string();
        assert!(
            line.contains("MARKET_TYPES") && line.contains("perp"),
            "{line}"
        );
    }

    #[test]
    fn per_exchange_urls_point_each_enabled_exchange_elsewhere() {
        let c = load_with(
            CommonArgs::default(),
            &[
                ("EXCHANGES", "okx,kraken"),
                ("EXCHANGE_REST_URL", "http://127.0.0.1:9000"),
                (
                    "EXCHANGE_REST_URLS",
                    "okx=http://127.0.0.1:9001, kraken = http://127.0.0.1:9003,binance=http://x:1",
                ),
                ("EXCHANGE_WS_URLS", "binance=ws://127.0.0.1:9000"),
                ("FAILOVER", "false"),
            ],
        )
        .unwrap();
        let venues = c.engine_config().venues;
        let urls: Vec<(&str, Option<&str>, Option<&str>)> = venues
            .iter()
            .map(|v| (v.id.as_str(), v.rest_url.as_deref(), v.ws_url.as_deref()))
            .collect();
        assert_eq!(
            urls,
            vec![
                (
                    "binance",
                    Some("http://127.0.0.1:9000"),
                    Some("ws://127.0.0.1:9000")
                ),
                ("okx", Some("http://127.0.0.1:9001"), None),
                ("kraken", Some("http://127.0.0.1:9003"), None),
            ],
            "EXCHANGE_REST_URL wins for the default exchange"
        );
        assert!(!c.engine_config().failover);
        assert!(
            load_with(CommonArgs::default(), &[])
                .unwrap()
                .exchange
                .failover
        );

        for (env, value) in [
            ("EXCHANGE_REST_URLS", "okx=http://127.0.0.1:9001"),
            ("EXCHANGE_REST_URLS", "binance"),
            // Found writing the settings fuzz target: `config` read the id as a path and grew
            // an array to 2^32 entries (the process aborted instead of naming the setting).
            (
                "EXCHANGE_REST_URLS",
                "okx[4294967296]=http://127.0.0.1:9001",
            ),
            ("EXCHANGE_WS_URLS", "binance.x=ws://127.0.0.1:9000"),
            ("EXCHANGE_REST_URLS", "binance=ws://127.0.0.1:1"),
            ("EXCHANGE_WS_URLS", "binance=http://127.0.0.1:1"),
            // Every built-in venue streams now: a websocket URL of one not enabled is refused.
            (
                "EXCHANGE_WS_URLS",
                "binance=ws://127.0.0.1:1,okx=ws://127.0.0.1:2",
            ),
        ] {
            let err = load_with(CommonArgs::default(), &[(env, value)]).unwrap_err();
            assert!(err.to_string().contains(env), "{env}={value}: {err}");
        }
    }

    #[test]
    fn bad_values_name_the_setting_and_accepted_values() {
        let cases: &[(&str, &str, &str)] = &[
            ("CACHE_TTL", "abc", "cache.ttl"),
            ("CACHE_TTL", "100000", "cache.ttl"),
            ("CACHE_MAXSIZE", "0", "cache.maxsize"),
            ("ENABLE_RATE_LIMIT", "maybe", "exchange.enable_rate_limit"),
            ("EXCHANGE_NAME", "simulated", "exchange.name"),
            ("EXCHANGE_REST_URL", "ftp://x", "exchange.rest_url"),
            ("REDIS_PORT", "70000", "redis.port"),
            ("REDIS_URL", "http://user:hunter2@host", "redis.url"),
            ("METRICS_ADDR", "nowhere", "metrics.addr"),
            ("RUST_LOG", "info,[", "server.log"),
            ("MCP_MAX_SESSIONS", "0", "server.max_sessions"),
            (
                "MCP_MAX_SESSIONS_PER_CLIENT",
                "20000",
                "server.max_sessions_per_client",
            ),
            ("MCP_SESSION_IDLE_S", "0", "server.session_idle"),
            ("MCP_MAX_SUBSCRIPTIONS", "many", "server.max_subscriptions"),
            ("MAX_RESULT_BYTES", "100", "server.max_result_bytes"),
            ("MEMORY_TARGET_MB", "8", "server.memory_target_mb"),
            ("MEMORY_TARGET_MB", "lots", "server.memory_target_mb"),
            (
                "MCP_ALLOWED_ORIGINS",
                "app.example.com",
                "server.allowed_origins",
            ),
            (
                "MCP_ALLOWED_ORIGINS",
                "https://a.example/path",
                "server.allowed_origins",
            ),
        ];
        for (env, value, key) in cases {
            let err = load_with(CommonArgs::default(), &[(env, value)]).unwrap_err();
            assert_eq!(err.key, *key, "{env}={value}: {err}");
            let line = err.to_string();
            assert!(line.contains(env) && line.contains("accepted:"), "{line}");
            assert!(!line.contains("hunter2"), "secrets never echoed: {line}");
            assert!(!line.contains('\n'), "one line: {line}");
        }
    }

    #[test]
    fn unknown_file_keys_and_set_keys_are_rejected() {
        let args = CommonArgs {
            set: vec!["cache.ttll=3".into()],
            ..Default::default()
        };
        assert!(load_with(args, &[]).is_err());
        let args = CommonArgs {
            set: vec!["exchange.timeout=0.5".into()],
            ..Default::default()
        };
        assert_eq!(load_with(args, &[]).unwrap().exchange.timeout, 0.5);
        // Found by the settings fuzz target: `--set ""` was reported as "invalid setting :"
        // (the value, empty, stood where the setting's name goes).
        for bad in ["", "cache.ttl"] {
            let args = CommonArgs {
                set: vec![bad.into()],
                ..Default::default()
            };
            let error = load_with(args, &[]).unwrap_err();
            assert_eq!(error.key, "--set", "{error}");
            assert!(error.to_string().contains(&format!("{bad:?}")), "{error}");
        }
    }

    #[test]
    fn redis_modes_are_checked_and_need_their_nodes() {
        use crypto_market_actors::redis_target::Topology;
        let c = load_with(CommonArgs::default(), &[]).unwrap();
        assert_eq!(c.redis_target().topology(), &Topology::Standalone);
        let bad = load_with(CommonArgs::default(), &[("REDIS_MODE", "replicated")]).unwrap_err();
        assert_eq!(bad.key, "redis.mode");
        let text = bad.to_string();
        assert!(
            text.contains("REDIS_MODE") && text.contains("standalone, sentinel or cluster"),
            "{text}"
        );
        for mode in ["sentinel", "cluster"] {
            let missing = load_with(CommonArgs::default(), &[("REDIS_MODE", mode)]).unwrap_err();
            assert_eq!(missing.key, "redis.nodes", "{mode}");
            assert!(missing.to_string().contains("REDIS_NODES"));
        }
        let odd = load_with(
            CommonArgs::default(),
            &[
                ("REDIS_MODE", "cluster"),
                ("REDIS_NODES", "10.0.0.1:7000,10.0.0.2"),
            ],
        )
        .unwrap_err();
        assert_eq!(odd.key, "redis.nodes");
        let c = load_with(
            CommonArgs::default(),
            &[
                ("REDIS_MODE", "sentinel"),
                ("REDIS_NODES", "s1:26379, s2:26379"),
                ("REDIS_PASSWORD", "hunter2"),
            ],
        )
        .unwrap();
        let target = c.redis_target();
        assert_eq!(
            target.topology(),
            &Topology::Sentinel {
                nodes: vec!["s1:26379".into(), "s2:26379".into()],
                master: "mymaster".into()
            }
        );
        assert!(!format!("{target:?}").contains("hunter2"));
        let cluster_db = load_with(
            CommonArgs::default(),
            &[
                ("REDIS_MODE", "cluster"),
                ("REDIS_NODES", "n1:7000"),
                ("REDIS_DB", "3"),
            ],
        )
        .unwrap_err();
        assert_eq!(cluster_db.key, "redis.db");
        let unix = load_with(
            CommonArgs::default(),
            &[
                ("REDIS_MODE", "cluster"),
                ("REDIS_NODES", "n1:7000"),
                ("REDIS_URL", "redis+unix:///tmp/redis.sock"),
            ],
        )
        .unwrap_err();
        assert_eq!(unix.key, "redis.url");
    }

    #[test]
    fn a_rediss_url_is_accepted_and_its_password_stays_out_of_debug() {
        let url = "rediss://default:hunter2@redis.example.com:6380/0";
        let c = load_with(
            CommonArgs::default(),
            &[("REDIS_URL", url), ("USE_REDIS_CACHE", "true")],
        )
        .unwrap();
        assert_eq!(c.redis.url.as_ref().map(|u| u.expose()), Some(url));
        let target = c.redis_target();
        for debug in [format!("{c:?}"), format!("{target:?}")] {
            assert!(!debug.contains("hunter2"), "{debug}");
        }
        assert!(format!("{target:?}").contains("rediss://"));
        let insecure = "rediss://127.0.0.1:6380/#insecure";
        let c = load_with(CommonArgs::default(), &[("REDIS_URL", insecure)]).unwrap();
        assert_eq!(c.redis.url.as_ref().map(|u| u.expose()), Some(insecure));
    }

    #[test]
    fn a_tls_ca_needs_a_rediss_url_and_a_readable_file() {
        let dir = std::env::temp_dir().join(format!("cmm-tls-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\n").unwrap();
        let ca = ca.display().to_string();
        let tls = "rediss://redis.example.com:6380/0";
        let c = load_with(
            CommonArgs::default(),
            &[("REDIS_URL", tls), ("REDIS_TLS_CA", &ca)],
        )
        .unwrap();
        assert_eq!(c.redis.tls_ca.as_deref(), Some(std::path::Path::new(&ca)));
        let plain = load_with(
            CommonArgs::default(),
            &[
                ("REDIS_URL", "redis://localhost:6379"),
                ("REDIS_TLS_CA", &ca),
            ],
        )
        .unwrap_err();
        assert_eq!(plain.key, "redis.tls_ca");
        assert!(plain.to_string().contains("REDIS_TLS_CA"), "{plain}");
        let missing = load_with(
            CommonArgs::default(),
            &[("REDIS_URL", tls), ("REDIS_TLS_CA", "/nonexistent/ca.pem")],
        )
        .unwrap_err();
        assert_eq!(missing.key, "redis.tls_ca");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let c = load_with(
            CommonArgs::default(),
            &[("REDIS_PASSWORD", "hunter2"), ("MCP_AUTH_TOKEN", "tok-123")],
        )
        .unwrap();
        let debug = format!("{c:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("tok-123"),
            "{debug}"
        );
        assert_eq!(
            c.redis.password.as_ref().map(|s| s.expose()),
            Some("hunter2")
        );
    }
}
