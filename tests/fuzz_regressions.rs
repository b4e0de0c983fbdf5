//! The fuzz targets' interesting inputs (crashes they found, and a few dozen distinct corpus
//! entries each), kept under `tests/fuzz_regressions/<target>/` and fed through the same
//! function the target calls (`fuzz/fuzz_targets/<target>.rs`), on stable, in plain
//! `cargo test`. Each input must give an answer (Ok or a typed error), never a panic; the
//! functions check their own invariants. See fuzz/README.md for how the inputs were found.

use std::path::{Path, PathBuf};

use crypto_market_actors::fuzzing::{binance_frame, ccxt_input, ReplyParsers};
use crypto_market_actors::ErrorCode;
use crypto_market_mcp::fuzzing::{
    settings, tool_arguments, tool_input, worker_request, SettingsInput,
};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fuzz_regressions");

/// The inputs kept for `target` (files directly in its directory), at least `at_least` of them.
fn inputs(target: &str, at_least: usize) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(DIR).join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(
        files.len() >= at_least,
        "{target}: {} inputs, expected at least {at_least}",
        files.len()
    );
    files
        .into_iter()
        .map(|path| {
            let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path, data)
        })
        .collect()
}

fn name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[test]
fn tool_arguments_are_accepted_or_refused_naming_the_argument() {
    let (mut accepted, mut refused) = (0, 0);
    for (path, data) in inputs("tool_args", 10) {
        let Some((tool, arguments)) = tool_input(&data) else {
            continue;
        };
        match tool_arguments(&tool, arguments) {
            Ok(()) => accepted += 1,
            Err(error) => {
                assert!(
                    matches!(
                        error.code,
                        ErrorCode::InvalidArgument
                            | ErrorCode::InvalidSymbol
                            | ErrorCode::UnknownTool
                    ),
                    "{}: {error:?}",
                    name(&path)
                );
                refused += 1;
            }
        }
    }
    // The kept inputs cover both outcomes (a harness refusing everything would pass too).
    assert!(
        accepted > 0 && refused > 0,
        "{accepted} accepted, {refused} refused"
    );
}

#[test]
fn worker_requests_parse_or_say_what_was_wrong() {
    let (mut parsed, mut malformed) = (0, 0);
    for (_, data) in inputs("worker_request", 10) {
        match worker_request(&data) {
            Ok(_) => parsed += 1,
            Err(_) => malformed += 1,
        }
    }
    assert!(
        parsed > 0 && malformed > 0,
        "{parsed} parsed, {malformed} malformed"
    );
}

#[test]
fn binance_frames_are_read_or_dropped_as_unreadable() {
    let (mut tickers, mut others) = (0, 0);
    for (_, data) in inputs("binance_ws", 10) {
        let Ok(text) = std::str::from_utf8(&data) else {
            continue;
        };
        match binance_frame(text) {
            Ok(Some(_)) => tickers += 1,
            Ok(None) | Err(_) => others += 1,
        }
    }
    assert!(
        tickers > 0 && others > 0,
        "{tickers} tickers, {others} others"
    );
}

#[test]
fn exchange_replies_parse_or_fail_as_venue_errors_on_every_venue() {
    // ccxt signals its errors by panicking inside its own catch_unwind: production's hook
    // keeps those quiet (and would log any other panic).
    crypto_market_mcp::telemetry::install_panic_hook();
    let venues = Path::new(DIR).join("ccxt_reply").join("venues");
    let mut parsers = ReplyParsers::from_dir(&venues).expect("the five venues load their markets");
    let (mut parsed, mut failed) = (0, 0);
    for (_, data) in inputs("ccxt_reply", 10) {
        let Some((venue, kind, body)) = ccxt_input(&data) else {
            continue;
        };
        match parsers.reply(venue, kind, body) {
            Ok(_) => parsed += 1,
            Err(_) => failed += 1,
        }
    }
    assert!(parsed > 0 && failed > 0, "{parsed} parsed, {failed} failed");
}

#[test]
fn settings_load_or_fail_naming_a_setting() {
    let (mut loaded, mut refused) = (0, 0);
    for (_, data) in inputs("settings", 10) {
        let Some(input) = SettingsInput::parse(&data) else {
            continue;
        };
        match settings(&input) {
            Ok(_) => loaded += 1,
            Err(_) => refused += 1,
        }
    }
    assert!(
        loaded > 0 && refused > 0,
        "{loaded} loaded, {refused} refused"
    );
}
