//! The Deployment controller's decisions, as a pure function: [`plan_rollout`] takes a
//! Deployment, the ReplicaSets it controls and its pods, and returns the [`Step`]s upstream's
//! `syncDeployment` would take (`sync.go`, `rolling.go`, `recreate.go`, `progress.go` and
//! `deployment_util.go`), in order.
//!
//! Upstream interleaves decisions with writes; here each write is applied to an in-memory copy
//! and the following decisions read that copy, so the steps are exactly the writes upstream
//! would issue in one sync when every write succeeds. Status changes are collected into one
//! final status write, and the Deployment's revision annotation into one metadata patch.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet, ReplicaSetSpec,
};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::hash::{compute_hash, equal_ignore_hash, POD_TEMPLATE_HASH_LABEL};
use crate::util::{
    add_seconds, controller_of, controller_ref, is_deleting, name_of, pod_phase, scaled_value,
    uid_of,
};

/// The revision of a Deployment's ReplicaSet (and of the Deployment: its newest).
pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
/// Earlier revisions a ReplicaSet served (after rollbacks).
pub const REVISION_HISTORY_ANNOTATION: &str = "deployment.kubernetes.io/revision-history";
/// The Deployment's replicas when the ReplicaSet was last scaled.
pub const DESIRED_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/desired-replicas";
/// The Deployment's replicas + maxSurge when the ReplicaSet was last scaled.
pub const MAX_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/max-replicas";
/// kubectl's copy of the applied object: never copied to ReplicaSets.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// The rollback request of `extensions/v1beta1`: never copied either.
pub const ROLLBACK_TO_ANNOTATION: &str = "deprecated.deployment.rollback.to";

/// Upstream's limit on the revision-history annotation.
const MAX_REVISION_HISTORY_CHARS: usize = 2000;

// Condition reasons, as upstream.
pub const REASON_RS_UPDATED: &str = "ReplicaSetUpdated";
pub const REASON_FAILED_RS_CREATE: &str = "ReplicaSetCreateError";
pub const REASON_NEW_RS_CREATED: &str = "NewReplicaSetCreated";
pub const REASON_FOUND_NEW_RS: &str = "FoundNewReplicaSet";
pub const REASON_NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
pub const REASON_TIMED_OUT: &str = "ProgressDeadlineExceeded";
pub const REASON_PAUSED: &str = "DeploymentPaused";
pub const REASON_RESUMED: &str = "DeploymentResumed";
pub const REASON_MIN_AVAILABLE: &str = "MinimumReplicasAvailable";
pub const REASON_MIN_UNAVAILABLE: &str = "MinimumReplicasUnavailable";

/// One write of a sync.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Create this ReplicaSet (the one for the current template).
    CreateReplicaSet(ReplicaSet),
    /// Update this ReplicaSet (replicas, annotations, minReadySeconds).
    UpdateReplicaSet(ReplicaSet),
    /// Delete an old ReplicaSet beyond `revisionHistoryLimit`.
    DeleteReplicaSet { name: String, uid: String },
    /// Write the Deployment's status.
    UpdateStatus(DeploymentStatus),
    /// Set the Deployment's revision annotation.
    SetRevision(String),
}

/// The outcome of [`plan_rollout`].
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// Look again after this long even without events (progress deadline checks).
    pub requeue_after: Option<Duration>,
    /// The sync stopped early (a hash collision); retry with backoff after applying the steps.
    pub retry: Option<String>,
}

/// Stops a sync early.
struct Stop(String);

fn replicas_of(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

fn rs_status_field(
    rs: &ReplicaSet,
    f: impl Fn(&k8s_openapi::api::apps::v1::ReplicaSetStatus) -> i32,
) -> i32 {
    rs.status.as_ref().map(f).unwrap_or(0)
}

fn rs_available(rs: &ReplicaSet) -> i32 {
    rs_status_field(rs, |s| s.available_replicas.unwrap_or(0))
}

fn rs_actual(rs: &ReplicaSet) -> i32 {
    rs_status_field(rs, |s| s.replicas)
}

fn rs_ready(rs: &ReplicaSet) -> i32 {
    rs_status_field(rs, |s| s.ready_replicas.unwrap_or(0))
}

fn annotation<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

fn int_annotation(rs: &ReplicaSet, key: &str) -> Option<i32> {
    annotation(&rs.metadata, key)?.parse().ok()
}

/// Upstream `deploymentutil.Revision`: 0 when absent, `None` when unparsable.
pub fn revision(rs: &ReplicaSet) -> Option<i64> {
    match annotation(&rs.metadata, REVISION_ANNOTATION) {
        None => Some(0),
        Some(v) => v.parse().ok(),
    }
}

fn is_rolling_update(d: &Deployment) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        .is_none_or(|t| t == "RollingUpdate")
}

fn rolling_params(d: &Deployment) -> (IntOrString, IntOrString) {
    let default = || IntOrString::String("25%".into());
    let rolling = d
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.rolling_update.as_ref());
    match rolling {
        None => (default(), default()),
        Some(r) => (
            r.max_surge.clone().unwrap_or(IntOrString::Int(0)),
            r.max_unavailable.clone().unwrap_or(IntOrString::Int(0)),
        ),
    }
}

/// Upstream `ResolveFenceposts`: maxSurge rounded up, maxUnavailable rounded down, and
/// maxUnavailable 1 when both resolve to 0.
pub fn resolve_fenceposts(
    max_surge: &IntOrString,
    max_unavailable: &IntOrString,
    desired: i32,
) -> (i32, i32) {
    let surge = scaled_value(max_surge, desired, true).unwrap_or(0);
    let mut unavailable = scaled_value(max_unavailable, desired, false).unwrap_or(0);
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    (surge, unavailable)
}

