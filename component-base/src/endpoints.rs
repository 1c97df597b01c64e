//! `/healthz`, `/livez`, `/readyz` and `/metrics`, as upstream components serve them.
//!
//! Health answers `200 ok` when every check passes and `500` listing the failed checks
//! otherwise; `?verbose` lists every check as `[+]name ok` / `[-]name failed: reason`, the way
//! upstream's healthz handler does. `/healthz/<check>` runs one check. Checks are cheap closures
//! over state that the component keeps current (a last-sync time, a connection flag); they never
//! do I/O on the request path.
//!
//! `/metrics` is the Prometheus (OpenMetrics text) exposition of a shared registry.

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Metric, Registry};
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// `/metrics` speaks OpenMetrics, the text format Prometheus negotiates first.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A named health check: `Ok(())` when healthy, `Err(reason)` when not.
pub type HealthCheck = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// Which endpoints a check takes part in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CheckScope {
    /// `/healthz`, `/livez` and `/readyz`: failing means the process is broken.
    Liveness,
    /// `/healthz` and `/readyz` only: failing means "not ready to serve yet", not "restart me".
    Readiness,
}

struct NamedCheck {
    name: String,
    scope: CheckScope,
    check: HealthCheck,
}

/// The Prometheus registry of one component. Metrics are registered once at start-up and
/// updated through their own handles; encoding takes the lock only to read.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Mutex<Registry>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let start_time = Gauge::<f64, AtomicU64>::default();
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_secs_f64())
            .unwrap_or_default();
        start_time.set(started);
        registry.register(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds",
            start_time,
        );
        Metrics {
            registry: Arc::new(Mutex::new(registry)),
        }
    }
}

impl Metrics {
    /// Registers `metric` under `name`; keep a clone of the metric to update it.
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        self.lock().register(name, help, metric);
    }

    /// The Prometheus text exposition of every registered metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail; an error here would be a bug in a metric's encoder.
        if let Err(error) = encode(&mut text, &self.lock()) {
            tracing::error!(%error, "encoding metrics failed");
        }
        text
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        // A panic while holding the lock leaves the registry itself intact: keep serving it.
        self.registry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Health checks and metrics of one component, shared by every task that reports into them.
#[derive(Clone, Default)]
pub struct Endpoints {
    checks: Arc<RwLock<Vec<NamedCheck>>>,
    metrics: Metrics,
}

impl Endpoints {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a check that `/healthz`, `/livez` and `/readyz` all run.
    pub fn add_check(
        &self,
        name: &str,
        check: impl Fn() -> Result<(), String> + Send + Sync + 'static,
    ) {
        self.push(name, CheckScope::Liveness, Arc::new(check));
    }

    /// Adds a check that only `/healthz` and `/readyz` run (e.g. "caches synced").
    pub fn add_readiness_check(
        &self,
        name: &str,
        check: impl Fn() -> Result<(), String> + Send + Sync + 'static,
    ) {
        self.push(name, CheckScope::Readiness, Arc::new(check));
    }

    fn push(&self, name: &str, scope: CheckScope, check: HealthCheck) {
        let mut checks = self.checks.write().unwrap_or_else(|p| p.into_inner());
        checks.push(NamedCheck {
            name: name.to_string(),
            scope,
            check,
        });
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The health and metrics routes, to serve alone or to merge into a component's router.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/healthz", get(healthz))
            .route("/healthz/{check}", get(healthz_one))
            .route("/readyz", get(readyz))
            .route("/readyz/{check}", get(healthz_one))
            .route("/livez", get(livez))
            .route("/livez/{check}", get(healthz_one))
            .route("/metrics", get(metrics))
            .with_state(self.clone())
    }

    /// Serves [`Endpoints::router`] on `addr` (port 0 picks a free port) until `shutdown` is
    /// cancelled. Returns the bound address and the server task.
    pub async fn serve(
        &self,
        addr: SocketAddr,
        shutdown: CancellationToken,
    ) -> std::io::Result<(SocketAddr, JoinHandle<std::io::Result<()>>)> {
        let listener = TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        let app = self.router();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await
        });
        Ok((bound, task))
    }

    /// Runs the checks in `scope` (all of them for `None`) and renders upstream's answer.
    fn report(&self, endpoint: &str, only_liveness: bool, verbose: bool) -> (StatusCode, String) {
        let checks = self.checks.read().unwrap_or_else(|p| p.into_inner());
        let results: Vec<(&str, Result<(), String>)> = checks
            .iter()
            .filter(|c| !only_liveness || c.scope == CheckScope::Liveness)
            .map(|c| (c.name.as_str(), (c.check)()))
            .collect();
        render_report(endpoint, &results, verbose)
    }

    fn report_one(&self, name: &str) -> Option<(StatusCode, String)> {
        let checks = self.checks.read().unwrap_or_else(|p| p.into_inner());
        let check = checks.iter().find(|c| c.name == name)?;
        Some(match (check.check)() {
            Ok(()) => (StatusCode::OK, "ok".to_string()),
            Err(reason) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("internal server error: {reason}\n"),
            ),
        })
    }
}

/// Upstream's health body: `ok`, or the list of checks with the failures marked.
fn render_report(
    endpoint: &str,
    results: &[(&str, Result<(), String>)],
    verbose: bool,
) -> (StatusCode, String) {
    let healthy = results.iter().all(|(_, result)| result.is_ok());
    if healthy && !verbose {
        return (StatusCode::OK, "ok".to_string());
    }
    let mut body = String::from("[+]ping ok\n");
    for (name, result) in results {
        match result {
            Ok(()) => body.push_str(&format!("[+]{name} ok\n")),
            Err(reason) => body.push_str(&format!("[-]{name} failed: {reason}\n")),
        }
    }
    if healthy {
        body.push_str(&format!("{endpoint} check passed\n"));
        (StatusCode::OK, body)
    } else {
        body.push_str(&format!("{endpoint} check failed\n"));
        (StatusCode::INTERNAL_SERVER_ERROR, body)
    }
}

