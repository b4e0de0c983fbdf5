//! What feeds a watch (SPEC.md 5.1), wherever its buffer lives: follows one market's ticker,
//! local book (top [`BOOK_LEVELS`] levels with their nonce) or trade tape and hands each new
//! item to an [`ItemSink`] (an MCP session's in-memory buffer, or the worker pool's buffer in
//! Redis) until the sink says the watch is gone.
//!
//! Trades are followed by their position on the tape (a count of trades pushed to it), not by
//! their ids: ids are not numbers on every venue (Bybit's `execId` is a UUID).

use std::time::Instant;

use crypto_market_actors::{LiveChannel, TickerWatch};
use serde_json::Value;

/// Levels a side of an `order_book` item.
pub const BOOK_LEVELS: usize = 20;
/// Most trades one change hands on: the whole tape.
const TAPE: usize = 1_000;

/// The channel argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Ticker,
    OrderBook,
    Trades,
}

impl Channel {
    pub fn parse(name: &str) -> Result<Self, super::ToolError> {
        match name {
            "ticker" => Ok(Self::Ticker),
            "order_book" => Ok(Self::OrderBook),
            "trades" => Ok(Self::Trades),
            other => Err(super::ToolError::invalid_argument(format!(
                "channel: {other:?} is not one of ticker, order_book, trades"
            ))),
        }
    }
}

/// Where a watch's items go.
pub trait ItemSink {
    /// Takes one item, with when the engine changed what it shows (order books: the book's
    /// version bump, which `cmm_watch_wake_seconds` times a long poll's wake-up from);
    /// `false` when the watch is gone (the producer stops).
    fn push(&self, item: Value, changed_at: Option<Instant>) -> bool;
}

/// Pushes the market's changes into `sink` until it is gone (or the task is dropped).
pub async fn produce(mut watch: TickerWatch, channel: Channel, sink: impl ItemSink) {
    let live = match channel {
        Channel::Ticker => None,
        Channel::OrderBook => Some(watch.live_updates(LiveChannel::Book)),
        Channel::Trades => Some(watch.live_updates(LiveChannel::Trades)),
    };
    let Some(mut changes) = live else {
        loop {
            let answer = watch.next().await;
            if let Ok(ticker) = super::ticker_result(&answer).and_then(|t| super::to_json(&t)) {
                if !sink.push(ticker, None) {
                    return;
                }
            }
        }
    };
    // Trades from now on: the tape's position when the watch starts (once it is whole).
    let mut seen = watch.live_trades_position();
    loop {
        if changes.changed().await.is_err() {
            return;
        }
        let alive = match channel {
            Channel::OrderBook => match watch.live_book(BOOK_LEVELS) {
                Some(book) => serde_json::to_value(&book)
                    .map_or(true, |item| sink.push(item, watch.live_book_changed_at())),
                None => true,
            },
            _ => match seen {
                // The tape became whole after the watch started: what it holds is history.
                None => {
                    seen = watch.live_trades_position();
                    true
                }
                Some(after) => match watch.live_trades_since(after) {
                    Some((trades, position)) => {
                        seen = Some(position);
                        push_all(&sink, trades.iter().take(TAPE))
                    }
                    None => true,
                },
            },
        };
        if !alive {
            return;
        }
    }
}

fn push_all<'a>(
    sink: &impl ItemSink,
    trades: impl Iterator<Item = &'a crypto_market_actors::model::Trade>,
) -> bool {
    for trade in trades {
        if let Ok(item) = serde_json::to_value(trade) {
            if !sink.push(item, None) {
                return false;
            }
        }
    }
    true
}
