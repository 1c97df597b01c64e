//! Validation shared by every kind: object names, `ObjectMeta` (upstream
//! `apimachinery/pkg/api/validation/objectmeta.go` plus core's finalizer
//! rule), label selectors, config keys and IP addresses.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use serde::Serialize;
use serde_json::Value;
use tinykube_apimachinery::status::{FieldError, FieldPath};
use tinykube_apimachinery::validation::{
    is_dns1035_label, is_dns1123_label, is_dns1123_subdomain, is_qualified_name,
    is_valid_label_value, max_len_error, regex_error,
};

pub(super) type Errors = Vec<FieldError>;

/// A name check: `(name, prefix)` -> problems; `prefix` is true for
/// `generateName`, whose trailing dash is allowed.
pub(super) type NameFn = fn(&str, bool) -> Vec<String>;

/// Upstream's `FieldImmutableErrorMsg`.
pub(super) const FIELD_IMMUTABLE: &str = "field is immutable";
/// Upstream's `IsNegativeErrorMsg`.
pub(super) const IS_NEGATIVE: &str = "must be greater than or equal to 0";
/// Upstream's `TotalAnnotationSizeLimitB`.
const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// The JSON form of a value, for echoing it in an error.
pub(super) fn json<T: Serialize + ?Sized>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// `Some("x")` -> `"x"`, `None` -> `""` (Go's zero value).
pub(super) fn text(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("")
}

/// `Some(list)` -> `list`, `None` -> `[]`.
pub(super) fn items<T>(value: &Option<Vec<T>>) -> &[T] {
    value.as_deref().unwrap_or(&[])
}

/// Sets an unset or empty string field to `default`.
pub(super) fn default_str(field: &mut Option<String>, default: &str) {
    if field.as_deref().is_none_or(str::is_empty) {
        *field = Some(default.to_string());
    }
}

/// An empty map for absent label sets.
pub(super) fn no_labels() -> &'static BTreeMap<String, String> {
    static EMPTY: BTreeMap<String, String> = BTreeMap::new();
    &EMPTY
}

/// Go's `%#v` of a `[]string`: `[]string{"a", "b"}`.
pub(super) fn go_string_slice<S: AsRef<str>>(values: &[S]) -> String {
    let quoted: Vec<String> = values
        .iter()
        .map(|v| tinykube_apimachinery::status::quote(v.as_ref()))
        .collect();
    format!("[]string{{{}}}", quoted.join(", "))
}

/// Upstream `maskTrailingDash`: `web-` -> `wea` (byte-wise, as Go slices
/// strings; a cut through a multi-byte character leaves an invalid name).
fn mask_trailing_dash(name: &str) -> String {
    let bytes = name.as_bytes();
    if bytes.len() > 1 && bytes[bytes.len() - 1] == b'-' {
        let mut masked = bytes[..bytes.len() - 2].to_vec();
        masked.push(b'a');
        String::from_utf8_lossy(&masked).into_owned()
    } else {
        name.to_string()
    }
}

/// Upstream `NameIsDNSSubdomain`: most object names.
pub(super) fn name_is_dns_subdomain(name: &str, prefix: bool) -> Vec<String> {
    if prefix {
        is_dns1123_subdomain(&mask_trailing_dash(name))
    } else {
        is_dns1123_subdomain(name)
    }
}

/// Upstream `NameIsDNSLabel`: namespace names.
pub(super) fn name_is_dns_label(name: &str, prefix: bool) -> Vec<String> {
    if prefix {
        is_dns1123_label(&mask_trailing_dash(name))
    } else {
        is_dns1123_label(name)
    }
}

/// Upstream `NameIsDNS1035Label`: Service names.
pub(super) fn name_is_dns1035_label(name: &str, prefix: bool) -> Vec<String> {
    if prefix {
        is_dns1035_label(&mask_trailing_dash(name))
    } else {
        is_dns1035_label(name)
    }
}

/// One `Invalid` error per message.
pub(super) fn invalid_each(path: &FieldPath, value: &str, messages: Vec<String>) -> Errors {
    messages
        .into_iter()
        .map(|msg| FieldError::invalid(path, value, msg))
        .collect()
}

