//! Per-resource decoding, defaulting and validation of the built-in kinds, as
//! upstream kube-apiserver does them (`pkg/apis/*/v1/defaults.go`,
//! `pkg/apis/*/validation`, `apimachinery/pkg/api/validation/objectmeta.go`).
//!
//! Objects arrive as `serde_json::Value` and are keyed by the resource's
//! plural qualified with its group (`pods`, `deployments.apps`, ...):
//!
//! * [`decode_and_default`] decodes into the typed k8s-openapi object
//!   (rejecting wrong JSON types with the field path, dropping unknown fields,
//!   reading `null` as Go's zero value), applies upstream's defaults plus the
//!   conversion and admission steps that always run on the way into storage
//!   (Secret `stringData` -> `data`, pod `serviceAccountName: default`,
//!   Namespace `kubernetes` finalizer, ...) and re-encodes it.
//! * [`validate_create`] and [`validate_update`] return upstream's field
//!   errors, with upstream's paths and details.
//!
//! Unknown resources pass through decoding unchanged and only get their
//! `ObjectMeta` checked.
//!
//! Layout: [`decode`] is the path-tracking decoder, `common` holds ObjectMeta
//! and shared checks, `podspec` the pod spec shared by Pods and pod
//! templates, and there is one file per kind.

mod common;
mod decode;
mod podspec;

mod configmaps;
mod deployments;
mod endpoints;
mod endpointslices;
mod events;
mod eventsv1;
mod leases;
mod namespaces;
mod nodes;
mod pods;
mod replicasets;
mod secrets;
mod serviceaccounts;
mod services;

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;
use tinykube_apimachinery::status::{FieldError, FieldPath};

use crate::object::json_type;
use common::Errors;

/// A request body that is not a valid object of its kind. The message reads
/// like upstream's (`Deployment in version "v1" cannot be handled as a
/// Deployment: ...`) and names the offending field where there is one.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The body is not a JSON object at all.
    #[error("{kind} in version \"{version}\" cannot be handled as a {kind}: cannot unmarshal {found} into an object of kind {kind}")]
    NotAnObject {
        kind: &'static str,
        version: &'static str,
        found: &'static str,
    },
    /// A field has the wrong JSON type or a value that cannot be read
    /// (`path` is empty when the problem is the object itself).
    #[error("{kind} in version \"{version}\" cannot be handled as a {kind}: {}", at_path(.path, .message))]
    Field {
        kind: &'static str,
        version: &'static str,
        path: String,
        message: String,
    },
}

fn at_path(path: &str, message: &str) -> String {
    if path.is_empty() {
        message.to_string()
    } else {
        format!("{path}: {message}")
    }
}

/// What a built-in kind does on the way into storage.
trait Kind: Sized + serde::de::DeserializeOwned + serde::Serialize + k8s_openapi::Resource {
    /// Upstream's defaulting (and the conversion/admission steps folded into it).
    fn set_defaults(&mut self) {}

    /// Adjusts the re-encoded object, given the request body (for fields the
    /// typed object cannot leave out).
    fn finish(_encoded: &mut Value, _raw: &Value) {}

    /// Validation of a new object; `raw` is the JSON it was read from.
    fn validate(&self, raw: &Value) -> Errors;

    /// Validation of an update (everything in `validate` that upstream
    /// repeats, plus the immutability rules).
    fn validate_update(&self, raw: &Value, old: &Self, old_raw: &Value) -> Errors;
}

/// Runs a generic operation on the kind behind a resource name.
trait KindOp {
    type Output;
    fn run<K: Kind>(self) -> Self::Output;
}

/// The resources [`dispatch`] knows.
const RESOURCES: [&str; 14] = [
    "pods",
    "nodes",
    "services",
    "endpoints",
    "secrets",
    "configmaps",
    "namespaces",
    "events",
    "serviceaccounts",
    "deployments.apps",
    "replicasets.apps",
    "endpointslices.discovery.k8s.io",
    "leases.coordination.k8s.io",
    "events.events.k8s.io",
];

