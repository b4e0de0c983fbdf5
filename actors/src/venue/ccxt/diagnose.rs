//! Saying *what* failed when the exchange cannot be reached. ccxt reports every transport
//! failure as the same `NetworkError` with reqwest's top-level message ("error sending
//! request"), which hides whether the name did not resolve, the port refused, or nothing
//! answered. A quick probe of the REST host tells them apart.

use std::time::Duration;

use tokio::net::{lookup_host, TcpStream};

/// How long the probe may take; it runs only after a call already failed.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why `base` (the REST API's scheme, host and port) cannot be reached, if a probe can tell.
pub async fn unreachable_reason(base: &url::Url) -> Option<String> {
    let host = base.host_str()?;
    let port = base.port_or_known_default()?;
    let target = format!("{host}:{port}");
    let addrs: Vec<_> = match tokio::time::timeout(PROBE_TIMEOUT, lookup_host(&target)).await {
        Ok(Ok(addrs)) => addrs.collect(),
        Ok(Err(e)) => return Some(format!("cannot resolve {host}: {e}")),
        Err(_) => {
            return Some(format!(
                "resolving {host} took over {} s",
                PROBE_TIMEOUT.as_secs()
            ))
        }
    };
    let Some(addr) = addrs.first() else {
        return Some(format!("{host} resolves to no address"));
    };
    match tokio::time::timeout(PROBE_TIMEOUT, TcpStream::connect(addr)).await {
        Ok(Ok(_)) if base.scheme() == "https" => Some(format!(
            "{target} accepts connections, so TLS or HTTP failed (check the URL's scheme and the certificate)"
        )),
        // Reachable over plain HTTP: the failure was in the exchange, not the network.
        Ok(Ok(_)) => None,
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            Some(format!("connection refused by {target} ({addr})"))
        }
        Ok(Err(e)) => Some(format!("cannot connect to {target} ({addr}): {e}")),
        Err(_) => Some(format!(
            "no answer from {target} ({addr}) within {} s",
            PROBE_TIMEOUT.as_secs()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tells_a_refused_port_from_a_bad_name_and_a_live_server() {
        // A port that was just free: bind, learn it, close it.
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let refused = url::Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
        let reason = unreachable_reason(&refused).await.unwrap();
        assert!(
            reason.contains("connection refused by 127.0.0.1:"),
            "{reason}"
        );

        let bad_name = url::Url::parse("http://no-such-host.invalid").unwrap();
        let reason = unreachable_reason(&bad_name).await.unwrap();
        assert!(
            reason.contains("cannot resolve no-such-host.invalid"),
            "{reason}"
        );

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let live = url::Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        assert_eq!(unreachable_reason(&live).await, None);
        let tls = url::Url::parse(&format!("https://{}", listener.local_addr().unwrap())).unwrap();
        assert!(unreachable_reason(&tls).await.unwrap().contains("TLS"));
    }
}
