//! Technical indicators over candles (SPEC.md 4.2, `get_indicators`): the specs clients write
//! (`rsi:14`, `macd:12:26:9`, ...), the columns each one adds, and how many earlier candles
//! make the values equal those over the whole history. The formulas are TA-Lib's
//! ([`calc`]); nothing here knows of venues, actors or MCP.

pub mod calc;

use super::Candle;
use calc::Series;

/// Most indicators one call may ask for.
pub const MAX_INDICATORS: usize = 10;
/// Periods allowed for every indicator's `N` (TA-Lib allows 2 and up; 500 keeps the warm-up
/// within a few exchange calls).
pub const PERIODS: std::ops::RangeInclusive<usize> = 2..=500;

/// One indicator as asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Indicator {
    Sma(usize),
    Ema(usize),
    Rsi(usize),
    Macd {
        fast: usize,
        slow: usize,
        signal: usize,
    },
    Bbands {
        period: usize,
        k: f64,
    },
    Atr(usize),
    Stoch {
        k: usize,
        d: usize,
    },
    Vwap,
}

impl Indicator {
    /// Reads one spec such as `rsi:14`, `macd:12:26:9`, `bbands:20:2`, `vwap`; a name alone
    /// takes the usual periods (sma/ema 20, rsi/atr 14, macd 12:26:9, bbands 20:2, stoch 14:3).
    /// The error says what is wrong with `spec`, for an `invalid_argument` naming it.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let spec = spec.trim().to_ascii_lowercase();
        let mut parts = spec.split(':');
        let name = parts.next().unwrap_or_default();
        let params: Vec<&str> = parts.collect();
        let period = |i: usize, default: usize| -> Result<usize, String> {
            let Some(text) = params.get(i) else {
                return Ok(default);
            };
            match text.trim().parse::<usize>() {
                Ok(n) if PERIODS.contains(&n) => Ok(n),
                _ => Err(format!(
                    "{spec:?}: period {text:?} must be a whole number from {} to {}",
                    PERIODS.start(),
                    PERIODS.end()
                )),
            }
        };
        let at_most = |n: usize| -> Result<(), String> {
            if params.len() > n {
                Err(format!("{spec:?}: {name} takes at most {n} parameters"))
            } else {
                Ok(())
            }
        };
        let indicator = match name {
            "sma" => at_most(1).and(period(0, 20)).map(Self::Sma)?,
            "ema" => at_most(1).and(period(0, 20)).map(Self::Ema)?,
            "rsi" => at_most(1).and(period(0, 14)).map(Self::Rsi)?,
            "atr" => at_most(1).and(period(0, 14)).map(Self::Atr)?,
            "macd" => {
                at_most(3)?;
                let (fast, slow, signal) = (period(0, 12)?, period(1, 26)?, period(2, 9)?);
                if fast >= slow {
                    return Err(format!(
                        "{spec:?}: the fast period must be below the slow one"
                    ));
                }
                Self::Macd { fast, slow, signal }
            }
            "bbands" | "bb" => {
                at_most(2)?;
                let k = match params.get(1) {
                    None => 2.0,
                    Some(text) => match text.trim().parse::<f64>() {
                        Ok(k) if (0.1..=10.0).contains(&k) => k,
                        _ => {
                            return Err(format!(
                                "{spec:?}: the width {text:?} must be a number from 0.1 to 10"
                            ))
                        }
                    },
                };
                Self::Bbands {
                    period: period(0, 20)?,
                    k,
                }
            }
            "stoch" => {
                at_most(2)?;
                Self::Stoch {
                    k: period(0, 14)?,
                    d: period(1, 3)?,
                }
            }
            "vwap" => at_most(0).map(|()| Self::Vwap)?,
            _ => {
                return Err(format!(
                    "{spec:?} is not an indicator; use sma:N, ema:N, rsi:N, macd:F:S:G, \
                     bbands:N:K, atr:N, stoch:K:D or vwap"
                ))
            }
        };
        Ok(indicator)
    }

    /// The columns this indicator adds, in order.
    pub fn columns(&self) -> Vec<String> {
        match self {
            Self::Sma(n) => vec![format!("sma_{n}")],
            Self::Ema(n) => vec![format!("ema_{n}")],
            Self::Rsi(n) => vec![format!("rsi_{n}")],
            Self::Atr(n) => vec![format!("atr_{n}")],
            Self::Macd { .. } => ["macd", "macd_signal", "macd_hist"]
                .map(String::from)
                .into(),
            Self::Bbands { .. } => ["bb_lower", "bb_middle", "bb_upper"]
                .map(String::from)
                .into(),
            Self::Stoch { .. } => ["stoch_k", "stoch_d"].map(String::from).into(),
            Self::Vwap => vec!["vwap".to_owned()],
        }
    }

    /// The longest run of candles its value depends on, seeds included (the SPEC's "period"
    /// of the warm-up rule: at least 5 × this + 100 earlier candles are fetched).
    pub fn period(&self) -> usize {
        match self {
            Self::Sma(n) | Self::Ema(n) | Self::Rsi(n) | Self::Atr(n) => *n,
            Self::Macd { slow, signal, .. } => slow + signal,
            Self::Bbands { period, .. } => *period,
            Self::Stoch { k, d } => k + calc::STOCH_SLOWING + d,
            // Reset each day: a day of the finest timeframe is covered by the fixed 100.
            Self::Vwap => 0,
        }
    }

    /// The series of its columns over `candles`.
    pub fn compute(&self, candles: &[Candle]) -> Vec<Series> {
        let closes: Vec<f64> = candles.iter().map(|c| c.close).collect();
        match self {
            Self::Sma(n) => vec![calc::sma(&closes, *n)],
            Self::Ema(n) => vec![calc::ema(&closes, *n)],
            Self::Rsi(n) => vec![calc::rsi(&closes, *n)],
            Self::Atr(n) => vec![calc::atr(candles, *n)],
            Self::Macd { fast, slow, signal } => calc::macd(&closes, *fast, *slow, *signal).into(),
            Self::Bbands { period, k } => calc::bbands(&closes, *period, *k).into(),
            Self::Stoch { k, d } => calc::stoch(candles, *k, *d).into(),
            Self::Vwap => vec![calc::vwap(candles)],
        }
    }
}

