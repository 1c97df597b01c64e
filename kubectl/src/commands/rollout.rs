//! `kubectl rollout status|history|undo|restart|pause|resume` for deployments, with upstream's
//! messages. The decisions are pure functions ([`deployment_status`], [`select_revision`],
//! [`rollback_patch`], [`history_table`]); the commands read and write through the API.

use super::apply::finish;
use crate::cli::GlobalFlags;
use crate::error::CliError;
use crate::printers::tabwriter::TabWriter;
use crate::remote::{Endpoint, PatchType};
use crate::session::Session;
use crate::targets::{self, Selection, Target};
use futures::TryStreamExt;
use kube::core::WatchEvent;
use serde_json::{json, Map, Value};
use std::time::{Duration, Instant};

/// The annotations of a ReplicaSet that stay out of a rollback (upstream's `annotationsToSkip`).
const ANNOTATIONS_TO_SKIP: [&str; 6] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
];

const REVISION: &str = "deployment.kubernetes.io/revision";
const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";
const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";
const POD_TEMPLATE_HASH: &str = "pod-template-hash";

/// Subcommands of `kubectl rollout`.
#[derive(Debug, clap::Subcommand)]
pub enum RolloutCommand {
    /// Show the status of the rollout.
    Status(StatusArgs),
    /// View rollout history.
    History(ObjectArgs),
    /// Undo a previous rollout.
    Undo(UndoArgs),
    /// Restart a resource: its pods are replaced by a rollout.
    Restart(ObjectArgs),
    /// Mark the provided resource as paused.
    Pause(ObjectArgs),
    /// Resume a paused resource.
    Resume(ObjectArgs),
}

/// The objects a rollout subcommand acts on.
#[derive(Debug, Clone, clap::Args)]
pub struct ObjectArgs {
    /// `TYPE NAME...` or `TYPE/NAME...`.
    pub args: Vec<String>,
    /// Selector (label query) to filter on.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Files with the resources.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub filenames: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub objects: ObjectArgs,
    /// Watch the status of the rollout until it's done.
    #[arg(short = 'w', long, default_value_t = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub watch: bool,
    /// The length of time to wait before ending watch (e.g. 30s); 0 waits forever.
    #[arg(long, default_value = "0s")]
    pub timeout: String,
}

#[derive(Debug, clap::Args)]
pub struct UndoArgs {
    #[command(flatten)]
    pub objects: ObjectArgs,
    /// The revision to roll back to; 0 means the previous one.
    #[arg(long, default_value_t = 0)]
    pub to_revision: i64,
}

/// Upstream's deployment status viewer: the line to print, and whether the rollout is done;
/// an error when the progress deadline was exceeded.
pub fn deployment_status(deployment: &Value) -> Result<(String, bool), CliError> {
    let int = |pointer: &str| deployment.pointer(pointer).and_then(Value::as_i64);
    let name = deployment
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let generation = int("/metadata/generation").unwrap_or(0);
    let observed = int("/status/observedGeneration").unwrap_or(0);
    if generation > observed {
        return Ok((
            "Waiting for deployment spec update to be observed...".into(),
            false,
        ));
    }
    let timed_out = deployment
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| {
            c.get("type").and_then(Value::as_str) == Some("Progressing")
                && c.get("reason").and_then(Value::as_str) == Some("ProgressDeadlineExceeded")
        });
    if timed_out {
        return Err(CliError::usage(format!(
            "deployment {name:?} exceeded its progress deadline"
        )));
    }
    let updated = int("/status/updatedReplicas").unwrap_or(0);
    let replicas = int("/status/replicas").unwrap_or(0);
    let available = int("/status/availableReplicas").unwrap_or(0);
    if let Some(desired) = int("/spec/replicas") {
        if updated < desired {
            return Ok((
                format!("Waiting for deployment {name:?} rollout to finish: {updated} out of {desired} new replicas have been updated..."),
                false,
            ));
        }
    }
    if replicas > updated {
        return Ok((
            format!(
                "Waiting for deployment {name:?} rollout to finish: {} old replicas are pending termination...",
                replicas - updated
            ),
            false,
        ));
    }
    if available < updated {
        return Ok((
            format!("Waiting for deployment {name:?} rollout to finish: {available} of {updated} updated replicas are available..."),
            false,
        ));
    }
    Ok((format!("deployment {name:?} successfully rolled out"), true))
}

