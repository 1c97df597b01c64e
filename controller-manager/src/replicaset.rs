//! The ReplicaSet controller (upstream `pkg/controller/replicaset`): keeps exactly
//! `spec.replicas` active pods matching a ReplicaSet's selector.
//!
//! The decisions are pure functions with table-driven tests:
//! - [`claim_pods`]: upstream's `PodControllerRefManager` — which pods the ReplicaSet owns,
//!   which orphans it adopts and which owned pods it releases because their labels moved away;
//! - [`plan_replicas`]: how many pods to create, and which to delete (upstream's
//!   `ActivePodsWithRanks`: unscheduled, then pending, then not ready, then doubled-up on a node,
//!   then most recently ready, most restarted, newest first);
//! - [`calculate_status`]: replicas, fullyLabeledReplicas, readyReplicas, availableReplicas
//!   (ready for `minReadySeconds`), observedGeneration and the ReplicaFailure condition.
//!
//! The executor applies them through the API. [`Expectations`] keep it from creating or deleting
//! twice while the pod cache lags behind its own writes.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::join_all;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::Client;
use serde_json::json;
use tinykube_apimachinery::labels::Selector;

use crate::error::{is_conflict, is_not_found, Error, Result};
use crate::events::{Recorder, NORMAL, WARNING};
use crate::expectations::Expectations;
use crate::informer::Change;
use crate::runner::{obj_ref, RESYNC_PERIOD};
use crate::util::{
    controller_of, controller_ref, is_deleting, is_pod_active, is_pod_available, is_pod_ready,
    key_of, name_of, namespace_of, pod_node, pod_phase, pod_ready_condition,
    seconds_until_available, selects, uid_of, workload_selector,
};

/// Upstream `BurstReplicas`: the most pods one sync creates or deletes.
pub const BURST_REPLICAS: usize = 500;

/// Upstream `SlowStartInitialBatchSize`.
pub const SLOW_START_INITIAL_BATCH: usize = 1;

/// The pod annotation that ranks pods for scale-down (lower cost goes first).
pub const POD_DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

// ---------------------------------------------------------------------------------------------
// Claiming
// ---------------------------------------------------------------------------------------------

/// What [`claim_pods`] decided for each candidate pod.
#[derive(Debug, Default)]
pub struct Claims<'a> {
    /// Controlled by the owner and still matching.
    pub owned: Vec<&'a Pod>,
    /// Orphans that match: adopt them.
    pub adopt: Vec<&'a Pod>,
    /// Controlled by the owner but no longer matching: release them.
    pub release: Vec<&'a Pod>,
}

/// Upstream `ClaimPods` for an owner with `owner_uid`, `selector` (`None` selects nothing) and
/// whether the owner is being deleted (a deleting owner neither adopts nor releases).
pub fn claim<'a, T>(
    owner_uid: &str,
    owner_deleting: bool,
    selector: Option<&Selector>,
    candidates: &'a [T],
    meta: impl Fn(&'a T) -> &'a ObjectMeta,
) -> (Vec<&'a T>, Vec<&'a T>, Vec<&'a T>) {
    let (mut owned, mut adopt, mut release) = (Vec::new(), Vec::new(), Vec::new());
    for candidate in candidates {
        let m = meta(candidate);
        let matches = selects(selector, m);
        match controller_of(m) {
            Some(r) if r.uid == owner_uid => {
                if matches {
                    owned.push(candidate);
                } else if !owner_deleting {
                    release.push(candidate);
                }
            }
            Some(_) => {}
            None => {
                if matches && !owner_deleting && !is_deleting(m) {
                    adopt.push(candidate);
                }
            }
        }
    }
    (owned, adopt, release)
}

/// [`claim`] for pods of a ReplicaSet.
pub fn claim_pods<'a>(
    rs: &ReplicaSet,
    selector: Option<&Selector>,
    pods: &'a [&'a Pod],
) -> Claims<'a> {
    let (owned, adopt, release) = claim(
        uid_of(&rs.metadata),
        is_deleting(&rs.metadata),
        selector,
        pods,
        |p| &p.metadata,
    );
    Claims {
        owned: owned.into_iter().copied().collect(),
        adopt: adopt.into_iter().copied().collect(),
        release: release.into_iter().copied().collect(),
    }
}

// ---------------------------------------------------------------------------------------------
// Planning
// ---------------------------------------------------------------------------------------------

/// What one sync should do about the pod count.
#[derive(Debug, PartialEq, Eq)]
pub struct ReplicaPlan {
    /// Pods to create.
    pub create: usize,
    /// Pods to delete (`namespace/name`), in deletion order.
    pub delete: Vec<String>,
}