fn dispatch<O: KindOp>(resource: &str, op: O) -> Option<O::Output> {
    use k8s_openapi::api::{apps::v1 as apps, coordination::v1 as coordination, core::v1 as core};
    use k8s_openapi::api::{discovery::v1 as discovery, events::v1 as events_v1};
    Some(match resource {
        "pods" => op.run::<core::Pod>(),
        "nodes" => op.run::<core::Node>(),
        "services" => op.run::<core::Service>(),
        "endpoints" => op.run::<core::Endpoints>(),
        "secrets" => op.run::<core::Secret>(),
        "configmaps" => op.run::<core::ConfigMap>(),
        "namespaces" => op.run::<core::Namespace>(),
        "events" => op.run::<core::Event>(),
        "serviceaccounts" => op.run::<core::ServiceAccount>(),
        "deployments.apps" => op.run::<apps::Deployment>(),
        "replicasets.apps" => op.run::<apps::ReplicaSet>(),
        "endpointslices.discovery.k8s.io" => op.run::<discovery::EndpointSlice>(),
        "leases.coordination.k8s.io" => op.run::<coordination::Lease>(),
        "events.events.k8s.io" => op.run::<events_v1::Event>(),
        _ => return None,
    })
}

/// The body with `apiVersion`/`kind` filled in when absent, so the typed
/// decoder (which checks them) accepts it.
fn with_type<K: Kind>(mut value: Value) -> Result<Value, DecodeError> {
    let Some(map) = value.as_object_mut() else {
        return Err(DecodeError::NotAnObject {
            kind: K::KIND,
            version: K::VERSION,
            found: json_type(&value),
        });
    };
    for (field, default) in [("apiVersion", K::API_VERSION), ("kind", K::KIND)] {
        let missing = map
            .get(field)
            .is_none_or(|v| v.is_null() || v.as_str() == Some(""));
        if missing {
            map.insert(field.to_string(), Value::String(default.to_string()));
        }
    }
    Ok(value)
}

fn decode_typed<K: Kind>(value: &Value) -> Result<decode::Decoded<K>, DecodeError> {
    decode::decode::<K>(value).map_err(|failure| DecodeError::Field {
        kind: K::KIND,
        version: K::VERSION,
        path: failure.path,
        message: failure.message,
    })
}

struct DecodeOp(Value);

impl KindOp for DecodeOp {
    type Output = Result<Value, DecodeError>;

    fn run<K: Kind>(self) -> Self::Output {
        let raw = with_type::<K>(self.0)?;
        let mut object = decode_typed::<K>(&raw)?.value;
        object.set_defaults();
        let mut encoded = serde_json::to_value(&object).map_err(|e| DecodeError::Field {
            kind: K::KIND,
            version: K::VERSION,
            path: String::new(),
            message: e.to_string(),
        })?;
        K::finish(&mut encoded, &raw);
        Ok(encoded)
    }
}

/// Reads a stored or defaulted object for validation; a value that does not
/// decode is reported as a type error at the failing path.
fn read_for_validation<K: Kind>(value: &Value) -> Result<(K, Value), FieldError> {
    let typed = with_type::<K>(value.clone()).and_then(|raw| {
        let object = decode_typed::<K>(&raw)?.value;
        Ok((object, raw))
    });
    typed.map_err(|error| match error {
        DecodeError::Field { path, message, .. } => {
            FieldError::type_invalid(path, Value::Null, message)
        }
        other => FieldError::type_invalid("", Value::Null, other.to_string()),
    })
}

struct ValidateOp<'a>(&'a Value);

impl KindOp for ValidateOp<'_> {
    type Output = Errors;

    fn run<K: Kind>(self) -> Self::Output {
        match read_for_validation::<K>(self.0) {
            Ok((object, raw)) => object.validate(&raw),
            Err(error) => vec![error],
        }
    }
}

struct ValidateUpdateOp<'a> {
    new: &'a Value,
    old: &'a Value,
}

impl KindOp for ValidateUpdateOp<'_> {
    type Output = Errors;

    fn run<K: Kind>(self) -> Self::Output {
        let new = match read_for_validation::<K>(self.new) {
            Ok(new) => new,
            Err(error) => return vec![error],
        };
        match read_for_validation::<K>(self.old) {
            Ok((old, old_raw)) => new.0.validate_update(&new.1, &old, &old_raw),
            // An old object we cannot read: hold the new one to create rules.
            Err(_) => new.0.validate(&new.1),
        }
    }
}

struct UnknownFieldsOp<'a>(&'a Value);

impl KindOp for UnknownFieldsOp<'_> {
    type Output = Vec<String>;

    fn run<K: Kind>(self) -> Self::Output {
        with_type::<K>(self.0.clone())
            .ok()
            .and_then(|raw| decode::decode::<K>(&raw).ok())
            .map(|decoded| decoded.unknown_fields)
            .unwrap_or_default()
    }
}

