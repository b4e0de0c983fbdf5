//! Every setting: its key in the config file, its environment variable, and what it accepts.
//! The single source for env mapping, error messages and the README's settings table.

pub struct Setting {
    pub key: &'static str,
    pub env: &'static str,
    pub accepted: &'static str,
}

const fn s(key: &'static str, env: &'static str, accepted: &'static str) -> Setting {
    Setting { key, env, accepted }
}

pub const SETTINGS: &[Setting] = &[
    s(
        "exchange.name",
        "EXCHANGE_NAME",
        "a ccxt exchange id built into this server (binance, okx, bybit, kraken, coinbase)",
    ),
    s(
        "exchange.exchanges",
        "EXCHANGES",
        "comma-separated exchange ids built into this server (binance, okx, bybit, kraken, coinbase)",
    ),
    s(
        "exchange.enable_rate_limit",
        "ENABLE_RATE_LIMIT",
        "true or false",
    ),
    s(
        "exchange.rest_url",
        "EXCHANGE_REST_URL",
        "an http:// or https:// URL such as http://127.0.0.1:9000",
    ),
    s(
        "exchange.ws_url",
        "EXCHANGE_WS_URL",
        "a ws:// or wss:// URL such as ws://127.0.0.1:9000",
    ),
    s(
        "exchange.rest_urls",
        "EXCHANGE_REST_URLS",
        "comma-separated id=URL pairs of enabled exchanges, e.g. okx=http://127.0.0.1:9001",
    ),
    s(
        "exchange.ws_urls",
        "EXCHANGE_WS_URLS",
        "comma-separated id=URL pairs of enabled exchanges with a websocket feed (binance, kraken, coinbase, okx, bybit), e.g. binance=ws://127.0.0.1:9000",
    ),
    s("exchange.failover", "FAILOVER", "true or false"),
    s(
        "exchange.timeout",
        "EXCHANGE_TIMEOUT",
        "seconds from 0.05 to 120",
    ),
    s(
        "exchange.max_concurrent_calls",
        "EXCHANGE_MAX_CONCURRENT_CALLS",
        "a whole number from 1 to 256",
    ),
    s(
        "exchange.io_threads",
        "EXCHANGE_IO_THREADS",
        "a whole number from 0 to 64 (0: exchange calls on the actors' thread)",
    ),
    s(
        "exchange.ticker_batch_ms",
        "EXCHANGE_TICKER_BATCH_MS",
        "whole milliseconds from 0 to 1000",
    ),
    s(
        "exchange.weight_limit",
        "EXCHANGE_WEIGHT_LIMIT",
        "a whole number of request weight per minute from 1 to 1000000 (default: the exchange's own, Binance 6000)",
    ),
    s(
        "exchange.ws_stall_ms",
        "EXCHANGE_WS_STALL_MS",
        "whole milliseconds from 100 to 600000",
    ),
    s(
        "exchange.warm_symbols",
        "WARM_SYMBOLS",
        "comma-separated symbols of the default exchange, e.g. BTC/USDT,ETH/USDT",
    ),
    s(
        "exchange.market_types",
        "MARKET_TYPES",
        "comma-separated market types from spot, swap, future, option (default spot,swap)",
    ),
    s("cache.ttl", "CACHE_TTL", "whole seconds from 0 to 86400"),
    s(
        "cache.maxsize",
        "CACHE_MAXSIZE",
        "a whole number of entries from 1 to 10000000",
    ),
    s(
        "cache.stale_ttl",
        "CACHE_STALE_TTL",
        "whole seconds from cache.ttl to 86400",
    ),
    s("cache.use_redis", "USE_REDIS_CACHE", "true or false"),
    s(
        "redis.url",
        "REDIS_URL",
        "a redis://, rediss:// (TLS) or redis+unix:// URL",
    ),
    s("redis.host", "REDIS_HOST", "a host name or IP address"),
    s("redis.port", "REDIS_PORT", "a port from 1 to 65535"),
    s("redis.db", "REDIS_DB", "a database number from 0 to 65535"),
    s("redis.password", "REDIS_PASSWORD", "any string"),
    s(
        "redis.tls_ca",
        "REDIS_TLS_CA",
        "a readable PEM file, with a rediss:// REDIS_URL",
    ),
    s(
        "redis.mode",
        "REDIS_MODE",
        "standalone, sentinel or cluster",
    ),
    s(
        "redis.nodes",
        "REDIS_NODES",
        "comma-separated host:port: the sentinels (sentinel mode) or seed nodes (cluster mode)",
    ),
    s(
        "redis.sentinel_master",
        "REDIS_SENTINEL_MASTER",
        "the name the sentinels monitor the master under (letters, digits and _ - .)",
    ),
    s(
        "redis.key_prefix",
        "KEY_PREFIX",
        "letters, digits and _ - . : (no spaces)",
    ),
    s("pubsub.enabled", "PUBSUB_ENABLED", "true or false"),
    s(
        "pubsub.request_channel",
        "REQUEST_CHANNEL",
        "a Redis key without spaces",
    ),
    s(
        "pubsub.response_channel",
        "RESPONSE_CHANNEL",
        "a Redis channel without spaces",
    ),
    s(
        "pubsub.request_timeout",
        "REQUEST_TIMEOUT",
        "whole seconds from 1 to 3600",
    ),
    s(
        "pubsub.api_key",
        "PUBSUB_API_KEY",
        "a client key of the pool's API_KEYS_FILE (the gateway presents it for callers without one)",
    ),
    s(
        "pubsub.client_id",
        "PUBSUB_CLIENT_ID",
        "the [[client]] id of PUBSUB_API_KEY in the pool's API_KEYS_FILE (letters, digits and - _ . :)",
    ),
    s(
        "metrics.addr",
        "METRICS_ADDR",
        "host:port such as 127.0.0.1:9100",
    ),
    s(
        "server.http",
        "MCP_HTTP_ADDR",
        "host:port such as 127.0.0.1:8080",
    ),
    s("server.auth_token", "MCP_AUTH_TOKEN", "a bearer token"),
    s(
        "server.api_keys_file",
        "API_KEYS_FILE",
        "a TOML file of [[client]] tables: id, key_sha256, rate_per_s, burst (+ optional tools)",
    ),
    s(
        "server.allowed_origins",
        "MCP_ALLOWED_ORIGINS",
        "comma-separated origins scheme://host[:port], e.g. https://app.example.com",
    ),
    s(
        "server.max_sessions",
        "MCP_MAX_SESSIONS",
        "a whole number from 1 to 1000000",
    ),
    s(
        "server.max_sessions_per_client",
        "MCP_MAX_SESSIONS_PER_CLIENT",
        "a whole number from 1 to MCP_MAX_SESSIONS",
    ),
    s(
        "server.session_idle",
        "MCP_SESSION_IDLE_S",
        "whole seconds from 1 to 86400",
    ),
    s(
        "server.max_subscriptions",
        "MCP_MAX_SUBSCRIPTIONS",
        "a whole number from 1 to 100000",
    ),
    s(
        "server.max_result_bytes",
        "MAX_RESULT_BYTES",
        "a whole number of bytes from 16384 to 100000000",
    ),
    s(
        "server.log",
        "RUST_LOG",
        "a tracing filter such as info or crypto_market_mcp=debug",
    ),
    s(
        "server.symbol_idle",
        "SYMBOL_IDLE_TIMEOUT",
        "whole seconds from 1 to 86400",
    ),
    s(
        "server.memory_target_mb",
        "MEMORY_TARGET_MB",
        "whole megabytes from 32 to 1048576",
    ),
];

