//! The kubelet's own Prometheus metrics, with upstream's names, help texts and buckets
//! (`pkg/kubelet/metrics`), served on the kubelet port's `/metrics` through
//! `component-base`'s registry:
//!
//! - `kubelet_running_pods`: pods with a running (ready) sandbox;
//! - `kubelet_running_containers{container_state}`: containers by runtime state;
//! - `kubelet_pod_start_duration_seconds`: from the kubelet first seeing a pod to it running;
//! - `kubelet_pod_worker_duration_seconds{operation_type}`: one sync of one pod, as `create`
//!   (the first), `update` (the pod changed since the last) or `sync` (periodic).
//!
//! The running counts come from the housekeeping relist of the runtime ([`running_counts`]).

use std::collections::HashMap;
use std::time::Duration;

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use tinykube_component_base::Metrics;

use crate::actions::{CState, ObservedPod};

type Labels = Vec<(String, String)>;

/// Upstream's `podStartupDurationBuckets`.
pub const POD_START_BUCKETS: [f64; 25] = [
    0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 20.0, 30.0, 45.0, 60.0, 120.0, 180.0, 240.0,
    300.0, 360.0, 480.0, 600.0, 900.0, 1200.0, 1800.0, 2700.0, 3600.0,
];
/// Prometheus' (and upstream's) `DefBuckets`.
pub const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The `container_state` label values, as upstream names CRI states.
pub const CONTAINER_STATES: [&str; 4] = ["created", "running", "exited", "unknown"];

/// How one pod sync is classified in `kubelet_pod_worker_duration_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncOperation {
    Create,
    Update,
    Sync,
}

impl SyncOperation {
    /// `create` for a worker's first sync, `update` when the pod's resourceVersion moved since
    /// the previous sync, `sync` otherwise.
    pub fn classify(previous_version: Option<&str>, version: Option<&str>) -> SyncOperation {
        match previous_version {
            None => SyncOperation::Create,
            Some(prev) if Some(prev) != version => SyncOperation::Update,
            Some(_) => SyncOperation::Sync,
        }
    }

    fn label(self) -> &'static str {
        match self {
            SyncOperation::Create => "create",
            SyncOperation::Update => "update",
            SyncOperation::Sync => "sync",
        }
    }
}

fn worker_histogram() -> Histogram {
    Histogram::new(DEFAULT_BUCKETS)
}

/// Handles to the kubelet's metrics; clones share the same series.
#[derive(Clone)]
pub struct PodMetrics {
    running_pods: Gauge,
    running_containers: Family<Labels, Gauge>,
    pod_start_duration: Histogram,
    pod_worker_duration: Family<Labels, Histogram, fn() -> Histogram>,
}

impl PodMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &Metrics) -> PodMetrics {
        let m = PodMetrics {
            running_pods: Gauge::default(),
            running_containers: Family::default(),
            pod_start_duration: Histogram::new(POD_START_BUCKETS),
            pod_worker_duration: Family::new_with_constructor(worker_histogram),
        };
        registry.register(
            "kubelet_running_pods",
            "Number of pods that have a running pod sandbox",
            m.running_pods.clone(),
        );
        registry.register(
            "kubelet_running_containers",
            "Number of containers currently running",
            m.running_containers.clone(),
        );
        registry.register(
            "kubelet_pod_start_duration_seconds",
            "Duration in seconds from kubelet seeing a pod for the first time to the pod starting to run",
            m.pod_start_duration.clone(),
        );
        registry.register(
            "kubelet_pod_worker_duration_seconds",
            "Duration in seconds to sync a single pod. Broken down by operation type: create, update, or sync",
            m.pod_worker_duration.clone(),
        );
        m
    }

    /// Sets the running gauges from a relist of the runtime.
    pub fn set_running(&self, observed: &HashMap<String, ObservedPod>) {
        let counts = running_counts(observed);
        self.running_pods.set(counts.pods);
        for (state, n) in CONTAINER_STATES.iter().zip(counts.containers) {
            self.running_containers
                .get_or_create(&vec![("container_state".to_string(), state.to_string())])
                .set(n);
        }
    }

    pub fn observe_pod_start(&self, elapsed: Duration) {
        self.pod_start_duration.observe(elapsed.as_secs_f64());
    }

    pub fn observe_pod_worker(&self, operation: SyncOperation, elapsed: Duration) {
        self.pod_worker_duration
            .get_or_create(&vec![(
                "operation_type".to_string(),
                operation.label().to_string(),
            )])
            .observe(elapsed.as_secs_f64());
    }
}

