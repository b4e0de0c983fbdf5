//! MCP over streamable HTTP at `/mcp` (`--http ADDR`), optionally behind a bearer token.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use super::McpServer;
use crate::config::Secret;

/// Serves `/mcp` on `addr`. A non-loopback address requires a token (checked by the config).
pub async fn serve_http(
    addr: SocketAddr,
    server: McpServer,
    token: Option<Secret>,
) -> Result<(), String> {
    let mut config = StreamableHttpServerConfig::default();
    if !addr.ip().is_loopback() {
        // Host checking protects a loopback server from DNS rebinding; a public one is
        // protected by its bearer token and is reached under names we cannot know here.
        config = config.disable_allowed_hosts();
    }
    let service = StreamableHttpService::new(
        // Each session its own handler: resource subscriptions end with their session.
        move || Ok(server.session()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let mut app = axum::Router::new().nest_service("/mcp", service);
    if let Some(token) = token {
        let expected: Arc<str> = Arc::from(format!("Bearer {}", token.expose()));
        app = app.layer(axum::middleware::from_fn(
            move |request: Request, next: Next| {
                let expected = expected.clone();
                async move { bearer_check(&expected, request, next).await }
            },
        ));
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("MCP HTTP address {addr}: {e}"))?;
    // The bound address, which differs from `addr` for port 0 (tests read it from the log).
    let bound = listener.local_addr().unwrap_or(addr);
    tracing::info!(addr = %bound, "serving MCP over streamable HTTP at /mcp");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| format!("MCP HTTP server: {e}"))
}

/// SIGINT or SIGTERM: stop accepting, let requests in flight finish.
async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot handle SIGTERM ({e}); it will end the process at once");
                std::future::pending::<()>().await
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}

async fn bearer_check(expected: &str, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if given.is_some_and(|given| constant_time_eq(given.as_bytes(), expected.as_bytes())) {
        next.run(request).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "unauthorized",
        )
            .into_response()
    }
}

/// Compares without an early exit, so response timing does not reveal the token's prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