/// Upstream `manageReplicas`' decision: `active` are the pods the ReplicaSet owns, `related`
/// every active pod of the same owner chain (used to spread deletions across nodes).
pub fn plan_replicas(
    replicas: i32,
    active: &[&Pod],
    related: &[&Pod],
    now: Timestamp,
) -> ReplicaPlan {
    let want = replicas.max(0) as usize;
    let have = active.len();
    if have < want {
        return ReplicaPlan {
            create: (want - have).min(BURST_REPLICAS),
            delete: Vec::new(),
        };
    }
    let surplus = (have - want).min(BURST_REPLICAS);
    if surplus == 0 {
        return ReplicaPlan {
            create: 0,
            delete: Vec::new(),
        };
    }
    let ranked = rank_for_deletion(active, related, now);
    ReplicaPlan {
        create: 0,
        delete: ranked
            .into_iter()
            .take(surplus)
            .map(|p| key_of(&p.metadata))
            .collect(),
    }
}

/// Sorts pods so the ones to delete first come first (upstream `ActivePodsWithRanks`).
pub fn rank_for_deletion<'a>(pods: &[&'a Pod], related: &[&Pod], now: Timestamp) -> Vec<&'a Pod> {
    let mut on_node: HashMap<&str, usize> = HashMap::new();
    for pod in related.iter().filter(|p| is_pod_active(p)) {
        if let Some(node) = pod_node(pod) {
            *on_node.entry(node).or_insert(0) += 1;
        }
    }
    let mut ranked: Vec<(&Pod, usize)> = pods
        .iter()
        .map(|p| {
            (
                *p,
                pod_node(p)
                    .and_then(|n| on_node.get(n))
                    .copied()
                    .unwrap_or(0),
            )
        })
        .collect();
    ranked.sort_by(|a, b| compare_for_deletion(a, b, now));
    ranked.into_iter().map(|(p, _)| p).collect()
}

fn phase_ordinal(pod: &Pod) -> u8 {
    match pod_phase(pod) {
        "Pending" => 0,
        "Unknown" => 1,
        "Running" => 2,
        _ => 3,
    }
}

fn deletion_cost(pod: &Pod) -> i32 {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(POD_DELETION_COST))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn ready_time(pod: &Pod) -> Option<Timestamp> {
    pod_ready_condition(pod)
        .filter(|c| c.status == "True")
        .and_then(|c| c.last_transition_time.as_ref())
        .map(|t| t.0)
}

fn max_restarts(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map(|cs| cs.iter().map(|c| c.restart_count).max().unwrap_or(0))
        .unwrap_or(0)
}

/// log2 of the age in nanoseconds, as upstream's `LogarithmicScaleDown` buckets ages.
fn log_rank(t: Timestamp, now: Timestamp) -> i64 {
    let age = now.as_nanosecond() - t.as_nanosecond();
    if age > 0 {
        (age as f64).log2() as i64
    } else {
        -1
    }
}

/// Sort key of a time for deletion: missing first, then newer (by logarithmic age bucket).
fn time_rank(t: Option<Timestamp>, now: Timestamp) -> (bool, i64) {
    match t {
        None => (false, 0),
        Some(t) => (true, log_rank(t, now)),
    }
}

