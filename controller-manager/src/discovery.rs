//! The resources the garbage collector and the namespace controller act on, from the
//! apiserver's discovery documents (`/api`, `/apis`), as upstream's controllers find them.

use kube::discovery::{verbs, ApiResource, Discovery, Scope};
use kube::Client;

use crate::error::{Error, Result};

/// One served resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedResource {
    pub resource: ApiResource,
    pub namespaced: bool,
    pub verbs: Vec<String>,
}

impl ServedResource {
    pub fn supports(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }

    /// `plural.group` (or `plural` for the core group), as kubectl names resources.
    pub fn qualified(&self) -> String {
        if self.resource.group.is_empty() {
            self.resource.plural.clone()
        } else {
            format!("{}.{}", self.resource.plural, self.resource.group)
        }
    }
}

/// Every resource in its preferred version.
pub async fn discover(client: &Client) -> Result<Vec<ServedResource>> {
    let discovery = Discovery::new(client.clone())
        .run()
        .await
        .map_err(|e| Error::api("discover", "api resources", e))?;
    let mut out = Vec::new();
    for group in discovery.groups() {
        for (resource, caps) in group.recommended_resources() {
            out.push(ServedResource {
                namespaced: caps.scope == Scope::Namespaced,
                verbs: caps.operations.clone(),
                resource,
            });
        }
    }
    out.sort_by_key(|r| r.qualified());
    Ok(out)
}

/// Upstream's garbage collector ignores events; everything else that can be listed, watched
/// and deleted takes part.
pub fn garbage_collected(resources: &[ServedResource]) -> Vec<ServedResource> {
    resources
        .iter()
        .filter(|r| r.resource.plural != "events")
        .filter(|r| {
            r.supports(verbs::LIST) && r.supports(verbs::WATCH) && r.supports(verbs::DELETE)
        })
        .cloned()
        .collect()
}

/// What the namespace controller deletes: namespaced resources that can be listed and deleted.
pub fn namespaced_deletable(resources: &[ServedResource]) -> Vec<ServedResource> {
    resources
        .iter()
        .filter(|r| r.namespaced)
        .filter(|r| r.supports(verbs::LIST) && r.supports(verbs::DELETE))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served(group: &str, plural: &str, namespaced: bool, verbs: &[&str]) -> ServedResource {
        ServedResource {
            resource: ApiResource {
                group: group.into(),
                version: "v1".into(),
                api_version: if group.is_empty() {
                    "v1".into()
                } else {
                    format!("{group}/v1")
                },
                kind: "K".into(),
                plural: plural.into(),
            },
            namespaced,
            verbs: verbs.iter().map(|v| v.to_string()).collect(),
        }
    }

    #[test]
    fn selections() {
        let all = [
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ];
        let resources = vec![
            served("", "pods", true, &all),
            served("", "events", true, &all),
            served("events.k8s.io", "events", true, &all),
            served("", "nodes", false, &all),
            served("", "bindings", true, &["create"]),
            served("apps", "deployments", true, &all),
        ];
        let gc: Vec<String> = garbage_collected(&resources)
            .iter()
            .map(|r| r.qualified())
            .collect();
        assert_eq!(gc, ["pods", "nodes", "deployments.apps"]);
        let ns: Vec<String> = namespaced_deletable(&resources)
            .iter()
            .map(|r| r.qualified())
            .collect();
        assert_eq!(
            ns,
            ["pods", "events", "events.events.k8s.io", "deployments.apps"]
        );
    }
}
