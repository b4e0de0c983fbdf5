//! Where the data comes from: the embedded server (`crypto-market-mcp` started as a child over
//! stdio, the default) or a remote server over streamable HTTP (`--mcp-url`). Either way the
//! command line speaks MCP and gets the tools' structured results.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;
use tokio::io::AsyncReadExt;

use super::args::GlobalArgs;
use super::CliError;

/// The MCP server binary's name.
pub const SERVER_BINARY: &str = "crypto-market-mcp";
/// How much of the embedded server's stderr is kept for error reports.
const LOG_TAIL: usize = 16 * 1024;

/// A connected MCP server, embedded or remote.
pub enum Backend {
    /// `crypto-market-mcp` as a child process over stdio; its stderr (unless `-v`).
    Embedded {
        client: RunningService<RoleClient, ()>,
        log: Arc<Mutex<String>>,
    },
    /// A remote server over streamable HTTP.
    Remote {
        client: RunningService<RoleClient, ()>,
        url: String,
    },
}

impl Backend {
    /// Connects as the settings say: `--mcp-url` or the embedded server.
    pub async fn connect(global: &GlobalArgs) -> Result<Backend, CliError> {
        match &global.mcp_url {
            Some(url) => Self::remote(url, global.token.as_deref()).await,
            None => Self::embedded(global).await,
        }
    }

    async fn remote(url: &str, token: Option<&str>) -> Result<Backend, CliError> {
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
        Ok(Backend::Remote {
            client,
            url: url.to_owned(),
        })
    }

    async fn embedded(global: &GlobalArgs) -> Result<Backend, CliError> {
        let program = server_binary();
        let mut cmd = tokio::process::Command::new(&program);
        if let Some(rest) = &global.rest_url {
            cmd.env("EXCHANGE_REST_URL", rest);
        }
        if let Some(ws) = &global.ws_url {
            cmd.env("EXCHANGE_WS_URL", ws);
        }
        if let Some(config) = &global.config {
            cmd.arg("--config").arg(config);
        }
        if let Some(exchange) = &global.exchange {
            cmd.arg("--exchange").arg(exchange);
        }
        cmd.kill_on_drop(true);
        // Its own process group: a Ctrl-C at the terminal is ours to handle (e.g. `watch`
        // ending cleanly), and we end the server by closing its stdin.
        #[cfg(unix)]
        cmd.process_group(0);
        let stderr = if global.verbose {
            Stdio::inherit()
        } else {
            Stdio::piped()
        };
        let (transport, child_stderr) = TokioChildProcess::builder(cmd)
            .stderr(stderr)
            .spawn()
            .map_err(|e| {
                CliError::Unavailable(format!(
                    "cannot start {}: {e} (install it next to crypto-market or on PATH, or use --mcp-url)",
                    program.display()
                ))
            })?;
        let log = Arc::new(Mutex::new(String::new()));
        let reader = child_stderr.map(|stderr| tokio::spawn(keep_tail(stderr, log.clone())));
        match ().serve(transport).await {
            Ok(client) => Ok(Backend::Embedded { client, log }),
            Err(e) => {
                // The server exited before the handshake: most likely a bad setting, which it
                // explains in one stderr line (and exits 2).
                if let Some(reader) = reader {
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), reader).await;
                }
                let last = last_line(&log);
                Err(match last {
                    Some(line) if line.starts_with(SERVER_BINARY) => CliError::Usage(line),
                    Some(line) => CliError::Usage(format!("{SERVER_BINARY}: {line}")),
                    None => CliError::Unavailable(format!("{SERVER_BINARY} did not start: {e}")),
                })
            }
        }
    }

    fn client(&self) -> &RunningService<RoleClient, ()> {
        match self {
            Backend::Embedded { client, .. } | Backend::Remote { client, .. } => client,
        }
    }

    /// Where the data comes from, for `status`.
    pub fn describe(&self) -> String {
        match self {
            Backend::Embedded { .. } => format!("embedded ({SERVER_BINARY} over stdio)"),
            Backend::Remote { url, .. } => format!("remote ({url})"),
        }
    }

    /// Calls `tool` with `args` (an object): its structured result, or the tool's error.
    pub async fn call(&self, tool: &str, args: Value) -> Result<Value, CliError> {
        let mut params = CallToolRequestParams::new(tool.to_owned());
        if let Value::Object(map) = args {
            params = params.with_arguments(map);
        }
        let result = self
            .client()
            .call_tool(params)
            .await
            .map_err(|e| self.lost(format!("calling {tool}: {e}")))?;
        tool_result(result)
    }

    /// Subscribes to a resource (e.g. `ticker://binance/BTCUSDT`): the server keeps that
    /// ticker streamed while the session lasts, so calls are served `source: "stream"`.
    // resources/subscribe: what the server's sessions opened with `initialize` speak (as
    // its tests do); `listen` is for protocol 2026-07-28.
    #[allow(deprecated)]
    pub async fn subscribe(&self, uri: &str) -> Result<(), CliError> {
        self.client()
            .subscribe(rmcp::model::SubscribeRequestParams::new(uri))
            .await
            .map_err(|e| self.lost(format!("subscribing to {uri}: {e}")))
    }

    /// The server's name and version, and its tools' names.
    pub async fn server_info(&self) -> Result<(String, String, Vec<String>), CliError> {
        let client = self.client();
        let (name, version) = client
            .peer_info()
            .and_then(|info| {
                info.server_info
                    .as_ref()
                    .map(|s| (s.name.clone(), s.version.clone()))
            })
            .unwrap_or_default();
        let tools = client
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
            .client()
            .list_all_tools()
            .await
            .map_err(|e| self.lost(format!("listing tools: {e}")))?;
        Ok(tools
            .into_iter()
            .map(|t| {
                (
                    t.name.to_string(),
                    t.description.as_deref().unwrap_or_default().to_owned(),
                    Value::Object((*t.input_schema).clone()),
                )
            })
            .collect())
    }

    fn lost(&self, what: String) -> CliError {
        match self {
            Backend::Embedded { log, .. } => match last_line(log) {
                Some(line) => CliError::Unavailable(format!("{what} ({SERVER_BINARY}: {line})")),
                None => CliError::Unavailable(what),
            },
            Backend::Remote { .. } => CliError::Unavailable(what),
        }
    }

    /// Ends the session (the embedded server exits when its stdin closes).
    pub async fn close(self) {
        let client = match self {
            Backend::Embedded { client, .. } | Backend::Remote { client, .. } => client,
        };
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), client.cancel()).await;
    }
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

/// `crypto-market-mcp` next to this executable, else whatever PATH finds.
pub fn server_binary() -> PathBuf {
    let name = format!("{SERVER_BINARY}{}", std::env::consts::EXE_SUFFIX);
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(&name)))
        .filter(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

async fn keep_tail(mut stderr: impl tokio::io::AsyncRead + Unpin, log: Arc<Mutex<String>>) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = stderr.read(&mut buf).await {
        if n == 0 {
            break;
        }
        if let Ok(mut log) = log.lock() {
            log.push_str(&String::from_utf8_lossy(&buf[..n]));
            if log.len() > LOG_TAIL {
                let mut cut = log.len() - LOG_TAIL;
                while !log.is_char_boundary(cut) {
                    cut += 1;
                }
                log.drain(..cut);
            }
        }
    }
}

fn last_line(log: &Arc<Mutex<String>>) -> Option<String> {
    let log = log.lock().ok()?;
    log.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_owned)
}
