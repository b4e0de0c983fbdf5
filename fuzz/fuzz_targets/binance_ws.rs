//! Binance's websocket frames (`actors/src/venue/binance/wire.rs`): text frames read as the
//! connection reads them, ticker updates checked as the engine takes them.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Websocket text frames are UTF-8 (tungstenite refuses others before we see them).
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crypto_market_actors::fuzzing::binance_frame(text);
    }
});
