//! ConfigMaps (`configmaps`): `ValidateConfigMap` and `ValidateConfigMapUpdate`
//! (upstream's only default, an empty `data` map, is invisible on the wire).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::Value;
use tinykube_apimachinery::status::{FieldError, FieldPath};

use super::common::{
    is_config_map_key, name_is_dns_subdomain, validate_object_meta, validate_object_meta_update,
    Errors,
};
use super::secrets::MAX_SECRET_SIZE;
use super::Kind;

const IMMUTABLE_WHEN_SET: &str = "field is immutable when `immutable` is set";

fn validate_config_map(config_map: &ConfigMap) -> Errors {
    let mut errs = validate_object_meta(
        &config_map.metadata,
        true,
        name_is_dns_subdomain,
        &FieldPath::new("metadata"),
    );
    let data_path = FieldPath::new("data");
    let binary_path = FieldPath::new("binaryData");
    let empty_binary = BTreeMap::new();
    let binary = config_map.binary_data.as_ref().unwrap_or(&empty_binary);
    let mut total = 0usize;
    for (key, value) in config_map.data.iter().flatten() {
        for msg in is_config_map_key(key) {
            errs.push(FieldError::invalid(data_path.key(key), key.as_str(), msg));
        }
        if binary.contains_key(key) {
            errs.push(FieldError::invalid(
                data_path.key(key),
                key.as_str(),
                "duplicate of key present in binaryData",
            ));
        }
        total = total.saturating_add(value.len());
    }
    for (key, value) in binary {
        for msg in is_config_map_key(key) {
            errs.push(FieldError::invalid(binary_path.key(key), key.as_str(), msg));
        }
        total = total.saturating_add(value.0.len());
    }
    if total > MAX_SECRET_SIZE {
        errs.push(FieldError::too_long("", Some(MAX_SECRET_SIZE)));
    }
    errs
}

impl Kind for ConfigMap {
    fn validate(&self, _raw: &Value) -> Errors {
        validate_config_map(self)
    }

    fn validate_update(&self, _raw: &Value, old: &Self, _old_raw: &Value) -> Errors {
        let mut errs =
            validate_object_meta_update(&self.metadata, &old.metadata, &FieldPath::new("metadata"));
        if old.immutable == Some(true) {
            if self.immutable != Some(true) {
                errs.push(FieldError::forbidden(
                    FieldPath::new("immutable"),
                    IMMUTABLE_WHEN_SET,
                ));
            }
            let empty = BTreeMap::new();
            if self.data.as_ref().unwrap_or(&empty) != old.data.as_ref().unwrap_or(&empty) {
                errs.push(FieldError::forbidden(
                    FieldPath::new("data"),
                    IMMUTABLE_WHEN_SET,
                ));
            }
            let empty = BTreeMap::new();
            if self.binary_data.as_ref().unwrap_or(&empty)
                != old.binary_data.as_ref().unwrap_or(&empty)
            {
                errs.push(FieldError::forbidden(
                    FieldPath::new("binaryData"),
                    IMMUTABLE_WHEN_SET,
                ));
            }
        }
        errs.extend(validate_config_map(self));
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::{assert_errors, merge};
    use super::super::{decode_and_default, validate_create, validate_update};
    use serde_json::{json, Value};

    fn config_map(patch: Value) -> Value {
        let base =
            json!({"metadata": {"name": "cm", "namespace": "default"}, "data": {"a.conf": "x"}});
        decode_and_default("configmaps", merge(&base, &patch)).unwrap()
    }

    #[test]
    fn rules() {
        let big = "x".repeat(1_100_000);
        let cases: Vec<(Value, Vec<(&str, &str)>)> = vec![
            (json!({}), vec![]),
            (
                json!({"data": {"a/b": "x"}}),
                vec![("data[a/b]", "FieldValueInvalid")],
            ),
            (
                json!({"binaryData": {"a.conf": "eA=="}}),
                vec![("data[a.conf]", "FieldValueInvalid")],
            ),
            (
                json!({"binaryData": {"": "eA=="}}),
                vec![("binaryData[]", "FieldValueInvalid")],
            ),
            (
                json!({"data": {"big": big}}),
                vec![("", "FieldValueTooLong")],
            ),
        ];
        for (patch, want) in cases {
            assert_errors(
                &validate_create("configmaps", &config_map(patch.clone())),
                &want,
            );
        }
    }

    #[test]
    fn wrong_types() {
        let err = decode_and_default(
            "configmaps",
            json!({"metadata": {"name": "c"}, "data": {"n": 5}}),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("data[n]: invalid type: integer `5`, expected a string"),
            "{err}"
        );
        let err = decode_and_default(
            "configmaps",
            json!({"metadata": {"name": "c"}, "data": ["x"]}),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("data: invalid type: sequence, expected a map"),
            "{err}"
        );
    }

    #[test]
    fn immutability() {
        let old = config_map(json!({"immutable": true}));
        let changed = config_map(json!({"immutable": true, "data": {"a.conf": "y"}}));
        assert_errors(
            &validate_update("configmaps", &changed, &old),
            &[("data", "FieldValueForbidden")],
        );
        let mutable = config_map(json!({}));
        let changed = config_map(json!({"data": {"a.conf": "y"}}));
        assert_errors(&validate_update("configmaps", &changed, &mutable), &[]);
    }
}
