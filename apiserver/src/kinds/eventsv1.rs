//! `events.k8s.io/v1` events (`events.events.k8s.io`): upstream
//! `ValidateEventCreate`/`ValidateEventUpdate` in strict mode, and the
//! conversion to and from core/v1 Events. Upstream keeps one resource,
//! `events`, served in both groups and stored as core/v1 under
//! `/registry/events/`, so each version reads the other's writes. Paths in
//! errors are upstream's, which name the internal (core) fields
//! (`involvedObject`, `message`, `source`, ...) rather than the
//! `events.k8s.io` ones.

use k8s_openapi::api::events::v1::Event;
use serde_json::Value;
use tinykube_apimachinery::status::{FieldError, FieldPath};

use super::common::{
    json, name_is_dns_subdomain, text, validate_object_meta, validate_object_meta_update, Errors,
    FIELD_IMMUTABLE,
};
use super::events::{legacy_validate, EventFields};
use super::Kind;

/// The `events.k8s.io/v1` fields whose core/v1 names differ (upstream
/// `Convert_v1_Event_To_core_Event` and back); every other field has the same
/// name and shape in both versions, so converting is renaming.
const RENAMED: [(&str, &str); 7] = [
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
    ("reportingController", "reportingComponent"),
];

fn rename_fields(mut object: Value, api_version: &str, to_core: bool) -> Value {
    let Some(map) = object.as_object_mut() else {
        return object;
    };
    for (events_name, core_name) in RENAMED {
        let (from, to) = if to_core {
            (events_name, core_name)
        } else {
            (core_name, events_name)
        };
        match map.remove(from) {
            Some(value) => map.insert(to.to_string(), value),
            None => map.remove(to),
        };
    }
    map.insert("apiVersion".into(), Value::String(api_version.into()));
    map.insert("kind".into(), Value::String("Event".into()));
    object
}

/// An `events.k8s.io/v1` Event as the core/v1 Event it is stored as.
pub(super) fn to_core(object: Value) -> Value {
    rename_fields(object, "v1", true)
}

/// A stored core/v1 Event as `events.k8s.io/v1` serves it.
pub(super) fn from_core(object: Value) -> Value {
    rename_fields(object, "events.k8s.io/v1", false)
}

fn fields(event: &Event) -> EventFields<'_> {
    EventFields {
        namespace: text(&event.metadata.namespace),
        involved_namespace: event.regarding.as_ref().map_or("", |r| text(&r.namespace)),
        has_event_time: event.event_time.is_some(),
        reporting_controller: text(&event.reporting_controller),
        reporting_instance: text(&event.reporting_instance),
        action: text(&event.action),
        reason: text(&event.reason),
        message: text(&event.note),
    }
}

fn validate_series(event: &Event) -> Errors {
    match &event.series {
        Some(series) if series.count < 2 => {
            vec![FieldError::invalid(
                FieldPath::new("series.count"),
                "",
                "should be at least 2",
            )]
        }
        _ => Vec::new(),
    }
}

/// A value with Go's zero values (`null`, `""`, `0`, `false`, empty lists and maps, and
/// fields holding them) dropped: upstream compares typed structs, where an absent field and a
/// zero one are the same, while JSON from different writers may differ in which it spells out.
fn without_zero_values(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let kept: serde_json::Map<String, Value> = map
                .into_iter()
                .map(|(k, v)| (k, without_zero_values(v)))
                .filter(|(_, v)| !v.is_null())
                .collect();
            if kept.is_empty() {
                Value::Null
            } else {
                Value::Object(kept)
            }
        }
        Value::Array(items) if items.is_empty() => Value::Null,
        Value::Array(items) => Value::Array(items.into_iter().map(without_zero_values).collect()),
        Value::String(s) if s.is_empty() => Value::Null,
        Value::Bool(false) => Value::Null,
        Value::Number(n) if n.as_f64() == Some(0.0) => Value::Null,
        other => other,
    }
}

impl Kind for Event {
    /// `regarding` is a struct upstream, never absent: always spelled out, as in the core/v1
    /// `involvedObject` it is stored as.
    fn set_defaults(&mut self) {
        self.regarding.get_or_insert_with(Default::default);
    }

