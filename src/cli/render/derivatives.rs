//! Views of the derivative tools (SPEC.md 4.1 and 8): `funding` (compare_funding across venues,
//! or one venue's history) and `oi` (open interest).

use comfy_table::{Cell, Color};
use serde_json::Value;

use super::tables::{freshness_line, table};
use super::{age, num_of, time, Look};

pub(super) fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

/// A rate as a percentage with its sign, e.g. `+0.0100%`.
fn percent(v: &Value, decimals: usize) -> String {
    v.as_f64()
        .map_or("-".to_owned(), |r| format!("{:+.*}%", decimals, r * 100.0))
}

fn rate_cell(v: &Value, decimals: usize) -> Cell {
    let cell = Cell::new(percent(v, decimals));
    match v.as_f64() {
        Some(r) if r > 0.0 => cell.fg(Color::Green),
        Some(r) if r < 0.0 => cell.fg(Color::Red),
        _ => cell,
    }
}

fn when(v: &Value) -> String {
    v.as_i64().map_or("-".to_owned(), |ms| time(ms, false))
}

/// A `compare_funding` result: a row per venue, the highest, lowest and spread, errors.
pub fn funding_comparison(v: &Value, look: Look) -> String {
    let mut t = table(
        look,
        &[
            "exchange",
            "funding",
            "annualized",
            "every",
            "next funding (UTC)",
            "mark",
            "source",
            "age",
            "stale",
        ],
        &[1, 2, 3, 5, 7],
    );
    for r in v["rates"].as_array().into_iter().flatten() {
        t.add_row(vec![
            Cell::new(text(&r["exchange"])),
            rate_cell(&r["funding_rate"], 4),
            rate_cell(&r["annualized"], 2),
            Cell::new(
                r["interval_hours"]
                    .as_f64()
                    .map_or("-".to_owned(), |h| format!("{h} h")),
            ),
            Cell::new(when(&r["next_funding_ms"])),
            Cell::new(num_of(&r["mark_price"])),
            Cell::new(text(&r["source"])),
            Cell::new(r["age_ms"].as_f64().map(age).unwrap_or_else(|| "-".into())),
            Cell::new(if r["stale"].as_bool() == Some(true) {
                "STALE"
            } else {
                "no"
            }),
        ]);
    }
    let mut out = format!("{} funding across exchanges\n{t}\n", text(&v["symbol"]));
    if let (Some(high), Some(low)) = (v["highest"].as_object(), v["lowest"].as_object()) {
        out.push_str(&format!(
            "highest {} on {}, lowest {} on {}, spread {}\n",
            percent(&high["funding_rate"], 4),
            text(&high["exchange"]),
            percent(&low["funding_rate"], 4),
            text(&low["exchange"]),
            percent(&v["spread"], 4),
        ));
    }
    out.push_str(&super::venues::venue_errors(v));
    out
}

/// A `get_funding_rate` result on one venue.
pub fn funding_rate(v: &Value, look: Look) -> String {
    let mut t = table(
        look,
        &[
            "symbol",
            "exchange",
            "funding",
            "every",
            "next funding (UTC)",
            "mark",
            "index",
        ],
        &[2, 3, 5, 6],
    );
    t.add_row(vec![
        Cell::new(text(&v["symbol"])),
        Cell::new(text(&v["exchange"])),
        rate_cell(&v["funding_rate"], 4),
        Cell::new(
            v["interval_hours"]
                .as_f64()
                .map_or("-".to_owned(), |h| format!("{h} h")),
        ),
        Cell::new(when(&v["next_funding_ms"])),
        Cell::new(num_of(&v["mark_price"])),
        Cell::new(num_of(&v["index_price"])),
    ]);
    with_freshness(format!("{t}\n"), v, look)
}

/// A `get_funding_history` result: settled rates, oldest first.
pub fn funding_history(v: &Value, look: Look) -> String {
    let mut t = table(look, &["settled (UTC)", "funding"], &[1]);
    for r in v["rates"].as_array().into_iter().flatten() {
        t.add_row(vec![
            Cell::new(when(&r["timestamp"])),
            rate_cell(&r["funding_rate"], 4),
        ]);
    }
    let title = format!(
        "{} on {}: settled funding\n",
        text(&v["symbol"]),
        text(&v["exchange"])
    );
    with_freshness(format!("{title}{t}\n"), v, look)
}

/// A `get_open_interest` result.
pub fn open_interest(v: &Value, look: Look) -> String {
    let mut t = table(
        look,
        &["symbol", "exchange", "contracts", "base", "value (quote)"],
        &[2, 3, 4],
    );
    t.add_row(vec![
        Cell::new(text(&v["symbol"])),
        Cell::new(text(&v["exchange"])),
        Cell::new(num_of(&v["open_interest"])),
        Cell::new(num_of(&v["open_interest_base"])),
        Cell::new(num_of(&v["open_interest_value"])),
    ]);
    with_freshness(format!("{t}\n"), v, look)
}

pub(super) fn with_freshness(mut out: String, v: &Value, look: Look) -> String {
    if let Some(line) = freshness_line(v, look) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn comparison_shows_rates_as_percentages_and_the_extremes() {
        let v = json!({
            "symbol": "BTC/USDT:USDT",
            "rates": [
                {"exchange": "binance", "funding_rate": 0.0001, "annualized": 0.1095,
                 "interval_hours": 8.0, "next_funding_ms": 0, "mark_price": 64000.5,
                 "source": "exchange", "age_ms": 3, "stale": false},
                {"exchange": "okx", "funding_rate": -0.0002, "annualized": -0.219,
                 "interval_hours": 8.0, "next_funding_ms": 0, "mark_price": 64001.0,
                 "source": "cache", "age_ms": 10, "stale": false}
            ],
            "highest": {"exchange": "binance", "funding_rate": 0.0001},
            "lowest": {"exchange": "okx", "funding_rate": -0.0002},
            "spread": 0.0003,
            "errors": []
        });
        let out = funding_comparison(&v, Look::PLAIN);
        assert!(out.contains("+0.0100%"), "{out}");
        assert!(out.contains("+10.95%"), "{out}");
        assert!(out.contains("-0.0200%"), "{out}");
        assert!(
            out.contains("highest +0.0100% on binance, lowest -0.0200% on okx, spread +0.0300%"),
            "{out}"
        );
    }
}
