//! Deployments (`deployments.apps`): `SetDefaults_Deployment` (with the pod
//! template defaulted like a pod spec), `ValidateDeployment`,
//! `ValidateDeploymentUpdate` and the strategy's selector immutability.
//! The selector/template checks are shared with ReplicaSets.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;
use tinykube_apimachinery::labels::Selector;
use tinykube_apimachinery::status::{FieldError, FieldPath};
use tinykube_apimachinery::validation::regex_error;

use super::common::{
    default_str, json, name_is_dns_subdomain, no_labels, text, validate_immutable,
    validate_label_selector, validate_nonnegative, validate_object_meta,
    validate_object_meta_update, Errors,
};
use super::podspec::{default_pod_spec, validate_pod_template_spec};
use super::Kind;

/// Whether the request body carried `spec.selector` (k8s-openapi cannot
/// tell an absent selector from an empty one).
pub(super) fn selector_present(raw: &Value) -> bool {
    raw.pointer("/spec/selector").is_some_and(|v| !v.is_null())
}

/// Leaves an absent `spec.selector` absent in the encoded object.
pub(super) fn drop_absent_selector(encoded: &mut Value, raw: &Value) {
    if !selector_present(raw) {
        if let Some(spec) = encoded.get_mut("spec").and_then(Value::as_object_mut) {
            spec.remove("selector");
        }
    }
}

/// Defaults the pod template's spec like a pod spec (upstream runs
/// `SetDefaults_PodSpec` and the container defaults, not `SetDefaults_Pod`).
pub(super) fn default_template(template: &mut PodTemplateSpec) {
    default_pod_spec(template.spec.get_or_insert_with(Default::default));
}

/// The selector checks shared by Deployments and ReplicaSets, then upstream
/// `ValidatePodTemplateSpecForReplicaSet`.
pub(super) fn validate_selector_and_template(
    selector: Option<&LabelSelector>,
    template: &PodTemplateSpec,
    spec_path: &FieldPath,
    kind: &str,
) -> Errors {
    let mut errs = Vec::new();
    let selector_path = spec_path.child("selector");
    // `None` selects nothing, as upstream's `LabelSelectorAsSelector(nil)`.
    let mut parsed: Option<Selector> = None;
    match selector {
        None => errs.push(FieldError::required(&selector_path, "")),
        Some(selector) => {
            errs.extend(validate_label_selector(selector, &selector_path));
            let empty = selector.match_labels.as_ref().is_none_or(|m| m.is_empty())
                && selector
                    .match_expressions
                    .as_ref()
                    .is_none_or(|e| e.is_empty());
            if empty {
                errs.push(FieldError::invalid(
                    &selector_path,
                    json(selector),
                    "empty selector is invalid for deployment",
                ));
            }
            match Selector::from_label_selector(selector) {
                Ok(s) => parsed = Some(s),
                Err(_) => {
                    errs.push(FieldError::invalid(
                        &selector_path,
                        json(selector),
                        "invalid label selector",
                    ));
                    return errs;
                }
            }
        }
    }
    let template_path = spec_path.child("template");
    let labels = template.metadata.as_ref().and_then(|m| m.labels.as_ref());
    let matches = match &parsed {
        None => false,
        Some(s) => s.is_everything() || s.matches(labels.unwrap_or(no_labels())),
    };
    if !matches {
        errs.push(FieldError::invalid(
            template_path.child("metadata").child("labels"),
            json(&labels),
            "`selector` does not match template `labels`",
        ));
    }
    errs.extend(validate_pod_template_spec(template, &template_path));
    let spec = template.spec.as_ref();
    let restart_policy = spec.map_or("", |s| text(&s.restart_policy));
    if restart_policy != "Always" {
        errs.push(FieldError::not_supported(
            template_path.child("spec").child("restartPolicy"),
            restart_policy,
            &["Always"],
        ));
    }
    if spec.is_some_and(|s| s.active_deadline_seconds.is_some()) {
        errs.push(FieldError::forbidden(
            template_path.child("spec").child("activeDeadlineSeconds"),
            format!("activeDeadlineSeconds in {kind} is not Supported"),
        ));
    }
    errs
}

