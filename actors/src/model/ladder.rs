//! One side of a local order book: its levels in one sorted ring buffer, the best level last.
//!
//! Chosen over a `BTreeMap<price, size>` (measured in BENCHMARKS.md, issue 23): with 500 books
//! of 1,000 levels a side the maps' half-full nodes (a node of 11 `u128` pairs is 368 bytes,
//! left 5–6 full by in-order inserts) took ~140 KB a book, and every lookup missed the cache
//! three or four times walking down them (`perf`: `LocalBook::apply` was the engine's top
//! symbol). Here a level is 32 bytes in one block, grown by a quarter rather than doubled.
//!
//! Where a level is looked for matters as much: a plain binary search over 1,000 levels
//! touches ten cache lines spread over 32 KB, and measured slower than the map. A market
//! changes most near the top of its book, so the search gallops from the best level (1, 2, 4..
//! levels away) and only then bisects what is left: a change among the best 20 levels touches
//! the few lines at the top, which the book's other changes in the same frame touch too.
//! Levels also come and go at the far end (the venue's depth window moving with the price):
//! a ring buffer inserts and removes at either end without moving the other 999.

use std::collections::VecDeque;

use super::Exact;

/// Bid or ask: which way is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Better {
    /// Bids: a higher price is better.
    #[default]
    Higher,
    /// Asks: a lower price is better.
    Lower,
}

/// The levels of one side, worst first, best last; prices unique, sizes not zero.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ladder {
    levels: VecDeque<(Exact, Exact)>,
    better: Better,
}

impl Ladder {
    pub fn new(better: Better) -> Self {
        Self {
            levels: VecDeque::new(),
            better,
        }
    }

    /// `a` against `b` in the ladder's order: `Less` when `a` is the worse price.
    fn order(&self, a: Exact, b: Exact) -> std::cmp::Ordering {
        match self.better {
            Better::Higher => a.cmp(&b),
            Better::Lower => b.cmp(&a),
        }
    }

