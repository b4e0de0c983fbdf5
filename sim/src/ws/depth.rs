//! The diff depth streams `<symbol>@depth@100ms` and `<symbol>@depth` (every second): each event
//! carries the levels that changed between the book the previous event left (update id `U` − 1)
//! and the book now (`u`), over the REST maximum depth, as absolute sizes (0 removes). So a
//! client that takes `/api/v3/depth?limit=5000` and applies the events as Binance documents
//! (docs/notes/books.md) holds exactly [`crate::SimHandle::book_at`] of the last `u`.
//!
//! A [`crate::SimHandle::ws_skip_update`] makes a stream skip one event: the book moves on, the
//! next event starts after the skipped one's `u`, and a client sees `U` ≠ previous `u` + 1.

use super::hub::{Hub, Topic};
use super::streams::{Now, TimeUnit};
use crate::market::book::Book;
use crate::market::decimal::fmt_units;
use crate::market::{Market, Symbol};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// The deepest REST snapshot (`/api/v3/depth` `limit` ≤ 5000): levels are diffed this deep.
pub const DIFF_DEPTH: usize = 5000;

#[derive(Serialize)]
struct DepthEvent<'a> {
    e: &'static str,
    #[serde(rename = "E")]
    event_time: u64,
    s: &'a str,
    #[serde(rename = "U")]
    first: u64,
    u: u64,
    b: Vec<[String; 2]>,
    a: Vec<[String; 2]>,
}

/// Levels (price, new size; 0 = removed) that turn side `old` into side `new`, both sorted
/// best first (`bids`: descending prices): one merge, no hashing (this runs for every depth
/// event over 5,000 levels a side).
fn side_diff(old: &[(u64, u64)], new: &[(u64, u64)], bids: bool) -> Vec<(u64, u64)> {
    use std::cmp::Ordering;
    // Which of two prices comes first on this side.
    let order = |a: u64, b: u64| if bids { b.cmp(&a) } else { a.cmp(&b) };
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        match (old.get(i), new.get(j)) {
            (Some(&(po, qo)), Some(&(pn, qn))) => match order(po, pn) {
                Ordering::Less => {
                    out.push((po, 0));
                    i += 1;
                }
                Ordering::Greater => {
                    out.push((pn, qn));
                    j += 1;
                }
                Ordering::Equal => {
                    if qo != qn {
                        out.push((pn, qn));
                    }
                    i += 1;
                    j += 1;
                }
            },
            (Some(&(po, _)), None) => {
                out.push((po, 0));
                i += 1;
            }
            (None, Some(&level)) => {
                out.push(level);
                j += 1;
            }
            (None, None) => break,
        }
    }
    out
}

/// (price, size) pairs in units.
pub type Levels = Vec<(u64, u64)>;

/// An event covering more steps than this is diffed end to end only (a client's snapshot
/// taken inside it may then keep a level that came and went within it; only after a stall).
const MAX_STEPS_PER_EVENT: u64 = 100;

/// The last diffed book of each (symbol, depth), the base the next one is built from
/// ([`Market::book_at_step_from`]): what makes 5,000 diffs/s of 1,000-level books affordable.
#[derive(Default)]
pub struct BookCache(Mutex<HashMap<BookKey, Arc<Book>>>);

/// What a base book's tick-only levels depend on: the symbol's walk key, tick, lot, mean size,
/// and the depth (a symbol carried over to a new market with other parameters gets a new key).
type BookKey = (u64, u64, u64, u64, usize);

impl BookCache {
    fn key(s: &Symbol, depth: usize) -> BookKey {
        (s.key, s.tick, s.step, s.mean_qty_steps.to_bits(), depth)
    }

    /// The book at `step`, built from the last one of the same key.
    fn book(&self, m: &Market, s: &Symbol, step: u64, depth: usize) -> Book {
        let key = Self::key(s, depth);
        let base = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .cloned();
        match base {
            Some(base) if base.last_update_id == step => (*base).clone(),
            Some(base) => m.book_at_step_from(s, step, depth, &base),
            None => m.book_at_step(s, step, depth),
        }
    }

    fn keep(&self, s: &Symbol, depth: usize, book: &Book) {
        let key = Self::key(s, depth);
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, Arc::new(book.clone()));
    }
}