pub(super) fn validate_dns1123_label(value: &str, path: &FieldPath) -> Errors {
    invalid_each(path, value, is_dns1123_label(value))
}

pub(super) fn validate_dns1123_subdomain(value: &str, path: &FieldPath) -> Errors {
    invalid_each(path, value, is_dns1123_subdomain(value))
}

pub(super) fn validate_qualified_name(value: &str, path: &FieldPath) -> Errors {
    invalid_each(path, value, is_qualified_name(value))
}

/// Upstream `ValidateLabelName`.
pub(super) fn validate_label_name(name: &str, path: &FieldPath) -> Errors {
    validate_qualified_name(name, path)
}

/// Upstream `ValidateNonnegativeField`.
pub(super) fn validate_nonnegative(value: i64, path: &FieldPath) -> Errors {
    if value < 0 {
        vec![FieldError::invalid(path, value, IS_NEGATIVE)]
    } else {
        Vec::new()
    }
}

/// Upstream `ValidateImmutableField`: `Invalid value: <new>: field is immutable`.
pub(super) fn validate_immutable(new: Value, old: Value, path: &FieldPath) -> Errors {
    if new == old {
        Vec::new()
    } else {
        vec![FieldError::invalid(path, new, FIELD_IMMUTABLE)]
    }
}

/// Upstream `ValidateLabels`: keys are qualified names, values label values.
pub(super) fn validate_labels(
    labels: Option<&BTreeMap<String, String>>,
    path: &FieldPath,
) -> Errors {
    let mut errs = Vec::new();
    for (key, value) in labels.into_iter().flatten() {
        errs.extend(validate_label_name(key, path));
        errs.extend(invalid_each(path, value, is_valid_label_value(value)));
    }
    errs
}

/// Upstream `ValidateAnnotations`: keys are (case-insensitive) qualified
/// names and all of them together fit in 256 KiB.
pub(super) fn validate_annotations(
    annotations: Option<&BTreeMap<String, String>>,
    path: &FieldPath,
) -> Errors {
    let mut errs = Vec::new();
    let mut total = 0usize;
    for (key, value) in annotations.into_iter().flatten() {
        for msg in is_qualified_name(&key.to_lowercase()) {
            errs.push(FieldError::invalid(path, key.as_str(), msg));
        }
        total = total.saturating_add(key.len()).saturating_add(value.len());
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(FieldError::too_long(
            path,
            Some(TOTAL_ANNOTATION_SIZE_LIMIT),
        ));
    }
    errs
}

/// `group/version` or `version` -> (group, version); anything with more
/// slashes has no version, as upstream `ParseGroupVersion` fails on it.
fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split('/').collect::<Vec<_>>().as_slice() {
        [version] => ("", version),
        [group, version] => (group, version),
        _ => ("", ""),
    }
}

fn validate_owner_reference(reference: &OwnerReference, path: &FieldPath) -> Errors {
    let mut errs = Vec::new();
    let (group, version) = split_api_version(&reference.api_version);
    if version.is_empty() {
        errs.push(FieldError::invalid(
            path.child("apiVersion"),
            reference.api_version.as_str(),
            "version must not be empty",
        ));
    }
    if reference.kind.is_empty() {
        errs.push(FieldError::invalid(
            path.child("kind"),
            "",
            "must not be empty",
        ));
    }
    if reference.name.is_empty() {
        errs.push(FieldError::invalid(
            path.child("name"),
            "",
            "must not be empty",
        ));
    }
    if reference.uid.is_empty() {
        errs.push(FieldError::invalid(
            path.child("uid"),
            "",
            "must not be empty",
        ));
    }
    if group.is_empty() && version == "v1" && reference.kind == "Event" {
        errs.push(FieldError::invalid(
            path,
            json(reference),
            "/v1, Kind=Event is disallowed from being an owner",
        ));
    }
    errs
}