fn is_verbose(query: &Option<String>) -> bool {
    query
        .as_deref()
        .unwrap_or_default()
        .split('&')
        .any(|pair| pair == "verbose" || pair.starts_with("verbose="))
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn healthz(State(endpoints): State<Endpoints>, RawQuery(query): RawQuery) -> Response {
    let (status, body) = endpoints.report("healthz", false, is_verbose(&query));
    text(status, body)
}

async fn readyz(State(endpoints): State<Endpoints>, RawQuery(query): RawQuery) -> Response {
    let (status, body) = endpoints.report("readyz", false, is_verbose(&query));
    text(status, body)
}

async fn livez(State(endpoints): State<Endpoints>, RawQuery(query): RawQuery) -> Response {
    let (status, body) = endpoints.report("livez", true, is_verbose(&query));
    text(status, body)
}

async fn healthz_one(State(endpoints): State<Endpoints>, Path(check): Path<String>) -> Response {
    if check == "ping" {
        return text(StatusCode::OK, "ok".to_string());
    }
    match endpoints.report_one(&check) {
        Some((status, body)) => text(status, body),
        None => text(StatusCode::NOT_FOUND, format!("no such check {check:?}\n")),
    }
}

async fn metrics(State(endpoints): State<Endpoints>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)],
        endpoints.metrics.encode(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use prometheus_client::metrics::counter::Counter;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tower::ServiceExt;

    async fn get_body(router: Router, uri: &str) -> (StatusCode, String) {
        let response = router
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    fn endpoints_with(etcd_up: Arc<AtomicBool>, synced: Arc<AtomicBool>) -> Endpoints {
        let endpoints = Endpoints::new();
        endpoints.add_check("etcd", move || {
            if etcd_up.load(Ordering::SeqCst) {
                Ok(())
            } else {
                Err("etcd unreachable".to_string())
            }
        });
        endpoints.add_readiness_check("informer-sync", move || {
            if synced.load(Ordering::SeqCst) {
                Ok(())
            } else {
                Err("caches not synced".to_string())
            }
        });
        endpoints
    }

    #[tokio::test]
    async fn health_endpoints_follow_their_checks() {
        // (etcd up, caches synced, uri, expected status, expected body fragment)
        let cases = [
            (true, true, "/healthz", StatusCode::OK, "ok"),
            (true, true, "/readyz", StatusCode::OK, "ok"),
            (true, true, "/livez", StatusCode::OK, "ok"),
            (
                true,
                true,
                "/healthz?verbose",
                StatusCode::OK,
                "[+]etcd ok\n[+]informer-sync ok\nhealthz check passed",
            ),
            (
                false,
                true,
                "/healthz",
                StatusCode::INTERNAL_SERVER_ERROR,
                "[-]etcd failed: etcd unreachable\n",
            ),
            (
                true,
                false,
                "/readyz",
                StatusCode::INTERNAL_SERVER_ERROR,
                "readyz check failed",
            ),
            (true, false, "/livez", StatusCode::OK, "ok"),
            (
                false,
                false,
                "/livez?verbose=1",
                StatusCode::INTERNAL_SERVER_ERROR,
                "[-]etcd failed",
            ),
            (
                false,
                true,
                "/healthz/etcd",
                StatusCode::INTERNAL_SERVER_ERROR,
                "etcd unreachable",
            ),
            (false, true, "/healthz/informer-sync", StatusCode::OK, "ok"),
            (false, true, "/healthz/ping", StatusCode::OK, "ok"),
            (
                true,
                true,
                "/healthz/nonsense",
                StatusCode::NOT_FOUND,
                "no such check",
            ),
        ];
        for (etcd_up, synced, uri, status, fragment) in cases {
            let endpoints = endpoints_with(
                Arc::new(AtomicBool::new(etcd_up)),
                Arc::new(AtomicBool::new(synced)),
            );
            let (got_status, body) = get_body(endpoints.router(), uri).await;
            assert_eq!(
                got_status, status,
                "{uri} etcd_up={etcd_up} synced={synced}"
            );
            assert!(
                body.contains(fragment),
                "{uri}: {body:?} lacks {fragment:?}"
            );
        }
    }

    #[tokio::test]
    async fn metrics_are_prometheus_text() {
        let endpoints = Endpoints::new();
        let syncs = Counter::<u64>::default();
        endpoints
            .metrics()
            .register("sync", "Number of syncs", syncs.clone());
        syncs.inc_by(3);
        let (status, body) = get_body(endpoints.router(), "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("# HELP sync Number of syncs."), "{body}");
        assert!(body.contains("# TYPE sync counter"), "{body}");
        assert!(body.contains("\nsync_total 3\n"), "{body}");
        assert!(body.contains("process_start_time_seconds "), "{body}");
        assert!(body.ends_with("# EOF\n"), "{body}");
    }

    #[tokio::test]
    async fn serves_on_a_real_port_until_shutdown() {
        let endpoints = Endpoints::new();
        let shutdown = CancellationToken::new();
        let (addr, task) = endpoints
            .serve("127.0.0.1:0".parse().unwrap(), shutdown.clone())
            .await
            .unwrap();
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.ends_with("ok"), "{response}");
        shutdown.cancel();
        let result = tokio::time::timeout(std::time::Duration::from_secs(10), task)
            .await
            .expect("server did not stop after shutdown");
        result.unwrap().unwrap();
    }
}
