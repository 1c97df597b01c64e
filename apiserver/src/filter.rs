//! Label and field selectors applied to stored objects (JSON), for lists and watches.

use crate::resources::Resource;
use serde_json::Value;
use tinykube_apimachinery::labels::{LabelSource, Selector};
use tinykube_apimachinery::FieldSelector;

/// Fields every resource can be selected by.
const COMMON_FIELDS: &[&str] = &["metadata.name", "metadata.namespace"];

/// The fields a resource may be selected by beyond the common ones, as upstream's field label
/// conversion functions allow, each with the JSON pointer it reads.
fn extra_fields(resource: &Resource) -> &'static [(&'static str, &'static str)] {
    match (resource.group, resource.plural) {
        ("", "pods") => &[
            ("spec.nodeName", "/spec/nodeName"),
            ("spec.restartPolicy", "/spec/restartPolicy"),
            ("spec.schedulerName", "/spec/schedulerName"),
            ("spec.serviceAccountName", "/spec/serviceAccountName"),
            ("spec.hostNetwork", "/spec/hostNetwork"),
            ("status.phase", "/status/phase"),
            ("status.podIP", "/status/podIP"),
            ("status.nominatedNodeName", "/status/nominatedNodeName"),
        ],
        ("", "nodes") => &[("spec.unschedulable", "/spec/unschedulable")],
        ("", "namespaces") => &[("status.phase", "/status/phase")],
        ("", "secrets") => &[("type", "/type")],
        ("", "events") => &[
            ("involvedObject.kind", "/involvedObject/kind"),
            ("involvedObject.namespace", "/involvedObject/namespace"),
            ("involvedObject.name", "/involvedObject/name"),
            ("involvedObject.uid", "/involvedObject/uid"),
            ("involvedObject.apiVersion", "/involvedObject/apiVersion"),
            (
                "involvedObject.resourceVersion",
                "/involvedObject/resourceVersion",
            ),
            ("involvedObject.fieldPath", "/involvedObject/fieldPath"),
            ("reason", "/reason"),
            ("reportingComponent", "/reportingComponent"),
            ("source", "/source/component"),
            ("type", "/type"),
        ],
        // Upstream's field label conversion for events.k8s.io/v1 (AddFieldLabelConversionsForEvent),
        // read from the served form.
        ("events.k8s.io", "events") => &[
            ("regarding.kind", "/regarding/kind"),
            ("regarding.namespace", "/regarding/namespace"),
            ("regarding.name", "/regarding/name"),
            ("regarding.uid", "/regarding/uid"),
            ("regarding.apiVersion", "/regarding/apiVersion"),
            ("regarding.resourceVersion", "/regarding/resourceVersion"),
            ("regarding.fieldPath", "/regarding/fieldPath"),
            ("reason", "/reason"),
            ("reportingController", "/reportingController"),
            ("source", "/deprecatedSource/component"),
            ("type", "/type"),
        ],
        ("apps", "replicasets") => &[("status.replicas", "/status/replicas")],
        _ => &[],
    }
}

/// Labels of a JSON object, for selector matching.
struct JsonLabels<'a>(Option<&'a serde_json::Map<String, Value>>);

impl LabelSource for JsonLabels<'_> {
    fn label(&self, key: &str) -> Option<&str> {
        self.0?.get(key)?.as_str()
    }
}

/// Why a selector in a request is not acceptable.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error("unable to parse requirement: {0}")]
    Label(String),
    #[error("{0}")]
    Field(String),
}

/// The selectors of one list or watch request.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    labels: Option<Selector>,
    fields: Option<FieldSelector>,
    /// Selected by `field_pointer`.
    pointers: Vec<(String, &'static str)>,
}

impl Filter {
    /// Parses `labelSelector` and `fieldSelector`, rejecting fields the resource does not
    /// support (`field label not supported: spec.foo`) as upstream does.
    pub fn new(
        resource: &Resource,
        label_selector: Option<&str>,
        field_selector: Option<&str>,
    ) -> Result<Filter, FilterError> {
        let labels = match label_selector {
            Some(text) if !text.trim().is_empty() => {
                Some(Selector::parse(text).map_err(|e| FilterError::Label(e.to_string()))?)
            }
            _ => None,
        };
        let fields = match field_selector {
            Some(text) if !text.trim().is_empty() => {
                let selector =
                    FieldSelector::parse(text).map_err(|e| FilterError::Field(e.to_string()))?;
                let extra = extra_fields(resource);
                let mut supported: Vec<&str> = COMMON_FIELDS.to_vec();
                supported.extend(extra.iter().map(|(name, _)| *name));
                selector
                    .check_supported(&supported)
                    .map_err(|e| FilterError::Field(e.to_string()))?;
                Some(selector)
            }
            _ => None,
        };
        let pointers = extra_fields(resource)
            .iter()
            .map(|(name, pointer)| (name.to_string(), *pointer))
            .collect();
        Ok(Filter {
            labels,
            fields,
            pointers,
        })
    }

    pub fn is_everything(&self) -> bool {
        self.labels.is_none() && self.fields.is_none()
    }

    pub fn matches(&self, object: &Value) -> bool {
        if let Some(labels) = &self.labels {
            let map = object
                .pointer("/metadata/labels")
                .and_then(Value::as_object);
            if !labels.matches(&JsonLabels(map)) {
                return false;
            }
        }
        match &self.fields {
            Some(fields) => fields.matches(|field| self.field_value(object, field)),
            None => true,
        }
    }

    fn field_value(&self, object: &Value, field: &str) -> Option<String> {
        let pointer = match field {
            "metadata.name" => "/metadata/name",
            "metadata.namespace" => "/metadata/namespace",
            _ => self.pointers.iter().find(|(name, _)| name == field)?.1,
        };
        match object.pointer(pointer)? {
            Value::String(s) => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources;
    use serde_json::json;

    #[test]
    fn selectors_match_objects() {
        let pods = resources::find("", "v1", "pods").unwrap();
        let pod = json!({
            "metadata": {"name": "web-1", "namespace": "default", "labels": {"app": "web", "tier": "front"}},
            "spec": {"nodeName": "n1"},
            "status": {"phase": "Running"}
        });
        let cases: &[(Option<&str>, Option<&str>, bool)] = &[
            (None, None, true),
            (Some("app=web"), None, true),
            (Some("app!=web"), None, false),
            (Some("tier in (front,back)"), None, true),
            (Some("!tier"), None, false),
            (Some("missing"), None, false),
            (None, Some("spec.nodeName=n1"), true),
            (None, Some("spec.nodeName=n2"), false),
            (None, Some("spec.nodeName!=n2,status.phase=Running"), true),
            (None, Some("metadata.name=web-1"), true),
            (None, Some("metadata.namespace=kube-system"), false),
            (Some("app=web"), Some("status.phase=Pending"), false),
            (None, Some("status.podIP="), true),
        ];
        for (labels, fields, expected) in cases {
            let filter = Filter::new(pods, *labels, *fields).unwrap();
            assert_eq!(filter.matches(&pod), *expected, "{labels:?} {fields:?}");
        }
    }

    #[test]
    fn unsupported_fields_and_bad_selectors_are_errors() {
        let pods = resources::find("", "v1", "pods").unwrap();
        let services = resources::find("", "v1", "services").unwrap();
        let error = Filter::new(pods, None, Some("spec.foo=bar")).unwrap_err();
        assert!(error
            .to_string()
            .contains("field label not supported: spec.foo"));
        assert!(Filter::new(services, None, Some("spec.nodeName=n1")).is_err());
        assert!(Filter::new(pods, Some("app in (a"), None).is_err());
    }
}
