//! etcd storage keys for API objects.
//!
//! Objects live at `/registry/<resource>/<namespace>/<name>`, cluster-scoped
//! ones at `/registry/<resource>/<name>`; a list or watch of a resource reads
//! everything under the matching prefix, which always ends in `/` so that
//! `pods/default/` never also matches `pods/default-2/`.
//!
//! Two upstream quirks are kept so that the etcd layout matches a real
//! cluster's (and tools such as `etcdctl get --prefix /registry/services/specs`
//! work as people expect):
//!
//! * `services` live under `/registry/services/specs/`;
//! * `endpoints` live under `/registry/services/endpoints/`.
//!
//! Every other resource uses its plural name. A `None` or empty namespace
//! means cluster-scoped — or, for a prefix, all namespaces. Names are not
//! validated here; the apiserver validates them before building keys.

/// Root of all keys (upstream's default `--etcd-prefix`).
pub const REGISTRY_ROOT: &str = "/registry";

/// The path segment(s) under [`REGISTRY_ROOT`] for `resource`.
fn resource_dir(resource: &str) -> &str {
    match resource {
        "services" => "services/specs",
        "endpoints" => "services/endpoints",
        other => other,
    }
}

/// `/registry/<resource>/` or `/registry/<resource>/<namespace>/`: the prefix
/// to list a resource, across all namespaces or within one.
pub fn storage_prefix(resource: &str, namespace: Option<&str>) -> String {
    let dir = resource_dir(resource);
    match namespace.filter(|ns| !ns.is_empty()) {
        Some(ns) => format!("{REGISTRY_ROOT}/{dir}/{ns}/"),
        None => format!("{REGISTRY_ROOT}/{dir}/"),
    }
}

/// The key of one object: `/registry/<resource>/<namespace>/<name>`, or
/// `/registry/<resource>/<name>` when cluster-scoped.
pub fn storage_key(resource: &str, namespace: Option<&str>, name: &str) -> String {
    format!("{}{name}", storage_prefix(resource, namespace))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let cases = [
            ("pods", Some("default"), "web", "/registry/pods/default/web"),
            (
                "deployments",
                Some("kube-system"),
                "dns",
                "/registry/deployments/kube-system/dns",
            ),
            ("nodes", None, "n1", "/registry/nodes/n1"),
            (
                "namespaces",
                Some(""),
                "default",
                "/registry/namespaces/default",
            ),
            (
                "services",
                Some("default"),
                "kubernetes",
                "/registry/services/specs/default/kubernetes",
            ),
            (
                "endpoints",
                Some("default"),
                "kubernetes",
                "/registry/services/endpoints/default/kubernetes",
            ),
            (
                "endpointslices",
                Some("default"),
                "k-abc",
                "/registry/endpointslices/default/k-abc",
            ),
            (
                "leases",
                Some("kube-node-lease"),
                "n1",
                "/registry/leases/kube-node-lease/n1",
            ),
        ];
        for (resource, ns, name, want) in cases {
            assert_eq!(storage_key(resource, ns, name), want);
        }
    }

    #[test]
    fn prefixes() {
        let cases = [
            ("pods", None, "/registry/pods/"),
            ("pods", Some("default"), "/registry/pods/default/"),
            ("nodes", None, "/registry/nodes/"),
            ("services", None, "/registry/services/specs/"),
            ("services", Some("ns"), "/registry/services/specs/ns/"),
            ("endpoints", None, "/registry/services/endpoints/"),
            ("endpoints", Some(""), "/registry/services/endpoints/"),
        ];
        for (resource, ns, want) in cases {
            assert_eq!(storage_prefix(resource, ns), want);
        }
        // A key is always under its own prefixes.
        let key = storage_key("pods", Some("default"), "web");
        assert!(key.starts_with(&storage_prefix("pods", Some("default"))));
        assert!(key.starts_with(&storage_prefix("pods", None)));
        assert!(!storage_key("pods", Some("default-2"), "x")
            .starts_with(&storage_prefix("pods", Some("default"))));
    }
}
