//! Node lifecycle (upstream `pkg/controller/nodelifecycle`) and taint-based eviction (upstream
//! `pkg/controller/tainteviction`).
//!
//! A node's heartbeats are its Lease in `kube-node-lease` (renewed by the kubelet every few
//! seconds) and the `lastHeartbeatTime` of its Ready condition. The controller notes *when it
//! observed* each heartbeat (its own clock, as upstream, so clock skew does not matter). When a
//! node has shown none for `--node-monitor-grace-period` (`--node-startup-grace-period` for a
//! node that never reported Ready), its conditions become `Unknown` ("Kubelet stopped posting
//! node status."), its pods are marked not ready, and it gets the
//! `node.kubernetes.io/unreachable` taints (NoSchedule and NoExecute). A node reporting
//! `Ready=False` gets the `not-ready` taints instead; `Ready=True` clears them. Pressure
//! conditions and `spec.unschedulable` map to their NoSchedule taints too.
//!
//! Pods on a node with NoExecute taints are evicted (deleted) when a taint is not tolerated —
//! at once, or after the matching toleration's `tolerationSeconds`, counted from the taint's
//! `timeAdded`. Pods without any toleration for the not-ready/unreachable taints get
//! `--default-*-toleration-seconds` (300 s), as upstream's `DefaultTolerationSeconds`
//! admission would have given them. Their ReplicaSets then create replacements.
//!
//! The decisions are pure: [`plan_conditions`], [`plan_taints`], [`plan_eviction`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition, Pod, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::Client;
use serde_json::json;

use crate::error::{is_conflict, is_not_found, Error, Result};
use crate::events::{Recorder, NORMAL};
use crate::informer::Change;
use crate::runner::obj_ref;
use crate::util::{add_seconds, is_deleting, key_of, name_of, namespace_of, pod_node};

pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
pub const TAINT_MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
pub const TAINT_DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
pub const TAINT_PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";
pub const TAINT_NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";

/// The taint keys this controller manages.
const MANAGED_TAINTS: &[&str] = &[
    TAINT_NOT_READY,
    TAINT_UNREACHABLE,
    TAINT_UNSCHEDULABLE,
    TAINT_MEMORY_PRESSURE,
    TAINT_DISK_PRESSURE,
    TAINT_PID_PRESSURE,
    TAINT_NETWORK_UNAVAILABLE,
];

/// Conditions the kubelet reports, which go Unknown with it (upstream's list).
const KUBELET_CONDITIONS: &[&str] = &["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

/// The node's condition of `type_`.
pub fn condition<'a>(node: &'a Node, type_: &str) -> Option<&'a NodeCondition> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// Upstream `tryUpdateNodeHealth`'s verdict: the conditions a node gets when no heartbeat was
/// seen for longer than its grace period; `None` when nothing changes.
pub fn plan_conditions(
    node: &Node,
    since_heartbeat: Duration,
    grace: Duration,
    startup_grace: Duration,
    now: Timestamp,
) -> Option<Vec<NodeCondition>> {
    let never_ready = condition(node, "Ready").is_none();
    let grace = if never_ready { startup_grace } else { grace };
    if since_heartbeat <= grace {
        return None;
    }
    let mut conditions = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let mut changed = false;
    for type_ in KUBELET_CONDITIONS {
        match conditions.iter_mut().find(|c| c.type_ == *type_) {
            Some(c) if c.status == "Unknown" => {}
            Some(c) => {
                c.status = "Unknown".into();
                c.reason = Some("NodeStatusUnknown".into());
                c.message = Some("Kubelet stopped posting node status.".into());
                c.last_transition_time = Some(Time(now));
                changed = true;
            }
            None => {
                conditions.push(NodeCondition {
                    type_: type_.to_string(),
                    status: "Unknown".into(),
                    reason: Some("NodeStatusNeverUpdated".into()),
                    message: Some("Kubelet never posted node status.".into()),
                    last_heartbeat_time: node.metadata.creation_timestamp.clone(),
                    last_transition_time: Some(Time(now)),
                });
                changed = true;
            }
        }
    }
    changed.then_some(conditions)
}

