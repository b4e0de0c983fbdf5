//! How an exchange has been answering lately: calls, errors, weight and latency over the last
//! minute, and its last error (`exchange_status`). Recorded by the adapter around every call.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::VenueError;
use crate::model::now_ms;

/// The window `exchange_status` reports on.
const WINDOW: Duration = Duration::from_secs(60);
/// Most calls remembered: a minute of calls at far above any exchange's public limit. Past it
/// the oldest are forgotten (the counts then cover less than a minute, never more memory).
const MAX_RECORDS: usize = 20_000;

/// Whether calls go through (SPEC.md `exchange_status.circuit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CircuitState {
    /// Calls go through.
    #[default]
    Closed,
    /// Calls fail at once until the open period ends.
    Open,
    /// The open period ended after failures: the next call decides.
    HalfOpen,
}

impl CircuitState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

/// A snapshot of one exchange's health; the default is an adapter with no record (closed,
/// nothing counted).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VenueHealth {
    pub circuit: CircuitState,
    /// Request weight this process spent in the last minute.
    pub weight_used: u64,
    /// Request weight per minute this deployment may spend.
    pub weight_limit: u32,
    pub calls_1m: u64,
    pub errors_1m: u64,
    /// Call latency percentiles over the last minute, ms; `None` without calls.
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    /// The last failed call: its error and when (Unix ms).
    pub last_error: Option<(VenueError, i64)>,
    /// The adapter's client instances, where it pools them.
    pub instances: Option<InstanceCounts>,
}

/// How many client instances an adapter's pool holds (issue 25: made on demand, dropped when
/// idle), for `exchange_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InstanceCounts {
    /// Alive or being made (idle + in use).
    pub live: usize,
    pub idle: usize,
    /// Most that may exist at once (`EXCHANGE_MAX_CONCURRENT_CALLS`).
    pub max: usize,
}

struct Call {
    at: Instant,
    latency: Duration,
    weight: u32,
    failed: bool,
}

#[derive(Default)]
struct Log {
    calls: VecDeque<Call>,
    last_error: Option<(VenueError, i64)>,
}

/// The adapter's record of its calls.
#[derive(Default)]
pub struct CallLog {
    log: Mutex<Log>,
}

impl CallLog {
    /// One exchange call's outcome. Failures of the request itself (a bad symbol) count as
    /// errors too: the exchange answered them, but the caller sees an error.
    pub fn record<T>(&self, weight: u32, latency: Duration, result: &Result<T, VenueError>) {
        let now = Instant::now();
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        Self::prune(&mut log.calls, now);
        if log.calls.len() >= MAX_RECORDS {
            log.calls.pop_front();
        }
        log.calls.push_back(Call {
            at: now,
            latency,
            weight,
            failed: result.is_err(),
        });
        if let Err(error) = result {
            log.last_error = Some((error.clone(), now_ms()));
        }
    }

    /// Counts of the last minute, with the circuit's state and the weight limit filled in.
    pub fn health(&self, circuit: CircuitState, weight_limit: u32) -> VenueHealth {
        let now = Instant::now();
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        Self::prune(&mut log.calls, now);
        let mut latencies: Vec<f64> = log
            .calls
            .iter()
            .map(|c| c.latency.as_secs_f64() * 1000.0)
            .collect();
        latencies.sort_by(f64::total_cmp);
        VenueHealth {
            circuit,
            weight_used: log.calls.iter().map(|c| u64::from(c.weight)).sum(),
            weight_limit,
            calls_1m: log.calls.len() as u64,
            errors_1m: log.calls.iter().filter(|c| c.failed).count() as u64,
            latency_p50_ms: percentile(&latencies, 0.50),
            latency_p99_ms: percentile(&latencies, 0.99),
            last_error: log.last_error.clone(),
            instances: None,
        }
    }

    fn prune(calls: &mut VecDeque<Call>, now: Instant) {
        while calls
            .front()
            .is_some_and(|c| now.duration_since(c.at) > WINDOW)
        {
            calls.pop_front();
        }
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_calls_errors_weight_and_latency() {
        let log = CallLog::default();
        for ms in 1..=100u64 {
            log.record::<()>(2, Duration::from_millis(ms), &Ok(()));
        }
        log.record::<()>(
            5,
            Duration::from_millis(500),
            &Err(VenueError::unavailable("HTTP 503")),
        );
        let health = log.health(CircuitState::Closed, 6000);
        assert_eq!(health.calls_1m, 101);
        assert_eq!(health.errors_1m, 1);
        assert_eq!(health.weight_used, 205);
        assert_eq!(health.latency_p50_ms, Some(51.0));
        assert_eq!(health.latency_p99_ms, Some(100.0));
        let (error, at) = health.last_error.expect("last error");
        assert!(matches!(error, VenueError::Unavailable { .. }));
        assert!((now_ms() - at).abs() < 5_000);
    }

    #[test]
    fn an_idle_exchange_has_no_latency() {
        let health = CallLog::default().health(CircuitState::Open, 600);
        assert_eq!(
            (health.calls_1m, health.latency_p50_ms, health.circuit),
            (0, None, CircuitState::Open)
        );
    }
}
