//! The REST side of a watched symbol's live state: the book snapshot its synchroniser asks for
//! (after the stream starts, and after every resync) and the trades a tape starts from. Fetched
//! straight from the venue (its weight budget and circuit apply), never from the cache: a
//! cached book older than the stream would only be refused again.

use std::time::Duration;

use actix::{ActorFutureExt, AsyncContext, Context, Handler, WrapFuture};

use super::SymbolActor;
use crate::directory::{LiveFetch, LiveNeed};
use crate::model::{BookSnapshot, Exact, Level, OrderBook};

/// Pause before asking again after a failed or refused snapshot.
const RETRY_AFTER: Duration = Duration::from_millis(500);

/// A REST book (floats parsed by the adapter from the venue's decimal strings) as exact levels
/// with its update id.
fn snapshot_of(book: &OrderBook) -> Result<BookSnapshot, String> {
    let update_id = book
        .nonce
        .and_then(|n| u64::try_from(n).ok())
        .ok_or("the venue's book has no update id")?;
    let levels = |side: &[[f64; 2]]| {
        side.iter()
            .map(|[price, size]| {
                Ok(Level {
                    price: Exact::from_f64(*price).ok_or(format!("bad price {price}"))?,
                    size: Exact::from_f64(*size).ok_or(format!("bad size {size}"))?,
                })
            })
            .collect::<Result<Vec<_>, String>>()
    };
    Ok(BookSnapshot {
        bids: levels(&book.bids)?,
        asks: levels(&book.asks)?,
        update_id,
    })
}

impl SymbolActor {
    fn fetch_snapshot(&mut self, limit: u32, ctx: &mut Context<Self>) {
        if self.snapshot_in_flight || !self.entry.live.wanted() {
            return;
        }
        self.snapshot_in_flight = true;
        let venue = self.venue.clone();
        let symbol = self.entry.symbol.clone();
        let call = async move { venue.fetch_order_book(&symbol, limit).await };
        ctx.spawn(call.into_actor(self).map(move |result, actor, ctx| {
            actor.snapshot_in_flight = false;
            let snapshot = result
                .map_err(|e| e.to_string())
                .and_then(|book| snapshot_of(&book));
            let need = match snapshot {
                Ok(snapshot) => actor.entry.live.on_snapshot(snapshot),
                Err(error) => {
                    tracing::warn!(symbol = %actor.entry.symbol, %error, "book snapshot failed; trying again");
                    Some(LiveNeed::Snapshot { limit })
                }
            };
            if let Some(need) = need {
                ctx.run_later(RETRY_AFTER, move |actor, ctx| actor.live_fetch(need, ctx));
            }
        }));
    }

    fn seed_trades(&mut self, ctx: &mut Context<Self>) {
        if !self.entry.live.wanted() {
            self.entry.live.seed_failed();
            return;
        }
        let venue = self.venue.clone();
        let symbol = self.entry.symbol.clone();
        let limit = u32::try_from(crate::model::TAPE_LEN).unwrap_or(1000);
        let call = async move { venue.fetch_trades(&symbol, limit).await };
        ctx.spawn(call.into_actor(self).map(|result, actor, _| match result {
            Ok(trades) => actor.entry.live.seed_trades(trades),
            Err(error) => {
                tracing::warn!(symbol = %actor.entry.symbol, %error, "trades for the tape failed; the next trade asks again");
                actor.entry.live.seed_failed();
            }
        }));
    }

    fn live_fetch(&mut self, need: LiveNeed, ctx: &mut Context<Self>) {
        match need {
            LiveNeed::Snapshot { limit } => self.fetch_snapshot(limit, ctx),
            LiveNeed::Trades => self.seed_trades(ctx),
            LiveNeed::Resubscribe => {
                if let Some(feed) = self.venue.feed() {
                    feed.resync_book(&self.entry.symbol);
                }
            }
        }
    }
}

impl Handler<LiveFetch> for SymbolActor {
    type Result = ();

    fn handle(&mut self, msg: LiveFetch, ctx: &mut Context<Self>) {
        self.live_fetch(msg.0, ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_books_become_exact_snapshots() {
        let book = OrderBook {
            bids: vec![[67123.45, 0.00123]],
            asks: vec![[67123.46, 2.5]],
            timestamp: None,
            nonce: Some(42),
        };
        let s = snapshot_of(&book).unwrap();
        assert_eq!(s.update_id, 42);
        assert_eq!(s.bids[0].price, "67123.45".parse().unwrap());
        assert_eq!(s.bids[0].size, "0.00123".parse().unwrap());
        let no_id = OrderBook {
            nonce: None,
            ..book
        };
        assert!(snapshot_of(&no_id).is_err());
    }
}
