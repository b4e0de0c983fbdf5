use std::time::Duration;

/// How long values stay fresh, and how long past that they may still be served `stale: true`
/// when the exchange cannot give a fresh one. Ages count from when the value was fetched from
/// (or pushed by) the exchange, in Unix ms, so values that come from other nodes age alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TtlPolicy {
    ttl_ms: i64,
    stale_ms: i64,
}

/// A value's standing at some moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Age {
    Fresh,
    /// Past its TTL, within the stale window: served only when the exchange fails.
    Stale,
    /// Past the stale window: never served.
    Expired,
}

impl TtlPolicy {
    /// `stale_ttl` below `ttl` is raised to it.
    pub fn new(ttl: Duration, stale_ttl: Duration) -> Self {
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Self {
            ttl_ms: ms(ttl),
            stale_ms: ms(stale_ttl.max(ttl)),
        }
    }

    pub fn ttl(&self) -> Duration {
        Duration::from_millis(self.ttl_ms as u64)
    }

    /// How much longer a value fetched at `fetched_at_ms` stays fresh (zero once stale).
    pub fn fresh_for(&self, fetched_at_ms: i64, now_ms: i64) -> Duration {
        let left = self.ttl_ms - now_ms.saturating_sub(fetched_at_ms).max(0);
        Duration::from_millis(left.max(0) as u64)
    }

    pub fn age(&self, fetched_at_ms: i64, now_ms: i64) -> Age {
        let age = now_ms.saturating_sub(fetched_at_ms);
        if age < self.ttl_ms {
            Age::Fresh
        } else if age < self.stale_ms {
            Age::Stale
        } else {
            Age::Expired
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_then_stale_then_expired() {
        let policy = TtlPolicy::new(Duration::from_secs(10), Duration::from_secs(300));
        assert_eq!(policy.age(1_000, 1_000), Age::Fresh);
        assert_eq!(policy.age(1_000, 10_999), Age::Fresh);
        assert_eq!(policy.age(1_000, 11_000), Age::Stale);
        assert_eq!(policy.age(1_000, 300_999), Age::Stale);
        assert_eq!(policy.age(1_000, 301_000), Age::Expired);
        // A clock that stepped back makes a value look fresh, never negative-aged garbage.
        assert_eq!(policy.age(5_000, 1_000), Age::Fresh);
        let short_stale = TtlPolicy::new(Duration::from_secs(10), Duration::from_secs(1));
        assert_eq!(short_stale.age(0, 9_999), Age::Fresh);
        assert_eq!(short_stale.age(0, 10_000), Age::Expired);
    }
}
