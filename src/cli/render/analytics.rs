//! Views of the analytics tools (SPEC.md 4.2 and 8): `fill` (estimate_fill, a row per venue
//! and the best), `movers` (top_movers) and `convert`.

use comfy_table::{Cell, Color};
use serde_json::Value;

use super::derivatives::{text, with_freshness};
use super::tables::table;
use super::{age, num_of, Look};

/// A percentage with its sign, coloured by it: `+7.50%`.
fn change_cell(v: &Value) -> Cell {
    match v.as_f64() {
        Some(p) => {
            let cell = Cell::new(format!("{p:+.2}%"));
            if p > 0.0 {
                cell.fg(Color::Green)
            } else if p < 0.0 {
                cell.fg(Color::Red)
            } else {
                cell
            }
        }
        None => Cell::new("-"),
    }
}

/// An `estimate_fill` result: a row per venue, the best one, the venues that failed.
pub fn fill(v: &Value, look: Look) -> String {
    let side = text(&v["side"]);
    let cost = if side == "sell" {
        "proceeds net of fees"
    } else {
        "cost with fees"
    };
    let mut t = table(
        look,
        &[
            "exchange",
            "avg price",
            "worst",
            "mid",
            "slip bps",
            "filled",
            "notional",
            "fee",
            cost,
            "levels",
            "complete",
            "age",
        ],
        &[1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
    for r in v["venues"].as_array().into_iter().flatten() {
        let complete = r["complete"].as_bool() == Some(true);
        t.add_row(vec![
            Cell::new(text(&r["exchange"])),
            Cell::new(num_of(&r["avg_price"])),
            Cell::new(num_of(&r["worst_price"])),
            Cell::new(num_of(&r["mid"])),
            Cell::new(
                r["slippage_bps"]
                    .as_f64()
                    .map_or("-".to_owned(), |b| format!("{b:.2}")),
            ),
            Cell::new(num_of(&r["filled_amount"])),
            Cell::new(num_of(&r["filled_notional"])),
            Cell::new(
                r["taker_fee_rate"]
                    .as_f64()
                    .map_or("-".to_owned(), |f| format!("{:.3}%", f * 100.0)),
            ),
            Cell::new(num_of(&r["cost_with_fees"])),
            Cell::new(text(&r["levels_used"])),
            if complete {
                Cell::new("yes")
            } else {
                Cell::new("NO (book too thin)").fg(Color::Yellow)
            },
            Cell::new(r["age_ms"].as_f64().map(age).unwrap_or_else(|| "-".into())),
        ]);
    }
    let mut out = format!("{} {side}\n{t}\n", text(&v["symbol"]));
    match v["best"].as_object() {
        Some(best) => out.push_str(&format!(
            "best: {} ({cost} {})\n",
            text(&best["exchange"]),
            num_of(&best["cost_with_fees"])
        )),
        None => out.push_str("best: none (no venue fills the whole size)\n"),
    }
    out.push_str(&super::venues::venue_errors(v));
    out
}

/// A `top_movers` result.
pub fn movers(v: &Value, look: Look) -> String {
    let mut t = table(
        look,
        &["#", "symbol", "last", "24h change", "quote volume"],
        &[0, 2, 3, 4],
    );
    for (i, m) in v["markets"].as_array().into_iter().flatten().enumerate() {
        t.add_row(vec![
            Cell::new(i + 1),
            Cell::new(text(&m["symbol"])),
            Cell::new(num_of(&m["last"])),
            change_cell(&m["percentage"]),
            Cell::new(
                m["quote_volume"]
                    .as_f64()
                    .map_or("-".to_owned(), |q| super::group(q, 0)),
            ),
        ]);
    }
    let title = format!(
        "top {} on {} ({} markets)\n",
        text(&v["by"]),
        text(&v["exchange"]),
        text(&v["quote"])
    );
    with_freshness(format!("{title}{t}\n"), v, look)
}

/// A `convert` result: one line, then the rate and the path.
pub fn convert(v: &Value, look: Look) -> String {
    let path: Vec<String> = v["path"]
        .as_array()
        .into_iter()
        .flatten()
        .map(text)
        .collect();
    let out = format!(
        "{} {} = {} {}\nrate: 1 {} = {} {} (mid prices on {}, via {})\n",
        num_of(&v["amount"]),
        text(&v["from"]),
        num_of(&v["result"]),
        text(&v["to"]),
        text(&v["from"]),
        num_of(&v["rate"]),
        text(&v["to"]),
        text(&v["exchange"]),
        path.join(if look.unicode { " → " } else { " -> " }),
    );
    with_freshness(out, v, look)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fill_names_the_best_and_flags_a_thin_book() {
        let v = json!({
            "symbol": "BTC/USDT", "side": "buy",
            "venues": [
                {"exchange": "binance", "avg_price": 100.5, "worst_price": 101.0, "mid": 100.0,
                 "slippage_bps": 50.0, "filled_amount": 2.0, "filled_notional": 201.0,
                 "complete": true, "levels_used": 2, "taker_fee_rate": 0.001,
                 "cost_with_fees": 201.201, "source": "exchange", "age_ms": 3},
                {"exchange": "okx", "avg_price": 100.0, "worst_price": 100.0, "mid": 99.9,
                 "slippage_bps": 10.0, "filled_amount": 1.0, "filled_notional": 100.0,
                 "complete": false, "levels_used": 1, "taker_fee_rate": 0.0015,
                 "cost_with_fees": 100.15, "source": "exchange", "age_ms": 3}
            ],
            "best": {"exchange": "binance", "cost_with_fees": 201.201},
            "errors": []
        });
        let out = fill(&v, Look::PLAIN);
        assert!(
            out.contains("best: binance (cost with fees 201.201)"),
            "{out}"
        );
        assert!(out.contains("NO (book too thin)"), "{out}");
        assert!(out.contains("0.150%"), "{out}");
    }

    #[test]
    fn convert_shows_the_result_and_the_path() {
        let v = json!({"exchange": "binance", "amount": 2.0, "from": "ETH", "to": "BTC",
                       "result": 0.1, "rate": 0.05, "path": ["ETH/BTC"], "source": "exchange",
                       "age_ms": 1});
        let out = convert(&v, Look::PLAIN);
        assert!(out.starts_with("2.00 ETH = 0.10 BTC\n"), "{out}");
        assert!(out.contains("via ETH/BTC"), "{out}");
    }
}
