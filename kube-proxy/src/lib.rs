//! `kube-proxy` for tinykube: Services and EndpointSlices become iptables rules on this node,
//! so a ClusterIP:port or NodeIP:NodePort reaches one ready endpoint, chosen at random per
//! connection (DESIGN.md §9).
//!
//! - [`render`]: the pure part, `render_rules(services, slices, node) -> String`, with
//!   upstream's chains and chain-name hashes; table-driven tests.
//! - [`iptables`]: the thin executor (`iptables-restore --noflush`, `iptables-save`, jumps from
//!   the built-in chains, `conntrack -D`, `--cleanup`).
//! - [`proxier`]: one sync: partial (only the chains that changed) while the kernel is known to
//!   hold the last ruleset, full at start, after a failure and on the periodic resync.
//! - [`run`]: kube-rs watchers on Services and EndpointSlices feeding reflector caches, and the
//!   sync loop: bursts of changes are batched (at most one sync per `--min-sync-period`), a
//!   forced full resync every `--sync-period` repairs tampering, a failed sync is retried with
//!   backoff while the process keeps running. `/healthz` (JSON with the last successful sync,
//!   as upstream) on `--healthz-bind-address`, `/metrics` on `--metrics-bind-address`.
//!
//! kube-proxy acts on the network namespace it runs in: run it inside the node's.

pub mod error;
pub mod iptables;
pub mod proxier;
pub mod render;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Api;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use tinykube_component_base::Endpoints;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use error::Error;
pub use iptables::Iptables;
pub use proxier::{Proxier, SyncOutcome};
pub use render::{render_rules, NodeContext};

/// What `kube-proxy --help` says the component is.
pub const ABOUT: &str = "The service proxy: turns Services and EndpointSlices into iptables rules on its node, so a ClusterIP or NodePort reaches one ready pod chosen at random per connection.";

/// Upstream's default `--healthz-bind-address`.
pub const DEFAULT_HEALTHZ_BIND_ADDRESS: &str = "0.0.0.0:10256";
/// Upstream's default `--metrics-bind-address`.
pub const DEFAULT_METRICS_BIND_ADDRESS: &str = "127.0.0.1:10249";

/// The proxy's configuration (the flags of `kube-proxy`).
#[derive(Debug, Clone)]
pub struct Config {
    /// `--kubeconfig`; `None` infers (KUBECONFIG, ~/.kube/config, in-cluster).
    pub kubeconfig: Option<PathBuf>,
    /// Rules and node facts (`--hostname-override`, `--cluster-cidr`, `--masquerade-all`,
    /// `--nodeport-addresses`).
    pub node: NodeContext,
    /// `--min-sync-period`: syncs are at least this far apart; changes in between are batched.
    pub min_sync_period: Duration,
    /// `--sync-period`: a forced full resync at least this often.
    pub sync_period: Duration,
    /// `--healthz-bind-address`.
    pub healthz_bind_address: SocketAddr,
    /// `--metrics-bind-address`.
    pub metrics_bind_address: SocketAddr,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            kubeconfig: None,
            node: NodeContext::default(),
            min_sync_period: Duration::from_secs(1),
            sync_period: Duration::from_secs(30),
            healthz_bind_address: DEFAULT_HEALTHZ_BIND_ADDRESS
                .parse()
                .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 10256))),
            metrics_bind_address: DEFAULT_METRICS_BIND_ADDRESS
                .parse()
                .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 10249))),
        }
    }
}

/// What `/healthz` reports, shared between the sync loop and the servers.
#[derive(Debug, Default)]
struct HealthState {
    /// Wall-clock time of the last successful sync.
    last_updated: Option<jiff::Timestamp>,
    /// When the oldest change not yet applied arrived.
    pending_since: Option<Instant>,
}

#[derive(Clone)]
struct Health {
    state: Arc<Mutex<HealthState>>,
    /// A change pending longer than this makes the proxy unhealthy (upstream: 2 × sync period).
    timeout: Duration,
}

