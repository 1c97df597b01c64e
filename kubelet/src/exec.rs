//! `/exec/{namespace}/{pod}/{container}` and `/attach/{namespace}/{pod}/{container}`: exec and
//! attach sessions, as upstream's kubelet serves them.
//!
//! The query names the command (`command`, repeated; exec only) and the streams: `input`,
//! `output`, `error` and `tty` as the apiserver sends them (upstream's names), or `stdin`,
//! `stdout`, `stderr`, each `1` to ask for it. The kubelet resolves the running container, asks
//! the runtime for an Exec or Attach URL over CRI, and proxies the client's WebSocket upgrade to
//! the runtime's streaming server, which speaks the remotecommand protocol itself. An attach
//! session's tty is the container's own (its spec's `tty`, as upstream's `GetAttach`): whether
//! the process runs on a terminal was settled when it started. Errors before the upgrade are
//! plain-text answers with upstream's wording and codes.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use k8s_openapi::api::core::v1::Pod;
use tinykube_component_base::query::pairs as query_pairs;
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

/// Reads an exec or attach query (upstream's remotecommand `NewOptions` serves both; attach
/// has no command). As upstream, a stream is requested with `1` (we also take `true`),
/// stderr is dropped under a tty (the terminal carries both), and at least one stream is
/// needed.
pub fn parse_exec_query(query: Option<&str>) -> Result<ExecOptions, String> {
    let mut options = ExecOptions::default();
    for (key, value) in query_pairs(query.unwrap_or("")) {
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

/// The id of the running instance of `container` in pod `namespace/name`; `None` when it is
/// not running.
async fn running_container(
    k: &Kubelet,
    namespace: &str,
    name: &str,
    container: &str,
) -> Result<Option<String>, Response> {
    Ok(observe_pod(k, namespace, name, None)
        .await?
        .latest(container)
        .filter(|c| c.state == CState::Running)
        .map(|c| c.id.clone()))
}

/// Which session a streaming request opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    Exec,
    Attach,
}

impl StreamKind {
    fn name(self) -> &'static str {
        match self {
            StreamKind::Exec => "exec",
            StreamKind::Attach => "attach",
        }
    }
}

/// The CRI Attach request for `options` on the container `container_id`, whose spec asks for a
/// terminal when `container_tty`. The tty is the container's, whatever the client asked; under
/// a tty stderr is dropped, the terminal carrying both streams (the runtime refuses both).
pub fn attach_request(
    container_id: String,
    options: &ExecOptions,
    container_tty: bool,
) -> cri::AttachRequest {
    cri::AttachRequest {
        container_id,
        stdin: options.stdin,
        tty: container_tty,
        stdout: options.stdout,
        stderr: options.stderr && !container_tty,
    }
}

/// The `tty` of container `name` in `pod`'s spec (regular, init or ephemeral), `None` when the
/// pod has no such container.
pub fn container_tty(pod: &Pod, name: &str) -> Option<bool> {
    let spec = pod.spec.as_ref()?;
    let regular = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find(|c| c.name == name)
        .map(|c| c.tty);
    let ephemeral = || {
        spec.ephemeral_containers
            .iter()
            .flatten()
            .find(|c| c.name == name)
            .map(|c| c.tty)
    };
    regular.or_else(ephemeral).map(|tty| tty.unwrap_or(false))
}

