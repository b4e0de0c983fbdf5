//! The baseline: a do-nothing rmcp stdio server.

use super::*;

/// The baseline: a do-nothing rmcp stdio server with one tool, `get_ticker`, that answers
/// every call with the same ticker JSON the real server sends, so the bytes on the pipe and
/// the (de)serialisation work match and only the server's own work differs.
#[derive(Clone)]
struct EchoServer {
    ticker: Arc<Value>,
    tools: Arc<Vec<Tool>>,
}

impl ServerHandler for EchoServer {
    fn get_info(&self) -> InitializeResult {
        InitializeResult::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("bench-echo", "0"))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(self.tools.as_ref().clone()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        if request.name != "get_ticker" {
            return Err(McpError::invalid_params(
                format!("no tool {}", request.name),
                None,
            ));
        }
        Ok(CallToolResult::structured(self.ticker.as_ref().clone()).into())
    }
}

/// Entry point of `--echo-server`: serves on stdin/stdout until the client goes away.
pub fn serve() {
    let ticker_json = std::env::var(ECHO_TICKER_ENV)
        .unwrap_or_else(|_| panic!("{ECHO_TICKER_ENV} must hold the ticker JSON"));
    let ticker: Value = serde_json::from_str(&ticker_json)
        .unwrap_or_else(|e| panic!("{ECHO_TICKER_ENV} is not JSON: {e}"));
    let schema = json!({
        "type": "object",
        "properties": { "symbol": { "type": "string" } },
        "required": ["symbol"],
    });
    let Value::Object(schema) = schema else {
        unreachable!("a JSON object literal")
    };
    let server = EchoServer {
        ticker: Arc::new(ticker),
        tools: Arc::new(vec![Tool::new(
            "get_ticker",
            Cow::Borrowed("Echoes a fixed ticker"),
            schema,
        )]),
    };
    // Current-thread, like the client: the baseline is one thread per side.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio current-thread runtime")
        .block_on(async move {
            let service = server
                .serve(rmcp::transport::stdio())
                .await
                .expect("echo server handshake");
            // Ends when the client closes the pipe; that is the normal way out.
            let _ = service.waiting().await;
        });
}
