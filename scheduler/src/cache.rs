//! The scheduler's view of the cluster: nodes, and the pods already placed on them.
//!
//! A placed pod is either *confirmed* (the watch showed it with `spec.nodeName`) or *assumed*:
//! the scheduler chose a node and counts the pod there at once, before its binding has gone
//! through and come back on the watch. Assuming is what keeps two pods from landing on a node
//! that fits only one of them while bindings are in flight (upstream `Cache.AssumePod`). A
//! failed binding [forgets](Cache::forget) the pod; the watch event of a successful one
//! confirms it.
//!
//! Every node keeps running totals ([`NodeInfo`]) so a filter never walks the pods. Pods may
//! name a node the cache does not know (yet): they are kept and counted as soon as the node
//! appears. Services are kept to know which pods spread together
//! ([`PodInfo::spread_groups`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod, Service};
use tinykube_apimachinery::labels::Selector;

use crate::info::{pod_key, NodeInfo, NodeSpecView, PodInfo};

/// A pod counted on a node.
#[derive(Debug, Clone)]
pub struct CachedPod {
    pub node: String,
    pub info: Arc<PodInfo>,
    /// Placed by us, not yet seen bound on the watch.
    pub assumed: bool,
}

/// What [`Cache::upsert_node`] changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeChange {
    Added,
    /// `relevant` when something scheduling reads changed (labels, taints, readiness,
    /// allocatable, `unschedulable`), as opposed to a heartbeat.
    Updated {
        relevant: bool,
    },
}

/// See the [module docs](self).
#[derive(Debug, Default)]
pub struct Cache {
    nodes: Vec<NodeInfo>,
    node_index: HashMap<String, usize>,
    pods: HashMap<String, CachedPod>,
    pods_by_node: HashMap<String, HashSet<String>>,
    /// namespace → service name → selector.
    services: HashMap<String, BTreeMap<String, Selector>>,
}

impl Cache {
    pub fn new() -> Cache {
        Cache::default()
    }