    /// Where `price` is (`Ok`) or would go (`Err`): galloping from the best end, then
    /// bisecting the stretch it ended in.
    fn find(&self, price: Exact) -> Result<usize, usize> {
        // Beyond the worst level (the window's far end moving): no search.
        match self
            .levels
            .front()
            .map(|(worst, _)| self.order(*worst, price))
        {
            None | Some(std::cmp::Ordering::Greater) => return Err(0),
            Some(std::cmp::Ordering::Equal) => return Ok(0),
            Some(std::cmp::Ordering::Less) => {}
        }
        let len = self.levels.len();
        // Invariant: levels at `hi` and beyond are better than `price`; below `lo` worse.
        let (mut lo, mut hi) = (0, len);
        let mut step = 1;
        while step <= len {
            let i = len - step;
            match self.order(self.levels[i].0, price) {
                std::cmp::Ordering::Equal => return Ok(i),
                std::cmp::Ordering::Less => {
                    lo = i + 1;
                    break;
                }
                std::cmp::Ordering::Greater => hi = i,
            }
            step *= 2;
        }
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.order(self.levels[mid].0, price) {
                std::cmp::Ordering::Equal => return Ok(mid),
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
            }
        }
        Err(lo)
    }

    /// Replaces the whole side with `levels` (any order; the last of a repeated price wins;
    /// zero sizes left out).
    pub fn replace(&mut self, levels: impl IntoIterator<Item = (Exact, Exact)>) {
        let mut sorted: Vec<_> = levels.into_iter().collect();
        // Stable, so that among equal prices the last given stays last.
        let better = self.better;
        sorted.sort_by(|a, b| match better {
            Better::Higher => a.0.cmp(&b.0),
            Better::Lower => b.0.cmp(&a.0),
        });
        // Of each run of one price keep the last: reverse, keep firsts, reverse back.
        sorted.reverse();
        sorted.dedup_by_key(|level| level.0);
        sorted.reverse();
        sorted.retain(|(_, size)| !size.is_zero());
        self.levels = VecDeque::with_capacity(sorted.len() + sorted.len() / 4);
        self.levels.extend(sorted);
    }

    /// Sets a level's size (absolute); 0 removes it.
    pub fn set(&mut self, price: Exact, size: Exact) {
        match (self.find(price), size.is_zero()) {
            (Ok(i), false) => self.levels[i].1 = size,
            (Ok(i), true) => {
                self.levels.remove(i);
            }
            (Err(i), false) => {
                if self.levels.len() == self.levels.capacity() {
                    // A quarter more, not double: a book hovers around its depth.
                    self.levels.reserve_exact((self.levels.len() / 4).max(16));
                }
                self.levels.insert(i, (price, size));
            }
            (Err(_), true) => {}
        }
    }

    /// Keeps the best `n` levels.
    pub fn keep_best(&mut self, n: usize) {
        let extra = self.levels.len().saturating_sub(n);
        self.levels.drain(..extra);
    }

    pub fn len(&self) -> usize {
        self.levels.len()
    }

    pub fn best(&self) -> Option<(Exact, Exact)> {
        self.levels.back().copied()
    }

    /// The worst price held.
    pub fn worst_price(&self) -> Option<Exact> {
        self.levels.front().map(|(price, _)| *price)
    }

    /// Levels at `bound` or better.
    pub fn count_within(&self, bound: Exact) -> usize {
        let first = self
            .levels
            .partition_point(|(price, _)| self.order(*price, bound).is_lt());
        self.levels.len() - first
    }

    /// Levels best first, down to `bound` (inclusive) when given.
    pub fn best_first(&self, bound: Option<Exact>) -> impl Iterator<Item = (Exact, Exact)> + '_ {
        let held = match bound {
            Some(bound) => self.count_within(bound),
            None => self.levels.len(),
        };
        self.levels.range(self.levels.len() - held..).rev().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(s: &str) -> Exact {
        s.parse().unwrap()
    }

    fn prices(ladder: &Ladder) -> Vec<String> {
        ladder
            .best_first(None)
            .map(|(p, _)| p.to_string())
            .collect()
    }

    #[test]
    fn bids_best_is_highest_and_asks_lowest() {
        let mut bids = Ladder::new(Better::Higher);
        let mut asks = Ladder::new(Better::Lower);
        for p in ["100", "102", "101"] {
            bids.set(e(p), e("1"));
            asks.set(e(p), e("1"));
        }
        assert_eq!(prices(&bids), ["102", "101", "100"]);
        assert_eq!(prices(&asks), ["100", "101", "102"]);
        assert_eq!(bids.best().map(|b| b.0), Some(e("102")));
        assert_eq!(asks.worst_price(), Some(e("102")));
    }

    #[test]
    fn zero_removes_and_a_size_replaces() {
        let mut bids = Ladder::new(Better::Higher);
        bids.set(e("1"), e("5"));
        bids.set(e("1.0"), e("7"));
        bids.set(e("2"), e("0"));
        assert_eq!(bids.best(), Some((e("1"), e("7"))));
        bids.set(e("1"), e("0"));
        assert_eq!(bids.len(), 0);
    }

    #[test]
    fn replace_sorts_keeps_the_last_of_a_price_and_drops_zeros() {
        let mut asks = Ladder::new(Better::Lower);
        asks.replace([
            (e("3"), e("1")),
            (e("1"), e("1")),
            (e("3"), e("9")),
            (e("2"), e("0")),
        ]);
        let held: Vec<_> = asks.best_first(None).collect();
        assert_eq!(held, [(e("1"), e("1")), (e("3"), e("9"))]);
    }

    #[test]
    fn agrees_with_a_sorted_map_over_random_changes() {
        // A reference kept the obvious way, and 20,000 random sets, removals and cuts.
        use std::collections::BTreeMap;
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for better in [Better::Higher, Better::Lower] {
            let mut ladder = Ladder::new(better);
            let mut reference = BTreeMap::new();
            for round in 0..20_000 {
                let price = Exact::from_f64(100.0 + next(300) as f64 / 4.0).unwrap();
                let size = Exact::from_f64(next(4) as f64).unwrap();
                ladder.set(price, size);
                if size.is_zero() {
                    reference.remove(&price);
                } else {
                    reference.insert(price, size);
                }
                if round % 2_000 == 1_999 {
                    let keep = next(200) as usize;
                    ladder.keep_best(keep);
                    while reference.len() > keep {
                        match better {
                            Better::Higher => reference.pop_first(),
                            Better::Lower => reference.pop_last(),
                        };
                    }
                }
                let expected: Vec<_> = match better {
                    Better::Higher => reference.iter().rev().map(|(p, s)| (*p, *s)).collect(),
                    Better::Lower => reference.iter().map(|(p, s)| (*p, *s)).collect(),
                };
                if round % 97 == 0 || round == 19_999 {
                    assert_eq!(ladder.best_first(None).collect::<Vec<_>>(), expected);
                }
                assert_eq!(ladder.best(), expected.first().copied());
            }
        }
    }

    #[test]
    fn within_a_bound_and_keeping_the_best() {
        let mut asks = Ladder::new(Better::Lower);
        asks.replace((1..=10).map(|p| (e(&p.to_string()), e("1"))));
        assert_eq!(asks.count_within(e("4")), 4);
        assert_eq!(asks.count_within(e("4.5")), 4);
        assert_eq!(asks.best_first(Some(e("3"))).count(), 3);
        asks.keep_best(2);
        assert_eq!(prices(&asks), ["1", "2"]);
        let mut bids = Ladder::new(Better::Higher);
        bids.replace((1..=10).map(|p| (e(&p.to_string()), e("1"))));
        assert_eq!(bids.count_within(e("8")), 3);
        bids.keep_best(1);
        assert_eq!(prices(&bids), ["10"]);
    }
}
