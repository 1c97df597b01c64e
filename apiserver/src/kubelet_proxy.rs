//! `pods/<name>/log`: the apiserver asks the kubelet of the pod's node for the container's log
//! and streams its answer back, as upstream's pod log REST does. The kubelet is found through
//! the Node: its InternalIP and `status.daemonEndpoints.kubeletEndpoint.Port`.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::time::Duration;
use tinykube_apimachinery::status::{ApiError, FieldError};

/// The kubelet port when the Node does not name one.
const DEFAULT_KUBELET_PORT: u64 = 10250;
/// How long connecting to a kubelet may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The query parameters of `pods/log` the kubelet understands.
const LOG_PARAMETERS: &[&str] = &[
    "follow",
    "tailLines",
    "previous",
    "timestamps",
    "limitBytes",
    "sinceSeconds",
    "sinceTime",
];

/// Which container of `pod` a log request means: the named one, or the only one.
pub fn choose_container(pod: &Value, requested: Option<&str>) -> Result<String, ApiError> {
    let name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let names: Vec<&str> = ["containers", "initContainers"]
        .iter()
        .flat_map(|list| {
            pod.pointer(&format!("/spec/{list}"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| c.get("name").and_then(Value::as_str))
        })
        .collect();
    match requested.filter(|c| !c.is_empty()) {
        Some(container) if names.contains(&container) => Ok(container.to_string()),
        Some(container) => Err(ApiError::bad_request(format!(
            "container {container} is not valid for pod {name}"
        ))),
        None => {
            let app: Vec<&str> = pod
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| c.get("name").and_then(Value::as_str))
                .collect();
            match app.as_slice() {
                [only] => Ok(only.to_string()),
                _ => Err(ApiError::bad_request(format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    app.join(" ")
                ))),
            }
        }
    }
}

/// `host:port` of the kubelet on `node`.
pub fn kubelet_address(node: &Value) -> Option<String> {
    let ip = node
        .pointer("/status/addresses")
        .and_then(Value::as_array)?
        .iter()
        .find(|a| a.get("type").and_then(Value::as_str) == Some("InternalIP"))?
        .get("address")?
        .as_str()?;
    let port = node
        .pointer("/status/daemonEndpoints/kubeletEndpoint/Port")
        .and_then(Value::as_u64)
        .filter(|p| (1..=65535).contains(p))
        .unwrap_or(DEFAULT_KUBELET_PORT);
    Some(format!("{ip}:{port}"))
}

/// The kubelet path for one container's log, with the request's log options passed on.
pub fn log_path(
    namespace: &str,
    pod: &str,
    container: &str,
    params: &[(String, String)],
) -> String {
    let query: Vec<String> = params
        .iter()
        .filter(|(k, _)| LOG_PARAMETERS.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    let mut path = format!("/containerLogs/{namespace}/{pod}/{container}");
    if !query.is_empty() {
        path.push('?');
        path.push_str(&query.join("&"));
    }
    path
}

fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Streams the kubelet's answer for `path` on `address` back to the client.
pub async fn stream_from_kubelet(address: &str, path: &str) -> Result<Response, ApiError> {
    let unreachable = |e: &dyn std::fmt::Display| {
        ApiError::service_unavailable(format!("cannot reach the kubelet at {address}: {e}"))
    };
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(address))
        .await
        .map_err(|e| unreachable(&e))?
        .map_err(|e| unreachable(&e))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| unreachable(&e))?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "kubelet log stream ended");
        }
    });
    let request = Request::get(path)
        .header(header::HOST, address)
        .body(Body::empty())
        .map_err(|e| ApiError::internal(&e.to_string()))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| unreachable(&e))?;
    let status = response.status();
    if status == StatusCode::NOT_FOUND {
        return Err(ApiError::not_found(
            "",
            "containers",
            path.rsplit('/').next().unwrap_or(""),
        ));
    }
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .cloned()
        .unwrap_or(header::HeaderValue::from_static("text/plain"));
    Ok((
        status,
        [(header::CONTENT_TYPE, content_type)],
        Body::new(response.into_body()),
    )
        .into_response())
}

/// A request for a log of a pod that has no node yet.
pub fn not_scheduled(pod: &str) -> ApiError {
    ApiError::bad_request(format!("pod {pod} does not have a host assigned"))
}

/// A node whose kubelet address is unknown.
pub fn no_address(node: &str) -> ApiError {
    ApiError::invalid(
        "",
        "Node",
        node,
        vec![FieldError::required(
            "status.addresses",
            "the node reports no InternalIP",
        )],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_container_is_the_named_or_the_only_one() {
        let one = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "web"}], "initContainers": [{"name": "init"}]}});
        let two = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        let cases: &[(&Value, Option<&str>, Result<&str, &str>)] = &[
            (&one, None, Ok("web")),
            (&one, Some("init"), Ok("init")),
            (
                &one,
                Some("nope"),
                Err("container nope is not valid for pod p"),
            ),
            (&two, None, Err("choose one of: [a b]")),
            (&two, Some("b"), Ok("b")),
        ];
        for (pod, requested, expected) in cases {
            match (choose_container(pod, *requested), expected) {
                (Ok(got), Ok(want)) => assert_eq!(got, *want),
                (Err(e), Err(fragment)) => assert!(e.message.contains(fragment), "{}", e.message),
                (got, want) => panic!("{requested:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn kubelet_address_and_log_path_follow_the_node_and_request() {
        let node = json!({"status": {"addresses": [{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "10.0.0.5"}],
                                     "daemonEndpoints": {"kubeletEndpoint": {"Port": 10251}}}});
        assert_eq!(kubelet_address(&node).as_deref(), Some("10.0.0.5:10251"));
        let bare =
            json!({"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.6"}]}});
        assert_eq!(kubelet_address(&bare).as_deref(), Some("10.0.0.6:10250"));
        assert_eq!(kubelet_address(&json!({})), None);
        let params = vec![
            ("follow".to_string(), "true".to_string()),
            ("tailLines".to_string(), "10".to_string()),
            ("container".to_string(), "web".to_string()),
            ("sinceTime".to_string(), "2026-01-01T00:00:00Z".to_string()),
        ];
        assert_eq!(
            log_path("default", "p", "web", &params),
            "/containerLogs/default/p/web?follow=true&tailLines=10&sinceTime=2026-01-01T00:00:00Z"
        );
        assert_eq!(
            log_path("default", "p", "web", &[]),
            "/containerLogs/default/p/web"
        );
    }
}