fn compare_for_deletion(a: &(&Pod, usize), b: &(&Pod, usize), now: Timestamp) -> Ordering {
    let (pa, rank_a) = a;
    let (pb, rank_b) = b;
    // 1. Unassigned < assigned.
    let (na, nb) = (pod_node(pa), pod_node(pb));
    if na != nb && (na.is_none() || nb.is_none()) {
        return if na.is_none() {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    // 2. Pending < Unknown < Running.
    let ord = phase_ordinal(pa).cmp(&phase_ordinal(pb));
    if ord != Ordering::Equal {
        return ord;
    }
    // 3. Not ready < ready.
    let (ra, rb) = (is_pod_ready(pa), is_pod_ready(pb));
    if ra != rb {
        return if !ra {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    // 4. Lower deletion cost < higher.
    let ord = deletion_cost(pa).cmp(&deletion_cost(pb));
    if ord != Ordering::Equal {
        return ord;
    }
    // 5. Doubled up on a node < not doubled up.
    if rank_a != rank_b {
        return rank_b.cmp(rank_a);
    }
    // 6. Ready for a shorter time < longer (ages bucketed logarithmically).
    //
    // Upstream tie-breaks two ready times in one bucket on uid but moves on to restarts when
    // the times are equal, which is not a total order (three pods can compare in a cycle, and
    // Rust's sort panics on that). Here a bucket is a bucket: equal buckets move on to
    // restarts, then creation-time buckets, then uid and name.
    if ra && rb {
        let ord = time_rank(ready_time(pa), now).cmp(&time_rank(ready_time(pb), now));
        if ord != Ordering::Equal {
            return ord;
        }
    }
    // 7. More restarts < fewer.
    let ord = max_restarts(pb).cmp(&max_restarts(pa));
    if ord != Ordering::Equal {
        return ord;
    }
    // 8. Newer < older.
    let ca = pa.metadata.creation_timestamp.as_ref().map(|t| t.0);
    let cb = pb.metadata.creation_timestamp.as_ref().map(|t| t.0);
    time_rank(ca, now)
        .cmp(&time_rank(cb, now))
        .then_with(|| uid_of(&pa.metadata).cmp(uid_of(&pb.metadata)))
        .then_with(|| name_of(&pa.metadata).cmp(name_of(&pb.metadata)))
}

/// What went wrong while creating or deleting pods, for the ReplicaFailure condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManageError {
    /// `FailedCreate` or `FailedDelete`.
    pub reason: &'static str,
    pub message: String,
}

/// Upstream `calculateStatus`: counts over the ReplicaSet's active pods at `now`.
pub fn calculate_status(
    rs: &ReplicaSet,
    pods: &[&Pod],
    manage_error: Option<&ManageError>,
    now: Timestamp,
) -> ReplicaSetStatus {
    let mut status = rs.status.clone().unwrap_or_default();
    let spec = rs.spec.as_ref();
    let min_ready = spec.and_then(|s| s.min_ready_seconds).unwrap_or(0);
    let template_labels: BTreeMap<String, String> = spec
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let template_selector = Selector::from_map(&template_labels);
    let mut fully_labeled = 0;
    let mut ready = 0;
    let mut available = 0;
    for pod in pods {
        if template_selector.matches(&pod.metadata.labels) {
            fully_labeled += 1;
        }
        if is_pod_ready(pod) {
            ready += 1;
            if is_pod_available(pod, min_ready, now) {
                available += 1;
            }
        }
    }
    let mut conditions = status.conditions.take().unwrap_or_default();
    let has_failure = conditions.iter().any(|c| c.type_ == "ReplicaFailure");
    match manage_error {
        Some(error) if !has_failure => conditions.push(ReplicaSetCondition {
            type_: "ReplicaFailure".into(),
            status: "True".into(),
            reason: Some(error.reason.into()),
            message: Some(error.message.clone()),
            last_transition_time: Some(Time(now)),
        }),
        None if has_failure => conditions.retain(|c| c.type_ != "ReplicaFailure"),
        _ => {}
    }
    status.conditions = (!conditions.is_empty()).then_some(conditions);
    status.replicas = pods.len() as i32;
    status.fully_labeled_replicas = Some(fully_labeled);
    status.ready_replicas = Some(ready);
    status.available_replicas = Some(available);
    status.observed_generation = rs.metadata.generation;
    status
}

/// Whether two statuses differ in anything the controller writes (upstream compares these
/// fields and observedGeneration before calling UpdateStatus).
pub fn status_differs(old: Option<&ReplicaSetStatus>, new: &ReplicaSetStatus) -> bool {
    let Some(old) = old else {
        return true;
    };
    old.replicas != new.replicas
        || old.fully_labeled_replicas.unwrap_or(0) != new.fully_labeled_replicas.unwrap_or(0)
        || old.ready_replicas.unwrap_or(0) != new.ready_replicas.unwrap_or(0)
        || old.available_replicas.unwrap_or(0) != new.available_replicas.unwrap_or(0)
        || old.observed_generation != new.observed_generation
        || old.conditions != new.conditions
}

/// A new pod from the ReplicaSet's template (upstream `GetPodFromTemplate`).
pub fn pod_from_template(rs: &ReplicaSet) -> Result<Pod> {
    let key = key_of(&rs.metadata);
    let template = rs
        .spec
        .as_ref()
        .and_then(|s| s.template.clone())
        .ok_or_else(|| Error::Invalid {
            key: key.clone(),
            message: "spec.template is missing".into(),
        })?;
    let meta = template.metadata.unwrap_or_default();
    Ok(Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", name_of(&rs.metadata))),
            namespace: rs.metadata.namespace.clone(),
            labels: meta.labels,
            annotations: meta.annotations,
            finalizers: meta.finalizers,
            owner_references: Some(vec![controller_ref(rs)]),
            ..Default::default()
        },
        spec: template.spec,
        status: None,
    })
}

// ---------------------------------------------------------------------------------------------
// Executor
// ---------------------------------------------------------------------------------------------

/// Shared state of the ReplicaSet controller.
pub struct ReplicaSetController {
    pub client: Client,
    pub recorder: Recorder,
    pub pods: Store<Pod>,
    pub replicasets: Store<ReplicaSet>,
    pub expectations: Mutex<Expectations>,
}

impl ReplicaSetController {
    pub fn new(client: Client, pods: Store<Pod>, replicasets: Store<ReplicaSet>) -> Self {
        ReplicaSetController {
            recorder: Recorder::new(client.clone(), "replicaset-controller"),
            client,
            pods,
            replicasets,
            expectations: Mutex::new(Expectations::default()),
        }
    }

    fn expectations(&self) -> std::sync::MutexGuard<'_, Expectations> {
        self.expectations.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keys to sync after a pod change, lowering expectations for what the change shows
    /// (upstream `addPod`/`updatePod`/`deletePod`).
    pub fn on_pod_change(&self, change: Change<Pod>) -> Vec<ObjectRef<ReplicaSet>> {
        let pod = change.object();
        let pod_key = key_of(&pod.metadata);
        let ns = namespace_of(&pod.metadata).to_string();
        let rs_owner = |p: &Pod| {
            controller_of(&p.metadata)
                .filter(|r| r.kind == "ReplicaSet")
                .map(|r| format!("{ns}/{}", r.name))
        };
        {
            let mut expectations = self.expectations();
            match &change {
                Change::Applied { old: None, new } => {
                    if let Some(owner) = rs_owner(new) {
                        if is_deleting(&new.metadata) {
                            expectations.deletion_observed(&owner, &pod_key);
                        } else {
                            expectations.creation_observed(&owner);
                        }
                    }
                }
                Change::Applied {
                    old: Some(old),
                    new,
                } => {
                    if is_deleting(&new.metadata) && !is_deleting(&old.metadata) {
                        if let Some(owner) = rs_owner(new) {
                            expectations.deletion_observed(&owner, &pod_key);
                        }
                    }
                }
                Change::Deleted(old) => {
                    if let Some(owner) = rs_owner(old) {
                        expectations.deletion_observed(&owner, &pod_key);
                    }
                }
            }
        }
        let mut keys = Vec::new();
        for state in change.states() {
            match controller_of(&state.metadata) {
                Some(r) if r.kind == "ReplicaSet" => {
                    keys.push(obj_ref(&r.name, Some(&ns)));
                }
                Some(_) => {}
                None => {
                    // An orphan: every ReplicaSet that could adopt it.
                    for rs in self.replicasets.state() {
                        if namespace_of(&rs.metadata) != ns {
                            continue;
                        }
                        let selector = workload_selector(rs.spec.as_ref().map(|s| &s.selector))
                            .ok()
                            .flatten();
                        if selects(selector.as_ref(), &state.metadata) {
                            keys.push(obj_ref(name_of(&rs.metadata), Some(&ns)));
                        }
                    }
                }
            }
        }
        keys.sort_by(|a, b| a.name.cmp(&b.name));
        keys.dedup();
        keys
    }

    /// Keys to sync after a ReplicaSet change.
    pub fn on_replicaset_change(&self, change: Change<ReplicaSet>) -> Vec<ObjectRef<ReplicaSet>> {
        let rs = change.object();
        if let Change::Deleted(_) = change {
            self.expectations().forget(&key_of(&rs.metadata));
            return Vec::new();
        }
        vec![obj_ref(
            name_of(&rs.metadata),
            rs.metadata.namespace.as_deref(),
        )]
    }
}

/// One sync of one ReplicaSet (upstream `syncReplicaSet`).
pub async fn reconcile(rs: Arc<ReplicaSet>, ctx: Arc<ReplicaSetController>) -> Result<Action> {
    let key = key_of(&rs.metadata);
    let ns = namespace_of(&rs.metadata).to_string();
    let needs_sync = ctx.expectations().satisfied(&key, Instant::now());
    let selector = workload_selector(rs.spec.as_ref().map(|s| &s.selector)).map_err(|source| {
        Error::Selector {
            key: key.clone(),
            source,
        }
    })?;
    let all_pods: Vec<Arc<Pod>> = ctx
        .pods
        .state()
        .into_iter()
        .filter(|p| namespace_of(&p.metadata) == ns)
        .collect();
    let active: Vec<&Pod> = all_pods
        .iter()
        .map(|p| &**p)
        .filter(|p| is_pod_active(p))
        .collect();
    let claims = claim_pods(&rs, selector.as_ref(), &active);
    let pods_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let mut owned: Vec<&Pod> = claims.owned.clone();
    if !claims.adopt.is_empty() && can_adopt(&ctx.client, &rs).await? {
        for pod in &claims.adopt {
            if adopt(&pods_api, &*rs, *pod).await? {
                owned.push(pod);
            }
        }
    }
    for pod in &claims.release {
        release(&pods_api, uid_of(&rs.metadata), *pod).await?;
    }

    let now = crate::util::now();
    let mut manage_error = None;
    let mut first_error = None;
    if needs_sync && !is_deleting(&rs.metadata) {
        let replicas = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let related: Vec<&Pod> = active
            .iter()
            .copied()
            .filter(|p| {
                controller_of(&p.metadata).is_some_and(|r| r.kind == "ReplicaSet")
                    && selects(selector.as_ref(), &p.metadata)
            })
            .collect();
        let plan = plan_replicas(replicas, &owned, &related, now);
        if plan.create > 0 {
            tracing::info!(count = plan.create, "creating pods");
            if let Err(error) = create_pods(&ctx, &rs, &key, plan.create).await {
                manage_error = Some(ManageError {
                    reason: "FailedCreate",
                    message: error.to_string(),
                });
                first_error = Some(error);
            }
        }
        if !plan.delete.is_empty() {
            tracing::info!(count = plan.delete.len(), "deleting surplus pods");
            if let Err(error) = delete_pods(&ctx, &rs, &key, &plan.delete, &owned).await {
                manage_error = Some(ManageError {
                    reason: "FailedDelete",
                    message: error.to_string(),
                });
                first_error = Some(error);
            }
        }
    }

    let status = calculate_status(&rs, &owned, manage_error.as_ref(), now);
    if status_differs(rs.status.as_ref(), &status) {
        let mut updated = (*rs).clone();
        updated.status = Some(status.clone());
        let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &ns);
        api.replace_status(name_of(&rs.metadata), &PostParams::default(), &updated)
            .await
            .map_err(|e| Error::api("update status of replicaset", key.clone(), e))?;
    }
    if let Some(error) = first_error {
        return Err(error);
    }
    // Resync when the last ready pods turn available.
    let min_ready = rs
        .spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0);
    if min_ready > 0 {
        let wait = owned
            .iter()
            .filter_map(|p| seconds_until_available(p, min_ready, now))
            .min();
        if let Some(seconds) = wait {
            return Ok(Action::requeue(Duration::from_secs(seconds as u64 + 1)));
        }
    }
    if !needs_sync {
        // Expectations pending: look again soon in case an event is lost.
        return Ok(Action::requeue(Duration::from_secs(5)));
    }
    Ok(Action::requeue(RESYNC_PERIOD))
}

