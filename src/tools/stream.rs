//! Live tickers (SPEC.md section 5): a [`TickerSource`] hands over each new ticker of one
//! symbol as its `get_ticker` result; [`run`] streams them for MCP `stream_ticker` until its
//! duration or update count is reached, reporting each as progress.

use std::future::Future;

use crypto_market_actors::TickerWatch;
use serde_json::Value;
use tokio::time::Instant;

use super::args::StreamLimits;
use super::output::StreamTickerResult;
use super::{ticker_result, to_json, ProgressSink, ToolError};

/// Every new ticker of one symbol, as the `get_ticker` result JSON.
pub trait TickerSource: Send {
    /// The next ticker; the first call answers the one held now, if any. A slow caller skips
    /// to the newest. Cancel-safe: dropping the future before it resolves loses no change
    /// (callers race it against deadlines and timers).
    fn next_ticker(&mut self) -> impl Future<Output = Result<Value, ToolError>> + Send;

    /// Consumes the ticker held now, if any, so that the next one is a change from here on
    /// (a subscription reports changes, not the value the client can read already).
    fn skip_held(&mut self) -> impl Future<Output = ()> + Send;
}

impl TickerSource for TickerWatch {
    async fn next_ticker(&mut self) -> Result<Value, ToolError> {
        let answer = self.next().await;
        to_json(&ticker_result(&answer)?)
    }

    async fn skip_held(&mut self) {
        if self.latest().is_some() {
            // Answers at once: the held ticker.
            self.next().await;
        }
    }
}

/// Streams `source` until `limits` say stop, each ticker sent to `progress` (when the client
/// asked for progress), and returns the summary `{exchange, symbol, updates, first, last}`.
/// A client that can no longer be reached ends the stream early.
pub async fn run(
    source: &mut impl TickerSource,
    exchange: &str,
    symbol: &str,
    limits: StreamLimits,
    progress: Option<&dyn ProgressSink>,
) -> Result<Value, ToolError> {
    let deadline = Instant::now() + limits.duration;
    let mut updates: u64 = 0;
    let mut first = None;
    let mut last = None;
    while limits
        .max_updates
        .is_none_or(|max| updates < u64::from(max))
    {
        let ticker = tokio::select! {
            ticker = source.next_ticker() => ticker?,
            () = tokio::time::sleep_until(deadline) => break,
        };
        updates += 1;
        if let Some(sink) = progress {
            if !sink.progress(updates, ticker.to_string()).await {
                tracing::debug!(symbol, updates, "stream_ticker: the client is gone");
                break;
            }
        }
        if first.is_none() {
            first = Some(ticker.clone());
        }
        last = Some(ticker);
    }
    to_json(&StreamTickerResult {
        exchange: exchange.to_owned(),
        symbol: symbol.to_owned(),
        updates,
        first,
        last,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::future::BoxFuture;
    use serde_json::json;
    use std::sync::Mutex;
    use std::time::Duration;

    /// A ticker every `every`, numbered from 1.
    struct Ticking {
        every: Duration,
        n: u64,
    }

    impl TickerSource for Ticking {
        async fn next_ticker(&mut self) -> Result<Value, ToolError> {
            tokio::time::sleep(self.every).await;
            self.n += 1;
            Ok(json!({"last": self.n}))
        }

        async fn skip_held(&mut self) {}
    }

    #[derive(Default)]
    struct Recorded(Mutex<Vec<(u64, String)>>);

    impl ProgressSink for Recorded {
        fn progress(&self, progress: u64, message: String) -> BoxFuture<'_, bool> {
            self.0.lock().unwrap().push((progress, message));
            Box::pin(async { true })
        }
    }

    fn limits(seconds: u64, max_updates: Option<u32>) -> StreamLimits {
        StreamLimits {
            duration: Duration::from_secs(seconds),
            max_updates,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn stops_at_max_updates_with_progress_for_each() {
        let mut source = Ticking {
            every: Duration::from_millis(100),
            n: 0,
        };
        let sink = Recorded::default();
        let summary = run(
            &mut source,
            "binance",
            "BTC/USDT",
            limits(10, Some(3)),
            Some(&sink),
        )
        .await
        .unwrap();
        assert_eq!(
            summary,
            json!({"exchange": "binance", "symbol": "BTC/USDT", "updates": 3,
                   "first": {"last": 1}, "last": {"last": 3}})
        );
        let sent = sink.0.lock().unwrap().clone();
        assert_eq!(
            sent,
            vec![
                (1, r#"{"last":1}"#.to_owned()),
                (2, r#"{"last":2}"#.to_owned()),
                (3, r#"{"last":3}"#.to_owned())
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn stops_at_the_duration_and_says_when_nothing_came() {
        let started = Instant::now();
        let mut source = Ticking {
            every: Duration::from_millis(400),
            n: 0,
        };
        let summary = run(&mut source, "binance", "BTC/USDT", limits(1, None), None)
            .await
            .unwrap();
        assert_eq!(summary["updates"], 2);
        assert_eq!(started.elapsed(), Duration::from_secs(1));
        let mut silent = Ticking {
            every: Duration::from_secs(60),
            n: 0,
        };
        let summary = run(&mut silent, "binance", "BTC/USDT", limits(1, None), None)
            .await
            .unwrap();
        assert_eq!(
            (&summary["updates"], &summary["first"], &summary["last"]),
            (&json!(0), &Value::Null, &Value::Null)
        );
    }
}
