//! The MCP front end: translates MCP tool calls into [`crate::tools`] calls and their results
//! (or errors) into MCP tool results. Transport-agnostic; `serve_stdio` is the default wiring.

pub mod catalog;
mod http;
mod server;

pub use http::serve_http;
pub use server::McpServer;

use rmcp::ServiceExt;

/// Serves MCP over stdin/stdout until the client closes stdin.
pub async fn serve_stdio(server: McpServer) -> Result<(), String> {
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| format!("MCP handshake failed: {e}"))?;
    running
        .waiting()
        .await
        .map_err(|e| format!("MCP session ended with an error: {e}"))?;
    Ok(())
}
