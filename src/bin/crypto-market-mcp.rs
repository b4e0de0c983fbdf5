//! `crypto-market-mcp`: the MCP server, on stdio (default) or streamable HTTP (`--http ADDR`).
//! Parse settings, start the engine, serve. Logs go to stderr; stdout is the MCP channel.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use crypto_market_mcp::auth::ClientLimiter;
use crypto_market_mcp::client::PubSubClient;
use crypto_market_mcp::config::{CommonArgs, ServerConfig};
use crypto_market_mcp::mcp::{self, Backend, McpServer};
use crypto_market_mcp::startup;
use crypto_market_mcp::tools::ToolService;

/// Cryptocurrency market data over MCP: stdio by default, streamable HTTP with --http.
#[derive(Debug, Parser)]
#[command(name = "crypto-market-mcp", version, about)]
struct Cli {
    /// Serve MCP over streamable HTTP at http://ADDR/mcp instead of stdio.
    #[arg(long, value_name = "ADDR")]
    http: Option<String>,
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    if let Some(addr) = cli.http.take() {
        cli.common.set.push(format!("server.http={addr}"));
    }
    match startup::prepare("crypto-market-mcp", &cli.common) {
        Ok(settings) => startup::run_in_system(run(settings)),
        Err(code) => code,
    }
}

async fn run(settings: ServerConfig) -> Result<(), String> {
    let server = if settings.pubsub.enabled {
        gateway(&settings).await?
    } else {
        let engine = startup::start_engine(&settings)
            .await
            .map_err(|e| e.to_string())?;
        McpServer::new(
            ToolService::new(engine).with_max_result_bytes(settings.server.max_result_bytes),
        )
    };
    let server = server
        .with_max_subscriptions(settings.server.max_subscriptions)
        .with_fresh_for(std::time::Duration::from_secs(settings.cache.ttl));
    match parse_addr(&settings.server.http) {
        Some(addr) => {
            let keys = settings.api_keys()?;
            let server = if keys.is_some() {
                server.with_limiter(client_limiter(&settings).await)
            } else {
                server
            };
            let auth = mcp::HttpAuth {
                token: settings.server.auth_token.clone(),
                keys,
            };
            mcp::serve_http(addr, server, auth, http_limits(&settings)).await
        }
        None => {
            tracing::info!(exchange = %settings.exchange.name, ttl_s = settings.cache.ttl, "crypto-market-mcp serving MCP on stdio");
            mcp::serve_stdio(server).await
        }
    }
}

/// The limits of `--http` (SPEC.md section 9), from the validated settings.
fn http_limits(settings: &ServerConfig) -> mcp::HttpLimits {
    let server = &settings.server;
    mcp::HttpLimits {
        allowed_origins: server
            .allowed_origins
            .iter()
            .filter_map(|origin| mcp::Origin::parse(origin))
            .collect(),
        sessions: mcp::SessionCaps {
            max_sessions: server.max_sessions,
            max_sessions_per_client: server.max_sessions_per_client,
            idle: std::time::Duration::from_secs(server.session_idle),
        },
    }
}

/// Client rates in Redis (shared with the workers and other servers) when this server uses
/// Redis, else in this process.
async fn client_limiter(settings: &ServerConfig) -> ClientLimiter {
    if !(settings.cache.use_redis || settings.pubsub.enabled) {
        return ClientLimiter::new(None);
    }
    let target = settings.redis_target();
    match tokio::time::timeout(std::time::Duration::from_secs(2), target.connection()).await {
        Ok(Ok(conn)) => ClientLimiter::new(Some((conn, target.key_prefix.clone()))),
        _ => {
            tracing::warn!("client rates: Redis not reachable now; limiting in this process");
            ClientLimiter::new(None)
        }
    }
}

/// `PUBSUB_ENABLED`: every tool call goes to the worker pool through Redis; this process
/// starts no engine and calls no exchange.
async fn gateway(settings: &ServerConfig) -> Result<McpServer, String> {
    if settings.metrics.addr.is_some() {
        tracing::warn!("METRICS_ADDR is served by the workers; a gateway serves no metrics yet");
    }
    let client = PubSubClient::connect(settings.redis_target(), settings.pubsub_client(None))
        .await
        .map_err(|e| format!("cannot reach the worker pool: {e}"))?
        // Callers without a key of their own are served under the gateway's.
        .with_api_key(
            settings.pubsub.api_key.clone(),
            settings.pubsub.client_id.clone(),
        );
    tracing::info!(
        client = client.client_id(),
        "forwarding tool calls to the worker pool"
    );
    Ok(McpServer::with_backend(Backend::Pool(Arc::new(client))))
}

/// Addresses were validated with the settings; `None` means unset.
fn parse_addr(addr: &Option<String>) -> Option<SocketAddr> {
    addr.as_deref().and_then(|a| a.parse().ok())
}