/// Upstream `MaxSurge`.
pub fn max_surge(d: &Deployment) -> i32 {
    if !is_rolling_update(d) {
        return 0;
    }
    let (surge, unavailable) = rolling_params(d);
    resolve_fenceposts(&surge, &unavailable, replicas_of(d)).0
}

/// Upstream `MaxUnavailable`.
pub fn max_unavailable(d: &Deployment) -> i32 {
    let replicas = replicas_of(d);
    if !is_rolling_update(d) || replicas == 0 {
        return 0;
    }
    let (surge, unavailable) = rolling_params(d);
    resolve_fenceposts(&surge, &unavailable, replicas)
        .1
        .min(replicas)
}

fn has_progress_deadline(d: &Deployment) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
        .is_some_and(|p| p != i32::MAX)
}

fn revision_history_limit(d: &Deployment) -> Option<i32> {
    d.spec
        .as_ref()
        .and_then(|s| s.revision_history_limit)
        .filter(|l| *l != i32::MAX)
}

fn is_paused(d: &Deployment) -> bool {
    d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false)
}

fn template_of(d: &Deployment) -> PodTemplateSpec {
    d.spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default()
}

fn rs_template(rs: &ReplicaSet) -> PodTemplateSpec {
    rs.spec
        .as_ref()
        .and_then(|s| s.template.clone())
        .unwrap_or_default()
}

fn creation_order(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    let ta = a.metadata.creation_timestamp.as_ref().map(|t| t.0);
    let tb = b.metadata.creation_timestamp.as_ref().map(|t| t.0);
    if ta == tb {
        name_of(&a.metadata).cmp(name_of(&b.metadata))
    } else {
        ta.cmp(&tb)
    }
}

/// A Deployment condition as upstream's `NewDeploymentCondition` makes it.
pub fn new_condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: String,
    now: Timestamp,
) -> DeploymentCondition {
    DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_update_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

/// Upstream `GetDeploymentCondition`.
pub fn get_condition<'a>(
    status: &'a DeploymentStatus,
    type_: &str,
) -> Option<&'a DeploymentCondition> {
    status
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// Upstream `SetDeploymentCondition`: no change when status and reason are the same; the
/// transition time is kept when only the reason changes.
pub fn set_condition(status: &mut DeploymentStatus, mut condition: DeploymentCondition) {
    if let Some(current) = get_condition(status, &condition.type_) {
        if current.status == condition.status && current.reason == condition.reason {
            return;
        }
        if current.status == condition.status {
            condition.last_transition_time = current.last_transition_time.clone();
        }
    }
    remove_condition(status, &condition.type_);
    status
        .conditions
        .get_or_insert_with(Vec::new)
        .push(condition);
}

/// Upstream `RemoveDeploymentCondition`.
pub fn remove_condition(status: &mut DeploymentStatus, type_: &str) {
    if let Some(conditions) = status.conditions.as_mut() {
        conditions.retain(|c| c.type_ != type_);
        if conditions.is_empty() {
            status.conditions = None;
        }
    }
}

/// Upstream `DeploymentComplete`.
pub fn deployment_complete(d: &Deployment, status: &DeploymentStatus) -> bool {
    let replicas = replicas_of(d);
    status.updated_replicas.unwrap_or(0) == replicas
        && status.replicas.unwrap_or(0) == replicas
        && status.available_replicas.unwrap_or(0) == replicas
        && status.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
}

/// Upstream `DeploymentProgressing`: more updated, ready or available pods, or fewer old ones.
pub fn deployment_progressing(old: &DeploymentStatus, new: &DeploymentStatus) -> bool {
    let old_old = old.replicas.unwrap_or(0) - old.updated_replicas.unwrap_or(0);
    let new_old = new.replicas.unwrap_or(0) - new.updated_replicas.unwrap_or(0);
    new.updated_replicas.unwrap_or(0) > old.updated_replicas.unwrap_or(0)
        || new_old < old_old
        || new.ready_replicas.unwrap_or(0) > old.ready_replicas.unwrap_or(0)
        || new.available_replicas.unwrap_or(0) > old.available_replicas.unwrap_or(0)
}

/// Upstream `DeploymentTimedOut`.
pub fn deployment_timed_out(d: &Deployment, status: &DeploymentStatus, now: Timestamp) -> bool {
    if !has_progress_deadline(d) {
        return false;
    }
    let Some(condition) = get_condition(status, "Progressing") else {
        return false;
    };
    match condition.reason.as_deref() {
        Some(REASON_NEW_RS_AVAILABLE) => return false,
        Some(REASON_TIMED_OUT) => return true,
        _ => {}
    }
    let Some(from) = condition.last_update_time.as_ref() else {
        return false;
    };
    let deadline = d
        .spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
        .unwrap_or(600);
    add_seconds(from.0, i64::from(deadline)) < now
}

