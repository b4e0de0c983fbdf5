//! The venues' live feeds as the router sees them: which symbols they carry (the first watcher
//! of a symbol subscribes it, the last one leaves), and where their events go (straight to a
//! running symbol actor from the feed's thread; through the router, which starts the actor,
//! otherwise).

use std::sync::Arc;

use actix::{Context, Handler, StreamHandler};

use super::markets::Pending;
use super::messages::{Delivery, LiveWanted, Route, Unwatch, VenueEvent};
use super::Router;
use crate::bridge::{FeedUnwanted, FeedWanted};
use crate::directory::{Directory, LiveNeed, Store, SymbolEntry, SymbolMailbox};
use crate::model::{DataRequest, MarketData, Source, Stamped};
use crate::venue::{EventSink, Exchange, Feed, LiveEvent, LiveSink, MarketEvent, StreamKey};

impl Router {
    /// One more watcher of `entry`: the first one subscribes its feed stream (through the
    /// bridge with Redis: one node streams it for the cluster) and starts its actor keeping
    /// it fresh.
    pub(super) fn watch(
        &self,
        feed: Option<&Arc<dyn Feed>>,
        entry: &SymbolEntry,
        actor: &dyn SymbolMailbox,
    ) {
        if !entry.add_watcher() {
            return;
        }
        if let Some(feed) = feed {
            match &self.bridge {
                // Across nodes one feed per cluster (books, trades and candles: see
                // `LiveWanted`).
                Some(bridge) => bridge.do_send(FeedWanted {
                    exchange: entry.exchange.clone(),
                    stream: ticker_stream(entry),
                }),
                None => feed.subscribe(&[ticker_stream(entry)]),
            }
        }
        // Not try_send: a full mailbox must not lose the start of polling.
        actor.keep_fresh();
    }
}