    /// Every known node, in a stable order (the algorithm's round robin walks it).
    pub fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.node_index.get(name).map(|i| &self.nodes[*i])
    }

    /// The placed pod `key` (`namespace/name`), assumed or confirmed.
    pub fn pod(&self, key: &str) -> Option<&CachedPod> {
        self.pods.get(key)
    }

    pub fn pod_count(&self) -> usize {
        self.pods.len()
    }

    pub fn assumed_count(&self) -> usize {
        self.pods.values().filter(|p| p.assumed).count()
    }

    pub fn is_assumed(&self, key: &str) -> bool {
        self.pods.get(key).is_some_and(|p| p.assumed)
    }

    /// Adds or updates a node (a Node without a name is ignored: `None`).
    pub fn upsert_node(&mut self, node: &Node) -> Option<NodeChange> {
        let name = node.metadata.name.as_deref().filter(|n| !n.is_empty())?;
        let view = NodeSpecView::new(node);
        if let Some(i) = self.node_index.get(name) {
            let info = &mut self.nodes[*i];
            let relevant = info.view != view;
            info.view = view;
            return Some(NodeChange::Updated { relevant });
        }
        let mut info = NodeInfo::new(name, view);
        for key in self.pods_by_node.get(name).into_iter().flatten() {
            if let Some(pod) = self.pods.get(key) {
                info.add_pod(&pod.info);
            }
        }
        self.node_index.insert(name.to_string(), self.nodes.len());
        self.nodes.push(info);
        Some(NodeChange::Added)
    }

    /// Removes a node; its pods stay known (and counted again if it comes back).
    pub fn remove_node(&mut self, name: &str) -> bool {
        let Some(i) = self.node_index.remove(name) else {
            return false;
        };
        self.nodes.swap_remove(i);
        if let Some(moved) = self.nodes.get(i) {
            self.node_index.insert(moved.name.clone(), i);
        }
        true
    }

    /// Removes every node not in `keep` (after a relist).
    pub fn retain_nodes(&mut self, keep: &HashSet<String>) {
        let gone: Vec<String> = self
            .node_index
            .keys()
            .filter(|n| !keep.contains(*n))
            .cloned()
            .collect();
        for name in gone {
            self.remove_node(&name);
        }
    }

    /// The Services of `namespace` selecting `labels`, as spreading groups.
    fn service_groups(&self, namespace: &str, labels: &BTreeMap<String, String>) -> Vec<Arc<str>> {
        self.services
            .get(namespace)
            .into_iter()
            .flatten()
            .filter(|(_, selector)| selector.matches(labels))
            .map(|(name, _)| Arc::from(format!("svc:{namespace}/{name}")))
            .collect()
    }

    /// Digests `pod` for scheduling, with its spreading groups.
    pub fn pod_info(&self, pod: &Pod) -> PodInfo {
        let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
        let groups = match &pod.metadata.labels {
            Some(labels) => self.service_groups(namespace, labels),
            None => Vec::new(),
        };
        PodInfo::new(pod, groups)
    }

    fn account(&mut self, node: &str, info: &PodInfo, add: bool) {
        if let Some(i) = self.node_index.get(node) {
            let n = &mut self.nodes[*i];
            if add {
                n.add_pod(info);
            } else {
                n.remove_pod(info);
            }
        }
    }

    fn insert(&mut self, key: String, pod: CachedPod) {
        self.remove_pod(&key);
        self.account(&pod.node, &pod.info, true);
        self.pods_by_node
            .entry(pod.node.clone())
            .or_default()
            .insert(key.clone());
        self.pods.insert(key, pod);
    }

    /// Counts `info` on `node` before its binding is confirmed.
    pub fn assume(&mut self, info: Arc<PodInfo>, node: &str) {
        let key = info.key.clone();
        self.insert(
            key,
            CachedPod {
                node: node.to_string(),
                info,
                assumed: true,
            },
        );
    }

    /// Undoes [`assume`](Self::assume) (the binding failed). A confirmed pod is left alone.
    pub fn forget(&mut self, key: &str) -> bool {
        if self.is_assumed(key) {
            self.remove_pod(key)
        } else {
            false
        }
    }

    /// Records a pod the watch shows on a node (`spec.nodeName` set): confirms an assumed
    /// pod, or adds or moves it. Pods without a node or a name are ignored.
    pub fn upsert_assigned_pod(&mut self, pod: &Pod) {
        let Some(node) = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .filter(|n| !n.is_empty())
        else {
            return;
        };
        if pod.metadata.name.as_deref().unwrap_or_default().is_empty() {
            return;
        }
        let key = pod_key(pod);
        if let Some(existing) = self.pods.get_mut(&key) {
            let same_pod = existing.info.uid == pod.metadata.uid.as_deref().unwrap_or_default();
            if existing.assumed && existing.node == node && same_pod {
                existing.assumed = false;
                return;
            }
        }
        let info = Arc::new(self.pod_info(pod));
        if let Some(existing) = self.pods.get(&key) {
            if !existing.assumed
                && existing.node == node
                && existing.info.requests == info.requests
                && existing.info.host_ports == info.host_ports
                && existing.info.spread_groups == info.spread_groups
            {
                // A status update: nothing the node's totals depend on changed.
                return;
            }
        }
        self.insert(
            key,
            CachedPod {
                node: node.to_string(),
                info,
                assumed: false,
            },
        );
    }

    /// Removes a placed pod (deleted, or finished); true if it was counted.
    pub fn remove_pod(&mut self, key: &str) -> bool {
        let Some(pod) = self.pods.remove(key) else {
            return false;
        };
        self.account(&pod.node, &pod.info, false);
        if let Some(keys) = self.pods_by_node.get_mut(&pod.node) {
            keys.remove(key);
            if keys.is_empty() {
                self.pods_by_node.remove(&pod.node);
            }
        }
        true
    }

    /// Removes every confirmed pod not in `keep` (after a relist); assumed pods stay.
    pub fn retain_pods(&mut self, keep: &HashSet<String>) {
        let gone: Vec<String> = self
            .pods
            .iter()
            .filter(|(key, pod)| !pod.assumed && !keep.contains(*key))
            .map(|(key, _)| key.clone())
            .collect();
        for key in gone {
            self.remove_pod(&key);
        }
    }

    /// Adds or updates a Service; pods of its namespace are regrouped when its selector
    /// changed. A Service without a selector groups nothing.
    pub fn upsert_service(&mut self, service: &Service) {
        let namespace = service.metadata.namespace.clone().unwrap_or_default();
        let name = service.metadata.name.clone().unwrap_or_default();
        let selector = service
            .spec
            .as_ref()
            .and_then(|s| s.selector.as_ref())
            .filter(|s| !s.is_empty())
            .map(Selector::from_map);
        let services = self.services.entry(namespace.clone()).or_default();
        let changed = match selector {
            Some(selector) => services.insert(name, selector.clone()) != Some(selector),
            None => services.remove(&name).is_some(),
        };
        if changed {
            self.regroup(&namespace);
        }
    }

    pub fn remove_service(&mut self, namespace: &str, name: &str) {
        let removed = self
            .services
            .get_mut(namespace)
            .and_then(|s| s.remove(name))
            .is_some();
        if removed {
            self.regroup(namespace);
        }
    }

    /// Removes every Service not in `keep` (`namespace/name`, after a relist).
    pub fn retain_services(&mut self, keep: &HashSet<String>) {
        let gone: Vec<(String, String)> = self
            .services
            .iter()
            .flat_map(|(ns, names)| names.keys().map(move |n| (ns.clone(), n.clone())))
            .filter(|(ns, n)| !keep.contains(&format!("{ns}/{n}")))
            .collect();
        for (ns, name) in gone {
            self.remove_service(&ns, &name);
        }
    }

    /// Recomputes the Service groups of the placed pods of `namespace`.
    fn regroup(&mut self, namespace: &str) {
        let keys: Vec<String> = self
            .pods
            .iter()
            .filter(|(_, p)| p.info.namespace == namespace)
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            let Some(pod) = self.pods.get(&key) else {
                continue;
            };
            let mut groups: Vec<Arc<str>> = pod
                .info
                .spread_groups
                .iter()
                .filter(|g| g.starts_with("owner:"))
                .cloned()
                .collect();
            groups.extend(self.service_groups(namespace, &pod.info.labels));
            if groups == pod.info.spread_groups {
                continue;
            }
            let mut info = (*pod.info).clone();
            info.spread_groups = groups;
            let updated = CachedPod {
                node: pod.node.clone(),
                info: Arc::new(info),
                assumed: pod.assumed,
            };
            self.insert(key, updated);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, cpu: &str) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "status": {"allocatable": {"cpu": cpu, "memory": "4Gi", "pods": "10"},
                       "conditions": [{"type": "Ready", "status": "True"}]},
        }))
        .unwrap()
    }

    fn pod(name: &str, node: Option<&str>, cpu: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"), "labels": {"app": "web"}},
            "spec": {"nodeName": node, "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]},
        }))
        .unwrap()
    }

    #[test]
    fn assumed_pods_count_until_forgotten_or_confirmed() {
        let mut cache = Cache::new();
        cache.upsert_node(&node("n1", "1"));
        let p = pod("a", None, "600m");
        let info = Arc::new(cache.pod_info(&p));
        cache.assume(info.clone(), "n1");
        assert!(cache.is_assumed("default/a"));
        assert_eq!(cache.node("n1").unwrap().requested.milli_cpu, 600);

        // A second identical pod no longer fits: the filter sees the assumed one.
        let second = cache.pod_info(&pod("b", None, "600m"));
        assert!(crate::filter::run_filters(&second, cache.node("n1").unwrap()).is_err());

        // Forgetting gives the room back.
        assert!(cache.forget("default/a"));
        assert_eq!(cache.node("n1").unwrap().requested.milli_cpu, 0);
        assert_eq!(cache.node("n1").unwrap().pod_count, 0);

        // Assume again, then the watch confirms: counted once.
        cache.assume(info, "n1");
        cache.upsert_assigned_pod(&pod("a", Some("n1"), "600m"));
        assert!(!cache.is_assumed("default/a"));
        assert_eq!(cache.node("n1").unwrap().requested.milli_cpu, 600);
        assert_eq!(cache.node("n1").unwrap().pod_count, 1);
        // A confirmed pod is not forgotten.
        assert!(!cache.forget("default/a"));
        assert!(cache.remove_pod("default/a"));
        assert_eq!(cache.node("n1").unwrap().pod_count, 0);
    }

    #[test]
    fn pods_on_unknown_nodes_count_when_the_node_appears() {
        let mut cache = Cache::new();
        cache.upsert_assigned_pod(&pod("a", Some("late"), "500m"));
        cache.upsert_assigned_pod(&pod("b", Some("late"), "250m"));
        assert_eq!(cache.pod_count(), 2);
        assert_eq!(
            cache.upsert_node(&node("late", "2")),
            Some(NodeChange::Added)
        );
        assert_eq!(cache.node("late").unwrap().requested.milli_cpu, 750);
        assert_eq!(cache.node("late").unwrap().pod_count, 2);
        // Removing and re-adding the node recounts its pods.
        assert!(cache.remove_node("late"));
        assert!(cache.node("late").is_none());
        cache.upsert_node(&node("late", "2"));
        assert_eq!(cache.node("late").unwrap().pod_count, 2);
    }

    #[test]
    fn moving_a_pod_moves_its_requests() {
        let mut cache = Cache::new();
        cache.upsert_node(&node("n1", "2"));
        cache.upsert_node(&node("n2", "2"));
        cache.upsert_assigned_pod(&pod("a", Some("n1"), "500m"));
        cache.upsert_assigned_pod(&pod("a", Some("n2"), "500m"));
        assert_eq!(cache.node("n1").unwrap().requested.milli_cpu, 0);
        assert_eq!(cache.node("n2").unwrap().requested.milli_cpu, 500);
        // A status-only update changes nothing.
        cache.upsert_assigned_pod(&pod("a", Some("n2"), "500m"));
        assert_eq!(cache.node("n2").unwrap().pod_count, 1);
    }

    #[test]
    fn node_updates_report_relevance_and_removal_keeps_indexes() {
        let mut cache = Cache::new();
        for name in ["a", "b", "c"] {
            cache.upsert_node(&node(name, "1"));
        }
        assert_eq!(
            cache.upsert_node(&node("b", "1")),
            Some(NodeChange::Updated { relevant: false })
        );
        assert_eq!(
            cache.upsert_node(&node("b", "2")),
            Some(NodeChange::Updated { relevant: true })
        );
        cache.remove_node("a");
        assert_eq!(cache.node("c").unwrap().name, "c");
        assert_eq!(cache.node("b").unwrap().view.allocatable.milli_cpu, 2000);
        cache.retain_nodes(&HashSet::from(["b".to_string()]));
        assert_eq!(cache.nodes().len(), 1);
        assert_eq!(cache.upsert_node(&Node::default()), None);
    }

    #[test]
    fn services_group_the_pods_they_select() {
        let mut cache = Cache::new();
        cache.upsert_node(&node("n1", "2"));
        cache.upsert_assigned_pod(&pod("a", Some("n1"), "100m"));
        let service: Service = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"app": "web"}},
        }))
        .unwrap();
        cache.upsert_service(&service);
        let group: Arc<str> = Arc::from("svc:default/web");
        assert_eq!(
            cache.node("n1").unwrap().spread_counts.get(&group),
            Some(&1)
        );
        let info = cache.pod_info(&pod("b", None, "100m"));
        assert_eq!(info.spread_groups, vec![group.clone()]);
        cache.remove_service("default", "web");
        assert!(cache.node("n1").unwrap().spread_counts.is_empty());
    }

    #[test]
    fn relists_drop_what_is_gone_but_keep_assumed_pods() {
        let mut cache = Cache::new();
        cache.upsert_node(&node("n1", "2"));
        cache.upsert_assigned_pod(&pod("gone", Some("n1"), "100m"));
        cache.upsert_assigned_pod(&pod("kept", Some("n1"), "100m"));
        let assumed = Arc::new(cache.pod_info(&pod("flying", None, "100m")));
        cache.assume(assumed, "n1");
        cache.retain_pods(&HashSet::from(["default/kept".to_string()]));
        assert!(cache.pod("default/gone").is_none());
        assert!(cache.pod("default/kept").is_some());
        assert!(cache.is_assumed("default/flying"));
        assert_eq!(cache.node("n1").unwrap().pod_count, 2);
    }

    #[test]
    fn odd_pods_are_ignored() {
        let mut cache = Cache::new();
        cache.upsert_assigned_pod(&Pod::default());
        let nameless: Pod = serde_json::from_value(
            json!({"metadata": {}, "spec": {"nodeName": "n", "containers": []}}),
        )
        .unwrap();
        cache.upsert_assigned_pod(&nameless);
        assert_eq!(cache.pod_count(), 0);
    }
}
