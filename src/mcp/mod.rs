//! The MCP front end: translates MCP tool calls into [`crate::tools`] calls and their results
//! (or errors) into MCP tool results. Transport-agnostic; `serve_stdio` is the default wiring.

mod caller;
pub mod catalog;
mod completion;
mod http;
mod origin;
mod pool;
pub mod resources;
mod server;
mod sessions;
mod stdio;

pub use caller::{EngineCaller, LiveTicker, MarketCaller, Ticks};
pub use http::{serve_http, Caller, HttpAuth, HttpLimits};
pub use origin::Origin;
pub use pool::PoolCaller;
pub use server::McpServer;
pub use sessions::SessionCaps;
pub use stdio::{stdio_transport, StdioKind, StdioReader, StdioWriter};

/// Serves MCP over stdin/stdout until the client closes stdin: on the IO reactor when they are
/// pipes or sockets, through tokio's blocking `stdin()`/`stdout()` otherwise (see [`stdio_transport`]).
pub async fn serve_stdio(server: McpServer) -> Result<(), String> {
    stdio::serve(server).await
}
