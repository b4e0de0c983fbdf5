//! The indicators against TA-Lib's own values (`fixtures/talib.json`, written once by
//! `fixtures/generate.py` with TA-Lib 0.8.1; VWAP there computed independently in Python).

use super::*;
use serde_json::Value;

const FIXTURE: &str = include_str!("fixtures/talib.json");

/// TA-Lib's columns of one spec (`"macd:12:26:9"` → macd, signal, hist).
type Expected = Vec<(String, Vec<Series>)>;

fn fixture() -> (Vec<Candle>, Expected) {
    let v: Value = serde_json::from_str(FIXTURE).expect("fixture is JSON");
    let candles = serde_json::from_value(v["candles"].clone()).expect("candles");
    let expected = v["expected"]
        .as_object()
        .expect("expected")
        .iter()
        .map(|(spec, cols)| {
            let cols = serde_json::from_value(cols.clone()).expect("columns");
            (spec.clone(), cols)
        })
        .collect();
    (candles, expected)
}

#[test]
fn every_indicator_equals_ta_lib_to_1e_6() {
    let (candles, expected) = fixture();
    assert_eq!(expected.len(), 15);
    for (spec, columns) in expected {
        let indicator = Indicator::parse(&spec).unwrap_or_else(|e| panic!("{spec}: {e}"));
        let got = indicator.compute(&candles);
        assert_eq!(got.len(), columns.len(), "{spec}");
        for (c, (mine, theirs)) in got.iter().zip(&columns).enumerate() {
            assert_eq!(mine.len(), candles.len(), "{spec}");
            for (i, (m, t)) in mine.iter().zip(theirs).enumerate() {
                match (m, t) {
                    (Some(m), Some(t)) => assert!(
                        (m - t).abs() <= 1e-6 * t.abs().max(1.0),
                        "{spec} column {c} row {i}: {m} vs TA-Lib {t}"
                    ),
                    (None, None) => {}
                    _ => panic!("{spec} column {c} row {i}: {m:?} vs TA-Lib {t:?}"),
                }
            }
        }
    }
}

#[test]
fn the_warm_up_gives_the_whole_history_values_to_1e_4() {
    let (candles, _) = fixture();
    let rows = 50;
    for specs in [
        vec![
            "rsi:14",
            "macd:12:26:9",
            "ema:20",
            "atr:14",
            "stoch:14:3",
            "bbands:20:2",
        ],
        vec!["ema:50", "rsi:7"],
    ] {
        let indicators = parse_all(&specs).unwrap();
        let whole = table(&candles, &indicators, rows);
        let from = candles.len() - rows - warm_up(&indicators);
        let warmed = table(&candles[from..], &indicators, rows);
        assert_eq!(whole.columns, warmed.columns);
        for (w, h) in warmed.rows.iter().zip(&whole.rows) {
            assert_eq!(w.timestamp, h.timestamp);
            for (a, b) in w.values.iter().zip(&h.values) {
                let (a, b) = (a.unwrap(), b.unwrap());
                assert!(
                    (a - b).abs() <= 1e-4 * b.abs() + 1e-9,
                    "{specs:?}: {a} vs {b}"
                );
            }
        }
    }
}

#[test]
fn columns_follow_the_spec() {
    let indicators = parse_all(&[
        "rsi:14",
        "macd",
        "bbands:20:2",
        "sma:50",
        "stoch",
        "vwap",
        "atr:7",
    ])
    .unwrap();
    let t = table(&[], &indicators, 10);
    assert_eq!(
        t.columns,
        [
            "timestamp",
            "close",
            "rsi_14",
            "macd",
            "macd_signal",
            "macd_hist",
            "bb_lower",
            "bb_middle",
            "bb_upper",
            "sma_50",
            "stoch_k",
            "stoch_d",
            "vwap",
            "atr_7"
        ]
    );
    assert_eq!(
        indicators[1],
        Indicator::Macd {
            fast: 12,
            slow: 26,
            signal: 9
        }
    );
    // sma:50 is the longest.
    assert_eq!(warm_up(&indicators), 5 * 50 + 100);
}

#[test]
fn bad_specs_say_what_is_wrong() {
    for bad in [
        "rsi:0",
        "rsi:1",
        "rsi:x",
        "foo",
        "sma:20:3",
        "macd:26:12:9",
        "bbands:20:0",
        "vwap:3",
        "rsi:501",
    ] {
        let error = parse_all(&[bad]).unwrap_err();
        assert!(error.contains(&format!("{bad:?}")), "{bad}: {error}");
    }
    assert!(parse_all::<&str>(&[]).is_err());
    assert!(parse_all(&["sma:5"; 11]).unwrap_err().contains("1 to 10"));
    assert!(parse_all(&["rsi:14", "rsi:14"])
        .unwrap_err()
        .contains("rsi_14"));
    assert!(parse_all(&["macd", "macd:5:35:5"])
        .unwrap_err()
        .contains("macd"));
}
