//! [`RedisConn`]: the one connection type every Redis user holds, whatever the topology. It is
//! cheap to clone (a handle on one multiplexed connection) and implements
//! `redis::aio::ConnectionLike`, so commands, pipelines and scripts are written once.

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::{Cmd, Pipeline, RedisFuture, Value};

use super::sentinel::SentinelConn;

#[derive(Clone)]
pub enum RedisConn {
    /// One server: reconnects by itself.
    Single(ConnectionManager),
    /// The master the sentinels name: asks them again after a failover.
    Sentinel(SentinelConn),
    /// A Redis Cluster: routes each command to its slot's master, follows MOVED/ASK and
    /// failovers (keys of one command or script must share a slot: see the `{...}` tags).
    Cluster(redis::cluster_async::ClusterConnection),
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(conn) => conn.req_packed_command(cmd),
            Self::Sentinel(conn) => conn.req_packed_command(cmd),
            Self::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Sentinel(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(conn) => conn.get_db(),
            Self::Sentinel(conn) => conn.get_db(),
            Self::Cluster(conn) => conn.get_db(),
        }
    }
}
