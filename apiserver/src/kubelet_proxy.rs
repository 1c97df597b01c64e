//! `pods/<name>/log`: the apiserver asks the kubelet of the pod's node for the container's log
//! and streams its answer back, as upstream's pod log REST does. The kubelet is found through
//! the Node: its InternalIP and `status.daemonEndpoints.kubeletEndpoint.Port`.
//!
//! `pods/<name>/exec` goes the same way to the kubelet's `/exec/{ns}/{pod}/{container}`, with
//! upstream's query (`command`, `input`, `output`, `error`, `tty`), and the client's connection
//! upgrade (WebSocket, subprotocol included) is proxied to it as is; `pods/<name>/attach`
//! likewise to `/attach/{ns}/{pod}/{container}` (the same query without a command) and
//! `pods/<name>/portforward` to `/portForward/{ns}/{pod}?port=...`.

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

/// Which container of `pod` a log, exec or attach request means: the named one (a regular,
/// init or ephemeral container), or the only regular one, with upstream's wording otherwise.
pub fn choose_container(pod: &Value, requested: Option<&str>) -> Result<String, ApiError> {
    let name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let names = |list: &str| -> Vec<&str> {
        pod.pointer(&format!("/spec/{list}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("name").and_then(Value::as_str))
            .collect()
    };
    let (app, init) = (names("containers"), names("initContainers"));
    match requested.filter(|c| !c.is_empty()) {
        Some(container)
            if app.contains(&container)
                || init.contains(&container)
                || names("ephemeralContainers").contains(&container) =>
        {
            Ok(container.to_string())
        }
        Some(container) => Err(ApiError::bad_request(format!(
            "container {container} is not valid for pod {name}"
        ))),
        None => match app.as_slice() {
            [only] => Ok(only.to_string()),
            [] => Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}"
            ))),
            _ => {
                let mut message = format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    app.join(" ")
                );
                if !init.is_empty() {
                    message.push_str(&format!(
                        " or one of the init containers: [{}]",
                        init.join(" ")
                    ));
                }
                Err(ApiError::bad_request(message))
            }
        },
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

/// How much of a kubelet's error answer is kept (upstream's response checker reads 4 KiB).
const MAX_ERROR_BODY: usize = 4096;