/// Upstream `calculateStatus`.
pub fn calculate_status(
    all: &[&ReplicaSet],
    new: Option<&ReplicaSet>,
    d: &Deployment,
    now: Timestamp,
) -> DeploymentStatus {
    let available: i32 = all.iter().map(|rs| rs_available(rs)).sum();
    let total: i32 = all.iter().map(|rs| rs_replicas(rs)).sum();
    let unavailable = (total - available).max(0);
    let current = d.status.clone().unwrap_or_default();
    let mut status = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: Some(all.iter().map(|rs| rs_actual(rs)).sum()),
        updated_replicas: Some(new.map(rs_actual).unwrap_or(0)),
        ready_replicas: Some(all.iter().map(|rs| rs_ready(rs)).sum()),
        available_replicas: Some(available),
        unavailable_replicas: Some(unavailable),
        collision_count: current.collision_count,
        conditions: current.conditions.clone(),
        terminating_replicas: current.terminating_replicas,
    };
    if available >= replicas_of(d) - max_unavailable(d) {
        set_condition(
            &mut status,
            new_condition(
                "Available",
                "True",
                REASON_MIN_AVAILABLE,
                "Deployment has minimum availability.".into(),
                now,
            ),
        );
    } else {
        set_condition(
            &mut status,
            new_condition(
                "Available",
                "False",
                REASON_MIN_UNAVAILABLE,
                "Deployment does not have minimum availability.".into(),
                now,
            ),
        );
    }
    status
}

/// Upstream `oldPodsRunning`: old ReplicaSets still report pods, or pods of other
/// ReplicaSets than `new` are not terminated.
pub fn old_pods_running(new_uid: Option<&str>, olds: &[&ReplicaSet], pods: &[&Pod]) -> bool {
    if olds.iter().map(|rs| rs_actual(rs)).sum::<i32>() > 0 {
        return true;
    }
    let old_uids: Vec<&str> = olds.iter().map(|rs| uid_of(&rs.metadata)).collect();
    pods.iter().any(|pod| {
        let Some(owner) = controller_of(&pod.metadata) else {
            return false;
        };
        if Some(owner.uid.as_str()) == new_uid || !old_uids.contains(&owner.uid.as_str()) {
            return false;
        }
        !matches!(pod_phase(pod), "Succeeded" | "Failed")
    })
}

/// The Deployment's own selector is empty: it would select every pod.
fn selects_everything(d: &Deployment) -> bool {
    let Some(spec) = d.spec.as_ref() else {
        return true;
    };
    let s: &LabelSelector = &spec.selector;
    s.match_labels.as_ref().is_none_or(|m| m.is_empty())
        && s.match_expressions.as_ref().is_none_or(|e| e.is_empty())
}

/// Decides one sync of `d`: `owned` are the ReplicaSets it controls (already claimed), `pods`
/// its pods (for Recreate), `namespace_rs` every ReplicaSet of its namespace (to detect name
/// collisions) and `now` the time conditions are stamped with.
pub fn plan_rollout(
    d: &Deployment,
    owned: &[ReplicaSet],
    pods: &[&Pod],
    namespace_rs: &[&ReplicaSet],
    now: Timestamp,
) -> Plan {
    let mut sim = Sim {
        original_status: d.status.clone().unwrap_or_default(),
        original_revision: annotation(&d.metadata, REVISION_ANNOTATION).map(str::to_string),
        d: d.clone(),
        rss: owned.to_vec(),
        steps: Vec::new(),
        now,
        namespace_rs,
        pods,
        requeue_after: None,
    };
    let outcome = sim.sync();
    sim.finish(outcome.err())
}

struct Sim<'a> {
    d: Deployment,
    original_status: DeploymentStatus,
    original_revision: Option<String>,
    rss: Vec<ReplicaSet>,
    steps: Vec<Step>,
    now: Timestamp,
    namespace_rs: &'a [&'a ReplicaSet],
    pods: &'a [&'a Pod],
    requeue_after: Option<Duration>,
}