/// Upstream `RecheckDeletionTimestamp`: adopt only if the live object is the one cached and is
/// not being deleted.
async fn can_adopt(client: &Client, rs: &ReplicaSet) -> Result<bool> {
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), namespace_of(&rs.metadata));
    match api.get_opt(name_of(&rs.metadata)).await {
        Ok(Some(live)) => {
            Ok(uid_of(&live.metadata) == uid_of(&rs.metadata) && !is_deleting(&live.metadata))
        }
        Ok(None) => Ok(false),
        Err(e) => Err(Error::api("get replicaset", key_of(&rs.metadata), e)),
    }
}

/// Adds the controller reference of `owner` to `obj` (upstream `AdoptPod`/`AdoptReplicaSet`, a
/// strategic merge patch); false when `obj` is gone.
pub(crate) async fn adopt<O, K>(api: &Api<K>, owner: &O, obj: &K) -> Result<bool>
where
    O: kube::Resource<DynamicType = ()>,
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let reference = controller_ref(owner);
    let patch = json!({"metadata": {
        "ownerReferences": [reference],
        "uid": uid_of(obj.meta()),
    }});
    patch_owner_refs(api, obj, patch, "adopt").await
}

/// Removes the owner reference with `owner_uid` from `obj` (upstream `ReleasePod`); false when
/// `obj` is gone.
pub(crate) async fn release<K>(api: &Api<K>, owner_uid: &str, obj: &K) -> Result<bool>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let patch = json!({"metadata": {
        "ownerReferences": [{"$patch": "delete", "uid": owner_uid}],
        "uid": uid_of(obj.meta()),
    }});
    patch_owner_refs(api, obj, patch, "release").await
}

