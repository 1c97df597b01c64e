//! Reading and writing the metadata of objects held as JSON.

use serde_json::{json, Map, Value};

/// `metadata` as a mutable map, created when missing.
pub fn meta_mut(object: &mut Value) -> &mut Map<String, Value> {
    if !object.is_object() {
        *object = json!({});
    }
    let map = object.as_object_mut().expect("object was just made a map");
    let meta = map.entry("metadata").or_insert_with(|| json!({}));
    if !meta.is_object() {
        *meta = json!({});
    }
    meta.as_object_mut().expect("metadata was just made a map")
}

/// A string field of `metadata`.
pub fn meta_str<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    object.get("metadata")?.get(field)?.as_str()
}

pub fn name(object: &Value) -> Option<&str> {
    meta_str(object, "name").filter(|n| !n.is_empty())
}

pub fn namespace(object: &Value) -> Option<&str> {
    meta_str(object, "namespace").filter(|n| !n.is_empty())
}

pub fn finalizers(object: &Value) -> Vec<String> {
    object
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

pub fn is_deleting(object: &Value) -> bool {
    object
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
}

/// The object without what every write changes (resourceVersion, the times in
/// managedFields), to tell a real change (ownership included) from a no-op write.
pub fn comparable(object: &Value) -> Value {
    let mut object = object.clone();
    let meta = meta_mut(&mut object);
    meta.remove("resourceVersion");
    if let Some(entries) = meta.get_mut("managedFields").and_then(Value::as_array_mut) {
        for entry in entries.iter_mut().filter_map(Value::as_object_mut) {
            entry.remove("time");
        }
    }
    object
}

/// Now, in the RFC 3339 seconds format of `metav1.Time`.
pub fn now_rfc3339() -> String {
    let now = jiff::Timestamp::now();
    jiff::Timestamp::from_second(now.as_second())
        .unwrap_or(now)
        .to_string()
}

/// `now + seconds`, as [`now_rfc3339`] formats it.
pub fn rfc3339_in(seconds: i64) -> String {
    let now = jiff::Timestamp::now().as_second();
    jiff::Timestamp::from_second(now.saturating_add(seconds))
        .map(|t| t.to_string())
        .unwrap_or_else(|_| now_rfc3339())
}

/// The JSON type of `value`, as errors about a value of the wrong type name it.
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_whole_seconds_and_a_z() {
        let now = now_rfc3339();
        assert!(now.ends_with('Z'), "{now}");
        assert!(!now.contains('.'), "{now}");
        assert!(rfc3339_in(30) > now);
    }

    #[test]
    fn comparable_ignores_resource_version() {
        let a = json!({"metadata": {"name": "x", "resourceVersion": "1"}, "spec": {}});
        let b = json!({"metadata": {"name": "x", "resourceVersion": "2"}, "spec": {}});
        assert_eq!(comparable(&a), comparable(&b));
        assert_eq!(name(&a), Some("x"));
        assert!(!is_deleting(&a));
    }

    #[test]
    fn metadata_is_created_on_odd_objects() {
        for mut odd in [json!(null), json!({"metadata": 3}), json!({})] {
            meta_mut(&mut odd).insert("name".into(), json!("n"));
            assert_eq!(name(&odd), Some("n"));
        }
    }
}