/// Upstream `ValidateOwnerReferences`.
pub(super) fn validate_owner_references(references: &[OwnerReference], path: &FieldPath) -> Errors {
    let mut errs = Vec::new();
    let mut first_controller: Option<String> = None;
    for reference in references {
        errs.extend(validate_owner_reference(reference, path));
        if reference.controller == Some(true) {
            let current = format!("{}/{}", reference.kind, reference.name);
            match &first_controller {
                Some(first) => errs.push(FieldError::invalid(
                    path,
                    json(references),
                    format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first} and {current}"
                    ),
                )),
                None => first_controller = Some(current),
            }
        }
    }
    errs
}

/// Upstream (apimachinery) `ValidateFinalizers`.
pub(super) fn validate_finalizers(finalizers: &[String], path: &FieldPath) -> Errors {
    let mut errs = Vec::new();
    for finalizer in finalizers {
        errs.extend(validate_qualified_name(finalizer, path));
    }
    let has = |name: &str| finalizers.iter().any(|f| f == name);
    if has("orphan") && has("foregroundDeletion") {
        errs.push(FieldError::invalid(
            path,
            json(finalizers),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
    errs
}

/// Core's `validateKubeFinalizerName`: an unqualified finalizer must be one
/// of the standard ones.
pub(super) fn validate_kube_finalizer_name(name: &str, path: &FieldPath) -> Errors {
    const STANDARD: [&str; 3] = ["kubernetes", "orphan", "foregroundDeletion"];
    if !name.contains('/') && !STANDARD.contains(&name) {
        vec![FieldError::invalid(
            path,
            name,
            "name is neither a standard finalizer name nor is it fully qualified",
        )]
    } else {
        Vec::new()
    }
}

fn validate_meta_common(meta: &ObjectMeta, namespaced: bool, path: &FieldPath) -> Errors {
    let mut errs = Vec::new();
    let namespace = text(&meta.namespace);
    if namespaced {
        if namespace.is_empty() {
            errs.push(FieldError::required(path.child("namespace"), ""));
        } else {
            errs.extend(invalid_each(
                &path.child("namespace"),
                namespace,
                name_is_dns_label(namespace, false),
            ));
        }
    } else if !namespace.is_empty() {
        errs.push(FieldError::forbidden(
            path.child("namespace"),
            "not allowed on this type",
        ));
    }
    errs.extend(validate_nonnegative(
        meta.generation.unwrap_or(0),
        &path.child("generation"),
    ));
    errs.extend(validate_meta_contents(meta, path));
    errs
}

/// The checks create and update share: labels, annotations, owner references and
/// finalizers (each also checked as a core finalizer name).
fn validate_meta_contents(meta: &ObjectMeta, path: &FieldPath) -> Errors {
    let mut errs = validate_labels(meta.labels.as_ref(), &path.child("labels"));
    errs.extend(validate_annotations(
        meta.annotations.as_ref(),
        &path.child("annotations"),
    ));
    errs.extend(validate_owner_references(
        items(&meta.owner_references),
        &path.child("ownerReferences"),
    ));
    let finalizers = items(&meta.finalizers);
    errs.extend(validate_finalizers(finalizers, &path.child("finalizers")));
    for (i, finalizer) in finalizers.iter().enumerate() {
        errs.extend(validate_kube_finalizer_name(
            finalizer,
            &path.child("finalizers").index(i),
        ));
    }
    errs
}

/// Upstream `ValidateObjectMeta` (core flavour): `name` or `generateName`,
/// the name format, the namespace, labels, annotations, owner references and
/// finalizers.
pub(super) fn validate_object_meta(
    meta: &ObjectMeta,
    namespaced: bool,
    name_fn: NameFn,
    path: &FieldPath,
) -> Errors {
    let mut errs = Vec::new();
    let generate_name = text(&meta.generate_name);
    if !generate_name.is_empty() {
        errs.extend(invalid_each(
            &path.child("generateName"),
            generate_name,
            name_fn(generate_name, true),
        ));
    }
    let name = text(&meta.name);
    if name.is_empty() {
        errs.push(FieldError::required(
            path.child("name"),
            "name or generateName is required",
        ));
    } else {
        errs.extend(invalid_each(
            &path.child("name"),
            name,
            name_fn(name, false),
        ));
    }
    errs.extend(validate_meta_common(meta, namespaced, path));
    errs
}

/// Upstream `ValidateObjectMetaUpdate` (core flavour). The resourceVersion
/// check is left to the storage layer, which allows unconditional updates.
pub(super) fn validate_object_meta_update(
    new: &ObjectMeta,
    old: &ObjectMeta,
    path: &FieldPath,
) -> Errors {
    let mut errs = Vec::new();
    if old.deletion_timestamp.is_some() {
        let old_finalizers: BTreeSet<&String> = items(&old.finalizers).iter().collect();
        let extra: BTreeSet<&String> = items(&new.finalizers)
            .iter()
            .filter(|f| !old_finalizers.contains(f))
            .collect();
        if !extra.is_empty() {
            let extra: Vec<&String> = extra.into_iter().collect();
            errs.push(FieldError::forbidden(
                path.child("finalizers"),
                format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers {}",
                    go_string_slice(&extra)
                ),
            ));
        }
    }
    let (new_generation, old_generation) =
        (new.generation.unwrap_or(0), old.generation.unwrap_or(0));
    if new_generation < old_generation {
        errs.push(FieldError::invalid(
            path.child("generation"),
            new_generation,
            "must not be decremented",
        ));
    }
    let fields: [(&str, Value, Value); 6] = [
        ("name", json(&new.name), json(&old.name)),
        ("namespace", json(&new.namespace), json(&old.namespace)),
        ("uid", json(&new.uid), json(&old.uid)),
        (
            "creationTimestamp",
            json(&new.creation_timestamp),
            json(&old.creation_timestamp),
        ),
        (
            "deletionTimestamp",
            json(&new.deletion_timestamp),
            json(&old.deletion_timestamp),
        ),
        (
            "deletionGracePeriodSeconds",
            json(&new.deletion_grace_period_seconds),
            json(&old.deletion_grace_period_seconds),
        ),
    ];
    for (field, new_value, old_value) in fields {
        // An absent string and an empty one are the same to Go.
        let normalize = |v: Value| {
            if v == Value::String(String::new()) {
                Value::Null
            } else {
                v
            }
        };
        errs.extend(validate_immutable(
            normalize(new_value),
            normalize(old_value),
            &path.child(field),
        ));
    }
    errs.extend(validate_meta_contents(new, path));
    errs
}

/// Upstream `ValidateLabelSelector` (strict label values).
pub(super) fn validate_label_selector(selector: &LabelSelector, path: &FieldPath) -> Errors {
    let mut errs = validate_labels(selector.match_labels.as_ref(), &path.child("matchLabels"));
    for (i, expr) in items(&selector.match_expressions).iter().enumerate() {
        let path = path.child("matchExpressions").index(i);
        let values = items(&expr.values);
        match expr.operator.as_str() {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errs.push(FieldError::required(
                        path.child("values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errs.push(FieldError::forbidden(
                        path.child("values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            other => errs.push(FieldError::invalid(
                path.child("operator"),
                other,
                "not a valid selector operator",
            )),
        }
        errs.extend(validate_label_name(&expr.key, &path.child("key")));
        for (j, value) in values.iter().enumerate() {
            errs.extend(invalid_each(
                &path.child("values").index(j),
                value,
                is_valid_label_value(value),
            ));
        }
    }
    errs
}

/// Upstream `IsConfigMapKey`: the keys of Secret and ConfigMap data.
pub(super) fn is_config_map_key(key: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if key.len() > 253 {
        errs.push(max_len_error(253));
    }
    let valid_chars = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !valid_chars {
        errs.push(regex_error(
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
            "[-._a-zA-Z0-9]+",
            &["key.name", "KEY_NAME", "key-name"],
        ));
    }
    if key == "." {
        errs.push("must not be '.'".to_string());
    } else if key == ".." {
        errs.push("must not be '..'".to_string());
    } else if key.starts_with("..") {
        errs.push("must not start with '..'".to_string());
    }
    errs
}

/// Parses an IP address as Go's `netutils.ParseIPSloppy` does: IPv4 octets
/// may carry leading zeros (read as decimal).
pub(super) fn parse_ip_sloppy(value: &str) -> Option<IpAddr> {
    if let Ok(ip) = value.parse::<IpAddr>() {
        return Some(ip);
    }
    let parts: Vec<&str> = value.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut octets = [0u8; 4];
    for (octet, part) in octets.iter_mut().zip(parts) {
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *octet = part.parse().ok()?;
    }
    Some(IpAddr::V4(Ipv4Addr::from(octets)))
}

/// Upstream `IsValidIP`.
pub(super) fn is_valid_ip(path: &FieldPath, value: &str) -> Errors {
    if parse_ip_sloppy(value).is_some() {
        Vec::new()
    } else {
        vec![FieldError::invalid(
            path,
            value,
            "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
        )]
    }
}

/// Parses `ip/prefix`.
pub(super) fn parse_cidr(value: &str) -> Option<(IpAddr, u8)> {
    let (ip, prefix) = value.split_once('/')?;
    let ip = parse_ip_sloppy(ip)?;
    if prefix.is_empty() || prefix.len() > 3 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let prefix: u8 = prefix.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (prefix <= max).then_some((ip, prefix))
}

/// Upstream `IsValidCIDR`.
pub(super) fn is_valid_cidr(path: &FieldPath, value: &str) -> Errors {
    if parse_cidr(value).is_some() {
        Vec::new()
    } else {
        vec![FieldError::invalid(
            path,
            value,
            "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
        )]
    }
}

/// Upstream `ValidateNonSpecialIP`: no unspecified, loopback or link-local
/// addresses for endpoints and external IPs.
pub(super) fn validate_non_special_ip(value: &str, path: &FieldPath) -> Errors {
    let Some(ip) = parse_ip_sloppy(value) else {
        return vec![FieldError::invalid(
            path,
            value,
            "must be a valid IP address",
        )];
    };
    let mut errs = Vec::new();
    let (unspecified, loopback, link_local, link_local_multicast) = match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            (
                v4.is_unspecified(),
                v4.is_loopback(),
                o[0] == 169 && o[1] == 254,
                o[0] == 224 && o[1] == 0 && o[2] == 0,
            )
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            match v6.to_ipv4_mapped() {
                Some(v4) => {
                    let o = v4.octets();
                    (
                        v4.is_unspecified(),
                        v4.is_loopback(),
                        o[0] == 169 && o[1] == 254,
                        o[0] == 224 && o[1] == 0 && o[2] == 0,
                    )
                }
                None => (
                    v6.is_unspecified(),
                    v6.is_loopback(),
                    (s[0] & 0xffc0) == 0xfe80,
                    (s[0] & 0xff0f) == 0xff02,
                ),
            }
        }
    };
    if unspecified {
        errs.push(FieldError::invalid(
            path,
            value,
            format!("may not be unspecified ({value})"),
        ));
    }
    if loopback {
        errs.push(FieldError::invalid(
            path,
            value,
            "may not be in the loopback range (127.0.0.0/8, ::1/128)",
        ));
    }
    if link_local {
        errs.push(FieldError::invalid(
            path,
            value,
            "may not be in the link-local range (169.254.0.0/16, fe80::/10)",
        ));
    }
    if link_local_multicast {
        errs.push(FieldError::invalid(
            path,
            value,
            "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)",
        ));
    }
    errs
}

#[cfg(test)]
pub(super) mod testing {
    //! Helpers for the per-kind tests.

    use super::*;

    /// Asserts that exactly the listed `(field, reason)` errors occur, in any order.
    #[track_caller]
    pub fn assert_errors(errs: &[FieldError], want: &[(&str, &str)]) {
        let mut got: Vec<(String, String)> = errs
            .iter()
            .map(|e| (e.field.clone(), e.kind.reason().to_string()))
            .collect();
        let mut want: Vec<(String, String)> = want
            .iter()
            .map(|(f, r)| (f.to_string(), r.to_string()))
            .collect();
        got.sort();
        want.sort();
        assert_eq!(
            got,
            want,
            "errors: {:#?}",
            errs.iter().map(|e| e.to_string()).collect::<Vec<_>>()
        );
    }

    /// Deep-merges `patch` into `base` (objects merge, everything else replaces,
    /// `null` deletes).
    pub fn merge(base: &Value, patch: &Value) -> Value {
        match (base, patch) {
            (Value::Object(b), Value::Object(p)) => {
                let mut out = b.clone();
                for (k, v) in p {
                    if v.is_null() {
                        out.remove(k);
                    } else {
                        let merged = match out.get(k) {
                            Some(existing) => merge(existing, v),
                            None => v.clone(),
                        };
                        out.insert(k.clone(), merged);
                    }
                }
                Value::Object(out)
            }
            (_, p) => p.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::assert_errors;
    use super::*;
    use serde_json::json;

    fn meta(value: Value) -> ObjectMeta {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn object_meta_rules() {
        let path = FieldPath::new("metadata");
        type Case = (Value, bool, Vec<(&'static str, &'static str)>);
        let cases: Vec<Case> = vec![
            (json!({"name": "web", "namespace": "default"}), true, vec![]),
            (
                json!({"namespace": "default"}),
                true,
                vec![("metadata.name", "FieldValueRequired")],
            ),
            (
                json!({"name": "web"}),
                true,
                vec![("metadata.namespace", "FieldValueRequired")],
            ),
            (
                json!({"name": "web", "namespace": "Bad_NS"}),
                true,
                vec![("metadata.namespace", "FieldValueInvalid")],
            ),
            (
                json!({"name": "web", "namespace": "default"}),
                false,
                vec![("metadata.namespace", "FieldValueForbidden")],
            ),
            (
                json!({"name": "Web"}),
                false,
                vec![("metadata.name", "FieldValueInvalid")],
            ),
            (
                json!({"name": "wéb"}),
                false,
                vec![("metadata.name", "FieldValueInvalid")],
            ),
            (
                json!({"name": "web-abcde", "generateName": "web-"}),
                false,
                vec![],
            ),
            (
                json!({"name": "x", "generateName": "Web-"}),
                false,
                vec![("metadata.generateName", "FieldValueInvalid")],
            ),
            (
                json!({"name": "x", "labels": {"app": "a b", "-bad": "ok"}}),
                false,
                vec![
                    ("metadata.labels", "FieldValueInvalid"),
                    ("metadata.labels", "FieldValueInvalid"),
                ],
            ),
            (
                json!({"name": "x", "annotations": {"Example.com/Key": "ok", "a b": "x"}}),
                false,
                vec![("metadata.annotations", "FieldValueInvalid")],
            ),
            (
                json!({"name": "x", "finalizers": ["example.com/f", "kubernetes", "custom"]}),
                false,
                vec![("metadata.finalizers[2]", "FieldValueInvalid")],
            ),
            (
                json!({"name": "x", "generation": -1}),
                false,
                vec![("metadata.generation", "FieldValueInvalid")],
            ),
            (
                json!({"name": "x", "ownerReferences": [
                    {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "r", "uid": "1", "controller": true},
                    {"apiVersion": "", "kind": "", "name": "", "uid": "", "controller": true},
                ]}),
                false,
                vec![
                    ("metadata.ownerReferences.apiVersion", "FieldValueInvalid"),
                    ("metadata.ownerReferences.kind", "FieldValueInvalid"),
                    ("metadata.ownerReferences.name", "FieldValueInvalid"),
                    ("metadata.ownerReferences.uid", "FieldValueInvalid"),
                    ("metadata.ownerReferences", "FieldValueInvalid"),
                ],
            ),
        ];
        for (value, namespaced, want) in cases {
            let errs = validate_object_meta(
                &meta(value.clone()),
                namespaced,
                name_is_dns_subdomain,
                &path,
            );
            assert_errors(&errs, &want);
        }
    }

    #[test]
    fn annotation_size_limit() {
        let big = "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT);
        let errs = validate_annotations(
            Some(&BTreeMap::from([("k".to_string(), big)])),
            &FieldPath::new("metadata").child("annotations"),
        );
        assert_eq!(errs.len(), 1);
        assert_eq!(
            errs[0].to_string(),
            "metadata.annotations: Too long: may not be more than 262144 bytes"
        );
    }

    #[test]
    fn object_meta_update_rules() {
        let path = FieldPath::new("metadata");
        let old = meta(
            json!({"name": "a", "namespace": "ns", "uid": "1", "generation": 3,
            "creationTimestamp": "2024-01-01T00:00:00Z"}),
        );
        let ok = meta(
            json!({"name": "a", "namespace": "ns", "uid": "1", "generation": 3,
            "creationTimestamp": "2024-01-01T00:00:00Z", "labels": {"x": "y"}}),
        );
        assert_errors(&validate_object_meta_update(&ok, &old, &path), &[]);
        let bad = meta(json!({"name": "b", "namespace": "other", "uid": "2", "generation": 2}));
        let errs = validate_object_meta_update(&bad, &old, &path);
        assert_errors(
            &errs,
            &[
                ("metadata.name", "FieldValueInvalid"),
                ("metadata.namespace", "FieldValueInvalid"),
                ("metadata.uid", "FieldValueInvalid"),
                ("metadata.creationTimestamp", "FieldValueInvalid"),
                ("metadata.generation", "FieldValueInvalid"),
            ],
        );
        assert_eq!(
            errs[1].to_string(),
            "metadata.name: Invalid value: \"b\": field is immutable"
        );

        let deleting = meta(
            json!({"name": "a", "deletionTimestamp": "2024-01-01T00:00:00Z", "finalizers": ["a.io/x"]}),
        );
        let more = meta(
            json!({"name": "a", "deletionTimestamp": "2024-01-01T00:00:00Z", "finalizers": ["a.io/x", "b.io/y"]}),
        );
        let errs = validate_object_meta_update(&more, &deleting, &path);
        assert_eq!(
            errs[0].to_string(),
            "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"b.io/y\"}"
        );
    }

    #[test]
    fn config_keys() {
        assert!(is_config_map_key("key.name").is_empty());
        assert!(is_config_map_key("KEY_NAME-1").is_empty());
        assert_eq!(is_config_map_key("a b").len(), 1);
        assert_eq!(is_config_map_key("").len(), 1);
        assert_eq!(is_config_map_key("."), vec!["must not be '.'".to_string()]);
        assert_eq!(
            is_config_map_key("..a"),
            vec!["must not start with '..'".to_string()]
        );
        assert_eq!(is_config_map_key(&"a".repeat(254)).len(), 1);
        assert_eq!(is_config_map_key("ключ").len(), 1);
    }

    #[test]
    fn ips() {
        let p = FieldPath::new("ip");
        assert!(is_valid_ip(&p, "10.0.0.1").is_empty());
        assert!(is_valid_ip(&p, "010.0.0.1").is_empty());
        assert!(is_valid_ip(&p, "2001:db8::1").is_empty());
        assert_eq!(is_valid_ip(&p, "10.0.0").len(), 1);
        assert_eq!(is_valid_ip(&p, "").len(), 1);
        assert!(is_valid_cidr(&p, "10.244.0.0/24").is_empty());
        assert_eq!(is_valid_cidr(&p, "10.244.0.0/33").len(), 1);
        assert_eq!(is_valid_cidr(&p, "10.244.0.0").len(), 1);
        assert_eq!(validate_non_special_ip("127.0.0.1", &p).len(), 1);
        assert_eq!(validate_non_special_ip("0.0.0.0", &p).len(), 1);
        assert_eq!(validate_non_special_ip("169.254.1.1", &p).len(), 1);
        assert_eq!(validate_non_special_ip("fe80::1", &p).len(), 1);
        assert!(validate_non_special_ip("10.244.1.5", &p).is_empty());
    }

    #[test]
    fn generate_name_masks_the_trailing_dash() {
        assert!(name_is_dns_subdomain("web-", true).is_empty());
        assert!(!name_is_dns_subdomain("web-", false).is_empty());
        assert!(name_is_dns1035_label("a-", true).is_empty());
        assert!(!name_is_dns_subdomain("é-", true).is_empty());
    }
}
