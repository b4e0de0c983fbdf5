//! What the router is asked: route a request to its symbol's actor, an exchange's markets,
//! a watch ended, a feed event; and how many symbol actors run.

use std::sync::Arc;

use actix::Message;
use tokio::sync::oneshot;

use crate::directory::{MarketsAnswer, Responder, SymbolEntry};
use crate::error::EngineError;
use crate::model::{DataRequest, Stamped};
use crate::venue::MarketEvent;

/// Resolve `symbol` on `exchange` and hand the delivery to that symbol's actor (starting it if
/// needed), which answers directly. Used when the caller found no running actor.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Route {
    pub exchange: Arc<str>,
    pub symbol: String,
    pub delivery: Delivery,
}

pub(crate) enum Delivery {
    Fetch {
        request: DataRequest,
        reply: Responder,
    },
    Store {
        upstream: DataRequest,
        stamped: Stamped,
        from_own_feed: bool,
    },
    /// One more watcher of the symbol: its ticker is kept fresh (the venue's feed, else REST
    /// polling at the TTL) and its entry pinned until the matching [`Unwatch`].
    Watch {
        reply: oneshot::Sender<Result<Arc<SymbolEntry>, EngineError>>,
    },
}

#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct GetMarkets {
    pub exchange: Arc<str>,
    /// With the derivative markets (loading them if they are not yet).
    pub derivatives: bool,
    pub reply: oneshot::Sender<Result<MarketsAnswer, EngineError>>,
}

/// How many symbol actors are running (SPEC.md metric `cmm_symbol_actors`).
#[derive(Message)]
#[rtype(result = "usize")]
pub(crate) struct SymbolActorCount;

/// One watcher of `symbol` less (see [`Delivery::Watch`]); after the last, its feed stream
/// stops and its actor stops keeping it fresh.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Unwatch {
    pub exchange: Arc<str>,
    pub symbol: Arc<str>,
}

/// One more (`wanted`) or one less reader of `symbol`'s book, trades and candle: the first
/// subscribes their streams (the symbol is watched already), the last unsubscribes them.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct LiveWanted {
    pub exchange: Arc<str>,
    pub symbol: Arc<str>,
    pub wanted: bool,
}

/// An event from a venue's feed.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct VenueEvent {
    pub exchange: Arc<str>,
    pub event: MarketEvent,
}
