//! `/exec/{namespace}/{pod}/{container}`: an exec session, as upstream's kubelet serves it.
//!
//! The query names the command (`command`, repeated) and the streams: `input`, `output`,
//! `error` and `tty` as the apiserver sends them (upstream's names), or `stdin`, `stdout`,
//! `stderr`, each `1` to ask for it. The kubelet resolves the running container, asks the
//! runtime for an Exec URL over CRI, and proxies the client's WebSocket upgrade to the
//! runtime's streaming server, which speaks the remotecommand protocol itself. Errors before
//! the upgrade are plain-text answers with upstream's wording and codes.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tinykube_component_base::upgrade;
use tinykube_cri_proto::v1 as cri;

use crate::actions::{CState, ObservedPod};
use crate::Kubelet;

/// What an exec request asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOptions {
    pub command: Vec<String>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

/// Reads an exec query. As upstream, a stream is requested with `1` (we also take `true`),
/// stderr is dropped under a tty (the terminal carries both), and at least one stream is
/// needed.
pub fn parse_exec_query(query: Option<&str>) -> Result<ExecOptions, String> {
    let mut options = ExecOptions::default();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (key, value) = (percent_decode(key), percent_decode(value));
        let on = value == "1" || value == "true";
        match key.as_str() {
            "command" => options.command.push(value),
            "input" | "stdin" => options.stdin |= on,
            "output" | "stdout" => options.stdout |= on,
            "error" | "stderr" => options.stderr |= on,
            "tty" => options.tty |= on,
            _ => {}
        }
    }
    if options.tty {
        options.stderr = false;
    }
    if !options.stdin && !options.stdout && !options.stderr {
        return Err("you must specify at least 1 of stdin, stdout, stderr".into());
    }
    Ok(options)
}

/// Decodes a `application/x-www-form-urlencoded` component (`+` is a space); malformed
/// escapes stay as they are.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                bytes.get(i + 1).and_then(hex),
                bytes.get(i + 2).and_then(hex),
            ) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(digit: &u8) -> Option<u8> {
    (*digit as char).to_digit(16).map(|d| d as u8)
}

/// `host:port` and path of a streaming URL from the runtime (`http://host:port/path`).
pub fn split_stream_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("http://")?;
    let at = rest.find('/')?;
    let (host, path) = rest.split_at(at);
    (!host.is_empty()).then_some((host, path))
}

pub(crate) fn error(code: StatusCode, message: impl Into<String>) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message.into(),
    )
        .into_response()
}

/// The CRI error as upstream's streaming error writer answers it: NotFound is 404, a bad
/// request 400, the rest 500.
pub(crate) fn cri_error(status: tonic::Status) -> Response {
    let code = match status.code() {
        tonic::Code::NotFound => StatusCode::NOT_FOUND,
        tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(code, status.message().to_string())
}

/// Whether `headers` ask for a WebSocket upgrade.
pub(crate) fn is_websocket(headers: &HeaderMap) -> bool {
    upgrade::is_upgrade_request(headers)
        && headers
            .get(header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// What the runtime holds of pod `namespace/name` (and uid `uid`, when given), or the answer
/// when the pod is not this kubelet's or the runtime cannot tell.
pub(crate) async fn observe_pod(
    k: &Kubelet,
    namespace: &str,
    name: &str,
    uid: Option<&str>,
) -> Result<ObservedPod, Response> {
    let pod_uid = k
        .with_pod_named(namespace, name, |uid, _| uid.to_string())
        .ok_or_else(|| error(StatusCode::NOT_FOUND, "pod does not exist"))?;
    if uid.is_some_and(|uid| uid != pod_uid) {
        return Err(error(StatusCode::NOT_FOUND, "pod not found"));
    }
    k.cri.relist_pod(&pod_uid).await.map_err(|e| {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("container runtime: {e}"),
        )
    })
}

/// Passes the client's upgrade through to the runtime's streaming server at `url`, the
/// answer of a CRI `Exec` or `PortForward`.
pub(crate) async fn proxy_to_runtime(request: &mut Request<Body>, url: &str) -> Response {
    let Some((backend, path)) = split_stream_url(url) else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the runtime answered an unusable stream URL {url:?}"),
        );
    };
    let client = upgrade::client_upgrade(request);
    match upgrade::proxy_upgrade(client, request.method(), request.headers(), backend, path).await {
        Ok(response) => response,
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("error dialing backend: {e}"),
        ),
    }
}

