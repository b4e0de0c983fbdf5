//! Per-endpoint call counters and the REQUEST_WEIGHT meter behind X-MBX-USED-WEIGHT-1M.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};

/// Calls received per endpoint name (the path after /api/v3/), counted on arrival.
#[derive(Default)]
pub struct Calls {
    map: Mutex<HashMap<String, u64>>,
}

impl Calls {
    pub fn incr(&self, endpoint: &str) {
        let mut m = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        match m.get_mut(endpoint) {
            Some(n) => *n += 1,
            None => {
                m.insert(endpoint.to_string(), 1);
            }
        }
    }

    pub fn get(&self, endpoint: &str) -> u64 {
        let m = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        m.get(endpoint).copied().unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .sum()
    }

    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        let m = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        m.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    pub fn reset(&self) {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// Outcome of charging one request's weight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// First request over the limit in this minute: 429.
    TooMuch {
        retry_after_s: u64,
    },
    /// Still sending after the 429: 418 until the window ends.
    Banned {
        retry_after_s: u64,
        until_ms: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Charge {
    pub used: u64,
    pub verdict: Verdict,
}

#[derive(Default)]
struct Window {
    minute: u64,
    used: u64,
    warned: bool,
}

/// Binance's 1-minute REQUEST_WEIGHT limiter (one client IP: the simulator's callers share it).
/// Windows are calendar minutes, as Binance's are.
pub struct WeightMeter {
    limit: u64,
    window: Mutex<Window>,
}

impl WeightMeter {
    pub fn new(limit: u32) -> Self {
        WeightMeter {
            limit: u64::from(limit),
            window: Mutex::new(Window::default()),
        }
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Adds `weight` (every request counts, rejected ones too) and says whether to reject.
    pub fn charge(&self, weight: u32, now_ms: u64) -> Charge {
        let mut w = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        let minute = now_ms / 60_000;
        if w.minute != minute {
            *w = Window {
                minute,
                used: 0,
                warned: false,
            };
        }
        w.used += u64::from(weight);
        let window_end = (minute + 1) * 60_000;
        let retry_after_s = (window_end - now_ms).div_ceil(1000).max(1);
        let verdict = if w.used <= self.limit {
            Verdict::Ok
        } else if !w.warned {
            w.warned = true;
            Verdict::TooMuch { retry_after_s }
        } else {
            Verdict::Banned {
                retry_after_s,
                until_ms: window_end,
            }
        };
        Charge {
            used: w.used,
            verdict,
        }
    }

    /// Weight used in the current minute (0 if the window has rolled over).
    pub fn used(&self, now_ms: u64) -> u64 {
        let w = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        if w.minute == now_ms / 60_000 {
            w.used
        } else {
            0
        }
    }

    pub fn reset(&self) {
        *self.window.lock().unwrap_or_else(PoisonError::into_inner) = Window::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_endpoint() {
        let c = Calls::default();
        c.incr("klines");
        c.incr("klines");
        c.incr("depth");
        assert_eq!((c.get("klines"), c.get("depth"), c.get("ping")), (2, 1, 0));
        assert_eq!(c.total(), 3);
        assert_eq!(
            c.snapshot().into_iter().collect::<Vec<_>>(),
            [("depth".into(), 1), ("klines".into(), 2)]
        );
        c.reset();
        assert_eq!(c.total(), 0);
    }

    #[test]
    fn over_limit_is_429_then_418_until_the_minute_ends() {
        let m = WeightMeter::new(10);
        let t = 1_700_000_050_500; // 10.5 s into a minute
        assert_eq!(
            m.charge(6, t),
            Charge {
                used: 6,
                verdict: Verdict::Ok
            }
        );
        assert_eq!(m.charge(4, t).verdict, Verdict::Ok);
        assert_eq!(
            m.charge(1, t).verdict,
            Verdict::TooMuch { retry_after_s: 50 }
        );
        assert!(matches!(
            m.charge(1, t).verdict,
            Verdict::Banned {
                retry_after_s: 50,
                until_ms: 1_700_000_100_000
            }
        ));
        assert_eq!(m.used(t), 12);
        // New minute: fresh window.
        assert_eq!(
            m.charge(1, t + 60_000),
            Charge {
                used: 1,
                verdict: Verdict::Ok
            }
        );
        m.reset();
        assert_eq!(m.used(t + 60_000), 0);
    }
}
