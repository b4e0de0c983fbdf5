//! Test helpers for a venue's frame reading (`Protocol::read`): a [`Reader`] that records what a frame
//! carried, as a connection carrying every stream (as BTC/USDT) would, and the venues'
//! websocket samples in `actors/fixtures/<venue>/ws`.

use std::sync::Arc;

use super::Reader;
use crate::model::MarketData;
use crate::venue::LiveData;

/// What a frame told the reader.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "a test's record: boxing would only add noise"
)]
pub enum Seen {
    Market(Result<(MarketData, i64), String>),
    Live(Result<(LiveData, Option<i64>), String>),
    Ack(Option<u64>),
    Refused(Option<u64>, String),
    Shutdown,
    Malformed(String),
}

/// Records every call, and the stream names asked about.
#[derive(Debug, Default)]
pub struct Recorder {
    pub seen: Vec<Seen>,
    pub streams: Vec<String>,
}

impl Reader for Recorder {
    fn stream(&mut self, stream: &str) -> Option<Arc<str>> {
        self.streams.push(stream.to_owned());
        Some(Arc::from("BTC/USDT"))
    }
    fn market(&mut self, _: Arc<str>, _: &str, update: Result<(MarketData, i64), String>) {
        self.seen.push(Seen::Market(update));
    }
    fn live(&mut self, _: Arc<str>, _: &str, update: Result<(LiveData, Option<i64>), String>) {
        self.seen.push(Seen::Live(update));
    }
    fn ack(&mut self, id: Option<u64>) {
        self.seen.push(Seen::Ack(id));
    }
    fn refused(&mut self, id: Option<u64>, message: &str) {
        self.seen.push(Seen::Refused(id, message.to_owned()));
    }
    fn shutdown(&mut self) {
        self.seen.push(Seen::Shutdown);
    }
    fn malformed(&mut self, error: &str) {
        self.seen.push(Seen::Malformed(error.to_owned()));
    }
    fn sequence(&mut self, _seq: u64) -> u64 {
        0
    }
}

/// A venue's websocket sample in `actors/fixtures/<venue>/ws`.
pub fn fixture(venue: &str, name: &str) -> String {
    let path = format!("{}/fixtures/{venue}/ws/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}
