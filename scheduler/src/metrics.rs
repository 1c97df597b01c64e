//! The scheduler's Prometheus metrics, named as upstream's where one exists.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

use tinykube_component_base::Metrics as Registry;

type Labels = Vec<(String, String)>;

/// Handles to every metric; cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    /// `scheduler_schedule_attempts_total{result, profile}`: scheduled, unschedulable, error.
    pub schedule_attempts: Family<Labels, Counter>,
    /// `scheduler_pending_pods{queue}`: active, backoff, unschedulable.
    pub pending_pods: Family<Labels, Gauge>,
    /// `scheduler_scheduling_algorithm_duration_seconds`: one filter-and-score decision.
    pub algorithm_duration: Histogram,
    /// `scheduler_binding_duration_seconds`: one `pods/binding` request.
    pub binding_duration: Histogram,
    /// `scheduler_cache_size{type}`: nodes, pods, assumed_pods.
    pub cache_size: Family<Labels, Gauge>,
    /// `scheduler_events_dropped_total`: events not written because the queue was full.
    pub events_dropped: Counter,
    /// `leader_election_master_status{name}`: 1 while this replica leads.
    pub leader: Family<Labels, Gauge>,
    profile: String,
}

impl Metrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &Registry, profile: &str) -> Metrics {
        let metrics = Metrics {
            schedule_attempts: Family::default(),
            pending_pods: Family::default(),
            algorithm_duration: Histogram::new(exponential_buckets(0.000_01, 2.0, 20)),
            binding_duration: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
            cache_size: Family::default(),
            events_dropped: Counter::default(),
            leader: Family::default(),
            profile: profile.to_string(),
        };
        registry.register(
            "scheduler_schedule_attempts",
            "Number of attempts to schedule pods, by the result",
            metrics.schedule_attempts.clone(),
        );
        registry.register(
            "scheduler_pending_pods",
            "Number of pending pods, by the queue type",
            metrics.pending_pods.clone(),
        );
        registry.register(
            "scheduler_scheduling_algorithm_duration_seconds",
            "Scheduling algorithm latency in seconds",
            metrics.algorithm_duration.clone(),
        );
        registry.register(
            "scheduler_binding_duration_seconds",
            "Latency of one binding request in seconds",
            metrics.binding_duration.clone(),
        );
        registry.register(
            "scheduler_cache_size",
            "Number of nodes, pods, and assumed (bound) pods in the scheduler cache",
            metrics.cache_size.clone(),
        );
        registry.register(
            "scheduler_events_dropped",
            "Events not recorded because the event queue was full",
            metrics.events_dropped.clone(),
        );
        registry.register(
            "leader_election_master_status",
            "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master",
            metrics.leader.clone(),
        );
        metrics
    }

    /// Counts one attempt with `result` (`scheduled`, `unschedulable`, `error`).
    pub fn attempt(&self, result: &str) {
        self.schedule_attempts
            .get_or_create(&vec![
                ("profile".to_string(), self.profile.clone()),
                ("result".to_string(), result.to_string()),
            ])
            .inc();
    }

    pub fn set_pending(&self, queue: &str, value: usize) {
        self.pending_pods
            .get_or_create(&vec![("queue".to_string(), queue.to_string())])
            .set(i64::try_from(value).unwrap_or(i64::MAX));
    }

    pub fn set_cache_size(&self, kind: &str, value: usize) {
        self.cache_size
            .get_or_create(&vec![("type".to_string(), kind.to_string())])
            .set(i64::try_from(value).unwrap_or(i64::MAX));
    }

    pub fn set_leader(&self, lease: &str, leading: bool) {
        self.leader
            .get_or_create(&vec![("name".to_string(), lease.to_string())])
            .set(i64::from(leading));
    }
}
