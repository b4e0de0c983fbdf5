//! MCP over streamable HTTP at `/mcp` (`--http ADDR`), with the limits of SPEC.md section 9:
//! the `Origin` check, bearer tokens or client keys (scheme in any case), session caps, a
//! 10 s limit on a request's headers, and a prompt stop on SIGTERM/SIGINT.
//!
//! Connections are served on hyper's HTTP/1 connection directly rather than `axum::serve`,
//! which gives hyper no timer: without one a client sending half its headers holds a
//! connection (and its memory) for ever.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::origin::{check_origin, ConnectionAddrs, Origin};
use super::sessions::{limit_sessions, CappedSessions, SessionCaps, SessionLimits};
use super::McpServer;
use crate::auth::{ApiKeys, Client};
use crate::config::Secret;

/// A request's headers must have arrived this long after it started.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// After SIGTERM/SIGINT, the longest wait for connections to finish once every stream was
/// told to end (Kubernetes kills at 30 s; SPEC.md asks for an exit within 5).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// A request made with a client's key (`API_KEYS_FILE`): the tools see who, and its limits
/// apply; a gateway forwards `key` to the pool. Requests with `MCP_AUTH_TOKEN` carry none.
#[derive(Clone)]
pub struct Caller {
    pub client: Arc<Client>,
    pub key: Secret,
}

/// Who may call: the all-access token, the clients' keys, or anyone (neither set).
#[derive(Clone, Default)]
pub struct HttpAuth {
    pub token: Option<Secret>,
    pub keys: Option<Arc<ApiKeys>>,
}

/// What `--http` accepts besides its token and keys.
#[derive(Clone)]
pub struct HttpLimits {
    /// Origins allowed besides the server's own (`MCP_ALLOWED_ORIGINS`).
    pub allowed_origins: Vec<Origin>,
    pub sessions: SessionCaps,
}

/// Serves `/mcp` on `addr` until SIGTERM or SIGINT. A non-loopback address requires a token
/// (checked by the config).
pub async fn serve_http(
    addr: SocketAddr,
    server: McpServer,
    auth: HttpAuth,
    limits: HttpLimits,
) -> Result<(), String> {
    // Cancelled on SIGTERM/SIGINT: rmcp ends every session and SSE stream with it.
    let shutdown = CancellationToken::new();
    let mut config =
        StreamableHttpServerConfig::default().with_cancellation_token(shutdown.child_token());
    if !addr.ip().is_loopback() {
        // Host checking protects a loopback server from DNS rebinding; a public one is
        // protected by its bearer token (and the Origin check) and is reached under names we
        // cannot know here.
        config = config.disable_allowed_hosts();
    }
    let session_limits = SessionLimits::new(limits.sessions);
    let service = StreamableHttpService::new(
        // Each session its own handler: resource subscriptions end with their session.
        move || Ok(server.session()),
        Arc::new(CappedSessions::new(session_limits.clone())),
        config,
    );
    // Layers run outermost last-added: Origin, then auth, then the session caps (which need
    // to know the caller).
    let mut app =
        axum::Router::new()
            .nest_service("/mcp", service)
            .layer(axum::middleware::from_fn(
                move |request: Request, next: Next| {
                    let session_limits = session_limits.clone();
                    async move { limit_sessions(&session_limits, request, next).await }
                },
            ));
    if auth.token.is_some() || auth.keys.is_some() {
        let auth = Arc::new(auth);
        app = app.layer(axum::middleware::from_fn(
            move |request: Request, next: Next| {
                let auth = auth.clone();
                async move { bearer_check(&auth, request, next).await }
            },
        ));
    }
    let allowed = Arc::new(limits.allowed_origins);
    let app = app.layer(axum::middleware::from_fn(
        move |request: Request, next: Next| {
            let allowed = allowed.clone();
            async move { check_origin(&allowed, request, next).await }
        },
    ));

    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("MCP HTTP address {addr}: {e}"))?;
    // The bound address, which differs from `addr` for port 0 (tests read it from the log).
    let bound = listener.local_addr().unwrap_or(addr);
    tracing::info!(addr = %bound, "serving MCP over streamable HTTP at /mcp");

    let mut connections = JoinSet::new();
    let signal = shutdown_signal();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            () = &mut signal => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let local = stream.local_addr().unwrap_or(bound);
                    let addrs = ConnectionAddrs { peer, local };
                    connections.spawn(serve_connection(stream, addrs, app.clone(), shutdown.clone()));
                }
                Err(error) => {
                    // Out of file descriptors, most likely: give connections time to close.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            // Finished connections are reaped as they go, so the set holds only live ones.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    shutdown.cancel();
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "connections still open after {SHUTDOWN_GRACE:?}; closing them"
        );
        connections.abort_all();
    }
    Ok(())
}

/// One HTTP/1 connection, with the header timeout; on shutdown it finishes the response in
/// progress (streams end as rmcp's token is cancelled) and closes.
async fn serve_connection(
    stream: tokio::net::TcpStream,
    addrs: ConnectionAddrs,
    app: axum::Router,
    shutdown: CancellationToken,
) {
    let service = hyper::service::service_fn(move |mut request: hyper::Request<_>| {
        request.extensions_mut().insert(addrs);
        app.clone().oneshot(request.map(axum::body::Body::new))
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let outcome = tokio::select! {
        outcome = connection.as_mut() => outcome,
        () = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = outcome {
        tracing::debug!(peer = %addrs.peer, %error, "HTTP connection ended");
    }
}

/// SIGINT or SIGTERM.
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
    tracing::info!("shutting down: closing streams, finishing requests in flight");
}

/// The token of an `Authorization: Bearer …` header; the scheme in any case (RFC 9110).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

async fn bearer_check(auth: &HttpAuth, mut request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .map(str::to_owned);
    let all_access = |given: &str| {
        auth.token
            .as_ref()
            .is_some_and(|token| constant_time_eq(given.as_bytes(), token.expose().as_bytes()))
    };
    if let Some(given) = given {
        if all_access(&given) {
            return next.run(request).await;
        }
        if let Some(client) = auth.keys.as_ref().and_then(|keys| keys.client(&given)) {
            request.extensions_mut().insert(Caller {
                client,
                key: Secret::new(given),
            });
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

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn the_bearer_scheme_is_matched_in_any_case() {
        for header in ["Bearer tok", "bearer tok", "BEARER  tok ", " bEaReR tok"] {
            assert_eq!(bearer_token(header), Some("tok"), "{header:?}");
        }
        for header in ["Basic tok", "Bearer", "Bearer ", "Bearertok", "tok"] {
            assert_eq!(bearer_token(header), None, "{header:?}");
        }
    }
}