fn taint(key: &str, effect: &str, time_added: Option<Time>) -> Taint {
    Taint {
        key: key.into(),
        effect: effect.into(),
        value: None,
        time_added,
    }
}

/// The taints `node` should carry: its unmanaged taints kept, the managed ones derived from
/// its conditions and `spec.unschedulable` (existing ones kept with their `timeAdded`).
pub fn plan_taints(node: &Node, now: Timestamp) -> Vec<Taint> {
    let current: Vec<Taint> = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let status_of = |t: &str| condition(node, t).map(|c| c.status.as_str());
    let mut wanted: Vec<(&str, &str)> = Vec::new();
    match status_of("Ready") {
        Some("False") => {
            wanted.push((TAINT_NOT_READY, "NoSchedule"));
            wanted.push((TAINT_NOT_READY, "NoExecute"));
        }
        Some("Unknown") => {
            wanted.push((TAINT_UNREACHABLE, "NoSchedule"));
            wanted.push((TAINT_UNREACHABLE, "NoExecute"));
        }
        _ => {}
    }
    for (condition_type, key) in [
        ("MemoryPressure", TAINT_MEMORY_PRESSURE),
        ("DiskPressure", TAINT_DISK_PRESSURE),
        ("PIDPressure", TAINT_PID_PRESSURE),
        ("NetworkUnavailable", TAINT_NETWORK_UNAVAILABLE),
    ] {
        if status_of(condition_type) == Some("True") {
            wanted.push((key, "NoSchedule"));
        }
    }
    if node
        .spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false)
    {
        wanted.push((TAINT_UNSCHEDULABLE, "NoSchedule"));
    }
    let mut taints: Vec<Taint> = current
        .iter()
        .filter(|t| {
            !MANAGED_TAINTS.contains(&t.key.as_str())
                || wanted.iter().any(|(k, e)| t.key == *k && t.effect == *e)
        })
        .cloned()
        .collect();
    for (key, effect) in wanted {
        if !taints.iter().any(|t| t.key == key && t.effect == effect) {
            let added = (effect == "NoExecute").then_some(Time(now));
            taints.push(taint(key, effect, added));
        }
    }
    taints
}

/// Whether `toleration` tolerates `taint` (upstream `Toleration.ToleratesTaint`).
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = toleration.effect.as_deref().filter(|e| !e.is_empty()) {
        if effect != taint.effect {
            return false;
        }
    }
    let key = toleration.key.as_deref().unwrap_or_default();
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => {
            // An empty key with Equal tolerates nothing but an empty-key taint.
            (!key.is_empty() || taint.key.is_empty())
                && toleration.value.as_deref().unwrap_or_default()
                    == taint.value.as_deref().unwrap_or_default()
        }
        _ => false,
    }
}

/// When a pod goes from a node with these taints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eviction {
    /// Every NoExecute taint is tolerated forever.
    Never,
    /// Delete now.
    Now,
    /// Delete at this time.
    At(Timestamp),
}

/// Upstream's taint manager decision for one pod; `default_seconds(key)` is the
/// tolerationSeconds given to pods that do not tolerate a not-ready/unreachable taint at all.
pub fn plan_eviction(
    pod: &Pod,
    taints: &[Taint],
    now: Timestamp,
    default_seconds: impl Fn(&str) -> Option<i64>,
) -> Eviction {
    let tolerations: &[Toleration] = pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or_default();
    let mut deadline: Option<Timestamp> = None;
    for taint in taints.iter().filter(|t| t.effect == "NoExecute") {
        let matching: Vec<&Toleration> =
            tolerations.iter().filter(|t| tolerates(t, taint)).collect();
        let seconds: Option<i64> = if matching.is_empty() {
            match default_seconds(&taint.key) {
                Some(s) => Some(s),
                None => return Eviction::Now,
            }
        } else {
            // The shortest bound among the matching tolerations; unbounded if none is bounded.
            matching.iter().filter_map(|t| t.toleration_seconds).min()
        };
        let Some(seconds) = seconds else {
            continue;
        };
        if seconds <= 0 {
            return Eviction::Now;
        }
        let since = taint.time_added.as_ref().map(|t| t.0).unwrap_or(now);
        let at = add_seconds(since, seconds);
        deadline = Some(deadline.map_or(at, |d| d.min(at)));
    }
    match deadline {
        None => Eviction::Never,
        Some(at) if at <= now => Eviction::Now,
        Some(at) => Eviction::At(at),
    }
}

