//! Where a reply may go (SPEC.md section 9). A request names its `reply_to`, and a worker
//! publishes there: left unchecked, any client could make the pool publish onto a ticker
//! channel others follow, or onto another client's reply channel. So a reply goes only under
//! `RESPONSE_CHANNEL`; with `API_KEYS_FILE`, a request with a known key only under its own
//! client's channel `{RESPONSE_CHANNEL}:{client id}`. A request whose reply may not go where it
//! asks is dropped (not run, not answered) and counted.

/// Why a request was dropped: a metric label and a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// `reply_to` is not `RESPONSE_CHANNEL` nor under it.
    OutsideResponses,
    /// A known key asked for a reply on a channel that is not its client's.
    ForeignChannel,
}

impl Dropped {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OutsideResponses => "reply_to_outside_responses",
            Self::ForeignChannel => "reply_to_foreign_channel",
        }
    }
}

/// The channel to publish a reply on: `reply_to` (default `responses`, the
/// `RESPONSE_CHANNEL`) when it is allowed. `client`: the id of the request's known key, if
/// any.
pub fn destination<'a>(
    responses: &'a str,
    reply_to: Option<&'a str>,
    client: Option<&str>,
) -> Result<&'a str, Dropped> {
    let channel = reply_to.unwrap_or(responses);
    if !is_at_or_under(channel, responses) {
        return Err(Dropped::OutsideResponses);
    }
    if let Some(client) = client {
        let own = format!("{responses}:{client}");
        if !is_at_or_under(channel, &own) {
            return Err(Dropped::ForeignChannel);
        }
    }
    Ok(channel)
}

/// `channel` is `root` or a channel under it (`root:...`); `root-x` or `rootx` are not.
fn is_at_or_under(channel: &str, root: &str) -> bool {
    channel
        .strip_prefix(root)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(':'))
}

/// Counts and logs a dropped request (never its key).
pub fn record(request_id: Option<&str>, reply_to: Option<&str>, why: Dropped) {
    metrics::counter!("cmm_worker_dropped_total", "reason" => why.as_str()).increment(1);
    tracing::warn!(
        request_id = request_id.unwrap_or("-"),
        reply_to = reply_to.unwrap_or("-"),
        "request dropped: {}",
        why.as_str()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: &str = "crypto_mcp:responses";

    #[test]
    fn replies_stay_under_the_response_channel() {
        assert_eq!(destination(R, None, None), Ok(R));
        assert_eq!(
            destination(R, Some("crypto_mcp:responses:c1"), None),
            Ok("crypto_mcp:responses:c1")
        );
        for outside in [
            "crypto_mcp:ticker:binance:BTC/USDT",
            "crypto_mcp:responsesX",
            "crypto_mcp:response",
            "",
        ] {
            assert_eq!(
                destination(R, Some(outside), None),
                Err(Dropped::OutsideResponses),
                "{outside}"
            );
        }
    }

    #[test]
    fn a_known_key_replies_only_on_its_clients_channels() {
        let alpha = Some("alpha");
        assert!(destination(R, Some("crypto_mcp:responses:alpha"), alpha).is_ok());
        assert!(destination(R, Some("crypto_mcp:responses:alpha:s1"), alpha).is_ok());
        for foreign in [
            R,
            "crypto_mcp:responses:beta",
            "crypto_mcp:responses:alphabet",
        ] {
            assert_eq!(
                destination(R, Some(foreign), alpha),
                Err(Dropped::ForeignChannel),
                "{foreign}"
            );
        }
        assert_eq!(destination(R, None, alpha), Err(Dropped::ForeignChannel));
    }
}
