use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    InitializeResult, ListToolsResult, PaginatedRequestParams, ServerCapabilities, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};

use super::catalog;
use crate::client::PubSubClient;
use crate::tools::{CallContext, ToolError, ToolService};

const INSTRUCTIONS: &str = "Cryptocurrency market data (tickers, OHLCV candles, order books, trades, markets) \
from exchanges through ccxt. Symbols accept BTC/USDT, BTCUSDT or btc-usdt. Every result says how fresh it is \
(source, age_ms, stale). Errors carry a code: invalid_symbol (with suggestions), invalid_argument, \
exchange_unavailable, rate_limited, timeout, ...";

/// Who runs the tools: this process's engine, or the worker pool through Redis
/// (`PUBSUB_ENABLED`: the MCP server is then a gateway and calls no exchange itself).
#[derive(Clone)]
pub enum Backend {
    Local(ToolService),
    Pool(Arc<PubSubClient>),
}

impl Backend {
    async fn call(
        &self,
        name: &str,
        arguments: crate::tools::Arguments,
        context: CallContext,
    ) -> Result<serde_json::Value, ToolError> {
        match self {
            Self::Local(tools) => tools.call(name, arguments, context).await,
            Self::Pool(client) => {
                let args = serde_json::Value::Object(arguments.unwrap_or_default());
                tokio::select! {
                    outcome = client.call(name, args) => outcome.map_err(ToolError::from),
                    () = context.cancelled() => Err(ToolError::cancelled()),
                }
            }
        }
    }
}

/// The MCP server handler. Cheap to clone: one per session shares the engine.
#[derive(Clone)]
pub struct McpServer {
    tools: Backend,
    catalog: Arc<Vec<Tool>>,
}

impl McpServer {
    pub fn new(tools: ToolService) -> Self {
        Self::with_backend(Backend::Local(tools))
    }

    pub fn with_backend(tools: Backend) -> Self {
        Self {
            tools,
            catalog: Arc::new(catalog::tools()),
        }
    }
}

/// A tool's answer as an MCP result: structured content plus the same JSON as compact text; a
/// failure as `isError` with the message as text and `{"error": {code, message}}` structured.
pub fn to_call_tool_result(outcome: Result<serde_json::Value, ToolError>) -> CallToolResult {
    match outcome {
        Ok(value) => CallToolResult::structured(value),
        Err(error) => {
            let mut result = CallToolResult::error(vec![ContentBlock::text(error.message.clone())]);
            result.structured_content = Some(error.to_json());
            result
        }
    }
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> InitializeResult {
        InitializeResult::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "crypto-market-mcp",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(
            self.catalog.as_ref().clone(),
        ))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.catalog.iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let call = CallContext {
            cancel: context.ct.clone(),
            progress: None,
            client_id: None,
        };
        let outcome = self
            .tools
            .call(&request.name, request.arguments, call)
            .await;
        if let Err(error) = &outcome {
            tracing::debug!(tool = %request.name, code = %error.code, message = %error.message, "tool call failed");
        }
        Ok(to_call_tool_result(outcome).into())
    }
}
