//! What the filters and scores read: a pod and a node digested once from their API objects.
//!
//! [`PodInfo`] holds a pod's requests, host ports, node selector, compiled node affinity,
//! tolerations and spreading groups; it is built once per scheduling attempt (and once per
//! assigned pod in the cache), so the per-node checks are plain comparisons. [`NodeInfo`] is a
//! node's labels, effective taints, allocatable resources, plus the running totals of the pods
//! on it (requests, host ports, spreading counts) that the [cache](crate::cache) maintains.
//!
//! Nothing here fails: missing fields are empty, bad quantities count as zero (and are listed
//! in [`PodInfo::bad_quantities`]), node-affinity terms that do not compile match nothing.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{
    Node, NodeSelectorRequirement, NodeSelectorTerm, Pod, PodSpec, Taint, Toleration,
};
use tinykube_apimachinery::labels::{Operator, Requirement};

use crate::resources::{self, BadQuantity, NonZero, Resources};

/// Label of a node's zone (upstream `topology.kubernetes.io/zone`).
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
/// Label of a node's region.
pub const REGION_LABEL: &str = "topology.kubernetes.io/region";
/// Taint the node lifecycle controller puts on a node whose Ready condition is False.
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
/// Taint the node lifecycle controller puts on a node whose Ready condition is Unknown.
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// Taint tolerated to land on a `spec.unschedulable` node.
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

/// One host port a container asks for (`hostPort > 0`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// `TCP`, `UDP` or `SCTP` (default `TCP`).
    pub protocol: String,
    /// `hostIP`, `0.0.0.0` when unset.
    pub ip: String,
    pub port: i32,
}

impl HostPort {
    /// Whether two host ports cannot both be bound: same protocol and port, and the same IP or
    /// either is the wildcard (upstream `HostPortInfo.CheckConflict`).
    pub fn conflicts_with(&self, other: &HostPort) -> bool {
        self.port == other.port
            && self.protocol == other.protocol
            && (self.ip == other.ip || self.ip == "0.0.0.0" || other.ip == "0.0.0.0")
    }
}

/// The host ports of a pod's containers and sidecars.
pub fn host_ports(spec: &PodSpec) -> Vec<HostPort> {
    let sidecars = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"));
    spec.containers
        .iter()
        .chain(sidecars)
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| {
            let port = p.host_port.filter(|port| *port > 0)?;
            Some(HostPort {
                protocol: p
                    .protocol
                    .clone()
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "TCP".to_string()),
                ip: p
                    .host_ip
                    .clone()
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "0.0.0.0".to_string()),
                port,
            })
        })
        .collect()
}

/// A compiled `nodeSelectorTerm`: requirements on labels (`matchExpressions`) and on fields
/// (`matchFields`, only `metadata.name`). A term that failed to compile, or is empty, matches
/// nothing (upstream).
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    labels: Vec<Requirement>,
    fields: Vec<Requirement>,
    valid: bool,
}

fn compile_requirement(expression: &NodeSelectorRequirement) -> Option<Requirement> {
    let operator = match expression.operator.as_str() {
        "In" => Operator::In,
        "NotIn" => Operator::NotIn,
        "Exists" => Operator::Exists,
        "DoesNotExist" => Operator::DoesNotExist,
        "Gt" => Operator::GreaterThan,
        "Lt" => Operator::LessThan,
        _ => return None,
    };
    let values = expression.values.iter().flatten().map(String::as_str);
    Requirement::new(&expression.key, operator, values).ok()
}

impl Term {
    /// Compiles a term; invalid expressions (unknown operator, bad values) make it match
    /// nothing.
    pub fn compile(term: &NodeSelectorTerm) -> Term {
        let mut valid = true;
        let mut compile_all = |list: Option<&Vec<NodeSelectorRequirement>>| -> Vec<Requirement> {
            list.into_iter()
                .flatten()
                .filter_map(|e| {
                    let r = compile_requirement(e);
                    valid &= r.is_some();
                    r
                })
                .collect()
        };
        let labels = compile_all(term.match_expressions.as_ref());
        let fields = compile_all(term.match_fields.as_ref());
        let fields_ok = fields.iter().all(|r| r.key == "metadata.name");
        Term {
            valid: valid && fields_ok && !(labels.is_empty() && fields.is_empty()),
            labels,
            fields,
        }
    }

