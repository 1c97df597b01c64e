use super::*;
use k8s_openapi::api::apps::v1::{
    DeploymentSpec, DeploymentStrategy, ReplicaSetStatus, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{Container, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

fn ts(s: i64) -> Timestamp {
    Timestamp::from_second(s).unwrap()
}

const NOW: i64 = 100_000;

fn template(image: &str) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(BTreeMap::from([("app".to_string(), "web".to_string())])),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "web".into(),
                image: Some(image.into()),
                ..Default::default()
            }],
            ..Default::default()
        }),
    }
}

/// A Deployment builder.
#[derive(Clone)]
struct D(Deployment);

impl D {
    fn new(replicas: i32, image: &str) -> D {
        D(Deployment {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("ns".into()),
                uid: Some("d-uid".into()),
                generation: Some(1),
                ..Default::default()
            },
            spec: Some(DeploymentSpec {
                replicas: Some(replicas),
                selector: LabelSelector {
                    match_labels: Some(BTreeMap::from([("app".to_string(), "web".to_string())])),
                    ..Default::default()
                },
                template: template(image),
                strategy: Some(DeploymentStrategy {
                    type_: Some("RollingUpdate".into()),
                    rolling_update: Some(RollingUpdateDeployment {
                        max_surge: Some(IntOrString::String("25%".into())),
                        max_unavailable: Some(IntOrString::String("25%".into())),
                    }),
                }),
                revision_history_limit: Some(10),
                progress_deadline_seconds: Some(600),
                ..Default::default()
            }),
            status: None,
        })
    }
    fn rolling(mut self, surge: IntOrString, unavailable: IntOrString) -> D {
        self.0.spec.as_mut().unwrap().strategy = Some(DeploymentStrategy {
            type_: Some("RollingUpdate".into()),
            rolling_update: Some(RollingUpdateDeployment {
                max_surge: Some(surge),
                max_unavailable: Some(unavailable),
            }),
        });
        self
    }
    fn recreate(mut self) -> D {
        self.0.spec.as_mut().unwrap().strategy = Some(DeploymentStrategy {
            type_: Some("Recreate".into()),
            rolling_update: None,
        });
        self
    }
    fn paused(mut self) -> D {
        self.0.spec.as_mut().unwrap().paused = Some(true);
        self
    }
    fn history(mut self, limit: i32) -> D {
        self.0.spec.as_mut().unwrap().revision_history_limit = Some(limit);
        self
    }
    fn status(mut self, status: DeploymentStatus) -> D {
        self.0.status = Some(status);
        self
    }
    fn deleting(mut self) -> D {
        self.0.metadata.deletion_timestamp = Some(Time(ts(1)));
        self
    }
}