impl Sim<'_> {
    fn status(&self) -> DeploymentStatus {
        self.d.status.clone().unwrap_or_default()
    }

    fn status_mut(&mut self) -> &mut DeploymentStatus {
        self.d.status.get_or_insert_with(Default::default)
    }

    fn finish(mut self, stop: Option<Stop>) -> Plan {
        let status = self.status();
        if status != self.original_status {
            self.steps.push(Step::UpdateStatus(status));
        }
        let revision = annotation(&self.d.metadata, REVISION_ANNOTATION).map(str::to_string);
        if let Some(revision) = revision.filter(|r| Some(r) != self.original_revision.as_ref()) {
            self.steps.push(Step::SetRevision(revision));
        }
        Plan {
            steps: self.steps,
            requeue_after: self.requeue_after,
            retry: stop.map(|s| s.0),
        }
    }

    /// Upstream `syncDeployment` after listing.
    fn sync(&mut self) -> Result<(), Stop> {
        if selects_everything(&self.d) {
            let generation = self.d.metadata.generation;
            let status = self.status_mut();
            if status.observed_generation < generation {
                status.observed_generation = generation;
            }
            return Ok(());
        }
        if is_deleting(&self.d.metadata) {
            return self.sync_status_only();
        }
        self.check_paused_conditions();
        if is_paused(&self.d) {
            return self.sync_scale();
        }
        if self.is_scaling_event()? {
            return self.sync_scale();
        }
        let recreate = !is_rolling_update(&self.d);
        if recreate {
            self.rollout_recreate()
        } else {
            self.rollout_rolling()
        }
    }

    // ---- finding ReplicaSets ----------------------------------------------------------------

    /// Index of the ReplicaSet whose template equals the Deployment's (the oldest if several).
    fn find_new(&self) -> Option<usize> {
        let template = template_of(&self.d);
        let mut order: Vec<usize> = (0..self.rss.len()).collect();
        order.sort_by(|a, b| creation_order(&self.rss[*a], &self.rss[*b]));
        order
            .into_iter()
            .find(|i| equal_ignore_hash(&rs_template(&self.rss[*i]), &template))
    }

    fn olds(&self, new: Option<usize>) -> Vec<usize> {
        (0..self.rss.len()).filter(|i| Some(*i) != new).collect()
    }

    /// Upstream `getAllReplicaSetsAndSyncRevision` (with `getNewReplicaSet`).
    fn get_all_and_sync_revision(
        &mut self,
        create: bool,
    ) -> Result<(Option<usize>, Vec<usize>), Stop> {
        let existing = self.find_new();
        let olds = self.olds(existing);
        let max_old = olds
            .iter()
            .filter_map(|i| revision(&self.rss[*i]))
            .max()
            .unwrap_or(0);
        let new_revision = (max_old + 1).to_string();
        if let Some(i) = existing {
            let mut rs = self.rss[i].clone();
            let annotations_updated = set_new_rs_annotations(&self.d, &mut rs, &new_revision, true);
            let min_ready = self.d.spec.as_ref().and_then(|s| s.min_ready_seconds);
            let rs_min_ready = rs.spec.as_ref().and_then(|s| s.min_ready_seconds);
            if annotations_updated || min_ready.unwrap_or(0) != rs_min_ready.unwrap_or(0) {
                if let Some(spec) = rs.spec.as_mut() {
                    spec.min_ready_seconds = min_ready;
                }
                self.update_rs(i, rs);
                return Ok((Some(i), olds));
            }
            let rs_revision = annotation(&rs.metadata, REVISION_ANNOTATION)
                .unwrap_or_default()
                .to_string();
            self.set_deployment_revision(&rs_revision);
            if has_progress_deadline(&self.d)
                && get_condition(&self.status(), "Progressing").is_none()
            {
                let message = format!("Found new replica set {:?}", name_of(&rs.metadata));
                let condition = new_condition(
                    "Progressing",
                    "True",
                    REASON_FOUND_NEW_RS,
                    message,
                    self.now,
                );
                set_condition(self.status_mut(), condition);
            }
            return Ok((Some(i), olds));
        }
        if !create {
            return Ok((None, olds));
        }
        let mut rs = self.new_replica_set()?;
        let name = name_of(&rs.metadata).to_string();
        if let Some(taken) = self
            .namespace_rs
            .iter()
            .find(|r| name_of(&r.metadata) == name)
        {
            let ours =
                controller_of(&taken.metadata).is_some_and(|r| r.uid == uid_of(&self.d.metadata));
            if !(ours && equal_ignore_hash(&template_of(&self.d), &rs_template(taken))) {
                // A hash collision: bump collisionCount and try again with a new name.
                let status = self.status_mut();
                status.collision_count = Some(status.collision_count.unwrap_or(0) + 1);
                return Err(Stop(format!(
                    "replica set {name:?} already exists with another template"
                )));
            }
        }
        let all: Vec<&ReplicaSet> = self.rss.iter().chain(std::iter::once(&rs)).collect();
        let replicas = new_rs_new_replicas(&self.d, &all, &rs);
        if let Some(spec) = rs.spec.as_mut() {
            spec.replicas = Some(replicas);
        }
        set_new_rs_annotations(&self.d, &mut rs, &new_revision, false);
        self.steps.push(Step::CreateReplicaSet(rs.clone()));
        self.rss.push(rs);
        let i = self.rss.len() - 1;
        self.set_deployment_revision(&new_revision);
        if has_progress_deadline(&self.d) {
            let message = format!("Created new replica set {name:?}");
            let condition = new_condition(
                "Progressing",
                "True",
                REASON_NEW_RS_CREATED,
                message,
                self.now,
            );
            set_condition(self.status_mut(), condition);
        }
        Ok((Some(i), olds))
    }

    /// The ReplicaSet for the current template, not yet sized or annotated.
    fn new_replica_set(&self) -> Result<ReplicaSet, Stop> {
        let d = &self.d;
        let mut template = template_of(d);
        let collision = d.status.as_ref().and_then(|s| s.collision_count);
        let hash = compute_hash(&template, collision).map_err(|e| Stop(e.to_string()))?;
        let meta = template.metadata.get_or_insert_with(Default::default);
        let mut labels = meta.labels.clone().unwrap_or_default();
        labels.insert(POD_TEMPLATE_HASH_LABEL.into(), hash.clone());
        meta.labels = Some(labels.clone());
        let mut selector = d
            .spec
            .as_ref()
            .map(|s| s.selector.clone())
            .unwrap_or_default();
        selector
            .match_labels
            .get_or_insert_with(BTreeMap::new)
            .insert(POD_TEMPLATE_HASH_LABEL.into(), hash.clone());
        Ok(ReplicaSet {
            metadata: ObjectMeta {
                name: Some(format!("{}-{hash}", name_of(&d.metadata))),
                namespace: d.metadata.namespace.clone(),
                owner_references: Some(vec![controller_ref(d)]),
                labels: Some(labels),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: d.spec.as_ref().and_then(|s| s.min_ready_seconds),
                selector,
                template: Some(template),
            }),
            status: None,
        })
    }

    fn set_deployment_revision(&mut self, revision: &str) {
        let annotations = self
            .d
            .metadata
            .annotations
            .get_or_insert_with(BTreeMap::new);
        if annotations.get(REVISION_ANNOTATION).map(String::as_str) != Some(revision) {
            annotations.insert(REVISION_ANNOTATION.into(), revision.into());
        }
    }

    fn update_rs(&mut self, i: usize, rs: ReplicaSet) {
        self.steps.push(Step::UpdateReplicaSet(rs.clone()));
        self.rss[i] = rs;
    }

    // ---- scaling ------------------------------------------------------------------------------

    /// Upstream `scaleReplicaSet`: writes when the size or the replica annotations change;
    /// true when the size changed.
    fn scale_rs(&mut self, i: usize, new_scale: i32) -> bool {
        let replicas = replicas_of(&self.d);
        let max = replicas + max_surge(&self.d);
        let rs = &self.rss[i];
        let size_changes = rs_replicas(rs) != new_scale;
        let annotations_change = int_annotation(rs, DESIRED_REPLICAS_ANNOTATION) != Some(replicas)
            || int_annotation(rs, MAX_REPLICAS_ANNOTATION) != Some(max);
        if size_changes || annotations_change {
            let mut rs = rs.clone();
            if let Some(spec) = rs.spec.as_mut() {
                spec.replicas = Some(new_scale);
            }
            set_replicas_annotations(&mut rs, replicas, max);
            self.update_rs(i, rs);
        }
        size_changes
    }

    /// Upstream `scaleReplicaSetAndRecordEvent`.
    fn scale_rs_if_needed(&mut self, i: usize, new_scale: i32) -> bool {
        if rs_replicas(&self.rss[i]) == new_scale {
            return false;
        }
        self.scale_rs(i, new_scale)
    }

    fn active(&self, indices: &[usize]) -> Vec<usize> {
        indices
            .iter()
            .copied()
            .filter(|i| rs_replicas(&self.rss[*i]) > 0)
            .collect()
    }

    /// Upstream `scale`: scaling events and paused Deployments resize proportionally.
    fn scale(&mut self, new: Option<usize>, olds: &[usize]) {
        let replicas = replicas_of(&self.d);
        if let Some(i) = self.find_active_or_latest(new, olds) {
            if rs_replicas(&self.rss[i]) != replicas {
                self.scale_rs_if_needed(i, replicas);
            }
            return;
        }
        if new.is_some_and(|n| self.is_saturated(n)) {
            for i in self.active(olds) {
                self.scale_rs_if_needed(i, 0);
            }
            return;
        }
        if !is_rolling_update(&self.d) {
            return;
        }
        let mut all: Vec<usize> = olds.to_vec();
        all.extend(new);
        let mut all = self.active(&all);
        let current: i32 = all.iter().map(|i| rs_replicas(&self.rss[*i])).sum();
        let allowed = if replicas > 0 {
            replicas + max_surge(&self.d)
        } else {
            0
        };
        let to_add = allowed - current;
        let by_size_then_age = |a: &ReplicaSet, b: &ReplicaSet, newer_first: bool| {
            rs_replicas(b).cmp(&rs_replicas(a)).then_with(|| {
                let o = creation_order(a, b);
                if newer_first {
                    o.reverse()
                } else {
                    o
                }
            })
        };
        match to_add.cmp(&0) {
            Ordering::Greater => {
                all.sort_by(|a, b| by_size_then_age(&self.rss[*a], &self.rss[*b], true))
            }
            Ordering::Less => {
                all.sort_by(|a, b| by_size_then_age(&self.rss[*a], &self.rss[*b], false))
            }
            Ordering::Equal => {}
        }
        let mut added = 0;
        let mut sizes: Vec<i32> = Vec::new();
        for i in &all {
            let rs = &self.rss[*i];
            if to_add != 0 {
                let proportion = get_proportion(rs, &self.d, to_add, added);
                sizes.push(rs_replicas(rs) + proportion);
                added += proportion;
            } else {
                sizes.push(rs_replicas(rs));
            }
        }
        for (n, i) in all.iter().enumerate() {
            if n == 0 && to_add != 0 {
                sizes[0] = (sizes[0] + to_add - added).max(0);
            }
            self.scale_rs(*i, sizes[n]);
        }
    }

    /// Upstream `FindActiveOrLatest`.
    fn find_active_or_latest(&self, new: Option<usize>, olds: &[usize]) -> Option<usize> {
        if new.is_none() && olds.is_empty() {
            return None;
        }
        let mut sorted = olds.to_vec();
        sorted.sort_by(|a, b| creation_order(&self.rss[*b], &self.rss[*a]));
        let mut all = sorted.clone();
        all.extend(new);
        let active = self.active(&all);
        match active.len() {
            0 => new.or_else(|| sorted.first().copied()),
            1 => Some(active[0]),
            _ => None,
        }
    }

    /// Upstream `IsSaturated`.
    fn is_saturated(&self, i: usize) -> bool {
        let rs = &self.rss[i];
        let replicas = replicas_of(&self.d);
        int_annotation(rs, DESIRED_REPLICAS_ANNOTATION) == Some(replicas)
            && rs_replicas(rs) == replicas
            && rs_available(rs) == replicas
    }

    /// Upstream `isScalingEvent`.
    fn is_scaling_event(&mut self) -> Result<bool, Stop> {
        let (new, olds) = self.get_all_and_sync_revision(false)?;
        let mut all = olds;
        all.extend(new);
        let replicas = replicas_of(&self.d);
        Ok(self
            .active(&all)
            .into_iter()
            .filter_map(|i| int_annotation(&self.rss[i], DESIRED_REPLICAS_ANNOTATION))
            .any(|desired| desired != replicas))
    }

    // ---- strategies ---------------------------------------------------------------------------

    fn sync_status_only(&mut self) -> Result<(), Stop> {
        let (new, olds) = self.get_all_and_sync_revision(false)?;
        self.sync_deployment_status(new, &olds);
        Ok(())
    }

    /// Upstream `sync`: scaling events and paused Deployments.
    fn sync_scale(&mut self) -> Result<(), Stop> {
        let (new, olds) = self.get_all_and_sync_revision(false)?;
        self.scale(new, &olds);
        if is_paused(&self.d) {
            self.cleanup(&olds);
        }
        self.sync_deployment_status(new, &olds);
        Ok(())
    }

    /// Upstream `checkPausedConditions`.
    fn check_paused_conditions(&mut self) {
        if !has_progress_deadline(&self.d) {
            return;
        }
        let status = self.status();
        let condition = get_condition(&status, "Progressing");
        if condition.is_some_and(|c| c.reason.as_deref() == Some(REASON_TIMED_OUT)) {
            return;
        }
        let paused_condition =
            condition.is_some_and(|c| c.reason.as_deref() == Some(REASON_PAUSED));
        let paused = is_paused(&self.d);
        let now = self.now;
        if paused && !paused_condition {
            let c = new_condition(
                "Progressing",
                "Unknown",
                REASON_PAUSED,
                "Deployment is paused".into(),
                now,
            );
            set_condition(self.status_mut(), c);
        } else if !paused && paused_condition {
            let c = new_condition(
                "Progressing",
                "Unknown",
                REASON_RESUMED,
                "Deployment is resumed".into(),
                now,
            );
            set_condition(self.status_mut(), c);
        }
    }

    /// Upstream `rolloutRolling`.
    fn rollout_rolling(&mut self) -> Result<(), Stop> {
        let (new, olds) = self.get_all_and_sync_revision(true)?;
        let Some(new) = new else {
            return Ok(());
        };
        if self.reconcile_new(new) {
            self.sync_rollout_status(Some(new), &olds);
            return Ok(());
        }
        let active_olds = self.active(&olds);
        if self.reconcile_olds(new, &active_olds) {
            self.sync_rollout_status(Some(new), &olds);
            return Ok(());
        }
        if deployment_complete(&self.d, &self.status()) {
            self.cleanup(&olds);
        }
        self.sync_rollout_status(Some(new), &olds);
        Ok(())
    }

    /// Upstream `reconcileNewReplicaSet`.
    fn reconcile_new(&mut self, new: usize) -> bool {
        let replicas = replicas_of(&self.d);
        let current = rs_replicas(&self.rss[new]);
        if current == replicas {
            return false;
        }
        if current > replicas {
            return self.scale_rs_if_needed(new, replicas);
        }
        let all: Vec<&ReplicaSet> = self.rss.iter().collect();
        let count = new_rs_new_replicas(&self.d, &all, &self.rss[new]);
        self.scale_rs_if_needed(new, count)
    }

    /// Upstream `reconcileOldReplicaSets`.
    fn reconcile_olds(&mut self, new: usize, olds: &[usize]) -> bool {
        let old_count: i32 = olds.iter().map(|i| rs_replicas(&self.rss[*i])).sum();
        if old_count == 0 {
            return false;
        }
        let all_count: i32 = self.rss.iter().map(rs_replicas).sum();
        let min_available = replicas_of(&self.d) - max_unavailable(&self.d);
        let new_rs = &self.rss[new];
        let new_unavailable = rs_replicas(new_rs) - rs_available(new_rs);
        let max_scaled_down = all_count - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return false;
        }
        let cleaned = self.cleanup_unhealthy(olds, max_scaled_down);
        let scaled = self.scale_down_olds_for_rolling(olds);
        cleaned + scaled > 0
    }

    /// Upstream `cleanupUnhealthyReplicas`.
    fn cleanup_unhealthy(&mut self, olds: &[usize], max_cleanup: i32) -> i32 {
        let mut sorted = olds.to_vec();
        sorted.sort_by(|a, b| creation_order(&self.rss[*a], &self.rss[*b]));
        let mut total = 0;
        for i in sorted {
            if total >= max_cleanup {
                break;
            }
            let rs = &self.rss[i];
            let replicas = rs_replicas(rs);
            let available = rs_available(rs);
            if replicas == 0 || replicas == available {
                continue;
            }
            let count = (max_cleanup - total).min(replicas - available);
            let target = replicas - count;
            if target > replicas {
                continue;
            }
            self.scale_rs_if_needed(i, target);
            total += count;
        }
        total
    }

    /// Upstream `scaleDownOldReplicaSetsForRollingUpdate`.
    fn scale_down_olds_for_rolling(&mut self, olds: &[usize]) -> i32 {
        let min_available = replicas_of(&self.d) - max_unavailable(&self.d);
        let available: i32 = self.rss.iter().map(rs_available).sum();
        if available <= min_available {
            return 0;
        }
        let mut sorted = olds.to_vec();
        sorted.sort_by(|a, b| creation_order(&self.rss[*a], &self.rss[*b]));
        let total_to_scale = available - min_available;
        let mut total = 0;
        for i in sorted {
            if total >= total_to_scale {
                break;
            }
            let replicas = rs_replicas(&self.rss[i]);
            if replicas == 0 {
                continue;
            }
            let count = replicas.min(total_to_scale - total);
            self.scale_rs_if_needed(i, replicas - count);
            total += count;
        }
        total
    }

    /// Upstream `rolloutRecreate`.
    fn rollout_recreate(&mut self) -> Result<(), Stop> {
        let (mut new, mut olds) = self.get_all_and_sync_revision(false)?;
        let mut scaled_down = false;
        for i in self.active(&olds) {
            if self.scale_rs_if_needed(i, 0) {
                scaled_down = true;
            }
        }
        if scaled_down {
            self.sync_rollout_status(new, &olds);
            return Ok(());
        }
        let new_uid = new.map(|i| uid_of(&self.rss[i].metadata).to_string());
        let old_rs: Vec<&ReplicaSet> = olds.iter().map(|i| &self.rss[*i]).collect();
        if old_pods_running(new_uid.as_deref(), &old_rs, self.pods) {
            self.sync_rollout_status(new, &olds);
            return Ok(());
        }
        if new.is_none() {
            (new, olds) = self.get_all_and_sync_revision(true)?;
        }
        if let Some(i) = new {
            let replicas = replicas_of(&self.d);
            self.scale_rs_if_needed(i, replicas);
        }
        if deployment_complete(&self.d, &self.status()) {
            self.cleanup(&olds);
        }
        self.sync_rollout_status(new, &olds);
        Ok(())
    }

    /// Upstream `cleanupDeployment`: delete the oldest old ReplicaSets beyond
    /// `revisionHistoryLimit` that have no pods.
    fn cleanup(&mut self, olds: &[usize]) {
        let Some(limit) = revision_history_limit(&self.d) else {
            return;
        };
        let mut alive: Vec<usize> = olds
            .iter()
            .copied()
            .filter(|i| !is_deleting(&self.rss[*i].metadata))
            .collect();
        let diff = alive.len() as i64 - i64::from(limit);
        if diff <= 0 {
            return;
        }
        alive.sort_by(|a, b| {
            let (ra, rb) = (&self.rss[*a], &self.rss[*b]);
            match (revision(ra), revision(rb)) {
                (Some(x), Some(y)) if x != y => x.cmp(&y),
                _ => creation_order(ra, rb),
            }
        });
        for i in alive.into_iter().take(diff as usize) {
            let rs = &self.rss[i];
            let observed = rs
                .status
                .as_ref()
                .and_then(|s| s.observed_generation)
                .unwrap_or(0);
            if rs_actual(rs) != 0
                || rs_replicas(rs) != 0
                || rs.metadata.generation.unwrap_or(0) > observed
                || is_deleting(&rs.metadata)
            {
                continue;
            }
            self.steps.push(Step::DeleteReplicaSet {
                name: name_of(&rs.metadata).to_string(),
                uid: uid_of(&rs.metadata).to_string(),
            });
        }
    }

    fn all_refs(&self, new: Option<usize>, olds: &[usize]) -> Vec<&ReplicaSet> {
        olds.iter()
            .chain(new.iter())
            .map(|i| &self.rss[*i])
            .collect()
    }

    /// Upstream `syncDeploymentStatus`.
    fn sync_deployment_status(&mut self, new: Option<usize>, olds: &[usize]) {
        let status = {
            let all = self.all_refs(new, olds);
            calculate_status(&all, new.map(|i| &self.rss[i]), &self.d, self.now)
        };
        self.d.status = Some(status);
    }

    /// Upstream `syncRolloutStatus` (and `requeueStuckDeployment`).
    fn sync_rollout_status(&mut self, new: Option<usize>, olds: &[usize]) {
        let d = &self.d;
        let now = self.now;
        let new_rs = new.map(|i| &self.rss[i]);
        let all = self.all_refs(new, olds);
        let mut status = calculate_status(&all, new_rs, d, now);
        let current = d.status.clone().unwrap_or_default();
        if !has_progress_deadline(d) {
            remove_condition(&mut status, "Progressing");
        }
        let current_cond = get_condition(&current, "Progressing").cloned();
        let complete_before = status.replicas == status.updated_replicas
            && current_cond
                .as_ref()
                .is_some_and(|c| c.reason.as_deref() == Some(REASON_NEW_RS_AVAILABLE));
        let name = name_of(&d.metadata);
        let rs_name = new_rs.map(|rs| name_of(&rs.metadata).to_string());
        if has_progress_deadline(d) && !complete_before {
            if deployment_complete(d, &status) {
                let message = match &rs_name {
                    Some(rs) => format!("ReplicaSet {rs:?} has successfully progressed."),
                    None => format!("Deployment {name:?} has successfully progressed."),
                };
                set_condition(
                    &mut status,
                    new_condition("Progressing", "True", REASON_NEW_RS_AVAILABLE, message, now),
                );
            } else if deployment_progressing(&current, &status) {
                let message = match &rs_name {
                    Some(rs) => format!("ReplicaSet {rs:?} is progressing."),
                    None => format!("Deployment {name:?} is progressing."),
                };
                let mut condition =
                    new_condition("Progressing", "True", REASON_RS_UPDATED, message, now);
                if let Some(current) = &current_cond {
                    if current.status == "True" {
                        condition.last_transition_time = current.last_transition_time.clone();
                    }
                    remove_condition(&mut status, "Progressing");
                }
                set_condition(&mut status, condition);
            } else if deployment_timed_out(d, &status, now) {
                let message = match &rs_name {
                    Some(rs) => format!("ReplicaSet {rs:?} has timed out progressing."),
                    None => format!("Deployment {name:?} has timed out progressing."),
                };
                set_condition(
                    &mut status,
                    new_condition("Progressing", "False", REASON_TIMED_OUT, message, now),
                );
            }
        }
        // ReplicaFailure conditions of the ReplicaSets, the new one's first.
        let failure = new_rs
            .into_iter()
            .chain(all.iter().copied())
            .flat_map(|rs| rs.status.iter().flat_map(|s| s.conditions.iter().flatten()))
            .find(|c| c.type_ == "ReplicaFailure")
            .map(|c| DeploymentCondition {
                type_: c.type_.clone(),
                status: c.status.clone(),
                reason: c.reason.clone(),
                message: c.message.clone(),
                last_update_time: c.last_transition_time.clone(),
                last_transition_time: c.last_transition_time.clone(),
            });
        match failure {
            Some(condition) => set_condition(&mut status, condition),
            None => remove_condition(&mut status, "ReplicaFailure"),
        }
        self.requeue_after = requeue_stuck(d, &status, now);
        self.d.status = Some(status);
    }
}

