//! The garbage collector (upstream `pkg/controller/garbagecollector`): objects whose owners are
//! gone are deleted; deletions with `propagationPolicy` Orphan and Foreground are finished.
//!
//! It watches every resource that can be listed, watched and deleted (from discovery, events
//! excepted) and keeps a graph of objects and their `ownerReferences` ([`Graph`]). A pass of
//! the pure [`plan_gc`] over the graph yields [`GcAction`]s, as upstream's `attemptToDeleteItem`,
//! `processDeletingDependentsItem` and `orphanDependents` decide them:
//!
//! - a dependent whose owners are all gone is deleted (with the propagation its own finalizers
//!   ask for); one with some live owners has the dangling references removed;
//! - an owner deleted in the foreground (`foregroundDeletion` finalizer) has its dependents
//!   deleted (those with dependents of their own in the foreground too), and loses the finalizer
//!   once no dependent with `blockOwnerDeletion: true` is left;
//! - an owner deleted with `orphan` has its references removed from every dependent, then loses
//!   the finalizer.
//!
//! The graph may lag behind the apiserver, so an owner missing from it is confirmed absent with
//! a live GET (404, or another uid under that name) before anything is deleted because of it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, DynamicObject, PostParams, Preconditions, PropagationPolicy};
use kube::Client;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::discovery::{discover, garbage_collected, ServedResource};
use crate::error::{is_conflict, is_not_found, Error, Result};
use crate::informer::{Change, Informer};

/// The finalizer of an Orphan deletion.
pub const ORPHAN: &str = "orphan";
/// The finalizer of a Foreground deletion.
pub const FOREGROUND: &str = "foregroundDeletion";

/// How long an issued action is not repeated while the watch catches up.
const REPEAT_AFTER: Duration = Duration::from_secs(5);

/// Passes run at least this often (to retry failed actions).
const RESYNC: Duration = Duration::from_secs(15);

/// One object in the graph.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphNode {
    /// Index of its resource in the collector's resource list.
    pub resource: usize,
    pub namespace: Option<String>,
    pub name: String,
    pub uid: String,
    pub owners: Vec<OwnerReference>,
    pub deleting: bool,
    pub finalizers: Vec<String>,
}

impl GraphNode {
    fn has_finalizer(&self, finalizer: &str) -> bool {
        self.finalizers.iter().any(|f| f == finalizer)
    }

    /// Being deleted in the foreground: waiting for its dependents.
    pub fn deleting_dependents(&self) -> bool {
        self.deleting && self.has_finalizer(FOREGROUND)
    }

    fn key(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        }
    }
}

/// Objects by uid.
#[derive(Debug, Default)]
pub struct Graph {
    pub nodes: HashMap<String, GraphNode>,
}

impl Graph {
    pub fn upsert(&mut self, node: GraphNode) {
        self.nodes.insert(node.uid.clone(), node);
    }

    pub fn remove(&mut self, uid: &str) {
        self.nodes.remove(uid);
    }

    /// Owner uid -> dependents, from every node's owner references, each list in key order
    /// so plans come out the same on every run.
    fn dependents(&self) -> HashMap<&str, Vec<&GraphNode>> {
        let mut map: HashMap<&str, Vec<&GraphNode>> = HashMap::new();
        for node in self.nodes.values() {
            for owner in &node.owners {
                map.entry(owner.uid.as_str()).or_default().push(node);
            }
        }
        for dependents in map.values_mut() {
            dependents.sort_by(|a, b| a.key().cmp(&b.key()).then_with(|| a.uid.cmp(&b.uid)));
        }
        map
    }
}

/// How a dependent is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Background,
    Foreground,
    Orphan,
}

/// One thing a pass wants done.
#[derive(Debug, Clone, PartialEq)]
pub enum GcAction {
    /// Delete `node`; first confirm every owner in `verify_absent` is really gone.
    Delete {
        node: GraphNode,
        propagation: Propagation,
        verify_absent: Vec<OwnerReference>,
    },
    /// Remove the owner references with these uids from `node` (after the same check).
    RemoveOwners {
        node: GraphNode,
        uids: Vec<String>,
        verify_absent: Vec<OwnerReference>,
    },
    /// Remove `finalizer` from `node`: its dependents are handled.
    RemoveFinalizer {
        node: GraphNode,
        finalizer: &'static str,
    },
}

