//! The request-weight budget of one exchange, shared by all its symbols in this process.
//!
//! Two mechanisms: a GCRA limiter (`governor`) that keeps the sustained weight under the
//! exchange's per-minute limit, and a cool-down the exchange itself imposes with 429/418
//! (`Retry-After`, "banned until"). During a cool-down calls fail at once with `RateLimited`
//! instead of reaching the exchange: hammering it through a 429 is what earns the 418 ban.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;

// tokio's clock, so that tests can pause and advance time instead of sleeping.
use tokio::time::Instant;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use super::VenueError;

/// Longest we queue a call for budget before answering `rate_limited` instead.
const MAX_QUEUE_WAIT: Duration = Duration::from_secs(2);

/// One budget for every process on the same IP (kept in Redis by the engine; adapters only
/// see this trait).
#[async_trait]
pub trait SharedBudget: Send + Sync {
    /// Takes `weight` from `exchange`'s shared budget of `per_minute` (bursts up to `burst`):
    /// `Some(Ok)` granted, `Some(Err(wait))` not before `wait` (also while every process is
    /// paused), `None` when the shared budget cannot answer now. Also says how many processes
    /// share it (those that took from it in the last minute).
    async fn take(
        &self,
        exchange: &str,
        weight: u32,
        per_minute: u32,
        burst: u32,
    ) -> Option<(Result<(), Duration>, u32)>;

    /// The exchange asked to back off for `wait`: every process pauses.
    async fn pause(&self, exchange: &str, wait: Duration);
}

pub struct WeightBudget {
    limiter: Option<DefaultDirectRateLimiter>,
    blocked_until: Mutex<Option<Instant>>,
    per_minute: u32,
    burst: u32,
    shared: OnceLock<(String, Arc<dyn SharedBudget>)>,
    /// While the shared budget cannot answer: this process's share of it (the budget ÷ the
    /// processes last seen sharing it), rebuilt when that count changes.
    fallback: Mutex<Option<(u32, DefaultDirectRateLimiter)>>,
    sharers: std::sync::atomic::AtomicU32,
}

impl WeightBudget {
    /// `per_minute` weight sustained, with bursts up to `burst`; `enabled = false` keeps only the
    /// exchange-imposed cool-downs.
    pub fn new(enabled: bool, per_minute: u32, burst: u32) -> Self {
        let limiter = enabled
            .then(|| {
                let per_minute = NonZeroU32::new(per_minute)?;
                let burst = NonZeroU32::new(burst.min(per_minute.get()))?;
                Some(RateLimiter::direct(
                    Quota::per_minute(per_minute).allow_burst(burst),
                ))
            })
            .flatten();
        Self {
            limiter,
            blocked_until: Mutex::new(None),
            per_minute,
            burst: burst.min(per_minute),
            shared: OnceLock::new(),
            fallback: Mutex::new(None),
            sharers: std::sync::atomic::AtomicU32::new(1),
        }
    }

    /// From now on the budget is `shared` with every process using it (one budget per IP).
    pub fn share(&self, exchange: &str, shared: Arc<dyn SharedBudget>) {
        let _ = self.shared.set((exchange.to_owned(), shared));
    }

    /// The shared budget's verdict: `Some` when it answered (granted or refused), `None` to
    /// decide locally (no shared budget, or it cannot answer).
    async fn admit_shared(&self, weight: u32) -> Option<Result<(), VenueError>> {
        let (exchange, shared) = self.shared.get()?;
        // Rate limiting off: only the exchange's own cool-downs apply.
        self.limiter.as_ref()?;
        loop {
            let (verdict, sharers) = shared
                .take(exchange, weight, self.per_minute, self.burst)
                .await?;
            self.sharers
                .store(sharers.max(1), std::sync::atomic::Ordering::Relaxed);
            match verdict {
                Ok(()) => return Some(Ok(())),
                Err(wait) if wait > MAX_QUEUE_WAIT => {
                    return Some(Err(VenueError::RateLimited {
                        message: format!(
                            "the shared request-weight budget is exhausted for {} ms",
                            wait.as_millis()
                        ),
                        retry_after: Some(wait),
                    }))
                }
                Err(wait) => tokio::time::sleep(wait).await,
            }
        }
    }

    /// The exchange told us to stop: this process at once, every other through the shared
    /// budget.
    pub async fn back_off_everyone(&self, duration: Duration) {
        self.back_off(duration);
        if let Some((exchange, shared)) = self.shared.get() {
            shared.pause(exchange, duration).await;
        }
    }

