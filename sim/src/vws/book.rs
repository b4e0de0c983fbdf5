//! Order book feeds of the venues' websockets: the book as a function of the walk step
//! (`crate::market::book`), the update between two steps (the levels that changed, absolute
//! sizes, 0 removes, levels pushed past the depth removed too so a client that applies updates
//! keeps exactly the top `depth` levels), and the venues' checksums.

use crate::market::book::Book;
use crate::venues::format::trimmed;

/// A side's levels that differ between `old` and `new` (both best first): new or changed sizes,
/// and the prices gone from `new` with size 0, best first. One merge pass over the two sorted
/// sides (a 400-level book changes every level each step, so this runs on every level).
pub fn side_diff(old: &[(u64, u64)], new: &[(u64, u64)], bids: bool) -> Vec<(u64, u64)> {
    // Whether price `a` comes before price `b` on this side.
    let before = |a: u64, b: u64| if bids { a > b } else { a < b };
    let mut out = Vec::with_capacity(old.len().max(new.len()));
    let (mut i, mut j) = (0, 0);
    loop {
        match (old.get(i), new.get(j)) {
            (Some(o), Some(n)) if o.0 == n.0 => {
                if o.1 != n.1 {
                    out.push(*n);
                }
                i += 1;
                j += 1;
            }
            (Some(o), Some(n)) if before(o.0, n.0) => {
                out.push((o.0, 0));
                i += 1;
            }
            (_, Some(n)) => {
                out.push(*n);
                j += 1;
            }
            (Some(o), None) => {
                out.push((o.0, 0));
                i += 1;
            }
            (None, None) => return out,
        }
    }
}

/// The change from `old` to `new`: (bids, asks).
pub type Diff = (Vec<(u64, u64)>, Vec<(u64, u64)>);

pub fn diff(old: &Book, new: &Book) -> Diff {
    (
        side_diff(&old.bids, &new.bids, true),
        side_diff(&old.asks, &new.asks, false),
    )
}

/// OKX's checksum: CRC32 of `bidPx:bidSz:askPx:askSz:...` over the first 25 levels of each
/// side (a side that runs out contributes only the other), as printed on the wire, read as a
/// signed 32-bit integer.
pub fn okx_checksum(book: &Book) -> i32 {
    let mut parts: Vec<String> = Vec::with_capacity(100);
    for i in 0..25 {
        for side in [&book.bids, &book.asks] {
            if let Some(&(px, q)) = side.get(i) {
                parts.push(trimmed(px));
                parts.push(trimmed(q));
            }
        }
    }
    crc32fast::hash(parts.join(":").as_bytes()) as i32
}

/// Kraken v2's checksum: CRC32 of the top 10 asks (ascending) then the top 10 bids
/// (descending), each price then quantity as printed with the decimal point removed and
/// leading zeros stripped.
pub fn kraken_checksum(book: &Book) -> u32 {
    let mut s = String::new();
    for &(px, q) in book.asks.iter().take(10).chain(book.bids.iter().take(10)) {
        for v in [px, q] {
            s.push_str(trimmed(v).replace('.', "").trim_start_matches('0'));
        }
    }
    crc32fast::hash(s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book(bids: &[(u64, u64)], asks: &[(u64, u64)]) -> Book {
        Book {
            last_update_id: 1,
            bids: bids.to_vec(),
            asks: asks.to_vec(),
        }
    }

    #[test]
    fn diff_has_changes_and_removals_in_book_order() {
        let a = book(&[(10, 1), (9, 1), (8, 1)], &[(11, 1), (12, 1)]);
        let b = book(&[(10, 2), (9, 1), (7, 1)], &[(12, 1), (13, 5)]);
        let (bids, asks) = diff(&a, &b);
        assert_eq!(bids, [(10, 2), (8, 0), (7, 1)]);
        assert_eq!(asks, [(11, 0), (13, 5)]);
        assert_eq!(diff(&b, &b), (vec![], vec![]));
    }

    /// `side` with `changes` applied (absolute sizes, 0 removes), best first.
    fn applied(side: &[(u64, u64)], changes: &[(u64, u64)], bids: bool) -> Vec<(u64, u64)> {
        let mut m: std::collections::BTreeMap<u64, u64> = side.iter().copied().collect();
        for &(p, q) in changes {
            if q == 0 {
                m.remove(&p);
            } else {
                m.insert(p, q);
            }
        }
        let v: Vec<(u64, u64)> = m.into_iter().collect();
        if bids {
            v.into_iter().rev().collect()
        } else {
            v
        }
    }

    #[test]
    fn applying_the_diff_of_walk_steps_gives_the_next_book() {
        let m = crate::market::Market::new(42, 0, false, 100).unwrap();
        let s = m.symbol("ETHUSDT").unwrap();
        let step = 17_000_000_000;
        for k in 0..50 {
            let (a, b) = (
                m.book(s, (step + k) * 100, 60),
                m.book(s, (step + k + 1) * 100, 60),
            );
            let (bids, asks) = diff(&a, &b);
            assert_eq!(applied(&a.bids, &bids, true), b.bids);
            assert_eq!(applied(&a.asks, &asks, false), b.asks);
        }
    }

    #[test]
    fn okx_checksum_of_its_documented_example() {
        // OKX's docs: bids 3366.1:7, 3366:6 / asks 3366.8:9, 3368:8 -> "3366.1:7:3366.8:9:3366:6:3368:8".
        let u = |x: f64| (x * 1e8).round() as u64;
        let b = book(
            &[(u(3366.1), u(7.0)), (u(3366.0), u(6.0))],
            &[(u(3366.8), u(9.0)), (u(3368.0), u(8.0))],
        );
        assert_eq!(
            okx_checksum(&b),
            crc32fast::hash(b"3366.1:7:3366.8:9:3366:6:3368:8") as i32
        );
        assert_eq!(okx_checksum(&b), -1_881_014_294);
    }

    #[test]
    fn kraken_checksum_strips_points_and_leading_zeros() {
        let u = |x: f64| (x * 1e8).round() as u64;
        let b = book(&[(u(0.05), u(0.5))], &[(u(45285.2), u(0.001))]);
        assert_eq!(kraken_checksum(&b), crc32fast::hash(b"452852155"));
    }
}
