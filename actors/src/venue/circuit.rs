//! A circuit breaker per exchange: after a run of failures that say "the exchange is down"
//! (5xx, refused connections, our deadline passing), calls fail at once for a while instead of
//! each waiting out its own timeout. Callers get `exchange_unavailable` (or a stale value)
//! in microseconds, and the exchange gets room to recover. After the open period calls go
//! through again; the first failure re-opens the circuit, the first success closes it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::VenueError;

pub struct CircuitBreaker {
    threshold: u32,
    open_for: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    consecutive_failures: u32,
    open_until: Option<Instant>,
}

impl CircuitBreaker {
    pub fn new(threshold: u32, open_for: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            open_for,
            state: Mutex::new(State::default()),
        }
    }

    /// `Err` while the circuit is open.
    pub fn check(&self) -> Result<(), VenueError> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match state
            .open_until
            .and_then(|until| until.checked_duration_since(Instant::now()))
        {
            Some(left) => Err(VenueError::Unavailable(format!(
                "circuit open after {} failures in a row; retrying in {} ms",
                state.consecutive_failures,
                left.as_millis()
            ))),
            None => Ok(()),
        }
    }

    /// Counts a call's outcome. Only failures of the exchange itself count: a bad symbol or a
    /// rate limit says nothing about whether it is up.
    pub fn record<T>(&self, result: &Result<T, VenueError>) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(_) => *state = State::default(),
            Err(VenueError::Unavailable(_) | VenueError::Timeout(_) | VenueError::Malformed(_)) => {
                state.consecutive_failures += 1;
                if state.consecutive_failures >= self.threshold {
                    if state.open_until.is_none_or(|until| until <= Instant::now()) {
                        tracing::warn!(
                            failures = state.consecutive_failures,
                            open_ms = self.open_for.as_millis() as u64,
                            "exchange circuit opened"
                        );
                    }
                    state.open_until = Some(Instant::now() + self.open_for);
                }
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn down() -> Result<(), VenueError> {
        Err(VenueError::Unavailable("503".into()))
    }

    #[test]
    fn opens_after_a_run_of_failures_and_closes_on_success() {
        let breaker = CircuitBreaker::new(3, Duration::from_millis(60));
        for _ in 0..2 {
            breaker.record(&down());
            assert!(breaker.check().is_ok());
        }
        breaker.record(&down());
        assert!(
            matches!(breaker.check(), Err(VenueError::Unavailable(m)) if m.contains("circuit open"))
        );
        std::thread::sleep(Duration::from_millis(80));
        assert!(breaker.check().is_ok(), "half open after the period");
        breaker.record(&down());
        assert!(
            breaker.check().is_err(),
            "one more failure re-opens at once"
        );
        std::thread::sleep(Duration::from_millis(80));
        breaker.record(&Ok(()));
        breaker.record(&down());
        assert!(breaker.check().is_ok(), "a success resets the count");
    }

    #[test]
    fn request_errors_do_not_count() {
        let breaker = CircuitBreaker::new(1, Duration::from_secs(60));
        breaker.record::<()>(&Err(VenueError::BadSymbol("X".into())));
        breaker.record::<()>(&Err(VenueError::RateLimited {
            message: "429".into(),
            retry_after: None,
        }));
        assert!(breaker.check().is_ok());
    }
}
