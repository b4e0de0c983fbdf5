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
        self.check_at(Instant::now())
    }

    /// Counts a call's outcome. Only failures of the exchange itself count: a bad symbol or a
    /// rate limit says nothing about whether it is up.
    pub fn record<T>(&self, result: &Result<T, VenueError>) {
        self.record_at(result, Instant::now())
    }

    /// Closed, open, or half open (the open period is over; the next call decides).
    pub fn state(&self) -> super::CircuitState {
        let now = Instant::now();
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match state.open_until {
            Some(until) if until > now => super::CircuitState::Open,
            Some(_) => super::CircuitState::HalfOpen,
            None => super::CircuitState::Closed,
        }
    }

    fn check_at(&self, now: Instant) -> Result<(), VenueError> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match state
            .open_until
            .and_then(|until| until.checked_duration_since(now))
        {
            Some(left) => Err(VenueError::Unavailable {
                message: format!(
                    "circuit open after {} failures in a row; retrying in {} ms",
                    state.consecutive_failures,
                    left.as_millis()
                ),
                retry_after: Some(left),
            }),
            None => Ok(()),
        }
    }

    fn record_at<T>(&self, result: &Result<T, VenueError>, now: Instant) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(_) => *state = State::default(),
            Err(error) if error.says_exchange_down() => {
                state.consecutive_failures += 1;
                if state.consecutive_failures >= self.threshold {
                    if state.open_until.is_none_or(|until| until <= now) {
                        tracing::warn!(
                            failures = state.consecutive_failures,
                            open_ms = self.open_for.as_millis() as u64,
                            "exchange circuit opened"
                        );
                    }
                    state.open_until = Some(now + self.open_for);
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
        Err(VenueError::unavailable("503"))
    }

    // Time is passed in, not slept: the assertions hold however slow the machine is.
    #[test]
    fn opens_after_a_run_of_failures_and_closes_on_success() {
        let breaker = CircuitBreaker::new(3, Duration::from_secs(5));
        let t0 = Instant::now();
        for _ in 0..2 {
            breaker.record_at(&down(), t0);
            assert!(breaker.check_at(t0).is_ok());
        }
        breaker.record_at(&down(), t0);
        assert!(
            matches!(breaker.check_at(t0), Err(VenueError::Unavailable { message, retry_after: Some(left) }) if message.contains("circuit open") && left == Duration::from_secs(5))
        );
        let later = t0 + Duration::from_secs(6);
        assert!(
            breaker.check_at(later).is_ok(),
            "half open after the period"
        );
        breaker.record_at(&down(), later);
        assert!(
            breaker.check_at(later).is_err(),
            "one more failure re-opens at once"
        );
        let much_later = later + Duration::from_secs(6);
        breaker.record_at(&Ok(()), much_later);
        breaker.record_at(&down(), much_later);
        assert!(
            breaker.check_at(much_later).is_ok(),
            "a success resets the count"
        );
    }

    #[test]
    fn only_failures_that_say_the_exchange_is_down_count() {
        let breaker = CircuitBreaker::new(1, Duration::from_secs(60));
        let t0 = Instant::now();
        for error in [
            VenueError::BadSymbol("X".into()),
            VenueError::RateLimited {
                message: "429".into(),
                retry_after: None,
            },
            // An error reply of the exchange's own (ccxt's base ExchangeError): it is up.
            VenueError::Rejected("-2013 order does not exist".into()),
            VenueError::Malformed("html".into()),
            VenueError::BadRequest("-1100".into()),
        ] {
            breaker.record_at::<()>(&Err(error), t0);
        }
        assert!(breaker.check_at(t0).is_ok());
        breaker.record_at::<()>(&Err(VenueError::Timeout(Duration::from_secs(1))), t0);
        assert!(breaker.check_at(t0).is_err());
    }
}
