use std::sync::Arc;

use actix::Message;
use tokio::sync::oneshot;

use crate::error::EngineError;
use crate::model::{DataRequest, MarketIndex};
use crate::symbol::{Responder, Stamped};
use crate::venue::MarketEvent;

use super::entry::SymbolEntry;

/// Resolve `symbol` on `exchange` and hand the delivery to that symbol's actor (starting it if
/// needed), which answers directly. Used when the caller found no running actor.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Route {
    pub exchange: Arc<str>,
    pub symbol: String,
    pub delivery: Delivery,
}

pub enum Delivery {
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

/// An exchange's markets, loaded once and shared.
#[derive(Debug, Clone)]
pub struct MarketsAnswer {
    pub exchange: Arc<str>,
    pub index: Arc<MarketIndex>,
    pub fetched_at_ms: i64,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct GetMarkets {
    pub exchange: Arc<str>,
    pub reply: oneshot::Sender<Result<MarketsAnswer, EngineError>>,
}

/// How many symbol actors are running (SPEC.md metric `cmm_symbol_actors`).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct SymbolActorCount;

/// The exchange rejected a symbol its market list has (delisted since the list was loaded):
/// remember that, and reload the list early.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SymbolRejected {
    pub exchange: Arc<str>,
    pub symbol: Arc<str>,
}

/// The process holds more values than its capacity: evict least recently used symbols.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Trim;

/// One watcher of `symbol` less (see [`Delivery::Watch`]); after the last, its feed stream
/// stops and its actor stops keeping it fresh.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unwatch {
    pub exchange: Arc<str>,
    pub symbol: Arc<str>,
}

/// An event from a venue's feed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct VenueEvent {
    pub exchange: Arc<str>,
    pub event: MarketEvent,
}
