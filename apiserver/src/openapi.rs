//! `/openapi/v3`: the OpenAPI v3 documents clients read to learn what each endpoint accepts.
//!
//! kubectl reads them before every write to decide where validation happens: when the PATCH
//! operation of a kind lists the `fieldValidation` query parameter, kubectl leaves validation
//! to the server (`fieldValidation=Strict`, which the apiserver honours with a 400 naming the
//! unknown field) instead of downloading schemas. We publish every path and operation with
//! upstream's `x-kubernetes-group-version-kind` and `x-kubernetes-action` extensions and query
//! parameters; object schemas are not published yet, so `kubectl explain` has nothing to show.

use crate::resources::{Resource, Subresource, RESOURCES};
use serde_json::{json, Map, Value};

/// The group-version path segment of a resource: `api/v1`, `apis/apps/v1`.
fn gv_path(resource: &Resource) -> String {
    if resource.group.is_empty() {
        format!("api/{}", resource.version)
    } else {
        format!("apis/{}/{}", resource.group, resource.version)
    }
}

/// A cheap stable hash of a document, for the `?hash=` clients cache by.
fn hash(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        h ^= u64::from(byte);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016X}")
}

/// `/openapi/v3`: where each group version's document lives.
pub fn root() -> Value {
    let mut paths = Map::new();
    for resource in RESOURCES {
        let gv = gv_path(resource);
        if paths.contains_key(&gv) {
            continue;
        }
        let document = group_version(&gv).unwrap_or_default();
        let url = format!("/openapi/v3/{gv}?hash={}", hash(&document.to_string()));
        paths.insert(gv, json!({"serverRelativeURL": url}));
    }
    json!({"paths": paths})
}

fn query_param(name: &str, description: &str, kind: &str) -> Value {
    json!({
        "name": name,
        "in": "query",
        "description": description,
        "schema": {"type": kind, "uniqueItems": true},
    })
}

