//! Namespaces (`namespaces`): `SetDefaults_Namespace` (the
//! `kubernetes.io/metadata.name` label), `SetDefaults_NamespaceStatus`, the
//! `kubernetes` finalizer the strategy adds on create, `ValidateNamespace`
//! and `ValidateNamespaceUpdate` (finalizer names are checked on every update
//! so that `/finalize` is covered).

use k8s_openapi::api::core::v1::Namespace;
use serde_json::Value;
use tinykube_apimachinery::status::{FieldError, FieldPath};

use super::common::{
    items, json, name_is_dns_label, text, validate_kube_finalizer_name, validate_object_meta,
    validate_object_meta_update, validate_qualified_name, Errors,
};
use super::Kind;

const METADATA_NAME_LABEL: &str = "kubernetes.io/metadata.name";

fn validate_spec_finalizers(namespace: &Namespace, indexed: bool) -> Errors {
    let mut errs = Vec::new();
    let path = FieldPath::new("spec").child("finalizers");
    let finalizers = namespace
        .spec
        .as_ref()
        .map(|s| items(&s.finalizers))
        .unwrap_or(&[]);
    for (i, finalizer) in finalizers.iter().enumerate() {
        let p = if indexed { path.index(i) } else { path.clone() };
        errs.extend(validate_qualified_name(finalizer, &p));
        errs.extend(validate_kube_finalizer_name(finalizer, &p));
    }
    errs
}

impl Kind for Namespace {
    fn set_defaults(&mut self) {
        let name = text(&self.metadata.name).to_string();
        if !name.is_empty() {
            self.metadata
                .labels
                .get_or_insert_with(Default::default)
                .insert(METADATA_NAME_LABEL.to_string(), name);
        }
        let status = self.status.get_or_insert_with(Default::default);
        if text(&status.phase).is_empty() {
            status.phase = Some("Active".to_string());
        }
        // The create strategy requires the `kubernetes` finalizer. A new
        // object has no uid yet; the namespace controller's later
        // `/finalize` (which carries the uid) must be able to remove it.
        let new_object =
            text(&self.metadata.uid).is_empty() && self.metadata.deletion_timestamp.is_none();
        if new_object {
            let finalizers = self
                .spec
                .get_or_insert_with(Default::default)
                .finalizers
                .get_or_insert_with(Vec::new);
            if !finalizers.iter().any(|f| f == "kubernetes") {
                finalizers.push("kubernetes".to_string());
            }
        }
    }

    fn validate(&self, _raw: &Value) -> Errors {
        let mut errs = validate_object_meta(
            &self.metadata,
            false,
            name_is_dns_label,
            &FieldPath::new("metadata"),
        );
        errs.extend(validate_spec_finalizers(self, false));
        errs
    }

    fn validate_update(&self, _raw: &Value, old: &Self, _old_raw: &Value) -> Errors {
        let mut errs =
            validate_object_meta_update(&self.metadata, &old.metadata, &FieldPath::new("metadata"));
        errs.extend(validate_spec_finalizers(self, true));
        if json(&self.status) != json(&old.status) {
            let phase = self.status.as_ref().map_or("", |s| text(&s.phase));
            let path = FieldPath::new("status").child("Phase");
            if self.metadata.deletion_timestamp.is_none() {
                if phase != "Active" {
                    errs.push(FieldError::invalid(
                        path,
                        phase,
                        "may only be 'Active' if `deletionTimestamp` is empty",
                    ));
                }
            } else if phase != "Terminating" {
                errs.push(FieldError::invalid(
                    path,
                    phase,
                    "may only be 'Terminating' if `deletionTimestamp` is not empty",
                ));
            }
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::{assert_errors, merge};
    use super::super::{decode_and_default, validate_create, validate_update};
    use serde_json::{json, Value};

    fn namespace(patch: Value) -> Value {
        decode_and_default(
            "namespaces",
            merge(&json!({"metadata": {"name": "team-a"}}), &patch),
        )
        .unwrap()
    }

    #[test]
    fn defaults() {
        let ns = namespace(json!({}));
        assert_eq!(
            ns["metadata"]["labels"],
            json!({"kubernetes.io/metadata.name": "team-a"})
        );
        assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));
        assert_eq!(ns["status"]["phase"], "Active");
        let custom = namespace(json!({"spec": {"finalizers": ["example.com/f"]}}));
        assert_eq!(
            custom["spec"]["finalizers"],
            json!(["example.com/f", "kubernetes"])
        );
        let finalized = namespace(json!({"metadata": {"uid": "1"}, "spec": {"finalizers": []}}));
        assert_eq!(finalized["spec"]["finalizers"], json!([]));
        let relabelled =
            namespace(json!({"metadata": {"labels": {"kubernetes.io/metadata.name": "other"}}}));
        assert_eq!(
            relabelled["metadata"]["labels"]["kubernetes.io/metadata.name"],
            "team-a"
        );
    }

    #[test]
    fn rules() {
        let cases: Vec<(Value, Vec<(&str, &str)>)> = vec![
            (json!({}), vec![]),
            (
                json!({"metadata": {"name": "team.a"}}),
                vec![("metadata.name", "FieldValueInvalid")],
            ),
            (
                json!({"metadata": {"name": "a".repeat(64)}}),
                vec![
                    ("metadata.name", "FieldValueInvalid"),
                    ("metadata.labels", "FieldValueInvalid"),
                ],
            ),
            (
                json!({"metadata": {"namespace": "x"}}),
                vec![("metadata.namespace", "FieldValueForbidden")],
            ),
            (
                json!({"spec": {"finalizers": ["custom"]}}),
                vec![("spec.finalizers", "FieldValueInvalid")],
            ),
        ];
        for (patch, want) in cases {
            assert_errors(
                &validate_create("namespaces", &namespace(patch.clone())),
                &want,
            );
        }
        let old = namespace(json!({"metadata": {"uid": "1"}}));
        let terminating = merge(&old, &json!({"status": {"phase": "Terminating"}}));
        assert_errors(
            &validate_update("namespaces", &terminating, &old),
            &[("status.Phase", "FieldValueInvalid")],
        );
        let renamed = merge(&old, &json!({"metadata": {"name": "team-b"}}));
        assert_errors(
            &validate_update("namespaces", &renamed, &old),
            &[("metadata.name", "FieldValueInvalid")],
        );
    }
}