/// The revision of a ReplicaSet, from its annotation.
pub fn revision_of(rs: &Value) -> Option<i64> {
    rs.pointer("/metadata/annotations")
        .and_then(|a| a.get(REVISION))
        .and_then(Value::as_str)
        .and_then(|r| r.parse().ok())
}

/// The ReplicaSet to roll back to: revision `to_revision`, or with 0 the second newest, as
/// upstream's `deploymentRevision`.
pub fn select_revision<'a>(
    deployment_name: &str,
    replicasets: &'a [Value],
    to_revision: i64,
) -> Result<&'a Value, CliError> {
    let mut with_revision: Vec<(i64, &Value)> = replicasets
        .iter()
        .filter_map(|rs| revision_of(rs).map(|r| (r, rs)))
        .collect();
    if to_revision > 0 {
        return with_revision
            .into_iter()
            .find(|(r, _)| *r == to_revision)
            .map(|(_, rs)| rs)
            .ok_or_else(|| {
                CliError::usage(format!(
                    "unable to find specified revision {to_revision} in history"
                ))
            });
    }
    with_revision.sort_by_key(|(r, _)| std::cmp::Reverse(*r));
    with_revision.get(1).map(|(_, rs)| *rs).ok_or_else(|| {
        CliError::usage(format!(
            "no rollout history found for deployment {deployment_name:?}"
        ))
    })
}

/// A pod template without the `pod-template-hash` label the ReplicaSet controller adds.
fn template_without_hash(template: &Value) -> Value {
    let mut template = template.clone();
    if let Some(labels) = template
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(POD_TEMPLATE_HASH);
    }
    template
}

/// What `rollout undo` does with the chosen ReplicaSet: `None` when the deployment's template
/// already matches it, else the JSON patch replacing the template and the annotations.
pub fn rollback_patch(deployment: &Value, rs: &Value) -> Option<Value> {
    let template = template_without_hash(rs.pointer("/spec/template").unwrap_or(&Value::Null));
    let current =
        template_without_hash(deployment.pointer("/spec/template").unwrap_or(&Value::Null));
    if template == current {
        return None;
    }
    let empty = Map::new();
    let deployment_annotations = deployment
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let rs_annotations = rs
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut annotations = Map::new();
    for key in ANNOTATIONS_TO_SKIP {
        if let Some(v) = deployment_annotations.get(key) {
            annotations.insert(key.to_owned(), v.clone());
        }
    }
    for (k, v) in rs_annotations {
        if !ANNOTATIONS_TO_SKIP.contains(&k.as_str()) {
            annotations.insert(k.clone(), v.clone());
        }
    }
    Some(json!([
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
    ]))
}

/// `rollout history`'s table: `REVISION  CHANGE-CAUSE`, oldest first.
pub fn history_table(replicasets: &[Value]) -> String {
    let mut rows: Vec<(i64, String)> = replicasets
        .iter()
        .filter_map(|rs| {
            let revision = revision_of(rs)?;
            let cause = rs
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(CHANGE_CAUSE))
                .and_then(Value::as_str)
                .filter(|c| !c.is_empty())
                .unwrap_or("<none>")
                .to_owned();
            Some((revision, cause))
        })
        .collect();
    rows.sort_by_key(|(r, _)| *r);
    rows.dedup_by_key(|(r, _)| *r);
    let mut text = String::from("REVISION\tCHANGE-CAUSE\n");
    for (revision, cause) in rows {
        text.push_str(&format!("{revision}\t{cause}\n"));
    }
    TabWriter::for_describe().format(&text)
}

