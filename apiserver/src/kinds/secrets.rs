//! Secrets (`secrets`): the v1 conversion of `stringData` into `data`,
//! `SetDefaults_Secret`, `ValidateSecret` and `ValidateSecretUpdate`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;
use serde_json::Value;
use tinykube_apimachinery::status::{FieldError, FieldPath};

use super::common::{
    default_str, is_config_map_key, json, name_is_dns_subdomain, text, validate_immutable,
    validate_object_meta, validate_object_meta_update, Errors,
};
use super::Kind;

/// Upstream `MaxSecretSize` (also the ConfigMap limit).
pub(super) const MAX_SECRET_SIZE: usize = 1024 * 1024;
const IMMUTABLE_WHEN_SET: &str = "field is immutable when `immutable` is set";

fn validate_json_object(
    data: &BTreeMap<String, ByteString>,
    key: &str,
    path: &FieldPath,
) -> Errors {
    match data.get(key) {
        None => vec![FieldError::required(path.key(key), "")],
        Some(bytes) => {
            match serde_json::from_slice::<Option<serde_json::Map<String, Value>>>(&bytes.0) {
                Ok(_) => Vec::new(),
                Err(e) => vec![FieldError::invalid(
                    path.key(key),
                    "<secret contents redacted>",
                    e.to_string(),
                )],
            }
        }
    }
}

fn validate_secret(secret: &Secret) -> Errors {
    let meta_path = FieldPath::new("metadata");
    let data_path = FieldPath::new("data");
    let mut errs = validate_object_meta(&secret.metadata, true, name_is_dns_subdomain, &meta_path);
    let empty = BTreeMap::new();
    let data = secret.data.as_ref().unwrap_or(&empty);
    let mut total = 0usize;
    for (key, value) in data {
        for msg in is_config_map_key(key) {
            errs.push(FieldError::invalid(data_path.key(key), key.as_str(), msg));
        }
        total = total.saturating_add(value.0.len());
    }
    if total > MAX_SECRET_SIZE {
        errs.push(FieldError::too_long(&data_path, Some(MAX_SECRET_SIZE)));
    }
    match text(&secret.type_) {
        "kubernetes.io/service-account-token" => {
            const KEY: &str = "kubernetes.io/service-account.name";
            let name = secret
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(KEY));
            if name.is_none_or(|n| n.is_empty()) {
                errs.push(FieldError::required(
                    meta_path.child("annotations").key(KEY),
                    "",
                ));
            }
        }
        "kubernetes.io/dockercfg" => {
            errs.extend(validate_json_object(data, ".dockercfg", &data_path))
        }
        "kubernetes.io/dockerconfigjson" => {
            errs.extend(validate_json_object(data, ".dockerconfigjson", &data_path))
        }
        "kubernetes.io/basic-auth"
            if !data.contains_key("username") && !data.contains_key("password") =>
        {
            errs.push(FieldError::required(data_path.key("username"), ""));
            errs.push(FieldError::required(data_path.key("password"), ""));
        }
        "kubernetes.io/ssh-auth" if data.get("ssh-privatekey").is_none_or(|v| v.0.is_empty()) => {
            errs.push(FieldError::required(data_path.key("ssh-privatekey"), ""));
        }
        "kubernetes.io/tls" => {
            for key in ["tls.crt", "tls.key"] {
                if !data.contains_key(key) {
                    errs.push(FieldError::required(data_path.key(key), ""));
                }
            }
        }
        _ => {}
    }
    errs
}

impl Kind for Secret {
    fn set_defaults(&mut self) {
        if let Some(string_data) = self.string_data.take() {
            if !string_data.is_empty() {
                let data = self.data.get_or_insert_with(BTreeMap::new);
                for (key, value) in string_data {
                    data.insert(key, ByteString(value.into_bytes()));
                }
            }
        }
        default_str(&mut self.type_, "Opaque");
    }

    fn validate(&self, _raw: &Value) -> Errors {
        validate_secret(self)
    }

    fn validate_update(&self, _raw: &Value, old: &Self, _old_raw: &Value) -> Errors {
        let mut errs =
            validate_object_meta_update(&self.metadata, &old.metadata, &FieldPath::new("metadata"));
        errs.extend(validate_immutable(
            json(&self.type_),
            json(&old.type_),
            &FieldPath::new("type"),
        ));
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
        }
        errs.extend(validate_secret(self));
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::{assert_errors, merge};
    use super::super::{decode_and_default, validate_create, validate_update};
    use serde_json::{json, Value};

    fn secret(patch: Value) -> Value {
        let base =
            json!({"metadata": {"name": "s", "namespace": "default"}, "data": {"a": "YQ=="}});
        decode_and_default("secrets", merge(&base, &patch)).unwrap()
    }

    #[test]
    fn defaults_and_string_data() {
        let s = secret(json!({"stringData": {"b": "hello", "a": "override"}}));
        assert_eq!(s["type"], "Opaque");
        assert_eq!(s["data"], json!({"a": "b3ZlcnJpZGU=", "b": "aGVsbG8="}));
        assert!(s.get("stringData").is_none());
        let err = decode_and_default(
            "secrets",
            json!({"metadata": {"name": "s"}, "data": {"a": "%%%"}}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("data[a]: "), "{err}");
    }

    #[test]
    fn rules() {
        let big = "A".repeat(1_400_000);
        let cases: Vec<(Value, Vec<(&str, &str)>)> = vec![
            (json!({}), vec![]),
            (
                json!({"data": {"bad key": "YQ=="}}),
                vec![("data[bad key]", "FieldValueInvalid")],
            ),
            (
                json!({"data": {"..": "YQ=="}}),
                vec![("data[..]", "FieldValueInvalid")],
            ),
            (
                json!({"data": {"big": big}}),
                vec![("data", "FieldValueTooLong")],
            ),
            (
                json!({"type": "kubernetes.io/tls"}),
                vec![
                    ("data[tls.crt]", "FieldValueRequired"),
                    ("data[tls.key]", "FieldValueRequired"),
                ],
            ),
            (
                json!({"type": "kubernetes.io/service-account-token"}),
                vec![(
                    "metadata.annotations[kubernetes.io/service-account.name]",
                    "FieldValueRequired",
                )],
            ),
            (
                json!({"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "bm90IGpzb24="}}),
                vec![("data[.dockerconfigjson]", "FieldValueInvalid")],
            ),
            (
                json!({"metadata": {"name": "S"}}),
                vec![("metadata.name", "FieldValueInvalid")],
            ),
        ];
        for (patch, want) in cases {
            assert_errors(&validate_create("secrets", &secret(patch.clone())), &want);
        }
    }

    #[test]
    fn immutability() {
        let old = secret(json!({"immutable": true}));
        let changed = secret(json!({"immutable": true, "data": {"a": "Yg=="}}));
        assert_errors(
            &validate_update("secrets", &changed, &old),
            &[("data", "FieldValueForbidden")],
        );
        let unlocked = secret(json!({"immutable": false}));
        assert_errors(
            &validate_update("secrets", &unlocked, &old),
            &[("immutable", "FieldValueForbidden")],
        );
        let retyped = secret(json!({"type": "example.com/custom"}));
        assert_errors(
            &validate_update("secrets", &retyped, &secret(json!({}))),
            &[("type", "FieldValueInvalid")],
        );
        let relabelled = secret(json!({"immutable": true, "metadata": {"labels": {"a": "b"}}}));
        assert_errors(&validate_update("secrets", &relabelled, &old), &[]);
    }
}
