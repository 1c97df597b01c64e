//! Core events (`events`): upstream `ValidateEventCreate`/`ValidateEventUpdate`
//! for requests in `v1`, which only run the legacy checks (plus a required
//! name, which upstream's storage layer enforces). The legacy checks are
//! shared with `events.k8s.io` events.

use k8s_openapi::api::core::v1::Event;
use serde_json::Value;
use tinykube_apimachinery::status::{FieldError, FieldPath};
use tinykube_apimachinery::validation::is_dns1123_subdomain;

use super::common::{invalid_each, text, validate_qualified_name, Errors};
use super::Kind;

const REPORTING_INSTANCE_LIMIT: usize = 128;
const ACTION_LIMIT: usize = 128;
const REASON_LIMIT: usize = 128;
const NOTE_LIMIT: usize = 1024;

/// The fields upstream's internal Event has, whichever version it came in.
pub(super) struct EventFields<'a> {
    pub namespace: &'a str,
    pub involved_namespace: &'a str,
    pub has_event_time: bool,
    pub reporting_controller: &'a str,
    pub reporting_instance: &'a str,
    pub action: &'a str,
    pub reason: &'a str,
    pub message: &'a str,
}

/// Upstream `legacyValidateEvent`; `reporting_field` is the name the request
/// version gives the reporting controller (`reportingComponent` in v1).
pub(super) fn legacy_validate(event: &EventFields<'_>, reporting_field: &str) -> Errors {
    let mut errs = Vec::new();
    let involved = FieldPath::new("involvedObject").child("namespace");
    if !event.has_event_time {
        let matches = if event.involved_namespace.is_empty() {
            event.namespace.is_empty() || event.namespace == "default"
        } else {
            event.namespace == event.involved_namespace
        };
        if !matches {
            errs.push(FieldError::invalid(
                &involved,
                event.involved_namespace,
                "does not match event.namespace",
            ));
        }
    } else {
        if event.involved_namespace.is_empty()
            && event.namespace != "default"
            && event.namespace != "kube-system"
        {
            errs.push(FieldError::invalid(
                &involved,
                event.involved_namespace,
                "does not match event.namespace",
            ));
        }
        let reporting = FieldPath::new(reporting_field);
        if event.reporting_controller.is_empty() {
            errs.push(FieldError::required(&reporting, ""));
        }
        errs.extend(validate_qualified_name(
            event.reporting_controller,
            &reporting,
        ));
        for (value, name, limit) in [
            (
                event.reporting_instance,
                "reportingInstance",
                REPORTING_INSTANCE_LIMIT,
            ),
            (event.action, "action", ACTION_LIMIT),
            (event.reason, "reason", REASON_LIMIT),
        ] {
            if value.is_empty() {
                errs.push(FieldError::required(FieldPath::new(name), ""));
            }
            if value.len() > limit {
                errs.push(FieldError::invalid(
                    FieldPath::new(name),
                    "",
                    format!("can have at most {limit} characters"),
                ));
            }
        }
        if event.message.len() > NOTE_LIMIT {
            errs.push(FieldError::invalid(
                FieldPath::new("message"),
                "",
                format!("can have at most {NOTE_LIMIT} characters"),
            ));
        }
    }
    errs.extend(invalid_each(
        &FieldPath::new("namespace"),
        event.namespace,
        is_dns1123_subdomain(event.namespace),
    ));
    errs
}

fn fields(event: &Event) -> EventFields<'_> {
    EventFields {
        namespace: text(&event.metadata.namespace),
        involved_namespace: text(&event.involved_object.namespace),
        has_event_time: event.event_time.is_some(),
        reporting_controller: text(&event.reporting_component),
        reporting_instance: text(&event.reporting_instance),
        action: text(&event.action),
        reason: text(&event.reason),
        message: text(&event.message),
    }
}

fn validate_event(event: &Event) -> Errors {
    let mut errs = Vec::new();
    if text(&event.metadata.name).is_empty() {
        errs.push(FieldError::required(
            FieldPath::new("metadata").child("name"),
            "name or generateName is required",
        ));
    }
    errs.extend(legacy_validate(&fields(event), "reportingComponent"));
    errs
}

impl Kind for Event {
    fn validate(&self, _raw: &Value) -> Errors {
        validate_event(self)
    }

    fn validate_update(&self, _raw: &Value, _old: &Self, _old_raw: &Value) -> Errors {
        validate_event(self)
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::{assert_errors, merge};
    use super::super::{decode_and_default, validate_create};
    use serde_json::{json, Value};

    fn event(patch: Value) -> Value {
        let base = json!({"metadata": {"name": "web.17a", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"},
            "reason": "Started", "message": "Started container", "type": "Normal", "count": 1,
            "firstTimestamp": "2024-01-01T00:00:00Z", "source": {"component": "kubelet"}});
        decode_and_default("events", merge(&base, &patch)).unwrap()
    }

    #[test]
    fn rules() {
        let cases: Vec<(Value, Vec<(&str, &str)>)> = vec![
            (json!({}), vec![]),
            (
                json!({"involvedObject": {"namespace": "other"}}),
                vec![("involvedObject.namespace", "FieldValueInvalid")],
            ),
            (
                json!({"metadata": {"name": null}}),
                vec![("metadata.name", "FieldValueRequired")],
            ),
            (
                json!({"eventTime": "2024-01-01T00:00:00.000000Z"}),
                vec![
                    ("reportingComponent", "FieldValueRequired"),
                    ("reportingComponent", "FieldValueInvalid"),
                    ("reportingComponent", "FieldValueInvalid"),
                    ("reportingInstance", "FieldValueRequired"),
                    ("action", "FieldValueRequired"),
                ],
            ),
        ];
        for (patch, want) in cases {
            assert_errors(&validate_create("events", &event(patch.clone())), &want);
        }
    }
}