/// (bid changes best first, ask changes best first) from the book at step `from` to the book
/// at step `to`: every level that changed at any step in between, with its size at `to` (0:
/// gone), as Binance reports a level that changed within an event's window, so that a client
/// whose snapshot falls inside the window (`U` ≤ id + 1 ≤ `u`) ends with the book at `to` too.
#[cfg(test)]
pub fn diff(m: &Market, s: &Symbol, from: u64, to: u64, depth: usize) -> (Levels, Levels) {
    diff_cached(m, s, from, to, depth, &BookCache::default())
}

/// [`diff`], building its books from those `cache` keeps (a base book's step only matters
/// when it equals the step asked for: [`Market::book_at_step_from`] gives the same book).
pub fn diff_cached(
    m: &Market,
    s: &Symbol,
    from: u64,
    to: u64,
    depth: usize,
    cache: &BookCache,
) -> (Levels, Levels) {
    let end = cache.book(m, s, to, depth);
    let start = if to.saturating_sub(from) > MAX_STEPS_PER_EVENT {
        to.saturating_sub(1).max(from)
    } else {
        from
    };
    let mut prev = m.book_at_step_from(s, from, depth, &end);
    cache.keep(s, depth, &end);
    if from + 1 == to {
        // One step (the usual event): the merge already holds each changed level's size at
        // `to`, best first.
        return (
            side_diff(&prev.bids, &end.bids, true),
            side_diff(&prev.asks, &end.asks, false),
        );
    }
    let mut changed_bids: HashMap<u64, u64> = HashMap::new();
    let mut changed_asks: HashMap<u64, u64> = HashMap::new();
    // Far apart (after a stall): the end-to-end diff first, then the last steps one by one.
    if start > from {
        for (p, _) in side_diff(&prev.bids, &end.bids, true) {
            changed_bids.insert(p, 0);
        }
        for (p, _) in side_diff(&prev.asks, &end.asks, false) {
            changed_asks.insert(p, 0);
        }
        prev = m.book_at_step_from(s, start, depth, &end);
    }
    for step in start + 1..=to {
        let next = if step == to {
            end.clone()
        } else {
            m.book_at_step_from(s, step, depth, &prev)
        };
        for (p, _) in side_diff(&prev.bids, &next.bids, true) {
            changed_bids.insert(p, 0);
        }
        for (p, _) in side_diff(&prev.asks, &next.asks, false) {
            changed_asks.insert(p, 0);
        }
        prev = next;
    }
    let final_sizes = |side: &[(u64, u64)], changed: HashMap<u64, u64>| {
        let sizes: HashMap<u64, u64> = side.iter().copied().collect();
        changed
            .into_keys()
            .map(|p| (p, sizes.get(&p).copied().unwrap_or(0)))
            .collect::<Vec<_>>()
    };
    let mut bids = final_sizes(&end.bids, changed_bids);
    let mut asks = final_sizes(&end.asks, changed_asks);
    bids.sort_unstable_by_key(|x| std::cmp::Reverse(x.0));
    asks.sort_unstable_by_key(|x| x.0);
    (bids, asks)
}

fn rows(side: Vec<(u64, u64)>) -> Vec<[String; 2]> {
    side.into_iter()
        .map(|(p, q)| [fmt_units(p), fmt_units(q)])
        .collect()
}

/// The event from the book after step `from` − 1 to the book at step `to`, over the best
/// `depth` levels a side.
pub fn event(
    m: &Market,
    cache: &BookCache,
    s: &Symbol,
    (from, to): (u64, u64),
    depth: usize,
    now: Now,
    unit: TimeUnit,
) -> String {
    let (b, a) = diff_cached(m, s, from.saturating_sub(1), to, depth, cache);
    serde_json::to_string(&DepthEvent {
        e: "depthUpdate",
        event_time: now.event_time(unit),
        s: &s.name,
        first: from,
        u: to,
        b: rows(b),
        a: rows(a),
    })
    .unwrap_or_default()
}

