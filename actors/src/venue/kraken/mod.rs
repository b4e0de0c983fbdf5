//! Kraken's websocket side (its REST side is ccxt's): spot websocket v2, spoken through the
//! shared feed ([`crate::venue::wsfeed`]). Streams are named `<channel>:<symbol>` here
//! (`book:BTC/USD`); v2 names markets by their unified symbol (`BTC/USD`, not `XBT/USD`).
//! One `subscribe` per channel carries many symbols; replies, one per symbol, echo the
//! `req_id`. Kraken sends a `heartbeat` every second while anything is subscribed, and this
//! client pings (`{"method":"ping"}`) besides, as Kraken asks of idle connections.

mod sync;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

pub use sync::KrakenSync;

use crate::model::{now_ms, MarketData};
use crate::venue::wsfeed::{by_channel, Protocol, Reader};
use crate::venue::{LiveData, StreamKey};

/// Kraken's public websocket v2.
pub const DEFAULT_WS_URL: &str = "wss://ws.kraken.com/v2";
/// Book depth subscribed (10, 25, 100, 500 or 1000): what `get_order_book` serves from it.
pub const BOOK_DEPTH: usize = 100;
/// Streams one connection carries (Kraken documents no limit; this keeps frames small).
pub const MAX_STREAMS_PER_CONNECTION: usize = 400;

/// The v2 dialect.
#[derive(Debug, Default)]
pub struct KrakenWire;

const CHANNELS: [&str; 4] = ["ticker", "book", "trade", "ohlc"];

impl Protocol for KrakenWire {
    fn url(&self, base: &str) -> String {
        let base = base.trim_end_matches('/');
        if base.ends_with("/v2") {
            base.to_owned()
        } else {
            format!("{base}/v2")
        }
    }

    /// Spot symbols only (Kraken's futures have another websocket).
    fn stream_names(&self, key: &StreamKey) -> Vec<String> {
        if key.symbol().contains(':') {
            return Vec::new();
        }
        let channel = match key {
            StreamKey::Ticker { .. } => "ticker",
            StreamKey::Book { .. } => "book",
            StreamKey::Trades { .. } => "trade",
            StreamKey::Candles { .. } => "ohlc",
        };
        vec![format!("{channel}:{}", key.symbol())]
    }

    fn is_book(&self, name: &str) -> bool {
        name.starts_with("book:")
    }

    fn control(
        &self,
        subscribe: bool,
        names: &[String],
        next_id: &mut u64,
    ) -> Vec<(Option<u64>, String)> {
        let method = if subscribe {
            "subscribe"
        } else {
            "unsubscribe"
        };
        let mut messages = Vec::new();
        for (channel, symbols) in by_channel(names, &CHANNELS) {
            let id = *next_id;
            *next_id += 1;
            let mut params = json!({"channel": channel, "symbol": symbols});
            match channel {
                "book" => params["depth"] = json!(BOOK_DEPTH),
                "ohlc" => params["interval"] = json!(1),
                _ => {}
            }
            let message = json!({"method": method, "params": params, "req_id": id});
            messages.push((Some(id), message.to_string()));
        }
        messages
    }

    fn ping(&self, id: u64) -> Option<String> {
        Some(json!({"method": "ping", "req_id": id}).to_string())
    }

    fn ping_every(&self) -> Duration {
        Duration::from_secs(30)
    }

    fn read(&self, text: &str, out: &mut dyn Reader) {
        let frame = match wire::frame(text) {
            Ok(frame) => frame,
            Err(error) => return out.malformed(&error),
        };
        if let Some(method) = frame.method {
            match (method, frame.success) {
                ("subscribe" | "unsubscribe", Some(true)) => out.ack(frame.req_id),
                (_, Some(false)) => out.refused(
                    frame.req_id,
                    frame.error.as_deref().unwrap_or("refused without a reason"),
                ),
                _ => {}
            }
            return;
        }
        let (Some(channel), Some(data)) = (frame.channel, frame.data) else {
            // `heartbeat` (and anything without data) only shows the connection lives.
            return;
        };
        if !CHANNELS.contains(&channel) {
            // `status`, `instrument`: nothing kept from them.
            return;
        }
        let symbol = match wire::symbol_of(data) {
            Ok(symbol) => symbol,
            Err(error) => return out.malformed(&format!("{channel}: {error}")),
        };
        let stream = format!("{channel}:{symbol}");
        let Some(unified) = out.stream(&stream) else {
            return;
        };
        let received = now_ms();
        match channel {
            "ticker" => {
                let update = wire::ticker(data, &unified, received)
                    .map(|(t, time)| (MarketData::Ticker(t), time));
                out.market(unified, &stream, update);
            }
            "book" => {
                let snapshot = frame.kind == Some("snapshot");
                let update = wire::book(data, snapshot, received).map(|d| {
                    let time = d.event_time_ms;
                    (LiveData::Book(d), Some(time))
                });
                out.live(unified, &stream, update);
            }
            "trade" => match wire::trades(data) {
                Ok(trades) => {
                    for (trade, time) in trades {
                        out.live(
                            unified.clone(),
                            &stream,
                            Ok((LiveData::Trade(trade), Some(time))),
                        );
                    }
                }
                Err(error) => out.live(unified, &stream, Err(error)),
            },
            _ => {
                let update = wire::ohlc(data).map(|c| (LiveData::Candle(c), None));
                out.live(unified, &stream, update);
            }
        }
    }
}

/// The shared feed speaking Kraken v2.
pub fn protocol() -> Arc<dyn Protocol> {
    Arc::new(KrakenWire)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(symbol: &str) -> StreamKey {
        StreamKey::Book {
            symbol: Arc::from(symbol),
            market_id: Arc::from("XXBTZUSD"),
        }
    }

    #[test]
    fn one_subscribe_per_channel_with_its_parameters() {
        let names = vec![
            "book:BTC/USD".to_owned(),
            "ticker:BTC/USD".to_owned(),
            "book:ETH/USD".to_owned(),
            "ohlc:ETH/USD".to_owned(),
        ];
        let mut id = 5;
        let messages = KrakenWire.control(true, &names, &mut id);
        assert_eq!(id, 8);
        let parsed: Vec<serde_json::Value> = messages
            .iter()
            .map(|(_, m)| serde_json::from_str(m).unwrap())
            .collect();
        assert_eq!(
            parsed[0]["params"],
            json!({"channel": "ticker", "symbol": ["BTC/USD"]})
        );
        assert_eq!(
            parsed[1]["params"],
            json!({"channel": "book", "symbol": ["BTC/USD", "ETH/USD"], "depth": 100})
        );
        assert_eq!(parsed[2]["params"]["interval"], 1);
        assert_eq!(parsed[2]["req_id"], 7);
        assert_eq!(
            KrakenWire.stream_names(&key("BTC/USD")),
            vec!["book:BTC/USD"]
        );
        assert!(KrakenWire.stream_names(&key("BTC/USD:USD")).is_empty());
        assert!(KrakenWire.is_book("book:BTC/USD") && !KrakenWire.is_book("trade:BTC/USD"));
        assert_eq!(KrakenWire.url("ws://h:1"), "ws://h:1/v2");
        assert_eq!(
            KrakenWire.url("wss://ws.kraken.com/v2"),
            "wss://ws.kraken.com/v2"
        );
    }
}
