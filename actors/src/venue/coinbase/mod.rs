//! Coinbase Advanced Trade's websocket side (its REST side is ccxt's), spoken through the
//! shared feed ([`crate::venue::wsfeed`]). Streams are named `<channel>:<product_id>` here
//! (`level2:BTC-USD`). One `subscribe` per channel carries many products; the reply is a
//! `subscriptions` message (no request id). Every connection also subscribes `heartbeats`, so
//! a quiet market is not taken for a dead connection; `sequence_num` numbers every message of
//! a connection and a gap resynchronises its books ([`CoinbaseSync`]). Candles: Coinbase's
//! `candles` channel is 5-minute only, so a watched symbol's 5-minute candles and their
//! multiples are combined from it ([`crate::model::LiveCandles`]); 1 minute is answered by REST.

mod sync;
pub mod wire;

use std::sync::Arc;

use serde_json::json;

pub use sync::CoinbaseSync;

use crate::model::{now_ms, MarketData};
use crate::venue::wsfeed::{by_channel, Protocol, Reader};
use crate::venue::{LiveData, StreamKey};

/// Coinbase Advanced Trade's public market data websocket.
pub const DEFAULT_WS_URL: &str = "wss://advanced-trade-ws.coinbase.com";
/// Streams one connection carries (Coinbase limits messages, not subscriptions; a book of
/// every level is heavy, so few per connection).
pub const MAX_STREAMS_PER_CONNECTION: usize = 100;

/// The Advanced Trade dialect.
#[derive(Debug, Default)]
pub struct CoinbaseWire;

const CHANNELS: [&str; 4] = ["ticker", "level2", "market_trades", "candles"];

impl Protocol for CoinbaseWire {
    fn url(&self, base: &str) -> String {
        base.to_owned()
    }

    fn stream_names(&self, key: &StreamKey) -> Vec<String> {
        if key.symbol().contains(':') {
            return Vec::new();
        }
        let channel = match key {
            StreamKey::Ticker { .. } => "ticker",
            StreamKey::Book { .. } => "level2",
            StreamKey::Trades { .. } => "market_trades",
            // 5-minute only: see the module doc.
            StreamKey::Candles { .. } => "candles",
        };
        vec![format!("{channel}:{}", key.market_id())]
    }

    fn is_book(&self, name: &str) -> bool {
        name.starts_with("level2:")
    }

    fn control(
        &self,
        subscribe: bool,
        names: &[String],
        _next_id: &mut u64,
    ) -> Vec<(Option<u64>, String)> {
        let kind = if subscribe {
            "subscribe"
        } else {
            "unsubscribe"
        };
        let mut messages: Vec<(Option<u64>, String)> = by_channel(names, &CHANNELS)
            .into_iter()
            .map(|(channel, products)| {
                let message = json!({"type": kind, "product_ids": products, "channel": channel});
                (None, message.to_string())
            })
            .collect();
        if subscribe && !messages.is_empty() {
            // Idempotent: every subscribing batch makes sure heartbeats flow.
            let heartbeats = json!({"type": "subscribe", "channel": "heartbeats"});
            messages.push((None, heartbeats.to_string()));
        }
        messages
    }

