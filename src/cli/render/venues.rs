//! Views across exchanges: `compare` (one symbol on every venue) and `status` (each venue's
//! health).

use comfy_table::{Cell, Color};
use serde_json::Value;

use super::tables::table;
use super::{age, num_of, Look};

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

/// A `compare_prices` result: a row per venue (best bid and ask marked), the spread, errors.
pub fn comparison(v: &Value, look: Look) -> String {
    let best_bid = v["best_bid"]["exchange"].as_str();
    let best_ask = v["best_ask"]["exchange"].as_str();
    let mut t = table(
        look,
        &["exchange", "bid", "ask", "last", "source", "age", "stale"],
        &[1, 2, 3, 5],
    );
    for q in v["quotes"].as_array().into_iter().flatten() {
        let exchange = q["exchange"].as_str();
        let mark = |cell: Cell, best: bool| if best { cell.fg(Color::Green) } else { cell };
        let bid = num_of(&q["bid"]) + if exchange == best_bid { " *" } else { "" };
        let ask = num_of(&q["ask"]) + if exchange == best_ask { " *" } else { "" };
        t.add_row(vec![
            Cell::new(text(&q["exchange"])),
            mark(Cell::new(bid), exchange == best_bid),
            mark(Cell::new(ask), exchange == best_ask),
            Cell::new(num_of(&q["last"])),
            Cell::new(text(&q["source"])),
            Cell::new(q["age_ms"].as_f64().map(age).unwrap_or_else(|| "-".into())),
            Cell::new(if q["stale"].as_bool() == Some(true) {
                "STALE"
            } else {
                "no"
            }),
        ]);
    }
    let mut out = format!("{} across exchanges\n{t}\n", text(&v["symbol"]));
    if let (Some(bid), Some(ask)) = (best_bid, best_ask) {
        out.push_str(&format!(
            "best bid {} on {bid}, best ask {} on {ask}, spread {} bps\n",
            num_of(&v["best_bid"]["price"]),
            num_of(&v["best_ask"]["price"]),
            v["spread_bps"]
                .as_f64()
                .map_or("-".to_owned(), |s| format!("{s:.2}"))
        ));
    }
    out.push_str(&venue_errors(v));
    out
}

/// The venues of a comparison that could not answer, a line each: `exchange: code: message`.
pub fn venue_errors(v: &Value) -> String {
    v["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            format!(
                "{}: {}: {}\n",
                text(&e["exchange"]),
                text(&e["error"]["code"]),
                text(&e["error"]["message"])
            )
        })
        .collect()
}

/// An `exchange_status` result: a row per venue.
pub fn status(v: &Value, look: Look) -> String {
    let mut t = table(
        look,
        &[
            "exchange",
            "circuit",
            "weight",
            "calls 1m",
            "errors 1m",
            "p50",
            "p99",
            "markets",
            "instances",
            "ws",
            "last error",
        ],
        &[2, 3, 4, 5, 6, 7, 8],
    );
    for e in v["exchanges"].as_array().into_iter().flatten() {
        let circuit = text(&e["circuit"]);
        let circuit = match circuit.as_str() {
            "open" => Cell::new(circuit).fg(Color::Red),
            _ => Cell::new(circuit),
        };
        let ms = |x: &Value| x.as_f64().map_or("-".to_owned(), |x| format!("{x:.1} ms"));
        let last_error = match &e["last_error"] {
            Value::Null => "-".to_owned(),
            err => format!(
                "{} ({} ago): {}",
                text(&err["code"]),
                err["age_ms"].as_f64().map(age).unwrap_or_default(),
                text(&err["message"])
            ),
        };
        t.add_row(vec![
            Cell::new(text(&e["id"])),
            circuit,
            Cell::new(format!(
                "{}/{}",
                text(&e["weight_used"]),
                text(&e["weight_limit"])
            )),
            Cell::new(text(&e["calls_1m"])),
            Cell::new(text(&e["errors_1m"])),
            Cell::new(ms(&e["latency_ms"]["p50"])),
            Cell::new(ms(&e["latency_ms"]["p99"])),
            Cell::new(text(&e["markets"])),
            Cell::new(
                match (
                    e["instances"]["live"].as_u64(),
                    e["instances"]["max"].as_u64(),
                ) {
                    (Some(live), Some(max)) => format!("{live}/{max}"),
                    _ => "-".to_owned(),
                },
            ),
            Cell::new(match e["ws_connected"].as_bool() {
                Some(true) => "connected",
                Some(false) => "not connected",
                None => "-",
            }),
            Cell::new(last_error),
        ]);
    }
    format!("{t}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn comparison_marks_the_best_venues_and_lists_errors() {
        let v = json!({
            "symbol": "BTC/USDT",
            "quotes": [
                {"exchange": "binance", "bid": 100.0, "ask": 101.0, "last": 100.5, "source": "exchange", "age_ms": 3, "stale": false},
                {"exchange": "okx", "bid": 100.5, "ask": 100.9, "last": 100.7, "source": "cache", "age_ms": 900, "stale": false}
            ],
            "best_bid": {"exchange": "okx", "price": 100.5},
            "best_ask": {"exchange": "okx", "price": 100.9},
            "spread_bps": 39.7,
            "errors": [{"exchange": "kraken", "error": {"code": "timeout", "message": "kraken did not answer", "retryable": true}}]
        });
        let out = comparison(&v, Look::PLAIN);
        assert!(
            out.contains("100.50 *") && out.contains("100.90 *"),
            "{out}"
        );
        assert!(
            out.contains("best bid 100.50 on okx, best ask 100.90 on okx, spread 39.70 bps"),
            "{out}"
        );
        assert!(
            out.contains("kraken: timeout: kraken did not answer"),
            "{out}"
        );
    }

    #[test]
    fn status_shows_open_circuits_and_last_errors() {
        let v = json!({"exchanges": [{
            "id": "binance", "circuit": "open", "weight_used": 12, "weight_limit": 6000,
            "calls_1m": 7, "errors_1m": 5, "latency_ms": {"p50": 1.5, "p99": 20.0},
            "last_error": {"code": "exchange_unavailable", "message": "HTTP 503", "age_ms": 1200},
            "markets": 4, "markets_age_ms": 5000, "ws_connected": null
        }]});
        let out = status(&v, Look::PLAIN);
        for part in [
            "binance",
            "open",
            "12/6000",
            "1.5 ms",
            "exchange_unavailable",
            "HTTP 503",
        ] {
            assert!(out.contains(part), "{part} in {out}");
        }
    }
}