/// What the controller last observed of a node's heartbeats.
#[derive(Debug, Clone)]
struct Health {
    /// When (our clock) the last heartbeat was seen.
    probe: Instant,
    lease_renew: Option<String>,
    ready_heartbeat: Option<String>,
}

/// Shared state of the node lifecycle and taint eviction controllers.
pub struct NodeLifecycleController {
    pub client: Client,
    pub recorder: Recorder,
    pub nodes: Store<Node>,
    pub pods: Store<Pod>,
    pub monitor_period: Duration,
    pub grace: Duration,
    pub startup_grace: Duration,
    pub default_not_ready_seconds: i64,
    pub default_unreachable_seconds: i64,
    /// Whether node health is tracked (node-lifecycle-controller) ...
    pub lifecycle: bool,
    /// ... and whether NoExecute taints evict pods (taint-eviction-controller).
    pub eviction: bool,
    health: Mutex<HashMap<String, Health>>,
}

impl NodeLifecycleController {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client: Client,
        nodes: Store<Node>,
        pods: Store<Pod>,
        monitor_period: Duration,
        grace: Duration,
        startup_grace: Duration,
        default_not_ready_seconds: i64,
        default_unreachable_seconds: i64,
        lifecycle: bool,
        eviction: bool,
    ) -> Self {
        NodeLifecycleController {
            recorder: Recorder::new(client.clone(), "node-controller"),
            client,
            nodes,
            pods,
            monitor_period,
            grace,
            startup_grace,
            default_not_ready_seconds,
            default_unreachable_seconds,
            lifecycle,
            eviction,
            health: Mutex::new(HashMap::new()),
        }
    }

    fn health(&self) -> std::sync::MutexGuard<'_, HashMap<String, Health>> {
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes a heartbeat when the Ready condition's heartbeat time moved.
    pub fn on_node_change(&self, change: Change<Node>) -> Vec<ObjectRef<Node>> {
        let node = change.object();
        let name = name_of(&node.metadata).to_string();
        if let Change::Deleted(_) = change {
            self.health().remove(&name);
            return Vec::new();
        }
        let heartbeat = condition(node, "Ready")
            .and_then(|c| c.last_heartbeat_time.as_ref())
            .map(|t| t.0.to_string());
        let mut health = self.health();
        let entry = health.entry(name.clone()).or_insert_with(|| Health {
            probe: Instant::now(),
            lease_renew: None,
            ready_heartbeat: heartbeat.clone(),
        });
        if entry.ready_heartbeat != heartbeat {
            entry.ready_heartbeat = heartbeat;
            entry.probe = Instant::now();
        }
        vec![obj_ref(&name, None)]
    }

    /// Notes a heartbeat when a node's Lease was renewed.
    pub fn on_lease_change(&self, change: Change<Lease>) -> Vec<ObjectRef<Node>> {
        let Change::Applied { new, .. } = change else {
            return Vec::new();
        };
        let name = name_of(&new.metadata).to_string();
        let renew = new
            .spec
            .as_ref()
            .and_then(|s| s.renew_time.as_ref())
            .map(|t| t.0.to_string());
        let mut health = self.health();
        let entry = health.entry(name.clone()).or_insert_with(|| Health {
            probe: Instant::now(),
            lease_renew: None,
            ready_heartbeat: None,
        });
        if renew.is_some() && entry.lease_renew != renew {
            entry.lease_renew = renew;
            entry.probe = Instant::now();
        }
        Vec::new()
    }

    /// Pods landing on (or changing on) a NoExecute-tainted node wake that node.
    pub fn on_pod_change(&self, change: Change<Pod>) -> Vec<ObjectRef<Node>> {
        let pod = change.object();
        let Some(node) = pod_node(pod) else {
            return Vec::new();
        };
        let tainted = self.nodes.get(&obj_ref(node, None)).is_some_and(|n| {
            n.spec
                .as_ref()
                .and_then(|s| s.taints.as_ref())
                .is_some_and(|t| t.iter().any(|t| t.effect == "NoExecute"))
        });
        if tainted {
            vec![obj_ref(node, None)]
        } else {
            Vec::new()
        }
    }

    fn since_heartbeat(&self, node: &str) -> Duration {
        let mut health = self.health();
        let entry = health.entry(node.to_string()).or_insert_with(|| Health {
            probe: Instant::now(),
            lease_renew: None,
            ready_heartbeat: None,
        });
        entry.probe.elapsed()
    }

    fn default_seconds(&self, key: &str) -> Option<i64> {
        match key {
            TAINT_NOT_READY => Some(self.default_not_ready_seconds),
            TAINT_UNREACHABLE => Some(self.default_unreachable_seconds),
            _ => None,
        }
    }

    /// Marks the node's pods not ready (upstream `MarkPodsNotReady`).
    async fn mark_pods_not_ready(&self, node: &str, now: Timestamp) {
        for pod in self.pods.state() {
            if pod_node(&pod) != Some(node) || is_deleting(&pod.metadata) {
                continue;
            }
            let Some(mut conditions) = pod.status.as_ref().and_then(|s| s.conditions.clone())
            else {
                continue;
            };
            let mut changed = false;
            for c in conditions
                .iter_mut()
                .filter(|c| c.type_ == "Ready" && c.status != "False")
            {
                c.status = "False".into();
                c.last_transition_time = Some(Time(now));
                changed = true;
            }
            if !changed {
                continue;
            }
            let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace_of(&pod.metadata));
            let patch = json!({"status": {"conditions": conditions}});
            match api
                .patch_status(
                    name_of(&pod.metadata),
                    &PatchParams::default(),
                    &Patch::Merge(patch),
                )
                .await
            {
                Ok(_) => {
                    tracing::info!(pod = %key_of(&pod.metadata), node, "marked pod not ready");
                    self.recorder.record(
                        &*pod,
                        "Warning",
                        "NodeNotReady",
                        "Node is not ready".into(),
                    );
                }
                Err(e) if is_not_found(&e) => {}
                Err(e) => {
                    tracing::warn!(pod = %key_of(&pod.metadata), error = %e, "could not mark pod not ready")
                }
            }
        }
    }

    /// Evicts the pods of `node` whose time has come; returns when to look again.
    async fn evict(&self, node: &Node, now: Timestamp) -> Result<Option<Duration>> {
        let name = name_of(&node.metadata);
        let taints: Vec<Taint> = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default()
            .into_iter()
            .filter(|t| t.effect == "NoExecute")
            .collect();
        if taints.is_empty() {
            return Ok(None);
        }
        let mut next: Option<Duration> = None;
        for pod in self.pods.state() {
            if pod_node(&pod) != Some(name) || is_deleting(&pod.metadata) {
                continue;
            }
            match plan_eviction(&pod, &taints, now, |k| self.default_seconds(k)) {
                Eviction::Never => {}
                Eviction::At(at) => {
                    let wait =
                        Duration::from_secs((at.as_second() - now.as_second()).max(1) as u64);
                    next = Some(next.map_or(wait, |n| n.min(wait)));
                }
                Eviction::Now => {
                    let api: Api<Pod> =
                        Api::namespaced(self.client.clone(), namespace_of(&pod.metadata));
                    let params = DeleteParams {
                        preconditions: Some(Preconditions {
                            uid: pod.metadata.uid.clone(),
                            resource_version: None,
                        }),
                        ..Default::default()
                    };
                    match api.delete(name_of(&pod.metadata), &params).await {
                        Ok(_) => {
                            tracing::info!(pod = %key_of(&pod.metadata), node = name, "evicted pod from tainted node");
                            self.recorder.record(
                                &*pod,
                                NORMAL,
                                "TaintManagerEviction",
                                format!("Marking for deletion Pod {}", key_of(&pod.metadata)),
                            );
                        }
                        Err(e) if is_not_found(&e) || is_conflict(&e) => {}
                        Err(e) => return Err(Error::api("evict pod", key_of(&pod.metadata), e)),
                    }
                }
            }
        }
        Ok(next)
    }
}

