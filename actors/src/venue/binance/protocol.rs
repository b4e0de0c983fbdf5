//! Binance's dialect of the shared websocket feed ([`Protocol`]): the combined-stream endpoint
//! (`/stream`), stream names like `btcusdt@ticker`, `SUBSCRIBE` / `UNSUBSCRIBE` with many
//! names each, acknowledged by id, and its frames read by [`super::wire`] and
//! [`super::streams`]. Binance pings at the websocket level only.

use std::sync::Arc;

use serde_json::value::RawValue;

use super::streams::{self, StreamKind};
use super::wire::{self, Frame};
use crate::model::MarketData;
use crate::venue::wsfeed::{Protocol, Reader};
use crate::venue::{LiveData, StreamKey};

/// Binance spot and USDⓈ-M market streams.
#[derive(Debug, Default)]
pub struct BinanceWire;

impl Protocol for BinanceWire {
    fn url(&self, base: &str) -> String {
        format!("{}/stream", base.trim_end_matches('/'))
    }

    /// The streams carrying `key`: a spot symbol's ticker; a derivative's (`BTC/USDT:USDT`)
    /// mark price and funding every second. A perpetual's 24 h ticker is polled over REST at
    /// the TTL (with the streamed mark and index): a rebased endpoint (the simulator) serves
    /// spot and USDⓈ-M streams on one host, where `<symbol>@ticker` would name the spot
    /// pair's. Books, trades and candles: spot only (a derivative's are answered by REST).
    fn stream_names(&self, key: &StreamKey) -> Vec<String> {
        let derivative = key.symbol().contains(':');
        let market_id = key.market_id();
        match key {
            StreamKey::Ticker { .. } if derivative => vec![wire::mark_price_stream(market_id)],
            StreamKey::Ticker { .. } => vec![wire::ticker_stream(market_id)],
            _ if derivative => Vec::new(),
            StreamKey::Book { .. } => vec![streams::depth_stream(market_id)],
            StreamKey::Trades { .. } => vec![streams::trade_stream(market_id)],
            StreamKey::Candles { .. } => vec![streams::kline_stream(market_id)],
        }
    }

    fn is_book(&self, name: &str) -> bool {
        streams::kind_of(name) == Some(StreamKind::Depth)
    }

    fn control(
        &self,
        subscribe: bool,
        names: &[String],
        next_id: &mut u64,
    ) -> Vec<(Option<u64>, String)> {
        let id = *next_id;
        *next_id += 1;
        let method = if subscribe {
            "SUBSCRIBE"
        } else {
            "UNSUBSCRIBE"
        };
        vec![(Some(id), wire::control(method, names, id))]
    }

    fn read(&self, text: &str, out: &mut dyn Reader) {
        // The hot path, one parse: a ticker event.
        if let Some((stream, event)) = wire::ticker_frame(text) {
            if let Some(symbol) = out.stream(stream) {
                let update = wire::ticker_from(event, &symbol).map(ticker_data);
                out.market(symbol, stream, update);
            }
            return;
        }
        match wire::parse_frame(text) {
            Ok(Frame::Data { stream, data }) => {
                let Some(symbol) = out.stream(stream) else {
                    return;
                };
                if let Some(kind) = streams::kind_of(stream) {
                    out.live(symbol, stream, live(kind, data));
                    return;
                }
                let update = if wire::is_mark_price_stream(stream) {
                    wire::mark_price(data, &symbol)
                        .map(|u| (MarketData::FundingRate(u.funding), u.event_time_ms))
                } else {
                    wire::ticker(data, &symbol).map(ticker_data)
                };
                out.market(symbol, stream, update);
            }
            Ok(Frame::Ack { id }) => out.ack(id),
            Ok(Frame::Refused { id, code, message }) => {
                out.refused(id, &format!("{code}: {message}"));
            }
            Ok(Frame::ServerShutdown) => out.shutdown(),
            Err(error) => out.malformed(&error),
        }
    }
}

/// A book, trade or candle payload, with its event time where it has one apart.
fn live(kind: StreamKind, data: &RawValue) -> Result<(LiveData, Option<i64>), String> {
    match kind {
        StreamKind::Depth => streams::depth(data).map(|d| {
            let time = d.event_time_ms;
            (LiveData::Book(d), Some(time))
        }),
        StreamKind::Trade => streams::trade(data).map(|(t, time)| (LiveData::Trade(t), Some(time))),
        StreamKind::Kline => {
            streams::kline(data).map(|(k, time)| (LiveData::Candle(k), Some(time)))
        }
    }
}

/// A ticker event as the value it delivers, with its event time.
fn ticker_data(update: wire::TickerUpdate) -> (MarketData, i64) {
    (MarketData::Ticker(update.ticker), update.event_time_ms)
}

/// The shared feed speaking Binance.
pub fn protocol() -> Arc<dyn Protocol> {
    Arc::new(BinanceWire)
}