async fn patch_owner_refs<K>(
    api: &Api<K>,
    obj: &K,
    patch: serde_json::Value,
    action: &'static str,
) -> Result<bool>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let name = name_of(obj.meta());
    match api
        .patch(name, &PatchParams::default(), &Patch::Strategic(patch))
        .await
    {
        Ok(_) => {
            tracing::info!(object = %key_of(obj.meta()), action, "updated owner references");
            Ok(true)
        }
        Err(e) if is_not_found(&e) => Ok(false),
        Err(e) => Err(Error::api(action, key_of(obj.meta()), e)),
    }
}

/// Creates `count` pods in slow-start batches (1, 2, 4, ...), stopping at the first failing
/// batch; expectations are lowered for every creation that failed or was never attempted.
async fn create_pods(
    ctx: &ReplicaSetController,
    rs: &ReplicaSet,
    key: &str,
    count: usize,
) -> Result<()> {
    let template = pod_from_template(rs)?;
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace_of(&rs.metadata));
    ctx.expectations()
        .expect_creations(key, count, Instant::now());
    let mut remaining = count;
    let mut batch = SLOW_START_INITIAL_BATCH.min(remaining);
    while batch > 0 {
        let params = PostParams::default();
        let results = join_all((0..batch).map(|_| api.create(&params, &template))).await;
        let mut failure = None;
        for result in results {
            match result {
                Ok(pod) => ctx.recorder.record(
                    rs,
                    NORMAL,
                    "SuccessfulCreate",
                    format!("Created pod: {}", name_of(&pod.metadata)),
                ),
                Err(e) => {
                    ctx.expectations().creation_observed(key);
                    ctx.recorder.record(
                        rs,
                        WARNING,
                        "FailedCreate",
                        format!("Error creating: {e}"),
                    );
                    // A terminating namespace refuses new pods: nothing to report.
                    let terminating = matches!(&e, kube::Error::Api(s) if s.code == 403 && s.message.contains("being terminated"));
                    if !terminating && failure.is_none() {
                        failure = Some(Error::api("create pod for replicaset", key, e));
                    }
                }
            }
        }
        remaining -= batch;
        if let Some(error) = failure {
            for _ in 0..remaining {
                ctx.expectations().creation_observed(key);
            }
            return Err(error);
        }
        batch = (batch * 2).min(remaining);
    }
    Ok(())
}

