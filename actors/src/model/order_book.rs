use serde::{Deserialize, Serialize};

/// An order book snapshot: bids highest first, asks lowest first, `[price, amount]` levels.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct OrderBook {
    pub bids: Vec<[f64; 2]>,
    pub asks: Vec<[f64; 2]>,
    pub timestamp: Option<i64>,
    /// The exchange's sequence number of this snapshot (Binance `lastUpdateId`).
    pub nonce: Option<i64>,
}

impl OrderBook {
    /// Puts both sides best first, whatever order the exchange sent them in.
    pub fn sort_best_first(&mut self) {
        self.bids.sort_by(|a, b| b[0].total_cmp(&a[0]));
        self.asks.sort_by(|a, b| a[0].total_cmp(&b[0]));
    }

    /// The best `depth` levels of each side.
    pub fn truncated(&self, depth: usize) -> Self {
        Self {
            bids: self.bids.iter().take(depth).copied().collect(),
            asks: self.asks.iter().take(depth).copied().collect(),
            timestamp: self.timestamp,
            nonce: self.nonce,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_best_first_and_truncates() {
        let mut book = OrderBook {
            bids: vec![[99.0, 1.0], [100.0, 2.0], [98.0, 3.0]],
            asks: vec![[103.0, 1.0], [101.0, 2.0], [102.0, 3.0]],
            timestamp: None,
            nonce: Some(7),
        };
        book.sort_best_first();
        assert_eq!(book.bids[0], [100.0, 2.0]);
        assert_eq!(book.asks[0], [101.0, 2.0]);
        let top = book.truncated(2);
        assert_eq!(top.bids, vec![[100.0, 2.0], [99.0, 1.0]]);
        assert_eq!(top.asks, vec![[101.0, 2.0], [102.0, 3.0]]);
        assert_eq!(top.nonce, Some(7));
    }
}
