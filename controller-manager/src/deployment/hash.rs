//! The `pod-template-hash` of a Deployment's ReplicaSets and the template comparison that
//! finds a Deployment's current ReplicaSet.
//!
//! Upstream (`controller.ComputeHash`) feeds FNV-32a with `spew`'s `%#v` rendering of the Go
//! `PodTemplateSpec` struct, then the collision count (as 8 little-endian bytes), and renders
//! the sum's decimal digits with `rand.SafeEncodeString`. Reproducing spew's dump of Go structs
//! byte for byte is not practical from Rust, so tinykube hashes the template's canonical JSON
//! (k8s-openapi's serialization: fixed field order, sorted maps) instead; the collision count,
//! FNV-32a and the encoding are upstream's. The hash is therefore stable and of upstream's
//! shape (`[bcdfghjklmnpqrstvwxz2456789]`, up to 10 characters) but not equal to the value
//! upstream would compute for the same template.

use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::Value;

/// The label a Deployment adds to its ReplicaSets' selectors, templates and pods.
pub const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";

/// Upstream `rand.SafeEncodeString`'s alphabet (no vowels, no confusable digits).
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// FNV-32a.
pub fn fnv32a(data: &[u8]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in data {
        hash ^= u32::from(*byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

/// Upstream `rand.SafeEncodeString`.
pub fn safe_encode_string(s: &str) -> String {
    s.chars()
        .map(|c| ALPHANUMS[(c as usize) % ALPHANUMS.len()] as char)
        .collect()
}

/// The pod-template-hash of `template` with `collision_count` (see the module docs).
pub fn compute_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut data = serde_json::to_vec(template).unwrap_or_default();
    if let Some(count) = collision_count {
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&(count as u32).to_le_bytes());
        data.extend_from_slice(&bytes);
    }
    safe_encode_string(&fnv32a(&data).to_string())
}

/// Upstream `EqualIgnoreHash`: the two templates are semantically equal once the
/// pod-template-hash label is removed from both (absent and empty fields count as equal).
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    normalized(a) == normalized(b)
}

fn normalized(template: &PodTemplateSpec) -> Value {
    let mut value = serde_json::to_value(template).unwrap_or(Value::Null);
    if let Some(labels) = value
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(POD_TEMPLATE_HASH_LABEL);
    }
    prune(&mut value);
    value
}

/// Removes nulls and empty objects and arrays, recursively.
fn prune(value: &mut Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => {
            map.retain(|_, v| !prune(v));
            map.is_empty()
        }
        Value::Array(items) => {
            for item in items.iter_mut() {
                prune(item);
            }
            items.is_empty()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, PodSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use std::collections::BTreeMap;

    fn template(image: &str, labels: &[(&str, &str)]) -> PodTemplateSpec {
        PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect::<BTreeMap<_, _>>(),
                ),
                ..Default::default()
            }),
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "c".into(),
                    image: Some(image.into()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
        }
    }

    #[test]
    fn fnv_and_encoding_match_upstream() {
        // FNV-32a reference values.
        assert_eq!(fnv32a(b""), 0x811c9dc5);
        assert_eq!(fnv32a(b"a"), 0xe40c292c);
        assert_eq!(fnv32a(b"foobar"), 0xbf9cf968);
        // SafeEncodeString maps digits into "4".."9","b".."f" (ASCII code modulo 27).
        assert_eq!(safe_encode_string("0123456789"), "456789bcdf");
        assert_eq!(safe_encode_string(""), "");
    }

    #[test]
    fn hashes_are_stable_and_distinguish_templates_and_collisions() {
        let a = template("nginx:1", &[("app", "web")]);
        let b = template("nginx:2", &[("app", "web")]);
        let hash = compute_hash(&a, None);
        assert_eq!(hash, compute_hash(&a.clone(), None));
        assert!(!hash.is_empty() && hash.len() <= 10, "{hash}");
        assert!(hash.bytes().all(|c| ALPHANUMS.contains(&c)), "{hash}");
        assert_ne!(hash, compute_hash(&b, None));
        assert_ne!(hash, compute_hash(&a, Some(1)));
        assert_ne!(compute_hash(&a, Some(1)), compute_hash(&a, Some(2)));
    }

    #[test]
    fn template_equality_ignores_the_hash_label_and_empties() {
        let plain = template("nginx:1", &[("app", "web")]);
        let hashed = template(
            "nginx:1",
            &[("app", "web"), (POD_TEMPLATE_HASH_LABEL, "abc")],
        );
        let other = template("nginx:2", &[("app", "web")]);
        let mut empty_annotations = plain.clone();
        empty_annotations.metadata.as_mut().unwrap().annotations = Some(BTreeMap::new());
        let mut annotated = plain.clone();
        annotated.metadata.as_mut().unwrap().annotations = Some(BTreeMap::from([(
            "kubectl.kubernetes.io/restartedAt".to_string(),
            "2024-01-01T00:00:00Z".to_string(),
        )]));
        // (a, b, equal)
        let cases = [
            (&plain, &hashed, true),
            (&plain, &empty_annotations, true),
            (&plain, &other, false),
            (&plain, &annotated, false),
        ];
        for (i, (a, b, equal)) in cases.into_iter().enumerate() {
            assert_eq!(equal_ignore_hash(a, b), equal, "case {i}");
            assert_eq!(equal_ignore_hash(b, a), equal, "case {i} reversed");
        }
    }
}
