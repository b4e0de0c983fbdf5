//! Aligned tables (comfy-table) of the tools' results, numbers with thousands separators, and
//! the freshness of what is shown.

use comfy_table::{presets, Cell, CellAlignment, Color, Table};
use serde_json::Value;

use super::{age, num, num_of, time, Look};
use crate::cli::render::chart::Candle;

/// A table with the look's borders and styling (never styled off a TTY or with NO_COLOR).
pub fn table(look: Look, header: &[&str], right: &[usize]) -> Table {
    let mut t = Table::new();
    if look.unicode {
        t.load_preset(presets::UTF8_FULL_CONDENSED);
    } else {
        t.load_preset(presets::ASCII_FULL_CONDENSED);
    }
    if look.color {
        t.enforce_styling();
    } else {
        t.force_no_tty();
    }
    if !header.is_empty() {
        t.set_header(header.iter().copied());
    }
    for &i in right {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    t
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

/// Freshness cells: source, age, stale (highlighted).
fn freshness_cells(v: &Value) -> [Cell; 3] {
    let stale = v["stale"].as_bool().unwrap_or(false);
    let age_cell = Cell::new(v["age_ms"].as_f64().map(age).unwrap_or_else(|| "-".into()));
    let stale_cell = if stale {
        Cell::new("STALE").fg(Color::Yellow)
    } else {
        Cell::new("no")
    };
    [Cell::new(text(&v["source"])), age_cell, stale_cell]
}

/// One line about a result's freshness: `source: exchange, age: 12 ms` (+ `STALE`).
pub fn freshness_line(v: &Value, look: Look) -> Option<String> {
    let source = v["source"].as_str()?;
    let mut line = format!("source: {source}");
    if let Some(ms) = v["age_ms"].as_f64() {
        line.push_str(&format!(", age: {}", age(ms)));
    }
    if let Some(from) = v["failover_from"].as_str() {
        line.push_str(&format!(", failover from {from}"));
    }
    if v["stale"].as_bool() == Some(true) {
        line.push_str(&format!(", {}", look.paint(super::red(), "STALE")));
    }
    Some(line)
}

/// `get_ticker` results; perpetuals' with their mark and index price.
pub fn tickers(list: &[&Value], look: Look) -> String {
    let derivatives = list.iter().any(|v| v.get("mark_price").is_some());
    let mut header = vec!["symbol", "exchange", "last"];
    if derivatives {
        header.extend(["mark", "index"]);
    }
    header.extend([
        "bid",
        "ask",
        "change 24h",
        "volume 24h",
        "source",
        "age",
        "stale",
    ]);
    let right: Vec<usize> = if derivatives {
        vec![2, 3, 4, 5, 6, 7, 8, 10]
    } else {
        vec![2, 3, 4, 5, 6, 8]
    };
    let mut t = table(look, &header, &right);
    for v in list {
        let pct = v["percentage"].as_f64();
        let change = match pct {
            Some(p) => {
                let cell = Cell::new(format!("{p:+.2}%"));
                if p >= 0.0 {
                    cell.fg(Color::Green)
                } else {
                    cell.fg(Color::Red)
                }
            }
            None => Cell::new("-"),
        };
        let last = if v["last"].is_null() {
            &v["price"]
        } else {
            &v["last"]
        };
        let mut row = vec![
            Cell::new(text(&v["symbol"])),
            Cell::new(text(&v["exchange"])),
            Cell::new(num_of(last)),
        ];
        if derivatives {
            row.push(Cell::new(num_of(&v["mark_price"])));
            row.push(Cell::new(num_of(&v["index_price"])));
        }
        row.extend([
            Cell::new(num_of(&v["bid"])),
            Cell::new(num_of(&v["ask"])),
            change,
            Cell::new(num_of(&v["baseVolume"])),
        ]);
        row.extend(freshness_cells(v));
        t.add_row(row);
    }
    t.to_string()
}

/// `get_ohlcv` candles.
pub fn candles(candles: &[Candle], look: Look) -> String {
    let mut t = table(
        look,
        &["time (UTC)", "open", "high", "low", "close", "volume"],
        &[1, 2, 3, 4, 5],
    );
    for c in candles {
        let close = Cell::new(num(c.close)).fg(if c.close >= c.open {
            Color::Green
        } else {
            Color::Red
        });
        t.add_row(vec![
            Cell::new(time(c.ts, false)),
            Cell::new(num(c.open)),
            Cell::new(num(c.high)),
            Cell::new(num(c.low)),
            close,
            Cell::new(num(c.volume)),
        ]);
    }
    t.to_string()
}

/// `get_trades` trades.
pub fn trades(result: &Value, look: Look) -> String {
    let mut t = table(
        look,
        &["time (UTC)", "side", "price", "amount", "value"],
        &[2, 3, 4],
    );
    for tr in result["trades"].as_array().into_iter().flatten() {
        let side = text(&tr["side"]);
        let side_cell = match side.as_str() {
            "buy" => Cell::new(&side).fg(Color::Green),
            "sell" => Cell::new(&side).fg(Color::Red),
            _ => Cell::new(&side),
        };
        let value = match (tr["price"].as_f64(), tr["amount"].as_f64()) {
            (Some(p), Some(a)) => num(p * a),
            _ => "-".to_owned(),
        };
        t.add_row(vec![
            Cell::new(
                tr["timestamp"]
                    .as_i64()
                    .map(|ms| time(ms, true))
                    .unwrap_or_else(|| "-".into()),
            ),
            side_cell,
            Cell::new(num_of(&tr["price"])),
            Cell::new(num_of(&tr["amount"])),
            Cell::new(value),
        ]);
    }
    t.to_string()
}

/// `list_markets` markets.
pub fn markets(result: &Value, look: Look) -> String {
    let mut t = table(look, &["symbol", "base", "quote", "type", "active"], &[]);
    for m in result["markets"].as_array().into_iter().flatten() {
        let active = match m["active"].as_bool() {
            Some(true) => Cell::new("yes"),
            Some(false) => Cell::new("no").fg(Color::Yellow),
            None => Cell::new("-"),
        };
        t.add_row(vec![
            Cell::new(text(&m["symbol"])),
            Cell::new(text(&m["base"])),
            Cell::new(text(&m["quote"])),
            Cell::new(text(&m["type"])),
            active,
        ]);
    }
    t.to_string()
}
