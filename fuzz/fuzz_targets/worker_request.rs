//! Worker requests (`src/worker/request.rs`): raw stream-entry payloads through the request
//! parser, its invariants (who gets answered, on which channel), then the tool arguments.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = crypto_market_mcp::fuzzing::worker_request(data);
});