/// Asks the runtime for the URL of a `kind` session on `container` of pod `namespace/pod`.
async fn stream_url(
    k: &Kubelet,
    kind: StreamKind,
    (namespace, pod, container): (&str, &str, &str),
    options: ExecOptions,
) -> Result<String, Response> {
    let running = running_container(k, namespace, pod, container).await?;
    let mut rt = k.cri.rt();
    let answer = match kind {
        StreamKind::Exec => {
            let container_id = running.ok_or_else(|| {
                error(
                    StatusCode::NOT_FOUND,
                    format!("container not found ({container:?})"),
                )
            })?;
            rt.exec(cri::ExecRequest {
                container_id,
                cmd: options.command,
                tty: options.tty,
                stdin: options.stdin,
                stdout: options.stdout,
                stderr: options.stderr,
            })
            .await
            .map(|r| r.into_inner().url)
        }
        StreamKind::Attach => {
            // Upstream names the pod by its full name here (`name_namespace`).
            let missing = || {
                error(
                    StatusCode::NOT_FOUND,
                    format!("container {container} not found in pod {pod}_{namespace}"),
                )
            };
            let container_id = running.ok_or_else(missing)?;
            let tty = k
                .with_pod_named(namespace, pod, |_, p| container_tty(p, container))
                .flatten()
                .ok_or_else(missing)?;
            rt.attach(attach_request(container_id, &options, tty))
                .await
                .map(|r| r.into_inner().url)
        }
    };
    answer.map_err(cri_error)
}

/// One exec or attach request: checks the query and the upgrade, gets the session's URL from
/// the runtime and passes the client's WebSocket through to it.
async fn serve_stream(
    k: &Kubelet,
    kind: StreamKind,
    (namespace, pod, container): (&str, &str, &str),
    mut request: Request<Body>,
) -> Response {
    let options = match parse_exec_query(request.uri().query()) {
        Ok(options) => options,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    // The container and the runtime are asked first, as upstream does before any upgrade: a
    // client falling back to SPDY (the real kubectl, after any refusal of its WebSocket)
    // then hears the same reason again, not only that SPDY is not spoken here.
    let url = match stream_url(k, kind, (namespace, pod, container), options).await {
        Ok(url) => url,
        Err(response) => return response,
    };
    if !is_websocket(request.headers()) {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "{} streams need a WebSocket upgrade (v5.channel.k8s.io or v4.channel.k8s.io); SPDY is not supported",
                kind.name()
            ),
        );
    }
    tracing::debug!(pod = %format!("{namespace}/{pod}"), %container, %url, "proxying {}", kind.name());
    proxy_to_runtime(&mut request, &url).await
}

/// `GET|POST /exec/{namespace}/{pod}/{container}` (`kind` [`StreamKind::Exec`]) and
/// `/attach/{namespace}/{pod}/{container}` ([`StreamKind::Attach`]: the container's own stdio).
pub async fn stream(
    kind: StreamKind,
    State(k): State<Arc<Kubelet>>,
    Path((namespace, pod, container)): Path<(String, String, String)>,
    request: Request<Body>,
) -> Response {
    serve_stream(&k, kind, (&namespace, &pod, &container), request).await
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
    }

    #[test]
    fn attach_takes_the_containers_tty() {
        let options = |stdin, stdout, stderr| ExecOptions {
            stdin,
            stdout,
            stderr,
            ..Default::default()
        };
        let request = |stdin, tty, stdout, stderr| cri::AttachRequest {
            container_id: "c1".into(),
            stdin,
            tty,
            stdout,
            stderr,
        };
        // (asked for, container tty) -> what the runtime is asked.
        let cases = [
            (
                options(true, true, false),
                true,
                request(true, true, true, false),
            ),
            // `kubectl attach` without -i on a tty container: stdout and stderr asked, no tty.
            (
                options(false, true, true),
                true,
                request(false, true, true, false),
            ),
            (
                options(false, true, true),
                false,
                request(false, false, true, true),
            ),
            (
                options(true, false, false),
                false,
                request(true, false, false, false),
            ),
        ];
        for (i, (asked, tty, want)) in cases.into_iter().enumerate() {
            assert_eq!(attach_request("c1".into(), &asked, tty), want, "case {i}");
        }
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {
                "containers": [{"name": "shell", "tty": true, "stdin": true}, {"name": "plain"}],
                "initContainers": [{"name": "setup", "tty": true}],
                "ephemeralContainers": [{"name": "debug", "tty": true}],
            },
        }))
        .unwrap();
        let ttys: Vec<Option<bool>> = ["shell", "plain", "setup", "debug", "nope"]
            .iter()
            .map(|name| container_tty(&pod, name))
            .collect();
        assert_eq!(
            ttys,
            [Some(true), Some(false), Some(true), Some(true), None]
        );
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