    /// Whether the node (its labels and name) satisfies every requirement of the term.
    pub fn matches(&self, labels: &BTreeMap<String, String>, node_name: &str) -> bool {
        if !self.valid {
            return false;
        }
        if !self.labels.iter().all(|r| r.matches(labels)) {
            return false;
        }
        if self.fields.is_empty() {
            return true;
        }
        let fields = NameFields(node_name);
        self.fields.iter().all(|r| r.matches(&fields))
    }
}

/// A node's fields as a label source (`metadata.name` only).
struct NameFields<'a>(&'a str);

impl tinykube_apimachinery::labels::LabelSource for NameFields<'_> {
    fn label(&self, key: &str) -> Option<&str> {
        (key == "metadata.name").then_some(self.0)
    }
}

/// A pod, digested for scheduling. See the [module docs](self).
#[derive(Debug, Clone, Default)]
pub struct PodInfo {
    /// `namespace/name`.
    pub key: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub labels: BTreeMap<String, String>,
    /// What the pod requests (for fitting).
    pub requests: Resources,
    /// CPU and memory with upstream's defaults for missing requests (for scoring).
    pub non_zero: NonZero,
    pub host_ports: Vec<HostPort>,
    /// `spec.nodeSelector`.
    pub node_selector: BTreeMap<String, String>,
    /// `requiredDuringSchedulingIgnoredDuringExecution` terms (ORed); `None` when absent.
    pub required_terms: Option<Vec<Term>>,
    /// `preferredDuringSchedulingIgnoredDuringExecution`: (weight, term).
    pub preferred_terms: Vec<(i64, Term)>,
    pub tolerations: Vec<Toleration>,
    /// The groups this pod spreads with: its ReplicaSet / ReplicationController /
    /// StatefulSet (`owner:<uid>`) and the Services selecting it (`svc:<ns>/<name>`).
    pub spread_groups: Vec<Arc<str>>,
    /// `spec.priority` (0 when unset).
    pub priority: i32,
    /// Quantities that did not parse (counted as zero).
    pub bad_quantities: Vec<BadQuantity>,
}

/// Owner kinds whose pods spread across nodes (upstream SelectorSpread).
const SPREAD_OWNER_KINDS: &[&str] = &["ReplicaSet", "ReplicationController", "StatefulSet"];