/// Deletes the pods `keys` (all owned by the ReplicaSet), in parallel.
async fn delete_pods(
    ctx: &ReplicaSetController,
    rs: &ReplicaSet,
    key: &str,
    keys: &[String],
    owned: &[&Pod],
) -> Result<()> {
    ctx.expectations()
        .expect_deletions(key, keys.iter().map(String::as_str), Instant::now());
    let by_key: HashMap<String, &Pod> = owned.iter().map(|p| (key_of(&p.metadata), *p)).collect();
    let deletions = keys
        .iter()
        .filter_map(|k| by_key.get(k).map(|p| (k, *p)))
        .map(|(k, pod)| {
            let api: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace_of(&pod.metadata));
            let params = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: pod.metadata.uid.clone(),
                    resource_version: None,
                }),
                ..Default::default()
            };
            async move {
                let result = api.delete(name_of(&pod.metadata), &params).await;
                (k, result)
            }
        });
    let mut first = None;
    for (pod_key, result) in join_all(deletions).await {
        match result {
            Ok(_) => ctx.recorder.record(
                rs,
                NORMAL,
                "SuccessfulDelete",
                format!(
                    "Deleted pod: {}",
                    pod_key.rsplit('/').next().unwrap_or_default()
                ),
            ),
            Err(e) => {
                ctx.expectations().deletion_observed(key, pod_key);
                if !is_not_found(&e) && !is_conflict(&e) && first.is_none() {
                    first = Some(Error::api("delete pod", pod_key.clone(), e));
                }
            }
        }
    }
    first.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::ReplicaSetSpec;
    use k8s_openapi::api::core::v1::{
        ContainerStatus, PodCondition, PodSpec, PodStatus, PodTemplateSpec,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, OwnerReference};

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    /// A pod builder: name, labels, controller uid.
    #[derive(Clone)]
    struct P {
        pod: Pod,
    }

    impl P {
        fn new(name: &str) -> P {
            P {
                pod: Pod {
                    metadata: ObjectMeta {
                        name: Some(name.into()),
                        namespace: Some("ns".into()),
                        uid: Some(format!("uid-{name}")),
                        labels: Some(BTreeMap::from([("app".into(), "web".into())])),
                        creation_timestamp: Some(Time(ts(100))),
                        ..Default::default()
                    },
                    spec: Some(PodSpec::default()),
                    status: Some(PodStatus {
                        phase: Some("Running".into()),
                        ..Default::default()
                    }),
                },
            }
        }
        fn labels(mut self, labels: &[(&str, &str)]) -> P {
            self.pod.metadata.labels = Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            );
            self
        }
        fn owner(mut self, uid: &str) -> P {
            self.pod.metadata.owner_references = Some(vec![OwnerReference {
                api_version: "apps/v1".into(),
                kind: "ReplicaSet".into(),
                name: "rs".into(),
                uid: uid.into(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]);
            self
        }
        fn node(mut self, node: &str) -> P {
            self.pod.spec.as_mut().unwrap().node_name = Some(node.into());
            self
        }
        fn phase(mut self, phase: &str) -> P {
            self.pod.status.as_mut().unwrap().phase = Some(phase.into());
            self
        }
        fn ready(mut self, since: i64) -> P {
            self.pod.status.as_mut().unwrap().conditions = Some(vec![PodCondition {
                type_: "Ready".into(),
                status: "True".into(),
                last_transition_time: Some(Time(ts(since))),
                ..Default::default()
            }]);
            self
        }
        fn created(mut self, at: i64) -> P {
            self.pod.metadata.creation_timestamp = Some(Time(ts(at)));
            self
        }
        fn restarts(mut self, n: i32) -> P {
            self.pod.status.as_mut().unwrap().container_statuses = Some(vec![ContainerStatus {
                name: "c".into(),
                restart_count: n,
                ..Default::default()
            }]);
            self
        }
        fn deleting(mut self) -> P {
            self.pod.metadata.deletion_timestamp = Some(Time(ts(1)));
            self
        }
        fn cost(mut self, cost: i32) -> P {
            self.pod.metadata.annotations = Some(BTreeMap::from([(
                POD_DELETION_COST.into(),
                cost.to_string(),
            )]));
            self
        }
    }

    fn rs(replicas: i32, min_ready: i32) -> ReplicaSet {
        ReplicaSet {
            metadata: ObjectMeta {
                name: Some("rs".into()),
                namespace: Some("ns".into()),
                uid: Some("rs-uid".into()),
                generation: Some(3),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(replicas),
                min_ready_seconds: Some(min_ready),
                selector: LabelSelector {
                    match_labels: Some(BTreeMap::from([("app".into(), "web".into())])),
                    ..Default::default()
                },
                template: Some(PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(BTreeMap::from([
                            ("app".into(), "web".into()),
                            ("tier".into(), "fe".into()),
                        ])),
                        ..Default::default()
                    }),
                    spec: Some(PodSpec::default()),
                }),
            }),
            status: None,
        }
    }

    fn names(pods: &[&Pod]) -> Vec<String> {
        pods.iter()
            .map(|p| name_of(&p.metadata).to_string())
            .collect()
    }

    #[test]
    fn claims_follow_controller_refs_and_selectors() {
        let pods = [
            P::new("mine").owner("rs-uid").pod,
            P::new("moved").owner("rs-uid").labels(&[("app", "db")]).pod,
            P::new("orphan").pod,
            P::new("orphan-other").labels(&[("app", "db")]).pod,
            P::new("theirs").owner("other").pod,
            P::new("orphan-deleting").deleting().pod,
        ];
        let refs: Vec<&Pod> = pods.iter().collect();
        let r = rs(3, 0);
        let selector = workload_selector(Some(&r.spec.as_ref().unwrap().selector)).unwrap();
        let claims = claim_pods(&r, selector.as_ref(), &refs);
        assert_eq!(names(&claims.owned), ["mine"]);
        assert_eq!(names(&claims.adopt), ["orphan"]);
        assert_eq!(names(&claims.release), ["moved"]);

        // A deleting owner neither adopts nor releases.
        let mut deleting = rs(3, 0);
        deleting.metadata.deletion_timestamp = Some(Time(ts(5)));
        let claims = claim_pods(&deleting, selector.as_ref(), &refs);
        assert_eq!(names(&claims.owned), ["mine"]);
        assert!(claims.adopt.is_empty() && claims.release.is_empty());

        // No selector selects nothing: owned pods are released.
        let claims = claim_pods(&r, None, &refs);
        assert!(claims.owned.is_empty() && claims.adopt.is_empty());
        assert_eq!(names(&claims.release), ["mine", "moved"]);
    }

    #[test]
    fn plans_creations_and_deletions() {
        let now = ts(10_000);
        // (replicas, pods, expected creations, expected deletions in order)
        let cases: Vec<(i32, Vec<P>, usize, Vec<&str>)> = vec![
            (3, vec![], 3, vec![]),
            (3, vec![P::new("a")], 2, vec![]),
            (1, vec![P::new("a")], 0, vec![]),
            (0, vec![P::new("a")], 0, vec!["ns/a"]),
            (1000, vec![], BURST_REPLICAS, vec![]),
            // Unscheduled before scheduled.
            (
                1,
                vec![P::new("a").node("n1"), P::new("b")],
                0,
                vec!["ns/b"],
            ),
            // Pending before running.
            (
                1,
                vec![
                    P::new("a").node("n1"),
                    P::new("b").node("n1").phase("Pending"),
                ],
                0,
                vec!["ns/b"],
            ),
            // Not ready before ready.
            (
                1,
                vec![P::new("a").node("n1").ready(50), P::new("b").node("n2")],
                0,
                vec!["ns/b"],
            ),
            // Lower deletion cost first.
            (
                1,
                vec![
                    P::new("a").node("n1").cost(5),
                    P::new("b").node("n2").cost(10),
                ],
                0,
                vec!["ns/a"],
            ),
            // Doubled up on a node first.
            (
                2,
                vec![
                    P::new("a").node("n1"),
                    P::new("b").node("n2"),
                    P::new("c").node("n2"),
                ],
                0,
                vec!["ns/b"],
            ),
            // Ready more recently first (different log buckets).
            (
                1,
                vec![
                    P::new("a").node("n1").ready(10),
                    P::new("b").node("n2").ready(9_990),
                ],
                0,
                vec!["ns/b"],
            ),
            // More restarts first.
            (
                1,
                vec![
                    P::new("a").node("n1").restarts(1),
                    P::new("b").node("n2").restarts(7),
                ],
                0,
                vec!["ns/b"],
            ),
            // Newer first.
            (
                1,
                vec![
                    P::new("a").node("n1").created(10),
                    P::new("b").node("n2").created(9_000),
                ],
                0,
                vec!["ns/b"],
            ),
            (
                1,
                vec![
                    P::new("a").node("n1").created(10),
                    P::new("b").created(20),
                    P::new("c").node("n3").created(9_000),
                ],
                0,
                vec!["ns/b", "ns/c"],
            ),
        ];
        for (i, (replicas, pods, create, delete)) in cases.into_iter().enumerate() {
            let pods: Vec<Pod> = pods.into_iter().map(|p| p.pod).collect();
            let refs: Vec<&Pod> = pods.iter().collect();
            let plan = plan_replicas(replicas, &refs, &refs, now);
            assert_eq!(plan.create, create, "case {i}");
            assert_eq!(plan.delete, delete, "case {i}");
        }
    }

    #[test]
    fn deletion_ranking_is_a_total_order_at_scale() {
        // Ready and creation times that collide exactly and within one logarithmic bucket,
        // as they do when hundreds of pods start in the same seconds: the comparator must
        // still be a total order (Rust's sort panics on a cycle), so the result is sorted
        // pairwise.
        let now = 10_000;
        let pods: Vec<Pod> = (0..1200)
            .map(|i| {
                let mut pod = P::new(&format!("p{i:04}"))
                    .ready(now - 600 - (i * 7919) % 50)
                    .created(now - 700 - (i * 104_729) % 40)
                    .restarts((i % 3) as i32)
                    .pod;
                // Uids unrelated to names, as the apiserver hands them out.
                pod.metadata.uid = Some(format!("{:08x}", (i * 2_654_435_761) % (1 << 32)));
                pod
            })
            .collect();
        let refs: Vec<&Pod> = pods.iter().collect();
        let ranked = rank_for_deletion(&refs, &refs, ts(now));
        assert_eq!(ranked.len(), pods.len());
        for pair in ranked.windows(2) {
            let order = compare_for_deletion(&(pair[0], 0), &(pair[1], 0), ts(now));
            assert_ne!(
                order,
                Ordering::Greater,
                "{:?}",
                pair.iter()
                    .map(|p| name_of(&p.metadata))
                    .collect::<Vec<_>>()
            );
        }
        // Within one ready-time bucket, more restarts go first.
        let (a, b) = (
            P::new("a").ready(now - 600).restarts(0).pod,
            P::new("b").ready(now - 601).restarts(2).pod,
        );
        assert_eq!(
            rank_for_deletion(&[&a, &b], &[], ts(now))
                .iter()
                .map(|p| name_of(&p.metadata))
                .collect::<Vec<_>>(),
            ["b", "a"]
        );
    }

    #[test]
    fn status_counts_and_failure_condition() {
        let now = ts(1000);
        let pods = [
            P::new("a")
                .labels(&[("app", "web"), ("tier", "fe")])
                .ready(900)
                .pod,
            P::new("b")
                .labels(&[("app", "web"), ("tier", "fe")])
                .ready(995)
                .pod,
            P::new("c").pod,
        ];
        let refs: Vec<&Pod> = pods.iter().collect();
        // (minReadySeconds, ready, available)
        for (min_ready, ready, available) in [(0, 2, 2), (10, 2, 1), (200, 2, 0)] {
            let status = calculate_status(&rs(3, min_ready), &refs, None, now);
            assert_eq!(status.replicas, 3);
            assert_eq!(status.fully_labeled_replicas, Some(2));
            assert_eq!(status.ready_replicas, Some(ready), "minReady {min_ready}");
            assert_eq!(
                status.available_replicas,
                Some(available),
                "minReady {min_ready}"
            );
            assert_eq!(status.observed_generation, Some(3));
            assert!(status.conditions.is_none());
        }
        let error = ManageError {
            reason: "FailedCreate",
            message: "quota".into(),
        };
        let failed = calculate_status(&rs(3, 0), &refs, Some(&error), now);
        let conditions = failed.conditions.clone().unwrap();
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].reason.as_deref(), Some("FailedCreate"));
        // The condition goes away once managing succeeds again.
        let mut r = rs(3, 0);
        r.status = Some(failed.clone());
        let healed = calculate_status(&r, &refs, None, now);
        assert!(healed.conditions.is_none());
        assert!(status_differs(Some(&failed), &healed));
        assert!(!status_differs(Some(&healed), &healed.clone()));
    }

    #[test]
    fn pods_from_template_are_owned_and_generated() {
        let pod = pod_from_template(&rs(1, 0)).unwrap();
        assert_eq!(pod.metadata.generate_name.as_deref(), Some("rs-"));
        assert_eq!(pod.metadata.namespace.as_deref(), Some("ns"));
        let refs = pod.metadata.owner_references.unwrap();
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].kind, "ReplicaSet");
        assert_eq!(refs[0].uid, "rs-uid");
        assert_eq!(refs[0].controller, Some(true));
        assert_eq!(refs[0].block_owner_deletion, Some(true));
        assert_eq!(
            pod.metadata.labels.unwrap().get("tier").map(String::as_str),
            Some("fe")
        );
        let mut no_template = rs(1, 0);
        no_template.spec.as_mut().unwrap().template = None;
        assert!(pod_from_template(&no_template).is_err());
    }
}
