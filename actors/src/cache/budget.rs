//! The exchange's request-weight budget shared through Redis by every process on one IP: a
//! GCRA over weight units on Redis's clock (`redis_target::gcra`), a pause every process honours after a 429/418,
//! and a count of the processes sharing it (for their fallback share while Redis is down).

use std::time::Duration;

use async_trait::async_trait;

use super::RemoteCache;
use crate::redis_target::gcra::{Sharing, Take};
use crate::venue::SharedBudget;

/// How long a budget decision waits for Redis before this process decides alone (with its
/// share): longer than a cache read may wait, as a wrong "yes" risks the exchange's 429.
const PATIENCE: Duration = Duration::from_secs(1);

/// How long the budget's GCRA time outlives a full burst.
const LINGER: Duration = Duration::from_secs(60);

/// Sets the pause unless a longer one is in force.
const PAUSE: &str = r"
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return 1
";

impl RemoteCache {
    /// `{prefix}:budget:{{exchange}}:{part}`: the exchange in a hash tag, so the keys a take
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
        let keys = [
            self.budget_key(exchange, "gcra"),
            self.budget_key(exchange, "pause"),
            self.budget_key(exchange, "sharers"),
        ];
        let take = &Take {
            key: &keys[0],
            weight,
            interval_us: 60_000_000.0 / f64::from(per_minute.max(1)),
            burst: burst.max(weight),
            linger: LINGER,
            sharing: Some(Sharing {
                pause_key: &keys[1],
                sharers_key: &keys[2],
                node: &self.node,
            }),
        };
        let decision = self
            .run_patiently(
                PATIENCE,
                |mut conn| async move { take.run(&mut conn).await },
            )
            .await?;
        let verdict = match decision.wait {
            None => Ok(()),
            Some(wait) => Err(wait),
        };
        Some((verdict, decision.sharers))
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
