//! The default connection: `crypto-market-mcp` started as a child over stdio, with the same
//! settings (`--config`, `--exchange`, `--rest-url`, `--ws-url`); its stderr is kept (the tail
//! explains a failed start) or shown with `-v`.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use rmcp::transport::TokioChildProcess;
use rmcp::ServiceExt;
use tokio::io::AsyncReadExt;

use super::mcp::McpSession;
use crate::cli::args::GlobalArgs;
use crate::cli::CliError;

/// The MCP server binary's name.
pub const SERVER_BINARY: &str = "crypto-market-mcp";
/// How much of the child server's stderr is kept for error reports.
const LOG_TAIL: usize = 16 * 1024;

/// Starts the server and opens an MCP session with it.
pub async fn start(global: &GlobalArgs) -> Result<McpSession, CliError> {
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
        Ok(client) => Ok(McpSession::new(client, Some(log))),
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

pub(super) fn last_line(log: &Arc<Mutex<String>>) -> Option<String> {
    let log = log.lock().ok()?;
    log.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_owned)
}
