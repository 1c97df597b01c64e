//! ReplicaSets (`replicasets.apps`): `SetDefaults_ReplicaSet` (with the pod
//! template defaulted like a pod spec), `ValidateReplicaSet`,
//! `ValidateReplicaSetUpdate` and the strategy's selector immutability.

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::Value;
use tinykube_apimachinery::status::{FieldError, FieldPath};

use super::common::{
    json, name_is_dns_subdomain, validate_immutable, validate_nonnegative, validate_object_meta,
    validate_object_meta_update, Errors,
};
use super::deployments::{
    default_template, drop_absent_selector, selector_present, validate_selector_and_template,
};
use super::Kind;

fn validate_spec(spec: &ReplicaSetSpec, selector_present: bool, path: &FieldPath) -> Errors {
    let mut errs = validate_nonnegative(spec.replicas.unwrap_or(0).into(), &path.child("replicas"));
    errs.extend(validate_nonnegative(
        spec.min_ready_seconds.unwrap_or(0).into(),
        &path.child("minReadySeconds"),
    ));
    let default_template = PodTemplateSpec::default();
    let template = spec.template.as_ref().unwrap_or(&default_template);
    let selector = selector_present.then_some(&spec.selector);
    errs.extend(validate_selector_and_template(
        selector,
        template,
        path,
        "ReplicaSet",
    ));
    errs
}

fn validate_status(rs: &ReplicaSet) -> Errors {
    let mut errs = Vec::new();
    let Some(status) = &rs.status else {
        return errs;
    };
    let path = FieldPath::new("status");
    let replicas = status.replicas;
    let fully_labeled = status.fully_labeled_replicas.unwrap_or(0);
    let ready = status.ready_replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    for (value, name) in [
        (replicas, "replicas"),
        (fully_labeled, "fullyLabeledReplicas"),
        (ready, "readyReplicas"),
        (available, "availableReplicas"),
    ] {
        errs.extend(validate_nonnegative(value.into(), &path.child(name)));
    }
    errs.extend(validate_nonnegative(
        status.observed_generation.unwrap_or(0),
        &path.child("observedGeneration"),
    ));
    const MSG: &str = "cannot be greater than status.replicas";
    for (value, name) in [
        (fully_labeled, "fullyLabeledReplicas"),
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
    errs
}

impl Kind for ReplicaSet {
    fn set_defaults(&mut self) {
        let spec = self.spec.get_or_insert_with(Default::default);
        spec.replicas.get_or_insert(1);
        default_template(spec.template.get_or_insert_with(Default::default));
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
        let default = ReplicaSetSpec::default();
        errs.extend(validate_spec(
            self.spec.as_ref().unwrap_or(&default),
            selector_present(raw),
            &FieldPath::new("spec"),
        ));
        errs
    }

    fn validate_update(&self, raw: &Value, old: &Self, old_raw: &Value) -> Errors {
        let mut errs =
            validate_object_meta_update(&self.metadata, &old.metadata, &FieldPath::new("metadata"));
        let default = ReplicaSetSpec::default();
        let spec = self.spec.as_ref().unwrap_or(&default);
        let old_spec = old.spec.as_ref().unwrap_or(&default);
        errs.extend(validate_spec(
            spec,
            selector_present(raw),
            &FieldPath::new("spec"),
        ));
        errs.extend(validate_immutable(
            if selector_present(raw) {
                json(&spec.selector)
            } else {
                Value::Null
            },
            if selector_present(old_raw) {
                json(&old_spec.selector)
            } else {
                Value::Null
            },
            &FieldPath::new("spec").child("selector"),
        ));
        if json(&self.status) != json(&old.status) {
            errs.extend(validate_status(self));
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::{assert_errors, merge};
    use super::super::{decode_and_default, validate_create, validate_update};
    use serde_json::{json, Value};

    fn replica_set(patch: Value) -> Value {
        let base = json!({
            "metadata": {"name": "web-abc", "namespace": "default"},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "nginx:1"}]}},
            },
        });
        decode_and_default("replicasets.apps", merge(&base, &patch)).unwrap()
    }

    #[test]
    fn defaults() {
        let rs = replica_set(json!({}));
        assert_eq!(rs["spec"]["replicas"], 1);
        assert_eq!(rs["spec"]["template"]["spec"]["restartPolicy"], "Always");
        assert_eq!(
            rs["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
            "IfNotPresent"
        );
        let zero = replica_set(json!({"spec": {"replicas": 0}}));
        assert_eq!(zero["spec"]["replicas"], 0);
    }

    #[test]
    fn rules() {
        let cases: Vec<(Value, Vec<(&str, &str)>)> = vec![
            (json!({}), vec![]),
            (
                json!({"spec": {"replicas": -2}}),
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
                json!({"spec": {"template": {"metadata": {"labels": {"app": "db"}}}}}),
                vec![("spec.template.metadata.labels", "FieldValueInvalid")],
            ),
            (
                json!({"spec": {"template": {"spec": {"activeDeadlineSeconds": 5}}}}),
                vec![(
                    "spec.template.spec.activeDeadlineSeconds",
                    "FieldValueForbidden",
                )],
            ),
        ];
        for (patch, want) in cases {
            assert_errors(
                &validate_create("replicasets.apps", &replica_set(patch.clone())),
                &want,
            );
        }
        let old = replica_set(json!({}));
        let changed = replica_set(
            json!({"spec": {"selector": {"matchLabels": {"app": "web", "v": "2"}},
            "template": {"metadata": {"labels": {"app": "web", "v": "2"}}}}}),
        );
        assert_errors(
            &validate_update("replicasets.apps", &changed, &old),
            &[("spec.selector", "FieldValueInvalid")],
        );
        let status = merge(
            &old,
            &json!({"status": {"replicas": 1, "availableReplicas": 1, "readyReplicas": 0}}),
        );
        assert_errors(
            &validate_update("replicasets.apps", &status, &old),
            &[("status.availableReplicas", "FieldValueInvalid")],
        );
    }
}
