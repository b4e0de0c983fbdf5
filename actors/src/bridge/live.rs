//! Books and trades across nodes (SPEC.md 5.1): the node holding a symbol's live feeds
//! publishes its book (the best [`PUBLISHED_LEVELS`] levels, with the venue's update id and
//! time) on `{prefix}:book:{exchange}:{symbol}` at every change, and the trades it takes in on
//! `{prefix}:trades:{exchange}:{symbol}`; the other nodes keep what arrives in their own
//! [`Live`](crate::directory) state, served `source: stream`. Payloads are checked on arrival:
//! one that does not read as a sane book or trades is logged and dropped.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cache::RemoteCache;
use crate::directory::{Directory, SymbolEntry};
use crate::model::{OrderBook, Trade};

/// Levels a side the holder publishes: deeper than the resources and watches show (20), so
/// `get_order_book` at its default and a bit beyond is served from the mirror too; a deeper
/// `limit` on a follower is answered by REST.
pub const PUBLISHED_LEVELS: usize = 50;
/// How often the book is sent again unchanged: followers drop a mirrored book not heard of
/// for `MIRROR_FOR` (3 s), so a dead or resynchronising holder's book is not served stale.
const REPEAT_EVERY: Duration = Duration::from_secs(1);
/// The deepest book a payload may carry (`get_order_book`'s bound).
const MAX_LEVELS: usize = 1000;

/// `{prefix}:book:…` payload: the served book plus the depth it is known whole to.
#[derive(Debug, Serialize, Deserialize)]
struct PublishedBook {
    #[serde(flatten)]
    book: OrderBook,
    depth: usize,
}

/// `{prefix}:trades:…` payload: new trades, oldest first.
#[derive(Debug, Serialize, Deserialize)]
struct PublishedTrades {
    trades: Vec<Trade>,
}

/// Publishes `entry`'s book and new trades while this node holds its live feeds (the task
/// is aborted when it stops holding them). Changes arriving while a publish is in flight
/// coalesce: the book sent next is the newest, and every trade goes out once, in order. The
/// book also goes out every [`REPEAT_EVERY`] while in sequence, as a sign of life.
pub(super) async fn publish(remote: Arc<RemoteCache>, entry: Arc<SymbolEntry>) {
    let target = remote.target();
    let book_channel = target.book_channel(&entry.exchange, &entry.symbol);
    let trades_channel = target.trades_channel(&entry.exchange, &entry.symbol);
    let mut books = entry.live.book_updates();
    let mut trades = entry.live.trade_updates();
    let mut repeat = tokio::time::interval(REPEAT_EVERY);
    repeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            changed = books.changed() => {
                if changed.is_err() {
                    return;
                }
                repeat.reset();
                publish_book(&remote, &entry, &book_channel).await;
            }
            _ = repeat.tick() => {
                publish_book(&remote, &entry, &book_channel).await;
            }
            changed = trades.changed() => {
                if changed.is_err() {
                    return;
                }
                let trades = entry.live.trades_to_publish();
                if trades.is_empty() {
                    continue;
                }
                if let Ok(payload) = serde_json::to_string(&PublishedTrades { trades }) {
                    remote.publish(&trades_channel, &payload).await;
                }
            }
        }
    }
}

/// The book as it stands, if in sequence.
async fn publish_book(remote: &RemoteCache, entry: &SymbolEntry, channel: &str) {
    let Some((book, depth)) = entry.live.book_to_publish(PUBLISHED_LEVELS) else {
        return;
    };
    if let Ok(payload) = serde_json::to_string(&PublishedBook { book, depth }) {
        remote.publish(channel, &payload).await;
    }
}

/// Which of the live channels a message came on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Channel {
    Book,
    Trades,
}