/// The `Status` for a kubelet's failure answer to `path`, as upstream's
/// `GenericHttpResponseChecker` makes it: the kubelet's text becomes the message of a
/// BadRequest (400) or an InternalError (500); a 404 names the container.
pub fn kubelet_error(status: StatusCode, body: &str, path: &str) -> ApiError {
    let body = body.trim_end();
    match status.as_u16() {
        400 => ApiError::bad_request(body),
        500 => ApiError::internal(body),
        404 => {
            let container = path.split('?').next().unwrap_or(path);
            ApiError::not_found("", "containers", container.rsplit('/').next().unwrap_or(""))
        }
        code => ApiError::new(
            code,
            tinykube_apimachinery::status::Reason::Unknown,
            format!("the server responded with the status code {code} but did not return more information: {body}"),
        ),
    }
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
    if !(200..=206).contains(&status.as_u16()) {
        let body = tokio::time::timeout(
            CONNECT_TIMEOUT,
            axum::body::to_bytes(Body::new(response.into_body()), 64 * 1024),
        )
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
        let limit = body.len().min(MAX_ERROR_BODY);
        return Err(kubelet_error(
            status,
            &String::from_utf8_lossy(&body[..limit]),
            path,
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

/// What a `pods/exec` or `pods/attach` request asks for (upstream's `PodExecOptions` and
/// `PodAttachOptions`, the latter without a command).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOptions {
    pub container: Option<String>,
    pub command: Vec<String>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

/// A query boolean as Go's `strconv.ParseBool` reads it.
fn parse_bool(key: &str, value: &str) -> Result<bool, ApiError> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(ApiError::bad_request(format!(
            "strconv.ParseBool: parsing {value:?}: invalid syntax for {key}"
        ))),
    }
}

/// Reads the query of `pods/attach`: the container and the streams (a `command` is ignored).
pub fn attach_options(params: &[(String, String)]) -> Result<ExecOptions, ApiError> {
    let mut options = ExecOptions::default();
    for (key, value) in params {
        match key.as_str() {
            "command" => options.command.push(value.clone()),
            "container" => options.container = Some(value.clone()).filter(|c| !c.is_empty()),
            "stdin" => options.stdin = parse_bool(key, value)?,
            "stdout" => options.stdout = parse_bool(key, value)?,
            "stderr" => options.stderr = parse_bool(key, value)?,
            "tty" => options.tty = parse_bool(key, value)?,
            _ => {}
        }
    }
    Ok(options)
}

/// Reads the query of `pods/exec`; a command is required.
pub fn exec_options(params: &[(String, String)]) -> Result<ExecOptions, ApiError> {
    let options = attach_options(params)?;
    if options.command.is_empty() {
        return Err(ApiError::bad_request(
            "you must specify at least one command for the container",
        ));
    }
    Ok(options)
}

/// The kubelet path of an exec (`kind` "exec") or attach ("attach") session, with the query
/// upstream's apiserver sends (keys in `url.Values.Encode` order; attach has no command).
pub fn stream_path(
    kind: &str,
    namespace: &str,
    pod: &str,
    container: &str,
    options: &ExecOptions,
) -> String {
    let mut query: Vec<String> = options
        .command
        .iter()
        .filter(|_| kind == "exec")
        .map(|c| format!("command={}", encode(c)))
        .collect();
    for (on, key) in [
        (options.stderr, "error"),
        (options.stdin, "input"),
        (options.stdout, "output"),
        (options.tty, "tty"),
    ] {
        if on {
            query.push(format!("{key}=1"));
        }
    }
    let mut path = format!(
        "/{kind}/{}/{}/{}",
        encode(namespace),
        encode(pod),
        encode(container)
    );
    if !query.is_empty() {
        path.push('?');
        path.push_str(&query.join("&"));
    }
    path
}

/// The ports of a `pods/portforward` request (upstream's `PodPortForwardOptions.ports`): each
/// `ports` value one port or a comma-separated list of them (kube-rs sends `ports=80,1234`).
/// None at all is fine here: SPDY clients name their ports per stream.
pub fn port_forward_ports(params: &[(String, String)]) -> Result<Vec<u16>, ApiError> {
    let mut ports = Vec::new();
    for (key, value) in params.iter().filter(|(k, _)| k == "ports") {
        for part in value.split(',') {
            let port = part
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|&p| p > 0)
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "invalid {key} {part:?}: a port is a number between 1 and 65535"
                    ))
                })?;
            ports.push(port);
        }
    }
    Ok(ports)
}

/// The kubelet path of a port-forward session, with the query upstream's apiserver sends (the
/// ports joined in one `port` value).
pub fn port_forward_path(namespace: &str, pod: &str, ports: &[u16]) -> String {
    let mut path = format!("/portForward/{}/{}", encode(namespace), encode(pod));
    if !ports.is_empty() {
        let list: Vec<String> = ports.iter().map(u16::to_string).collect();
        path.push_str("?port=");
        path.push_str(&encode(&list.join(",")));
    }
    path
}

