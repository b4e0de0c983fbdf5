//! A candlestick chart in the terminal: one column per candle, the highest high on the top row
//! and the lowest low on the bottom row, price labels on the left axis. Unicode blocks and box
//! characters (coloured up/down) on a terminal; `|`, `#` and `+` otherwise.

use super::{green, group, red, Look};

/// One candle: `[ts_ms, open, high, low, close, volume]` of `get_ohlcv`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candle {
    pub ts: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

impl Candle {
    /// From a `get_ohlcv` row; `None` when a field is missing or not a number.
    pub fn from_row(row: &serde_json::Value) -> Option<Candle> {
        let row = row.as_array()?;
        let f = |i: usize| row.get(i).and_then(|v| v.as_f64());
        Some(Candle {
            ts: row.first()?.as_i64()?,
            open: f(1)?,
            high: f(2)?,
            low: f(3)?,
            close: f(4)?,
            volume: f(5).unwrap_or(0.0),
        })
    }
}

/// The chart as lines, top row first: `height` rows of the last candles that fit in `width`
/// columns (labels included). Empty for no candles.
pub fn candles(candles: &[Candle], height: usize, width: usize, look: Look) -> Vec<String> {
    if candles.is_empty() || height == 0 {
        return Vec::new();
    }
    let height = height.max(2);
    let max = candles
        .iter()
        .map(|c| c.high)
        .fold(f64::NEG_INFINITY, f64::max);
    let min = candles.iter().map(|c| c.low).fold(f64::INFINITY, f64::min);
    let span = max - min;
    let step = if span > 0.0 {
        span / (height - 1) as f64
    } else {
        1.0
    };
    let decimals = if step >= 1.0 {
        2
    } else {
        ((-step.log10()).ceil() as usize + 1).min(8)
    };
    let label_at = |r: usize| group(max - r as f64 * step, decimals);
    let label_width = (0..height).map(|r| label_at(r).len()).max().unwrap_or(0);
    let columns = width.saturating_sub(label_width + 2).max(1);
    let shown = &candles[candles.len().saturating_sub(columns)..];
    let row_of = |p: f64| -> usize {
        if span > 0.0 {
            (((max - p) / span) * (height - 1) as f64).round() as usize
        } else {
            height / 2
        }
    };
    let (body, wick, tick, axis) = if look.unicode {
        ("█", "│", "┤", "│")
    } else {
        ("#", "|", "+", "|")
    };
    let mut lines = Vec::with_capacity(height);
    for r in 0..height {
        let labelled = r % 4 == 0 || r == height - 1;
        let mut line = if labelled {
            format!("{:>label_width$} {tick}", label_at(r))
        } else {
            format!("{:>label_width$} {axis}", "")
        };
        for c in shown {
            let (top, bottom) = (row_of(c.open.max(c.close)), row_of(c.open.min(c.close)));
            let (high, low) = (row_of(c.high), row_of(c.low));
            let glyph = if (top..=bottom).contains(&r) {
                body
            } else if (high..=low).contains(&r) {
                wick
            } else {
                " "
            };
            if glyph == " " {
                line.push(' ');
            } else if c.close >= c.open {
                line.push_str(&look.paint(green(), glyph));
            } else {
                line.push_str(&look.paint(red(), glyph));
            }
        }
        lines.push(line.trim_end().to_owned());
    }
    lines
}