/// Upstream `requeueStuckDeployment`: when to check the progress deadline again.
pub fn requeue_stuck(
    d: &Deployment,
    status: &DeploymentStatus,
    now: Timestamp,
) -> Option<Duration> {
    if !has_progress_deadline(d) {
        return None;
    }
    let condition = get_condition(status, "Progressing")?;
    if deployment_complete(d, status) || condition.reason.as_deref() == Some(REASON_TIMED_OUT) {
        return None;
    }
    let from = condition.last_update_time.as_ref()?;
    let deadline = d
        .spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
        .unwrap_or(600);
    let at = add_seconds(from.0, i64::from(deadline));
    let after = at.as_second() - now.as_second();
    if after < 1 {
        Some(Duration::from_secs(1))
    } else {
        Some(Duration::from_secs(after as u64 + 1))
    }
}

/// Upstream `NewRSNewReplicas`.
pub fn new_rs_new_replicas(d: &Deployment, all: &[&ReplicaSet], new: &ReplicaSet) -> i32 {
    let replicas = replicas_of(d);
    if !is_rolling_update(d) {
        return replicas;
    }
    let (surge, _) = rolling_params(d);
    let surge = scaled_value(&surge, replicas, true).unwrap_or(0);
    let current: i32 = all.iter().map(|rs| rs_replicas(rs)).sum();
    let max_total = replicas + surge;
    if current >= max_total {
        return rs_replicas(new);
    }
    let up = (max_total - current).min(replicas - rs_replicas(new));
    rs_replicas(new) + up
}

