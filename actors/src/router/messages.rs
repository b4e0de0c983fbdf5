use std::sync::Arc;

use actix::Message;
use tokio::sync::oneshot;

use crate::error::EngineError;
use crate::model::{DataRequest, MarketIndex};
use crate::symbol::{Responder, Stamped};
use crate::venue::{MarketEvent, StreamKey};

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

/// Keep `stream` coming from the exchange's feed (one more wanter).
#[derive(Message)]
#[rtype(result = "Result<(), EngineError>")]
pub struct Watch {
    pub exchange: Arc<str>,
    pub stream: StreamKey,
}

/// One wanter of `stream` less; the feed drops it after the last.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unwatch {
    pub exchange: Arc<str>,
    pub stream: StreamKey,
}

/// An event from a venue's feed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct VenueEvent {
    pub exchange: Arc<str>,
    pub event: MarketEvent,
}