    fn read(&self, text: &str, out: &mut dyn Reader) {
        let frame = match wire::frame(text) {
            Ok(frame) => frame,
            Err(error) => return out.malformed(&error),
        };
        if frame.kind == Some("error") {
            return out.refused(None, frame.message.as_deref().unwrap_or("error"));
        }
        let epoch = frame.sequence_num.map(|seq| out.sequence(seq));
        let (Some(channel), Some(events)) = (frame.channel, frame.events) else {
            return out.malformed("a frame with neither channel nor events");
        };
        let received = now_ms();
        let time = frame
            .timestamp
            .and_then(|t| wire::time_ms(t).ok())
            .unwrap_or(received);
        match channel {
            "subscriptions" => out.ack(None),
            "l2_data" => match wire::level2(events, frame.sequence_num.unwrap_or(0), time) {
                Ok(books) => {
                    for (product, mut delta) in books {
                        let stream = format!("level2:{product}");
                        if let Some(symbol) = out.stream(&stream) {
                            delta.epoch = epoch.unwrap_or(0);
                            let time = delta.event_time_ms;
                            out.live(symbol, &stream, Ok((LiveData::Book(delta), Some(time))));
                        }
                    }
                }
                Err(error) => out.malformed(&error),
            },
            "ticker" => match wire::tickers(events, time) {
                Ok(tickers) => {
                    for (product, mut ticker) in tickers {
                        let stream = format!("ticker:{product}");
                        if let Some(symbol) = out.stream(&stream) {
                            ticker.symbol = symbol.to_string();
                            out.market(symbol, &stream, Ok((MarketData::Ticker(ticker), time)));
                        }
                    }
                }
                Err(error) => out.malformed(&error),
            },
            "market_trades" => match wire::trades(events) {
                Ok(trades) => {
                    for (product, trade) in trades {
                        let stream = format!("market_trades:{product}");
                        if let Some(symbol) = out.stream(&stream) {
                            let time = trade.timestamp;
                            out.live(symbol, &stream, Ok((LiveData::Trade(trade), time)));
                        }
                    }
                }
                Err(error) => out.malformed(&error),
            },
            "candles" => match wire::candles(events) {
                Ok(candles) => {
                    for (product, candle) in candles {
                        let stream = format!("candles:{product}");
                        if let Some(symbol) = out.stream(&stream) {
                            out.live(symbol, &stream, Ok((LiveData::Candle(candle), Some(time))));
                        }
                    }
                }
                Err(error) => out.malformed(&error),
            },
            // `heartbeats` only show the connection lives.
            _ => {}
        }
    }
}

/// The shared feed speaking Coinbase Advanced Trade.
pub fn protocol() -> Arc<dyn Protocol> {
    Arc::new(CoinbaseWire)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_subscribe_per_channel_and_heartbeats() {
        let names = vec![
            "level2:BTC-USD".to_owned(),
            "ticker:BTC-USD".to_owned(),
            "level2:ETH-USD".to_owned(),
        ];
        let messages = CoinbaseWire.control(true, &names, &mut 1);
        let parsed: Vec<serde_json::Value> = messages
            .iter()
            .map(|(_, m)| serde_json::from_str(m).unwrap())
            .collect();
        assert_eq!(
            parsed,
            vec![
                json!({"type": "subscribe", "product_ids": ["BTC-USD"], "channel": "ticker"}),
                json!({"type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD"], "channel": "level2"}),
                json!({"type": "subscribe", "channel": "heartbeats"}),
            ]
        );
        let off = CoinbaseWire.control(false, &names[..1], &mut 1);
        assert_eq!(off.len(), 1, "heartbeats stay");
        let key = StreamKey::Candles {
            symbol: Arc::from("BTC/USD"),
            market_id: Arc::from("BTC-USD"),
        };
        assert_eq!(CoinbaseWire.stream_names(&key), ["candles:BTC-USD"]);
        assert!(CoinbaseWire.is_book("level2:BTC-USD"));
    }

    /// A `candles` frame is the 5-minute candle in progress of its product's stream.
    #[test]
    fn a_candles_frame_is_the_five_minute_candle() {
        use crate::model::Candle;
        use crate::venue::wsfeed::testing::{fixture, Recorder, Seen};
        let mut recorder = Recorder::default();
        CoinbaseWire.read(&fixture("coinbase", "candles.json"), &mut recorder);
        assert_eq!(recorder.streams, ["candles:BTC-USD"]);
        let [Seen::Live(Ok((LiveData::Candle(live), Some(_))))] = recorder.seen.as_slice() else {
            panic!("not one candle: {:?}", recorder.seen);
        };
        assert_eq!(live.interval_ms, 300_000);
        assert_eq!(
            live.candle,
            Candle {
                timestamp: 1_775_521_800_000,
                open: 68900.0,
                high: 68950.0,
                low: 68850.0,
                close: 68920.5,
                volume: 42.15,
            }
        );
    }
}
