//! `/portForward/{namespace}/{pod}[/{uid}]`: a port-forward session, as upstream's kubelet
//! serves it.
//!
//! The query names the ports (`port`, repeated or comma-separated, upstream's `NewV4Options`),
//! except for SPDY tunnelled in WebSocket (`SPDY/3.1+portforward.k8s.io`, the real kubectl's),
//! whose streams name their ports. The kubelet finds the pod's ready sandbox, asks the runtime
//! for a PortForward URL over CRI, and proxies the client's WebSocket upgrade to the runtime's
//! streaming server, which speaks the port-forward protocols itself. Errors before the upgrade
//! are plain-text answers with upstream's wording and codes; a plain SPDY upgrade (kubectl's
//! fallback) is refused.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use tinykube_component_base::query::pairs as query_pairs;
use tinykube_cri_proto::v1 as cri;

use crate::exec::{cri_error, error, is_websocket, observe_pod, proxy_to_runtime};
use crate::Kubelet;

/// The ports of a port-forward query, as upstream's `NewV4Options` reads them for a WebSocket
/// request: at least one `port`, each value a comma-separated list of ports 1-65535.
pub fn parse_port_query(query: Option<&str>) -> Result<Vec<i32>, String> {
    let values: Vec<String> = query_pairs(query.unwrap_or(""))
        .into_iter()
        .filter_map(|(key, value)| (key == "port").then_some(value))
        .collect();
    if values.is_empty() {
        return Err("query parameter \"port\" is required".into());
    }
    let mut ports = Vec::new();
    for value in &values {
        if value.is_empty() {
            return Err("query parameter \"port\" cannot be empty".into());
        }
        for part in value.split(',') {
            let port: u16 = part
                .parse()
                .map_err(|e| format!("unable to parse {value:?} as a port: {e}"))?;
            if port < 1 {
                return Err(format!("port {value:?} must be > 0"));
            }
            ports.push(i32::from(port));
        }
    }
    Ok(ports)
}

/// The subprotocol of SPDY tunnelled in WebSocket messages (the real kubectl's).
pub const SPDY_TUNNEL_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";

/// Whether the client offers the SPDY tunnel.
fn offers_spdy_tunnel(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|name| name.trim() == SPDY_TUNNEL_PROTOCOL)
}

/// The id of the ready sandbox of pod `namespace/name` (and uid `uid`, when given).
async fn ready_sandbox(
    k: &Kubelet,
    namespace: &str,
    name: &str,
    uid: Option<&str>,
) -> Result<String, Response> {
    observe_pod(k, namespace, name, uid)
        .await?
        .sandbox()
        .filter(|s| s.ready)
        .map(|s| s.id.clone())
        .ok_or_else(|| {
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("failed to find sandboxID for pod {namespace}/{name}"),
            )
        })
}

/// `GET|POST /portForward/{namespace}/{pod}`.
pub async fn port_forward(
    State(k): State<Arc<Kubelet>>,
    Path((namespace, pod)): Path<(String, String)>,
    request: Request<Body>,
) -> Response {
    serve(k, namespace, pod, None, request).await
}

/// `GET|POST /portForward/{namespace}/{pod}/{uid}`.
pub async fn port_forward_uid(
    State(k): State<Arc<Kubelet>>,
    Path((namespace, pod, uid)): Path<(String, String, String)>,
    request: Request<Body>,
) -> Response {
    serve(k, namespace, pod, Some(uid), request).await
}

async fn serve(
    k: Arc<Kubelet>,
    namespace: String,
    pod: String,
    uid: Option<String>,
    mut request: Request<Body>,
) -> Response {
    if !is_websocket(request.headers()) {
        return error(
            StatusCode::BAD_REQUEST,
            "port-forward needs a WebSocket upgrade (v4.channel.k8s.io or SPDY/3.1+portforward.k8s.io); plain SPDY is not supported",
        );
    }
    // SPDY clients name their ports per stream; upstream reads the query only for WebSocket
    // channel sessions, and the SPDY tunnel is a WebSocket here.
    let ports = if offers_spdy_tunnel(request.headers()) {
        Vec::new()
    } else {
        match parse_port_query(request.uri().query()) {
            Ok(ports) => ports,
            Err(message) => return error(StatusCode::BAD_REQUEST, message),
        }
    };
    let sandbox = match ready_sandbox(&k, &namespace, &pod, uid.as_deref()).await {
        Ok(id) => id,
        Err(response) => return response,
    };
    let url = match k
        .cri
        .rt()
        .port_forward(cri::PortForwardRequest {
            pod_sandbox_id: sandbox,
            port: ports,
        })
        .await
    {
        Ok(response) => response.into_inner().url,
        Err(status) => return cri_error(status),
    };
    tracing::debug!(pod = %format!("{namespace}/{pod}"), %url, "proxying port-forward");
    proxy_to_runtime(&mut request, &url).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_queries_follow_upstreams_rules() {
        type Case<'a> = (Option<&'a str>, Result<Vec<i32>, &'a str>);
        let cases: &[Case] = &[
            (Some("port=80"), Ok(vec![80])),
            (Some("port=80&port=8080"), Ok(vec![80, 8080])),
            (Some("port=80%2C8080&port=1"), Ok(vec![80, 8080, 1])),
            (Some("port=65535"), Ok(vec![65535])),
            (None, Err("query parameter \"port\" is required")),
            (Some("ports=80"), Err("query parameter \"port\" is required")),
            (Some("port="), Err("query parameter \"port\" cannot be empty")),
            (Some("port=0"), Err("port \"0\" must be > 0")),
            (
                Some("port=http"),
                Err("unable to parse \"http\" as a port: invalid digit found in string"),
            ),
            (
                Some("port=80,65536"),
                Err("unable to parse \"80,65536\" as a port: number too large to fit in target type"),
            ),
        ];
        for (query, want) in cases {
            let want = want.clone().map_err(String::from);
            assert_eq!(parse_port_query(*query), want, "{query:?}");
        }
    }

    #[test]
    fn only_websocket_upgrades_are_taken() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(*name, value.parse().unwrap());
            }
            map
        };
        assert!(is_websocket(&headers(&[
            ("connection", "Upgrade"),
            ("upgrade", "websocket")
        ])));
        assert!(!is_websocket(&headers(&[
            ("connection", "Upgrade"),
            ("upgrade", "SPDY/3.1")
        ])));
        assert!(!is_websocket(&headers(&[("upgrade", "websocket")])));
        assert!(offers_spdy_tunnel(&headers(&[(
            "sec-websocket-protocol",
            "SPDY/3.1+portforward.k8s.io"
        )])));
        assert!(!offers_spdy_tunnel(&headers(&[(
            "sec-websocket-protocol",
            "v5.channel.k8s.io, v4.channel.k8s.io"
        )])));
    }
}