/// Pods with a ready sandbox, and containers per [`CONTAINER_STATES`] entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunningCounts {
    pub pods: i64,
    pub containers: [i64; 4],
}

/// Counts what the runtime reports, the way upstream's collector does.
pub fn running_counts(observed: &HashMap<String, ObservedPod>) -> RunningCounts {
    let mut counts = RunningCounts::default();
    for pod in observed.values() {
        if pod.sandboxes.iter().any(|s| s.ready) {
            counts.pods += 1;
        }
        for c in &pod.containers {
            let i = match c.state {
                CState::Created => 0,
                CState::Running => 1,
                CState::Exited => 2,
                CState::Unknown => 3,
            };
            counts.containers[i] += 1;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::{ObservedContainer, ObservedSandbox};

    fn pod(sandbox_ready: &[bool], states: &[CState]) -> ObservedPod {
        ObservedPod {
            sandboxes: sandbox_ready
                .iter()
                .map(|r| ObservedSandbox {
                    ready: *r,
                    ..Default::default()
                })
                .collect(),
            containers: states
                .iter()
                .map(|s| ObservedContainer {
                    state: *s,
                    ..Default::default()
                })
                .collect(),
        }
    }

    #[test]
    fn running_counts_from_a_relist() {
        use CState::*;
        // (pods, expected)
        let cases: Vec<(Vec<ObservedPod>, RunningCounts)> = vec![
            (vec![], RunningCounts::default()),
            (
                vec![pod(&[true], &[Running, Running])],
                RunningCounts {
                    pods: 1,
                    containers: [0, 2, 0, 0],
                },
            ),
            (
                // A stopped sandbox next to a ready one counts once; exited containers stay.
                vec![
                    pod(&[false, true], &[Exited, Running]),
                    pod(&[false], &[Exited]),
                    pod(&[true], &[Created, Unknown]),
                ],
                RunningCounts {
                    pods: 2,
                    containers: [1, 1, 2, 1],
                },
            ),
        ];
        for (i, (pods, want)) in cases.into_iter().enumerate() {
            let observed: HashMap<String, ObservedPod> = pods
                .into_iter()
                .enumerate()
                .map(|(n, p)| (format!("uid-{n}"), p))
                .collect();
            assert_eq!(running_counts(&observed), want, "case {i}");
        }
    }

    #[test]
    fn sync_operations() {
        let cases = [
            (None, Some("5"), SyncOperation::Create),
            (Some("5"), Some("5"), SyncOperation::Sync),
            (Some("5"), Some("7"), SyncOperation::Update),
            (Some(""), None, SyncOperation::Update),
        ];
        for (prev, now, want) in cases {
            assert_eq!(
                SyncOperation::classify(prev, now),
                want,
                "{prev:?} -> {now:?}"
            );
        }
    }

    #[test]
    fn exposition_has_upstream_names() {
        let registry = Metrics::default();
        let m = PodMetrics::register(&registry);
        let mut observed = HashMap::new();
        observed.insert("a".to_string(), pod(&[true], &[CState::Running]));
        m.set_running(&observed);
        m.observe_pod_start(Duration::from_millis(1500));
        m.observe_pod_worker(SyncOperation::Create, Duration::from_millis(20));
        let text = registry.encode();
        for line in [
            "kubelet_running_pods 1",
            "kubelet_running_containers{container_state=\"running\"} 1",
            "kubelet_running_containers{container_state=\"exited\"} 0",
            "kubelet_pod_start_duration_seconds_count 1",
            "kubelet_pod_start_duration_seconds_bucket{le=\"2.0\"} 1",
            "kubelet_pod_start_duration_seconds_bucket{le=\"1.0\"} 0",
            "kubelet_pod_worker_duration_seconds_count{operation_type=\"create\"} 1",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
    }
}
