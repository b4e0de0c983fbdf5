//! Results bounded by `MAX_RESULT_BYTES` (SPEC.md section 10): a result whose JSON is longer
//! keeps as many list items as fit, says `truncated: true`, and where to continue
//! (`next_offset`, `next_since`) when the tool can continue there.
//!
//! Measured on the compact JSON of the structured result, as it goes on the wire. The tools
//! not cut here (a ticker, a stream summary, a comparison of at most 16 venues, the status of
//! every venue) answer a few kB at most, far below the smallest cap the settings accept, so
//! they are not measured: the hit path of `get_ticker` pays nothing for this.

use serde_json::Value;

use super::ToolError;
use crypto_market_actors::ErrorCode;

/// `MAX_RESULT_BYTES` when not set.
pub const DEFAULT_MAX_RESULT_BYTES: usize = 1_000_000;
/// The smallest cap the settings accept: every result that is not cut fits well within it.
pub const MIN_MAX_RESULT_BYTES: usize = 16_384;

/// How one tool's result is cut.
#[derive(Debug, Clone, Copy)]
pub struct Cut {
    /// The lists cut, all to one length (an order book's two sides).
    pub lists: &'static [&'static str],
    pub keep: Keep,
    pub resume: Resume,
}

/// Which end of the lists stays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// The first items (candles and markets: the call continues after them).
    First,
    /// The last items (the most recent trades, which the call asked for).
    Last,
}

/// Where a cut result continues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// Nowhere: the caller asks for fewer instead.
    Nowhere,
    /// `next_offset`: the page started at `from` (list_markets).
    Offset { from: usize },
    /// `next_since`: the timestamp of the first item left out, each item `[ts, ...]` (candles).
    Since,
}

impl Cut {
    pub const fn of(lists: &'static [&'static str], keep: Keep, resume: Resume) -> Self {
        Self {
            lists,
            keep,
            resume,
        }
    }
}

