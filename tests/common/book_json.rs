//! The simulator's book levels and a served book's, as the same JSON numbers, for tests that
//! compare a served book with the simulator's true one.

use serde_json::Value;

/// The simulator's levels (fixed-point, 8 decimals) as the served JSON numbers.
pub fn levels(side: &[(u64, u64)]) -> Vec<[f64; 2]> {
    side.iter()
        .map(|&(p, q)| [p as f64 / 1e8, q as f64 / 1e8])
        .collect()
}

/// One side (`bids` or `asks`) of a served book.
pub fn side(book: &Value, name: &str) -> Vec<[f64; 2]> {
    book[name]
        .as_array()
        .expect("levels")
        .iter()
        .map(|l| [l[0].as_f64().unwrap(), l[1].as_f64().unwrap()])
        .collect()
}