impl Health {
    fn lock(&self) -> std::sync::MutexGuard<'_, HealthState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn check(&self) -> Result<(), String> {
        let state = self.lock();
        match (state.last_updated, state.pending_since) {
            (None, _) => Err("no successful sync yet".into()),
            (Some(_), Some(since)) if since.elapsed() > self.timeout => Err(format!(
                "changes pending for {:.0?}, longer than {:.0?}",
                since.elapsed(),
                self.timeout
            )),
            _ => Ok(()),
        }
    }
}

/// Upstream's `/healthz` answer: JSON with `lastUpdated` and `currentTime`; 503 when unhealthy.
async fn healthz(State(health): State<Health>) -> impl IntoResponse {
    let healthy = health.check();
    let last = health
        .lock()
        .last_updated
        .map(|t| t.to_string())
        .unwrap_or_default();
    let body = serde_json::json!({
        "lastUpdated": last,
        "currentTime": jiff::Timestamp::now().to_string(),
        "nodeEligible": true,
    });
    let status = if healthy.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
}

/// The sync metrics, upstream's names.
#[derive(Clone)]
struct SyncMetrics {
    duration: Histogram,
    full_duration: Histogram,
    partial_duration: Histogram,
    last_timestamp: Gauge<f64, AtomicU64>,
    restore_failures: Counter,
    syncs: Counter,
}

impl SyncMetrics {
    fn register(endpoints: &Endpoints) -> Self {
        let m = SyncMetrics {
            duration: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
            full_duration: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
            partial_duration: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
            last_timestamp: Gauge::default(),
            restore_failures: Counter::default(),
            syncs: Counter::default(),
        };
        let r = endpoints.metrics();
        r.register(
            "kubeproxy_sync_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds",
            m.duration.clone(),
        );
        r.register(
            "kubeproxy_sync_full_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds for full resyncs",
            m.full_duration.clone(),
        );
        r.register(
            "kubeproxy_sync_partial_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds for partial resyncs",
            m.partial_duration.clone(),
        );
        r.register(
            "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
            "The last time proxy rules were successfully synced",
            m.last_timestamp.clone(),
        );
        r.register(
            "kubeproxy_sync_proxy_rules_iptables_restore_failures",
            "Cumulative proxy iptables restore failures",
            m.restore_failures.clone(),
        );
        r.register(
            "kubeproxy_sync_proxy_rules",
            "Syncs of the proxy rules that applied a change",
            m.syncs.clone(),
        );
        m
    }
}

/// Serves `router` on `addr` until `shutdown`.
async fn serve(
    what: &'static str,
    addr: SocketAddr,
    router: Router,
    shutdown: CancellationToken,
) -> Result<SocketAddr, Error> {
    let error = |source| Error::Serve { what, addr, source };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(error)?;
    let bound = listener.local_addr().map_err(error)?;
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
        {
            tracing::error!(%error, what, "server stopped");
        }
    });
    Ok(bound)
}

/// Feeds a reflector from a watch and pokes `notify` on every event.
fn spawn_watch<K>(api: Api<K>, notify: Arc<Notify>, shutdown: CancellationToken) -> Store<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = reflector::reflector(
        writer,
        watcher::watcher(api, watcher::Config::default()).default_backoff(),
    );
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                event = stream.next() => match event {
                    Some(Ok(_)) => notify.notify_one(),
                    Some(Err(error)) => tracing::warn!(%error, kind = K::kind(&()).as_ref(), "watch failed; retrying"),
                    None => break,
                },
            }
        }
    });
    reader
}