/// A ReplicaSet of the Deployment: image, replicas, available, revision, created at.
fn rs(
    d: &D,
    image: &str,
    replicas: i32,
    available: i32,
    revision: i64,
    created: i64,
) -> ReplicaSet {
    let template = template(image);
    let hash = compute_hash(&template, None).unwrap();
    let mut template = template;
    template
        .metadata
        .as_mut()
        .unwrap()
        .labels
        .as_mut()
        .unwrap()
        .insert(POD_TEMPLATE_HASH_LABEL.into(), hash.clone());
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(format!("web-{hash}")),
            namespace: Some("ns".into()),
            uid: Some(format!("rs-{image}")),
            generation: Some(1),
            creation_timestamp: Some(Time(ts(created))),
            annotations: Some(BTreeMap::from([
                (REVISION_ANNOTATION.to_string(), revision.to_string()),
                (
                    DESIRED_REPLICAS_ANNOTATION.to_string(),
                    replicas_of(&d.0).to_string(),
                ),
                (
                    MAX_REPLICAS_ANNOTATION.to_string(),
                    (replicas_of(&d.0) + max_surge(&d.0)).to_string(),
                ),
            ])),
            owner_references: Some(vec![OwnerReference {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                name: "web".into(),
                uid: "d-uid".into(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(replicas),
            min_ready_seconds: None,
            selector: LabelSelector::default(),
            template: Some(template),
        }),
        status: Some(ReplicaSetStatus {
            replicas,
            ready_replicas: Some(available),
            available_replicas: Some(available),
            observed_generation: Some(1),
            ..Default::default()
        }),
    }
}

fn complete(n: i32) -> DeploymentStatus {
    DeploymentStatus {
        observed_generation: Some(1),
        replicas: Some(n),
        updated_replicas: Some(n),
        ready_replicas: Some(n),
        available_replicas: Some(n),
        ..Default::default()
    }
}

fn with_annotation(mut rs: ReplicaSet, key: &str, value: &str) -> ReplicaSet {
    rs.metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(key.into(), value.into());
    rs
}

fn plan(d: &D, owned: &[ReplicaSet], pods: &[Pod]) -> Plan {
    let pods: Vec<&Pod> = pods.iter().collect();
    let ns: Vec<&ReplicaSet> = owned.iter().collect();
    plan_rollout(&d.0, owned, &pods, &ns, ts(NOW))
}

/// A ReplicaSet write as (verb, image, replicas).
type Write = (&'static str, String, i32);

/// The ReplicaSet writes of a plan.
fn rs_writes(plan: &Plan) -> Vec<(&'static str, String, i32)> {
    let image = |rs: &ReplicaSet| {
        rs.spec
            .as_ref()
            .unwrap()
            .template
            .as_ref()
            .unwrap()
            .spec
            .as_ref()
            .unwrap()
            .containers[0]
            .image
            .clone()
            .unwrap()
    };
    plan.steps
        .iter()
        .filter_map(|s| match s {
            Step::CreateReplicaSet(rs) => Some(("create", image(rs), rs_replicas(rs))),
            Step::UpdateReplicaSet(rs) => Some(("update", image(rs), rs_replicas(rs))),
            Step::DeleteReplicaSet { uid, .. } => {
                Some(("delete", uid.trim_start_matches("rs-").to_string(), 0))
            }
            _ => None,
        })
        .collect()
}

fn final_status(plan: &Plan) -> Option<&DeploymentStatus> {
    plan.steps.iter().find_map(|s| match s {
        Step::UpdateStatus(status) => Some(status),
        _ => None,
    })
}

fn condition<'a>(status: &'a DeploymentStatus, type_: &str) -> (&'a str, &'a str) {
    let c = get_condition(status, type_)
        .unwrap_or_else(|| panic!("no {type_} condition in {status:?}"));
    (c.status.as_str(), c.reason.as_deref().unwrap_or_default())
}

fn w(verb: &'static str, image: &str, replicas: i32) -> (&'static str, String, i32) {
    (verb, image.to_string(), replicas)
}

fn pct(s: &str) -> IntOrString {
    IntOrString::String(s.into())
}

#[test]
fn fenceposts_round_as_upstream() {
    let int = IntOrString::Int;
    // (maxSurge, maxUnavailable, replicas, surge, unavailable)
    let cases = [
        (pct("25%"), pct("25%"), 10, 3, 2),
        (pct("25%"), pct("25%"), 3, 1, 0),
        (pct("25%"), pct("25%"), 1, 1, 0),
        (pct("0%"), pct("0%"), 5, 0, 1),
        (pct("0%"), pct("1%"), 2, 0, 1),
        (pct("1%"), pct("25%"), 2, 1, 0),
        (int(2), int(0), 4, 2, 0),
        (int(0), int(3), 4, 0, 3),
        (pct("50%"), int(1), 5, 3, 1),
    ];
    for (surge, unavailable, replicas, want_surge, want_unavailable) in cases {
        assert_eq!(
            resolve_fenceposts(&surge, &unavailable, replicas),
            (want_surge, want_unavailable),
            "{surge:?} {unavailable:?} of {replicas}"
        );
    }
    // MaxUnavailable never exceeds replicas; Recreate has neither.
    let d = D::new(2, "a").rolling(IntOrString::Int(0), IntOrString::Int(5));
    assert_eq!(max_unavailable(&d.0), 2);
    let d = D::new(2, "a").recreate();
    assert_eq!((max_surge(&d.0), max_unavailable(&d.0)), (0, 0));
}

#[test]
fn rollouts_take_upstream_steps() {
    let d3 = D::new(3, "v2");
    let d10 = D::new(10, "v2");
    // (name, deployment, owned ReplicaSets, expected ReplicaSet writes)
    let cases: Vec<(&str, D, Vec<ReplicaSet>, Vec<Write>)> = vec![
        (
            "first rollout creates a full ReplicaSet",
            d3.clone(),
            vec![],
            vec![w("create", "v2", 3)],
        ),
        (
            "25% surge of 3 adds one new pod first",
            d3.clone(),
            vec![rs(&d3, "v1", 3, 3, 1, 10)],
            vec![w("create", "v2", 1)],
        ),
        (
            "surge 0 / unavailable 1 scales the old one down first",
            d3.clone().rolling(IntOrString::Int(0), IntOrString::Int(1)),
            vec![rs(&d3, "v1", 3, 3, 1, 10)],
            vec![w("create", "v2", 0), w("update", "v1", 2)],
        ),
        (
            "new pods available: old scaled down within maxUnavailable",
            d3.clone(),
            vec![rs(&d3, "v1", 3, 3, 1, 10), rs(&d3, "v2", 1, 1, 2, 20)],
            vec![w("update", "v1", 2)],
        ),
        (
            "new pods not yet available: wait",
            d3.clone(),
            vec![rs(&d3, "v1", 3, 3, 1, 10), rs(&d3, "v2", 1, 0, 2, 20)],
            vec![],
        ),
        (
            "old scaled down: new scales up to replicas+surge",
            d3.clone(),
            vec![rs(&d3, "v1", 2, 2, 1, 10), rs(&d3, "v2", 1, 1, 2, 20)],
            vec![w("update", "v2", 2)],
        ),
        (
            "10 replicas, 25%/25%: new gets 3 (ceil surge), old loses 2 (floor)",
            d10.clone(),
            vec![rs(&d10, "v1", 10, 10, 1, 10)],
            vec![w("create", "v2", 3), w("update", "v1", 8)],
        ),
        (
            "10 replicas: 3 new unavailable, old scaled by floor(25%) = 2",
            d10.clone(),
            vec![rs(&d10, "v1", 10, 10, 1, 10), rs(&d10, "v2", 3, 0, 2, 20)],
            vec![w("update", "v1", 8)],
        ),
        (
            "10 replicas: 3 new available, old scaled down by 5",
            d10.clone(),
            vec![rs(&d10, "v1", 10, 10, 1, 10), rs(&d10, "v2", 3, 3, 2, 20)],
            vec![w("update", "v1", 5)],
        ),
        (
            "unhealthy old replicas are cleaned up first",
            d10.clone(),
            vec![rs(&d10, "v1", 10, 7, 1, 10), rs(&d10, "v2", 3, 3, 2, 20)],
            vec![w("update", "v1", 7), w("update", "v1", 5)],
        ),
        (
            "done: nothing to write",
            d3.clone(),
            vec![rs(&d3, "v1", 0, 0, 1, 10), rs(&d3, "v2", 3, 3, 2, 20)],
            vec![],
        ),
        (
            "scaling event on a finished rollout",
            D::new(5, "v2"),
            vec![rs(&d3, "v2", 3, 3, 2, 20)],
            vec![w("update", "v2", 5)],
        ),
        (
            "proportional scaling during a rollout (3 -> 6, surge 1 -> 2)",
            D::new(6, "v3"),
            vec![rs(&d3, "v1", 2, 2, 1, 10), rs(&d3, "v2", 2, 0, 2, 20)],
            vec![w("update", "v2", 4), w("update", "v1", 4)],
        ),
        (
            "paused: no new ReplicaSet for a new template",
            d3.clone().paused(),
            vec![rs(&d3, "v1", 3, 3, 1, 10)],
            vec![],
        ),
        (
            "history beyond revisionHistoryLimit is deleted, oldest first",
            d3.clone().history(1).status(complete(3)),
            vec![
                rs(&d3, "v0", 0, 0, 1, 5),
                rs(&d3, "v1", 0, 0, 2, 10),
                rs(&d3, "v9", 0, 0, 3, 15),
                rs(&d3, "v2", 3, 3, 4, 20),
            ],
            vec![w("delete", "v0", 0), w("delete", "v1", 0)],
        ),
        (
            "a deleting Deployment only updates its status",
            d3.clone().deleting(),
            vec![rs(&d3, "v1", 3, 3, 1, 10)],
            vec![],
        ),
        (
            "recreate scales old ReplicaSets to zero first",
            D::new(3, "v2").recreate(),
            vec![rs(&d3, "v1", 3, 3, 1, 10)],
            vec![w("update", "v1", 0)],
        ),
        (
            "recreate creates the new ReplicaSet once old pods are gone",
            D::new(3, "v2").recreate(),
            vec![rs(&d3, "v1", 0, 0, 1, 10)],
            vec![w("create", "v2", 3)],
        ),
    ];
    for (name, d, owned, expected) in cases {
        let p = plan(&d, &owned, &[]);
        assert_eq!(rs_writes(&p), expected, "{name}: {:#?}", p.steps);
        assert_eq!(p.retry, None, "{name}");
    }
}

#[test]
fn new_replica_sets_are_named_labelled_and_annotated() {
    let d = D::new(3, "v2");
    let mut annotated = d.clone().status(complete(3));
    annotated.0.metadata.annotations = Some(BTreeMap::from([
        (
            "kubernetes.io/change-cause".to_string(),
            "v2 please".to_string(),
        ),
        (LAST_APPLIED_ANNOTATION.to_string(), "{}".to_string()),
    ]));
    let p = plan(&annotated, &[rs(&d, "v1", 3, 3, 4, 10)], &[]);
    let Some(Step::CreateReplicaSet(new)) = p.steps.first() else {
        panic!("{:#?}", p.steps);
    };
    let hash = compute_hash(&template("v2"), None).unwrap();
    assert_eq!(name_of(&new.metadata), format!("web-{hash}"));
    let labels = new.metadata.labels.as_ref().unwrap();
    assert_eq!(labels.get(POD_TEMPLATE_HASH_LABEL), Some(&hash));
    let spec = new.spec.as_ref().unwrap();
    assert_eq!(
        spec.selector
            .match_labels
            .as_ref()
            .unwrap()
            .get(POD_TEMPLATE_HASH_LABEL),
        Some(&hash)
    );
    let template_labels = spec
        .template
        .as_ref()
        .unwrap()
        .metadata
        .as_ref()
        .unwrap()
        .labels
        .as_ref()
        .unwrap();
    assert_eq!(template_labels.get(POD_TEMPLATE_HASH_LABEL), Some(&hash));
    let annotations = new.metadata.annotations.as_ref().unwrap();
    assert_eq!(
        annotations.get(REVISION_ANNOTATION).map(String::as_str),
        Some("5")
    );
    assert_eq!(
        annotations
            .get(DESIRED_REPLICAS_ANNOTATION)
            .map(String::as_str),
        Some("3")
    );
    assert_eq!(
        annotations.get(MAX_REPLICAS_ANNOTATION).map(String::as_str),
        Some("4")
    );
    assert_eq!(
        annotations
            .get("kubernetes.io/change-cause")
            .map(String::as_str),
        Some("v2 please")
    );
    assert!(!annotations.contains_key(LAST_APPLIED_ANNOTATION));
    let owner = &new.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
        ("Deployment", "d-uid", Some(true))
    );
    assert!(
        p.steps.contains(&Step::SetRevision("5".into())),
        "{:#?}",
        p.steps
    );
    let status = final_status(&p).unwrap();
    assert_eq!(
        condition(status, "Progressing"),
        ("True", REASON_NEW_RS_CREATED)
    );
}