/// The id of the running instance of `container` in pod `namespace/name`.
async fn running_container(
    k: &Kubelet,
    namespace: &str,
    name: &str,
    container: &str,
) -> Result<String, Response> {
    observe_pod(k, namespace, name, None)
        .await?
        .latest(container)
        .filter(|c| c.state == CState::Running)
        .map(|c| c.id.clone())
        .ok_or_else(|| {
            error(
                StatusCode::NOT_FOUND,
                format!("container not found ({container:?})"),
            )
        })
}

/// `GET|POST /exec/{namespace}/{pod}/{container}`.
pub async fn exec(
    State(k): State<Arc<Kubelet>>,
    Path((namespace, pod, container)): Path<(String, String, String)>,
    mut request: Request<Body>,
) -> Response {
    let options = match parse_exec_query(request.uri().query()) {
        Ok(options) => options,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    if !is_websocket(request.headers()) {
        return error(
            StatusCode::BAD_REQUEST,
            "exec streams need a WebSocket upgrade (v5.channel.k8s.io or v4.channel.k8s.io); SPDY is not supported",
        );
    }
    let container_id = match running_container(&k, &namespace, &pod, &container).await {
        Ok(id) => id,
        Err(response) => return response,
    };
    let url = match k
        .cri
        .rt()
        .exec(cri::ExecRequest {
            container_id,
            cmd: options.command,
            tty: options.tty,
            stdin: options.stdin,
            stdout: options.stdout,
            stderr: options.stderr,
        })
        .await
    {
        Ok(response) => response.into_inner().url,
        Err(status) => return cri_error(status),
    };
    tracing::debug!(pod = %format!("{namespace}/{pod}"), %container, %url, "proxying exec");
    proxy_to_runtime(&mut request, &url).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_queries_read_upstreams_and_our_names() {
        let cmd = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let cases: &[(&str, Result<ExecOptions, &str>)] = &[
            (
                "command=sh&command=-c&command=echo+hi%3B+exit+3&output=1&error=1",
                Ok(ExecOptions {
                    command: cmd(&["sh", "-c", "echo hi; exit 3"]),
                    stdout: true,
                    stderr: true,
                    ..Default::default()
                }),
            ),
            (
                "command=cat&stdin=1&stdout=1&stderr=1",
                Ok(ExecOptions {
                    command: cmd(&["cat"]),
                    stdin: true,
                    stdout: true,
                    stderr: true,
                    ..Default::default()
                }),
            ),
            (
                "command=sh&input=1&output=1&error=1&tty=1",
                Ok(ExecOptions {
                    command: cmd(&["sh"]),
                    stdin: true,
                    stdout: true,
                    tty: true,
                    ..Default::default()
                }),
            ),
            (
                "command=ls&output=0",
                Err("you must specify at least 1 of stdin, stdout, stderr"),
            ),
            (
                "command=ls&tty=1&error=1",
                Err("you must specify at least 1 of stdin, stdout, stderr"),
            ),
        ];
        for (query, want) in cases {
            let want = want.clone().map_err(String::from);
            assert_eq!(parse_exec_query(Some(query)), want, "{query}");
        }
        assert_eq!(percent_decode("a%2Fb%zz%4"), "a/b%zz%4");
        assert_eq!(percent_decode("%C3%A9t%C3%A9%"), "été%");
    }

    #[test]
    fn stream_urls_split_into_backend_and_path() {
        assert_eq!(
            split_stream_url("http://127.0.0.1:41234/exec/abc"),
            Some(("127.0.0.1:41234", "/exec/abc"))
        );
        assert_eq!(split_stream_url("https://x/exec"), None);
        assert_eq!(split_stream_url("http:///exec"), None);
        assert_eq!(split_stream_url("http://host-only"), None);
    }
}
