//! Opening a websocket: plain `ws://` (the simulator) or `wss://` over rustls with the
//! webpki roots. The TLS provider is chosen here (ring) rather than process-wide, so the feed
//! works whatever else in the process installed or did not install.

use std::sync::Arc;
use std::time::Duration;

use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

/// A handshake that takes longer than this is abandoned (and retried with back-off).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn connect(url: &str) -> Result<Socket, String> {
    let connector = if url.starts_with("wss://") {
        Some(Connector::Rustls(tls_config()?))
    } else {
        None
    };
    let handshake = tokio_tungstenite::connect_async_tls_with_config(url, None, true, connector);
    match tokio::time::timeout(CONNECT_TIMEOUT, handshake).await {
        Ok(Ok((socket, _response))) => Ok(socket),
        Ok(Err(error)) => Err(format!("{url}: {error}")),
        Err(_) => Err(format!("{url}: no handshake within {CONNECT_TIMEOUT:?}")),
    }
}

fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    let roots = rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
