//! Tool arguments (`src/tools/args.rs`): `<tool name>\n<JSON arguments>` through the argument
//! structs and every check a tool makes before calling the engine. Must never panic.
#![no_main]

use crypto_market_mcp::fuzzing::{tool_arguments, tool_input};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((name, arguments)) = tool_input(data) {
        let _ = tool_arguments(&name, arguments);
    }
});
