use std::sync::Arc;

use actix::Message;
use tokio::sync::oneshot;

use crate::error::EngineError;
use crate::model::{DataRequest, MarketIndex};
use crate::symbol::Responder;

/// Resolve `symbol` on `exchange` and hand `request` to that symbol's actor, which answers
/// `reply` directly.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Route {
    pub exchange: Arc<str>,
    pub symbol: String,
    pub request: DataRequest,
    pub reply: Responder,
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

/// How many symbol actors are alive (SPEC.md metric `cmm_symbol_actors`).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct SymbolActorCount;