/// A feed's events as a stream the router handles; a lagging receiver skips what it missed
/// (newer values follow) rather than ending.
pub(super) fn feed_events(
    exchange: Arc<str>,
    events: tokio::sync::broadcast::Receiver<MarketEvent>,
) -> impl futures::Stream<Item = VenueEvent> {
    use tokio::sync::broadcast::error::RecvError;
    futures::stream::unfold(events, move |mut events| {
        let exchange = exchange.clone();
        async move {
            loop {
                match events.recv().await {
                    Ok(event) => return Some((VenueEvent { exchange, event }, events)),
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(%exchange, missed, "feed events dropped: the router fell behind");
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        }
    })
}

/// A feed event handed from the feed's thread straight to its symbol's running actor: no
/// router hop, no symbol resolution (the feed names the unified symbol). Events for symbols
/// without a running actor come back, for the router to start one.
pub(super) fn direct_delivery(directory: Arc<Directory>, exchange: Arc<str>) -> EventSink {
    Arc::new(move |event| {
        let venue = directory.venue(&exchange);
        let actor = venue
            .and_then(|venue| venue.symbol(&event.symbol))
            .and_then(|entry| entry.actor());
        let Some(actor) = actor else {
            return Some(event);
        };
        let (_, upstream, stamped) = streamed(event, venue.map(|v| &*v.venue))?;
        // A full mailbox drops this value; the next tick replaces it anyway.
        let _ = actor.try_store(Store {
            upstream,
            stamped,
            from_own_feed: true,
        });
        None
    })
}

/// Book, trade and candle events, from the feed's thread into the symbol's live state; what
/// that state still needs from REST goes to the symbol's actor. Events of a symbol nobody
/// watches (in flight after the last watcher left) are dropped.
pub(super) fn live_delivery(directory: Arc<Directory>, exchange: Arc<str>) -> LiveSink {
    Arc::new(move |event: LiveEvent| {
        let Some(venue) = directory.venue(&exchange) else {
            return;
        };
        let Some(entry) = venue.symbol(&event.symbol) else {
            return;
        };
        if !entry.live.wanted() {
            return;
        }
        let need = entry
            .live
            .on_event(event.data, event.received_at, || venue.venue.book_sync());
        if need == Some(LiveNeed::Resubscribe) {
            // The venue sends snapshots in the stream: straight from the feed's thread.
            if let Some(feed) = venue.venue.feed() {
                feed.resync_book(&event.symbol);
            }
            return;
        }
        // The actor is looked up only when REST must help (a lock and a liveness check: not
        // for every frame).
        if let Some(need) = need {
            if let Some(actor) = entry.actor() {
                actor.live_fetch(need);
            }
        }
    })
}

/// A pushed value as a symbol stores it: its symbol, the request it answers, and the value
/// stamped with when it was true (`None` for data a symbol does not keep from a feed).
fn streamed(
    mut event: MarketEvent,
    venue: Option<&dyn Exchange>,
) -> Option<(Arc<str>, DataRequest, Stamped)> {
    let upstream = match &mut event.data {
        MarketData::Ticker(_) => DataRequest::Ticker,
        // A perpetual's `@markPrice@1s`: its funding (with mark and index) kept fresh; the
        // event has no interval, the venue's market list does.
        MarketData::FundingRate(funding) => {
            if funding.interval_hours.is_none() {
                funding.interval_hours =
                    venue.and_then(|v| v.listed_funding_interval(&event.symbol));
            }
            DataRequest::FundingRate
        }
        _ => return None,
    };
    let stamped = Stamped {
        fetched_at_ms: event.observed_at_ms(),
        value: Arc::new(event.data),
        origin: Source::Stream,
    };
    Some((event.symbol, upstream, stamped))
}

impl StreamHandler<VenueEvent> for Router {
    fn handle(&mut self, msg: VenueEvent, ctx: &mut Context<Self>) {
        let venue = self
            .slots
            .get(&msg.exchange)
            .map(|s| s.directory.venue.clone());
        let Some((symbol, upstream, stamped)) = streamed(msg.event, venue.as_deref()) else {
            return;
        };
        let route = Route {
            exchange: msg.exchange.clone(),
            symbol: symbol.to_string(),
            delivery: Delivery::Store {
                upstream,
                stamped,
                from_own_feed: true,
            },
        };
        self.with_markets(&msg.exchange, Pending::Route(route), ctx);
    }

    fn finished(&mut self, _: &mut Context<Self>) {
        // A feed ended for good (its adapter dropped it): REST keeps serving.
        tracing::warn!("an exchange feed closed");
    }
}

impl Handler<Unwatch> for Router {
    type Result = ();

    fn handle(&mut self, msg: Unwatch, _: &mut Context<Self>) {
        let Some(slot) = self.slots.get(&msg.exchange) else {
            return;
        };
        let Some(entry) = slot.directory.symbol(&msg.symbol) else {
            return;
        };
        // The actor sees the count drop to zero at its next freshness check and stops.
        if entry.remove_watcher() {
            if let Some(feed) = &slot.feed {
                match &self.bridge {
                    Some(bridge) => bridge.do_send(FeedUnwanted {
                        exchange: entry.exchange.clone(),
                        stream: ticker_stream(&entry),
                    }),
                    None => feed.unsubscribe(&[ticker_stream(&entry)]),
                }
            }
        }
    }
}

impl Handler<LiveWanted> for Router {
    type Result = ();

    /// Books, trades and candles stream only for their readers (a ticker watch does not need
    /// them: a book costs a REST snapshot, and every stream counts against the connection's).
    /// Through the bridge one node streams them for the cluster (the others mirror its book
    /// and trades).
    fn handle(&mut self, msg: LiveWanted, _: &mut Context<Self>) {
        let Some(slot) = self.slots.get(&msg.exchange) else {
            return;
        };
        let Some(entry) = slot.directory.symbol(&msg.symbol) else {
            return;
        };
        let Some(feed) = &slot.feed else {
            return;
        };
        let keys: Vec<StreamKey> = StreamKey::watched(&entry.symbol, &entry.market_id)
            .into_iter()
            .filter(|key| !matches!(key, StreamKey::Ticker { .. }))
            .collect();
        // The book stream stands for all three at the bridge.
        let Some(book) = keys
            .iter()
            .find(|key| matches!(key, StreamKey::Book { .. }))
            .cloned()
        else {
            return;
        };
        if msg.wanted {
            if entry.live.add_reader() {
                match &self.bridge {
                    Some(bridge) => bridge.do_send(FeedWanted {
                        exchange: entry.exchange.clone(),
                        stream: book,
                    }),
                    None => feed.subscribe(&keys),
                }
            }
        } else if entry.live.remove_reader() {
            match &self.bridge {
                Some(bridge) => bridge.do_send(FeedUnwanted {
                    exchange: entry.exchange.clone(),
                    stream: book,
                }),
                None => feed.unsubscribe(&keys),
            }
            // Nothing keeps it in sequence any more.
            entry.live.clear();
        }
    }
}

fn ticker_stream(entry: &SymbolEntry) -> StreamKey {
    StreamKey::Ticker {
        symbol: entry.symbol.clone(),
        market_id: entry.market_id.clone(),
    }
}
