//! Failover (SPEC.md section 3, `FAILOVER`): a request that names no exchange, when the
//! default one cannot answer fresh (circuit open, unavailable, timeout, rate-limited), is
//! served by the next enabled exchange that lists the symbol, and says so (`failover_from`).
//! An open circuit fails in microseconds, so failing over then costs one call to the next
//! venue. Only when no venue answers fresh is the default's stale value (or its error) served.

use crate::directory::{Answer, Reply};
use crate::model::{DataRequest, Timeframe};

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
        let symbol = self.unified(exchange, symbol, &first);
        match self.fail_over(exchange, &symbol, &request).await {
            Some(answer) => Ok(answer),
            None => first,
        }
    }

    /// Tickers of many symbols on the named exchange, or on the default one with the symbols
    /// it cannot answer fresh failed over together: each next venue gets one batch (its own
    /// batching and budget apply), not one call per symbol.
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
        // (slot in `answers`, unified symbol) of what still wants a fresh answer.
        let mut waiting: Vec<(usize, String)> = answers
            .iter()
            .enumerate()
            .filter(|(_, (_, reply))| wants_failover(reply))
            .map(|(slot, (input, reply))| (slot, self.unified(exchange, input, reply)))
            .collect();
        let others = self.inner.exchanges.iter().filter(|e| e.id != exchange.id);
        let within = tokio::time::timeout(exchange.timeout, async {
            for other in others {
                if waiting.is_empty() {
                    break;
                }
                let names: Vec<String> = waiting.iter().map(|(_, s)| s.clone()).collect();
                // By name, not position: spellings of one market are answered once.
                let mut replies: std::collections::HashMap<String, Reply> = self
                    .fetch_tickers(other, &names)
                    .await
                    .into_iter()
                    .collect();
                let mut still = Vec::new();
                for (slot, symbol) in waiting.drain(..) {
                    match replies.remove(&symbol) {
                        Some(Ok(mut answer)) if !answer.data.stale => {
                            answer.failover_from = Some(exchange.id.clone());
                            answers[slot].1 = Ok(answer);
                        }
                        _ => still.push((slot, symbol)),
                    }
                }
                waiting = still;
            }
        });
        // Past the deadline the symbols left keep the default's answer.
        let _ = within.await;
        answers
    }

    /// A fresh answer from the first other enabled exchange that has one, marked as failed
    /// over from `from`; `None` when failover is off or no other venue answers fresh. The
    /// venues are asked one after another, all within one more call deadline: the default
    /// has already spent one, and the caller will not wait for five.
    pub(crate) async fn fail_over(
        &self,
        from: &ExchangeInfo,
        symbol: &str,
        request: &DataRequest,
    ) -> Option<Answer> {
        if !self.inner.failover {
            return None;
        }
        let next = async {
            for other in self.inner.exchanges.iter().filter(|e| e.id != from.id) {
                let Some(request) = on_venue(request, &other.timeframes) else {
                    continue;
                };
                // A venue that does not list the symbol answers `invalid_symbol` from its
                // markets without an exchange call; one that fails is skipped like the default.
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
        };
        tokio::time::timeout(from.timeout, next)
            .await
            .ok()
            .flatten()
    }

    /// The unified symbol the default venue resolved `input` to (its answer says, else its
    /// markets), so every venue is asked for the same market; the input when neither knows.
    fn unified(&self, venue: &ExchangeInfo, input: &str, reply: &Reply) -> String {
        if let Ok(answer) = reply {
            return answer.symbol.to_string();
        }
        let now = self.inner.directory.now_ms();
        self.venue(venue)
            .ok()
            .and_then(|v| v.resolve(input, now).ok().flatten())
            .map_or_else(|| input.to_owned(), |r| r.symbol.to_string())
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
            price,
        } => Some(DataRequest::Ohlcv {
            timeframe: Timeframe::parse(timeframe.as_str(), timeframes)?,
            since: *since,
            limit: *limit,
            price: *price,
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
            price: crate::model::CandlePrice::Trade,
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
