//! The `hint` of every error (SPEC.md section 10): the next step, naming the tool and the
//! argument to try. Decided from the error's code and what its maker knew (the argument and
//! its bounds, the unknown symbol and its suggestions, the venue that failed); only
//! [`super::error`] calls this.

use crypto_market_actors::ErrorCode;

use super::args::Bound;
use super::ToolError;

/// Quote currencies a run-together symbol (`FOOUSDT`) most likely ends with: stripped to give
/// `list_markets` a base to search for.
const QUOTES: &[&str] = &["USDT", "USDC", "BUSD", "FDUSD", "USD", "EUR", "BTC", "ETH"];

/// `bound`'s argument out of its bounds.
pub fn within_bounds(bound: &Bound) -> String {
    let leave_out = match bound.default {
        Some(default) => format!(", or leave it out for {default}"),
        None => String::new(),
    };
    format!(
        "call again with {} {}{leave_out}",
        bound.name,
        bound.range_text()
    )
}

/// `symbol` is not listed on `exchange`: the closest markets, else a search for its base.
pub fn unknown_symbol(exchange: &str, symbol: &str, suggestions: &[String]) -> String {
    // A perpetual asked for (or suggested) is searched among the perpetuals.
    let derivative = symbol.contains(':')
        || suggestions.first().is_some_and(|s| s.contains(':'))
        || crypto_market_actors::model::names_derivative(
            symbol,
            crypto_market_actors::model::PairMeans::Spot,
        );
    let kind = if derivative { ", type=swap" } else { "" };
    let search = format!(
        "call list_markets with exchange={exchange}{kind} and query={}",
        base_of(symbol)
    );
    match suggestions.first() {
        Some(closest) => format!("call again with symbol={closest}, or {search}"),
        None => format!("{search} to find the market's symbol"),
    }
}

/// The part of a symbol to search for: its base (`foo/usdt`, `FOO-USDT`, `FOOUSDT` → `FOO`).
fn base_of(symbol: &str) -> String {
    let upper = symbol.trim().to_ascii_uppercase();
    let base = upper
        .split(['/', '-', '_', ':', '.', ' '])
        .find(|part| !part.is_empty())
        .unwrap_or(&upper);
    let base = QUOTES
        .iter()
        .find_map(|quote| base.strip_suffix(quote).filter(|rest| !rest.is_empty()))
        .unwrap_or(base);
    if base.is_empty() {
        "BTC".to_owned()
    } else {
        base.to_owned()
    }
}

/// Whether the failure is the venue's (another venue may answer now).
pub fn venue_failure(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::ExchangeUnavailable | ErrorCode::Timeout | ErrorCode::RateLimited
    )
}

/// A venue failed a call of `tool`: wait, or ask the other enabled venues.
pub fn other_venues(
    error: &ToolError,
    tool: &str,
    symbol: Option<&str>,
    failed: &str,
    enabled: &[&str],
) -> String {
    let others: Vec<&str> = enabled
        .iter()
        .copied()
        .filter(|id| !id.eq_ignore_ascii_case(failed))
        .collect();
    let mut steps = vec![wait(error)];
    if let Some((first, rest)) = others.split_first() {
        let also = if rest.is_empty() {
            String::new()
        } else {
            format!(" (or {})", rest.join(", "))
        };
        steps.push(format!("call {tool} with exchange={first}{also}"));
    }
    if let Some(symbol) = symbol.filter(|_| enabled.len() > 1) {
        // The derivative tools compare funding; the others prices.
        let compare = if tool.contains("funding") || tool == "get_open_interest" {
            "compare_funding"
        } else {
            "compare_prices"
        };
        steps.push(format!(
            "call {compare} with symbol={symbol} to read every enabled exchange at once"
        ));
    }
    join_steps(steps)
}

/// "wait N ms (retry_after_ms) and call again", or "call again shortly".
fn wait(error: &ToolError) -> String {
    match error.retry_after_ms {
        Some(ms) => format!("wait retry_after_ms ({ms} ms) and call again"),
        None => "call again in a few seconds".to_owned(),
    }
}

fn join_steps(mut steps: Vec<String>) -> String {
    match steps.len() {
        0 => String::new(),
        1 => steps.remove(0),
        _ => {
            let last = steps.pop().unwrap_or_default();
            format!("{}, or {last}", steps.join(", "))
        }
    }
}

