//! Leases (`leases.coordination.k8s.io`): `ValidateLease` and
//! `ValidateLeaseUpdate` (no defaults upstream).

use k8s_openapi::api::coordination::v1::Lease;
use serde_json::Value;
use tinykube_apimachinery::status::{FieldError, FieldPath};

use super::common::{
    name_is_dns_subdomain, validate_object_meta, validate_object_meta_update, Errors,
};
use super::Kind;

fn validate_spec(lease: &Lease) -> Errors {
    let mut errs = Vec::new();
    let Some(spec) = &lease.spec else {
        return errs;
    };
    let path = FieldPath::new("spec");
    if let Some(duration) = spec.lease_duration_seconds {
        if duration <= 0 {
            errs.push(FieldError::invalid(
                path.child("leaseDurationSeconds"),
                duration,
                "must be greater than 0",
            ));
        }
    }
    if let Some(transitions) = spec.lease_transitions {
        if transitions < 0 {
            errs.push(FieldError::invalid(
                path.child("leaseTransitions"),
                transitions,
                "must be greater than or equal to 0",
            ));
        }
    }
    if let Some(strategy) = &spec.strategy {
        if strategy != "OldestEmulationVersion" {
            errs.push(FieldError::not_supported(
                path.child("strategy"),
                strategy.as_str(),
                &["OldestEmulationVersion"],
            ));
        }
    }
    if spec.preferred_holder.is_some() && spec.strategy.is_none() {
        errs.push(FieldError::forbidden(
            path.child("preferredHolder"),
            "may only be specified if `strategy` is defined",
        ));
    }
    errs
}

impl Kind for Lease {
    fn validate(&self, _raw: &Value) -> Errors {
        let mut errs = validate_object_meta(
            &self.metadata,
            true,
            name_is_dns_subdomain,
            &FieldPath::new("metadata"),
        );
        errs.extend(validate_spec(self));
        errs
    }

    fn validate_update(&self, _raw: &Value, old: &Self, _old_raw: &Value) -> Errors {
        let mut errs =
            validate_object_meta_update(&self.metadata, &old.metadata, &FieldPath::new("metadata"));
        errs.extend(validate_spec(self));
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::{assert_errors, merge};
    use super::super::{decode_and_default, validate_create, validate_update};
    use serde_json::{json, Value};

    fn lease(patch: Value) -> Value {
        let base = json!({"metadata": {"name": "kube-scheduler", "namespace": "kube-system"},
            "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15, "renewTime": "2024-01-01T00:00:00.123456Z"}});
        decode_and_default("leases.coordination.k8s.io", merge(&base, &patch)).unwrap()
    }

    #[test]
    fn rules() {
        assert_eq!(
            lease(json!({}))["spec"]["renewTime"],
            "2024-01-01T00:00:00.123456Z"
        );
        let cases: Vec<(Value, Vec<(&str, &str)>)> = vec![
            (json!({}), vec![]),
            (
                json!({"spec": {"leaseDurationSeconds": 0}}),
                vec![("spec.leaseDurationSeconds", "FieldValueInvalid")],
            ),
            (
                json!({"spec": {"leaseTransitions": -1}}),
                vec![("spec.leaseTransitions", "FieldValueInvalid")],
            ),
            (
                json!({"metadata": {"namespace": null}}),
                vec![("metadata.namespace", "FieldValueRequired")],
            ),
        ];
        for (patch, want) in cases {
            assert_errors(
                &validate_create("leases.coordination.k8s.io", &lease(patch.clone())),
                &want,
            );
        }
        let old = lease(json!({}));
        let renewed = lease(json!({"spec": {"holderIdentity": "b", "leaseTransitions": 1}}));
        assert_errors(
            &validate_update("leases.coordination.k8s.io", &renewed, &old),
            &[],
        );
        let err = decode_and_default(
            "leases.coordination.k8s.io",
            json!({"metadata": {"name": "l"}, "spec": {"renewTime": "soon"}}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("spec.renewTime"), "{err}");
    }
}
