//! The `Origin` check of `--http` (SPEC.md section 9): a browser's request names the page it
//! comes from; a page of another site (or one that re-pointed its DNS name at this server,
//! DNS rebinding) must not reach the tools. A request with an `Origin` passes when it is the
//! server's own address, the one the connection reached, or one of `MCP_ALLOWED_ORIGINS`;
//! else 403. Requests without `Origin` (every non-browser client) pass.

use std::net::{IpAddr, SocketAddr};

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// A web origin: scheme, host and port (the port the scheme implies when not written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    scheme: String,
    host: url::Host<String>,
    port: u16,
}

impl Origin {
    /// `scheme://host[:port]` (a trailing `/` is tolerated); `None` for anything else: a path,
    /// a query, credentials, another scheme than http/https, or `null`.
    pub fn parse(text: &str) -> Option<Self> {
        let url = url::Url::parse(text.trim()).ok()?;
        let plain = matches!(url.scheme(), "http" | "https")
            && url.username().is_empty()
            && url.password().is_none()
            && matches!(url.path(), "" | "/")
            && url.query().is_none()
            && url.fragment().is_none();
        if !plain {
            return None;
        }
        Some(Self {
            scheme: url.scheme().to_owned(),
            host: url.host()?.to_owned(),
            port: url.port_or_known_default()?,
        })
    }

    /// Whether this is the address `local` that the client connected to, as a browser
    /// would write it: `http://` with that IP and port, or `localhost` for a loopback one.
    fn is_own(&self, local: SocketAddr) -> bool {
        if self.scheme != "http" || self.port != local.port() {
            return false;
        }
        match &self.host {
            url::Host::Ipv4(ip) => IpAddr::V4(*ip) == canonical(local.ip()),
            url::Host::Ipv6(ip) => canonical(IpAddr::V6(*ip)) == canonical(local.ip()),
            url::Host::Domain(name) => name == "localhost" && local.ip().is_loopback(),
        }
    }
}

/// An IPv4-mapped IPv6 address (a dual-stack socket's view of an IPv4 peer) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The two ends of the connection a request came on (put in its extensions by the server).
#[derive(Debug, Clone, Copy)]
pub struct ConnectionAddrs {
    pub peer: SocketAddr,
    pub local: SocketAddr,
}

/// Refuses (403) a request whose `Origin` is neither the server's own nor allowed.
pub async fn check_origin(allowed: &[Origin], request: Request, next: Next) -> Response {
    let Some(value) = request.headers().get(header::ORIGIN) else {
        return next.run(request).await;
    };
    let origin = value.to_str().ok().and_then(Origin::parse);
    let local = request
        .extensions()
        .get::<ConnectionAddrs>()
        .map(|addrs| addrs.local);
    let accepted = origin.is_some_and(|origin| {
        allowed.contains(&origin) || local.is_some_and(|local| origin.is_own(local))
    });
    if accepted {
        next.run(request).await
    } else {
        tracing::debug!(origin = ?value, "request from a foreign origin refused");
        (
            StatusCode::FORBIDDEN,
            "forbidden: this Origin is not allowed (MCP_ALLOWED_ORIGINS)",
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_compared_by_scheme_host_and_port() {
        let app = Origin::parse("https://App.Example.com").unwrap();
        assert_eq!(Origin::parse("https://app.example.com:443/"), Some(app));
        assert_ne!(
            Origin::parse("https://app.example.com:8443"),
            Origin::parse("https://app.example.com")
        );
        for bad in [
            "app.example.com",
            "null",
            "ftp://app.example.com",
            "https://app.example.com/path",
            "https://user@app.example.com",
        ] {
            assert_eq!(Origin::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_own_origin_is_the_address_the_client_reached() {
        let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let own = |text: &str| Origin::parse(text).unwrap().is_own(local);
        assert!(own("http://127.0.0.1:8080"));
        assert!(own("http://localhost:8080"));
        assert!(!own("http://127.0.0.1:8081"));
        assert!(!own("https://127.0.0.1:8080"));
        assert!(!own("http://evil.example:8080"));
        let public: SocketAddr = "10.1.2.3:80".parse().unwrap();
        assert!(Origin::parse("http://10.1.2.3").unwrap().is_own(public));
        assert!(!Origin::parse("http://localhost").unwrap().is_own(public));
    }
}