impl GcAction {
    /// What identifies the action for the repeat guard.
    fn identity(&self) -> String {
        match self {
            GcAction::Delete { node, .. } => format!("delete {}", node.uid),
            GcAction::RemoveOwners { node, uids, .. } => format!("unown {} {uids:?}", node.uid),
            GcAction::RemoveFinalizer { node, finalizer } => {
                format!("finalize {} {finalizer}", node.uid)
            }
        }
    }
}

/// Whether `owner` (found in the graph) can own `dependent`: a cluster-scoped dependent cannot
/// have a namespaced owner, and a namespaced owner must share the dependent's namespace.
fn valid_owner(dependent: &GraphNode, owner: &GraphNode) -> bool {
    match (&owner.namespace, &dependent.namespace) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(a), Some(b)) => a == b,
    }
}

/// One pass over the graph (see the module docs).
pub fn plan_gc(graph: &Graph) -> Vec<GcAction> {
    let dependents = graph.dependents();
    let mut actions = Vec::new();
    let mut nodes: Vec<&GraphNode> = graph.nodes.values().collect();
    nodes.sort_by(|a, b| a.key().cmp(&b.key()).then_with(|| a.uid.cmp(&b.uid)));
    for node in nodes {
        let deps: &[&GraphNode] = dependents
            .get(node.uid.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        if node.deleting {
            if node.has_finalizer(ORPHAN) {
                if deps.is_empty() {
                    actions.push(GcAction::RemoveFinalizer {
                        node: node.clone(),
                        finalizer: ORPHAN,
                    });
                } else {
                    for dep in deps {
                        actions.push(GcAction::RemoveOwners {
                            node: (*dep).clone(),
                            uids: vec![node.uid.clone()],
                            verify_absent: Vec::new(),
                        });
                    }
                }
            }
            if node.has_finalizer(FOREGROUND) {
                let blocking = deps.iter().any(|dep| {
                    dep.owners
                        .iter()
                        .any(|r| r.uid == node.uid && r.block_owner_deletion == Some(true))
                });
                if !blocking {
                    actions.push(GcAction::RemoveFinalizer {
                        node: node.clone(),
                        finalizer: FOREGROUND,
                    });
                }
            }
            // A deleting object is not collected again (its dependents are, as items).
            continue;
        }
        if node.owners.is_empty() {
            continue;
        }
        let mut solid = Vec::new();
        let mut dangling = Vec::new();
        let mut waiting = Vec::new();
        for reference in &node.owners {
            match graph.nodes.get(&reference.uid) {
                Some(owner) if valid_owner(node, owner) => {
                    if owner.deleting_dependents() {
                        waiting.push(reference.clone());
                    } else {
                        solid.push(reference.clone());
                    }
                }
                _ => dangling.push(reference.clone()),
            }
        }
        if !solid.is_empty() {
            if dangling.is_empty() && waiting.is_empty() {
                continue;
            }
            let uids = dangling
                .iter()
                .chain(&waiting)
                .map(|r| r.uid.clone())
                .collect();
            actions.push(GcAction::RemoveOwners {
                node: node.clone(),
                uids,
                verify_absent: dangling,
            });
        } else if !waiting.is_empty() && !deps.is_empty() {
            actions.push(GcAction::Delete {
                node: node.clone(),
                propagation: Propagation::Foreground,
                verify_absent: dangling,
            });
        } else {
            let propagation = if node.has_finalizer(ORPHAN) {
                Propagation::Orphan
            } else if node.has_finalizer(FOREGROUND) {
                Propagation::Foreground
            } else {
                Propagation::Background
            };
            actions.push(GcAction::Delete {
                node: node.clone(),
                propagation,
                verify_absent: dangling,
            });
        }
    }
    actions
}

/// A graph node from a watched object.
pub fn node_of(resource: usize, namespaced: bool, obj: &DynamicObject) -> Option<GraphNode> {
    let meta = &obj.metadata;
    Some(GraphNode {
        resource,
        namespace: if namespaced {
            meta.namespace.clone()
        } else {
            None
        },
        name: meta.name.clone()?,
        uid: meta.uid.clone()?,
        owners: meta.owner_references.clone().unwrap_or_default(),
        deleting: meta.deletion_timestamp.is_some(),
        finalizers: meta.finalizers.clone().unwrap_or_default(),
    })
}

/// The garbage collector's state.
pub struct GarbageCollector {
    client: Client,
    resources: Vec<ServedResource>,
    /// `apiVersion/kind` -> index into `resources`.
    kinds: HashMap<(String, String), usize>,
    graph: Graph,
    /// Owners confirmed absent (uids never come back).
    absent: HashSet<String>,
    recent: HashMap<String, Instant>,
    concurrency: usize,
}

fn dynamic_api(
    client: &Client,
    resource: &ServedResource,
    namespace: Option<&str>,
) -> Api<DynamicObject> {
    match namespace {
        Some(ns) if resource.namespaced => {
            Api::namespaced_with(client.clone(), ns, &resource.resource)
        }
        _ => Api::all_with(client.clone(), &resource.resource),
    }
}

fn trim(obj: &mut DynamicObject) {
    obj.data = serde_json::Value::Null;
    obj.metadata.managed_fields = None;
    obj.metadata.annotations = None;
    obj.metadata.labels = None;
}

impl GarbageCollector {
    /// Discovers the resources (retrying until the apiserver answers or `shutdown`).
    pub async fn new(
        client: Client,
        concurrency: u16,
        shutdown: &CancellationToken,
    ) -> Option<GarbageCollector> {
        let resources = loop {
            match discover(&client).await {
                Ok(all) => break garbage_collected(&all),
                Err(error) => {
                    tracing::warn!(%error, "garbage collector: discovery failed; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return None,
                        _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                    }
                }
            }
        };
        let kinds = resources
            .iter()
            .enumerate()
            .map(|(i, r)| ((r.resource.api_version.clone(), r.resource.kind.clone()), i))
            .collect();
        Some(GarbageCollector {
            client,
            resources,
            kinds,
            graph: Graph::default(),
            absent: HashSet::new(),
            recent: HashMap::new(),
            concurrency: usize::from(concurrency.max(1)),
        })
    }

    /// Watches everything and runs passes until `shutdown`. `synced` is set once every watch
    /// has listed.
    pub async fn run(
        mut self,
        shutdown: CancellationToken,
        synced: Arc<std::sync::atomic::AtomicBool>,
    ) {
        let (tx, mut rx) = mpsc::unbounded_channel::<(usize, Change<DynamicObject>)>();
        let mut informers = Vec::new();
        for (i, resource) in self.resources.iter().enumerate() {
            let informer: Informer<DynamicObject> = Informer::new_with(resource.resource.clone());
            let changes = informer.subscribe();
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut changes = std::pin::pin!(changes);
                while let Some(change) = changes.next().await {
                    if tx.send((i, change)).is_err() {
                        return;
                    }
                }
            });
            informer.start_with(
                Api::all_with(self.client.clone(), &resource.resource),
                kube::runtime::watcher::Config::default(),
                trim,
                shutdown.clone(),
            );
            informers.push(informer);
        }
        drop(tx);
        tracing::info!(
            resources = self.resources.len(),
            "garbage collector watching"
        );
        for informer in &informers {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = informer.wait_synced() => {}
            }
        }
        synced.store(true, std::sync::atomic::Ordering::SeqCst);
        tracing::info!("garbage collector synced");
        loop {
            // Let a burst of events settle, then look at the whole graph.
            tokio::time::sleep(Duration::from_millis(100)).await;
            while let Ok((i, change)) = rx.try_recv() {
                self.apply(i, change);
            }
            self.pass().await;
            tokio::select! {
                _ = shutdown.cancelled() => return,
                next = rx.recv() => match next {
                    None => return,
                    Some((i, change)) => self.apply(i, change),
                },
                _ = tokio::time::sleep(RESYNC) => {}
            }
        }
    }

    fn apply(&mut self, resource: usize, change: Change<DynamicObject>) {
        let namespaced = self.resources[resource].namespaced;
        match change {
            Change::Applied { new, .. } => {
                if let Some(node) = node_of(resource, namespaced, &new) {
                    self.graph.upsert(node);
                }
            }
            Change::Deleted(old) => {
                if let Some(uid) = old.metadata.uid.as_deref() {
                    self.graph.remove(uid);
                }
            }
        }
    }

    async fn pass(&mut self) {
        let now = Instant::now();
        self.recent
            .retain(|_, at| now.duration_since(*at) < REPEAT_AFTER);
        let actions: Vec<GcAction> = plan_gc(&self.graph)
            .into_iter()
            .filter(|a| !self.recent.contains_key(&a.identity()))
            .collect();
        if actions.is_empty() {
            return;
        }
        for action in &actions {
            self.recent.insert(action.identity(), now);
        }
        let this = &*self;
        let results: Vec<(Vec<String>, Result<()>)> = futures::stream::iter(actions)
            .map(|action| async move {
                let mut absent = Vec::new();
                let result = this.execute(&action, &mut absent).await;
                (absent, result)
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        for (absent, result) in results {
            self.absent.extend(absent);
            if let Err(error) = result {
                if error.is_status(409) {
                    tracing::debug!(%error, "garbage collector: conflict; retrying later");
                } else {
                    tracing::warn!(%error, "garbage collector action failed");
                }
            }
        }
    }

    /// Whether the owner `reference` of `dependent` is really gone (a live GET).
    async fn owner_absent(
        &self,
        dependent: &GraphNode,
        reference: &OwnerReference,
        absent: &mut Vec<String>,
    ) -> Result<bool> {
        if self.absent.contains(&reference.uid) {
            return Ok(true);
        }
        let key = (reference.api_version.clone(), reference.kind.clone());
        let Some(index) = self.kinds.get(&key) else {
            // An owner of a kind nobody serves cannot be resolved: leave the dependent alone.
            return Ok(false);
        };
        let resource = &self.resources[*index];
        if resource.namespaced && dependent.namespace.is_none() {
            return Ok(false);
        }
        let api = dynamic_api(&self.client, resource, dependent.namespace.as_deref());
        let gone = match api.get_opt(&reference.name).await {
            Ok(None) => true,
            Ok(Some(live)) => live.metadata.uid.as_deref() != Some(reference.uid.as_str()),
            Err(e) => {
                return Err(Error::api(
                    "get owner",
                    format!("{}/{}", reference.kind, reference.name),
                    e,
                ))
            }
        };
        if gone {
            absent.push(reference.uid.clone());
        }
        Ok(gone)
    }

    async fn execute(&self, action: &GcAction, absent: &mut Vec<String>) -> Result<()> {
        let (node, verify) = match action {
            GcAction::Delete {
                node,
                verify_absent,
                ..
            }
            | GcAction::RemoveOwners {
                node,
                verify_absent,
                ..
            } => (node, verify_absent.as_slice()),
            GcAction::RemoveFinalizer { node, .. } => (node, &[][..]),
        };
        for reference in verify {
            if !self.owner_absent(node, reference, absent).await? {
                tracing::debug!(object = %node.key(), owner = %reference.name, "owner still exists; graph lags");
                return Ok(());
            }
        }
        let resource = &self.resources[node.resource];
        let api = dynamic_api(&self.client, resource, node.namespace.as_deref());
        let key = format!("{} {}", resource.qualified(), node.key());
        match action {
            GcAction::Delete { propagation, .. } => {
                let params = DeleteParams {
                    propagation_policy: Some(match propagation {
                        Propagation::Background => PropagationPolicy::Background,
                        Propagation::Foreground => PropagationPolicy::Foreground,
                        Propagation::Orphan => PropagationPolicy::Orphan,
                    }),
                    preconditions: Some(Preconditions {
                        uid: Some(node.uid.clone()),
                        resource_version: None,
                    }),
                    ..Default::default()
                };
                match api.delete(&node.name, &params).await {
                    Ok(_) => {
                        tracing::info!(object = %key, ?propagation, "garbage collected");
                        Ok(())
                    }
                    Err(e) if is_not_found(&e) || is_conflict(&e) => Ok(()),
                    Err(e) => Err(Error::api("delete dependent", key, e)),
                }
            }
            GcAction::RemoveOwners { uids, .. } => self
                .update_live(&api, node, &key, |obj| {
                    let refs = obj.metadata.owner_references.get_or_insert_with(Vec::new);
                    let before = refs.len();
                    refs.retain(|r| !uids.contains(&r.uid));
                    if refs.is_empty() {
                        obj.metadata.owner_references = None;
                    }
                    before != obj.metadata.owner_references.as_ref().map_or(0, Vec::len)
                })
                .await
                .map(|changed| {
                    if changed {
                        tracing::info!(object = %key, owners = ?uids, "removed owner references");
                    }
                }),
            GcAction::RemoveFinalizer { finalizer, .. } => self
                .update_live(&api, node, &key, |obj| {
                    let finalizers = obj.metadata.finalizers.get_or_insert_with(Vec::new);
                    let before = finalizers.len();
                    finalizers.retain(|f| f != finalizer);
                    before != finalizers.len()
                })
                .await
                .map(|changed| {
                    if changed {
                        tracing::info!(object = %key, finalizer, "removed finalizer");
                    }
                }),
        }
    }

    /// GET the object, change it with `edit` (false: nothing to change), PUT it back with the
    /// resourceVersion read. A gone or replaced object needs nothing.
    async fn update_live(
        &self,
        api: &Api<DynamicObject>,
        node: &GraphNode,
        key: &str,
        edit: impl FnOnce(&mut DynamicObject) -> bool,
    ) -> Result<bool> {
        let mut obj = match api.get_opt(&node.name).await {
            Ok(Some(obj)) => obj,
            Ok(None) => return Ok(false),
            Err(e) => return Err(Error::api("get", key.to_string(), e)),
        };
        if obj.metadata.uid.as_deref() != Some(node.uid.as_str()) || !edit(&mut obj) {
            return Ok(false);
        }
        match api.replace(&node.name, &PostParams::default(), &obj).await {
            Ok(_) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(Error::api("update", key.to_string(), e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner_ref(uid: &str, block: bool) -> OwnerReference {
        OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: format!("owner-{uid}"),
            uid: uid.into(),
            controller: Some(true),
            block_owner_deletion: Some(block),
        }
    }

    fn node(uid: &str, owners: &[(&str, bool)]) -> GraphNode {
        GraphNode {
            resource: 0,
            namespace: Some("ns".into()),
            name: format!("obj-{uid}"),
            uid: uid.into(),
            owners: owners.iter().map(|(o, b)| owner_ref(o, *b)).collect(),
            deleting: false,
            finalizers: Vec::new(),
        }
    }

    fn deleting(mut n: GraphNode, finalizers: &[&str]) -> GraphNode {
        n.deleting = true;
        n.finalizers = finalizers.iter().map(|f| f.to_string()).collect();
        n
    }

    fn graph(nodes: Vec<GraphNode>) -> Graph {
        let mut g = Graph::default();
        for n in nodes {
            g.upsert(n);
        }
        g
    }

    /// Actions as short strings: "delete x Background", "unown x [a]", "finalize x orphan".
    fn describe_actions(actions: &[GcAction]) -> Vec<String> {
        actions
            .iter()
            .map(|a| match a {
                GcAction::Delete {
                    node,
                    propagation,
                    verify_absent,
                } => format!(
                    "delete {} {propagation:?} verify={:?}",
                    node.uid,
                    verify_absent
                        .iter()
                        .map(|r| r.uid.as_str())
                        .collect::<Vec<_>>()
                ),
                GcAction::RemoveOwners { node, uids, .. } => format!("unown {} {uids:?}", node.uid),
                GcAction::RemoveFinalizer { node, finalizer } => {
                    format!("finalize {} {finalizer}", node.uid)
                }
            })
            .collect()
    }

    #[test]
    fn plans_as_upstream() {
        // (name, graph, expected actions)
        let cases: Vec<(&str, Vec<GraphNode>, Vec<&str>)> = vec![
            (
                "owned and owner present: nothing",
                vec![node("rs", &[]), node("pod", &[("rs", true)])],
                vec![],
            ),
            (
                "owner gone: delete",
                vec![node("pod", &[("rs", true)])],
                vec!["delete pod Background verify=[\"rs\"]"],
            ),
            (
                "one of two owners gone: drop the dangling reference",
                vec![node("a", &[]), node("pod", &[("a", false), ("b", false)])],
                vec!["unown pod [\"b\"]"],
            ),
            (
                "orphaning owner: references removed, then the finalizer",
                vec![
                    deleting(node("rs", &[]), &[ORPHAN]),
                    node("p1", &[("rs", true)]),
                    node("p2", &[("rs", true)]),
                ],
                vec!["unown p1 [\"rs\"]", "unown p2 [\"rs\"]"],
            ),
            (
                "orphaning owner without dependents",
                vec![deleting(node("rs", &[]), &[ORPHAN])],
                vec!["finalize rs orphan"],
            ),
            (
                "foreground owner: dependents deleted, finalizer kept while they block",
                vec![
                    deleting(node("rs", &[]), &[FOREGROUND]),
                    node("p1", &[("rs", true)]),
                ],
                vec!["delete p1 Background verify=[]"],
            ),
            (
                "foreground owner: non-blocking dependents do not hold the finalizer",
                vec![
                    deleting(node("rs", &[]), &[FOREGROUND]),
                    node("p1", &[("rs", false)]),
                ],
                vec![
                    "delete p1 Background verify=[]",
                    "finalize rs foregroundDeletion",
                ],
            ),
            (
                "foreground chain: a dependent with dependents goes in the foreground too",
                vec![
                    deleting(node("d", &[]), &[FOREGROUND]),
                    node("rs", &[("d", true)]),
                    node("pod", &[("rs", true)]),
                ],
                vec!["delete rs Foreground verify=[]"],
            ),
            (
                "dependent already terminating: waiting for it",
                vec![
                    deleting(node("rs", &[]), &[FOREGROUND]),
                    deleting(node("p1", &[("rs", true)]), &[]),
                ],
                vec![],
            ),
            (
                "foreground owner done",
                vec![deleting(node("rs", &[]), &[FOREGROUND])],
                vec!["finalize rs foregroundDeletion"],
            ),
            (
                "solid owner plus a waiting one: drop the waiting reference",
                vec![
                    node("a", &[]),
                    deleting(node("b", &[]), &[FOREGROUND]),
                    node("pod", &[("a", true), ("b", true)]),
                ],
                vec!["unown pod [\"b\"]"],
            ),
            (
                "orphan-finalized dependent deleted with Orphan",
                vec![{
                    let mut n = node("rs", &[("d", true)]);
                    n.finalizers = vec![ORPHAN.into()];
                    n
                }],
                vec!["delete rs Orphan verify=[\"d\"]"],
            ),
        ];
        for (name, nodes, expected) in cases {
            let got = describe_actions(&plan_gc(&graph(nodes)));
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn owners_across_namespaces_do_not_count() {
        let mut owner = node("rs", &[]);
        owner.namespace = Some("other".into());
        let got = describe_actions(&plan_gc(&graph(vec![owner, node("pod", &[("rs", true)])])));
        assert_eq!(got, vec!["delete pod Background verify=[\"rs\"]"]);
        // Cluster-scoped owners own anything.
        let mut cluster_owner = node("n", &[]);
        cluster_owner.namespace = None;
        assert!(plan_gc(&graph(vec![cluster_owner, node("pod", &[("n", false)])])).is_empty());
    }
}
