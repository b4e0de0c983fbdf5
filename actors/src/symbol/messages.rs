use std::sync::Arc;

use actix::Message;
use tokio::sync::oneshot;

use super::state::Stamped;
use crate::error::EngineError;
use crate::model::{DataRequest, MarketData, Served};

/// One symbol's data, as answered to a front end.
#[derive(Debug, Clone)]
pub struct Answer {
    pub exchange: Arc<str>,
    /// Unified symbol, e.g. `BTC/USDT`.
    pub symbol: Arc<str>,
    pub data: Served<MarketData>,
    /// The exchange that could not answer fresh when another one served this (`FAILOVER`).
    pub failover_from: Option<Arc<str>>,
}

impl Answer {
    /// `served` cut down to what `request` asked for (the best levels of a book, the most
    /// recent trades): the held value may be a larger upstream step.
    pub fn new(
        exchange: Arc<str>,
        symbol: Arc<str>,
        mut served: Served<MarketData>,
        request: &DataRequest,
    ) -> Self {
        if let Some(cut) = served.value.cut_to(request) {
            served.value = Arc::new(cut);
        }
        Self {
            exchange,
            symbol,
            data: served,
            failover_from: None,
        }
    }
}

pub type Reply = Result<Answer, EngineError>;

/// Where an answer goes. The caller holds the receiving end, so a request can pass through the
/// router to the symbol actor and be answered straight from there.
pub type Responder = oneshot::Sender<Reply>;

/// Serve `request` for this actor's symbol: from its state when fresh, else by one exchange
/// call shared with every concurrent request for the same data.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Fetch {
    pub request: DataRequest,
    pub reply: Responder,
}

/// A value for this symbol obtained elsewhere (a batched ticker call, a feed, another node):
/// kept if it is newer than what the symbol holds.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Store {
    pub upstream: DataRequest,
    pub stamped: Stamped,
    /// Came from this node's own exchange feed: the symbol shares it with the cluster (a
    /// value another node published, or one already shared when fetched, is not re-shared).
    pub from_own_feed: bool,
}

/// The symbol is watched: keep its ticker fresh until nobody watches it any more.
#[derive(Message)]
#[rtype(result = "()")]
pub struct KeepFresh;