/// Upstream `GetProportion`.
pub fn get_proportion(rs: &ReplicaSet, d: &Deployment, to_add: i32, added: i32) -> i32 {
    if rs_replicas(rs) == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let fraction = replica_set_fraction(rs, d);
    let allowed = to_add - added;
    if to_add > 0 {
        fraction.min(allowed)
    } else {
        fraction.max(allowed)
    }
}

/// Upstream `getReplicaSetFraction`.
fn replica_set_fraction(rs: &ReplicaSet, d: &Deployment) -> i32 {
    let replicas = replicas_of(d);
    if replicas == 0 {
        return -rs_replicas(rs);
    }
    let deployment_replicas = replicas + max_surge(d);
    let annotated = int_annotation(rs, MAX_REPLICAS_ANNOTATION)
        .unwrap_or_else(|| d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0));
    if annotated == 0 {
        return 0;
    }
    let size = f64::from(rs_replicas(rs)) * f64::from(deployment_replicas) / f64::from(annotated);
    size.round() as i32 - rs_replicas(rs)
}

/// Upstream `SetReplicasAnnotations`; true when something changed.
pub fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let mut changed = false;
    for (key, value) in [
        (DESIRED_REPLICAS_ANNOTATION, desired),
        (MAX_REPLICAS_ANNOTATION, max),
    ] {
        let value = value.to_string();
        if annotations.get(key) != Some(&value) {
            annotations.insert(key.into(), value);
            changed = true;
        }
    }
    changed
}