/// Reads a list of specs: 1 to [`MAX_INDICATORS`], no column twice.
pub fn parse_all<S: AsRef<str>>(specs: &[S]) -> Result<Vec<Indicator>, String> {
    if specs.is_empty() || specs.len() > MAX_INDICATORS {
        return Err(format!(
            "give 1 to {MAX_INDICATORS} indicators, not {}",
            specs.len()
        ));
    }
    let indicators = specs
        .iter()
        .map(|s| Indicator::parse(s.as_ref()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut seen = std::collections::HashSet::new();
    for column in indicators.iter().flat_map(Indicator::columns) {
        if !seen.insert(column.clone()) {
            return Err(format!("{column} is asked for twice"));
        }
    }
    Ok(indicators)
}

/// Earlier candles to fetch before the first row shown: 5 × the longest period + 100.
pub fn warm_up(indicators: &[Indicator]) -> usize {
    5 * indicators.iter().map(Indicator::period).max().unwrap_or(0) + 100
}

/// The table of `get_indicators`: `timestamp`, `close`, then each indicator's columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub columns: Vec<String>,
    /// One row per candle, oldest first: the timestamp, the close, the indicators' values.
    pub rows: Vec<Row>,
}

/// One row of [`Table`]: `[timestamp, close, values...]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub timestamp: i64,
    pub close: f64,
    pub values: Vec<Option<f64>>,
}

/// The indicators over all `candles` (oldest first), keeping the last `rows` rows.
pub fn table(candles: &[Candle], indicators: &[Indicator], rows: usize) -> Table {
    let mut columns = vec!["timestamp".to_owned(), "close".to_owned()];
    columns.extend(indicators.iter().flat_map(Indicator::columns));
    let series: Vec<Series> = indicators.iter().flat_map(|i| i.compute(candles)).collect();
    let first = candles.len().saturating_sub(rows);
    let rows = (first..candles.len())
        .map(|i| Row {
            timestamp: candles[i].timestamp,
            close: candles[i].close,
            // Not-a-number (a venue's zero range, say) is no value either.
            values: series
                .iter()
                .map(|s| s[i].filter(|v| v.is_finite()))
                .collect(),
        })
        .collect();
    Table { columns, rows }
}

#[cfg(test)]
mod tests;
