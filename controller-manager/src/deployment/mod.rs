//! The Deployment controller (upstream `pkg/controller/deployment`): one ReplicaSet per pod
//! template, named `<deployment>-<pod-template-hash>`; RollingUpdate (maxSurge /
//! maxUnavailable) and Recreate rollouts; revisions and `revisionHistoryLimit`; rollbacks
//! (`kubectl rollout undo` puts an old template back, which finds the old ReplicaSet again);
//! pause/resume; proportional scaling during a rollout; status with the Available and
//! Progressing conditions and `progressDeadlineSeconds`, as `kubectl rollout status` reads them.
//!
//! [`plan::plan_rollout`] decides (pure, tested with tables); [`reconcile`] claims the
//! ReplicaSets, calls it and applies the steps.

mod go_quantity;
pub mod hash;
pub mod plan;
mod spew;

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::Client;
use serde_json::json;

use crate::error::{is_not_found, Error, Result};
use crate::events::{Recorder, NORMAL, WARNING};
use crate::informer::Change;
use crate::replicaset::{adopt, claim, release};
use crate::runner::{obj_ref, RESYNC_PERIOD};
use crate::util::{
    controller_of, is_deleting, key_of, name_of, namespace_of, selects, uid_of, workload_selector,
};
use plan::{new_condition, plan_rollout, set_condition, Step, REASON_FAILED_RS_CREATE};

/// Shared state of the Deployment controller.
pub struct DeploymentController {
    pub client: Client,
    pub recorder: Recorder,
    pub deployments: Store<Deployment>,
    pub replicasets: Store<ReplicaSet>,
    pub pods: Store<Pod>,
}

impl DeploymentController {
    /// Deployments to sync after a Deployment change.
    pub fn on_deployment_change(&self, change: Change<Deployment>) -> Vec<ObjectRef<Deployment>> {
        match change {
            Change::Deleted(_) => Vec::new(),
            Change::Applied { new, .. } => {
                vec![obj_ref(
                    name_of(&new.metadata),
                    new.metadata.namespace.as_deref(),
                )]
            }
        }
    }

    /// Deployments to sync after a ReplicaSet change: its controller, or for an orphan every
    /// Deployment that could adopt it.
    pub fn on_replicaset_change(&self, change: Change<ReplicaSet>) -> Vec<ObjectRef<Deployment>> {
        let mut keys = Vec::new();
        for rs in change.states() {
            let ns = namespace_of(&rs.metadata);
            match controller_of(&rs.metadata) {
                Some(r) if r.kind == "Deployment" => keys.push(obj_ref(&r.name, Some(ns))),
                Some(_) => {}
                None => {
                    for d in self.deployments.state() {
                        if namespace_of(&d.metadata) != ns {
                            continue;
                        }
                        let selector = workload_selector(d.spec.as_ref().map(|s| &s.selector))
                            .ok()
                            .flatten();
                        if selects(selector.as_ref(), &rs.metadata) {
                            keys.push(obj_ref(name_of(&d.metadata), Some(ns)));
                        }
                    }
                }
            }
        }
        keys.sort_by(|a, b| a.name.cmp(&b.name));
        keys.dedup();
        keys
    }

    /// Recreate Deployments wait for their old pods to be gone: pod changes wake them.
    pub fn on_pod_change(&self, change: Change<Pod>) -> Vec<ObjectRef<Deployment>> {
        let pod = change.object();
        let ns = namespace_of(&pod.metadata);
        let Some(rs_ref) = controller_of(&pod.metadata).filter(|r| r.kind == "ReplicaSet") else {
            return Vec::new();
        };
        let Some(rs) = self
            .replicasets
            .get(&obj_ref::<ReplicaSet>(&rs_ref.name, Some(ns)))
        else {
            return Vec::new();
        };
        let Some(d_ref) = controller_of(&rs.metadata).filter(|r| r.kind == "Deployment") else {
            return Vec::new();
        };
        let key = obj_ref::<Deployment>(&d_ref.name, Some(ns));
        let recreate = self.deployments.get(&key).is_some_and(|d| {
            d.spec
                .as_ref()
                .and_then(|s| s.strategy.as_ref())
                .and_then(|s| s.type_.as_deref())
                == Some("Recreate")
        });
        if recreate {
            vec![key]
        } else {
            Vec::new()
        }
    }
}