/// The hint an error's code and message suggest, when its maker gave none.
pub fn for_error(error: &ToolError) -> String {
    match error.code {
        ErrorCode::InvalidSymbol => {
            "call list_markets with query=<the base currency, e.g. BTC> to find the market's symbol"
                .to_owned()
        }
        ErrorCode::InvalidArgument => invalid_argument(&error.message),
        ErrorCode::UnknownTool => "call tools/list for the tools there are (e.g. get_ticker, \
                                   list_markets, compare_prices)"
            .to_owned(),
        ErrorCode::Unsupported => "this exchange lacks it: call exchange_status for the enabled \
                                   exchanges and call again with another exchange=<id>"
            .to_owned(),
        ErrorCode::ExchangeUnavailable | ErrorCode::Timeout => join_steps(vec![
            wait(error),
            "call again with another exchange=<id> (exchange_status lists them and their health)"
                .to_owned(),
            "call compare_prices with the symbol to read every enabled exchange".to_owned(),
        ]),
        ErrorCode::RateLimited => format!(
            "{}; get_tickers reads up to 100 symbols in one call",
            wait(error)
        ),
        ErrorCode::Unauthorized => "send a client key this server knows (HTTP: Authorization: \
                                    Bearer <key>; Redis: api_key), for a tool its [[client]] \
                                    entry allows"
            .to_owned(),
        ErrorCode::Internal => {
            "call again; if it persists, call exchange_status and report the message".to_owned()
        }
    }
}

/// `invalid_argument`: name the argument the message names (`limit: ...`, serde's "unknown
/// field `foo`" / "missing field `symbol`") and what to do with it.
fn invalid_argument(message: &str) -> String {
    if let Some(field) = quoted_after(message, "unknown field `") {
        return format!(
            "call again without {field}: the tool's inputSchema (tools/list) lists its arguments"
        );
    }
    if let Some(field) = quoted_after(message, "missing field `") {
        return format!("call again with {field}: it is required");
    }
    let argument = message
        .split_once(':')
        .map(|(head, _)| head.trim())
        .filter(|head| {
            !head.is_empty()
                && head
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_[].".contains(c))
        });
    match argument {
        Some(name) if name.starts_with("exchange") => format!(
            "call exchange_status for the enabled exchange ids and call again with {name} set \
             to one of them (or leave it out for the default exchange)"
        ),
        Some(name) if name.starts_with("timeframe") => {
            "call again with timeframe set to one the message lists (e.g. 1h)".to_owned()
        }
        Some(name) => format!(
            "correct {name} as the message says: its type and bounds are in the tool's \
             inputSchema (tools/list)"
        ),
        None => "correct the arguments as the message says: the tool's inputSchema (tools/list) \
                 gives each one's type and bounds"
            .to_owned(),
    }
}

/// The text between `prefix` and the next backquote.
fn quoted_after<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let start = message.find(prefix)? + prefix.len();
    let rest = &message[start..];
    rest.find('`').map(|end| &rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_perpetual_is_searched_among_perpetuals() {
        let hint = unknown_symbol("binance", "ETHUSDX.P", &["ETH/USDT:USDT".to_owned()]);
        assert!(hint.contains("symbol=ETH/USDT:USDT"), "{hint}");
        assert!(hint.contains("type=swap and query=ETHUSDX"), "{hint}");
        let spot = unknown_symbol("binance", "FOOUSDT", &[]);
        assert!(!spot.contains("type="), "{spot}");
    }

    #[test]
    fn an_unknown_symbol_points_to_list_markets_with_its_base() {
        assert_eq!(
            unknown_symbol("binance", "FOOBARUSDT", &[]),
            "call list_markets with exchange=binance and query=FOOBAR to find the market's symbol"
        );
        assert!(unknown_symbol("okx", "btc-usd", &["BTC/USDT".into()])
            .starts_with("call again with symbol=BTC/USDT, or call list_markets with exchange=okx and query=BTC"));
        assert_eq!(base_of("eth/usdt"), "ETH");
        assert_eq!(base_of("USDT"), "USDT");
    }

    #[test]
    fn argument_errors_name_the_argument() {
        assert!(
            invalid_argument("unknown field `foo`, expected one of `symbol`")
                .contains("without foo")
        );
        assert!(invalid_argument("missing field `symbol`").contains("with symbol"));
        assert!(
            invalid_argument("exchange: ftx is not enabled here (enabled: binance)")
                .contains("exchange_status")
        );
        assert!(invalid_argument("since: cannot read \"x\" as a time").starts_with("correct since"));
    }

    #[test]
    fn a_failed_venue_suggests_the_others_and_compare_prices() {
        let error = ToolError::new(ErrorCode::ExchangeUnavailable, "binance is unavailable");
        let hint = other_venues(
            &error,
            "get_ticker",
            Some("BTC/USDT"),
            "binance",
            &["binance", "okx", "bybit"],
        );
        assert!(
            hint.contains("call get_ticker with exchange=okx (or bybit)"),
            "{hint}"
        );
        assert!(
            hint.contains("compare_prices with symbol=BTC/USDT"),
            "{hint}"
        );
        let alone = other_venues(
            &error,
            "get_ticker",
            Some("BTC/USDT"),
            "binance",
            &["binance"],
        );
        assert!(!alone.contains("exchange="), "{alone}");
    }
}
