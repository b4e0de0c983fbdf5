//! Output for people: numbers, tables, the candlestick chart and the depth ladder.

pub mod analytics;
pub mod chart;
pub mod derivatives;
pub mod indicators;
pub mod ladder;
pub mod tables;
pub mod venues;

use std::io::IsTerminal;

/// How output may look: colours (a TTY and no `NO_COLOR`), and unicode drawing (same rule:
/// plain ASCII when `NO_COLOR` is set or stdout is not a terminal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Look {
    pub color: bool,
    pub unicode: bool,
}

impl Look {
    /// Plain: no colours, ASCII only (pipes, files, tests).
    pub const PLAIN: Look = Look {
        color: false,
        unicode: false,
    };

    /// From stdout and the environment.
    pub fn detect() -> Look {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let tty = std::io::stdout().is_terminal();
        let fancy = tty && !no_color;
        Look {
            color: fancy,
            unicode: fancy,
        }
    }

    /// `text` in `style` when colours are on.
    pub fn paint(&self, style: anstyle::Style, text: &str) -> String {
        if self.color {
            format!("{style}{text}{style:#}")
        } else {
            text.to_owned()
        }
    }
}

pub fn green() -> anstyle::Style {
    anstyle::Style::new().fg_color(Some(anstyle::AnsiColor::Green.into()))
}

pub fn red() -> anstyle::Style {
    anstyle::Style::new().fg_color(Some(anstyle::AnsiColor::Red.into()))
}

pub fn dim() -> anstyle::Style {
    anstyle::Style::new().dimmed()
}

/// A number with thousands separators and `decimals` decimals: `64123.4, 2` → `64,123.40`.
pub fn group(x: f64, decimals: usize) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    let text = format!("{:.*}", decimals, x.abs());
    let (int, frac) = match text.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (text.as_str(), None),
    };
    let mut grouped = String::with_capacity(int.len() + int.len() / 3);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let negative = x < 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0');
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    out.push_str(&grouped);
    if let Some(frac) = frac {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// A price or amount as the exchange gave it (up to 8 decimals, at least 2) with thousands
/// separators: `64123.4` → `64,123.40`, `0.00001234` → `0.00001234`.
pub fn num(x: f64) -> String {
    let full = group(x, 8);
    match full.split_once('.') {
        Some((int, frac)) => {
            let trimmed = frac.trim_end_matches('0');
            let frac = if trimmed.len() < 2 {
                &frac[..2]
            } else {
                trimmed
            };
            format!("{int}.{frac}")
        }
        None => full,
    }
}

/// A JSON number as [`num`], `-` for null or missing.
pub fn num_of(v: &serde_json::Value) -> String {
    v.as_f64().map(num).unwrap_or_else(|| "-".to_owned())
}

/// An age in ms for people: `850 ms`, `3.2 s`, `4 min`.
pub fn age(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{} ms", ms.max(0.0).round())
    } else if ms < 60_000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else if ms < 3_600_000.0 {
        format!("{:.0} min", ms / 60_000.0)
    } else {
        format!("{:.1} h", ms / 3_600_000.0)
    }
}

/// A ms timestamp as UTC `YYYY-MM-DD HH:MM` (candles) or with seconds and ms (trades).
pub fn time(ms: i64, precise: bool) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) if precise => t.format("%H:%M:%S%.3f").to_string(),
        Some(t) => t.format("%Y-%m-%d %H:%M").to_string(),
        None => ms.to_string(),
    }
}
