//! Failover (SPEC.md section 3, `FAILOVER`): a request that names no exchange, when the
//! default one cannot answer fresh (circuit open, unavailable, timeout, rate-limited), is
//! served by the next enabled exchange that lists the symbol, and says so (`failover_from`).
//! An open circuit fails in microseconds, so failing over then costs one call to the next
//! venue. Only when no venue answers fresh is the default's stale value (or its error) served.

use crate::model::{DataRequest, Timeframe};
use crate::symbol::{Answer, Reply};

use super::{Engine, ExchangeInfo};

impl Engine {
    /// Serves `request` on the exchange the caller `named`, or on the default exchange with
    /// failover when it named none.
    pub async fn fetch_named(
        &self,
        named: Option<&str>,
        symbol: &str,
        request: DataRequest,
    ) -> Reply {
        let exchange = self.exchange(named)?;
        let first = self.fetch(exchange, symbol, request.clone()).await;
        if names_exchange(named) || !wants_failover(&first) {
            return first;
        }
        match self.fail_over(exchange, symbol, &request).await {
            Some(answer) => Ok(answer),
            None => first,
        }
    }

    /// Tickers of many symbols on the named exchange, or on the default one with each symbol
    /// it cannot answer fresh failed over on its own.
    pub async fn fetch_tickers_named(
        &self,
        named: Option<&str>,
        symbols: &[String],
    ) -> Vec<(String, Reply)> {
        let exchange = match self.exchange(named) {
            Ok(exchange) => exchange,
            Err(error) => {
                return symbols
                    .iter()
                    .map(|s| (s.clone(), Err(error.clone())))
                    .collect()
            }
        };
        let mut answers = self.fetch_tickers(exchange, symbols).await;
        if names_exchange(named) || !self.inner.failover {
            return answers;
        }
        let retries = answers
            .iter()
            .enumerate()
            .filter(|(_, (_, reply))| wants_failover(reply))
            .map(|(slot, (symbol, _))| async move {
                let answer = self.fail_over(exchange, symbol, &DataRequest::Ticker).await;
                (slot, answer)
            });
        for (slot, answer) in futures::future::join_all(retries).await {
            if let Some(answer) = answer {
                answers[slot].1 = Ok(answer);
            }
        }
        answers
    }

    /// A fresh answer from the first other enabled exchange that has one, marked as failed
    /// over from `from`; `None` when failover is off or no other venue answers fresh.
    pub(crate) async fn fail_over(
        &self,
        from: &ExchangeInfo,
        symbol: &str,
        request: &DataRequest,
    ) -> Option<Answer> {
        if !self.inner.failover {
            return None;
        }
        for other in self.inner.exchanges.iter().filter(|e| e.id != from.id) {
            let Some(request) = on_venue(request, &other.timeframes) else {
                continue;
            };
            // A venue that does not list the symbol answers `invalid_symbol` from its markets
            // without an exchange call; one that fails is skipped like the default was.
            match self.fetch(other, symbol, request).await {
                Ok(mut answer) if !answer.data.stale => {
                    tracing::info!(from = %from.id, to = %other.id, symbol, "failed over");
                    metrics::counter!("cmm_failovers_total", "from" => from.id.to_string(), "to" => other.id.to_string())
                        .increment(1);
                    answer.failover_from = Some(from.id.clone());
                    return Some(answer);
                }
                _ => continue,
            }
        }
        None
    }
}

/// Whether the caller chose the exchange (then it never fails over).
pub(crate) fn names_exchange(named: Option<&str>) -> bool {
    named.is_some_and(|n| !n.trim().is_empty())
}

/// The default exchange could not answer fresh: failed for a reason of its own (not of the
/// request), or could only serve a stale value.
pub(crate) fn wants_failover(reply: &Reply) -> bool {
    match reply {
        Ok(answer) => answer.data.stale,
        Err(error) => error.allows_stale(),
    }
}

/// `request` as another venue can serve it: candles only in a timeframe that venue has.
fn on_venue(request: &DataRequest, timeframes: &[String]) -> Option<DataRequest> {
    match request {
        DataRequest::Ohlcv {
            timeframe,
            since,
            limit,
        } => Some(DataRequest::Ohlcv {
            timeframe: Timeframe::parse(timeframe.as_str(), timeframes)?,
            since: *since,
            limit: *limit,
        }),
        other => Some(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::EngineError;

    #[test]
    fn candles_fail_over_only_to_venues_with_the_timeframe() {
        let hour = Timeframe::parse("1h", &["1h".to_owned()]).unwrap();
        let request = DataRequest::Ohlcv {
            timeframe: hour,
            since: None,
            limit: 10,
        };
        assert!(on_venue(&request, &["1m".to_owned(), "1h".to_owned()]).is_some());
        assert!(on_venue(&request, &["1m".to_owned()]).is_none());
        assert!(on_venue(&DataRequest::Ticker, &[]).is_some());
    }

    #[test]
    fn only_failures_of_the_exchange_fail_over() {
        assert!(wants_failover(&Err(EngineError::unavailable("503"))));
        assert!(wants_failover(&Err(EngineError::Timeout("slow".into()))));
        assert!(!wants_failover(&Err(EngineError::InvalidArgument(
            "limit".into()
        ))));
        assert!(!wants_failover(&Err(EngineError::InvalidSymbol {
            exchange: "binance".into(),
            symbol: "NOPE/USDT".into(),
            suggestions: vec![],
        })));
        assert!(names_exchange(Some("okx")));
        assert!(!names_exchange(Some(" ")));
        assert!(!names_exchange(None));
    }
}