    fn validate(&self, _raw: &Value) -> Errors {
        let mut errs = legacy_validate(&fields(self), "reportingController");
        errs.extend(validate_object_meta(
            &self.metadata,
            true,
            name_is_dns_subdomain,
            &FieldPath::new("metadata"),
        ));
        errs.extend(validate_series(self));
        if self.event_time.is_none() {
            errs.push(FieldError::required(FieldPath::new("eventTime"), ""));
        }
        let type_ = text(&self.type_);
        if type_ != "Normal" && type_ != "Warning" {
            errs.push(FieldError::invalid(
                FieldPath::new("type"),
                "",
                format!("has invalid value: {type_}"),
            ));
        }
        const UNSET: &str = "needs to be unset";
        if self.deprecated_first_timestamp.is_some() {
            errs.push(FieldError::invalid(
                FieldPath::new("firstTimestamp"),
                "",
                UNSET,
            ));
        }
        if self.deprecated_last_timestamp.is_some() {
            errs.push(FieldError::invalid(
                FieldPath::new("lastTimestamp"),
                "",
                UNSET,
            ));
        }
        if self.deprecated_count.unwrap_or(0) != 0 {
            errs.push(FieldError::invalid(FieldPath::new("count"), "", UNSET));
        }
        let source_set = self
            .deprecated_source
            .as_ref()
            .is_some_and(|s| !text(&s.component).is_empty() || !text(&s.host).is_empty());
        if source_set {
            errs.push(FieldError::invalid(FieldPath::new("source"), "", UNSET));
        }
        errs
    }

