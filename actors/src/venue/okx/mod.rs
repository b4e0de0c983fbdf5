//! OKX's websocket side (its REST side is ccxt's): `tickers`, `books` (400 levels, snapshot then
//! updates chained by `seqId`/`prevSeqId`, CRC32 checksum) and `trades` on `/ws/v5/public`, the
//! `candle1m` on `/ws/v5/business` (OKX moved candles there in 2023), spoken through the shared
//! feed ([`crate::venue::wsfeed`]). Streams are named `<channel>:<instId>` (`books:BTC-USDT`).
//! OKX closes a connection silent for 30 s: a text `ping` (answered `pong`) keeps it; its
//! `64008` notice (a service upgrade) replaces the connection make-before-break.

pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use crate::venue::streamed_sync::{Chain, StreamedSync};
use crate::venue::wsfeed::{Protocol, Reader, SplitFeed, WsFeed};
use crate::venue::{FeedOptions, StreamKey};

/// OKX's public websocket host (paths `/ws/v5/public`, `/ws/v5/business`).
pub const DEFAULT_WS_URL: &str = "wss://ws.okx.com:8443";
/// Channels one connection carries (OKX allows 480 subscribe requests an hour per
/// connection and no hard channel limit; keep connections modest).
pub const MAX_STREAMS_PER_CONNECTION: usize = 400;
/// Levels a side of the `books` channel.
pub const BOOK_DEPTH: usize = 400;

/// One of OKX's two public endpoints.
#[derive(Debug)]
pub struct OkxWire {
    /// `/ws/v5/business` (candles) rather than `/ws/v5/public`.
    business: bool,
}

/// The public endpoint's feed and its business sibling (candles) behind one feed.
pub fn feed(exchange: &str, options: FeedOptions) -> SplitFeed {
    let public = WsFeed::new(
        exchange,
        options.clone(),
        Arc::new(OkxWire { business: false }),
    );
    let business = public.sibling_speaking(options, Arc::new(OkxWire { business: true }));
    SplitFeed::new(public, business, |key| {
        !matches!(key, StreamKey::Candles { .. })
    })
}

/// OKX's book rule: in-stream snapshots, `prevSeqId` = the last `seqId`, its checksum.
pub fn book_sync() -> StreamedSync {
    StreamedSync::new(BOOK_DEPTH, Chain::PrevId, Some(wire::checksum))
}

impl Protocol for OkxWire {
    /// A rebased endpoint (the simulator) replaces the host; the path is OKX's.
    fn url(&self, base: &str) -> String {
        let path = if self.business {
            "/ws/v5/business"
        } else {
            "/ws/v5/public"
        };
        // A base already naming either path (the simulator's URL) keeps only its host.
        let base = base.trim_end_matches('/');
        let host = ["/ws/v5/public", "/ws/v5/business"]
            .iter()
            .find_map(|p| base.strip_suffix(p))
            .unwrap_or(base);
        format!("{host}{path}")
    }

    /// `<channel>:<instId>`. Spot only: a derivative's ticker is polled over REST (its
    /// funding and mark come from REST too).
    fn stream_names(&self, key: &StreamKey) -> Vec<String> {
        if key.symbol().contains(':') {
            return Vec::new();
        }
        let channel = match key {
            StreamKey::Candles { .. } if self.business => wire::CANDLE_CHANNEL,
            _ if self.business => return Vec::new(),
            StreamKey::Candles { .. } => return Vec::new(),
            StreamKey::Ticker { .. } => "tickers",
            StreamKey::Book { .. } => wire::BOOK_CHANNEL,
            StreamKey::Trades { .. } => "trades",
        };
        vec![format!("{channel}:{}", key.market_id())]
    }

    fn is_book(&self, name: &str) -> bool {
        name.split_once(':')
            .is_some_and(|(channel, _)| channel == wire::BOOK_CHANNEL)
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
        Some("ping".to_owned())
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

    fn key(kind: &str, symbol: &str) -> StreamKey {
        let (symbol, market_id) = (Arc::from(symbol), Arc::from("BTC-USDT"));
        match kind {
            "book" => StreamKey::Book { symbol, market_id },
            _ => StreamKey::Candles { symbol, market_id },
        }
    }

    #[test]
    fn books_on_public_candles_on_business() {
        let (public, business) = (OkxWire { business: false }, OkxWire { business: true });
        assert_eq!(
            public.stream_names(&key("book", "BTC/USDT")),
            ["books:BTC-USDT"]
        );
        assert!(business.stream_names(&key("book", "BTC/USDT")).is_empty());
        assert!(public.stream_names(&key("candles", "BTC/USDT")).is_empty());
        assert_eq!(
            business.stream_names(&key("candles", "BTC/USDT")),
            ["candle1m:BTC-USDT"]
        );
        assert!(public
            .stream_names(&key("book", "BTC/USDT:USDT"))
            .is_empty());
        assert!(public.is_book("books:BTC-USDT") && !public.is_book("trades:BTC-USDT"));
        assert_eq!(public.url("ws://h:1/"), "ws://h:1/ws/v5/public");
        assert_eq!(
            business.url("ws://h:1/ws/v5/public"),
            "ws://h:1/ws/v5/business"
        );
        assert_eq!(
            business.url(DEFAULT_WS_URL),
            "wss://ws.okx.com:8443/ws/v5/business"
        );
        let mut id = 4;
        let messages = public.control(false, &["books:BTC-USDT".into()], &mut id);
        assert_eq!((id, messages[0].0), (5, Some(4)));
        assert!(messages[0].1.contains(r#""op":"unsubscribe""#));
        assert_eq!(public.ping(1).as_deref(), Some("ping"));
    }
}
