//! Deep candle history (SPEC.md 4.2): up to 10,000 candles through the exchange's per-call cap.
//!
//! The range is cut into pages on a fixed grid (page `g` = the `cap` candles opening from
//! `g × cap × timeframe`), so every request that overlaps another asks for the very same pages:
//! each page is one [`DataRequest`] through the symbol's actor (cached, single flight), all
//! fetched concurrently (the venue's weight budget paces them). A page whose candles had all
//! closed when it was fetched never changes and stays fresh while the cache keeps it
//! ([`DataRequest::is_closed_at`]), so a later overlapping request fetches only the newest page.

use crypto_market_actors::model::{Candle, CandlePrice, DataRequest, MarketData, Timeframe};
use crypto_market_actors::venue::candles_per_call;
use crypto_market_actors::Answer;

use super::{mismatch, ToolError, ToolService};
use futures::StreamExt;

/// Pages asked of the symbol's actor at once: more than a venue's concurrent calls (8 by
/// default), so they queue there under its budget, not in a mailbox.
const PAGES_IN_FLIGHT: usize = 16;

/// Which candles: the `limit` opening from `since`, else the `limit` most recent ones, none
/// opening after `until`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub limit: u32,
}

/// Candles of one window, oldest first.
pub(crate) struct History {
    /// The newest page's answer: the exchange, the symbol and the freshness to report.
    pub answer: Answer,
    pub candles: Vec<Candle>,
    /// Where the next window starts; `None` when this one reached `until` (or now).
    pub next_since: Option<i64>,
}

impl ToolService {
    /// The window's candles. One plain call when it fits in one (no `until`, at most the
    /// venue's cap: exactly what `get_ohlcv` always did), else grid pages; `paged` forces them.
    pub(crate) async fn history(
        &self,
        named: Option<&str>,
        symbol: &str,
        timeframe: &Timeframe,
        price: CandlePrice,
        window: Window,
        paged: bool,
    ) -> Result<History, ToolError> {
        let exchange = self.engine.exchange(named)?;
        let cap = candles_per_call(&exchange.id);
        let now = self.engine.clock().now_ms();
        let end = window.until.map_or(now, |until| until.min(now));
        let tf = timeframe.millis();
        let one_call = !paged && window.until.is_none() && window.limit <= cap;
        let (Some(tf), false) = (tf, one_call) else {
            // Months have no fixed length: one call, at most the cap.
            let request = DataRequest::Ohlcv {
                timeframe: timeframe.clone(),
                since: window.since,
                limit: window.limit.min(cap),
                price,
            };
            let answer = self.engine.fetch_named(named, symbol, request).await?;
            let mut candles = candles_of(&answer)?.to_vec();
            candles.retain(|c| c.timestamp <= end);
            let next_since = next_since(&candles, window, tf, end);
            return Ok(History {
                answer,
                candles,
                next_since,
            });
        };
        let span = tf.saturating_mul(i64::from(window.limit));
        let (first, last) = match window.since {
            Some(since) => (since, end.min(since.saturating_add(span) - 1)),
            // The newest `limit` opens lie within `span` before `end`.
            None => (end.saturating_sub(span), end),
        };
        let page = tf.saturating_mul(i64::from(cap));
        let pages: Vec<i64> = if first > last {
            Vec::new()
        } else {
            (first.div_euclid(page)..=last.div_euclid(page)).collect()
        };
        let mut fetches = Vec::with_capacity(pages.len());
        for g in &pages {
            let request = DataRequest::Ohlcv {
                timeframe: timeframe.clone(),
                since: Some(g * page),
                limit: cap,
                price,
            };
            fetches.push(self.engine.fetch(exchange, symbol, request));
        }
        let answers: Vec<_> = futures::stream::iter(fetches)
            .buffered(PAGES_IN_FLIGHT)
            .collect()
            .await;
        let mut candles: Vec<Candle> = Vec::new();
        let mut newest = None;
        for answer in answers {
            let answer = answer?;
            candles.extend(
                candles_of(&answer)?
                    .iter()
                    .filter(|c| c.timestamp >= first && c.timestamp <= last),
            );
            newest = Some(answer);
        }
        let answer = match newest {
            Some(answer) => answer,
            // A window entirely in the future: ask the exchange's newest for the names.
            None => {
                let request = DataRequest::Ohlcv {
                    timeframe: timeframe.clone(),
                    since: None,
                    limit: 1,
                    price,
                };
                self.engine.fetch(exchange, symbol, request).await?
            }
        };
        candles.sort_by_key(|c| c.timestamp);
        candles.dedup_by_key(|c| c.timestamp);
        let limit = window.limit as usize;
        if candles.len() > limit {
            match window.since {
                Some(_) => candles.truncate(limit),
                None => {
                    candles.drain(..candles.len() - limit);
                }
            }
        }
        let next_since = next_since(&candles, window, Some(tf), end);
        Ok(History {
            answer,
            candles,
            next_since,
        })
    }
}

fn candles_of(answer: &Answer) -> Result<&[Candle], ToolError> {
    match &*answer.data.value {
        MarketData::Ohlcv(candles) => Ok(candles),
        _ => Err(mismatch("candles")),
    }
}

/// Where the window after this one starts: only a window from `since` continues, and only
/// when it stopped before `end` (at its `limit`).
fn next_since(candles: &[Candle], window: Window, tf: Option<i64>, end: i64) -> Option<i64> {
    let since = window.since?;
    let next = match (candles.last(), tf) {
        (Some(last), Some(tf)) if candles.len() >= window.limit as usize => last.timestamp + tf,
        (_, Some(tf)) => since.saturating_add(tf.saturating_mul(i64::from(window.limit))),
        // A month: continue after the last one held, if the window was full.
        (Some(last), None) if candles.len() >= window.limit as usize => last.timestamp + 1,
        _ => return None,
    };
    (next <= end).then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candles(from: i64, n: i64, tf: i64) -> Vec<Candle> {
        (0..n)
            .map(|i| Candle::from((from + i * tf, 1.0, 1.0, 1.0, 1.0, 1.0)))
            .collect()
    }

    #[test]
    fn a_window_from_since_continues_until_the_end() {
        let h = 3_600_000;
        let window = |limit| Window {
            since: Some(0),
            until: None,
            limit,
        };
        // Full window, more to come.
        assert_eq!(
            next_since(&candles(0, 10, h), window(10), Some(h), 100 * h),
            Some(10 * h)
        );
        // Reached the end.
        assert_eq!(
            next_since(&candles(0, 10, h), window(10), Some(h), 9 * h),
            None
        );
        // A gap at the venue: continue after the window.
        assert_eq!(
            next_since(&candles(0, 5, h), window(10), Some(h), 100 * h),
            Some(10 * h)
        );
        // The most recent candles are done.
        let recent = Window {
            since: None,
            until: None,
            limit: 10,
        };
        assert_eq!(
            next_since(&candles(0, 10, h), recent, Some(h), 100 * h),
            None
        );
    }
}
