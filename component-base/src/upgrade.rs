//! Proxying an HTTP/1.1 connection upgrade to a backend, as upstream's upgrade-aware proxy
//! does for exec: the apiserver passes `pods/exec` on to the kubelet, the kubelet passes it on
//! to the runtime's streaming server.
//!
//! The client's request goes to the backend with its headers (the WebSocket key, version and
//! offered subprotocols included), and the backend's answer comes back as it is: a refusal
//! (any status but 101) with its body, or `101 Switching Protocols` with the backend's
//! `Sec-WebSocket-Accept` and chosen subprotocol, after which the bytes of both upgraded
//! connections are copied both ways until each side is done. Nothing in between speaks the
//! stream's protocol, so WebSocket and SPDY pass alike.

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::response::Response;
pub use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

/// How long connecting to the backend may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the backend could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum UpgradeProxyError {
    #[error("dial {address}: {reason}")]
    Connect { address: String, reason: String },
    #[error("request to {address}: {source}")]
    Request {
        address: String,
        #[source]
        source: hyper::Error,
    },
    #[error("bad request for {address}: {reason}")]
    BadRequest { address: String, reason: String },
}

/// The pending upgrade of the client connection that sent `request`, to hand to
/// [`proxy_upgrade`].
pub fn client_upgrade<B>(request: &mut Request<B>) -> OnUpgrade {
    hyper::upgrade::on(request)
}

/// Whether `headers` ask for a connection upgrade (`Connection: upgrade` and an `Upgrade`).
pub fn is_upgrade_request(headers: &HeaderMap) -> bool {
    let connection_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    connection_upgrade && headers.contains_key(header::UPGRADE)
}

/// The headers sent on to the backend: the client's, less what describes the client's own
/// hop (`Host`, a body's length or encoding), plus the backend's `Host`.
pub fn backend_headers(client: &HeaderMap, backend: &str) -> HeaderMap {
    let mut headers = client.clone();
    for name in [
        header::HOST,
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
    ] {
        headers.remove(name);
    }
    if let Ok(host) = backend.parse() {
        headers.insert(header::HOST, host);
    }
    headers
}

/// Sends the client's upgrade request (`method`, `headers`) to `path_and_query` on `backend`
/// (`host:port`, plain HTTP) and answers with the backend's response; on `101`, splices the
/// two upgraded connections together in the background. `client` is the client connection's
/// pending upgrade (from the request's extensions).
pub async fn proxy_upgrade(
    client: OnUpgrade,
    method: &Method,
    headers: &HeaderMap,
    backend: &str,
    path_and_query: &str,
) -> Result<Response, UpgradeProxyError> {
    let connect_error = |reason: String| UpgradeProxyError::Connect {
        address: backend.to_string(),
        reason,
    };
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(backend))
        .await
        .map_err(|_| connect_error(format!("no answer within {CONNECT_TIMEOUT:?}")))?
        .map_err(|e| connect_error(e.to_string()))?;
    // The spliced stream carries small interactive writes; Nagle's delay would stall them.
    let _ = stream.set_nodelay(true);
    let request_error = |source| UpgradeProxyError::Request {
        address: backend.to_string(),
        source,
    };
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(request_error)?;
    tokio::spawn(async move {
        if let Err(error) = connection.with_upgrades().await {
            tracing::debug!(%error, "upgrade proxy connection ended");
        }
    });
    let mut request = Request::builder()
        .method(method.clone())
        .uri(path_and_query)
        .body(Body::empty())
        .map_err(|e| UpgradeProxyError::BadRequest {
            address: backend.to_string(),
            reason: e.to_string(),
        })?;
    *request.headers_mut() = backend_headers(headers, backend);
    let mut response = sender.send_request(request).await.map_err(request_error)?;
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        let (parts, body) = response.into_parts();
        return Ok(Response::from_parts(parts, Body::new(body)));
    }
    let backend_upgrade = hyper::upgrade::on(&mut response);
    let address = backend.to_string();
    tokio::spawn(async move {
        let (client, backend) = match tokio::try_join!(client, backend_upgrade) {
            Ok(both) => both,
            Err(error) => {
                tracing::debug!(%error, backend = %address, "upgrade did not complete");
                return;
            }
        };
        let (mut client, mut backend) = (TokioIo::new(client), TokioIo::new(backend));
        if let Err(error) = tokio::io::copy_bidirectional(&mut client, &mut backend).await {
            tracing::debug!(%error, backend = %address, "upgraded stream ended");
        }
    });
    let (parts, _) = response.into_parts();
    Ok(Response::from_parts(parts, Body::empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    #[test]
    fn upgrade_requests_are_recognised() {
        let cases: &[(&[(&str, &str)], bool)] = &[
            (&[("connection", "Upgrade"), ("upgrade", "websocket")], true),
            (
                &[
                    ("connection", "keep-alive, upgrade"),
                    ("upgrade", "SPDY/3.1"),
                ],
                true,
            ),
            (&[("upgrade", "websocket")], false),
            (&[("connection", "upgrade")], false),
            (&[("connection", "keep-alive")], false),
        ];
        for (pairs, want) in cases {
            assert_eq!(is_upgrade_request(&headers(pairs)), *want, "{pairs:?}");
        }
    }

    #[test]
    fn the_backend_gets_the_clients_headers_with_its_own_host() {
        let client = headers(&[
            ("host", "apiserver:6443"),
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("sec-websocket-protocol", "v5.channel.k8s.io"),
            ("content-length", "0"),
        ]);
        let sent = backend_headers(&client, "10.0.0.5:10250");
        assert_eq!(sent[header::HOST], "10.0.0.5:10250");
        assert_eq!(sent[header::SEC_WEBSOCKET_KEY], "dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(sent[header::SEC_WEBSOCKET_PROTOCOL], "v5.channel.k8s.io");
        assert_eq!(sent[header::UPGRADE], "websocket");
        assert!(!sent.contains_key(header::CONTENT_LENGTH));
    }
}
