//! `--redis URL`: the worker pool (`crypto-market-worker` processes) over the Redis protocol
//! of SPEC.md section 6, through the crate's pool client ([`PubSubClient`]): requests on the
//! request stream, replies on this process's own reply channel. The protocol settings
//! (`KEY_PREFIX`, `REQUEST_CHANNEL`, `RESPONSE_CHANNEL`, `REQUEST_TIMEOUT`, `REDIS_MODE`, …) come
//! from `--config` and the environment as for the other binaries; `--api-key` /
//! `--client-id` (`PUBSUB_API_KEY` / `PUBSUB_CLIENT_ID`) for a pool with `API_KEYS_FILE`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::cli::args::GlobalArgs;
use crate::cli::CliError;
use crate::client::{ClientError, PubSubClient};
use crate::config::{self, CommonArgs, Secret};

/// How long reaching Redis (connecting, subscribing to the reply channel) may take.
const CONNECT_WITHIN: Duration = Duration::from_secs(5);

/// A connected pool client.
pub struct WorkerPool {
    client: Arc<PubSubClient>,
    /// The Redis URL as shown to people: without its password.
    shown_url: String,
    /// How long a call waits for a worker's reply (`REQUEST_TIMEOUT`).
    timeout: Duration,
}

impl WorkerPool {
    /// Loads the protocol settings, reaches Redis at `url` and subscribes to the reply
    /// channel. A bad setting is a usage error (exit 2); Redis out of reach is `unavailable`.
    pub async fn connect(global: &GlobalArgs, url: &Secret) -> Result<Self, CliError> {
        let mut set = vec![format!("redis.url={}", url.expose())];
        if let Some(key) = &global.api_key {
            set.push(format!("pubsub.api_key={}", key.expose()));
        }
        if let Some(id) = &global.client_id {
            set.push(format!("pubsub.client_id={id}"));
        }
        let common = CommonArgs {
            config: global.config.clone(),
            set,
            ..CommonArgs::default()
        };
        let settings = config::load(&common, |name| std::env::var(name).ok())
            // The message names the setting, never its value (a URL may hold a password).
            .map_err(|e| CliError::Usage(e.to_string()))?;
        let shown_url = without_password(url.expose());
        let timeout = Duration::from_secs(settings.pubsub.request_timeout);
        let out_of_reach = || {
            CliError::Unavailable(format!(
                "cannot reach Redis at {shown_url} within {} s",
                CONNECT_WITHIN.as_secs()
            ))
        };
        let target = settings.redis_target();
        // One attempt first: the client's connection manager retries for seconds before it
        // gives up, and then without saying why. This says at once (refused, no such host).
        match tokio::time::timeout(CONNECT_WITHIN, target.pubsub()).await {
            Ok(Ok(_probe)) => {}
            // The error names the (redacted) URL and the cause.
            Ok(Err(e)) => return Err(CliError::Unavailable(e.to_string())),
            Err(_) => return Err(out_of_reach()),
        }
        let connecting = PubSubClient::connect(target, settings.pubsub_client(None));
        let client = match tokio::time::timeout(CONNECT_WITHIN, connecting).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => {
                return Err(CliError::Unavailable(format!(
                    "cannot reach Redis at {shown_url}: {e}"
                )))
            }
            Err(_) => return Err(out_of_reach()),
        };
        let client = client.with_api_key(
            settings.pubsub.api_key.clone(),
            settings.pubsub.client_id.clone(),
        );
        Ok(Self {
            client: Arc::new(client),
            shown_url,
            timeout,
        })
    }

    /// Calls `tool` on the pool: its result, or the pool's error as a tool error.
    pub async fn call(&self, tool: &str, args: Value) -> Result<Value, CliError> {
        self.client
            .call(tool, args)
            .await
            .map_err(|e| self.failure(e))
    }

    /// The pool client, for following ticker channels.
    pub fn client(&self) -> &Arc<PubSubClient> {
        &self.client
    }

    /// Where the data comes from, for `status`.
    pub fn describe(&self) -> String {
        format!("worker pool ({})", self.shown_url)
    }

    fn failure(&self, error: ClientError) -> CliError {
        match error {
            ClientError::Remote { code, message, .. } => CliError::Tool { code, message },
            ClientError::Timeout { .. } => CliError::Unavailable(format!(
                "no worker answered within {} s (is crypto-market-worker running against {} \
                 with the same KEY_PREFIX and REQUEST_CHANNEL?)",
                self.timeout.as_secs(),
                self.shown_url
            )),
            ClientError::BadReply(reply) => CliError::Tool {
                code: "internal".to_owned(),
                message: format!("unreadable reply from the pool: {reply}"),
            },
            other => CliError::Unavailable(format!("{} ({})", other, self.shown_url)),
        }
    }
}

/// `url` with its password (if any) replaced by `***`.
fn without_password(url: &str) -> String {
    crypto_market_actors::redis_target::redacted(url)
}

#[cfg(test)]
mod tests {
    use super::without_password;

    #[test]
    fn a_shown_url_never_holds_the_password() {
        assert_eq!(
            without_password("redis://:hunter2@10.0.0.1:6379/0"),
            "redis://:***@10.0.0.1:6379/0"
        );
        assert_eq!(
            without_password("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
    }
}
