//! Each client's request rate, shared by every process that uses the same Redis (the GCRA of
//! `redis_target::gcra`, on Redis's clock, so workers on different hosts agree); while Redis does not
//! answer, each process limits on its own.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use crypto_market_actors::redis_target::gcra::Take;
use crypto_market_actors::redis_target::RedisConn;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use super::Client;

/// Longest wait for Redis's verdict before deciding locally (a local "yes" lets a client
/// past its cluster-wide rate, so this waits longer than a cache read would).
const REDIS_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a client's GCRA time outlives a full burst.
const LINGER: Duration = Duration::from_secs(1);

/// The longest time between two calls of one client: that of [`super::MIN_RATE_PER_S`].
const SLOWEST_PERIOD: Duration = Duration::from_secs(1_000);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    Limited { retry_after: Duration },
}

pub struct ClientLimiter {
    redis: Option<(RedisConn, String)>,
    local: Mutex<HashMap<String, DefaultDirectRateLimiter>>,
}

impl ClientLimiter {
    /// `redis`: the connection and the key prefix, when limits are shared.
    pub fn new(redis: Option<(RedisConn, String)>) -> Self {
        Self {
            redis,
            local: Mutex::new(HashMap::new()),
        }
    }

    pub async fn check(&self, client: &Client) -> Verdict {
        if let Some((conn, prefix)) = &self.redis {
            let interval_us =
                (1_000_000.0 / client.rate_per_s).clamp(1.0, SLOWEST_PERIOD.as_micros() as f64);
            // NaN (a rate of NaN) fails every comparison: the slowest rate.
            let interval_us = if interval_us.is_nan() {
                SLOWEST_PERIOD.as_micros() as f64
            } else {
                interval_us
            };
            let mut conn = conn.clone();
            let key = format!("{prefix}:client:{}:rate", client.id);
            let take = Take {
                key: &key,
                weight: 1,
                interval_us,
                burst: client.burst,
                linger: LINGER,
                sharing: None,
            };
            match tokio::time::timeout(REDIS_TIMEOUT, take.run(&mut conn)).await {
                Ok(Ok(decision)) => {
                    return match decision.wait {
                        None => Verdict::Allowed,
                        Some(wait) => Verdict::Limited {
                            retry_after: wait.max(Duration::from_millis(1)),
                        },
                    }
                }
                Ok(Err(error)) => tracing::debug!(%error, "client limit: deciding locally"),
                Err(_) => tracing::debug!("client limit: Redis slow, deciding locally"),
            }
        }
        self.check_locally(client)
    }

    fn check_locally(&self, client: &Client) -> Verdict {
        let mut local = self.local.lock().unwrap_or_else(|p| p.into_inner());
        let limiter = local.entry(client.id.clone()).or_insert_with(|| {
            // `try_`: a rate the keys file should have refused (0, NaN, 1e-30) must not
            // panic here; it limits to the slowest rate instead.
            let period = Duration::try_from_secs_f64(1.0 / client.rate_per_s)
                .unwrap_or(SLOWEST_PERIOD)
                .clamp(Duration::from_nanos(1), SLOWEST_PERIOD);
            let burst = NonZeroU32::new(client.burst).unwrap_or(NonZeroU32::MIN);
            let quota = Quota::with_period(period)
                .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
                .allow_burst(burst);
            RateLimiter::direct(quota)
        });
        match limiter.check() {
            Ok(()) => Verdict::Allowed,
            Err(not_until) => Verdict::Limited {
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_redis_a_client_gets_its_burst_then_waits() {
        let limiter = ClientLimiter::new(None);
        let client = Client {
            id: "bot".into(),
            rate_per_s: 1.0,
            burst: 3,
            tools: None,
        };
        let other = Client {
            id: "other".into(),
            ..Client {
                id: String::new(),
                rate_per_s: 1.0,
                burst: 1,
                tools: None,
            }
        };
        for _ in 0..3 {
            assert_eq!(limiter.check_locally(&client), Verdict::Allowed);
        }
        match limiter.check_locally(&client) {
            Verdict::Limited { retry_after } => {
                assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(1))
            }
            Verdict::Allowed => panic!("past the burst"),
        }
        assert_eq!(
            limiter.check_locally(&other),
            Verdict::Allowed,
            "clients are apart"
        );
    }

    #[test]
    fn rates_the_file_refuses_do_not_panic_the_limiter() {
        let limiter = ClientLimiter::new(None);
        for (id, rate_per_s) in [("tiny", 1e-30), ("zero", 0.0), ("nan", f64::NAN)] {
            let client = Client {
                id: id.into(),
                rate_per_s,
                burst: 1,
                tools: None,
            };
            assert_eq!(limiter.check_locally(&client), Verdict::Allowed, "{id}");
            assert!(
                matches!(limiter.check_locally(&client), Verdict::Limited { .. }),
                "{id}"
            );
        }
    }
}
