//! One MCP session with a `crypto-market-mcp`, whichever transport carries it (a child's
//! stdio or streamable HTTP): tool calls, resource subscriptions, the server's tool list.

use std::sync::{Arc, Mutex};

use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::RoleClient;
use serde_json::Value;

use super::child::{last_line, SERVER_BINARY};
use crate::cli::CliError;

/// A connected MCP server.
pub struct McpSession {
    client: RunningService<RoleClient, ()>,
    /// The tail of the child server's stderr (none for a remote server): what a broken
    /// session's error quotes.
    server_log: Option<Arc<Mutex<String>>>,
}

impl McpSession {
    pub(super) fn new(
        client: RunningService<RoleClient, ()>,
        server_log: Option<Arc<Mutex<String>>>,
    ) -> Self {
        Self { client, server_log }
    }

    /// Calls `tool` with `args` (an object): its structured result, or the tool's error.
    pub async fn call(&self, tool: &str, args: Value) -> Result<Value, CliError> {
        let mut params = CallToolRequestParams::new(tool.to_owned());
        if let Value::Object(map) = args {
            params = params.with_arguments(map);
        }
        let result = self
            .client
            .call_tool(params)
            .await
            .map_err(|e| self.lost(format!("calling {tool}: {e}")))?;
        tool_result(result)
    }

    /// Subscribes to a resource (e.g. `ticker://binance/BTCUSDT`): the server keeps that
    /// ticker streamed while the session lasts, so calls are served `source: "stream"`.
    // resources/subscribe: what the server's sessions opened with `initialize` speak (as
    // its tests do); `listen` is for protocol 2026-07-28.
    #[allow(
        deprecated,
        reason = "resources/subscribe: what the server's `initialize` sessions speak"
    )]
    pub async fn subscribe(&self, uri: &str) -> Result<(), CliError> {
        self.client
            .subscribe(rmcp::model::SubscribeRequestParams::new(uri))
            .await
            .map_err(|e| self.lost(format!("subscribing to {uri}: {e}")))
    }

    /// The server's name and version, and its tools' names.
    pub async fn server_info(&self) -> Result<(String, String, Vec<String>), CliError> {
        let (name, version) = self
            .client
            .peer_info()
            .and_then(|info| {
                info.server_info
                    .as_ref()
                    .map(|s| (s.name.clone(), s.version.clone()))
            })
            .unwrap_or_default();
        let tools = self
            .client
            .list_all_tools()
            .await
            .map_err(|e| self.lost(format!("listing tools: {e}")))?;
        Ok((
            name,
            version,
            tools.into_iter().map(|t| t.name.to_string()).collect(),
        ))
    }

    /// The server's tools: name, description and input schema.
    pub async fn tools(&self) -> Result<Vec<(String, String, Value)>, CliError> {
        let tools = self
            .client
            .list_all_tools()
            .await
            .map_err(|e| self.lost(format!("listing tools: {e}")))?;
        Ok(tools.into_iter().map(described).collect())
    }

    fn lost(&self, what: String) -> CliError {
        match self.server_log.as_ref().and_then(last_line) {
            Some(line) => CliError::Unavailable(format!("{what} ({SERVER_BINARY}: {line})")),
            None => CliError::Unavailable(what),
        }
    }

    /// Ends the session (a child server exits when its stdin closes).
    pub async fn close(self) {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), self.client.cancel()).await;
    }
}

/// A listed tool as `(name, description, input schema)`.
pub fn described(tool: rmcp::model::Tool) -> (String, String, Value) {
    (
        tool.name.to_string(),
        tool.description.as_deref().unwrap_or_default().to_owned(),
        Value::Object((*tool.input_schema).clone()),
    )
}

/// A tool result → its structured JSON, or [`CliError::Tool`] for `isError: true`.
pub fn tool_result(result: CallToolResult) -> Result<Value, CliError> {
    let text = || {
        result
            .content
            .iter()
            .find_map(|c| c.as_text().map(|t| t.text.clone()))
    };
    if result.is_error == Some(true) {
        let error = result.structured_content.as_ref().map(|s| &s["error"]);
        let code = error
            .and_then(|e| e["code"].as_str())
            .unwrap_or("internal")
            .to_owned();
        let message = error
            .and_then(|e| e["message"].as_str())
            .map(str::to_owned)
            .or_else(text)
            .unwrap_or_else(|| "the tool failed without a message".to_owned());
        return Err(CliError::Tool { code, message });
    }
    if let Some(value) = result.structured_content.clone() {
        return Ok(value);
    }
    match text() {
        Some(t) => serde_json::from_str(&t).map_err(|e| CliError::Tool {
            code: "internal".to_owned(),
            message: format!("the server's result is not JSON: {e}"),
        }),
        None => Err(CliError::Tool {
            code: "internal".to_owned(),
            message: "the server returned an empty result".to_owned(),
        }),
    }
}
