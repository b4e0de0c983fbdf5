//! Set-up the load-generating benchmarks share (`redis_topologies`, `worker_pool`, `venues`,
//! `derivatives`; `five_venues`: the server over the five venues' simulators):
//! their settings from the environment, the runtime they run on, a pool of release
//! `crypto-market-worker`s that dies with the benchmark, and the pool's client.

#![allow(
    dead_code,
    reason = "each benchmark uses a different part of this module"
)]

pub mod five_venues;

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use crypto_market_actors::redis_target::RedisTarget;
use crypto_market_mcp::client::{PubSubClient, PubSubConfig};
use crypto_market_sim::SimHandle;
use tokio::process::{Child, Command};

pub const WORKER: &str = env!("CARGO_BIN_EXE_crypto-market-worker");

/// A positive whole number from the environment (`BENCH_CALLS=100`), else `default`.
pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|v| *v > 0)
        .unwrap_or(default)
}

/// A positive finite number from the environment (`BENCH_SECONDS=0.5`), else `default`.
pub fn env_fraction(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|v: &f64| v.is_finite() && *v > 0.0)
        .unwrap_or(default)
}

/// Runs `bench` on a runtime of one worker thread (the machine's other core is the
/// processes' under test).
pub fn run_on_one_thread(bench: impl std::future::Future<Output = ()>) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(bench);
}

/// Worker processes, killed when dropped.
pub struct Pool(Vec<Child>);

impl Drop for Pool {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.start_kill();
        }
    }
}

/// `n` release workers on `sim`'s exchange sharing the Redis cache (an hour's TTL), without
/// rate limits, two exchange calls at once each (ticker misses batch 20 a call: ten workers'
/// instance pools must not swamp two cores), logging at `BENCH_WORKER_LOG` (else `log`);
/// `env` says where Redis is, and anything else.
pub fn start_workers(sim: &SimHandle, n: usize, env: &[(&str, String)], log: &str) -> Pool {
    let children = (0..n)
        .map(|_| {
            let mut cmd = Command::new(WORKER);
            cmd.env("EXCHANGE_REST_URL", sim.rest_url())
                .env("USE_REDIS_CACHE", "true")
                .env("CACHE_TTL", "3600")
                .env("ENABLE_RATE_LIMIT", "false")
                .env("EXCHANGE_MAX_CONCURRENT_CALLS", "2")
                .env(
                    "RUST_LOG",
                    std::env::var("BENCH_WORKER_LOG").unwrap_or_else(|_| log.into()),
                )
                .env_remove("RUST_BACKTRACE")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .kill_on_drop(true);
            for (key, value) in env {
                cmd.env(key, value);
            }
            cmd.spawn().expect("worker starts")
        })
        .collect();
    Pool(children)
}

/// The pool's client on the product's channels, as `client_id` (request ids are
/// `{client_id}-{n}` and a worker answers an id once: a new id for each fresh client).
pub async fn pool_client(target: RedisTarget, client_id: String) -> Arc<PubSubClient> {
    let config = PubSubConfig {
        request_channel: "crypto_mcp:requests".into(),
        response_channel: "crypto_mcp:responses".into(),
        request_timeout: Duration::from_secs(30),
        client_id: Some(client_id),
    };
    Arc::new(
        PubSubClient::connect(target, config)
            .await
            .expect("client connects"),
    )
}
