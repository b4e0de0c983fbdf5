//! Logging to stderr (stdout is the MCP channel) and a panic hook that keeps ccxt's
//! error-signalling panics quiet while logging real panics through `tracing`.

use std::panic::PanicHookInfo;

use tracing_subscriber::EnvFilter;

/// Installs the stderr subscriber with `filter` (a `RUST_LOG`-style directive).
pub fn init_logging(filter: &str) -> Result<(), String> {
    let filter =
        EnvFilter::try_new(filter).map_err(|e| format!("invalid log filter {filter:?}: {e}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(true)
        .try_init()
        .map_err(|e| format!("cannot install the logger: {e}"))
}

/// ccxt raises exchange errors as `panic!("[Kind] message")` inside a `catch_unwind` and turns
/// them into `Err` values; those are not crashes. Every other panic is a bug: logged, with its
/// location, at error level.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info: &PanicHookInfo<'_>| {
        let message = payload_text(info);
        if is_ccxt_error_signal(&message) {
            tracing::trace!(%message, "ccxt error signal");
            return;
        }
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(%message, %location, "panic");
    }));
}

fn payload_text(info: &PanicHookInfo<'_>) -> String {
    let payload = info.payload();
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "panic with a non-text payload".to_owned())
}

/// `[NetworkError] binance GET http://...`: a ccxt error class in brackets at the start.
fn is_ccxt_error_signal(message: &str) -> bool {
    let Some(rest) = message.strip_prefix('[') else {
        return false;
    };
    let Some((kind, _)) = rest.split_once(']') else {
        return false;
    };
    !kind.is_empty()
        && kind.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && kind.chars().all(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_ccxt_error_signals_only() {
        assert!(is_ccxt_error_signal(
            "[NetworkError] binance GET http://127.0.0.1:1/api/v3/ping"
        ));
        assert!(is_ccxt_error_signal(
            "[BadSymbol] binance does not have market symbol FOO/BAR"
        ));
        assert!(!is_ccxt_error_signal("index out of bounds: the len is 0"));
        assert!(!is_ccxt_error_signal("[not a kind] x"));
        assert!(!is_ccxt_error_signal("[] x"));
    }
}
