//! `--mcp-url`: a remote `crypto-market-mcp` over streamable HTTP, with the bearer token of
//! `--token` (`MCP_AUTH_TOKEN`).

use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::ServiceExt;

use super::mcp::McpSession;
use crate::cli::CliError;

/// Opens an MCP session with the server at `url`.
pub async fn connect(url: &str, token: Option<&str>) -> Result<McpSession, CliError> {
    let parsed = url::Url::parse(url)
        .map_err(|e| CliError::Usage(format!("--mcp-url {url:?} is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(CliError::Usage(format!(
            "--mcp-url {url:?}: expected an http:// or https:// URL"
        )));
    }
    let mut config = StreamableHttpClientTransportConfig::with_uri(url);
    if let Some(token) = token.filter(|t| !t.is_empty()) {
        config = config.auth_header(token);
    }
    let transport = StreamableHttpClientTransport::from_config(config);
    let client = ()
        .serve(transport)
        .await
        .map_err(|e| CliError::Unavailable(format!("cannot talk MCP to {url}: {e}")))?;
    Ok(McpSession::new(client, None))
}
