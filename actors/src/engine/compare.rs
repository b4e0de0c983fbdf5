//! One symbol's ticker (`compare_prices`) or funding rate (`compare_funding`) on many
//! exchanges at once: each venue is asked
//! concurrently through its usual path (memory, Redis, stream or one exchange call), and a
//! slow or failing venue costs at most its own deadline and shows up as that venue's error.

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;

use crate::directory::Answer;
use crate::error::EngineError;
use crate::model::DataRequest;

use super::{Engine, ExchangeInfo};

/// Time a venue gets over its call deadline before compare gives up on it: the markets load
/// and the call each have the deadline, but compare answers within one.
const COMPARE_MARGIN: Duration = Duration::from_millis(250);

/// Tickers of one symbol across venues.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// Unified symbol, e.g. `BTC/USDT` (as the venues that answered resolved it).
    pub symbol: Arc<str>,
    /// One ticker per venue that answered, in `EXCHANGES` order.
    pub quotes: Vec<Answer>,
    /// Venues that failed, with why.
    pub errors: Vec<(Arc<str>, EngineError)>,
}

impl Engine {
    /// `symbol`'s ticker on each of `exchanges` (default: every enabled exchange that lists
    /// it). A venue named explicitly that lacks the symbol is an error entry; unnamed ones that
    /// lack it are left out. Fails only when no venue lists the symbol at all.
    pub async fn compare_tickers(
        &self,
        symbol: &str,
        exchanges: Option<&[String]>,
    ) -> Result<Comparison, EngineError> {
        self.compare(symbol, exchanges, DataRequest::Ticker).await
    }

    /// `request` for `symbol` on each of `exchanges`, as [`Engine::compare_tickers`]; venues
    /// that do not serve it (no derivatives there) are left out unless named.
    pub async fn compare(
        &self,
        symbol: &str,
        exchanges: Option<&[String]>,
        request: DataRequest,
    ) -> Result<Comparison, EngineError> {
        let venues: Vec<&ExchangeInfo> = match exchanges {
            Some(names) => {
                let mut venues: Vec<&ExchangeInfo> = Vec::with_capacity(names.len());
                for name in names {
                    let venue = self.exchange_for("exchanges", Some(name))?;
                    // `okx` and `OKX` are one venue, asked once.
                    if !venues.iter().any(|v| v.id == venue.id) {
                        venues.push(venue);
                    }
                }
                venues
            }
            None => self.inner.exchanges.iter().collect(),
        };
        let request = &request;
        let asks = venues.iter().map(|venue| async move {
            let deadline = venue.timeout + COMPARE_MARGIN;
            let reply = tokio::time::timeout(deadline, self.fetch(venue, symbol, request.clone()))
                .await
                .unwrap_or_else(|_| {
                    Err(EngineError::Timeout(format!(
                        "{} did not answer within {} ms",
                        venue.id,
                        deadline.as_millis()
                    )))
                });
            (venue.id.clone(), reply)
        });
        let mut quotes = Vec::new();
        let mut errors = Vec::new();
        let mut unlisted = None;
        for (venue, reply) in join_all(asks).await {
            match reply {
                Ok(answer) => quotes.push(answer),
                Err(error @ EngineError::InvalidSymbol { .. }) if exchanges.is_none() => {
                    // The default venue's suggestions are the ones worth showing.
                    unlisted.get_or_insert(error);
                }
                Err(EngineError::Unsupported(_)) if exchanges.is_none() => {}
                Err(error) => errors.push((venue, error)),
            }
        }
        let Some(first) = quotes.first() else {
            if let (Some(unlisted), true) = (unlisted, errors.is_empty()) {
                return Err(unlisted);
            }
            return Ok(Comparison {
                symbol: Arc::from(symbol),
                quotes,
                errors,
            });
        };
        Ok(Comparison {
            symbol: first.symbol.clone(),
            quotes,
            errors,
        })
    }
}