/// Upstream `IsValidPercent`.
fn is_valid_percent(value: &str) -> bool {
    value
        .strip_suffix('%')
        .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// Upstream `ValidatePositiveIntOrPercent`.
fn validate_positive_int_or_percent(value: &IntOrString, path: &FieldPath) -> Errors {
    match value {
        IntOrString::String(s) if !is_valid_percent(s) => vec![FieldError::invalid(
            path,
            s.as_str(),
            regex_error(
                "a valid percent string must be a numeric string followed by an ending '%'",
                "[0-9]+%",
                &["1%", "93%"],
            ),
        )],
        IntOrString::String(_) => Vec::new(),
        IntOrString::Int(n) => validate_nonnegative((*n).into(), path),
    }
}

/// Upstream `getIntOrPercentValue`: a percentage's number, or the integer
/// (a non-numeric string counts as 0).
fn int_or_percent_value(value: &IntOrString) -> i64 {
    match value {
        IntOrString::Int(n) => (*n).into(),
        IntOrString::String(s) => s.strip_suffix('%').unwrap_or(s).parse().unwrap_or(0),
    }
}

fn validate_strategy(strategy: Option<&DeploymentStrategy>, path: &FieldPath) -> Errors {
    let mut errs = Vec::new();
    let default = DeploymentStrategy::default();
    let strategy = strategy.unwrap_or(&default);
    match text(&strategy.type_) {
        "Recreate" => {
            if strategy.rolling_update.is_some() {
                errs.push(FieldError::forbidden(
                    path.child("rollingUpdate"),
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        "RollingUpdate" => match &strategy.rolling_update {
            None => errs.push(FieldError::required(
                path.child("rollingUpdate"),
                "this should be defaulted and never be nil",
            )),
            Some(rolling) => {
                let p = path.child("rollingUpdate");
                let zero = IntOrString::Int(0);
                let unavailable = rolling.max_unavailable.as_ref().unwrap_or(&zero);
                let surge = rolling.max_surge.as_ref().unwrap_or(&zero);
                errs.extend(validate_positive_int_or_percent(
                    unavailable,
                    &p.child("maxUnavailable"),
                ));
                errs.extend(validate_positive_int_or_percent(
                    surge,
                    &p.child("maxSurge"),
                ));
                if int_or_percent_value(unavailable) == 0 && int_or_percent_value(surge) == 0 {
                    errs.push(FieldError::invalid(
                        p.child("maxUnavailable"),
                        json(unavailable),
                        "may not be 0 when `maxSurge` is 0",
                    ));
                }
                if let IntOrString::String(s) = unavailable {
                    if is_valid_percent(s) && int_or_percent_value(unavailable) > 100 {
                        errs.push(FieldError::invalid(
                            p.child("maxUnavailable"),
                            s.as_str(),
                            "must not be greater than 100%",
                        ));
                    }
                }
            }
        },
        _ => errs.push(FieldError::not_supported(
            path,
            json(strategy),
            &["Recreate", "RollingUpdate"],
        )),
    }
    errs
}

fn validate_spec(spec: &DeploymentSpec, selector_present: bool, path: &FieldPath) -> Errors {
    let mut errs = validate_nonnegative(spec.replicas.unwrap_or(0).into(), &path.child("replicas"));
    let selector = selector_present.then_some(&spec.selector);
    errs.extend(validate_selector_and_template(
        selector,
        &spec.template,
        path,
        "ReplicaSet",
    ));
    errs.extend(validate_strategy(
        spec.strategy.as_ref(),
        &path.child("strategy"),
    ));
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    errs.extend(validate_nonnegative(
        min_ready.into(),
        &path.child("minReadySeconds"),
    ));
    if let Some(limit) = spec.revision_history_limit {
        errs.extend(validate_nonnegative(
            limit.into(),
            &path.child("revisionHistoryLimit"),
        ));
    }
    if let Some(deadline) = spec.progress_deadline_seconds {
        errs.extend(validate_nonnegative(
            deadline.into(),
            &path.child("progressDeadlineSeconds"),
        ));
        if deadline <= min_ready {
            errs.push(FieldError::invalid(
                path.child("progressDeadlineSeconds"),
                deadline,
                "must be greater than minReadySeconds",
            ));
        }
    }
    errs
}

fn validate_status(deployment: &Deployment, old: &Deployment) -> Errors {
    let mut errs = Vec::new();
    let Some(status) = &deployment.status else {
        return errs;
    };
    let path = FieldPath::new("status");
    let replicas = status.replicas.unwrap_or(0);
    let ready = status.ready_replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    let updated = status.updated_replicas.unwrap_or(0);
    errs.extend(validate_nonnegative(
        status.observed_generation.unwrap_or(0),
        &path.child("observedGeneration"),
    ));
    for (value, name) in [
        (replicas, "replicas"),
        (updated, "updatedReplicas"),
        (ready, "readyReplicas"),
        (available, "availableReplicas"),
        (
            status.unavailable_replicas.unwrap_or(0),
            "unavailableReplicas",
        ),
    ] {
        errs.extend(validate_nonnegative(value.into(), &path.child(name)));
    }
    if let Some(count) = status.collision_count {
        errs.extend(validate_nonnegative(
            count.into(),
            &path.child("collisionCount"),
        ));
    }
    const MSG: &str = "cannot be greater than status.replicas";
    for (value, name) in [
        (updated, "updatedReplicas"),
        (ready, "readyReplicas"),
        (available, "availableReplicas"),
    ] {
        if value > replicas {
            errs.push(FieldError::invalid(path.child(name), value, MSG));
        }
    }
    if available > ready {
        errs.push(FieldError::invalid(
            path.child("availableReplicas"),
            available,
            "cannot be greater than readyReplicas",
        ));
    }
    let old_count = old.status.as_ref().and_then(|s| s.collision_count);
    if let Some(old_count) = old_count {
        let new_count = status.collision_count.unwrap_or(0);
        if new_count < old_count {
            errs.push(FieldError::invalid(
                path.child("collisionCount"),
                new_count,
                "cannot be decremented",
            ));
        }
    }
    errs
}

impl Kind for Deployment {
    fn set_defaults(&mut self) {
        let spec = self.spec.get_or_insert_with(Default::default);
        spec.replicas.get_or_insert(1);
        let strategy = spec.strategy.get_or_insert_with(Default::default);
        default_str(&mut strategy.type_, "RollingUpdate");
        if text(&strategy.type_) == "RollingUpdate" {
            let rolling = strategy.rolling_update.get_or_insert_with(Default::default);
            rolling
                .max_unavailable
                .get_or_insert_with(|| IntOrString::String("25%".to_string()));
            rolling
                .max_surge
                .get_or_insert_with(|| IntOrString::String("25%".to_string()));
        }
        spec.revision_history_limit.get_or_insert(10);
        spec.progress_deadline_seconds.get_or_insert(600);
        default_template(&mut spec.template);
    }

    fn finish(encoded: &mut Value, raw: &Value) {
        drop_absent_selector(encoded, raw);
    }

    fn validate(&self, raw: &Value) -> Errors {
        let mut errs = validate_object_meta(
            &self.metadata,
            true,
            name_is_dns_subdomain,
            &FieldPath::new("metadata"),
        );
        let default = DeploymentSpec::default();
        let spec = self.spec.as_ref().unwrap_or(&default);
        errs.extend(validate_spec(
            spec,
            selector_present(raw),
            &FieldPath::new("spec"),
        ));
        errs
    }

    fn validate_update(&self, raw: &Value, old: &Self, old_raw: &Value) -> Errors {
        let mut errs =
            validate_object_meta_update(&self.metadata, &old.metadata, &FieldPath::new("metadata"));
        let default = DeploymentSpec::default();
        let spec = self.spec.as_ref().unwrap_or(&default);
        let old_spec = old.spec.as_ref().unwrap_or(&default);
        errs.extend(validate_spec(
            spec,
            selector_present(raw),
            &FieldPath::new("spec"),
        ));
        let new_selector = selector_present(raw).then(|| json(&spec.selector));
        let old_selector = selector_present(old_raw).then(|| json(&old_spec.selector));
        errs.extend(validate_immutable(
            new_selector.unwrap_or(Value::Null),
            old_selector.unwrap_or(Value::Null),
            &FieldPath::new("spec").child("selector"),
        ));
        if json(&self.status) != json(&old.status) {
            errs.extend(validate_status(self, old));
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::{assert_errors, merge};
    use super::super::{decode_and_default, validate_create, validate_update};
    use serde_json::{json, Value};

    fn base() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "nginx"}]}},
            },
        })
    }

    fn deployment(patch: Value) -> Value {
        decode_and_default("deployments.apps", merge(&base(), &patch)).unwrap()
    }

    #[test]
    fn defaults() {
        let d = deployment(json!({}));
        let spec = &d["spec"];
        assert_eq!(spec["replicas"], 1);
        assert_eq!(
            spec["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        );
        assert_eq!(spec["revisionHistoryLimit"], 10);
        assert_eq!(spec["progressDeadlineSeconds"], 600);
        let pod = &spec["template"]["spec"];
        assert_eq!(pod["restartPolicy"], "Always");
        assert_eq!(pod["dnsPolicy"], "ClusterFirst");
        assert_eq!(pod["schedulerName"], "default-scheduler");
        assert_eq!(pod["terminationGracePeriodSeconds"], 30);
        assert_eq!(pod["securityContext"], json!({}));
        assert!(pod.get("enableServiceLinks").is_none());
        assert!(pod.get("serviceAccountName").is_none());
        assert_eq!(pod["containers"][0]["imagePullPolicy"], "Always");
        assert_eq!(
            pod["containers"][0]["terminationMessagePath"],
            "/dev/termination-log"
        );

        let recreate = deployment(json!({"spec": {"strategy": {"type": "Recreate"}}}));
        assert_eq!(recreate["spec"]["strategy"], json!({"type": "Recreate"}));

        let no_selector = deployment(json!({"spec": {"selector": null}}));
        assert!(no_selector["spec"].get("selector").is_none());
    }

    #[test]
    fn create_rules() {
        let cases: Vec<(Value, Vec<(&str, &str)>)> = vec![
            (json!({}), vec![]),
            (
                json!({"spec": {"replicas": -1}}),
                vec![("spec.replicas", "FieldValueInvalid")],
            ),
            (
                json!({"spec": {"selector": null}}),
                vec![
                    ("spec.selector", "FieldValueRequired"),
                    ("spec.template.metadata.labels", "FieldValueInvalid"),
                ],
            ),
            (
                json!({"spec": {"selector": {"matchLabels": null}}}),
                vec![("spec.selector", "FieldValueInvalid")],
            ),
            (
                json!({"spec": {"selector": {"matchLabels": {"app": "other"}}}}),
                vec![("spec.template.metadata.labels", "FieldValueInvalid")],
            ),
            (
                json!({"spec": {"selector": {"matchExpressions": [{"key": "app", "operator": "Bogus"}]}}}),
                vec![
                    (
                        "spec.selector.matchExpressions[0].operator",
                        "FieldValueInvalid",
                    ),
                    ("spec.selector", "FieldValueInvalid"),
                ],
            ),
            (
                json!({"spec": {"template": {"spec": {"restartPolicy": "Never"}}}}),
                vec![("spec.template.spec.restartPolicy", "FieldValueNotSupported")],
            ),
            (
                json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": ""}]}}}}),
                vec![(
                    "spec.template.spec.containers[0].image",
                    "FieldValueRequired",
                )],
            ),
            (
                json!({"spec": {"template": {"metadata": {"labels": {"app": "web", "bad key!": "x"}}}}}),
                vec![("spec.template.labels", "FieldValueInvalid")],
            ),
            (
                json!({"spec": {"strategy": {"type": "Canary"}}}),
                vec![("spec.strategy", "FieldValueNotSupported")],
            ),
            (
                json!({"spec": {"strategy": {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": "0%"}}}}),
                vec![(
                    "spec.strategy.rollingUpdate.maxUnavailable",
                    "FieldValueInvalid",
                )],
            ),
            (
                json!({"spec": {"strategy": {"rollingUpdate": {"maxUnavailable": "150%", "maxSurge": "half"}}}}),
                vec![
                    ("spec.strategy.rollingUpdate.maxSurge", "FieldValueInvalid"),
                    (
                        "spec.strategy.rollingUpdate.maxUnavailable",
                        "FieldValueInvalid",
                    ),
                ],
            ),
            (
                json!({"spec": {"minReadySeconds": 700}}),
                vec![("spec.progressDeadlineSeconds", "FieldValueInvalid")],
            ),
            (
                json!({"metadata": {"name": "Web"}}),
                vec![("metadata.name", "FieldValueInvalid")],
            ),
        ];
        for (patch, want) in cases {
            assert_errors(
                &validate_create("deployments.apps", &deployment(patch.clone())),
                &want,
            );
        }
        let errs = validate_create(
            "deployments.apps",
            &deployment(json!({"spec": {"selector": {"matchLabels": {"app": "other"}}}})),
        );
        assert_eq!(
            errs[0].to_string(),
            "spec.template.metadata.labels: Invalid value: {\"app\":\"web\"}: `selector` does not match template `labels`"
        );
    }

    #[test]
    fn update_rules() {
        let old = deployment(json!({"metadata": {"uid": "1", "generation": 1}}));
        let scaled =
            deployment(json!({"metadata": {"uid": "1", "generation": 2}, "spec": {"replicas": 5}}));
        assert_errors(&validate_update("deployments.apps", &scaled, &old), &[]);
        let reselected = deployment(json!({"metadata": {"uid": "1", "generation": 2}, "spec": {
            "selector": {"matchLabels": {"app": "web", "tier": "x"}},
            "template": {"metadata": {"labels": {"app": "web", "tier": "x"}}}}}));
        let errs = validate_update("deployments.apps", &reselected, &old);
        assert_errors(&errs, &[("spec.selector", "FieldValueInvalid")]);
        assert_eq!(errs[0].detail, "field is immutable");
        let status = merge(
            &old,
            &json!({"status": {"replicas": 1, "readyReplicas": 2}}),
        );
        assert_errors(
            &validate_update("deployments.apps", &status, &old),
            &[("status.readyReplicas", "FieldValueInvalid")],
        );
    }
}