/// Runs kube-proxy until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), Error> {
    let client = tinykube_component_base::client::client(config.kubeconfig.as_deref()).await?;
    let endpoints = Endpoints::new();
    let metrics = SyncMetrics::register(&endpoints);
    let health = Health {
        state: Arc::default(),
        timeout: config.sync_period * 2,
    };
    {
        let health = health.clone();
        endpoints.add_readiness_check("proxier-sync", move || health.check());
    }
    let healthz_router = Router::new()
        .route("/healthz", get(healthz))
        .route("/livez", get(healthz))
        .with_state(health.clone());
    let addr = serve(
        "/healthz",
        config.healthz_bind_address,
        healthz_router,
        shutdown.clone(),
    )
    .await?;
    tracing::info!(%addr, "serving /healthz");
    let addr = serve(
        "/metrics",
        config.metrics_bind_address,
        endpoints.router(),
        shutdown.clone(),
    )
    .await?;
    tracing::info!(%addr, "serving /metrics");

    let notify = Arc::new(Notify::new());
    let services: Store<Service> =
        spawn_watch(Api::all(client.clone()), notify.clone(), shutdown.clone());
    let slices: Store<EndpointSlice> =
        spawn_watch(Api::all(client), notify.clone(), shutdown.clone());
    tokio::select! {
        _ = shutdown.cancelled() => return Ok(()),
        ready = async { tokio::join!(services.wait_until_ready(), slices.wait_until_ready()) } => {
            if let (Err(e), _) | (_, Err(e)) = ready {
                tracing::warn!(error = %e, "cache never became ready");
                return Ok(());
            }
        }
    }
    tracing::info!(node = %config.node.node_name, "caches synced; starting the sync loop");

    let mut proxier = Proxier::new(Iptables::new(), config.node.clone());
    let mut last_sync: Option<Instant> = None;
    let mut next_periodic = Instant::now() + config.sync_period;
    let mut retry_at: Option<Instant> = None;
    let mut backoff = Duration::from_secs(1);
    // The first sync happens at once.
    health.lock().pending_since = Some(Instant::now());
    let mut triggered = true;
    loop {
        let mut force = false;
        if !triggered {
            let retry = retry_at.unwrap_or_else(|| Instant::now() + Duration::from_secs(86400));
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = notify.notified() => {
                    health.lock().pending_since.get_or_insert_with(Instant::now);
                }
                _ = tokio::time::sleep_until(next_periodic.into()) => force = true,
                _ = tokio::time::sleep_until(retry.into()), if retry_at.is_some() => {}
            }
        }
        triggered = false;
        // Batch: whatever else arrives until min-sync-period has passed goes into this sync.
        if let Some(last) = last_sync {
            let earliest = last + config.min_sync_period;
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep_until(earliest.into()) => {}
            }
        }
        let started = Instant::now();
        last_sync = Some(started);
        next_periodic = started + config.sync_period;
        let (svc_state, slice_state) = (services.state(), slices.state());
        let result = proxier
            .sync(
                svc_state.iter().map(|s| s.as_ref()),
                slice_state.iter().map(|s| s.as_ref()),
                force,
            )
            .await;
        let elapsed = started.elapsed();
        match result {
            Ok(outcome) => {
                metrics.duration.observe(elapsed.as_secs_f64());
                let now = jiff::Timestamp::now();
                metrics
                    .last_timestamp
                    .set(now.as_millisecond() as f64 / 1000.0);
                match outcome {
                    SyncOutcome::Full => metrics.full_duration.observe(elapsed.as_secs_f64()),
                    SyncOutcome::Partial => metrics.partial_duration.observe(elapsed.as_secs_f64()),
                    SyncOutcome::Unchanged => {}
                }
                if outcome != SyncOutcome::Unchanged {
                    metrics.syncs.inc();
                }
                {
                    let mut state = health.lock();
                    state.last_updated = Some(now);
                    state.pending_since = None;
                }
                retry_at = None;
                backoff = Duration::from_secs(1);
                tracing::debug!(?outcome, ?elapsed, services = svc_state.len(), "synced");
            }
            Err(error) => {
                if matches!(error, Error::Restore { .. }) {
                    metrics.restore_failures.inc();
                }
                health.lock().pending_since.get_or_insert(started);
                tracing::error!(%error, retry_in = ?backoff, "sync failed; retrying");
                retry_at = Some(Instant::now() + backoff);
                backoff = (backoff * 2).min(config.sync_period.max(Duration::from_secs(1)));
            }
        }
    }
    tracing::info!("shutting down");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_needs_a_sync_and_no_old_pending_change() {
        let health = Health {
            state: Arc::default(),
            timeout: Duration::from_millis(50),
        };
        assert!(health.check().is_err());
        health.lock().last_updated = Some(jiff::Timestamp::now());
        assert!(health.check().is_ok());
        health.lock().pending_since = Some(Instant::now() - Duration::from_secs(1));
        assert!(health.check().unwrap_err().contains("pending"));
    }
}