    /// This process's share while the shared budget is unreachable.
    fn fallback_check(&self, weight: NonZeroU32) -> Option<Result<(), Duration>> {
        self.shared.get()?;
        let sharers = self
            .sharers
            .load(std::sync::atomic::Ordering::Relaxed)
            .max(1);
        let mut fallback = self.fallback.lock().unwrap_or_else(|p| p.into_inner());
        if fallback.as_ref().is_none_or(|(n, _)| *n != sharers) {
            let per_minute = NonZeroU32::new((self.per_minute / sharers).max(1))?;
            let burst = NonZeroU32::new(
                (self.burst / sharers)
                    .max(weight.get())
                    .min(per_minute.get().max(weight.get())),
            )?;
            *fallback = Some((
                sharers,
                RateLimiter::direct(Quota::per_minute(per_minute).allow_burst(burst)),
            ));
        }
        let (_, limiter) = fallback.as_ref()?;
        Some(match limiter.check_n(weight) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(not_until.wait_time_from(DefaultClock::default().now())),
            Err(_) => Err(MAX_QUEUE_WAIT * 2),
        })
    }

    /// Waits for `weight` units of budget, or fails when the exchange asked us to back off or
    /// the wait would be too long.
    pub async fn admit(&self, weight: u32) -> Result<(), VenueError> {
        if let Some(left) = self.cool_down_left() {
            return Err(VenueError::RateLimited {
                message: format!(
                    "backing off for {} ms as the exchange asked",
                    left.as_millis()
                ),
                retry_after: Some(left),
            });
        }
        if let Some(verdict) = self.admit_shared(weight).await {
            return verdict;
        }
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        let Some(weight) = NonZeroU32::new(weight) else {
            return Ok(());
        };
        // Shared budget unreachable: only this process's share of it.
        loop {
            match self.fallback_check(weight) {
                None => break,
                Some(Ok(())) => return Ok(()),
                Some(Err(wait)) if wait > MAX_QUEUE_WAIT => {
                    return Err(VenueError::RateLimited {
                        message: format!(
                        "this process's share of the request-weight budget is exhausted for {} ms",
                        wait.as_millis()
                    ),
                        retry_after: Some(wait),
                    })
                }
                Some(Err(wait)) => tokio::time::sleep(wait).await,
            }
        }
        loop {
            match limiter.check_n(weight) {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(not_until)) => {
                    let wait = not_until.wait_time_from(DefaultClock::default().now());
                    if wait > MAX_QUEUE_WAIT {
                        return Err(VenueError::RateLimited {
                            message: format!(
                                "request-weight budget exhausted for {} ms",
                                wait.as_millis()
                            ),
                            retry_after: Some(wait),
                        });
                    }
                    tokio::time::sleep(wait).await;
                }
                Err(_) => {
                    return Err(VenueError::RateLimited {
                        message: format!(
                            "a call of weight {weight} exceeds the whole burst budget"
                        ),
                        retry_after: None,
                    })
                }
            }
        }
    }

    /// The exchange told us to stop for `duration` (429 / 418).
    pub fn back_off(&self, duration: Duration) {
        let until = Instant::now() + duration;
        if let Ok(mut blocked) = self.blocked_until.lock() {
            if blocked.is_none_or(|current| current < until) {
                *blocked = Some(until);
            }
        }
    }

    fn cool_down_left(&self) -> Option<Duration> {
        let mut blocked = self.blocked_until.lock().ok()?;
        let until = (*blocked)?;
        let left = until.checked_duration_since(Instant::now());
        if left.is_none() {
            *blocked = None;
        }
        left
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn cool_down_rejects_until_it_passes() {
        let budget = WeightBudget::new(false, 6000, 1000);
        budget.admit(5).await.unwrap();
        budget.back_off(Duration::from_secs(30));
        assert!(matches!(
            budget.admit(1).await,
            Err(VenueError::RateLimited { retry_after: Some(left), .. }) if left == Duration::from_secs(30)
        ));
        // A shorter back-off never shortens a longer one already in force.
        budget.back_off(Duration::from_secs(1));
        tokio::time::advance(Duration::from_secs(29)).await;
        assert!(budget.admit(1).await.is_err());
        tokio::time::advance(Duration::from_secs(2)).await;
        budget.admit(1).await.unwrap();
    }

    /// A shared budget that answers what the test says, and remembers pauses.
    struct Scripted {
        answer: Mutex<Option<(Result<(), Duration>, u32)>>,
        paused: Mutex<Vec<Duration>>,
    }

    #[async_trait]
    impl SharedBudget for Scripted {
        async fn take(
            &self,
            _: &str,
            _: u32,
            _: u32,
            _: u32,
        ) -> Option<(Result<(), Duration>, u32)> {
            *self.answer.lock().unwrap()
        }
        async fn pause(&self, _: &str, wait: Duration) {
            self.paused.lock().unwrap().push(wait);
        }
    }

    #[tokio::test]
    async fn a_shared_budget_decides_and_without_it_this_process_keeps_to_its_share() {
        let shared = Arc::new(Scripted {
            answer: Mutex::new(Some((Ok(()), 4))),
            paused: Mutex::new(Vec::new()),
        });
        // 240/min for everyone, burst 40: granted by the shared budget however much is asked.
        let budget = WeightBudget::new(true, 240, 40);
        budget.share("binance", shared.clone());
        for _ in 0..10 {
            budget.admit(20).await.unwrap();
        }
        *shared.answer.lock().unwrap() = Some((Err(Duration::from_secs(30)), 4));
        assert!(matches!(
            budget.admit(1).await,
            Err(VenueError::RateLimited { retry_after: Some(wait), .. }) if wait == Duration::from_secs(30)
        ));
        // Redis silent: a quarter of the budget (four sharers were seen): burst 10, not 40.
        *shared.answer.lock().unwrap() = None;
        budget.admit(10).await.unwrap();
        assert!(budget.admit(10).await.is_err(), "past this process's share");
        budget.back_off_everyone(Duration::from_secs(5)).await;
        assert_eq!(*shared.paused.lock().unwrap(), vec![Duration::from_secs(5)]);
    }

    #[tokio::test]
    async fn exhausted_budget_is_rate_limited_not_queued_forever() {
        // 60/min = one unit a second, burst 10: the 11th unit needs a 1 s wait (queued),
        // a further 10 would need 10 s (refused).
        let budget = WeightBudget::new(true, 60, 10);
        budget.admit(10).await.unwrap();
        assert!(matches!(
            budget.admit(10).await,
            Err(VenueError::RateLimited { .. })
        ));
        let disabled = WeightBudget::new(false, 60, 10);
        for _ in 0..100 {
            disabled.admit(10).await.unwrap();
        }
    }
}
