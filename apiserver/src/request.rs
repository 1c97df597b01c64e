//! Turning a request path into what it addresses, as upstream's RequestInfoFactory does:
//! `/api/v1/namespaces/default/pods/web/status` -> resource `pods`, namespace `default`, name
//! `web`, subresource `status`. Pure, so every path shape has a table-driven test.

use crate::resources::{self, Resource, Subresource};

/// What a resource path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub resource: &'static Resource,
    /// The namespace from the path; `None` for cluster-scoped resources and for lists and
    /// watches across all namespaces.
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<Subresource>,
    /// The legacy `/watch/` path prefix was used.
    pub legacy_watch: bool,
}

/// Why a path addresses nothing we serve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the server could not find the requested resource")]
    NotFound,
}

/// Namespace subresources that must not be read as a resource inside the namespace.
const NAMESPACE_SUBRESOURCES: &[&str] = &["status", "finalize"];

/// Parses a path below `/api` or `/apis`. Discovery paths (`/api`, `/apis/apps`, ...) are
/// handled before this and are not accepted here.
pub fn parse_path(path: &str) -> Result<Target, PathError> {
    let parts: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    let (group, version, mut rest) = match parts.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Err(PathError::NotFound),
    };
    let legacy_watch = rest.first() == Some(&"watch");
    if legacy_watch {
        rest = &rest[1..];
    }
    let mut namespace = None;
    if rest.first() == Some(&"namespaces") && rest.len() > 1 {
        namespace = Some(rest[1].to_string());
        if rest.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&rest[2]) {
            rest = &rest[2..];
        }
    }
    let (plural, name, subresource) = match rest {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some(*name), None),
        [plural, name, sub] => (*plural, Some(*name), Some(*sub)),
        _ => return Err(PathError::NotFound),
    };
    let resource = resources::find(group, version, plural).ok_or(PathError::NotFound)?;
    // `/api/v1/namespaces/foo[/status]` names the namespace `foo`, not a namespace scope.
    if resource.plural == "namespaces" && resource.group.is_empty() {
        namespace = None;
    }
    if namespace.is_some() && !resource.namespaced {
        return Err(PathError::NotFound);
    }
    let subresource = match subresource {
        Some(sub) => Some(resource.find_subresource(sub).ok_or(PathError::NotFound)?),
        None => None,
    };
    Ok(Target {
        resource,
        namespace,
        name: name.map(str::to_string),
        subresource,
        legacy_watch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    type Expected<'a> = Option<(&'a str, Option<&'a str>, Option<&'a str>, Option<&'a str>)>;

    #[test]
    fn paths_address_resources_as_upstream() {
        let cases: &[(&str, Expected)] = &[
            ("/api/v1/pods", Some(("pods", None, None, None))),
            (
                "/api/v1/namespaces/default/pods",
                Some(("pods", Some("default"), None, None)),
            ),
            (
                "/api/v1/namespaces/default/pods/web",
                Some(("pods", Some("default"), Some("web"), None)),
            ),
            (
                "/api/v1/namespaces/default/pods/web/status",
                Some(("pods", Some("default"), Some("web"), Some("status"))),
            ),
            (
                "/api/v1/namespaces/default/pods/web/binding",
                Some(("pods", Some("default"), Some("web"), Some("binding"))),
            ),
            ("/api/v1/namespaces", Some(("namespaces", None, None, None))),
            (
                "/api/v1/namespaces/kube-system",
                Some(("namespaces", None, Some("kube-system"), None)),
            ),
            (
                "/api/v1/namespaces/kube-system/status",
                Some(("namespaces", None, Some("kube-system"), Some("status"))),
            ),
            (
                "/api/v1/namespaces/kube-system/finalize",
                Some(("namespaces", None, Some("kube-system"), Some("finalize"))),
            ),
            ("/api/v1/nodes/n1", Some(("nodes", None, Some("n1"), None))),
            (
                "/apis/apps/v1/namespaces/default/deployments/web/scale",
                Some(("deployments", Some("default"), Some("web"), Some("scale"))),
            ),
            (
                "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1",
                Some(("leases", Some("kube-node-lease"), Some("n1"), None)),
            ),
            (
                "/api/v1/watch/namespaces/default/pods",
                Some(("pods", Some("default"), None, None)),
            ),
            ("/api/v1/nodes/n1/scale", None),
            ("/api/v1/namespaces/default/nodes", None),
            ("/api/v1/widgets", None),
            ("/apis/apps/v2/deployments", None),
            ("/api/v1/namespaces/default/pods/web/status/extra", None),
            ("/apis/apps", None),
            ("/healthz", None),
        ];
        for (path, expected) in cases {
            let got = parse_path(path).ok().map(|t| {
                (
                    t.resource.plural,
                    t.namespace,
                    t.name,
                    t.subresource.map(Subresource::name),
                )
            });
            let expected =
                expected.map(|(p, ns, n, s)| (p, ns.map(str::to_string), n.map(str::to_string), s));
            assert_eq!(got, expected, "{path}");
        }
    }

    #[test]
    fn legacy_watch_prefix_is_reported() {
        assert!(parse_path("/api/v1/watch/pods").unwrap().legacy_watch);
        assert!(!parse_path("/api/v1/pods").unwrap().legacy_watch);
    }
}
