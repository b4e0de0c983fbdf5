//! The deterministic price walk.
//!
//! Every price the simulator serves (ticker, klines, trades, depth) is read from one function,
//! `log_offset(symbol, step)`, where `step = unix_ms / tick_ms`. It is a Brownian path built by
//! random midpoint displacement over a dyadic tree whose node displacements are hashes of
//! `(seed, symbol, node)`. That gives:
//! * random access: any step, past or future, costs ~`LEVELS` hashes, so klines from years ago and
//!   "advance to now" after an idle hour are equally cheap (the walk is advanced lazily, on request,
//!   with no state to update);
//! * determinism: the same seed gives the same price at the same step in every process, so closed
//!   candles never change between requests or between simulator instances;
//! * bounded drift: displacements of nodes wider than `CAP_DAYS` are capped, so over years prices
//!   stay within a sane band around the symbol's reference price instead of drifting to 0 or ∞.

/// Tree depth: 2^44 steps covers the unix epoch to beyond year 2500 even at tick_ms = 1.
const LEVELS: u32 = 44;
/// Daily volatility of log price.
const DAILY_VOL: f64 = 0.02;
/// Nodes spanning more than this many days move no more than a node of this width would.
const CAP_DAYS: f64 = 16.0;
const DAY_MS: f64 = 86_400_000.0;

/// splitmix64 finaliser: a cheap, well-mixed 64-bit hash.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Hash of several words (order matters).
pub fn hash(parts: &[u64]) -> u64 {
    parts
        .iter()
        .fold(0x243f_6a88_85a3_08d3, |acc, &p| mix(acc ^ p))
}

/// Uniform in [0, 1) from a hash.
pub fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// Approximately standard normal from a hash: Irwin–Hall sum of four 16-bit uniforms, rescaled.
/// Cheaper than Box–Muller (no transcendental functions) and plenty for a market simulation.
pub fn gauss(h: u64) -> f64 {
    let s: f64 = (0..4)
        .map(|i| ((h >> (16 * i)) & 0xffff) as f64 / 65536.0)
        .sum();
    (s - 2.0) * 3f64.sqrt()
}

/// FNV-1a: stable hash of a symbol name (std's hasher is not guaranteed stable across releases).
pub fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

#[derive(Clone, Debug)]
pub struct Walk {
    seed: u64,
    tick_ms: u64,
    sigma_step: f64,
    cap_steps: f64,
}

impl Walk {
    pub fn new(seed: u64, tick_ms: u64) -> Self {
        let tick_ms = tick_ms.max(1);
        let steps_per_day = DAY_MS / tick_ms as f64;
        Walk {
            seed,
            tick_ms,
            sigma_step: DAILY_VOL / steps_per_day.sqrt(),
            cap_steps: CAP_DAYS * steps_per_day,
        }
    }

    pub fn tick_ms(&self) -> u64 {
        self.tick_ms
    }

    /// The walk step containing wall time `t_ms`.
    pub fn step_at(&self, t_ms: u64) -> u64 {
        t_ms / self.tick_ms
    }

    /// Log-price offset from the symbol's reference price at `step` (0 at the tree's ends).
    pub fn log_offset(&self, key: u64, step: u64) -> f64 {
        let n = step.min(1u64 << LEVELS);
        let (mut lo, mut hi) = (0u64, 1u64 << LEVELS);
        let (mut w_lo, mut w_hi) = (0.0f64, 0.0f64);
        while hi - lo > 1 {
            if n == lo {
                return w_lo;
            }
            if n == hi {
                return w_hi;
            }
            let mid = lo + (hi - lo) / 2;
            // Brownian bridge: the midpoint of [lo, hi] deviates from the chord with
            // sd = σ·sqrt(len)/2; capping len bounds long-range drift.
            let len = ((hi - lo) as f64).min(self.cap_steps);
            let sd = self.sigma_step * len.sqrt() / 2.0;
            let w_mid = 0.5 * (w_lo + w_hi) + sd * gauss(hash(&[self.seed, key, lo, hi - lo]));
            if n < mid {
                hi = mid;
                w_hi = w_mid;
            } else {
                lo = mid;
                w_lo = w_mid;
            }
        }
        if n == lo {
            w_lo
        } else {
            w_hi
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_725_817_008_719;

    #[test]
    fn same_seed_same_path() {
        let (a, b) = (Walk::new(42, 100), Walk::new(42, 100));
        let key = name_hash("BTCUSDT");
        let s0 = a.step_at(NOW);
        for s in s0..s0 + 500 {
            assert_eq!(
                a.log_offset(key, s).to_bits(),
                b.log_offset(key, s).to_bits()
            );
        }
    }

    #[test]
    fn different_seed_or_symbol_differs() {
        let s = Walk::new(42, 100).step_at(NOW);
        let a = Walk::new(42, 100).log_offset(name_hash("BTCUSDT"), s);
        assert_ne!(a, Walk::new(43, 100).log_offset(name_hash("BTCUSDT"), s));
        assert_ne!(a, Walk::new(42, 100).log_offset(name_hash("ETHUSDT"), s));
    }

    #[test]
    fn steps_are_small_and_not_constant() {
        let w = Walk::new(7, 100);
        let key = name_hash("BTCUSDT");
        let s0 = w.step_at(NOW);
        let mut moved = 0;
        for s in s0..s0 + 2000 {
            let d = (w.log_offset(key, s + 1) - w.log_offset(key, s)).abs();
            assert!(d < 0.001, "one 100ms step moved {d}");
            if d > 0.0 {
                moved += 1;
            }
        }
        assert!(moved > 1900);
    }

    #[test]
    fn drift_is_bounded_over_years() {
        let w = Walk::new(42, 100);
        let key = name_hash("SOLUSDT");
        for day in 0..2000u64 {
            let off = w.log_offset(key, w.step_at(NOW - day * 86_400_000));
            assert!(off.abs() < 1.5, "day {day}: {off}");
        }
    }

    #[test]
    fn gauss_is_roughly_standard() {
        let xs: Vec<f64> = (0..20_000).map(|i| gauss(mix(i))).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
        assert!(
            mean.abs() < 0.05 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
    }
}