/// Go's `time.Now().Format(time.RFC3339)`: local time, `Z` for UTC.
fn now_rfc3339() -> String {
    let now = jiff::Zoned::now();
    let text = now.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string();
    match text.strip_suffix("+00:00") {
        Some(utc) => format!("{utc}Z"),
        None => text,
    }
}

pub async fn run(flags: &GlobalFlags, command: RolloutCommand) -> Result<(), CliError> {
    let objects = match &command {
        RolloutCommand::Status(a) => a.objects.clone(),
        RolloutCommand::Undo(a) => a.objects.clone(),
        RolloutCommand::History(a)
        | RolloutCommand::Restart(a)
        | RolloutCommand::Pause(a)
        | RolloutCommand::Resume(a) => a.clone(),
    };
    let (session, catalog) = targets::connect(flags).await?;
    let selection = Selection {
        args: objects.args,
        filenames: objects.filenames,
        recursive: false,
        selector: objects.selector,
        all: false,
    };
    let resolved = targets::resolve(&session, &catalog, &selection).await?;
    let mut errors = resolved.errors;
    for target in &resolved.targets {
        if !(target.rtype.group == "apps" && target.rtype.kind == "Deployment") {
            errors.push(CliError::usage(format!(
                "no rollout support has been implemented for {}",
                target.rtype.kind
            )));
            continue;
        }
        let outcome = match &command {
            RolloutCommand::Status(args) => status(&session, target, args).await,
            RolloutCommand::History(_) => history(&session, target).await,
            RolloutCommand::Undo(args) => undo(&session, target, args.to_revision).await,
            RolloutCommand::Restart(_) => restart(&session, target).await,
            RolloutCommand::Pause(_) => set_paused(&session, target, true).await,
            RolloutCommand::Resume(_) => set_paused(&session, target, false).await,
        };
        if let Err(e) = outcome {
            errors.push(e);
        }
    }
    finish(errors)
}

fn is_paused(deployment: &Value) -> bool {
    deployment
        .pointer("/spec/paused")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

fn quoted_name(target: &Target) -> String {
    format!("{} {:?}", target.rtype.qualified_plural(), target.name)
}

async fn set_paused(session: &Session, target: &Target, pause: bool) -> Result<(), CliError> {
    let endpoint = target.endpoint(session);
    let deployment = endpoint.get(&target.name).await?;
    if is_paused(&deployment) == pause {
        let state = if pause {
            "already paused"
        } else {
            "not paused"
        };
        return Err(CliError::usage(format!(
            "{} is {state}",
            quoted_name(target)
        )));
    }
    let patch = json!({"spec": {"paused": pause}});
    endpoint
        .patch(
            &target.name,
            None,
            PatchType::Strategic,
            &patch,
            &[("fieldManager", "kubectl-rollout")],
        )
        .await?;
    println!(
        "{} {}",
        target.display(),
        if pause { "paused" } else { "resumed" }
    );
    Ok(())
}

async fn restart(session: &Session, target: &Target) -> Result<(), CliError> {
    let endpoint = target.endpoint(session);
    let deployment = endpoint.get(&target.name).await?;
    if is_paused(&deployment) {
        return Err(CliError::usage(format!(
            "{} can't restart paused deployment (run rollout resume first)",
            quoted_name(target)
        )));
    }
    let patch =
        json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now_rfc3339()}}}}});
    endpoint
        .patch(
            &target.name,
            None,
            PatchType::Strategic,
            &patch,
            &[("fieldManager", "kubectl-rollout")],
        )
        .await?;
    println!("{} restarted", target.display());
    Ok(())
}

