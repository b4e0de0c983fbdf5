//! The order book as a depth ladder: asks above (best ask next to the spread), bids below,
//! each level with a bar of the cumulative size from the spread outwards.

use super::{dim, green, num, red, Look};

/// Ladder lines, top first: asks from the farthest to the best, the spread, bids from the best
/// to the farthest. `bids`/`asks` are `[price, amount]` best first, as `get_order_book` gives.
pub fn ladder(
    bids: &[(f64, f64)],
    asks: &[(f64, f64)],
    bar_width: usize,
    look: Look,
) -> Vec<String> {
    let cumulative = |levels: &[(f64, f64)]| -> Vec<f64> {
        levels
            .iter()
            .scan(0.0, |sum, (_, amount)| {
                *sum += amount;
                Some(*sum)
            })
            .collect()
    };
    let (bid_cum, ask_cum) = (cumulative(bids), cumulative(asks));
    let max_cum = bid_cum
        .iter()
        .chain(&ask_cum)
        .copied()
        .fold(0.0_f64, f64::max);
    let rows: Vec<(&str, String, String, String, f64)> = asks
        .iter()
        .zip(&ask_cum)
        .rev()
        .map(|((p, a), c)| ("ask", num(*p), num(*a), num(*c), *c))
        .chain(
            bids.iter()
                .zip(&bid_cum)
                .map(|((p, a), c)| ("bid", num(*p), num(*a), num(*c), *c)),
        )
        .collect();
    let w = |f: fn(&(&str, String, String, String, f64)) -> usize, header: usize| {
        rows.iter().map(f).max().unwrap_or(0).max(header)
    };
    let wp = w(|r| r.1.len(), 5);
    let wa = w(|r| r.2.len(), 6);
    let wc = w(|r| r.3.len(), 5);
    let block = if look.unicode { "█" } else { "#" };
    let sep = if look.unicode { "│" } else { "|" };
    let bar = |cum: f64| -> usize {
        if max_cum > 0.0 && cum > 0.0 {
            ((cum / max_cum) * bar_width as f64).ceil().max(1.0) as usize
        } else {
            0
        }
    };
    let mut lines = vec![format!(
        "{:>4} {:>wp$} {sep} {:>wa$} {sep} {:>wc$} {sep}",
        "side", "price", "amount", "total"
    )];
    let line = |(side, p, a, c, cum): &(&str, String, String, String, f64)| {
        let style = if *side == "ask" { red() } else { green() };
        format!(
            "{:>4} {:>wp$} {sep} {:>wa$} {sep} {:>wc$} {sep} {}",
            side,
            p,
            a,
            c,
            look.paint(style, &block.repeat(bar(*cum)))
        )
        .trim_end()
        .to_owned()
    };
    let n_asks = asks.len();
    lines.extend(rows[..n_asks].iter().map(line));
    let spread = match (bids.first(), asks.first()) {
        (Some((bid, _)), Some((ask, _))) => {
            let mid = (bid + ask) / 2.0;
            let bps = if mid > 0.0 {
                (ask - bid) / mid * 10_000.0
            } else {
                0.0
            };
            format!("spread {} ({bps:.2} bps)", num(ask - bid))
        }
        _ => "spread -".to_owned(),
    };
    let rule = if look.unicode { "─" } else { "-" };
    lines.push(look.paint(
        dim(),
        &format!("{} {spread} {}", rule.repeat(4), rule.repeat(4)),
    ));
    lines.extend(rows[n_asks..].iter().map(line));
    lines
}

/// `[[price, amount]]` → pairs; rows that are not two numbers are skipped.
pub fn levels(v: &serde_json::Value) -> Vec<(f64, f64)> {
    v.as_array()
        .map(|rows| {
            rows.iter()
                .filter_map(|r| Some((r.get(0)?.as_f64()?, r.get(1)?.as_f64()?)))
                .collect()
        })
        .unwrap_or_default()
}