/// The length of `value`'s compact JSON, without building it.
pub fn json_len(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing a `Value` to a writer that never fails cannot fail.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// Cuts `result` (a JSON object) to at most `max_bytes` as `cut` says; unchanged when it fits.
/// An error when not even one item (or the part without the lists) fits.
pub fn fit(result: &mut Value, max_bytes: usize, cut: &Cut) -> Result<(), ToolError> {
    if json_len(result) <= max_bytes {
        return Ok(());
    }
    let Some(object) = result.as_object_mut() else {
        return Err(too_large(max_bytes));
    };
    // Placeholders at least as long as the real values, so the space they need is counted.
    object.insert("truncated".into(), Value::Bool(true));
    match cut.resume {
        Resume::Nowhere => {}
        Resume::Offset { .. } => {
            object.insert("next_offset".into(), Value::from(u64::MAX));
        }
        Resume::Since => {
            object.insert("next_since".into(), Value::from(i64::MIN));
        }
    }
    let mut lists: Vec<Vec<Value>> = cut
        .lists
        .iter()
        .map(|name| match object.get_mut(*name) {
            Some(Value::Array(items)) => std::mem::take(items),
            _ => Vec::new(),
        })
        .collect();
    let base = json_len(result);
    let longest = lists.iter().map(Vec::len).max().unwrap_or(0);
    let kept = items_that_fit(&lists, longest, base, max_bytes, cut.keep);
    if kept == 0 {
        return Err(too_large(max_bytes));
    }
    let mut first_left_out = None;
    for list in &mut lists {
        match cut.keep {
            Keep::First => {
                if first_left_out.is_none() {
                    first_left_out = list.get(kept).cloned();
                }
                list.truncate(kept);
            }
            Keep::Last => {
                let drop = list.len().saturating_sub(kept);
                list.drain(..drop);
            }
        }
    }
    let Some(object) = result.as_object_mut() else {
        return Err(too_large(max_bytes));
    };
    for (name, list) in cut.lists.iter().zip(lists) {
        object.insert((*name).to_owned(), Value::Array(list));
    }
    match cut.resume {
        Resume::Nowhere => {}
        Resume::Offset { from } => {
            object.insert("next_offset".into(), Value::from(from + kept));
        }
        Resume::Since => {
            let since = first_left_out
                .as_ref()
                .and_then(|item| item.get(0))
                .cloned();
            object.insert("next_since".into(), since.unwrap_or(Value::Null));
        }
    }
    if json_len(result) <= max_bytes {
        Ok(())
    } else {
        Err(too_large(max_bytes))
    }
}

/// How many items of each list fit in `max_bytes` next to `base` bytes of the rest.
fn items_that_fit(
    lists: &[Vec<Value>],
    longest: usize,
    base: usize,
    max_bytes: usize,
    keep: Keep,
) -> usize {
    let mut used = base;
    for n in 0..longest {
        // Each item costs its JSON and a comma (one too many per list: on the safe side).
        let cost: usize = lists
            .iter()
            .filter_map(|list| match keep {
                Keep::First => list.get(n),
                Keep::Last => list.len().checked_sub(n + 1).and_then(|i| list.get(i)),
            })
            .map(|item| json_len(item) + 1)
            .sum();
        if used + cost > max_bytes {
            return n;
        }
        used += cost;
    }
    longest
}

fn too_large(max_bytes: usize) -> ToolError {
    ToolError::new(
        ErrorCode::InvalidArgument,
        format!("the result does not fit in MAX_RESULT_BYTES ({max_bytes} bytes) even cut short"),
    )
    .with_hint("call again with a smaller limit (or ask the operator to raise MAX_RESULT_BYTES)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn candles(n: i64) -> Value {
        let rows: Vec<Value> = (0..n)
            .map(|i| json!([i * 60_000, 1.5, 2.5, 0.5, 1.0, 10.0]))
            .collect();
        json!({"exchange": "binance", "symbol": "BTC/USDT", "candles": rows})
    }

    #[test]
    fn a_result_that_fits_is_left_alone() {
        let mut result = candles(3);
        let before = result.clone();
        fit(
            &mut result,
            10_000,
            &Cut::of(&["candles"], Keep::First, Resume::Since),
        )
        .unwrap();
        assert_eq!(result, before);
    }

    #[test]
    fn a_long_list_is_cut_to_the_cap_and_says_where_to_continue() {
        let mut result = candles(1000);
        fit(
            &mut result,
            4096,
            &Cut::of(&["candles"], Keep::First, Resume::Since),
        )
        .unwrap();
        assert!(json_len(&result) <= 4096);
        let kept = result["candles"].as_array().unwrap();
        assert!(kept.len() > 50, "{}", kept.len());
        assert_eq!(result["truncated"], true);
        assert_eq!(result["next_since"], json!(kept.len() as i64 * 60_000));
    }

    #[test]
    fn pages_continue_at_the_first_item_left_out_and_the_newest_can_be_kept() {
        let items: Vec<Value> = (0..500)
            .map(|i| json!({"symbol": format!("S{i}/USDT")}))
            .collect();
        let mut page = json!({"total": 900, "markets": items.clone(), "next_offset": 600});
        fit(
            &mut page,
            4096,
            &Cut::of(&["markets"], Keep::First, Resume::Offset { from: 100 }),
        )
        .unwrap();
        let kept = page["markets"].as_array().unwrap().len();
        assert_eq!(page["next_offset"], json!(100 + kept));
        let mut trades = json!({"trades": items});
        fit(
            &mut trades,
            4096,
            &Cut::of(&["trades"], Keep::Last, Resume::Nowhere),
        )
        .unwrap();
        assert_eq!(
            trades["trades"].as_array().unwrap().last(),
            Some(&json!({"symbol": "S499/USDT"}))
        );
        assert!(trades.get("next_since").is_none());
    }

    #[test]
    fn nothing_fitting_is_an_error_with_a_hint() {
        let mut result = json!({"candles": [["x".repeat(5000)]]});
        let error = fit(
            &mut result,
            4096,
            &Cut::of(&["candles"], Keep::First, Resume::Since),
        )
        .unwrap_err();
        assert!(error.hint().contains("limit"));
    }
}
