//! With `API_KEYS_FILE`: who may run a request. A request must carry a known `api_key` whose
//! client may call the tool and is within its rate (shared by every worker through Redis);
//! requests and rejections are counted per client id (never the key).

use std::collections::HashMap;
use std::sync::Arc;

use crypto_market_actors::ErrorCode;

use super::request::Request;
use crate::auth::{ApiKeys, Client, ClientLimiter};
use crate::tools::ToolError;

/// Requests and rejections of one client on this worker.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct ClientCounts {
    pub requests: u64,
    pub rejected: u64,
}

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
    pub fn client_of(&self, key: &crate::config::Secret) -> Option<Arc<Client>> {
        self.keys.client(key.expose())
    }

    /// The request's client, or why it may not run.
    pub async fn admit(&self, request: &Request) -> Result<Arc<Client>, ToolError> {
        let Some(key) = &request.api_key else {
            record("none", "unauthorized");
            return Err(unauthorized(
                "api_key: missing (this pool needs a client key)",
            ));
        };
        let Some(client) = self.keys.client(key.expose()) else {
            record("unknown", "unauthorized");
            return Err(unauthorized("api_key: not a known client key"));
        };
        // The same admission as the MCP front's (tool list, then the shared rate).
        match crate::auth::admit(&client, &request.tool, &self.limiter, true).await {
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

    fn count(&self, client: &Client, admitted: bool) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let entry = counts.entry(client.id.clone()).or_default();
        if admitted {
            entry.requests += 1;
        } else {
            entry.rejected += 1;
        }
    }

    /// Per client id, for the `status` tool.
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