/// Decode into the typed k8s-openapi object (rejecting wrong types, dropping
/// unknown fields as upstream does), apply upstream's defaults, and re-encode
/// to JSON. Unknown resources are returned unchanged.
pub fn decode_and_default(resource: &str, obj: Value) -> Result<Value, DecodeError> {
    if !RESOURCES.contains(&resource) {
        return Ok(obj);
    }
    dispatch(resource, DecodeOp(obj)).unwrap_or_else(|| {
        Err(DecodeError::Field {
            kind: "Object",
            version: "v1",
            path: String::new(),
            message: format!("no decoder for resource {resource}"),
        })
    })
}

/// Validation of a new object: its `ObjectMeta` and its kind's spec rules.
pub fn validate_create(resource: &str, obj: &Value) -> Vec<FieldError> {
    dispatch(resource, ValidateOp(obj)).unwrap_or_else(|| validate_unknown(obj, None))
}

/// Validation of an update: everything [`validate_create`] checks plus
/// upstream's immutability rules.
pub fn validate_update(resource: &str, new: &Value, old: &Value) -> Vec<FieldError> {
    dispatch(resource, ValidateUpdateOp { new, old })
        .unwrap_or_else(|| validate_unknown(new, Some(old)))
}

/// The paths of the fields of `obj` that its kind does not know (and that
/// decoding drops), for `fieldValidation=Strict|Warn`; upstream words them as
/// `unknown field "spec.foo"`. Empty for unknown resources and bodies that do
/// not decode.
pub fn unknown_fields(resource: &str, obj: &Value) -> Vec<String> {
    dispatch(resource, UnknownFieldsOp(obj)).unwrap_or_default()
}

/// How a resource's objects are kept in etcd. Upstream serves some resources
/// in more than one group over one storage: an `events.k8s.io/v1` Event is a
/// core/v1 Event under `/registry/events/`, converted on every read and write,
/// so each API reads what the other wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredAs {
    /// In its own storage, as served.
    Itself,
    /// As a core/v1 Event (`events`).
    CoreEvent,
}

impl StoredAs {
    /// The storage of `resource` (qualified: `events.events.k8s.io`).
    pub fn of(resource: &str) -> StoredAs {
        match resource {
            "events.events.k8s.io" => StoredAs::CoreEvent,
            _ => StoredAs::Itself,
        }
    }

    /// The qualified resource whose storage is used, when it is another one.
    pub fn shared_with(self) -> Option<&'static str> {
        match self {
            StoredAs::Itself => None,
            StoredAs::CoreEvent => Some("events"),
        }
    }

    /// An object as served (decoded, defaulted) -> the form to store.
    pub fn stored_form(self, object: Value) -> Value {
        match self {
            StoredAs::Itself => object,
            StoredAs::CoreEvent => eventsv1::to_core(object),
        }
    }

    /// A stored object -> the form this resource serves.
    pub fn served_form(self, object: Value) -> Value {
        match self {
            StoredAs::Itself => object,
            StoredAs::CoreEvent => eventsv1::from_core(object),
        }
    }

    /// [`Self::served_form`] of a shared object, copying it only when it is converted.
    pub fn served_view(self, object: &Value) -> Cow<'_, Value> {
        match self {
            StoredAs::Itself => Cow::Borrowed(object),
            StoredAs::CoreEvent => Cow::Owned(eventsv1::from_core(object.clone())),
        }
    }
}

fn metadata_of(value: &Value) -> Result<ObjectMeta, FieldError> {
    let meta = value.get("metadata").cloned().unwrap_or(Value::Null);
    decode::decode::<ObjectMeta>(&meta)
        .map(|decoded| decoded.value)
        .map_err(|failure| {
            let path = if failure.path.is_empty() {
                "metadata".to_string()
            } else {
                format!("metadata.{}", failure.path)
            };
            FieldError::type_invalid(path, Value::Null, failure.message)
        })
}