#[test]
fn rollback_renumbers_the_old_replica_set() {
    // `kubectl rollout undo` put v1's template back: v1 becomes revision 3.
    let d = D::new(3, "v1");
    let p = plan(
        &d,
        &[rs(&d, "v1", 0, 0, 1, 10), rs(&d, "v2", 3, 3, 2, 20)],
        &[],
    );
    let Some(Step::UpdateReplicaSet(updated)) = p.steps.first() else {
        panic!("{:#?}", p.steps);
    };
    let annotations = updated.metadata.annotations.as_ref().unwrap();
    assert_eq!(
        annotations.get(REVISION_ANNOTATION).map(String::as_str),
        Some("3")
    );
    assert_eq!(
        annotations
            .get(REVISION_HISTORY_ANNOTATION)
            .map(String::as_str),
        Some("1")
    );
    // Then it scales up within the surge.
    assert_eq!(
        rs_writes(&p),
        vec![w("update", "v1", 0), w("update", "v1", 1)]
    );
    assert!(p.steps.contains(&Step::SetRevision("3".into())));
}

#[test]
fn status_and_conditions() {
    let d = D::new(3, "v2");
    let done = plan(
        &d,
        &[rs(&d, "v1", 0, 0, 1, 10), rs(&d, "v2", 3, 3, 2, 20)],
        &[],
    );
    let status = final_status(&done).unwrap();
    assert_eq!(status.observed_generation, Some(1));
    assert_eq!(
        (
            status.replicas,
            status.updated_replicas,
            status.ready_replicas,
            status.available_replicas,
            status.unavailable_replicas
        ),
        (Some(3), Some(3), Some(3), Some(3), Some(0))
    );
    assert_eq!(
        condition(status, "Available"),
        ("True", REASON_MIN_AVAILABLE)
    );
    assert_eq!(
        condition(status, "Progressing"),
        ("True", REASON_NEW_RS_AVAILABLE)
    );
    assert_eq!(done.requeue_after, None);

    // Mid-rollout: progressing, and a progress check is scheduled before the deadline.
    let mid = plan(
        &d,
        &[rs(&d, "v1", 3, 3, 1, 10), rs(&d, "v2", 1, 0, 2, 20)],
        &[],
    );
    let status = final_status(&mid).unwrap();
    assert_eq!(
        condition(status, "Available"),
        ("True", REASON_MIN_AVAILABLE)
    );
    assert_eq!(
        condition(status, "Progressing"),
        ("True", REASON_RS_UPDATED)
    );
    assert_eq!(mid.requeue_after, Some(Duration::from_secs(601)));
    assert_eq!(
        (status.updated_replicas, status.unavailable_replicas),
        (Some(1), Some(1))
    );

    // No progress for longer than progressDeadlineSeconds: timed out.
    let stale = Time(ts(NOW - 700));
    let stuck_status = DeploymentStatus {
        observed_generation: Some(1),
        replicas: Some(4),
        updated_replicas: Some(1),
        ready_replicas: Some(3),
        available_replicas: Some(3),
        unavailable_replicas: Some(1),
        conditions: Some(vec![DeploymentCondition {
            type_: "Progressing".into(),
            status: "True".into(),
            reason: Some(REASON_RS_UPDATED.into()),
            message: Some("x".into()),
            last_update_time: Some(stale.clone()),
            last_transition_time: Some(stale),
        }]),
        ..Default::default()
    };
    let stuck = D::new(3, "v2").status(stuck_status);
    let p = plan(
        &stuck,
        &[rs(&d, "v1", 3, 3, 1, 10), rs(&d, "v2", 1, 0, 2, 20)],
        &[],
    );
    let status = final_status(&p).unwrap();
    assert_eq!(
        condition(status, "Progressing"),
        ("False", REASON_TIMED_OUT)
    );

    // Too few available pods: Available=False.
    let down = plan(&d, &[rs(&d, "v2", 3, 1, 2, 20)], &[]);
    let status = final_status(&down).unwrap();
    assert_eq!(
        condition(status, "Available"),
        ("False", REASON_MIN_UNAVAILABLE)
    );

    // Paused: Progressing Unknown with reason DeploymentPaused.
    let paused = plan(&d.clone().paused(), &[rs(&d, "v2", 3, 3, 2, 20)], &[]);
    let status = final_status(&paused).unwrap();
    assert_eq!(condition(status, "Progressing"), ("Unknown", REASON_PAUSED));
}

