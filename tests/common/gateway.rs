//! An MCP gateway (`PUBSUB_ENABLED`) to a worker pool, as the gateway tests start and watch it.

use std::time::{Duration, Instant};

use crypto_market_sim::SimHandle;
use rmcp::model::SubscribeRequestParams;

use super::{start_server_with, McpServer, Recorder};

/// The gateway's own exchange: nowhere. Were it to call an exchange itself, it would find
/// nothing there.
pub const NO_EXCHANGE: &str = "http://127.0.0.1:9";

/// A gateway's settings: the pool on `redis_url`, no exchange of its own, and `extra`.
pub fn gateway_env<'a>(
    redis_url: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![
        ("PUBSUB_ENABLED", "true"),
        ("REDIS_URL", redis_url),
        ("EXCHANGE_REST_URL", NO_EXCHANGE),
    ];
    env.extend_from_slice(extra);
    env
}

/// A gateway to the pool on `redis_url` over stdio, recording its notifications.
pub async fn start_recorded_gateway(
    sim: &SimHandle,
    redis_url: &str,
) -> (McpServer<Recorder>, Recorder) {
    let recorder = Recorder::default();
    let gateway = start_server_with(sim, &gateway_env(redis_url, &[]), recorder.clone()).await;
    (gateway, recorder)
}

/// Subscribes to `uri` (`resources/subscribe`) and waits for `n` updates of it, at most
/// `within`.
#[allow(
    deprecated,
    reason = "resources/subscribe: what `initialize` sessions speak"
)]
pub async fn subscribe_for_updates(
    gateway: &McpServer<Recorder>,
    recorder: &Recorder,
    uri: &str,
    n: usize,
    within: Duration,
) {
    gateway
        .client
        .subscribe(SubscribeRequestParams::new(uri))
        .await
        .expect("subscribed");
    let deadline = Instant::now() + within;
    while recorder.updates_of(uri).len() < n {
        assert!(Instant::now() < deadline, "{n} resource updates of {uri}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
