//! The kubelet's HTTP port (upstream 10250, plain HTTP here): `/healthz`, `/metrics`, `/pods`
//! (the pods this kubelet runs, with the status it computed) and
//! `/containerLogs/{ns}/{pod}/{container}` (`follow`, `tailLines`, `previous`, `timestamps`)
//! read from the CRI log files, `/exec/{ns}/{pod}/{container}` and
//! `/attach/{ns}/{pod}/{container}` ([`crate::exec`]) and
//! `/portForward/{ns}/{pod}` ([`crate::portforward`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use k8s_openapi::api::core::v1::Pod;
use serde::Deserialize;
use tinykube_component_base::Endpoints;

use crate::exec::{stream, StreamKind};
use crate::{lock, Kubelet};

/// Health checks and metrics of the kubelet.
#[derive(Clone, Default)]
pub struct KubeletMetrics {
    pub endpoints: Endpoints,
}

/// The router of the kubelet port.
pub fn router(k: Arc<Kubelet>) -> Router {
    let health = k.metrics.endpoints.clone();
    let exec = |s, p, r| stream(StreamKind::Exec, s, p, r);
    let attach = |s, p, r| stream(StreamKind::Attach, s, p, r);
    let api = Router::new()
        .route("/pods", get(pods))
        .route("/pods/", get(pods))
        .route("/containerLogs/{ns}/{pod}/{container}", get(container_logs))
        .route("/exec/{ns}/{pod}/{container}", get(exec).post(exec))
        .route("/attach/{ns}/{pod}/{container}", get(attach).post(attach))
        .route(
            "/portForward/{ns}/{pod}",
            get(crate::portforward::port_forward).post(crate::portforward::port_forward),
        )
        .route(
            "/portForward/{ns}/{pod}/{uid}",
            get(crate::portforward::port_forward_uid).post(crate::portforward::port_forward_uid),
        )
        .with_state(k);
    api.merge(health.router())
}

pub(crate) async fn serve(k: Arc<Kubelet>, listener: tokio::net::TcpListener) {
    let shutdown = k.shutdown.clone();
    let kk = k.clone();
    k.metrics.endpoints.add_check("syncloop", move || {
        if kk.api_synced.load(std::sync::atomic::Ordering::Relaxed) {
            Ok(())
        } else {
            Err("pod sources not synced yet".into())
        }
    });
    let app = router(k);
    // Upgraded exec and port-forward streams carry small interactive writes: no Nagle delay.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
    {
        tracing::error!(error = %e, "kubelet server failed");
    }
}

