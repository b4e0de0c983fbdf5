//! With `API_KEYS_FILE`: who may make a call, for every front that takes client keys (MCP
//! over HTTP, the worker pool). A call needs a known key whose client may call the tool and is
//! within its rate (shared through Redis when the limiter has it); calls admitted by key are
//! counted per client id (never the key).

use std::collections::HashMap;
use std::sync::Arc;

use crypto_market_actors::ErrorCode;

use super::{ApiKeys, Client, ClientLimiter, Verdict};
use crate::config::Secret;
use crate::tools::ToolError;

/// Calls and refusals of one client through [`Gate::admit_key`].
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct ClientCounts {
    pub requests: u64,
    pub rejected: u64,
}

/// The clients' keys and rates: the one admission of every front.
pub struct Gate {
    keys: Arc<ApiKeys>,
    limiter: ClientLimiter,
    counts: std::sync::Mutex<HashMap<String, ClientCounts>>,
}

impl Gate {
    pub fn new(keys: Arc<ApiKeys>, limiter: ClientLimiter) -> Self {
        Self {
            keys,
            limiter,
            counts: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The client a key belongs to, if it is a known key.
    pub fn client_of(&self, key: &Secret) -> Option<Arc<Client>> {
        self.keys.client(key.expose())
    }

    /// The client of a call made with `key`, or why it may not run: the key is known and
    /// [`Gate::admit_client`] admits it, charged. Counted per client id.
    pub async fn admit_key(
        &self,
        key: Option<&Secret>,
        tool: &str,
    ) -> Result<Arc<Client>, ToolError> {
        let Some(key) = key else {
            record("none", "unauthorized");
            return Err(unauthorized(
                "api_key: missing (this pool needs a client key)",
            ));
        };
        let Some(client) = self.keys.client(key.expose()) else {
            record("unknown", "unauthorized");
            return Err(unauthorized("api_key: not a known client key"));
        };
        match self.admit_client(&client, tool, true).await {
            Ok(()) => {
                self.count(&client, true);
                record(&client.id, "ok");
                Ok(client)
            }
            Err(refused) => {
                self.count(&client, false);
                let outcome = if refused.code == ErrorCode::RateLimited {
                    "rate_limited"
                } else {
                    "unauthorized"
                };
                record(&client.id, outcome);
                Err(refused)
            }
        }
    }

    /// Whether `client` (its key checked already) may make a call of `tool` now: the tool is
    /// on its list and, when `charge` is set, the call fits its rate (and is counted against
    /// it).
    pub async fn admit_client(
        &self,
        client: &Client,
        tool: &str,
        charge: bool,
    ) -> Result<(), ToolError> {
        if !client.may_call(tool) {
            return Err(unauthorized(&format!(
                "client {} may not call {tool}",
                client.id
            )));
        }
        if !charge {
            return Ok(());
        }
        match self.limiter.check(client).await {
            Verdict::Allowed => Ok(()),
            Verdict::Limited { retry_after } => Err(ToolError::new(
                ErrorCode::RateLimited,
                format!(
                    "client {} is over its rate ({} requests/s, burst {})",
                    client.id, client.rate_per_s, client.burst
                ),
            )
            .with_retry_after(retry_after)),
        }
    }

    fn count(&self, client: &Client, admitted: bool) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let entry = counts.entry(client.id.clone()).or_default();
        if admitted {
            entry.requests += 1;
        } else {
            entry.rejected += 1;
        }
    }

    /// Calls admitted and refused by key, per client id (the worker's `status` tool).
    pub fn counts(&self) -> HashMap<String, ClientCounts> {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

fn unauthorized(message: &str) -> ToolError {
    ToolError::new(ErrorCode::Unauthorized, message)
}

/// `cmm_client_requests_total{client, outcome}`: the client id (or `none` / `unknown`),
/// never the key.
fn record(client: &str, outcome: &'static str) {
    metrics::counter!("cmm_client_requests_total", "client" => client.to_owned(), "outcome" => outcome)
        .increment(1);
}