/// One sync of one Deployment (upstream `syncDeployment`).
pub async fn reconcile(d: Arc<Deployment>, ctx: Arc<DeploymentController>) -> Result<Action> {
    let key = key_of(&d.metadata);
    let ns = namespace_of(&d.metadata).to_string();
    let selector = workload_selector(d.spec.as_ref().map(|s| &s.selector)).map_err(|source| {
        Error::Selector {
            key: key.clone(),
            source,
        }
    })?;
    let namespace_rs: Vec<Arc<ReplicaSet>> = ctx
        .replicasets
        .state()
        .into_iter()
        .filter(|rs| namespace_of(&rs.metadata) == ns)
        .collect();
    let candidates: Vec<&ReplicaSet> = namespace_rs.iter().map(|rs| &**rs).collect();
    let (owned, adopt_list, release_list) = claim(
        uid_of(&d.metadata),
        is_deleting(&d.metadata),
        selector.as_ref(),
        &candidates,
        |rs| &rs.metadata,
    );
    let rs_api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &ns);
    let mut owned: Vec<ReplicaSet> = owned.into_iter().map(|rs| (*rs).clone()).collect();
    if !adopt_list.is_empty() && can_adopt(&ctx.client, &d).await? {
        for rs in adopt_list {
            if adopt(&rs_api, &*d, *rs).await? {
                let mut rs = (*rs).clone();
                rs.metadata
                    .owner_references
                    .get_or_insert_with(Vec::new)
                    .push(crate::util::controller_ref(&*d));
                owned.push(rs);
            }
        }
    }
    for rs in release_list {
        release(&rs_api, uid_of(&d.metadata), *rs).await?;
    }
    let owned_uids: Vec<&str> = owned.iter().map(|rs| uid_of(&rs.metadata)).collect();
    let all_pods = ctx.pods.state();
    let pods: Vec<&Pod> = all_pods
        .iter()
        .map(|p| &**p)
        .filter(|p| namespace_of(&p.metadata) == ns)
        .filter(|p| {
            controller_of(&p.metadata).is_some_and(|r| owned_uids.contains(&r.uid.as_str()))
        })
        .collect();
    let plan = plan_rollout(&d, &owned, &pods, &candidates, crate::util::now());
    apply(&ctx, &d, &rs_api, plan.steps).await?;
    if let Some(reason) = plan.retry {
        return Err(Error::Invalid {
            key,
            message: reason,
        });
    }
    Ok(Action::requeue(
        plan.requeue_after
            .unwrap_or(RESYNC_PERIOD)
            .min(RESYNC_PERIOD),
    ))
}

/// Upstream `RecheckDeletionTimestamp` for Deployments.
async fn can_adopt(client: &Client, d: &Deployment) -> Result<bool> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), namespace_of(&d.metadata));
    match api.get_opt(name_of(&d.metadata)).await {
        Ok(Some(live)) => {
            Ok(uid_of(&live.metadata) == uid_of(&d.metadata) && !is_deleting(&live.metadata))
        }
        Ok(None) => Ok(false),
        Err(e) => Err(Error::api("get deployment", key_of(&d.metadata), e)),
    }
}