#[test]
fn hash_collisions_bump_the_collision_count() {
    let d = D::new(3, "v2");
    // A ReplicaSet of another owner already has the name the new one would get.
    let mut foreign = rs(&d, "v2", 1, 1, 1, 10);
    foreign.metadata.owner_references = None;
    foreign.spec.as_mut().unwrap().template = Some(template("other"));
    let ns = [&foreign];
    let p = plan_rollout(&d.0, &[], &[], &ns, ts(NOW));
    assert!(p.retry.is_some());
    assert!(rs_writes(&p).is_empty());
    assert_eq!(final_status(&p).unwrap().collision_count, Some(1));
    // With the bumped count the name differs.
    let bumped = d.status(DeploymentStatus {
        collision_count: Some(1),
        ..Default::default()
    });
    let p = plan_rollout(&bumped.0, &[], &[], &ns, ts(NOW));
    assert_eq!(p.retry, None);
    let Some(Step::CreateReplicaSet(new)) = p.steps.first() else {
        panic!("{:#?}", p.steps);
    };
    assert_ne!(name_of(&new.metadata), name_of(&foreign.metadata));
}

#[test]
fn recreate_waits_for_old_pods() {
    let d = D::new(3, "v2").recreate();
    let old = rs(&d, "v1", 0, 0, 1, 10);
    let running = Pod {
        metadata: ObjectMeta {
            name: Some("old".into()),
            owner_references: Some(vec![OwnerReference {
                kind: "ReplicaSet".into(),
                uid: "rs-v1".into(),
                controller: Some(true),
                ..Default::default()
            }]),
            ..Default::default()
        },
        spec: None,
        status: Some(PodStatus {
            phase: Some("Running".into()),
            ..Default::default()
        }),
    };
    assert!(rs_writes(&plan(
        &d,
        std::slice::from_ref(&old),
        std::slice::from_ref(&running)
    ))
    .is_empty());
    let mut finished = running;
    finished.status.as_mut().unwrap().phase = Some("Succeeded".into());
    assert_eq!(
        rs_writes(&plan(&d, &[old], &[finished])),
        vec![w("create", "v2", 3)]
    );
}

#[test]
fn proportions_as_upstream() {
    // (deployment replicas, ReplicaSet replicas, max-replicas annotation, to add, added, proportion)
    let cases = [
        (6, 2, 4, 3, 0, 2),   // 2 * 8 / 4 = 4 -> +2
        (6, 2, 4, 3, 2, 1),   // capped by what is left to add
        (1, 2, 4, -2, 0, -1), // 2 * 2 / 4 = 1 -> -1
        (6, 0, 4, 3, 0, 0),   // never from zero
        (6, 3, 5, 2, 0, 2),   // 3 * 8 / 5 = 4.8 -> 5 -> +2
        (0, 3, 4, -3, 0, -3), // scaling to zero removes everything
    ];
    for (replicas, rs_size, annotated, to_add, added, expected) in cases {
        let d = D::new(replicas, "v3");
        let r = with_annotation(
            rs(&d, "v1", rs_size, rs_size, 1, 10),
            MAX_REPLICAS_ANNOTATION,
            &annotated.to_string(),
        );
        assert_eq!(
            get_proportion(&r, &d.0, to_add, added),
            expected,
            "d={replicas} rs={rs_size}/{annotated} +{to_add} ({added})"
        );
    }
}
