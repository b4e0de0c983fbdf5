//! The MCP front end: translates MCP tool calls into [`crate::tools`] calls and their results
//! (or errors) into MCP tool results. Transport-agnostic; `serve_stdio` is the default wiring.

pub mod catalog;
mod completion;
mod http;
mod origin;
pub mod resources;
mod server;
mod sessions;
mod stdio;
pub mod ticks;

pub use http::{serve_http, Caller, HttpAuth, HttpLimits};
pub use origin::Origin;
pub use server::{Backend, McpServer};
pub use sessions::SessionCaps;
pub use stdio::{stdio_transport, StdioKind, StdioReader, StdioWriter};

/// Serves MCP over stdin/stdout until the client closes stdin: on the IO reactor when they are
/// pipes or sockets, through tokio's blocking `stdin()`/`stdout()` otherwise (see [`stdio_transport`]).
pub async fn serve_stdio(server: McpServer) -> Result<(), String> {
    stdio::serve(server).await
}
