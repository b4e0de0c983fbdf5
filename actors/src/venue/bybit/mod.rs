//! Bybit's websocket side (its REST side is ccxt's): spot `tickers.<symbol>`,
//! `orderbook.50.<symbol>` (snapshot then deltas numbered by `u`), `publicTrade.<symbol>` and
//! `kline.1.<symbol>` on `/v5/public/spot`, spoken through the shared feed
//! ([`crate::venue::wsfeed`]). Bybit asks for an `{"op":"ping"}` every 20 s.

pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use crate::venue::streamed_sync::{Chain, StreamedSync};
use crate::venue::wsfeed::{Protocol, Reader};
use crate::venue::StreamKey;

/// Bybit's public websocket host (spot on `/v5/public/spot`).
pub const DEFAULT_WS_URL: &str = "wss://stream.bybit.com";
/// Topics one connection carries.
pub const MAX_STREAMS_PER_CONNECTION: usize = 400;
/// The spot endpoint's path (added to a bare host).
const PATH: &str = "/v5/public/spot";
/// Levels a side of `orderbook.50`.
pub const BOOK_DEPTH: usize = 50;

/// Bybit's v5 public spot dialect.
#[derive(Debug, Default)]
pub struct BybitWire;

/// The shared feed speaking Bybit v5 spot.
pub fn protocol() -> Arc<dyn Protocol> {
    Arc::new(BybitWire)
}

/// Bybit's book rule: in-stream snapshots, then each delta's `u` the last one's plus one
/// (no checksum).
pub fn book_sync() -> StreamedSync {
    StreamedSync::new(BOOK_DEPTH, Chain::Consecutive, None)
}

impl Protocol for BybitWire {
    /// A rebased endpoint (the simulator) replaces the host; the path is kept.
    fn url(&self, base: &str) -> String {
        let base = base.trim_end_matches('/');
        if base.ends_with(PATH) {
            base.to_owned()
        } else {
            format!("{base}{PATH}")
        }
    }

    /// Spot only: a derivative (on `/v5/public/linear`) is polled over REST.
    fn stream_names(&self, key: &StreamKey) -> Vec<String> {
        if key.symbol().contains(':') {
            return Vec::new();
        }
        let id = key.market_id();
        vec![match key {
            StreamKey::Ticker { .. } => format!("tickers.{id}"),
            StreamKey::Book { .. } => format!("{}.{id}", wire::BOOK_TOPIC),
            StreamKey::Trades { .. } => format!("publicTrade.{id}"),
            StreamKey::Candles { .. } => format!("{}.{id}", wire::KLINE_TOPIC),
        }]
    }

    fn is_book(&self, name: &str) -> bool {
        name.starts_with("orderbook.")
    }

    /// Bybit spot takes at most 10 topics per subscribe request.
    fn names_per_message(&self) -> usize {
        10
    }

    fn control(
        &self,
        subscribe: bool,
        names: &[String],
        next_id: &mut u64,
    ) -> Vec<(Option<u64>, String)> {
        let id = *next_id;
        *next_id += 1;
        vec![(Some(id), wire::control(subscribe, names, id))]
    }

    fn ping(&self, _id: u64) -> Option<String> {
        Some(r#"{"op":"ping"}"#.to_owned())
    }

    fn ping_every(&self) -> Duration {
        Duration::from_secs(20)
    }

    fn read(&self, text: &str, out: &mut dyn Reader) {
        wire::read(text, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spot_topics_on_the_spot_path() {
        let key = StreamKey::Book {
            symbol: Arc::from("BTC/USDT"),
            market_id: Arc::from("BTCUSDT"),
        };
        assert_eq!(BybitWire.stream_names(&key), ["orderbook.50.BTCUSDT"]);
        assert!(BybitWire.is_book("orderbook.50.BTCUSDT") && !BybitWire.is_book("tickers.BTCUSDT"));
        assert_eq!(BybitWire.url("ws://h:1"), "ws://h:1/v5/public/spot");
        assert_eq!(
            BybitWire.url("ws://h:1/v5/public/spot"),
            "ws://h:1/v5/public/spot"
        );
        assert_eq!(BybitWire.names_per_message(), 10);
        let mut id = 1;
        let messages = BybitWire.control(true, &["tickers.BTCUSDT".into()], &mut id);
        assert_eq!((id, messages[0].0), (2, Some(1)));
    }
}