/// Proxies the client's upgrade request (exec, port-forward) for `path` to the kubelet at
/// `address`.
pub async fn proxy_upgraded(
    upgrade: Option<tinykube_component_base::upgrade::OnUpgrade>,
    method: &axum::http::Method,
    headers: &axum::http::HeaderMap,
    address: &str,
    path: &str,
) -> Result<Response, ApiError> {
    use tinykube_component_base::upgrade;
    let upgrade = upgrade
        .filter(|_| upgrade::is_upgrade_request(headers))
        .ok_or_else(|| ApiError::bad_request("Upgrade request required"))?;
    upgrade::proxy_upgrade(upgrade, method, headers, address, path)
        .await
        .map_err(|e| ApiError::internal(&format!("error dialing backend: {e}")))
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

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_container_is_the_named_or_the_only_one() {
        let one = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "web"}], "initContainers": [{"name": "init"}]}});
        let two = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        let init = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}, {"name": "b"}],
                          "initContainers": [{"name": "i"}], "ephemeralContainers": [{"name": "debug"}]}});
        let none = json!({"metadata": {"name": "p"}, "spec": {}});
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
            (
                &init,
                None,
                Err("a container name must be specified for pod p, choose one of: [a b] or one of the init containers: [i]"),
            ),
            (&init, Some("debug"), Ok("debug")),
            (
                &none,
                None,
                Err("a container name must be specified for pod p"),
            ),
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
    fn exec_queries_become_the_kubelets() {
        let options = exec_options(&params(&[
            ("command", "sh"),
            ("command", "-c"),
            ("command", "echo a&b; exit 3"),
            ("container", "web"),
            ("stdin", "true"),
            ("stdout", "true"),
            ("stderr", "false"),
            ("tty", "1"),
        ]))
        .unwrap();
        assert_eq!(options.container.as_deref(), Some("web"));
        assert!(options.stdin && options.stdout && !options.stderr && options.tty);
        assert_eq!(
            stream_path("exec", "default", "p", "web", &options),
            "/exec/default/p/web?command=sh&command=-c&command=echo%20a%26b%3B%20exit%203&input=1&output=1&tty=1"
        );
        assert_eq!(
            stream_path("attach", "default", "p", "web", &options),
            "/attach/default/p/web?input=1&output=1&tty=1"
        );
        let missing = exec_options(&params(&[("stdout", "true")])).unwrap_err();
        assert_eq!(missing.code, 400);
        assert_eq!(
            missing.message,
            "you must specify at least one command for the container"
        );
        let bad = exec_options(&params(&[("command", "ls"), ("tty", "yes")])).unwrap_err();
        assert_eq!(bad.code, 400);
    }

    #[test]
    fn attach_queries_become_the_kubelets() {
        // kube-rs's query starts with an empty pair; upstream kubectl sends `container` too.
        let options = attach_options(&params(&[
            ("", ""),
            ("stdout", "true"),
            ("stderr", "true"),
            ("container", "main"),
        ]))
        .unwrap();
        assert_eq!(options.container.as_deref(), Some("main"));
        assert_eq!(
            stream_path("attach", "default", "p", "main", &options),
            "/attach/default/p/main?error=1&output=1"
        );
        let nothing = attach_options(&[]).unwrap();
        assert_eq!(
            stream_path("attach", "ns", "p", "c", &nothing),
            "/attach/ns/p/c"
        );
        let bad = attach_options(&params(&[("stdin", "yes")])).unwrap_err();
        assert_eq!(bad.code, 400);
    }

    #[test]
    fn kubelet_failures_become_statuses() {
        let path = "/containerLogs/default/p/web?previous=true";
        let message = "previous terminated container \"web\" in pod \"p\" not found";
        let bad = kubelet_error(StatusCode::BAD_REQUEST, &format!("{message}\n"), path);
        assert_eq!((bad.code, bad.message.as_str()), (400, message));
        let internal = kubelet_error(StatusCode::INTERNAL_SERVER_ERROR, "boom", path);
        assert_eq!(
            (internal.code, internal.message.as_str()),
            (500, "Internal error occurred: boom")
        );
        let missing = kubelet_error(StatusCode::NOT_FOUND, "", path);
        assert_eq!(missing.code, 404);
        assert!(missing.message.contains("\"web\""), "{}", missing.message);
        let other = kubelet_error(StatusCode::SERVICE_UNAVAILABLE, "busy", path);
        assert_eq!(other.code, 503);
        assert!(other.message.ends_with(": busy"), "{}", other.message);
    }

    #[test]
    fn port_forward_queries_become_the_kubelets() {
        type Case<'a> = (
            &'a [(&'a str, &'a str)],
            Result<(Vec<u16>, &'a str), &'a str>,
        );
        let cases: &[Case] = &[
            (
                &[("ports", "80,1234")],
                Ok((vec![80, 1234], "/portForward/default/p?port=80%2C1234")),
            ),
            (
                &[("ports", "80"), ("ports", "8080")],
                Ok((vec![80, 8080], "/portForward/default/p?port=80%2C8080")),
            ),
            (&[], Ok((vec![], "/portForward/default/p"))),
            (&[("ports", "0")], Err("invalid ports \"0\"")),
            (&[("ports", "http")], Err("invalid ports \"http\"")),
            (&[("ports", "80,70000")], Err("invalid ports \"70000\"")),
        ];
        for (pairs, want) in cases {
            match (port_forward_ports(&params(pairs)), want) {
                (Ok(ports), Ok((want_ports, want_path))) => {
                    assert_eq!(&ports, want_ports, "{pairs:?}");
                    assert_eq!(port_forward_path("default", "p", &ports), *want_path);
                }
                (Err(e), Err(fragment)) => {
                    assert_eq!(e.code, 400);
                    assert!(e.message.contains(fragment), "{}", e.message);
                }
                (got, want) => panic!("{pairs:?}: got {got:?}, want {want:?}"),
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
