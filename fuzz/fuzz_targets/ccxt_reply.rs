//! Exchange REST replies through ccxt's per-venue parsers and our conversion
//! (`actors/src/venue/ccxt/`): a venue selector byte, a kind selector byte (ticker, tickers,
//! order book, trades, candles), then the body, for binance, okx, bybit, kraken and coinbase.
//! Markets and good replies come from `tests/fuzz_regressions/ccxt_reply/venues/` (no network).
#![no_main]

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use crypto_market_actors::fuzzing::{ccxt_input, ReplyParsers};
use libfuzzer_sys::fuzz_target;

/// ccxt signals errors as `panic!("[Kind] message")` inside its own `catch_unwind`; libFuzzer's
/// hook would abort on those. This hook stays quiet for them and reports each other panic
/// (a ccxt bug that ccxt's `catch_unwind` turns into an error) once per place. A panic that
/// gets past ccxt still reaches libfuzzer-sys's `catch_unwind`, which aborts: a crash.
fn install_panic_hook() {
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("(non-text payload)");
        if message.starts_with('[') && message.contains(']') {
            return;
        }
        let place = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let seen = SEEN.get_or_init(Default::default);
        if seen
            .lock()
            .map(|mut s| s.insert(place.clone()))
            .unwrap_or(true)
        {
            eprintln!("panic at {place}: {message}");
        }
    }));
}

fn parsers() -> &'static Mutex<ReplyParsers> {
    static PARSERS: OnceLock<Mutex<ReplyParsers>> = OnceLock::new();
    PARSERS.get_or_init(|| {
        install_panic_hook();
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fuzz_regressions/ccxt_reply/venues"
        );
        match ReplyParsers::from_dir(std::path::Path::new(dir)) {
            Ok(parsers) => Mutex::new(parsers),
            Err(e) => panic!("cannot set up the venues: {e}"),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((venue, kind, body)) = ccxt_input(data) else {
        return;
    };
    let mut parsers = parsers().lock().unwrap_or_else(|p| p.into_inner());
    let _ = parsers.reply(venue, kind, body);
});
