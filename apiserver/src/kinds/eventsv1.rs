//! `events.k8s.io/v1` events (`events.events.k8s.io`): upstream
//! `ValidateEventCreate`/`ValidateEventUpdate` in strict mode. Paths are
//! upstream's, which name the internal fields (`involvedObject`, `message`,
//! `source`, ...) rather than the `events.k8s.io` ones.

use k8s_openapi::api::events::v1::Event;
use serde_json::Value;
use tinykube_apimachinery::status::{FieldError, FieldPath};

use super::common::{
    json, name_is_dns_subdomain, text, validate_immutable, validate_object_meta,
    validate_object_meta_update, Errors,
};
use super::events::{legacy_validate, EventFields};
use super::Kind;

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

impl Kind for Event {
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
            errs.extend(validate_immutable(new, old, &FieldPath::new(name)));
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
    }
}
