//! Redis Cluster: commands through the cluster client (it routes each to its slot's master and
//! follows MOVED/ASK and failovers); subscribers on any one node, as a cluster delivers a
//! classic `PUBLISH` to every node.

use std::sync::atomic::Ordering;
use std::time::Duration;

use redis::cluster_async::ClusterConnection;

use super::{install_crypto_provider, redacted, RedisSetupError, RedisTarget};

pub(super) async fn connect(
    target: &RedisTarget,
    nodes: &[String],
    response_timeout: Duration,
) -> Result<ClusterConnection, RedisSetupError> {
    let urls = nodes
        .iter()
        .map(|node| target.node_url(node))
        .collect::<Result<Vec<_>, _>>()?;
    if target.url.starts_with("rediss:") {
        install_crypto_provider();
    }
    let mut builder = redis::cluster::ClusterClientBuilder::new(urls)
        .response_timeout(response_timeout)
        .connection_timeout(target.connection_timeout)
        // The defaults wait 1.3 s and more between retries: longer than callers wait. A
        // failover (a replica promoted after cluster-node-timeout) is ridden out by retrying
        // often and briefly.
        .retries(8)
        .min_retry_wait(50)
        .max_retry_wait(500);
    if let Some(certificates) = target.certificates()? {
        builder = builder.certs(certificates);
    }
    let client = builder.build().map_err(|source| RedisSetupError::Url {
        url: redacted(&target.url),
        source,
    })?;
    client
        .get_async_connection()
        .await
        .map_err(|source| target.connect_error(source))
}

/// The seed nodes' URLs, in the order a subscriber should try them: from the one after the
/// last tried, so a dead seed is not the first choice forever.
pub(super) fn seeds(
    target: &RedisTarget,
    nodes: &[String],
) -> Result<Vec<String>, RedisSetupError> {
    let first = target.next_seed.fetch_add(1, Ordering::Relaxed);
    (0..nodes.len())
        .map(|i| target.node_url(&nodes[(first + i) % nodes.len()]))
        .collect()
}
