//! The name of one cached value, shared by the in-memory cache and the Redis layer.

use std::sync::Arc;

use super::DataRequest;

/// Identifies one cached value. Displays as SPEC.md's Redis key suffix
/// `{exchange}:{kind}:{symbol}[:{params}]` (the `KEY_PREFIX:cache:` part is the Redis layer's).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    pub exchange: Arc<str>,
    /// Unified symbol, e.g. `BTC/USDT`.
    pub symbol: Arc<str>,
    pub request: DataRequest,
}

impl std::fmt::Display for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.exchange,
            self.request.kind().as_str(),
            self.symbol
        )?;
        let params = self.request.params();
        if !params.is_empty() {
            write!(f, ":{params}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_as_spec_key() {
        let key = |request| CacheKey {
            exchange: "binance".into(),
            symbol: "BTC/USDT".into(),
            request,
        };
        assert_eq!(
            key(DataRequest::Ticker).to_string(),
            "binance:ticker:BTC/USDT"
        );
        assert_eq!(
            key(DataRequest::OrderBook { limit: 100 }).to_string(),
            "binance:orderbook:BTC/USDT:100"
        );
    }
}