/// The ReplicaSets a deployment controls.
async fn replicasets_of(
    session: &Session,
    target: &Target,
    deployment: &Value,
) -> Result<Vec<Value>, CliError> {
    let catalog_type = crate::resources::ResourceType {
        group: "apps".into(),
        version: target.rtype.version.clone(),
        kind: "ReplicaSet".into(),
        plural: "replicasets".into(),
        singular: "replicaset".into(),
        namespaced: true,
        short_names: Vec::new(),
        categories: Vec::new(),
        verbs: Vec::new(),
    };
    let uid = deployment.pointer("/metadata/uid").and_then(Value::as_str);
    let endpoint = Endpoint::new(&session.client, &catalog_type, &target.namespace);
    Ok(endpoint
        .list(None)
        .await?
        .into_iter()
        .filter(|rs| {
            rs.pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|o| {
                    o.get("controller").and_then(Value::as_bool) == Some(true)
                        && o.get("uid").and_then(Value::as_str) == uid
                })
        })
        .collect())
}

async fn history(session: &Session, target: &Target) -> Result<(), CliError> {
    let deployment = target.endpoint(session).get(&target.name).await?;
    let replicasets = replicasets_of(session, target, &deployment).await?;
    println!("{} \n{}", target.display(), history_table(&replicasets));
    Ok(())
}

async fn undo(session: &Session, target: &Target, to_revision: i64) -> Result<(), CliError> {
    let endpoint = target.endpoint(session);
    let deployment = endpoint.get(&target.name).await?;
    if is_paused(&deployment) {
        return Err(CliError::usage(
            "you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume' and try again",
        ));
    }
    let replicasets = replicasets_of(session, target, &deployment).await?;
    let rs = select_revision(&target.name, &replicasets, to_revision)?;
    match rollback_patch(&deployment, rs) {
        None => println!(
            "{} skipped rollback (current template already matches revision {to_revision})",
            target.display()
        ),
        Some(patch) => {
            endpoint
                .patch(&target.name, None, PatchType::Json, &patch, &[])
                .await?;
            println!("{} rolled back", target.display());
        }
    }
    Ok(())
}