/// ObjectMeta checks for a resource whose kind is not known here: names are
/// DNS subdomains; the namespace is checked when present.
fn validate_unknown(new: &Value, old: Option<&Value>) -> Errors {
    let path = FieldPath::new("metadata");
    let new_meta = match metadata_of(new) {
        Ok(meta) => meta,
        Err(error) => return vec![error],
    };
    let namespaced = new_meta
        .namespace
        .as_deref()
        .is_some_and(|ns| !ns.is_empty());
    match old.map(metadata_of) {
        Some(Ok(old_meta)) => common::validate_object_meta_update(&new_meta, &old_meta, &path),
        _ => common::validate_object_meta(
            &new_meta,
            namespaced,
            common::name_is_dns_subdomain,
            &path,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_resources_pass_through() {
        let obj = json!({"metadata": {"name": "x"}, "spec": {"anything": [1, 2]}});
        assert_eq!(
            decode_and_default("widgets.example.com", obj.clone()).unwrap(),
            obj
        );
        assert!(validate_create("widgets.example.com", &obj).is_empty());
        let bad = json!({"metadata": {"name": "Bad Name", "labels": {"a": "b c"}}});
        let errs = validate_create("widgets.example.com", &bad);
        assert_eq!(errs.len(), 2, "{errs:?}");
        let renamed = json!({"metadata": {"name": "y"}});
        let errs = validate_update("widgets.example.com", &renamed, &obj);
        assert_eq!(errs[0].field, "metadata.name");
    }

    #[test]
    fn decode_errors_read_like_upstream() {
        let err = decode_and_default(
            "deployments.apps",
            json!({"metadata": {"name": "d"}, "spec": {"replicas": "3"}}),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Deployment in version \"v1\" cannot be handled as a Deployment: spec.replicas: invalid type: string \"3\", expected i32"
        );
        let err = decode_and_default("pods", json!([1, 2])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Pod in version \"v1\" cannot be handled as a Pod: cannot unmarshal array into an object of kind Pod"
        );
        let err = decode_and_default("pods", json!({"apiVersion": "apps/v1", "kind": "Pod"}))
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("Pod in version \"v1\" cannot be handled as a Pod: invalid value"),
            "{err}"
        );
    }

    #[test]
    fn every_kind_survives_hostile_bodies() {
        let resources = RESOURCES;
        let bodies = [
            json!(null),
            json!(1),
            json!("pod"),
            json!([]),
            json!({}),
            json!({"metadata": null, "spec": null, "status": null}),
            json!({"metadata": [], "spec": "x", "data": 5}),
            json!({"metadata": {"name": "ünïcödé", "labels": {"ключ": "значение"}}}),
            json!({"metadata": {"name": "n", "namespace": "default"}, "spec": {"replicas": 1e300, "ports": [null, {"port": -1}], "containers": [{"name": null, "ports": {"a": 1}}]}}),
            json!({"metadata": {"name": "n"}, "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i", "resources": {"limits": {"cpu": 1e40}}}]}}}}),
            json!({"metadata": {"name": "n"}, "data": {"k": null}, "stringData": {"a": 1}, "addressType": 4, "endpoints": [{"addresses": [null]}]}),
            json!({"metadata": {"name": "n"}, "spec": {"selector": {"matchExpressions": [{"key": "", "operator": "Bogus", "values": null}]}, "leaseDurationSeconds": "x"}}),
        ];
        for resource in resources {
            for body in &bodies {
                let decoded = decode_and_default(resource, body.clone());
                let value = decoded.as_ref().unwrap_or(body);
                let _ = validate_create(resource, value);
                let _ = validate_update(resource, value, value);
                let _ = validate_update(resource, value, &json!({"metadata": {"name": "other"}}));
                let _ = unknown_fields(resource, body);
            }
        }
    }

    #[test]
    fn defaulting_is_idempotent_and_valid() {
        let objects = [
            (
                "pods",
                json!({"metadata": {"name": "p", "namespace": "default"},
                "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "1d"],
                    "resources": {"limits": {"cpu": "0.5"}}, "readinessProbe": {"tcpSocket": {"port": 80}}}],
                    "volumes": [{"name": "v", "configMap": {"name": "cm"}}]}}),
            ),
            (
                "nodes",
                json!({"metadata": {"name": "n1"}, "spec": {"podCIDR": "10.244.0.0/24"},
                "status": {"capacity": {"cpu": "2", "memory": "2Gi", "pods": "110"}}}),
            ),
            (
                "services",
                json!({"metadata": {"name": "s", "namespace": "default"},
                "spec": {"clusterIP": "10.96.0.10", "selector": {"app": "a"}, "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "tcp", "port": 53}]}}),
            ),
            (
                "endpoints",
                json!({"metadata": {"name": "s", "namespace": "default"},
                "subsets": [{"addresses": [{"ip": "10.244.0.5"}], "ports": [{"port": 53}]}]}),
            ),
            (
                "secrets",
                json!({"metadata": {"name": "s", "namespace": "default"}, "stringData": {"k": "v"}}),
            ),
            (
                "configmaps",
                json!({"metadata": {"name": "c", "namespace": "default"}, "data": {"k": "v"}}),
            ),
            ("namespaces", json!({"metadata": {"name": "team"}})),
            (
                "events",
                json!({"metadata": {"name": "e", "namespace": "default"},
                "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"}, "reason": "Started"}),
            ),
            (
                "serviceaccounts",
                json!({"metadata": {"name": "sa", "namespace": "default"}}),
            ),
            (
                "deployments.apps",
                json!({"metadata": {"name": "d", "namespace": "default"},
                "spec": {"selector": {"matchLabels": {"app": "d"}}, "template": {"metadata": {"labels": {"app": "d"}},
                    "spec": {"containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 80}]}]}}}}),
            ),
            (
                "replicasets.apps",
                json!({"metadata": {"name": "r", "namespace": "default"},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "r"}}, "template": {"metadata": {"labels": {"app": "r"}},
                    "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}),
            ),
            (
                "endpointslices.discovery.k8s.io",
                json!({"metadata": {"name": "s-1", "namespace": "default"},
                "addressType": "IPv4", "endpoints": [{"addresses": ["10.244.0.5"]}], "ports": [{"port": 53, "protocol": "UDP"}]}),
            ),
            (
                "leases.coordination.k8s.io",
                json!({"metadata": {"name": "l", "namespace": "kube-system"},
                "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}}),
            ),
            (
                "events.events.k8s.io",
                json!({"metadata": {"name": "e", "namespace": "default"},
                "regarding": {"kind": "Pod", "name": "p", "namespace": "default"}, "eventTime": "2024-01-01T00:00:00.000000Z",
                "reportingController": "ctl", "reportingInstance": "ctl-1", "action": "A", "reason": "R", "type": "Normal"}),
            ),
        ];
        for (resource, object) in objects {
            let once = decode_and_default(resource, object).unwrap();
            let twice = decode_and_default(resource, once.clone()).unwrap();
            assert_eq!(once, twice, "{resource}");
            let errs = validate_create(resource, &once);
            assert!(errs.is_empty(), "{resource}: {errs:?}");
            let errs = validate_update(resource, &twice, &once);
            assert!(errs.is_empty(), "{resource}: {errs:?}");
        }
    }

    #[test]
    fn wrong_types_are_decode_errors() {
        let cases = [
            ("services", json!({"spec": {"ports": "80"}}), "spec.ports: "),
            (
                "services",
                json!({"spec": {"ports": [{"port": "80"}]}}),
                "spec.ports[0].port: ",
            ),
            (
                "nodes",
                json!({"spec": {"unschedulable": "yes"}}),
                "spec.unschedulable: ",
            ),
            ("secrets", json!({"data": "abc"}), "data: "),
            (
                "namespaces",
                json!({"spec": {"finalizers": "kubernetes"}}),
                "spec.finalizers: ",
            ),
            (
                "leases.coordination.k8s.io",
                json!({"spec": {"leaseDurationSeconds": 1.5}}),
                "spec.leaseDurationSeconds: ",
            ),
            (
                "endpointslices.discovery.k8s.io",
                json!({"endpoints": [{"addresses": "10.0.0.1"}]}),
                "endpoints[0].addresses: ",
            ),
            (
                "pods",
                json!({"metadata": {"labels": {"a": {"b": "c"}}}}),
                "metadata.labels[a]: ",
            ),
            (
                "pods",
                json!({"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 1e10}]}]}}),
                "spec.containers[0].ports[0].containerPort: ",
            ),
        ];
        for (resource, body, path) in cases {
            let err = decode_and_default(resource, body.clone())
                .unwrap_err()
                .to_string();
            assert!(err.contains(path), "{resource} {body}: {err}");
        }
    }

    #[test]
    fn unknown_fields_are_listed() {
        let mut fields = unknown_fields(
            "pods",
            &json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "imag": "x"}]}, "foo": 1}),
        );
        fields.sort();
        assert_eq!(fields, vec!["foo", "spec.containers[0].imag"]);
        assert!(unknown_fields("widgets.example.com", &json!({"foo": 1})).is_empty());
    }
}
