//! The exchange's request-weight budget shared through Redis by every process on one IP: a
//! GCRA over weight units on Redis's clock, a pause every process honours after a 429/418,
//! and a count of the processes sharing it (for their fallback share while Redis is down).

use std::time::Duration;

use async_trait::async_trait;

use super::RemoteCache;
use crate::venue::SharedBudget;

/// KEYS: [1] the GCRA time (µs), [2] the pause, [3] the sharers (sorted set by last use).
/// ARGV: [1] weight, [2] µs per unit, [3] burst units, [4] this node.
/// Returns {-1 or ms to wait, sharers}.
const TAKE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZADD', KEYS[3], now, ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - 60000000)
redis.call('PEXPIRE', KEYS[3], 120000)
local sharers = redis.call('ZCARD', KEYS[3])
local paused = redis.call('PTTL', KEYS[2])
if paused > 0 then return {paused, sharers} end
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
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil(burst * interval / 1000) + 60000)
return {-1, sharers}
";

/// How long a budget decision waits for Redis before this process decides alone (with its
/// share): longer than a cache read may wait, as a wrong "yes" risks the exchange's 429.
const PATIENCE: Duration = Duration::from_secs(1);

/// Sets the pause unless a longer one is in force.
const PAUSE: &str = r"
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return 1
";

impl RemoteCache {
    /// `{prefix}:budget:{{exchange}}:{part}`: the exchange in a hash tag, so the keys TAKE
    /// touches together live in one Redis Cluster slot (a script may not span slots).
    fn budget_key(&self, exchange: &str, part: &str) -> String {
        format!("{}:budget:{{{exchange}}}:{part}", self.target().key_prefix)
    }
}

#[async_trait]
impl SharedBudget for RemoteCache {
    async fn take(
        &self,
        exchange: &str,
        weight: u32,
        per_minute: u32,
        burst: u32,
    ) -> Option<(Result<(), Duration>, u32)> {
        let interval_us = 60_000_000.0 / f64::from(per_minute.max(1));
        let keys = [
            self.budget_key(exchange, "gcra"),
            self.budget_key(exchange, "pause"),
            self.budget_key(exchange, "sharers"),
        ];
        let (keys, node) = (&keys, &self.node);
        let (wait_ms, sharers): (i64, u32) = self
            .run_patiently(PATIENCE, |mut conn| async move {
                redis::Script::new(TAKE)
                    .key(&keys[0])
                    .key(&keys[1])
                    .key(&keys[2])
                    .arg(weight)
                    .arg(interval_us)
                    .arg(burst.max(weight))
                    .arg(node)
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        let verdict = if wait_ms < 0 {
            Ok(())
        } else {
            Err(Duration::from_millis(wait_ms as u64))
        };
        Some((verdict, sharers))
    }

    async fn pause(&self, exchange: &str, wait: Duration) {
        let key = &self.budget_key(exchange, "pause");
        let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
        let _: Option<i64> = self
            .run_patiently(PATIENCE, |mut conn| async move {
                redis::Script::new(PAUSE)
                    .key(key)
                    .arg(ms)
                    .invoke_async(&mut conn)
                    .await
            })
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis_target::RedisTarget;
    use redis::cluster_routing::{Route, SlotAddr};

    #[test]
    fn the_keys_take_touches_share_one_cluster_slot() {
        let cache = RemoteCache::new(
            RedisTarget::new("redis://localhost:6379/0", "crypto_mcp"),
            Duration::from_secs(1),
        );
        let slot = |part| Route::with_key(cache.budget_key("binance", part), SlotAddr::Master);
        assert_eq!(
            cache.budget_key("binance", "gcra"),
            "crypto_mcp:budget:{binance}:gcra"
        );
        assert_eq!(slot("gcra"), slot("pause"));
        assert_eq!(slot("gcra"), slot("sharers"));
    }
}
