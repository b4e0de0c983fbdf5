//! The one GCRA (generic cell rate algorithm) of the product, run as a Redis script on Redis's
//! clock so that processes on different hosts agree: the exchanges' shared request-weight
//! budget (`cache::budget`) and each API client's request rate (the root crate's
//! `auth::ClientLimiter`) both take from it.
//!
//! A take of `weight` units moves the key's theoretical arrival time (TAT) on by
//! `weight * interval`; it is allowed while the TAT stays within `burst * interval` of now,
//! else refused with the wait until it would be. A budget shared by several processes also
//! names a pause (set after an exchange's 429/418, honoured by every process) and a sorted set
//! of the processes sharing it (their fallback share while Redis is down).

use std::sync::LazyLock;
use std::time::Duration;

use redis::aio::ConnectionLike;

/// KEYS: [1] the TAT (µs); with sharing, [2] the pause, [3] the sharers (sorted set by last
/// use). ARGV: [1] weight, [2] µs per unit, [3] burst units, [4] ms the TAT outlives a full
/// burst, [5] this node (with sharing). Returns {-1 or ms to wait, sharers (0 without)}.
const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local sharers = 0
if KEYS[3] then
  redis.call('ZADD', KEYS[3], now, ARGV[5])
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - 60000000)
  redis.call('PEXPIRE', KEYS[3], 120000)
  sharers = redis.call('ZCARD', KEYS[3])
  local paused = redis.call('PTTL', KEYS[2])
  if paused > 0 then return {paused, sharers} end
end
local weight = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + weight * interval
local allow_until = now + burst * interval
if new_tat > allow_until then
  return {math.max(1, math.ceil((new_tat - allow_until) / 1000)), sharers}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil(burst * interval / 1000) + tonumber(ARGV[4]))
return {-1, sharers}
";

/// Hashed once: every take runs it by its SHA (loading it on a server that lacks it).
static GCRA: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(SCRIPT));

/// A budget several processes share: the pause all of them honour and the set that counts
/// them. Its keys must share the TAT's Redis Cluster slot (a script may not span slots).
pub struct Sharing<'a> {
    pub pause_key: &'a str,
    pub sharers_key: &'a str,
    /// This process, as counted among the sharers.
    pub node: &'a str,
}

/// One take from a rate kept at `key`.
pub struct Take<'a> {
    /// Holds the TAT.
    pub key: &'a str,
    pub weight: u32,
    /// Time per unit, µs.
    pub interval_us: f64,
    /// Units that may be taken at once.
    pub burst: u32,
    /// How long the TAT outlives a full burst's worth of time (it is useless after that).
    pub linger: Duration,
    pub sharing: Option<Sharing<'a>>,
}

/// What Redis decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// `None`: taken; else how long until it would be (a pause's remainder while paused).
    pub wait: Option<Duration>,
    /// Processes that used the shared budget in the last minute (0 without [`Sharing`]).
    pub sharers: u32,
}

impl Take<'_> {
    /// Runs the take on `conn`.
    pub async fn run(&self, conn: &mut impl ConnectionLike) -> redis::RedisResult<Decision> {
        let mut invocation = GCRA.key(self.key);
        if let Some(sharing) = &self.sharing {
            invocation.key(sharing.pause_key).key(sharing.sharers_key);
        }
        let linger_ms = u64::try_from(self.linger.as_millis()).unwrap_or(u64::MAX);
        invocation
            .arg(self.weight)
            .arg(self.interval_us)
            .arg(self.burst)
            .arg(linger_ms);
        if let Some(sharing) = &self.sharing {
            invocation.arg(sharing.node);
        }
        let (wait_ms, sharers): (i64, u32) = invocation.invoke_async(conn).await?;
        Ok(Decision {
            wait: u64::try_from(wait_ms).ok().map(Duration::from_millis),
            sharers,
        })
    }
}