/// The event `t` sends now, if the book moved since its last one. A new topic starts with the
/// update after its creation; a skip requested on the hub sends nothing and moves the cursor on
/// (a lost event). None for an unknown symbol, as Binance.
pub fn produce(m: &Market, hub: &Hub, t: &Topic, now: Now, stalled: bool) -> Option<String> {
    let s = m.symbol(&t.spec.symbol)?;
    let step = m.walk().step_at(now.ms);
    let mut cur = t.cursor.lock().unwrap_or_else(PoisonError::into_inner);
    let sent = *cur
        .depth_u
        .get_or_insert_with(|| m.walk().step_at(t.created_ms));
    if stalled || step <= sent {
        return None;
    }
    cur.depth_u = Some(step);
    drop(cur);
    if hub.take_skip(&t.name) {
        tracing::info!(stream = %t.name, skipped_u = step, "ws depth event skipped");
        return None;
    }
    Some(event(
        m,
        hub.depth_books(),
        s,
        (sent + 1, step),
        hub.depth_levels(),
        now,
        t.unit,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_725_817_008_719;

    fn apply(book: &mut Vec<(u64, u64)>, diff: &[(u64, u64)], bids: bool) {
        for &(p, q) in diff {
            book.retain(|l| l.0 != p);
            if q > 0 {
                book.push((p, q));
            }
        }
        if bids {
            book.sort_unstable_by_key(|x| std::cmp::Reverse(x.0));
        } else {
            book.sort_unstable_by_key(|x| x.0);
        }
    }

    #[test]
    fn diffs_turn_one_book_into_the_next() {
        let m = Market::new(42, 0, false, 100).unwrap();
        let s = m.symbol("ETHUSDT").unwrap();
        let step = m.walk().step_at(NOW);
        let mut book = m.book_at_step(s, step, DIFF_DEPTH);
        for to in [step + 1, step + 2, step + 5, step + 30] {
            let (b, a) = diff(&m, s, book.last_update_id, to, DIFF_DEPTH);
            assert!(b.len() + a.len() < 2000, "a diff is small");
            apply(&mut book.bids, &b, true);
            apply(&mut book.asks, &a, false);
            book.last_update_id = to;
            assert_eq!(book, m.book_at_step(s, to, DIFF_DEPTH));
        }
    }

    #[test]
    fn a_shallower_diff_keeps_a_shallower_book_and_faster_sizes_change_more_levels() {
        // The books benchmark's shape: 1,000 levels a side, lively sizes every 2 steps.
        let m = Market::new(42, 0, false, 100)
            .unwrap()
            .with_lively_period(2);
        let s = m.symbol("ETHUSDT").unwrap();
        let step = m.walk().step_at(NOW);
        let mut book = m.book_at_step(s, step, 1000);
        let mut changed = 0;
        for to in step + 1..=step + 20 {
            let (b, a) = diff(&m, s, book.last_update_id, to, 1000);
            changed += b.len() + a.len();
            apply(&mut book.bids, &b, true);
            apply(&mut book.asks, &a, false);
            book.last_update_id = to;
            assert_eq!(book, m.book_at_step(s, to, 1000));
        }
        assert!(changed >= 20 * 15, "~20 levels a step, got {changed} in 20");
    }

    #[test]
    fn a_snapshot_inside_an_event_window_ends_right_too() {
        let m = Market::new(42, 0, false, 100).unwrap();
        let s = m.symbol("BTCUSDT").unwrap();
        let step = m.walk().step_at(NOW);
        // An event covering step+1..=step+8, applied to a snapshot taken at step+4.
        let mut book = m.book_at_step(s, step + 4, DIFF_DEPTH);
        let (b, a) = diff(&m, s, step, step + 8, DIFF_DEPTH);
        apply(&mut book.bids, &b, true);
        apply(&mut book.asks, &a, false);
        book.last_update_id = step + 8;
        assert_eq!(book, m.book_at_step(s, step + 8, DIFF_DEPTH));
    }

    #[test]
    fn event_format() {
        let m = Market::new(42, 0, false, 100).unwrap();
        let s = m.symbol("BTCUSDT").unwrap();
        let step = m.walk().step_at(NOW);
        let text = event(
            &m,
            &BookCache::default(),
            s,
            (step + 1, step + 3),
            DIFF_DEPTH,
            Now::from_us(NOW * 1000),
            TimeUnit::Milli,
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["e"], "depthUpdate");
        assert_eq!(v["s"], "BTCUSDT");
        assert_eq!(
            (v["U"].as_u64(), v["u"].as_u64()),
            (Some(step + 1), Some(step + 3))
        );
        assert_eq!(v["E"], NOW);
        assert!(v["b"][0][0].as_str().unwrap().contains('.'));
    }
}
