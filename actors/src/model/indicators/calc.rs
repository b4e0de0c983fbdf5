//! The indicator formulas, over plain slices, exactly as TA-Lib computes them (SPEC.md 4.2):
//! each output has one value per input, `None` where TA-Lib has no value yet (its look-back).
//! Checked against TA-Lib's own output in `tests/fixtures/indicators.json` (see the module's
//! tests and `tests/fixtures/indicators.py`, which produced it).

use super::super::Candle;

/// A series with one value per candle; `None` inside the look-back.
pub type Series = Vec<Option<f64>>;

/// Simple moving average of `period` values.
pub fn sma(values: &[f64], period: usize) -> Series {
    let mut out = vec![None; values.len()];
    if period == 0 || values.len() < period {
        return out;
    }
    // A rolling sum, as TA-Lib keeps it.
    let mut sum: f64 = values[..period - 1].iter().sum();
    for i in period - 1..values.len() {
        sum += values[i];
        out[i] = Some(sum / period as f64);
        sum -= values[i + 1 - period];
    }
    out
}

/// EMA with α = 2 / (N + 1), seeded by the SMA of the first `period` values (TA-Lib's
/// default compatibility mode).
pub fn ema(values: &[f64], period: usize) -> Series {
    ema_from(values, period, 0)
}

/// EMA of `values[start..]` (TA-Lib's MACD seeds its fast EMA later than a plain EMA would).
fn ema_from(values: &[f64], period: usize, start: usize) -> Series {
    let mut out = vec![None; values.len()];
    if period == 0 || values.len() < start + period {
        return out;
    }
    let k = 2.0 / (period as f64 + 1.0);
    let seed_at = start + period - 1;
    let mut prev = values[start..=seed_at].iter().sum::<f64>() / period as f64;
    out[seed_at] = Some(prev);
    for i in seed_at + 1..values.len() {
        prev = (values[i] - prev) * k + prev;
        out[i] = Some(prev);
    }
    out
}

/// Wilder's smoothing of `values[1..]`, seeded by the simple mean of its first `period`
/// values: the first output sits at index `period` (RSI and ATR need the previous close).
fn wilder(values: &[f64], period: usize) -> Series {
    let mut out = vec![None; values.len()];
    if period == 0 || values.len() <= period {
        return out;
    }
    let n = period as f64;
    let mut avg = values[1..=period].iter().sum::<f64>() / n;
    out[period] = Some(avg);
    for i in period + 1..values.len() {
        avg = (avg * (n - 1.0) + values[i]) / n;
        out[i] = Some(avg);
    }
    out
}

/// RSI with Wilder's smoothing of gains and losses, seeded by their simple means.
pub fn rsi(closes: &[f64], period: usize) -> Series {
    let diff = |i: usize| {
        if i == 0 {
            0.0
        } else {
            closes[i] - closes[i - 1]
        }
    };
    let gains: Vec<f64> = (0..closes.len()).map(|i| diff(i).max(0.0)).collect();
    let losses: Vec<f64> = (0..closes.len()).map(|i| (-diff(i)).max(0.0)).collect();
    let (up, down) = (wilder(&gains, period), wilder(&losses, period));
    up.iter()
        .zip(&down)
        .map(|(u, d)| {
            let (u, d) = ((*u)?, (*d)?);
            // TA-Lib answers 0 for a flat series (no gain, no loss).
            Some(if u + d == 0.0 {
                0.0
            } else {
                100.0 * u / (u + d)
            })
        })
        .collect()
}

/// Average true range: Wilder's smoothing of the true range, seeded by its simple mean.
pub fn atr(candles: &[Candle], period: usize) -> Series {
    let tr: Vec<f64> = candles
        .iter()
        .enumerate()
        .map(|(i, c)| match i.checked_sub(1).map(|p| candles[p].close) {
            Some(prev) => (c.high - c.low)
                .max((c.high - prev).abs())
                .max((c.low - prev).abs()),
            None => c.high - c.low,
        })
        .collect();
    wilder(&tr, period)
}

