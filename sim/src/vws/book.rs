//! Order book feeds of the venues' websockets: the book as a function of the walk step
//! (`crate::market::book`), the update between two steps (the levels that changed, absolute
//! sizes, 0 removes, levels pushed past the depth removed too so a client that applies updates
//! keeps exactly the top `depth` levels), and the venues' checksums.

use crate::market::book::Book;
use crate::venues::format::trimmed;

/// A side's levels that differ between `old` and `new` (both best first): new or changed sizes,
/// and the prices gone from `new` with size 0. Best first on each side's own order.
pub fn side_diff(old: &[(u64, u64)], new: &[(u64, u64)], bids: bool) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = new
        .iter()
        .filter(|l| !old.contains(l))
        .copied()
        .chain(
            old.iter()
                .filter(|(px, _)| !new.iter().any(|(p, _)| p == px))
                .map(|&(px, _)| (px, 0)),
        )
        .collect();
    if bids {
        out.sort_by_key(|l| std::cmp::Reverse(l.0));
    } else {
        out.sort_by_key(|l| l.0);
    }
    out
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