fn skip_copy_annotation(key: &str) -> bool {
    matches!(
        key,
        LAST_APPLIED_ANNOTATION
            | REVISION_ANNOTATION
            | REVISION_HISTORY_ANNOTATION
            | DESIRED_REPLICAS_ANNOTATION
            | MAX_REPLICAS_ANNOTATION
            | ROLLBACK_TO_ANNOTATION
    )
}

/// Upstream `SetNewReplicaSetAnnotations`; true when the ReplicaSet's annotations changed.
pub fn set_new_rs_annotations(
    d: &Deployment,
    rs: &mut ReplicaSet,
    new_revision: &str,
    exists: bool,
) -> bool {
    let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let mut changed = false;
    for (k, v) in d.metadata.annotations.iter().flatten() {
        if skip_copy_annotation(k) || annotations.get(k) == Some(v) {
            continue;
        }
        annotations.insert(k.clone(), v.clone());
        changed = true;
    }
    let old_revision = annotations.get(REVISION_ANNOTATION).cloned();
    let old_int = match old_revision.as_deref() {
        None | Some("") => 0,
        Some(v) => match v.parse::<i64>() {
            Ok(n) => n,
            Err(_) => return false,
        },
    };
    let Ok(new_int) = new_revision.parse::<i64>() else {
        return false;
    };
    if old_int < new_int {
        annotations.insert(REVISION_ANNOTATION.into(), new_revision.into());
        changed = true;
        if let Some(old) = old_revision {
            let history = annotations
                .get(REVISION_HISTORY_ANNOTATION)
                .cloned()
                .unwrap_or_default();
            if history.is_empty() {
                annotations.insert(REVISION_HISTORY_ANNOTATION.into(), old);
            } else {
                let mut revisions: Vec<&str> = history.split(',').collect();
                let mut total = history.len() + old.len() + 1;
                let mut start = 0;
                while total > MAX_REVISION_HISTORY_CHARS && start < revisions.len() {
                    total -= revisions[start].len() + 1;
                    start += 1;
                }
                if total <= MAX_REVISION_HISTORY_CHARS {
                    revisions = revisions.split_off(start);
                    revisions.push(&old);
                    let joined = revisions.join(",");
                    annotations.insert(REVISION_HISTORY_ANNOTATION.into(), joined);
                }
            }
        }
    }
    if !exists {
        let replicas = replicas_of(d);
        if set_replicas_annotations(rs, replicas, replicas + max_surge(d)) {
            changed = true;
        }
    }
    changed
}

#[cfg(test)]
mod tests;