fn operation(
    resource: &Resource,
    action: &str,
    params: &[&str],
    kind_override: Option<(&str, &str, &str)>,
) -> Value {
    let (group, version, kind) =
        kind_override.unwrap_or((resource.group, resource.version, resource.kind));
    let parameters: Vec<Value> = params
        .iter()
        .map(|name| {
            let kind = match *name {
                "limit" | "timeoutSeconds" | "gracePeriodSeconds" => "integer",
                "watch" | "allowWatchBookmarks" | "sendInitialEvents" | "force" => "boolean",
                _ => "string",
            };
            query_param(name, name, kind)
        })
        .collect();
    json!({
        "operationId": format!("{action}{}", resource.kind),
        "parameters": parameters,
        "responses": {"200": {"description": "OK"}, "401": {"description": "Unauthorized"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": kind},
    })
}

const LIST_PARAMS: &[&str] = &[
    "allowWatchBookmarks",
    "continue",
    "fieldSelector",
    "labelSelector",
    "limit",
    "resourceVersion",
    "resourceVersionMatch",
    "sendInitialEvents",
    "timeoutSeconds",
    "watch",
];
const WRITE_PARAMS: &[&str] = &["dryRun", "fieldManager", "fieldValidation"];
const PATCH_PARAMS: &[&str] = &["dryRun", "fieldManager", "fieldValidation", "force"];
const DELETE_PARAMS: &[&str] = &["dryRun", "gracePeriodSeconds", "propagationPolicy"];

/// `/openapi/v3/<gv>`: the paths and operations of one group version, or `None` if unserved.
pub fn group_version(gv: &str) -> Option<Value> {
    let resources: Vec<&Resource> = RESOURCES.iter().filter(|r| gv_path(r) == gv).collect();
    if resources.is_empty() {
        return None;
    }
    let mut paths = Map::new();
    for resource in resources {
        let base = format!("/{gv}");
        let scoped = if resource.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}", resource.plural)
        } else {
            format!("{base}/{}", resource.plural)
        };
        paths.insert(
            scoped.clone(),
            json!({
                "get": operation(resource, "list", LIST_PARAMS, None),
                "post": operation(resource, "post", WRITE_PARAMS, None),
                "delete": operation(resource, "deletecollection", &[LIST_PARAMS, DELETE_PARAMS].concat(), None),
            }),
        );
        if resource.namespaced {
            paths.insert(
                format!("{base}/{}", resource.plural),
                json!({"get": operation(resource, "list", LIST_PARAMS, None)}),
            );
        }
        let item = format!("{scoped}/{{name}}");
        paths.insert(
            item.clone(),
            json!({
                "get": operation(resource, "get", &[], None),
                "put": operation(resource, "put", WRITE_PARAMS, None),
                "patch": operation(resource, "patch", PATCH_PARAMS, None),
                "delete": operation(resource, "delete", DELETE_PARAMS, None),
            }),
        );
        for subresource in resource.subresources {
            let path = format!("{item}/{}", subresource.name());
            let entry = match subresource {
                Subresource::Status => json!({
                    "get": operation(resource, "get", &[], None),
                    "put": operation(resource, "put", WRITE_PARAMS, None),
                    "patch": operation(resource, "patch", PATCH_PARAMS, None),
                }),
                Subresource::Scale => {
                    let scale = Some(("autoscaling", "v1", "Scale"));
                    json!({
                        "get": operation(resource, "get", &[], scale),
                        "put": operation(resource, "put", WRITE_PARAMS, scale),
                        "patch": operation(resource, "patch", PATCH_PARAMS, scale),
                    })
                }
                Subresource::Binding => json!({
                    "post": operation(resource, "post", WRITE_PARAMS, Some(("", "v1", "Binding"))),
                }),
                Subresource::Finalize => json!({
                    "put": operation(resource, "put", WRITE_PARAMS, None),
                }),
                Subresource::Log => json!({
                    "get": operation(resource, "get", &["container", "follow", "previous", "tailLines", "timestamps", "sinceSeconds"], None),
                }),
                Subresource::Exec => json!({
                    "get": operation(resource, "connect", &["command", "container", "stdin", "stdout", "stderr", "tty"], Some(("", "v1", "PodExecOptions"))),
                    "post": operation(resource, "connect", &["command", "container", "stdin", "stdout", "stderr", "tty"], Some(("", "v1", "PodExecOptions"))),
                }),
                Subresource::Attach => json!({
                    "get": operation(resource, "connect", &["container", "stdin", "stdout", "stderr", "tty"], Some(("", "v1", "PodAttachOptions"))),
                    "post": operation(resource, "connect", &["container", "stdin", "stdout", "stderr", "tty"], Some(("", "v1", "PodAttachOptions"))),
                }),
                Subresource::PortForward => json!({
                    "get": operation(resource, "connect", &["ports"], Some(("", "v1", "PodPortForwardOptions"))),
                    "post": operation(resource, "connect", &["ports"], Some(("", "v1", "PodPortForwardOptions"))),
                }),
            };
            paths.insert(path, entry);
        }
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What kubectl's field-validation check looks for: a PATCH operation of the kind that
    /// lists `fieldValidation`.
    fn patch_supports_field_validation(document: &Value, group: &str, kind: &str) -> bool {
        document["paths"].as_object().unwrap().values().any(|path| {
            let Some(patch) = path.get("patch") else {
                return false;
            };
            let gvk = &patch["x-kubernetes-group-version-kind"];
            gvk["group"] == group
                && gvk["kind"] == kind
                && patch["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["name"] == "fieldValidation")
        })
    }

    #[test]
    fn every_kind_declares_server_side_field_validation() {
        for resource in RESOURCES {
            let document = group_version(&gv_path(resource)).unwrap();
            assert!(
                patch_supports_field_validation(&document, resource.group, resource.kind),
                "{}",
                resource.qualified()
            );
        }
    }

    #[test]
    fn root_points_at_each_group_version_once() {
        let root = root();
        let paths = root["paths"].as_object().unwrap();
        for gv in [
            "api/v1",
            "apis/apps/v1",
            "apis/discovery.k8s.io/v1",
            "apis/coordination.k8s.io/v1",
            "apis/events.k8s.io/v1",
        ] {
            let url = paths[gv]["serverRelativeURL"].as_str().unwrap();
            assert!(url.starts_with(&format!("/openapi/v3/{gv}?hash=")), "{url}");
        }
        assert_eq!(paths.len(), 5);
        assert!(group_version("apis/apps/v2").is_none());
    }
}
