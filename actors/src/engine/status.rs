//! Each exchange's health as this process sees it (`exchange_status`).

use std::sync::Arc;

use crate::venue::VenueHealth;

use super::{Engine, ExchangeInfo};

#[derive(Debug, Clone)]
pub struct ExchangeStatus {
    pub id: Arc<str>,
    /// Circuit, calls, errors, weight and latency; `None` when the adapter keeps no record.
    pub health: Option<VenueHealth>,
    /// Markets loaded and when (Unix ms); `None` before the first load.
    pub markets: Option<(usize, i64)>,
    /// Whether its websocket feed has a connection open; `None` when it has no feed.
    pub ws_connected: Option<bool>,
}

impl Engine {
    pub fn exchange_status(&self, exchange: &ExchangeInfo) -> ExchangeStatus {
        let venue = self.venue(exchange).ok();
        ExchangeStatus {
            id: exchange.id.clone(),
            health: venue.and_then(|v| v.venue.health()),
            markets: venue
                .and_then(|v| v.markets())
                .map(|m| (m.index.len(), m.fetched_at_ms)),
            ws_connected: venue
                .and_then(|v| v.venue.feed())
                .map(|feed| feed.stats().connections > 0),
        }
    }
}
