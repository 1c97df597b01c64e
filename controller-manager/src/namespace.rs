//! The namespace controller (upstream `pkg/controller/namespace`): a namespace being deleted
//! (phase Terminating) is emptied — every namespaced resource the apiserver serves is deleted
//! (collection deletes, background propagation) — and once nothing is left its `kubernetes`
//! finalizer is cleared through `PUT namespaces/<name>/finalize`, which lets the apiserver
//! delete it. Meanwhile the `NamespaceContentRemaining` and `NamespaceFinalizersRemaining`
//! conditions say what it waits for (pods finishing their grace period, objects held by
//! finalizers).
//!
//! [`plan_namespace`] decides from what is left (pure); [`reconcile`] deletes, counts and
//! finalizes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, NamespaceCondition, NamespaceStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PostParams, PropagationPolicy};
use kube::discovery::verbs;
use kube::runtime::controller::Action;
use kube::Client;

use crate::discovery::{discover, namespaced_deletable, ServedResource};
use crate::error::{is_not_found, Error, Result};
use crate::util::{is_deleting, name_of};

/// The finalizer the namespace controller owns in `spec.finalizers`.
pub const KUBERNETES_FINALIZER: &str = "kubernetes";

/// How long discovery results are reused.
const DISCOVERY_TTL: Duration = Duration::from_secs(30);

/// What is left in a namespace, per resource (`plural.group`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Remaining {
    /// Resource -> number of objects left.
    pub counts: BTreeMap<String, usize>,
    /// Finalizer -> number of objects holding it.
    pub finalizers: BTreeMap<String, usize>,
}

/// What to do with a terminating namespace.
#[derive(Debug, PartialEq)]
pub struct NamespacePlan {
    /// Clear the `kubernetes` finalizer now.
    pub finalize: bool,
    /// The deletion conditions to report.
    pub conditions: Vec<NamespaceCondition>,
    /// Look again after this long.
    pub requeue_after: Option<Duration>,
}

fn condition(
    type_: &str,
    remaining: bool,
    reason_true: &str,
    message: String,
    now: jiff::Timestamp,
) -> NamespaceCondition {
    NamespaceCondition {
        type_: type_.into(),
        status: if remaining { "True" } else { "False" }.into(),
        reason: Some(
            if remaining {
                reason_true
            } else {
                "ContentRemoved"
            }
            .into(),
        ),
        message: Some(if remaining {
            message
        } else if type_ == "NamespaceContentRemaining" {
            "All content successfully removed".into()
        } else {
            "All content-preserving finalizers finished".into()
        }),
        last_transition_time: Some(Time(now)),
    }
}

/// Decides from what is left after a round of deletions.
pub fn plan_namespace(
    namespace: &Namespace,
    remaining: &Remaining,
    now: jiff::Timestamp,
) -> NamespacePlan {
    let waiting = namespace
        .spec
        .as_ref()
        .and_then(|s| s.finalizers.as_ref())
        .is_some_and(|f| f.iter().any(|f| f == KUBERNETES_FINALIZER));
    if !is_deleting(&namespace.metadata) || !waiting {
        return NamespacePlan {
            finalize: false,
            conditions: Vec::new(),
            requeue_after: None,
        };
    }
    let content: Vec<String> = remaining
        .counts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(r, n)| format!("{r} has {n} resource instances"))
        .collect();
    let finalizers: Vec<String> = remaining
        .finalizers
        .iter()
        .map(|(f, n)| format!("{f} in {n} resource instances"))
        .collect();
    let conditions = vec![
        condition(
            "NamespaceContentRemaining",
            !content.is_empty(),
            "SomeResourcesRemain",
            format!("Some resources are remaining: {}", content.join(", ")),
            now,
        ),
        condition(
            "NamespaceFinalizersRemaining",
            !finalizers.is_empty(),
            "SomeFinalizersRemain",
            format!(
                "Some content in the namespace has finalizers remaining: {}",
                finalizers.join(", ")
            ),
            now,
        ),
    ];
    let empty = content.is_empty();
    NamespacePlan {
        finalize: empty,
        conditions,
        requeue_after: (!empty).then_some(Duration::from_secs(2)),
    }
}

/// Whether two condition lists say the same (times aside).
fn same_conditions(a: &[NamespaceCondition], b: &[NamespaceCondition]) -> bool {
    let strip = |c: &[NamespaceCondition]| {
        let mut v: Vec<(String, String, Option<String>, Option<String>)> = c
            .iter()
            .map(|c| {
                (
                    c.type_.clone(),
                    c.status.clone(),
                    c.reason.clone(),
                    c.message.clone(),
                )
            })
            .collect();
        v.sort();
        v
    };
    strip(a) == strip(b)
}

/// Shared state of the namespace controller.
pub struct NamespaceController {
    pub client: Client,
    resources: Mutex<Option<(Instant, Arc<Vec<ServedResource>>)>>,
}

impl NamespaceController {
    pub fn new(client: Client) -> Self {
        NamespaceController {
            client,
            resources: Mutex::new(None),
        }
    }

