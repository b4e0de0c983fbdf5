//! Fault injection: latency, jitter, random 5xx and forced statuses on exchange API requests
//! (Binance's /api/v3 and the other venues' REST paths), each answered in the venue's format.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::Duration;

/// Fault settings; `Faults::default()` means a healthy exchange.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Added before answering every exchange API request.
    pub latency_ms: u64,
    /// Plus a uniform random 0..=jitter_ms.
    pub jitter_ms: u64,
    /// Fraction (0..=1) of API requests answered 500 or 503 (Binance: code -1000; other venues:
    /// their own 5xx answer).
    pub error_rate: f64,
    /// Answer every API request with this status: 429/418 (the venue's rate-limit answer +
    /// Retry-After), anything else with the venue's error body (Binance: code -1000).
    pub force_status: Option<u16>,
    /// Retry-After seconds for 429/418 (0 means 1).
    pub retry_after_s: u64,
    /// If set, faults apply only to these endpoint names ("klines", "ticker/24hr", ...).
    pub endpoints: Option<Vec<String>>,
    /// Symbols (Binance ids, e.g. "SOLUSDT") still listed by exchangeInfo but rejected by every
    /// other endpoint with 400 -1121, as after a delisting the client has not reloaded yet. A
    /// request naming one (`symbol` or within `symbols`) fails as a whole, as Binance's does.
    pub delisted: Vec<String>,
}

impl Faults {
    pub fn applies_to(&self, endpoint: &str) -> bool {
        self.endpoints
            .as_ref()
            .is_none_or(|eps| eps.iter().any(|e| e == endpoint))
    }

    /// Checks values a caller could get wrong (used for POST /__sim/faults).
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.error_rate) {
            return Err(format!(
                "error_rate must be within 0..=1, got {}",
                self.error_rate
            ));
        }
        if let Some(s) = self.force_status {
            if !(100..=999).contains(&s) {
                return Err(format!("force_status {s} is not an HTTP status"));
            }
        }
        Ok(())
    }

    /// Whether a request with these `symbol` / `symbols` parameter values names a delisted one.
    pub fn names_delisted(&self, symbol: Option<&str>, symbols: Option<&str>) -> bool {
        !self.delisted.is_empty()
            && (symbol.is_some_and(|s| self.delisted.iter().any(|d| d == s))
                || symbols.is_some_and(|list| {
                    self.delisted
                        .iter()
                        .any(|d| list.contains(&format!("\"{d}\"")))
                }))
    }

    pub fn retry_after(&self) -> u64 {
        self.retry_after_s.max(1)
    }
}

/// What to do to one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub delay: Duration,
    pub status: Option<u16>,
    pub retry_after_s: u64,
}

/// Shared fault settings plus the RNG behind jitter and error_rate, seeded from the simulator seed
/// so a test's sequence of injected errors is reproducible.
pub struct FaultState {
    faults: RwLock<Faults>,
    rng: Mutex<ChaCha8Rng>,
}

impl FaultState {
    pub fn new(seed: u64) -> Self {
        FaultState {
            faults: RwLock::new(Faults::default()),
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed ^ 0xfa17)),
        }
    }

    pub fn get(&self) -> Faults {
        self.faults
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the settings; error_rate is clamped so a library caller cannot make it panic.
    pub fn set(&self, mut f: Faults) {
        f.error_rate = if f.error_rate.is_finite() {
            f.error_rate.clamp(0.0, 1.0)
        } else {
            0.0
        };
        *self.faults.write().unwrap_or_else(PoisonError::into_inner) = f;
    }

    pub fn plan(&self, endpoint: &str) -> Plan {
        let f = self.get();
        let none = Plan {
            delay: Duration::ZERO,
            status: None,
            retry_after_s: f.retry_after(),
        };
        if !f.applies_to(endpoint) {
            return none;
        }
        let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
        let jitter = if f.jitter_ms > 0 {
            rng.random_range(0..=f.jitter_ms)
        } else {
            0
        };
        let status = f.force_status.or_else(|| {
            (f.error_rate > 0.0 && rng.random_bool(f.error_rate)).then(|| {
                if rng.random_bool(0.5) {
                    500
                } else {
                    503
                }
            })
        });
        Plan {
            delay: Duration::from_millis(f.latency_ms.saturating_add(jitter)),
            status,
            retry_after_s: f.retry_after(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delisted_symbols_are_found_in_symbol_and_symbols() {
        let f = Faults {
            delisted: vec!["SOLUSDT".into()],
            ..Default::default()
        };
        assert!(f.names_delisted(Some("SOLUSDT"), None));
        assert!(f.names_delisted(None, Some(r#"["BTCUSDT","SOLUSDT"]"#)));
        assert!(!f.names_delisted(Some("BTCUSDT"), Some(r#"["BTCUSDT","SOLUSDTX"]"#)));
        assert!(!Faults::default().names_delisted(Some("SOLUSDT"), None));
    }

    #[test]
    fn healthy_by_default() {
        let s = FaultState::new(1);
        let p = s.plan("klines");
        assert_eq!((p.delay, p.status), (Duration::ZERO, None));
    }

    #[test]
    fn forced_status_and_endpoint_filter() {
        let s = FaultState::new(1);
        s.set(Faults {
            force_status: Some(429),
            retry_after_s: 7,
            latency_ms: 3,
            endpoints: Some(vec!["depth".into()]),
            ..Faults::default()
        });
        let p = s.plan("depth");
        assert_eq!(
            (p.status, p.retry_after_s, p.delay),
            (Some(429), 7, Duration::from_millis(3))
        );
        assert_eq!(s.plan("klines").status, None);
        assert_eq!(s.plan("klines").delay, Duration::ZERO);
    }

    #[test]
    fn error_rate_is_roughly_honoured_with_5xx() {
        let s = FaultState::new(1);
        s.set(Faults {
            error_rate: 0.3,
            jitter_ms: 4,
            ..Faults::default()
        });
        let plans: Vec<Plan> = (0..2000).map(|_| s.plan("ping")).collect();
        let errs = plans.iter().filter(|p| p.status.is_some()).count();
        assert!((450..750).contains(&errs), "{errs}");
        assert!(plans
            .iter()
            .filter_map(|p| p.status)
            .all(|c| c == 500 || c == 503));
        assert!(plans.iter().all(|p| p.delay <= Duration::from_millis(4)));
        assert!(plans.iter().any(|p| p.delay > Duration::ZERO));
    }

    #[test]
    fn validation_and_clamping() {
        assert!(Faults {
            error_rate: 1.5,
            ..Faults::default()
        }
        .validate()
        .is_err());
        assert!(Faults {
            force_status: Some(42),
            ..Faults::default()
        }
        .validate()
        .is_err());
        let s = FaultState::new(1);
        s.set(Faults {
            error_rate: 7.0,
            ..Faults::default()
        });
        assert_eq!(s.get().error_rate, 1.0);
        assert_eq!(Faults::default().retry_after(), 1);
        let parsed: Faults = serde_json::from_str(r#"{"latency_ms": 5}"#).unwrap();
        assert_eq!(
            parsed,
            Faults {
                latency_ms: 5,
                ..Faults::default()
            }
        );
    }
}
