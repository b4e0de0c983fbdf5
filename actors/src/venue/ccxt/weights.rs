//! Request weights of the market-data endpoints, per exchange. Binance's are documented
//! (errors/NOTES.md of the fixtures: depth by limit, aggTrades 4, klines 2, ...); an exchange
//! without a documented weight model counts one unit a call against a conservative budget.

pub struct Weights {
    pub per_minute: u32,
    pub burst: u32,
    pub markets: u32,
    pub ticker: u32,
    /// Every ticker in one call (`top_movers`): Binance's ticker/24hr without symbols weighs 80.
    pub all_tickers: u32,
    pub ohlcv: u32,
    pub trades: u32,
    /// A funding rate, funding history page, open interest (derivatives only).
    pub funding: u32,
    pub funding_history: u32,
    pub open_interest: u32,
    /// The derivatives side has a budget of its own (the exchange counts them apart).
    pub own_budget: bool,
    /// Most symbols one batched ticker call asks for (1: the exchange gets no batched calls).
    pub ticker_batch: usize,
    depth_steps: &'static [(u32, u32)],
}

impl Weights {
    pub fn for_exchange(id: &str) -> Self {
        match id {
            "binance" => Self {
                // 6000 per minute per IP; bursts of a tenth of it keep a cold start (many
                // symbols at once) fast without ever approaching the limit.
                per_minute: 6000,
                burst: 600,
                markets: 20,
                ticker: 2,
                all_tickers: 80,
                ohlcv: 2,
                trades: 4, // ccxt's fetch_trades calls aggTrades
                // ticker/24hr?symbols=[..] costs 2 for up to 20 symbols, 40 up to 100.
                ticker_batch: 20,
                depth_steps: &[(100, 5), (500, 25), (1000, 50), (5000, 250)],
                funding: 1,
                funding_history: 1,
                open_interest: 1,
                own_budget: false,
            },
            // The others publish request counts per IP, not weights: every call weighs one,
            // and the budget is their public market-data limit.
            // OKX: 20 requests per 2 s on market/ticker(s) and public/instruments.
            "okx" => Self::per_call(600, 20),
            // Bybit: 600 requests per 5 s per IP across v5 endpoints.
            "bybit" => Self::per_call(7_200, 120),
            // Kraken: public endpoints allow about one call per second, with small bursts.
            "kraken" => Self::per_call(60, 15),
            // Coinbase Advanced Trade: 10 public requests per second per IP.
            "coinbase" => Self::per_call(600, 10),
            // Unknown rules: conservative.
            _ => Self::per_call(600, 60),
        }
    }

    /// Weights of the derivatives side. Binance USDⓈ-M (`fapi`) has its own 2400 per minute
    /// per IP, apart from spot's 6000: premiumIndex, openInterest and a ticker with a symbol
    /// weigh 1, fundingRate 1, klines 2 up to 500 candles, depth 5 up to 50 levels (10 to 100,
    /// 20 to 500, 50 to 1000), aggTrades 20, exchangeInfo 1. OKX limits each endpoint
    /// separately, so its derivative calls get a budget apart from spot's; Bybit counts every
    /// v5 call against one per-IP limit, so they share spot's.
    pub fn for_derivatives(id: &str) -> Self {
        match id {
            "binance" => Self {
                per_minute: 2400,
                burst: 240,
                markets: 1,
                ticker: 1,
                // fapi ticker/24hr without a symbol.
                all_tickers: 40,
                ohlcv: 2,
                trades: 20,
                funding: 1,
                funding_history: 1,
                open_interest: 1,
                own_budget: true,
                ticker_batch: 1,
                depth_steps: &[(50, 5), (100, 10), (500, 20), (1000, 50)],
            },
            "okx" => Self {
                own_budget: true,
                ..Self::for_exchange(id)
            },
            other => Self::for_exchange(other),
        }
    }

    /// A budget counted in calls: every endpoint weighs one, no batched tickers.
    fn per_call(per_minute: u32, burst: u32) -> Self {
        Self {
            per_minute,
            burst,
            markets: 1,
            ticker: 1,
            all_tickers: 1,
            ohlcv: 1,
            trades: 1,
            ticker_batch: 1,
            depth_steps: &[],
            funding: 1,
            funding_history: 1,
            open_interest: 1,
            own_budget: false,
        }
    }

    /// Weight of one batched ticker call for `symbols` symbols (Binance's `symbols` tiers).
    pub fn tickers(&self, symbols: usize) -> u32 {
        match symbols {
            0..=20 => self.ticker,
            21..=100 => 20 * self.ticker,
            _ => 40 * self.ticker,
        }
    }

    pub fn order_book(&self, limit: u32) -> u32 {
        self.depth_steps
            .iter()
            .find(|(max, _)| limit <= *max)
            .map_or(1, |(_, w)| *w)
    }
}

/// Most book levels a side the exchange's spot depth endpoint gives in one call (Binance
/// allows 5000, but 1000 is the largest depth this server fetches; OKX `market/books` 400;
/// Bybit spot 200; Kraken 500; Coinbase's product book is open-ended). A deeper request is
/// clamped to it: the venue's whole book is what there is to walk.
pub fn max_book_depth(id: &str) -> u32 {
    match id {
        "okx" => 400,
        "bybit" => 200,
        "kraken" => 500,
        _ => 1000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binance_depth_weight_follows_limit() {
        let w = Weights::for_exchange("binance");
        assert_eq!(
            (
                w.order_book(20),
                w.order_book(100),
                w.order_book(101),
                w.order_book(1000)
            ),
            (5, 5, 25, 50)
        );
        let futures = Weights::for_derivatives("binance");
        assert!(futures.own_budget && futures.per_minute == 2400);
        assert_eq!(futures.order_book(20), 5);
        assert!(!Weights::for_derivatives("bybit").own_budget);
        assert_eq!(w.all_tickers, 80);
        assert_eq!(Weights::for_exchange("okx").all_tickers, 1);
    }
}
