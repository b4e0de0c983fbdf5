//! Entry points of the fuzz targets that read exchanges' data (`fuzz/`: `binance_ws`,
//! `ccxt_reply`) and of their regression tests: each feeds untrusted input through the
//! parsing production runs on it and checks what comes out. A panic here is a finding.
//! Not a supported API: hidden from the docs, kept only for the fuzz crate and the tests.

pub use crate::venue::ccxt::fuzzing::{Parsed, ReplyKind, ReplyParsers, VENUES};

use crate::venue::ccxt::fuzzing::assert_numbers_finite;

use crate::model::{now_ms, MarketData, Ticker};
use crate::venue::binance::wire::{self, Frame, TickerUpdate};
use crate::venue::MarketEvent;

/// The unified symbol the connection serves a stream under (it knows it from its
/// subscriptions; any will do for parsing).
const SYMBOL: &str = "BTC/USDT";

/// One text frame off a Binance market-stream connection, read as the connection reads it
/// (`Connection::on_text`: the one-pass ticker read first, then the general frame), and a
/// ticker update taken on as `deliver` takes it. `Ok(None)`: a frame that carries no ticker.
pub fn binance_frame(text: &str) -> Result<Option<TickerUpdate>, String> {
    let update = if let Some((stream, event)) = wire::ticker_frame(text) {
        assert!(stream.ends_with("@ticker"), "{stream}");
        wire::ticker_from(event, SYMBOL)
    } else {
        match wire::parse_frame(text)? {
            Frame::Data { data, .. } => wire::ticker(data, SYMBOL),
            Frame::Ack { .. } | Frame::Refused { .. } | Frame::ServerShutdown => return Ok(None),
        }
    }?;
    check_ticker(&update.ticker);
    // What `deliver` computes from it: the lag metric and when the value was true.
    let received_ms = now_ms();
    let _lag = update.lag_ms(received_ms);
    let event = MarketEvent {
        symbol: SYMBOL.into(),
        data: MarketData::Ticker(update.ticker.clone()),
        event_time_ms: update.event_time_ms,
        received_ms,
    };
    assert!(event.observed_at_ms() <= received_ms);
    Ok(Some(update))
}

/// What the engine relies on in a ticker from a feed: its symbol, a last price, and numbers
/// that are numbers (unknown ones `None`).
fn check_ticker(t: &Ticker) {
    assert_eq!(t.symbol, SYMBOL);
    assert!(t.last.is_some_and(f64::is_finite), "{t:?}");
    assert_numbers_finite(t);
}

/// The `ccxt_reply` target's input: a venue selector byte, a reply kind selector byte, then
/// the reply's body.
pub fn ccxt_input(data: &[u8]) -> Option<(&'static str, ReplyKind, &[u8])> {
    let [venue, kind, body @ ..] = data else {
        return None;
    };
    let venue = VENUES[usize::from(*venue) % VENUES.len()];
    let kind = ReplyKind::ALL[usize::from(*kind) % ReplyKind::ALL.len()];
    Some((venue, kind, body))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_frame_of_extreme_numbers_goes_the_whole_way() {
        // The ticker of `venue::binance::wire`'s extreme-numbers test, as a connection reads it.
        let frame = r#"{"stream":"btcusdt@ticker","data":{"E":-9223372036854775808,"s":"BTCUSDT","c":"1.7e308","o":"1.7e308"}}"#;
        assert!(super::binance_frame(frame).is_ok());
    }
}
