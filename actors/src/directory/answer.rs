//! What a request for one symbol's data gets back, from a hit on the read side or from the
//! symbol's actor after a miss.

use std::sync::Arc;

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
