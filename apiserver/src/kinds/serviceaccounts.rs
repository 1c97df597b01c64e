//! ServiceAccounts (`serviceaccounts`): `ValidateServiceAccount` and
//! `ValidateServiceAccountUpdate` (no defaults upstream).

use k8s_openapi::api::core::v1::ServiceAccount;
use serde_json::Value;
use tinykube_apimachinery::status::FieldPath;

use super::common::{
    name_is_dns_subdomain, validate_object_meta, validate_object_meta_update, Errors,
};
use super::Kind;

impl Kind for ServiceAccount {
    fn validate(&self, _raw: &Value) -> Errors {
        validate_object_meta(
            &self.metadata,
            true,
            name_is_dns_subdomain,
            &FieldPath::new("metadata"),
        )
    }

    fn validate_update(&self, raw: &Value, old: &Self, _old_raw: &Value) -> Errors {
        let mut errs =
            validate_object_meta_update(&self.metadata, &old.metadata, &FieldPath::new("metadata"));
        errs.extend(self.validate(raw));
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::assert_errors;
    use super::super::{decode_and_default, validate_create, validate_update};
    use serde_json::json;

    #[test]
    fn rules() {
        let sa = decode_and_default(
            "serviceaccounts",
            json!({"metadata": {"name": "builder", "namespace": "ci"}}),
        )
        .unwrap();
        assert_errors(&validate_create("serviceaccounts", &sa), &[]);
        let bad = json!({"metadata": {"name": "Builder", "namespace": "ci"}});
        assert_errors(
            &validate_create("serviceaccounts", &bad),
            &[("metadata.name", "FieldValueInvalid")],
        );
        let moved = json!({"metadata": {"name": "builder", "namespace": "other"}});
        assert_errors(
            &validate_update("serviceaccounts", &moved, &sa),
            &[("metadata.namespace", "FieldValueInvalid")],
        );
    }
}
