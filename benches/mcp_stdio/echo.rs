//! The baselines: a do-nothing rmcp stdio server, over the server's own stdio transport or over
//! `rmcp::transport::stdio()`.

use super::*;
use crypto_market_mcp::mcp::{stdio_transport, StdioKind};

/// How the echo server reaches its stdin/stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    /// `crypto_market_mcp::mcp::stdio_transport()`: what the server uses (epoll on pipes).
    Pipes,
    /// `rmcp::transport::stdio()`: tokio's stdin()/stdout() on the blocking thread pool.
    Stdio,
}

impl Transport {
    /// The value of ECHO_TRANSPORT_ENV.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Transport::Pipes => "pipes",
            Transport::Stdio => "stdio",
        }
    }

    /// Its rows in the table.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Transport::Pipes => "rmcp echo, pipes (baseline)",
            Transport::Stdio => "rmcp echo, stdio() (second baseline)",
        }
    }
}

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
    let transport = match std::env::var(ECHO_TRANSPORT_ENV).as_deref() {
        Ok("pipes") => Transport::Pipes,
        Ok("stdio") => Transport::Stdio,
        other => panic!("{ECHO_TRANSPORT_ENV} must be pipes or stdio, not {other:?}"),
    };
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
            let service = match transport {
                Transport::Pipes => {
                    let (reader, writer) = stdio_transport();
                    // A fallback would make the row's label a lie.
                    assert!(
                        reader.kind() == StdioKind::Pipe && writer.kind() == StdioKind::Pipe,
                        "echo over pipes got {:?}/{:?}",
                        reader.kind(),
                        writer.kind()
                    );
                    server.serve((reader, writer)).await
                }
                Transport::Stdio => server.serve(rmcp::transport::stdio()).await,
            }
            .expect("echo server handshake");
            // Ends when the client closes the pipe; that is the normal way out.
            let _ = service.waiting().await;
        });
}