/// Applies the steps in order; the first failure stops the sync (it is retried).
async fn apply(
    ctx: &DeploymentController,
    d: &Deployment,
    rs_api: &Api<ReplicaSet>,
    steps: Vec<Step>,
) -> Result<()> {
    let key = key_of(&d.metadata);
    let d_api: Api<Deployment> = Api::namespaced(ctx.client.clone(), namespace_of(&d.metadata));
    // The resourceVersion each ReplicaSet had after our last write to it in this sync.
    let mut versions: HashMap<String, String> = HashMap::new();
    // The size each ReplicaSet had before this sync (for the scaling events).
    let mut sizes: HashMap<String, i32> = ctx
        .replicasets
        .state()
        .iter()
        .filter(|rs| namespace_of(&rs.metadata) == namespace_of(&d.metadata))
        .map(|rs| {
            (
                name_of(&rs.metadata).to_string(),
                rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0),
            )
        })
        .collect();
    for step in steps {
        match step {
            Step::CreateReplicaSet(rs) => {
                let name = name_of(&rs.metadata).to_string();
                let replicas = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
                match rs_api.create(&PostParams::default(), &rs).await {
                    Ok(created) => {
                        tracing::info!(replicaset = %name, replicas, "created new replica set");
                        if replicas > 0 {
                            ctx.recorder.record(
                                d,
                                NORMAL,
                                "ScalingReplicaSet",
                                format!("Scaled up replica set {name} from 0 to {replicas}"),
                            );
                        }
                        sizes.insert(name.clone(), replicas);
                        if let Some(rv) = created.metadata.resource_version {
                            versions.insert(name, rv);
                        }
                    }
                    Err(e) => {
                        let already = crate::error::is_conflict(&e);
                        let terminating = matches!(&e, kube::Error::Api(s) if s.code == 403);
                        if !already && !terminating {
                            ctx.recorder.record(
                                d,
                                WARNING,
                                plan::REASON_FAILED_RS_CREATE,
                                format!("Failed to create new replica set {name:?}: {e}"),
                            );
                            report_create_failure(&d_api, d, &name, &e).await;
                        }
                        return Err(Error::api("create replicaset for deployment", key, e));
                    }
                }
            }
            Step::UpdateReplicaSet(mut rs) => {
                let name = name_of(&rs.metadata).to_string();
                if let Some(rv) = versions.get(&name) {
                    rs.metadata.resource_version = Some(rv.clone());
                }
                let replicas = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
                let before = sizes.get(&name).copied();
                let updated = rs_api
                    .replace(&name, &PostParams::default(), &rs)
                    .await
                    .map_err(|e| {
                        Error::api(
                            "update replicaset",
                            format!("{}/{name}", namespace_of(&d.metadata)),
                            e,
                        )
                    })?;
                tracing::info!(replicaset = %name, replicas, "updated replica set");
                if let Some(before) = before.filter(|b| *b != replicas) {
                    let direction = if replicas > before { "up" } else { "down" };
                    ctx.recorder.record(
                        d,
                        NORMAL,
                        "ScalingReplicaSet",
                        format!(
                            "Scaled {direction} replica set {name} from {before} to {replicas}"
                        ),
                    );
                }
                sizes.insert(name.clone(), replicas);
                if let Some(rv) = updated.metadata.resource_version {
                    versions.insert(name, rv);
                }
            }
            Step::DeleteReplicaSet { name, uid } => {
                let params = DeleteParams {
                    preconditions: Some(Preconditions {
                        uid: Some(uid),
                        resource_version: None,
                    }),
                    ..Default::default()
                };
                match rs_api.delete(&name, &params).await {
                    Ok(_) => {
                        tracing::info!(replicaset = %name, "deleted old replica set beyond revisionHistoryLimit")
                    }
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => return Err(Error::api("delete replicaset", name, e)),
                }
            }
            Step::UpdateStatus(status) => {
                let mut updated = d.clone();
                updated.status = Some(status);
                d_api
                    .replace_status(name_of(&d.metadata), &PostParams::default(), &updated)
                    .await
                    .map_err(|e| Error::api("update status of deployment", key.clone(), e))?;
            }
            Step::SetRevision(revision) => {
                let patch =
                    json!({"metadata": {"annotations": {plan::REVISION_ANNOTATION: revision}}});
                d_api
                    .patch(
                        name_of(&d.metadata),
                        &PatchParams::default(),
                        &Patch::Merge(patch),
                    )
                    .await
                    .map_err(|e| Error::api("set revision of deployment", key.clone(), e))?;
            }
        }
    }
    Ok(())
}

/// A failed ReplicaSet creation shows in the Progressing condition (upstream does the same
/// when the Deployment has a progress deadline).
async fn report_create_failure(
    api: &Api<Deployment>,
    d: &Deployment,
    name: &str,
    error: &kube::Error,
) {
    let has_deadline = d
        .spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
        .is_some_and(|p| p != i32::MAX);
    if !has_deadline {
        return;
    }
    let mut updated = d.clone();
    let status = updated.status.get_or_insert_with(Default::default);
    let message = format!("Failed to create new replica set {name:?}: {error}");
    set_condition(
        status,
        new_condition(
            "Progressing",
            "False",
            REASON_FAILED_RS_CREATE,
            message,
            crate::util::now(),
        ),
    );
    if let Err(e) = api
        .replace_status(name_of(&d.metadata), &PostParams::default(), &updated)
        .await
    {
        tracing::debug!(error = %e, "could not report the failed replica set creation");
    }
}