impl PodInfo {
    /// Digests `pod`. `service_groups` names the Services (`svc:<ns>/<name>`) that select it;
    /// the [cache](crate::cache::Cache::pod_info) computes them.
    pub fn new(pod: &Pod, service_groups: Vec<Arc<str>>) -> PodInfo {
        let meta = &pod.metadata;
        let namespace = meta.namespace.clone().unwrap_or_default();
        let name = meta.name.clone().unwrap_or_default();
        let empty = PodSpec::default();
        let spec = pod.spec.as_ref().unwrap_or(&empty);
        let mut bad_quantities = Vec::new();
        let requests = resources::pod_requests(spec, &mut bad_quantities);
        let node_affinity = spec
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref());
        let required_terms = node_affinity
            .and_then(|na| {
                na.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .map(|selector| {
                selector
                    .node_selector_terms
                    .iter()
                    .map(Term::compile)
                    .collect()
            });
        let preferred_terms = node_affinity
            .and_then(|na| {
                na.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .into_iter()
            .flatten()
            .filter(|p| p.weight != 0)
            .map(|p| (i64::from(p.weight), Term::compile(&p.preference)))
            .collect();
        let mut spread_groups: Vec<Arc<str>> = meta
            .owner_references
            .iter()
            .flatten()
            .filter(|o| o.controller == Some(true) && SPREAD_OWNER_KINDS.contains(&o.kind.as_str()))
            .map(|o| Arc::from(format!("owner:{}", o.uid)))
            .collect();
        spread_groups.extend(service_groups);
        PodInfo {
            key: format!("{namespace}/{name}"),
            namespace,
            name,
            uid: meta.uid.clone().unwrap_or_default(),
            labels: meta.labels.clone().unwrap_or_default(),
            non_zero: resources::pod_non_zero_requests(spec),
            requests,
            host_ports: host_ports(spec),
            node_selector: spec.node_selector.clone().unwrap_or_default(),
            required_terms,
            preferred_terms,
            tolerations: spec.tolerations.clone().unwrap_or_default(),
            spread_groups,
            priority: spec.priority.unwrap_or(0),
            bad_quantities,
        }
    }
}

/// `namespace/name` of an object's metadata.
pub fn pod_key(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}

/// The parts of a Node that scheduling decisions read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeSpecView {
    pub labels: BTreeMap<String, String>,
    /// `spec.taints` plus the taint the node lifecycle controller would put on a node that is
    /// not Ready (`not-ready` for False or no condition, `unreachable` for Unknown).
    pub taints: Vec<Taint>,
    pub unschedulable: bool,
    pub allocatable: Resources,
    /// Region and zone, as upstream's `GetZoneKey` combines them; `None` without labels.
    pub zone: Option<String>,
}

/// A node's Ready condition status (`True`, `False`, `Unknown`), `None` when it has none.
pub fn ready_status(node: &Node) -> Option<&str> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.status.as_str())
}

impl NodeSpecView {
    pub fn new(node: &Node) -> NodeSpecView {
        let labels = node.metadata.labels.clone().unwrap_or_default();
        let spec = node.spec.as_ref();
        let mut taints: Vec<Taint> = spec.and_then(|s| s.taints.clone()).unwrap_or_default();
        let implicit = match ready_status(node) {
            Some("True") => None,
            Some("Unknown") => Some(TAINT_UNREACHABLE),
            _ => Some(TAINT_NOT_READY),
        };
        if let Some(key) = implicit {
            if !taints
                .iter()
                .any(|t| t.key == key && t.effect == "NoSchedule")
            {
                taints.push(Taint {
                    key: key.to_string(),
                    effect: "NoSchedule".to_string(),
                    ..Taint::default()
                });
            }
        }
        let status = node.status.as_ref();
        let list = status
            .and_then(|s| s.allocatable.as_ref())
            .or_else(|| status.and_then(|s| s.capacity.as_ref()));
        let mut bad = Vec::new();
        let allocatable = Resources::from_list(list, &mut bad);
        if !bad.is_empty() {
            tracing::warn!(
                node = node.metadata.name.as_deref().unwrap_or_default(),
                ?bad,
                "node has allocatable quantities that do not parse; counting them as zero"
            );
        }
        let region = labels
            .get(REGION_LABEL)
            .map(String::as_str)
            .unwrap_or_default();
        let zone = labels
            .get(ZONE_LABEL)
            .map(String::as_str)
            .unwrap_or_default();
        let zone =
            (!region.is_empty() || !zone.is_empty()).then(|| format!("{region}:\x00:{zone}"));
        NodeSpecView {
            labels,
            taints,
            unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
            allocatable,
            zone,
        }
    }
}

/// A node and the totals of the pods on it. See the [module docs](self).
#[derive(Debug, Clone, Default)]
pub struct NodeInfo {
    pub name: String,
    pub view: NodeSpecView,
    /// Sum of the requests of the pods on the node.
    pub requested: Resources,
    /// Sum of their scoring requests (with defaults).
    pub non_zero_requested: NonZero,
    /// Number of pods on the node.
    pub pod_count: i64,
    /// Host ports in use.
    pub used_ports: Vec<HostPort>,
    /// How many pods of each spreading group run here.
    pub spread_counts: HashMap<Arc<str>, u32>,
}

impl NodeInfo {
    /// An empty node (no pods yet).
    pub fn new(name: impl Into<String>, view: NodeSpecView) -> NodeInfo {
        NodeInfo {
            name: name.into(),
            view,
            ..NodeInfo::default()
        }
    }

