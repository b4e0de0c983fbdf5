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
use crate::auth::{ApiKeys, Client};
use crate::config::Secret;

/// A request made with a client's key (`API_KEYS_FILE`): the tools see who, and its limits
/// apply. Requests with `MCP_AUTH_TOKEN` carry none (all access).
#[derive(Clone)]
pub struct Caller(pub Arc<Client>);

/// Who may call: the all-access token, the clients' keys, or anyone (neither set).
#[derive(Clone, Default)]
pub struct HttpAuth {
    pub token: Option<Secret>,
    pub keys: Option<Arc<ApiKeys>>,
}

/// Serves `/mcp` on `addr`. A non-loopback address requires a token (checked by the config).
pub async fn serve_http(addr: SocketAddr, server: McpServer, auth: HttpAuth) -> Result<(), String> {
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
    if auth.token.is_some() || auth.keys.is_some() {
        let auth = Arc::new(auth);
        app = app.layer(axum::middleware::from_fn(
            move |request: Request, next: Next| {
                let auth = auth.clone();
                async move { bearer_check(&auth, request, next).await }
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

async fn bearer_check(auth: &HttpAuth, mut request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let all_access = |given: &str| {
        auth.token
            .as_ref()
            .is_some_and(|token| constant_time_eq(given.as_bytes(), token.expose().as_bytes()))
    };
    if let Some(given) = given.as_deref() {
        if all_access(given) {
            return next.run(request).await;
        }
        if let Some(client) = auth.keys.as_ref().and_then(|keys| keys.client(given)) {
            request.extensions_mut().insert(Caller(client));
            return next.run(request).await;
        }
    }
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        "unauthorized",
    )
        .into_response()
}

/// Compares without an early exit, so response timing does not reveal the token's prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
