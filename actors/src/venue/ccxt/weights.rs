//! Request weights of the market-data endpoints, per exchange. Binance's are documented
//! (errors/NOTES.md of the fixtures: depth by limit, aggTrades 4, klines 2, ...); an exchange
//! without a documented weight model counts one unit a call against a conservative budget.

pub struct Weights {
    pub per_minute: u32,
    pub burst: u32,
    pub markets: u32,
    pub ticker: u32,
    pub ohlcv: u32,
    pub trades: u32,
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
                ohlcv: 2,
                trades: 4, // ccxt's fetch_trades calls aggTrades
                // ticker/24hr?symbols=[..] costs 2 for up to 20 symbols, 40 up to 100.
                ticker_batch: 20,
                depth_steps: &[(100, 5), (500, 25), (1000, 50), (5000, 250)],
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

    /// A budget counted in calls: every endpoint weighs one, no batched tickers.
    fn per_call(per_minute: u32, burst: u32) -> Self {
        Self {
            per_minute,
            burst,
            markets: 1,
            ticker: 1,
            ohlcv: 1,
            trades: 1,
            ticker_batch: 1,
            depth_steps: &[],
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
    }
}
