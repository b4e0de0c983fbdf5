//! Where the command line's tool calls go, as the settings say: `crypto-market-mcp` started as
//! a child over stdio (the default), a remote server over streamable HTTP (`--mcp-url`), or the
//! worker pool over Redis (`--redis`). Each gives the tools' structured results and their
//! errors the same way, so the commands do not care which.

pub mod child;
pub mod http;
pub mod mcp;
pub mod pool;

use serde_json::Value;

use super::args::GlobalArgs;
use super::CliError;
use mcp::McpSession;
use pool::WorkerPool;

/// A connection to the tools.
pub enum Connection {
    /// `crypto-market-mcp` as a child process over stdio.
    Child(McpSession),
    /// A remote `crypto-market-mcp` over streamable HTTP.
    Http { session: McpSession, url: String },
    /// The worker pool over Redis.
    Pool(WorkerPool),
}

impl Connection {
    /// Connects as the settings say: `--redis`, `--mcp-url` or a child server.
    pub async fn open(global: &GlobalArgs) -> Result<Connection, CliError> {
        if let Some(url) = &global.redis {
            return WorkerPool::connect(global, url).await.map(Connection::Pool);
        }
        match &global.mcp_url {
            Some(url) => Ok(Connection::Http {
                session: http::connect(url, global.token.as_deref()).await?,
                url: url.clone(),
            }),
            None => child::start(global).await.map(Connection::Child),
        }
    }

    /// Where the data comes from, for `status`.
    pub fn describe(&self) -> String {
        match self {
            Connection::Child(_) => format!("embedded ({} over stdio)", child::SERVER_BINARY),
            Connection::Http { url, .. } => format!("remote ({url})"),
            Connection::Pool(pool) => pool.describe(),
        }
    }

    /// Calls `tool` with `args` (an object): its structured result, or the tool's error.
    pub async fn call(&self, tool: &str, args: Value) -> Result<Value, CliError> {
        match self {
            Connection::Child(session) | Connection::Http { session, .. } => {
                session.call(tool, args).await
            }
            Connection::Pool(pool) => pool.call(tool, args).await,
        }
    }

    /// Asks an MCP server to keep a resource (e.g. `ticker://binance/BTCUSDT`) streamed while
    /// the session lasts. The pool has no sessions: there `watch` follows ticker channels.
    pub async fn subscribe(&self, uri: &str) -> Result<(), CliError> {
        match self {
            Connection::Child(session) | Connection::Http { session, .. } => {
                session.subscribe(uri).await
            }
            Connection::Pool(_) => Ok(()),
        }
    }

    /// The server's name and version, and its tools' names. The pool runs this build's
    /// tools (plus its own `status`).
    pub async fn server_info(&self) -> Result<(String, String, Vec<String>), CliError> {
        match self {
            Connection::Child(session) | Connection::Http { session, .. } => {
                session.server_info().await
            }
            Connection::Pool(_) => Ok((
                "crypto-market-worker".to_owned(),
                env!("CARGO_PKG_VERSION").to_owned(),
                crate::tools::TOOLS
                    .iter()
                    .map(|t| t.name.to_owned())
                    .collect(),
            )),
        }
    }

    /// The tools: name, description and input schema (for the chat's model).
    pub async fn tools(&self) -> Result<Vec<(String, String, Value)>, CliError> {
        match self {
            Connection::Child(session) | Connection::Http { session, .. } => session.tools().await,
            Connection::Pool(_) => Ok(crate::mcp::catalog::tools()
                .into_iter()
                .map(mcp::described)
                .collect()),
        }
    }

    /// Ends the session (a child server exits when its stdin closes).
    pub async fn close(self) {
        match self {
            Connection::Child(session) | Connection::Http { session, .. } => session.close().await,
            Connection::Pool(_) => {}
        }
    }
}