    /// Counts `pod` as running here.
    pub fn add_pod(&mut self, pod: &PodInfo) {
        self.requested.add(&pod.requests);
        self.non_zero_requested.milli_cpu += pod.non_zero.milli_cpu;
        self.non_zero_requested.memory += pod.non_zero.memory;
        self.pod_count += 1;
        self.used_ports.extend(pod.host_ports.iter().cloned());
        for group in &pod.spread_groups {
            *self.spread_counts.entry(group.clone()).or_insert(0) += 1;
        }
    }

    /// Stops counting `pod` (which must have been added with the same contents).
    pub fn remove_pod(&mut self, pod: &PodInfo) {
        self.requested.sub(&pod.requests);
        self.non_zero_requested.milli_cpu -= pod.non_zero.milli_cpu;
        self.non_zero_requested.memory -= pod.non_zero.memory;
        self.pod_count -= 1;
        for port in &pod.host_ports {
            if let Some(i) = self.used_ports.iter().position(|p| p == port) {
                self.used_ports.swap_remove(i);
            }
        }
        for group in &pod.spread_groups {
            if let Some(count) = self.spread_counts.get_mut(group) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    self.spread_counts.remove(group);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(value: serde_json::Value) -> Node {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn node_view_adds_the_taint_for_not_ready() {
        let ready = |status: Option<&str>| {
            let conditions = status
                .map(|s| json!([{"type": "Ready", "status": s}]))
                .unwrap_or(json!([]));
            NodeSpecView::new(&node(
                json!({"metadata": {"name": "n"}, "status": {"conditions": conditions}}),
            ))
            .taints
            .iter()
            .map(|t| format!("{}:{}", t.key, t.effect))
            .collect::<Vec<_>>()
        };
        assert!(ready(Some("True")).is_empty());
        assert_eq!(
            ready(Some("False")),
            ["node.kubernetes.io/not-ready:NoSchedule"]
        );
        assert_eq!(ready(None), ["node.kubernetes.io/not-ready:NoSchedule"]);
        assert_eq!(
            ready(Some("Unknown")),
            ["node.kubernetes.io/unreachable:NoSchedule"]
        );
    }

    #[test]
    fn node_view_reads_allocatable_then_capacity() {
        let view = NodeSpecView::new(&node(json!({
            "metadata": {"name": "n", "labels": {"topology.kubernetes.io/zone": "a"}},
            "spec": {"unschedulable": true},
            "status": {"capacity": {"cpu": "8", "pods": "10"}, "allocatable": {"cpu": "7500m", "memory": "1Gi", "pods": "9"}},
        })));
        assert_eq!(view.allocatable.milli_cpu, 7500);
        assert_eq!(view.allocatable.memory, 1 << 30);
        assert_eq!(view.allocatable.pods, 9);
        assert!(view.unschedulable);
        assert_eq!(view.zone.as_deref(), Some(":\x00:a"));
        let view = NodeSpecView::new(&node(
            json!({"metadata": {"name": "n"}, "status": {"capacity": {"cpu": "2", "memory": "bogus"}}}),
        ));
        assert_eq!(view.allocatable.milli_cpu, 2000);
        assert_eq!(view.allocatable.memory, 0);
        assert_eq!(view.zone, None);
    }

    #[test]
    fn host_ports_conflict_like_upstream() {
        let p = |protocol: &str, ip: &str, port| HostPort {
            protocol: protocol.into(),
            ip: ip.into(),
            port,
        };
        // (a, b, conflict)
        let cases = [
            (p("TCP", "0.0.0.0", 80), p("TCP", "0.0.0.0", 80), true),
            (p("TCP", "0.0.0.0", 80), p("TCP", "10.0.0.1", 80), true),
            (p("TCP", "10.0.0.2", 80), p("TCP", "10.0.0.1", 80), false),
            (p("TCP", "10.0.0.1", 80), p("TCP", "10.0.0.1", 80), true),
            (p("TCP", "0.0.0.0", 80), p("UDP", "0.0.0.0", 80), false),
            (p("TCP", "0.0.0.0", 80), p("TCP", "0.0.0.0", 81), false),
        ];
        for (a, b, conflict) in cases {
            assert_eq!(a.conflicts_with(&b), conflict, "{a:?} vs {b:?}");
            assert_eq!(b.conflicts_with(&a), conflict, "{b:?} vs {a:?}");
        }
    }

    #[test]
    fn pod_info_reads_ports_affinity_and_owner() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u1", "labels": {"app": "web"},
                "ownerReferences": [
                    {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "rs-uid", "controller": true},
                    {"apiVersion": "v1", "kind": "ConfigMap", "name": "cm", "uid": "cm-uid"},
                ]},
            "spec": {
                "priority": 5,
                "containers": [{"name": "c", "ports": [
                    {"containerPort": 80, "hostPort": 8080},
                    {"containerPort": 53, "protocol": "UDP", "hostPort": 53, "hostIP": "10.0.0.1"},
                    {"containerPort": 9090},
                ]}],
                "affinity": {"nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]},
                        {"matchExpressions": [{"key": "disk", "operator": "Bogus"}]},
                    ]},
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {"weight": 10, "preference": {"matchExpressions": [{"key": "zone", "operator": "Exists"}]}},
                        {"weight": 0, "preference": {"matchExpressions": [{"key": "zone", "operator": "Exists"}]}},
                    ],
                }},
            },
        }))
        .unwrap();
        let info = PodInfo::new(&pod, vec![Arc::from("svc:ns/web")]);
        assert_eq!(info.key, "ns/p");
        assert_eq!(info.priority, 5);
        assert_eq!(info.host_ports.len(), 2);
        assert_eq!(info.host_ports[0].protocol, "TCP");
        assert_eq!(info.host_ports[0].ip, "0.0.0.0");
        assert_eq!(info.host_ports[1].ip, "10.0.0.1");
        let terms = info.required_terms.as_ref().unwrap();
        assert_eq!(terms.len(), 2);
        let ssd = BTreeMap::from([("disk".to_string(), "ssd".to_string())]);
        assert!(terms[0].matches(&ssd, "n"));
        assert!(!terms[1].matches(&ssd, "n"), "a bad term matches nothing");
        assert_eq!(info.preferred_terms.len(), 1);
        let groups: Vec<&str> = info.spread_groups.iter().map(|g| &**g).collect();
        assert_eq!(groups, ["owner:rs-uid", "svc:ns/web"]);
    }

    #[test]
    fn pod_info_of_an_empty_pod_is_empty() {
        let info = PodInfo::new(&Pod::default(), Vec::new());
        assert_eq!(info.key, "/");
        assert!(info.requests.is_empty_request());
        assert!(info.required_terms.is_none());
        assert!(info.spread_groups.is_empty());
    }

    #[test]
    fn node_accounting_adds_and_removes() {
        let pod = PodInfo {
            requests: Resources {
                milli_cpu: 100,
                memory: 10,
                ..Resources::default()
            },
            non_zero: NonZero {
                milli_cpu: 100,
                memory: 10,
            },
            host_ports: vec![HostPort {
                protocol: "TCP".into(),
                ip: "0.0.0.0".into(),
                port: 80,
            }],
            spread_groups: vec![Arc::from("owner:x")],
            ..PodInfo::default()
        };
        let mut node = NodeInfo::new("n", NodeSpecView::default());
        node.add_pod(&pod);
        node.add_pod(&pod);
        assert_eq!(node.pod_count, 2);
        assert_eq!(node.requested.milli_cpu, 200);
        assert_eq!(node.used_ports.len(), 2);
        assert_eq!(node.spread_counts.get("owner:x"), Some(&2));
        node.remove_pod(&pod);
        node.remove_pod(&pod);
        assert_eq!(node.pod_count, 0);
        assert_eq!(node.requested, Resources::default());
        assert!(node.used_ports.is_empty());
        assert!(node.spread_counts.is_empty());
    }
}