async fn pods(State(k): State<Arc<Kubelet>>) -> Response {
    let mut items: Vec<Pod> = lock(&k.pod_status).values().cloned().collect();
    items.sort_by_key(crate::pod_key);
    let body =
        serde_json::json!({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items});
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogQuery {
    #[serde(default)]
    pub follow: Option<String>,
    #[serde(default)]
    pub previous: Option<String>,
    #[serde(default)]
    pub timestamps: Option<String>,
    #[serde(default)]
    pub tail_lines: Option<i64>,
    #[serde(default)]
    pub limit_bytes: Option<i64>,
}

fn truthy(v: &Option<String>) -> bool {
    v.as_deref()
        .is_some_and(|v| v.is_empty() || v == "true" || v == "1")
}

/// One CRI log line (`<RFC3339Nano> <stream> <F|P> <msg>`) as `kubectl logs` shows it.
pub fn format_line(line: &str, timestamps: bool) -> Option<String> {
    let mut parts = line.splitn(4, ' ');
    let ts = parts.next()?;
    let _stream = parts.next()?;
    let tag = parts.next()?;
    let msg = parts.next().unwrap_or("");
    let nl = if tag == "P" { "" } else { "\n" };
    Some(if timestamps {
        format!("{ts} {msg}{nl}")
    } else {
        format!("{msg}{nl}")
    })
}

/// The formatted log text of a file, optionally only the last `tail` lines.
pub fn render_log(content: &str, timestamps: bool, tail: Option<i64>) -> String {
    let lines: Vec<&str> = content.lines().collect();
    let start = match tail {
        Some(n) if n >= 0 => lines.len().saturating_sub(n as usize),
        _ => 0,
    };
    lines[start..]
        .iter()
        .filter_map(|l| format_line(l, timestamps))
        .collect()
}

fn log_file(
    k: &Kubelet,
    ns: &str,
    pod: &str,
    container: &str,
    previous: bool,
) -> Result<PathBuf, (StatusCode, String)> {
    let p = k.with_pod_named(ns, pod, |_, p| p.clone()).ok_or((
        StatusCode::NOT_FOUND,
        format!("pod {ns}/{pod} not found on this node"),
    ))?;
    let uid = p.metadata.uid.clone().unwrap_or_default();
    let st = p
        .status
        .and_then(|s| {
            s.container_statuses
                .into_iter()
                .flatten()
                .chain(s.init_container_statuses.into_iter().flatten())
                .find(|c| c.name == container)
        })
        .ok_or((
            StatusCode::NOT_FOUND,
            format!("container {container} is not valid for pod {pod}"),
        ))?;
    if st.container_id.is_none() {
        return Err((
            StatusCode::BAD_REQUEST,
            format!("container \"{container}\" in pod \"{pod}\" is waiting to start"),
        ));
    }
    let attempt = st.restart_count as i64 - if previous { 1 } else { 0 };
    if attempt < 0 {
        return Err((
            StatusCode::BAD_REQUEST,
            format!("previous terminated container \"{container}\" in pod \"{pod}\" not found"),
        ));
    }
    Ok(k.config
        .pod_logs_dir
        .join(format!("{ns}_{pod}_{uid}"))
        .join(container)
        .join(format!("{attempt}.log")))
}

async fn container_logs(
    State(k): State<Arc<Kubelet>>,
    Path((ns, pod, container)): Path<(String, String, String)>,
    Query(q): Query<LogQuery>,
) -> Response {
    let path = match log_file(&k, &ns, &pod, &container, truthy(&q.previous)) {
        Ok(p) => p,
        Err((code, msg)) => return (code, msg).into_response(),
    };
    let ts = truthy(&q.timestamps);
    let content = tokio::fs::read_to_string(&path).await.unwrap_or_default();
    let mut text = render_log(&content, ts, q.tail_lines);
    if let Some(limit) = q.limit_bytes.filter(|l| *l >= 0) {
        text.truncate((limit as usize).min(text.len()));
    }
    if !truthy(&q.follow) {
        return ([(header::CONTENT_TYPE, "text/plain")], text).into_response();
    }
    // Follow: the rest of the file as it grows, until the container stops or the client leaves.
    let offset = content.len();
    let uid_done = k.clone();
    let stream = futures::stream::unfold(
        (offset, String::new(), true, Some(text)),
        move |(mut off, mut partial, alive, first)| {
            let path = path.clone();
            let k = uid_done.clone();
            let (ns, pod, container) = (ns.clone(), pod.clone(), container.clone());
            async move {
                if let Some(t) = first {
                    return Some((Ok::<_, std::io::Error>(t), (off, partial, alive, None)));
                }
                if !alive {
                    return None;
                }
                loop {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let data = tokio::fs::read(&path).await.unwrap_or_default();
                    if data.len() > off {
                        partial.push_str(&String::from_utf8_lossy(&data[off..]));
                        off = data.len();
                        let mut out = String::new();
                        while let Some(i) = partial.find('\n') {
                            let line: String = partial.drain(..=i).collect();
                            if let Some(l) = format_line(line.trim_end_matches('\n'), ts) {
                                out.push_str(&l);
                            }
                        }
                        if !out.is_empty() {
                            return Some((Ok(out), (off, partial, true, None)));
                        }
                    }
                    let running = k
                        .with_pod_named(&ns, &pod, |_, p| {
                            p.status
                                .as_ref()
                                .and_then(|s| s.container_statuses.as_ref())
                                .and_then(|cs| cs.iter().find(|c| c.name == container))
                                .is_some_and(|c| {
                                    c.state.as_ref().is_some_and(|s| s.running.is_some())
                                })
                        })
                        .unwrap_or(false);
                    if !running {
                        return None;
                    }
                }
            }
        },
    );
    (
        [(header::CONTENT_TYPE, "text/plain")],
        Body::from_stream(stream),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cri_log_lines() {
        let c = "2024-01-01T00:00:00.000000001Z stdout F hello\n2024-01-01T00:00:01Z stderr P part\n2024-01-01T00:00:02Z stdout F ial\n";
        assert_eq!(render_log(c, false, None), "hello\npartial\n");
        assert_eq!(render_log(c, false, Some(1)), "ial\n");
        assert_eq!(render_log(c, true, Some(1)), "2024-01-01T00:00:02Z ial\n");
    }
}