/// Every environment variable the settings are read from (the `env` column of [`SETTINGS`], in
/// its order). The loader reads the environment only through [`SETTINGS`], so nothing else is a
/// setting; deployment files are checked against this list.
pub const ENV_NAMES: &[&str] = &ENV_NAME_ARRAY;

const ENV_NAME_ARRAY: [&str; SETTINGS.len()] = {
    let mut names = [""; SETTINGS.len()];
    let mut i = 0;
    while i < SETTINGS.len() {
        names[i] = SETTINGS[i].env;
        i += 1;
    }
    names
};

pub fn find(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.key == key)
}

#[cfg(test)]
mod tests {
    use super::{ENV_NAMES, SETTINGS};

    #[test]
    fn env_names_are_exactly_what_the_loader_reads() {
        // Every variable the loader asks the environment for, recorded.
        let asked = std::sync::Mutex::new(Vec::new());
        let dir = std::env::temp_dir().join(format!("cmm-env-names-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, "not read by the loader").unwrap();
        let ca = ca.display().to_string();
        let loaded = crate::config::load(&Default::default(), |name| {
            asked.lock().unwrap().push(name.to_owned());
            // Values that pass validation together, so every setting is read and checked.
            match name {
                "REDIS_URL" => Some("rediss://:pw@redis.example.com:6380/0".to_owned()),
                "REDIS_TLS_CA" => Some(ca.clone()),
                _ => None,
            }
        });
        std::fs::remove_dir_all(&dir).ok();
        loaded.expect("valid settings");
        let mut asked = asked.into_inner().unwrap();
        asked.sort();
        asked.dedup();
        let mut names: Vec<String> = ENV_NAMES.iter().map(|s| s.to_string()).collect();
        names.sort();
        assert_eq!(asked, names);
        let unique: std::collections::HashSet<_> = ENV_NAMES.iter().collect();
        assert_eq!(unique.len(), ENV_NAMES.len(), "no name twice");
    }

    #[test]
    fn readme_documents_every_setting_and_ci_runs_its_test_command() {
        let readme = include_str!("../../README.md");
        for setting in SETTINGS {
            assert!(
                readme.contains(&format!("`{}`", setting.env)),
                "README.md lacks {}",
                setting.env
            );
            // The full file key, as the table spells it (a prefix such as "redis" is in the
            // README anyway and would hide an undocumented key).
            assert!(
                readme.contains(&format!("`{}`", setting.key)),
                "README.md lacks the file key {}",
                setting.key
            );
        }
        let ci = include_str!("../../.ci/run");
        assert!(
            readme.contains("cargo test --workspace") && ci.contains("\ncargo test --workspace")
        );
    }
}
