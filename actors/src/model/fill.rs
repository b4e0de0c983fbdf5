//! The cost of filling a size against an order book (`estimate_fill`, SPEC.md section 4.2):
//! a market order walks the book level by level until the size is met or the book runs out.
//! Pure arithmetic, no venue or wire knowledge.

use super::OrderBook;

/// Which way the order goes: a buy takes the asks, a sell hits the bids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FillSide {
    Buy,
    Sell,
}

impl FillSide {
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "buy" => Some(Self::Buy),
            "sell" => Some(Self::Sell),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Buy => "buy",
            Self::Sell => "sell",
        }
    }
}

/// How much to fill: an `amount` of the base currency, or a `notional` of the quote.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FillSize {
    Base(f64),
    Quote(f64),
}

/// What walking the book gave.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fill {
    /// filled_notional / filled_amount; `None` when nothing filled.
    pub avg_price: Option<f64>,
    /// The last (worst) level's price touched; `None` when nothing filled.
    pub worst_price: Option<f64>,
    /// Base filled.
    pub filled_amount: f64,
    /// Quote paid (buy) or received (sell), before fees.
    pub filled_notional: f64,
    /// The whole size was met; `false`: the book (as fetched) ran out first.
    pub complete: bool,
    /// Levels touched, the last one possibly in part.
    pub levels_used: usize,
}

impl Fill {
    /// The notional with the taker fee: what a buy costs in all (notional × (1 + fee)), or
    /// what a sell brings in net of fees (notional × (1 − fee)).
    pub fn with_fees(&self, side: FillSide, fee_rate: f64) -> f64 {
        match side {
            FillSide::Buy => self.filled_notional * (1.0 + fee_rate),
            FillSide::Sell => self.filled_notional * (1.0 - fee_rate),
        }
    }

    /// How far the average price is from `mid`, in basis points, against the taker: positive
    /// when a buy pays above mid or a sell gets below it.
    pub fn slippage_bps(&self, side: FillSide, mid: f64) -> Option<f64> {
        let avg = self.avg_price?;
        if !(mid.is_finite() && mid > 0.0) {
            return None;
        }
        let away = match side {
            FillSide::Buy => avg - mid,
            FillSide::Sell => mid - avg,
        };
        Some(away / mid * 10_000.0)
    }
}

/// What one unit of a book's amounts stands for: one of the base (spot, and derivatives
/// quoted in base), or a contract of the given size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BookUnit {
    Base,
    /// A linear contract of this many base units (OKX `ctVal`, e.g. 0.01 BTC).
    Linear(f64),
    /// An inverse contract of this many quote units (e.g. 100 USD): base = size / price.
    Inverse(f64),
}

impl BookUnit {
    /// The unit of a market's book amounts, from its contract terms (ccxt gives derivative
    /// books in contracts).
    pub fn of(market: &super::Market) -> Self {
        let size = market
            .terms
            .contract_size
            .filter(|s| s.is_finite() && *s > 0.0);
        match (market.is_derivative(), size, market.terms.linear) {
            (true, Some(size), Some(false)) => Self::Inverse(size),
            (true, Some(size), _) => Self::Linear(size),
            _ => Self::Base,
        }
    }
}

/// `book` with its amounts in the base currency (a walk's `amount` is base).
pub fn in_base(book: &OrderBook, unit: BookUnit) -> OrderBook {
    let scale = |levels: &[[f64; 2]]| -> Vec<[f64; 2]> {
        levels
            .iter()
            .map(|&[price, amount]| match unit {
                BookUnit::Base => [price, amount],
                BookUnit::Linear(size) => [price, amount * size],
                BookUnit::Inverse(size) => [price, amount * size / price],
            })
            .collect()
    };
    OrderBook {
        bids: scale(&book.bids),
        asks: scale(&book.asks),
        timestamp: book.timestamp,
        nonce: book.nonce,
    }
}

/// The book's mid price: halfway between the best bid and ask; `None` unless both exist.
pub fn mid(book: &OrderBook) -> Option<f64> {
    let bid = book.bids.first()?[0];
    let ask = book.asks.first()?[0];
    (bid > 0.0 && ask > 0.0).then_some((bid + ask) / 2.0)
}

/// Walks `book` for `size` on `side` (asks for a buy, bids for a sell, best first). Levels
/// with a non-positive or non-finite price or amount are skipped, never counted.
pub fn walk(book: &OrderBook, side: FillSide, size: FillSize) -> Fill {
    let levels = match side {
        FillSide::Buy => &book.asks,
        FillSide::Sell => &book.bids,
    };
    walk_levels(levels, size)
}

