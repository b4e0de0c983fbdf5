use std::sync::Arc;

use actix::Message;
use tokio::sync::oneshot;

use crate::error::EngineError;
use crate::model::{DataRequest, MarketData, Served};

/// One symbol's data, as answered to a front end.
#[derive(Debug, Clone)]
pub struct Answer {
    pub exchange: Arc<str>,
    /// Unified symbol, e.g. `BTC/USDT`.
    pub symbol: Arc<str>,
    pub data: Served<MarketData>,
}

pub type Reply = Result<Answer, EngineError>;

/// Where an answer goes. The caller holds the receiving end, so a request can pass through the
/// router to the symbol actor and be answered straight from there.
pub type Responder = oneshot::Sender<Reply>;

/// Serve `request` for this actor's symbol: from the cache when fresh, else by one exchange
/// call shared with every concurrent request for the same data.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Fetch {
    pub request: DataRequest,
    pub reply: Responder,
}