/// A message on a followed book or trades channel: checked, then kept by the symbol's live
/// state on this node (when anyone here still reads it).
pub(super) fn deliver(
    directory: &Directory,
    channel_kind: Channel,
    exchange: &str,
    symbol: &str,
    channel: &str,
    payload: &str,
) {
    let Some(entry) = directory
        .venue(exchange)
        .and_then(|venue| venue.symbol(symbol))
    else {
        return;
    };
    if !entry.live.wanted() {
        return;
    }
    match channel_kind {
        Channel::Book => match read_book(payload) {
            Ok((book, depth)) => entry.live.mirror_book(book, depth),
            Err(error) => tracing::warn!(%channel, %error, "unreadable book update dropped"),
        },
        Channel::Trades => match read_trades(payload) {
            Ok(trades) => {
                let need = entry.live.mirror_trades(trades);
                if let (Some(need), Some(actor)) = (need, entry.actor()) {
                    // The tape's first trades, from REST, as on the publishing node.
                    actor.live_fetch(need);
                }
            }
            Err(error) => tracing::warn!(%channel, %error, "unreadable trades update dropped"),
        },
    }
}

fn positive(value: f64) -> bool {
    value.is_finite() && value > 0.0
}

/// A published book, if it is one a venue could have: levels positive, each side strictly
/// best first, not crossed, no deeper than published.
fn read_book(payload: &str) -> Result<(OrderBook, usize), String> {
    let PublishedBook { book, depth } = serde_json::from_str(payload).map_err(|e| e.to_string())?;
    if depth == 0 || depth > MAX_LEVELS || book.bids.len() > depth || book.asks.len() > depth {
        return Err(format!("depth {depth} does not fit its levels"));
    }
    let levels_ok = |side: &[[f64; 2]]| side.iter().all(|[p, s]| positive(*p) && positive(*s));
    if !levels_ok(&book.bids) || !levels_ok(&book.asks) {
        return Err("a level is not a positive price and size".into());
    }
    if !book.bids.windows(2).all(|w| w[0][0] > w[1][0])
        || !book.asks.windows(2).all(|w| w[0][0] < w[1][0])
    {
        return Err("a side is not best first".into());
    }
    if let (Some(bid), Some(ask)) = (book.bids.first(), book.asks.first()) {
        if bid[0] >= ask[0] {
            return Err("crossed".into());
        }
    }
    Ok((book, depth))
}

fn read_trades(payload: &str) -> Result<Vec<Trade>, String> {
    let PublishedTrades { trades } = serde_json::from_str(payload).map_err(|e| e.to_string())?;
    if trades.is_empty() {
        return Err("no trades".into());
    }
    if !trades
        .iter()
        .all(|t| positive(t.price) && positive(t.amount))
    {
        return Err("a trade is not a positive price and amount".into());
    }
    Ok(trades)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_published_book_reads_back_and_insane_ones_are_refused() {
        let book = OrderBook {
            bids: vec![[100.5, 1.0], [100.0, 2.0]],
            asks: vec![[101.0, 0.5]],
            timestamp: Some(1_700_000_000_000),
            nonce: Some(42),
        };
        let payload = serde_json::to_string(&PublishedBook {
            book: book.clone(),
            depth: 50,
        })
        .unwrap();
        assert_eq!(read_book(&payload).unwrap(), (book, 50));
        for bad in [
            "not json",
            "{}",
            r#"{"bids":[[100,1]],"asks":[[99,1]],"timestamp":1,"nonce":1,"depth":50}"#,
            r#"{"bids":[[100,1],[101,1]],"asks":[],"timestamp":1,"nonce":1,"depth":50}"#,
            r#"{"bids":[[-1,1]],"asks":[],"timestamp":1,"nonce":1,"depth":50}"#,
            r#"{"bids":[[100,1],[99,1]],"asks":[],"timestamp":1,"nonce":1,"depth":1}"#,
            r#"{"bids":[[100,1]],"asks":[],"timestamp":1,"nonce":1,"depth":0}"#,
        ] {
            assert!(read_book(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn published_trades_read_back_and_insane_ones_are_refused() {
        let ok = r#"{"trades":[{"id":"7","timestamp":1,"side":"buy","price":100.0,"amount":0.5}]}"#;
        assert_eq!(read_trades(ok).unwrap()[0].id.as_deref(), Some("7"));
        for bad in [
            "[]",
            r#"{"trades":[]}"#,
            r#"{"trades":[{"id":"7","timestamp":1,"side":null,"price":0,"amount":1}]}"#,
            r#"{"trades":[{"id":"7","price":"x","amount":1}]}"#,
        ] {
            assert!(read_trades(bad).is_err(), "{bad}");
        }
    }
}