/// [`walk`] over one side's levels, best first.
pub fn walk_levels(levels: &[[f64; 2]], size: FillSize) -> Fill {
    let target = match size {
        FillSize::Base(v) | FillSize::Quote(v) => v,
    };
    let mut amount = 0.0;
    let mut notional = 0.0;
    let mut worst = None;
    let mut used = 0;
    let mut complete = false;
    for &[price, level_amount] in levels {
        let usable = |v: f64| v.is_finite() && v > 0.0;
        if !usable(price) || !usable(level_amount) {
            continue;
        }
        // What is still wanted, in this level's base units.
        let left = match size {
            FillSize::Base(_) => target - amount,
            FillSize::Quote(_) => (target - notional) / price,
        };
        if left <= 0.0 {
            complete = true;
            break;
        }
        let take = left.min(level_amount);
        amount += take;
        notional += take * price;
        worst = Some(price);
        used += 1;
        if take >= left {
            complete = true;
            break;
        }
    }
    if target <= 0.0 {
        complete = true;
    }
    Fill {
        avg_price: (amount > 0.0).then(|| notional / amount),
        worst_price: worst,
        filled_amount: amount,
        filled_notional: notional,
        complete,
        levels_used: used,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book() -> OrderBook {
        OrderBook {
            bids: vec![[99.0, 1.0], [98.0, 2.0], [97.0, 3.0]],
            asks: vec![[101.0, 1.0], [102.0, 2.0], [103.0, 3.0]],
            timestamp: None,
            nonce: None,
        }
    }

    #[test]
    fn a_buy_of_an_amount_walks_the_asks_and_ends_inside_a_level() {
        let fill = walk(&book(), FillSide::Buy, FillSize::Base(2.5));
        // 1 @ 101 + 1.5 @ 102
        assert_eq!(fill.filled_amount, 2.5);
        assert!((fill.filled_notional - (101.0 + 1.5 * 102.0)).abs() < 1e-9);
        assert_eq!(fill.worst_price, Some(102.0));
        assert_eq!(fill.levels_used, 2);
        assert!(fill.complete);
        let avg = fill.avg_price.unwrap();
        assert!((avg - 254.0 / 2.5).abs() < 1e-9);
        // mid 100: a buy at 101.6 is 160 bps above it.
        assert!((fill.slippage_bps(FillSide::Buy, 100.0).unwrap() - 160.0).abs() < 1e-9);
        assert_eq!(mid(&book()), Some(100.0));
    }

    #[test]
    fn a_notional_is_met_in_quote() {
        // 101 (1 @ 101) + 204 (2 @ 102) = 305; 50 more at 103.
        let fill = walk(&book(), FillSide::Buy, FillSize::Quote(355.0));
        assert!((fill.filled_notional - 355.0).abs() < 1e-9);
        assert!((fill.filled_amount - (3.0 + 50.0 / 103.0)).abs() < 1e-12);
        assert_eq!((fill.levels_used, fill.complete), (3, true));
        assert_eq!(fill.worst_price, Some(103.0));
    }

    #[test]
    fn a_sell_hits_the_bids_and_fees_lower_the_proceeds() {
        let fill = walk(&book(), FillSide::Sell, FillSize::Base(3.0));
        // 1 @ 99 + 2 @ 98
        assert!((fill.filled_notional - 295.0).abs() < 1e-9);
        assert_eq!(fill.worst_price, Some(98.0));
        assert!((fill.with_fees(FillSide::Sell, 0.001) - 295.0 * 0.999).abs() < 1e-9);
        assert!((fill.with_fees(FillSide::Buy, 0.001) - 295.0 * 1.001).abs() < 1e-9);
        // Sold at 98.33 against a mid of 100: 166.7 bps below.
        let bps = fill.slippage_bps(FillSide::Sell, 100.0).unwrap();
        assert!((bps - (100.0 - 295.0 / 3.0) / 100.0 * 10_000.0).abs() < 1e-9);
        assert!(bps > 0.0);
    }

    #[test]
    fn a_thin_book_fills_what_it_has_and_says_incomplete() {
        let fill = walk(&book(), FillSide::Buy, FillSize::Base(10.0));
        assert!(!fill.complete);
        assert_eq!(fill.filled_amount, 6.0);
        assert_eq!(fill.levels_used, 3);
        assert_eq!(fill.worst_price, Some(103.0));
        let empty = walk(&OrderBook::default(), FillSide::Sell, FillSize::Quote(5.0));
        assert!(!empty.complete);
        assert_eq!((empty.avg_price, empty.worst_price), (None, None));
        assert_eq!(empty.slippage_bps(FillSide::Sell, 100.0), None);
    }

    #[test]
    fn contracts_become_base_before_the_walk() {
        let linear = in_base(&book(), BookUnit::Linear(0.01));
        assert_eq!(linear.asks[0], [101.0, 0.01]);
        let inverse = in_base(&book(), BookUnit::Inverse(100.0));
        assert!((inverse.bids[0][1] - 100.0 / 99.0).abs() < 1e-12);
        assert_eq!(in_base(&book(), BookUnit::Base), book());
        let mut perp = super::super::Market {
            market_type: "swap".into(),
            ..Default::default()
        };
        perp.terms.contract_size = Some(0.01);
        assert_eq!(BookUnit::of(&perp), BookUnit::Linear(0.01));
        perp.terms.linear = Some(false);
        assert_eq!(BookUnit::of(&perp), BookUnit::Inverse(0.01));
        perp.market_type = "spot".into();
        assert_eq!(BookUnit::of(&perp), BookUnit::Base);
    }

    #[test]
    fn an_exact_level_boundary_stops_there_and_bad_levels_are_skipped() {
        let fill = walk(&book(), FillSide::Buy, FillSize::Base(3.0));
        assert_eq!((fill.levels_used, fill.complete), (2, true));
        let odd = [[f64::NAN, 5.0], [100.0, 0.0], [101.0, 2.0]];
        let fill = walk_levels(&odd, FillSize::Base(1.0));
        assert_eq!(fill.avg_price, Some(101.0));
        assert_eq!(fill.levels_used, 1);
    }
}