/// MACD line, signal and histogram as TA-Lib computes them: both EMAs start where the slow
/// one does (the fast one seeded by the SMA of the `fast` values ending there), the signal is
/// the EMA(`signal`) of the MACD line, and all three start where the signal does.
pub fn macd(closes: &[f64], fast: usize, slow: usize, signal: usize) -> [Series; 3] {
    // TA-Lib swaps the periods when given the wrong way round.
    let (fast, slow) = if slow < fast {
        (slow, fast)
    } else {
        (fast, slow)
    };
    let n = closes.len();
    let none = || [vec![None; n], vec![None; n], vec![None; n]];
    if fast == 0 || signal == 0 || n < slow + signal - 1 {
        return none();
    }
    let slow_ema = ema(closes, slow);
    let fast_ema = ema_from(closes, fast, slow - fast);
    let start = slow - 1;
    let line: Vec<f64> = (start..n)
        .map(|i| fast_ema[i].unwrap_or(0.0) - slow_ema[i].unwrap_or(0.0))
        .collect();
    let signal_line = ema(&line, signal);
    let [mut m, mut s, mut h] = none();
    for (j, sig) in signal_line.iter().enumerate() {
        if let Some(sig) = sig {
            let i = start + j;
            m[i] = Some(line[j]);
            s[i] = Some(*sig);
            h[i] = Some(line[j] - sig);
        }
    }
    [m, s, h]
}

/// Bollinger bands: SMA(N) ∓ K × the population standard deviation of the same N closes;
/// `[lower, middle, upper]`.
pub fn bbands(closes: &[f64], period: usize, k: f64) -> [Series; 3] {
    let middle = sma(closes, period);
    let mut lower = vec![None; closes.len()];
    let mut upper = vec![None; closes.len()];
    for (i, mean) in middle.iter().enumerate() {
        if let Some(mean) = mean {
            let window = &closes[i + 1 - period..=i];
            let var = window.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / period as f64;
            let sd = var.max(0.0).sqrt();
            lower[i] = Some(mean - k * sd);
            upper[i] = Some(mean + k * sd);
        }
    }
    [lower, middle, upper]
}

/// How many fast %K values the slow %K averages (TA-Lib's `slowk_period`, the usual 3).
pub const STOCH_SLOWING: usize = 3;

/// Slow stochastic: fast %K over `k` candles, slow %K = its SMA(3), slow %D = the SMA(`d`) of
/// slow %K; `[slow_k, slow_d]`, both from where TA-Lib starts them (where %D exists).
pub fn stoch(candles: &[Candle], k: usize, d: usize) -> [Series; 2] {
    let n = candles.len();
    let mut fast = vec![f64::NAN; n];
    if k > 0 {
        for i in k - 1..n {
            let window = &candles[i + 1 - k..=i];
            let hh = window.iter().map(|c| c.high).fold(f64::MIN, f64::max);
            let ll = window.iter().map(|c| c.low).fold(f64::MAX, f64::min);
            let range = hh - ll;
            fast[i] = if range > 0.0 {
                100.0 * (candles[i].close - ll) / range
            } else {
                0.0
            };
        }
    }
    let slow_k = lagged_sma(&fast, k.saturating_sub(1), STOCH_SLOWING);
    let slow_k_values: Vec<f64> = slow_k.iter().map(|v| v.unwrap_or(f64::NAN)).collect();
    let first_k = k.saturating_sub(1) + STOCH_SLOWING - 1;
    let slow_d = lagged_sma(&slow_k_values, first_k, d);
    let start = first_k + d.saturating_sub(1);
    let keep = |s: Series| -> Series {
        s.into_iter()
            .enumerate()
            .map(|(i, v)| if i >= start { v } else { None })
            .collect()
    };
    [keep(slow_k), keep(slow_d)]
}

/// SMA of `values[first..]` (the values before `first` are undefined).
fn lagged_sma(values: &[f64], first: usize, period: usize) -> Series {
    let mut out = vec![None; values.len()];
    if period == 0 || first >= values.len() {
        return out;
    }
    for (j, v) in sma(&values[first..], period).into_iter().enumerate() {
        out[first + j] = v;
    }
    out
}

/// Milliseconds in a UTC day: VWAP starts again at each 00:00 UTC.
const DAY_MS: i64 = 86_400_000;

/// VWAP of the typical price (high + low + close) / 3, weighted by volume, accumulated from
/// each 00:00 UTC; `None` while the day has traded no volume.
pub fn vwap(candles: &[Candle]) -> Series {
    let mut out = Vec::with_capacity(candles.len());
    let (mut day, mut pv, mut vol) = (i64::MIN, 0.0, 0.0);
    for c in candles {
        let today = c.timestamp.div_euclid(DAY_MS);
        if today != day {
            (day, pv, vol) = (today, 0.0, 0.0);
        }
        pv += (c.high + c.low + c.close) / 3.0 * c.volume;
        vol += c.volume;
        out.push((vol > 0.0).then(|| pv / vol));
    }
    out
}