async fn status(session: &Session, target: &Target, args: &StatusArgs) -> Result<(), CliError> {
    let timeout = match super::delete::parse_duration(&args.timeout)? {
        Duration::ZERO => None,
        t => Some(t),
    };
    let deadline = timeout.map(|t| Instant::now() + t);
    let endpoint = target.endpoint(session);
    let timed_out = || CliError::usage("timed out waiting for the condition");
    let mut deployment = endpoint.get(&target.name).await?;
    loop {
        let (message, done) = deployment_status(&deployment)?;
        println!("{message}");
        if done || !args.watch {
            return Ok(());
        }
        let version = deployment
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let mut stream = Box::pin(endpoint.watch_one(&target.name, &version).await?);
        loop {
            let next = match deadline {
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    match tokio::time::timeout(left, stream.try_next()).await {
                        Ok(next) => next,
                        Err(_) => return Err(timed_out()),
                    }
                }
                None => stream.try_next().await,
            };
            match next.map_err(crate::remote::api_error)? {
                // The server ended the watch (its timeout, or 410 Gone below): read the object
                // again and watch on from there.
                None => break,
                Some(WatchEvent::Added(object) | WatchEvent::Modified(object)) => {
                    let (message, done) = deployment_status(&object)?;
                    println!("{message}");
                    if done {
                        return Ok(());
                    }
                }
                Some(WatchEvent::Deleted(_)) => {
                    return Err(CliError::usage(format!(
                        "object has been deleted: {}",
                        quoted_name(target)
                    )))
                }
                Some(WatchEvent::Bookmark(_)) => {}
                Some(WatchEvent::Error(status)) if status.code == 410 => break,
                Some(WatchEvent::Error(status)) => return Err(status.into()),
            }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(timed_out());
        }
        deployment = endpoint.get(&target.name).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(generation: i64, observed: i64, spec: i64, status: Value) -> Value {
        json!({"metadata": {"name": "web", "generation": generation},
               "spec": {"replicas": spec},
               "status": {"observedGeneration": observed}})
        .as_object()
        .map(|m| {
            let mut m = m.clone();
            let mut s = m["status"].as_object().unwrap().clone();
            s.extend(status.as_object().unwrap().clone());
            m.insert("status".into(), Value::Object(s));
            Value::Object(m)
        })
        .unwrap()
    }

    #[test]
    fn status_messages_follow_upstream() {
        let cases = [
            (deployment(2, 1, 3, json!({})), "Waiting for deployment spec update to be observed...", false),
            (deployment(1, 1, 3, json!({"updatedReplicas": 1, "replicas": 3})), "Waiting for deployment \"web\" rollout to finish: 1 out of 3 new replicas have been updated...", false),
            (deployment(1, 1, 3, json!({"updatedReplicas": 3, "replicas": 4})), "Waiting for deployment \"web\" rollout to finish: 1 old replicas are pending termination...", false),
            (deployment(1, 1, 3, json!({"updatedReplicas": 3, "replicas": 3, "availableReplicas": 1})), "Waiting for deployment \"web\" rollout to finish: 1 of 3 updated replicas are available...", false),
            (deployment(1, 1, 3, json!({"updatedReplicas": 3, "replicas": 3, "availableReplicas": 3})), "deployment \"web\" successfully rolled out", true),
        ];
        for (object, message, done) in cases {
            assert_eq!(
                deployment_status(&object).unwrap(),
                (message.to_owned(), done)
            );
        }
        let stuck = deployment(
            1,
            1,
            3,
            json!({"conditions": [
            {"type": "Available", "status": "False"},
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]}),
        );
        assert_eq!(
            deployment_status(&stuck).unwrap_err().to_string(),
            "error: deployment \"web\" exceeded its progress deadline"
        );
    }

    fn rs(revision: &str, image: &str, cause: Option<&str>) -> Value {
        let mut annotations =
            json!({REVISION: revision, "deployment.kubernetes.io/desired-replicas": "3"});
        if let Some(cause) = cause {
            annotations[CHANGE_CAUSE] = json!(cause);
        }
        json!({"metadata": {"name": format!("web-{revision}"), "annotations": annotations},
               "spec": {"template": {"metadata": {"labels": {"app": "web", POD_TEMPLATE_HASH: format!("h{revision}")}},
                                     "spec": {"containers": [{"name": "main", "image": image}]}}}})
    }

    #[test]
    fn revisions_are_selected_like_upstream() {
        let all = [rs("1", "a", None), rs("3", "c", None), rs("2", "b", None)];
        let name = |v: &Value| v["metadata"]["name"].as_str().unwrap().to_owned();
        assert_eq!(name(select_revision("web", &all, 0).unwrap()), "web-2");
        assert_eq!(name(select_revision("web", &all, 1).unwrap()), "web-1");
        assert_eq!(
            select_revision("web", &all, 7).unwrap_err().to_string(),
            "error: unable to find specified revision 7 in history"
        );
        assert_eq!(
            select_revision("web", &all[..1], 0)
                .unwrap_err()
                .to_string(),
            "error: no rollout history found for deployment \"web\""
        );
    }

    #[test]
    fn rollbacks_copy_the_template_and_annotations() {
        let deploy = json!({"metadata": {"name": "web", "annotations": {
                "deployment.kubernetes.io/revision": "3", "kubectl.kubernetes.io/last-applied-configuration": "{}", "note": "x"}},
            "spec": {"template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "main", "image": "c"}]}}}});
        let patch = rollback_patch(&deploy, &rs("1", "a", Some("first"))).unwrap();
        assert_eq!(
            patch,
            json!([
                {"op": "replace", "path": "/spec/template", "value": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "main", "image": "a"}]}}},
                {"op": "replace", "path": "/metadata/annotations", "value": {
                    "deployment.kubernetes.io/revision": "3",
                    "kubectl.kubernetes.io/last-applied-configuration": "{}",
                    CHANGE_CAUSE: "first"}},
            ])
        );
        assert!(rollback_patch(&deploy, &rs("3", "c", None)).is_none());
    }

    #[test]
    fn history_lists_revisions_and_causes() {
        let all = [rs("2", "b", Some("set image b")), rs("1", "a", None)];
        assert_eq!(
            history_table(&all),
            "REVISION  CHANGE-CAUSE\n1         <none>\n2         set image b\n"
        );
    }
}
