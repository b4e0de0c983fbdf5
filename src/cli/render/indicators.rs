//! Indicator panes in the terminal, drawn under a price chart (`crypto-market indicators`):
//! one pane per indicator (MACD's three lines together, the Bollinger bands together, %K with
//! %D), one column per row of `get_indicators`, each line its own glyph, the scale on the left
//! axis as in [`super::chart`], the latest values in the pane's title.

use serde_json::Value;

use super::{dim, group, Look};

/// Rows of each pane.
const PANE_HEIGHT: usize = 6;
/// The glyphs of a pane's first, second and third line.
const GLYPHS: [&str; 3] = ["*", "+", "o"];

/// The columns of `get_indicators` (past timestamp and close) in panes: indexes into a row.
fn panes(columns: &[&str]) -> Vec<Vec<usize>> {
    let mut out: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, name) in columns.iter().enumerate().skip(2) {
        // macd, macd_signal, macd_hist → "macd"; bb_* → "bb"; stoch_* → "stoch".
        let family = match name.split('_').next() {
            Some(f @ ("macd" | "bb" | "stoch")) => f.to_owned(),
            _ => (*name).to_owned(),
        };
        match out.iter_mut().find(|(f, _)| *f == family) {
            Some((_, members)) => members.push(i),
            None => out.push((family, vec![i])),
        }
    }
    out.into_iter().map(|(_, members)| members).collect()
}

/// The panes of a `get_indicators` result, the last rows that fit in `width` columns.
pub fn indicator_panes(v: &Value, width: usize, look: Look) -> Vec<String> {
    let columns: Vec<&str> = v["columns"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let rows: Vec<&Vec<Value>> = v["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_array)
        .collect();
    let mut lines = Vec::new();
    for members in panes(&columns) {
        let series: Vec<Vec<Option<f64>>> = members
            .iter()
            .map(|i| {
                rows.iter()
                    .map(|r| r.get(*i).and_then(Value::as_f64))
                    .collect()
            })
            .collect();
        let title: Vec<String> = members
            .iter()
            .zip(&series)
            .zip(GLYPHS.iter().cycle())
            .map(|((i, s), glyph)| {
                let last = s.iter().rev().flatten().next();
                let value = last.map_or("-".to_owned(), |x| group(*x, 2));
                format!("{glyph} {} {value}", columns[*i])
            })
            .collect();
        lines.push(look.paint(dim(), &title.join("   ")));
        lines.extend(pane(&series, PANE_HEIGHT, width));
        lines.push(String::new());
    }
    lines
}

/// Lines of `series` on one scale, `height` rows, the last values that fit in `width`.
fn pane(series: &[Vec<Option<f64>>], height: usize, width: usize) -> Vec<String> {
    let values = || series.iter().flatten().flatten().copied();
    let max = values().fold(f64::NEG_INFINITY, f64::max);
    let min = values().fold(f64::INFINITY, f64::min);
    if !max.is_finite() || !min.is_finite() {
        return vec!["  (no values yet)".to_owned()];
    }
    let span = max - min;
    let step = if span > 0.0 {
        span / (height - 1) as f64
    } else {
        1.0
    };
    let label_at = |r: usize| group(max - r as f64 * step, 2);
    let label_width = (0..height).map(|r| label_at(r).len()).max().unwrap_or(0);
    let columns = width.saturating_sub(label_width + 2).max(1);
    let len = series.iter().map(Vec::len).max().unwrap_or(0);
    let first = len.saturating_sub(columns);
    let row_of = |p: f64| -> usize {
        if span > 0.0 {
            (((max - p) / span) * (height - 1) as f64).round() as usize
        } else {
            height / 2
        }
    };
    (0..height)
        .map(|r| {
            let label = if r == 0 || r == height - 1 {
                label_at(r)
            } else {
                String::new()
            };
            let mut line = format!("{label:>label_width$} |");
            for i in first..len {
                // The first line drawn wins where two meet.
                let glyph = series
                    .iter()
                    .zip(GLYPHS.iter().cycle())
                    .find(|(s, _)| s.get(i).copied().flatten().map(row_of) == Some(r))
                    .map_or(" ", |(_, g)| g);
                line.push_str(glyph);
            }
            line.trim_end().to_owned()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_pane_per_indicator_with_its_lines() {
        let v = json!({
            "columns": ["timestamp", "close", "rsi_14", "macd", "macd_signal", "macd_hist"],
            "rows": [[0, 1.0, null, null, null, null], [1, 2.0, 30.0, 1.0, 0.5, 0.5], [2, 3.0, 70.0, 2.0, 1.0, 1.0]]
        });
        let lines = indicator_panes(&v, 40, Look::PLAIN);
        let text = lines.join("\n");
        assert!(text.contains("* rsi_14 70.00"), "{text}");
        assert!(
            text.contains("* macd 2.00   + macd_signal 1.00   o macd_hist 1.00"),
            "{text}"
        );
        // Two panes of a title, six rows and a blank line.
        assert_eq!(lines.len(), 2 * (1 + PANE_HEIGHT + 1));
        // RSI: none yet in the first column, 30 on the bottom row, 70 on the top one.
        assert!(lines[1].ends_with("|  *"), "{:?}", lines[1]);
        assert!(
            lines[PANE_HEIGHT].ends_with("| *"),
            "{:?}",
            lines[PANE_HEIGHT]
        );
    }
}