    fn validate_update(&self, _raw: &Value, old: &Self, _old_raw: &Value) -> Errors {
        let mut errs = legacy_validate(&fields(self), "reportingController");
        errs.extend(validate_object_meta_update(
            &self.metadata,
            &old.metadata,
            &FieldPath::new("metadata"),
        ));
        if json(&self.series) != json(&old.series) {
            errs.extend(validate_series(self));
        }
        let pairs: [(&str, Value, Value); 13] = [
            (
                "involvedObject",
                json(&self.regarding),
                json(&old.regarding),
            ),
            ("reason", json(&self.reason), json(&old.reason)),
            ("message", json(&self.note), json(&old.note)),
            (
                "source",
                json(&self.deprecated_source),
                json(&old.deprecated_source),
            ),
            (
                "firstTimestamp",
                json(&self.deprecated_first_timestamp),
                json(&old.deprecated_first_timestamp),
            ),
            (
                "lastTimestamp",
                json(&self.deprecated_last_timestamp),
                json(&old.deprecated_last_timestamp),
            ),
            (
                "count",
                json(&self.deprecated_count),
                json(&old.deprecated_count),
            ),
            ("type", json(&self.type_), json(&old.type_)),
            ("eventTime", json(&self.event_time), json(&old.event_time)),
            ("action", json(&self.action), json(&old.action)),
            ("related", json(&self.related), json(&old.related)),
            (
                "reportingController",
                json(&self.reporting_controller),
                json(&old.reporting_controller),
            ),
            (
                "reportingInstance",
                json(&self.reporting_instance),
                json(&old.reporting_instance),
            ),
        ];
        for (name, new, old) in pairs {
            if without_zero_values(new.clone()) != without_zero_values(old) {
                errs.push(FieldError::invalid(
                    FieldPath::new(name),
                    new,
                    FIELD_IMMUTABLE,
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

    const RESOURCE: &str = "events.events.k8s.io";

    fn event(patch: Value) -> Value {
        let base = json!({"metadata": {"name": "web.17a", "namespace": "default"},
            "regarding": {"kind": "Pod", "name": "web", "namespace": "default"},
            "eventTime": "2024-01-01T00:00:00.000000Z", "reportingController": "example.com/ctl",
            "reportingInstance": "ctl-1", "action": "Scale", "reason": "Scaled", "type": "Normal", "note": "scaled up"});
        decode_and_default(RESOURCE, merge(&base, &patch)).unwrap()
    }

    #[test]
    fn conversion_renames_the_fields_that_differ_and_round_trips() {
        let served = event(json!({
            "deprecatedSource": {"component": "kubelet", "host": "n1"},
            "deprecatedFirstTimestamp": "2024-01-01T00:00:00Z",
            "deprecatedLastTimestamp": "2024-01-01T00:05:00Z",
            "deprecatedCount": 4,
            "series": {"count": 2, "lastObservedTime": "2024-01-01T00:01:00.000000Z"},
            "related": {"kind": "Node", "name": "n1"},
        }));
        let core = super::to_core(served.clone());
        // (core/v1 field, its value) for every field events.k8s.io names differently or keeps.
        let cases = [
            ("apiVersion", json!("v1")),
            ("kind", json!("Event")),
            ("involvedObject", served["regarding"].clone()),
            ("message", json!("scaled up")),
            ("source", json!({"component": "kubelet", "host": "n1"})),
            ("firstTimestamp", json!("2024-01-01T00:00:00Z")),
            ("lastTimestamp", json!("2024-01-01T00:05:00Z")),
            ("count", json!(4)),
            ("reportingComponent", json!("example.com/ctl")),
            ("series", served["series"].clone()),
            ("related", served["related"].clone()),
            ("eventTime", served["eventTime"].clone()),
            ("reportingInstance", json!("ctl-1")),
            ("action", json!("Scale")),
            ("reason", json!("Scaled")),
            ("type", json!("Normal")),
            ("metadata", served["metadata"].clone()),
        ];
        for (field, value) in &cases {
            assert_eq!(&core[*field], value, "core field {field}: {core}");
        }
        for gone in [
            "regarding",
            "note",
            "deprecatedSource",
            "deprecatedCount",
            "reportingController",
        ] {
            assert!(core.get(gone).is_none(), "{gone} left in {core}");
        }
        // The stored form is a core/v1 Event as core defaulting leaves it, and converts back
        // to exactly what was served.
        assert_eq!(decode_and_default("events", core.clone()).unwrap(), core);
        assert_eq!(super::from_core(core), served);
    }

    #[test]
    fn core_events_read_as_events_k8s_io() {
        let core = decode_and_default(
            "events",
            json!({"metadata": {"name": "web.1", "namespace": "default"},
                "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"},
                "reason": "Started", "message": "Started container", "type": "Normal", "count": 3,
                "source": {"component": "kubelet", "host": "n1"}}),
        )
        .unwrap();
        let served = super::from_core(core.clone());
        assert_eq!(
            served,
            json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
                "metadata": {"name": "web.1", "namespace": "default"},
                "regarding": {"kind": "Pod", "name": "web", "namespace": "default"},
                "reason": "Started", "note": "Started container", "type": "Normal",
                "deprecatedCount": 3, "deprecatedSource": {"component": "kubelet", "host": "n1"}})
        );
        assert_eq!(
            decode_and_default(RESOURCE, served.clone()).unwrap(),
            served
        );
        assert_eq!(super::to_core(served), core);
    }

    #[test]
    fn rules() {
        let cases: Vec<(Value, Vec<(&str, &str)>)> = vec![
            (json!({}), vec![]),
            (json!({"type": "Info"}), vec![("type", "FieldValueInvalid")]),
            (
                json!({"deprecatedCount": 3}),
                vec![("count", "FieldValueInvalid")],
            ),
            (
                json!({"series": {"count": 1, "lastObservedTime": "2024-01-01T00:00:00.000000Z"}}),
                vec![("series.count", "FieldValueInvalid")],
            ),
            (
                json!({"action": null}),
                vec![("action", "FieldValueRequired")],
            ),
            (
                json!({"eventTime": null}),
                vec![("eventTime", "FieldValueRequired")],
            ),
        ];
        for (patch, want) in cases {
            assert_errors(&validate_create(RESOURCE, &event(patch.clone())), &want);
        }
        let old = event(json!({}));
        let series = event(
            json!({"series": {"count": 2, "lastObservedTime": "2024-01-01T00:01:00.000000Z"}}),
        );
        assert_errors(&validate_update(RESOURCE, &series, &old), &[]);
        let renoted = event(json!({"note": "other"}));
        assert_errors(
            &validate_update(RESOURCE, &renoted, &old),
            &[("message", "FieldValueInvalid")],
        );
        // Absent and zero are the same value (a core/v1 writer spells out `source: {}`).
        let spelled_out = event(json!({"deprecatedSource": {}, "regarding": {"uid": ""}}));
        assert_errors(&validate_update(RESOURCE, &spelled_out, &old), &[]);
        assert_errors(&validate_update(RESOURCE, &old, &spelled_out), &[]);
    }
}