    async fn resources(&self) -> Result<Arc<Vec<ServedResource>>> {
        if let Some((at, resources)) = self
            .resources
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            if at.elapsed() < DISCOVERY_TTL {
                return Ok(resources.clone());
            }
        }
        let resources = Arc::new(namespaced_deletable(&discover(&self.client).await?));
        *self.resources.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((Instant::now(), resources.clone()));
        Ok(resources)
    }

    /// Deletes everything of `resource` in `ns` and says what is left.
    async fn delete_all(
        &self,
        ns: &str,
        resource: &ServedResource,
        remaining: &mut Remaining,
    ) -> Result<()> {
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), ns, &resource.resource);
        let what = format!("{} in namespace {ns}", resource.qualified());
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..Default::default()
        };
        if resource.supports(verbs::DELETE_COLLECTION) {
            match api.delete_collection(&params, &ListParams::default()).await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(Error::api("delete collection of", what, e)),
            }
        } else {
            let list = api
                .list(&ListParams::default())
                .await
                .map_err(|e| Error::api("list", what.clone(), e))?;
            for obj in list
                .items
                .iter()
                .filter(|o| o.metadata.deletion_timestamp.is_none())
            {
                let name = obj.metadata.name.clone().unwrap_or_default();
                match api.delete(&name, &params).await {
                    Ok(_) => {}
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => return Err(Error::api("delete", format!("{what}: {name}"), e)),
                }
            }
        }
        let left = api
            .list(&ListParams::default())
            .await
            .map_err(|e| Error::api("list", what, e))?;
        if !left.items.is_empty() {
            remaining
                .counts
                .insert(resource.qualified(), left.items.len());
            for obj in &left.items {
                for finalizer in obj.metadata.finalizers.iter().flatten() {
                    *remaining.finalizers.entry(finalizer.clone()).or_insert(0) += 1;
                }
            }
        }
        Ok(())
    }
}

/// One sync of one namespace (upstream `namespacedResourcesDeleter.Delete`).
pub async fn reconcile(namespace: Arc<Namespace>, ctx: Arc<NamespaceController>) -> Result<Action> {
    let finalizer_pending = namespace
        .spec
        .as_ref()
        .and_then(|s| s.finalizers.as_ref())
        .is_some_and(|f| f.iter().any(|f| f == KUBERNETES_FINALIZER));
    if !is_deleting(&namespace.metadata) || !finalizer_pending {
        return Ok(Action::await_change());
    }
    let name = name_of(&namespace.metadata).to_string();
    let resources = ctx.resources().await?;
    let mut remaining = Remaining::default();
    for resource in resources.iter() {
        ctx.delete_all(&name, resource, &mut remaining).await?;
    }
    let plan = plan_namespace(&namespace, &remaining, crate::util::now());
    let api: Api<Namespace> = Api::all(ctx.client.clone());
    if plan.finalize {
        let mut finalized = (*namespace).clone();
        if let Some(spec) = finalized.spec.as_mut() {
            spec.finalizers = spec.finalizers.take().map(|f| {
                f.into_iter()
                    .filter(|f| f != KUBERNETES_FINALIZER)
                    .collect()
            });
        }
        match api
            .replace_subresource("finalize", &name, &PostParams::default(), &finalized)
            .await
        {
            Ok(_) => tracing::info!(namespace = %name, "namespace emptied and finalized"),
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(Error::api("finalize namespace", name, e)),
        }
        return Ok(Action::await_change());
    }
    let current = namespace
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    if !same_conditions(&current, &plan.conditions) {
        let mut updated = (*namespace).clone();
        let status = updated.status.get_or_insert_with(NamespaceStatus::default);
        status.phase = Some("Terminating".into());
        status.conditions = Some(plan.conditions.clone());
        if let Err(e) = api
            .replace_status(&name, &PostParams::default(), &updated)
            .await
        {
            tracing::debug!(namespace = %name, error = %e, "could not report deletion conditions");
        }
    }
    tracing::debug!(namespace = %name, ?remaining, "waiting for content to go");
    Ok(Action::requeue(
        plan.requeue_after.unwrap_or(Duration::from_secs(2)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::NamespaceSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn ns(deleting: bool, finalizers: &[&str]) -> Namespace {
        Namespace {
            metadata: ObjectMeta {
                name: Some("team".into()),
                deletion_timestamp: deleting.then_some(Time(jiff::Timestamp::UNIX_EPOCH)),
                ..Default::default()
            },
            spec: Some(NamespaceSpec {
                finalizers: Some(finalizers.iter().map(|f| f.to_string()).collect()),
            }),
            status: None,
        }
    }

    #[test]
    fn finalizes_only_empty_terminating_namespaces() {
        let now = jiff::Timestamp::UNIX_EPOCH;
        let empty = Remaining::default();
        let pods_left = Remaining {
            counts: BTreeMap::from([("pods".to_string(), 2)]),
            finalizers: BTreeMap::from([("example.com/hold".to_string(), 1)]),
        };
        // (namespace, remaining, finalize, requeue)
        let cases = [
            (ns(false, &["kubernetes"]), &empty, false, false),
            (ns(true, &[]), &empty, false, false),
            (ns(true, &["kubernetes"]), &empty, true, false),
            (ns(true, &["kubernetes"]), &pods_left, false, true),
        ];
        for (i, (namespace, remaining, finalize, requeue)) in cases.into_iter().enumerate() {
            let plan = plan_namespace(&namespace, remaining, now);
            assert_eq!(plan.finalize, finalize, "case {i}");
            assert_eq!(plan.requeue_after.is_some(), requeue, "case {i}");
        }
        let plan = plan_namespace(&ns(true, &["kubernetes"]), &pods_left, now);
        let content = &plan.conditions[0];
        assert_eq!(
            (
                content.type_.as_str(),
                content.status.as_str(),
                content.reason.as_deref()
            ),
            (
                "NamespaceContentRemaining",
                "True",
                Some("SomeResourcesRemain")
            )
        );
        assert_eq!(
            content.message.as_deref(),
            Some("Some resources are remaining: pods has 2 resource instances")
        );
        let finalizers = &plan.conditions[1];
        assert_eq!(
            finalizers.message.as_deref(),
            Some("Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances")
        );
        assert!(same_conditions(
            &plan.conditions,
            &plan_namespace(&ns(true, &["kubernetes"]), &pods_left, now).conditions
        ));
    }
}
