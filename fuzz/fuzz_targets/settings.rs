//! The settings loader (`src/config/load.rs`): a TOML file, environment variables, `--set`
//! flags and an API keys file (sections of the input, see `fuzzing::SettingsInput`) through
//! `config::load`: Ok or a settings error naming the setting, never a panic.
#![no_main]

use crypto_market_mcp::fuzzing::{settings, SettingsInput};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(input) = SettingsInput::parse(data) {
        let _ = settings(&input);
    }
});