/// One check of one node: health, taints, evictions.
pub async fn reconcile(node: Arc<Node>, ctx: Arc<NodeLifecycleController>) -> Result<Action> {
    let name = name_of(&node.metadata).to_string();
    let now = crate::util::now();
    let api: Api<Node> = Api::all(ctx.client.clone());
    let mut current = (*node).clone();
    if ctx.lifecycle {
        let since = ctx.since_heartbeat(&name);
        if let Some(conditions) =
            plan_conditions(&current, since, ctx.grace, ctx.startup_grace, now)
        {
            let was_ready = condition(&current, "Ready").map(|c| c.status.clone());
            current
                .status
                .get_or_insert_with(Default::default)
                .conditions = Some(conditions);
            current = api
                .replace_status(&name, &PostParams::default(), &current)
                .await
                .map_err(|e| Error::api("update status of node", name.clone(), e))?;
            tracing::warn!(node = %name, since = ?since, "node stopped posting status: Ready=Unknown");
            if was_ready.as_deref() != Some("Unknown") {
                ctx.recorder.record(
                    &current,
                    NORMAL,
                    "NodeNotReady",
                    format!("Node {name} status is now: NodeNotReady"),
                );
            }
        }
        // While the node is not ready, its pods are not either (idempotent: only pods still
        // reporting Ready are patched).
        let node_ready = condition(&current, "Ready").map(|c| c.status.as_str());
        if matches!(node_ready, Some("Unknown")) {
            ctx.mark_pods_not_ready(&name, now).await;
        }
        let taints = plan_taints(&current, now);
        let existing = current
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default();
        if taints != existing {
            let mut updated = current.clone();
            updated.spec.get_or_insert_with(Default::default).taints =
                (!taints.is_empty()).then_some(taints.clone());
            current = api
                .replace(&name, &PostParams::default(), &updated)
                .await
                .map_err(|e| Error::api("update taints of node", name.clone(), e))?;
            let keys: Vec<String> = taints
                .iter()
                .map(|t| format!("{}:{}", t.key, t.effect))
                .collect();
            tracing::info!(node = %name, taints = ?keys, "updated node taints");
        }
    }
    let mut requeue = ctx.monitor_period;
    if ctx.eviction {
        if let Some(next) = ctx.evict(&current, now).await? {
            requeue = requeue.min(next);
        }
    }
    Ok(Action::requeue(requeue))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{NodeSpec, NodeStatus, PodSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn node(conditions: &[(&str, &str)], taints: Vec<Taint>, unschedulable: bool) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some("n1".into()),
                ..Default::default()
            },
            spec: Some(NodeSpec {
                taints: (!taints.is_empty()).then_some(taints),
                unschedulable: Some(unschedulable),
                ..Default::default()
            }),
            status: Some(NodeStatus {
                conditions: Some(
                    conditions
                        .iter()
                        .map(|(t, s)| NodeCondition {
                            type_: t.to_string(),
                            status: s.to_string(),
                            last_heartbeat_time: Some(Time(ts(10))),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn conditions_go_unknown_after_the_grace_period() {
        let grace = Duration::from_secs(40);
        let startup = Duration::from_secs(60);
        let now = ts(1000);
        let ready = node(
            &[("Ready", "True"), ("MemoryPressure", "False")],
            vec![],
            false,
        );
        // (node, since heartbeat, changes)
        assert!(plan_conditions(&ready, Duration::from_secs(39), grace, startup, now).is_none());
        let changed =
            plan_conditions(&ready, Duration::from_secs(41), grace, startup, now).unwrap();
        let by_type: HashMap<&str, &NodeCondition> =
            changed.iter().map(|c| (c.type_.as_str(), c)).collect();
        assert_eq!(by_type["Ready"].status, "Unknown");
        assert_eq!(
            by_type["Ready"].reason.as_deref(),
            Some("NodeStatusUnknown")
        );
        assert_eq!(
            by_type["Ready"].message.as_deref(),
            Some("Kubelet stopped posting node status.")
        );
        assert_eq!(
            by_type["Ready"].last_heartbeat_time,
            Some(Time(ts(10))),
            "heartbeat time kept"
        );
        assert_eq!(by_type["MemoryPressure"].status, "Unknown");
        assert_eq!(
            by_type["DiskPressure"].reason.as_deref(),
            Some("NodeStatusNeverUpdated")
        );
        // Already Unknown: nothing more.
        let unknown = node(
            &[
                ("Ready", "Unknown"),
                ("MemoryPressure", "Unknown"),
                ("DiskPressure", "Unknown"),
                ("PIDPressure", "Unknown"),
            ],
            vec![],
            false,
        );
        assert!(plan_conditions(&unknown, Duration::from_secs(400), grace, startup, now).is_none());
        // A node that never reported gets the startup grace period.
        let fresh = node(&[], vec![], false);
        assert!(plan_conditions(&fresh, Duration::from_secs(50), grace, startup, now).is_none());
        let never = plan_conditions(&fresh, Duration::from_secs(61), grace, startup, now).unwrap();
        assert_eq!(never[0].reason.as_deref(), Some("NodeStatusNeverUpdated"));
    }

    fn keys(taints: &[Taint]) -> Vec<String> {
        let mut k: Vec<String> = taints
            .iter()
            .map(|t| format!("{}:{}", t.key, t.effect))
            .collect();
        k.sort();
        k
    }

    /// (conditions, existing taints, unschedulable, expected taints)
    type TaintCase = (
        Vec<(&'static str, &'static str)>,
        Vec<Taint>,
        bool,
        Vec<&'static str>,
    );

    #[test]
    fn taints_follow_conditions() {
        let now = ts(500);
        let custom = taint("example.com/gpu", "NoSchedule", None);
        // (conditions, existing taints, unschedulable, expected taints)
        let cases: Vec<TaintCase> = vec![
            (vec![("Ready", "True")], vec![], false, vec![]),
            (
                vec![("Ready", "Unknown")],
                vec![custom.clone()],
                false,
                vec![
                    "example.com/gpu:NoSchedule",
                    "node.kubernetes.io/unreachable:NoExecute",
                    "node.kubernetes.io/unreachable:NoSchedule",
                ],
            ),
            (
                vec![("Ready", "False")],
                vec![taint(TAINT_UNREACHABLE, "NoExecute", Some(Time(ts(1))))],
                false,
                vec![
                    "node.kubernetes.io/not-ready:NoExecute",
                    "node.kubernetes.io/not-ready:NoSchedule",
                ],
            ),
            (
                vec![("Ready", "True"), ("DiskPressure", "True")],
                vec![taint(TAINT_UNREACHABLE, "NoExecute", None), custom.clone()],
                true,
                vec![
                    "example.com/gpu:NoSchedule",
                    "node.kubernetes.io/disk-pressure:NoSchedule",
                    "node.kubernetes.io/unschedulable:NoSchedule",
                ],
            ),
        ];
        for (i, (conditions, existing, unschedulable, expected)) in cases.into_iter().enumerate() {
            let n = node(&conditions, existing, unschedulable);
            assert_eq!(keys(&plan_taints(&n, now)), expected, "case {i}");
        }
        // NoExecute taints carry timeAdded, and keep it once added.
        let n = node(&[("Ready", "Unknown")], vec![], false);
        let taints = plan_taints(&n, now);
        let no_execute = taints.iter().find(|t| t.effect == "NoExecute").unwrap();
        assert_eq!(no_execute.time_added, Some(Time(now)));
        let again = node(&[("Ready", "Unknown")], taints.clone(), false);
        assert_eq!(plan_taints(&again, ts(900)), taints);
    }

    fn toleration(key: &str, operator: &str, effect: &str, seconds: Option<i64>) -> Toleration {
        Toleration {
            key: (!key.is_empty()).then(|| key.to_string()),
            operator: Some(operator.into()),
            effect: (!effect.is_empty()).then(|| effect.to_string()),
            toleration_seconds: seconds,
            value: None,
        }
    }

    fn pod(tolerations: Vec<Toleration>) -> Pod {
        Pod {
            spec: Some(PodSpec {
                tolerations: Some(tolerations),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn evictions_follow_tolerations() {
        let now = ts(1000);
        let unreachable = taint(TAINT_UNREACHABLE, "NoExecute", Some(Time(ts(900))));
        let custom = taint("example.com/maintenance", "NoExecute", Some(Time(ts(900))));
        let defaults = |k: &str| match k {
            TAINT_UNREACHABLE | TAINT_NOT_READY => Some(300),
            _ => None,
        };
        // (pod, taints, expected)
        let cases = vec![
            // No toleration: the default 300 s, counted from timeAdded.
            (
                pod(vec![]),
                vec![unreachable.clone()],
                Eviction::At(ts(1200)),
            ),
            // Its own short toleration.
            (
                pod(vec![toleration(
                    TAINT_UNREACHABLE,
                    "Exists",
                    "NoExecute",
                    Some(60),
                )]),
                vec![unreachable.clone()],
                Eviction::Now,
            ),
            (
                pod(vec![toleration(
                    TAINT_UNREACHABLE,
                    "Exists",
                    "NoExecute",
                    Some(200),
                )]),
                vec![unreachable.clone()],
                Eviction::At(ts(1100)),
            ),
            // Tolerated forever.
            (
                pod(vec![toleration(
                    TAINT_UNREACHABLE,
                    "Exists",
                    "NoExecute",
                    None,
                )]),
                vec![unreachable.clone()],
                Eviction::Never,
            ),
            (
                pod(vec![toleration("", "Exists", "", None)]),
                vec![unreachable.clone(), custom.clone()],
                Eviction::Never,
            ),
            // A taint nobody tolerates and without a default: now.
            (pod(vec![]), vec![custom.clone()], Eviction::Now),
            // The wrong effect does not tolerate.
            (
                pod(vec![toleration(
                    TAINT_UNREACHABLE,
                    "Exists",
                    "NoSchedule",
                    None,
                )]),
                vec![unreachable.clone()],
                Eviction::At(ts(1200)),
            ),
            // NoSchedule taints never evict.
            (
                pod(vec![]),
                vec![taint(TAINT_UNREACHABLE, "NoSchedule", None)],
                Eviction::Never,
            ),
        ];
        for (i, (p, taints, expected)) in cases.into_iter().enumerate() {
            assert_eq!(
                plan_eviction(&p, &taints, now, defaults),
                expected,
                "case {i}"
            );
        }
    }

    #[test]
    fn toleration_matching() {
        let t = Taint {
            key: "k".into(),
            value: Some("v".into()),
            effect: "NoExecute".into(),
            time_added: None,
        };
        let with_value = |op: &str, value: Option<&str>| Toleration {
            key: Some("k".into()),
            operator: Some(op.into()),
            value: value.map(str::to_string),
            effect: None,
            toleration_seconds: None,
        };
        assert!(tolerates(&with_value("Equal", Some("v")), &t));
        assert!(!tolerates(&with_value("Equal", Some("w")), &t));
        assert!(tolerates(&with_value("Exists", None), &t));
        assert!(!tolerates(&with_value("Bogus", None), &t));
        let other_key = Toleration {
            key: Some("x".into()),
            operator: Some("Exists".into()),
            ..Default::default()
        };
        assert!(!tolerates(&other_key, &t));
    }
}
