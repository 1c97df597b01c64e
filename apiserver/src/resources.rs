//! The resources this apiserver serves, declared once: group, version, kind, names, scope,
//! verbs and subresources. Discovery, routing, storage keys and per-kind behaviour all read this
//! table, so adding a resource is one entry here plus its strategy in `kinds`.

use serde_json::{json, Value};

/// Verbs of a full read-write resource, as discovery lists them.
const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// One subresource of a resource (`pods/status`, `deployments/scale`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subresource {
    /// `/status`: GET, PUT and PATCH of the object's status only.
    Status,
    /// `/scale`: an `autoscaling/v1` Scale view of `spec.replicas`.
    Scale,
    /// `pods/{name}/binding`: POST a Binding to assign the pod to a node.
    Binding,
    /// `namespaces/{name}/finalize`: PUT to clear `spec.finalizers`.
    Finalize,
    /// `pods/{name}/log`, `pods/{name}/exec`, `pods/{name}/attach` and
    /// `pods/{name}/portforward`: proxied to the pod's kubelet.
    Log,
    Exec,
    Attach,
    PortForward,
}

impl Subresource {
    pub fn name(self) -> &'static str {
        match self {
            Subresource::Status => "status",
            Subresource::Scale => "scale",
            Subresource::Binding => "binding",
            Subresource::Finalize => "finalize",
            Subresource::Log => "log",
            Subresource::Exec => "exec",
            Subresource::Attach => "attach",
            Subresource::PortForward => "portforward",
        }
    }

    fn discovery(self, resource: &Resource) -> Value {
        let (kind, group, version, verbs): (&str, &str, &str, &[&str]) = match self {
            Subresource::Status => (resource.kind, "", "", &["get", "patch", "update"]),
            Subresource::Scale => ("Scale", "autoscaling", "v1", &["get", "patch", "update"]),
            Subresource::Binding => ("Binding", "", "", &["create"]),
            Subresource::Finalize => (resource.kind, "", "", &["update"]),
            Subresource::Log => ("Pod", "", "", &["get"]),
            Subresource::Exec => ("PodExecOptions", "", "", &["create", "get"]),
            Subresource::Attach => ("PodAttachOptions", "", "", &["create", "get"]),
            Subresource::PortForward => ("PodPortForwardOptions", "", "", &["create", "get"]),
        };
        let mut entry = json!({
            "name": format!("{}/{}", resource.plural, self.name()),
            "singularName": "",
            "namespaced": resource.namespaced,
            "kind": kind,
            "verbs": verbs,
        });
        if !group.is_empty() {
            entry["group"] = json!(group);
            entry["version"] = json!(version);
        }
        entry
    }
}

/// A served resource.
#[derive(Debug, PartialEq, Eq)]
pub struct Resource {
    /// API group; empty for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub subresources: &'static [Subresource],
    /// Whether `metadata.generation` counts spec changes (objects whose controllers report
    /// `status.observedGeneration`).
    pub tracks_generation: bool,
}

impl Resource {
    /// `apps/v1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The plural qualified by group (`deployments.apps`, `pods`), as upstream names resources
    /// in messages and as `kinds`, `patch` and `table` key their per-resource behaviour.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `Deployment.apps`, `Pod`: how upstream names a kind in validation errors.
    pub fn qualified_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.to_string()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    pub fn has_subresource(&self, subresource: Subresource) -> bool {
        self.subresources.contains(&subresource)
    }

    pub fn find_subresource(&self, name: &str) -> Option<Subresource> {
        self.subresources.iter().copied().find(|s| s.name() == name)
    }

    fn discovery(&self) -> Vec<Value> {
        let mut entry = json!({
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": ALL_VERBS,
        });
        if !self.short_names.is_empty() {
            entry["shortNames"] = json!(self.short_names);
        }
        if !self.categories.is_empty() {
            entry["categories"] = json!(self.categories);
        }
        let mut entries = vec![entry];
        entries.extend(self.subresources.iter().map(|s| s.discovery(self)));
        entries
    }
}

use Subresource::*;

/// Every resource the apiserver serves.
pub static RESOURCES: &[Resource] = &[
    Resource {
        group: "",
        version: "v1",
        kind: "Namespace",
        plural: "namespaces",
        singular: "namespace",
        namespaced: false,
        short_names: &["ns"],
        categories: &[],
        subresources: &[Status, Finalize],
        tracks_generation: false,
    },
    Resource {
        group: "",
        version: "v1",
        kind: "Pod",
        plural: "pods",
        singular: "pod",
        namespaced: true,
        short_names: &["po"],
        categories: &["all"],
        subresources: &[Status, Attach, Binding, Log, Exec, PortForward],
        tracks_generation: false,
    },
    Resource {
        group: "",
        version: "v1",
        kind: "Node",
        plural: "nodes",
        singular: "node",
        namespaced: false,
        short_names: &["no"],
        categories: &[],
        subresources: &[Status],
        tracks_generation: false,
    },
    Resource {
        group: "",
        version: "v1",
        kind: "Service",
        plural: "services",
        singular: "service",
        namespaced: true,
        short_names: &["svc"],
        categories: &["all"],
        subresources: &[Status],
        tracks_generation: false,
    },
    Resource {
        group: "",
        version: "v1",
        kind: "Endpoints",
        plural: "endpoints",
        singular: "endpoints",
        namespaced: true,
        short_names: &["ep"],
        categories: &[],
        subresources: &[],
        tracks_generation: false,
    },
    Resource {
        group: "",
        version: "v1",
        kind: "Secret",
        plural: "secrets",
        singular: "secret",
        namespaced: true,
        short_names: &[],
        categories: &[],
        subresources: &[],
        tracks_generation: false,
    },
    Resource {
        group: "",
        version: "v1",
        kind: "ConfigMap",
        plural: "configmaps",
        singular: "configmap",
        namespaced: true,
        short_names: &["cm"],
        categories: &[],
        subresources: &[],
        tracks_generation: false,
    },
    Resource {
        group: "",
        version: "v1",
        kind: "Event",
        plural: "events",
        singular: "event",
        namespaced: true,
        short_names: &["ev"],
        categories: &[],
        subresources: &[],
        tracks_generation: false,
    },
    Resource {
        group: "",
        version: "v1",
        kind: "ServiceAccount",
        plural: "serviceaccounts",
        singular: "serviceaccount",
        namespaced: true,
        short_names: &["sa"],
        categories: &[],
        subresources: &[],
        tracks_generation: false,
    },
    Resource {
        group: "apps",
        version: "v1",
        kind: "Deployment",
        plural: "deployments",
        singular: "deployment",
        namespaced: true,
        short_names: &["deploy"],
        categories: &["all"],
        subresources: &[Status, Scale],
        tracks_generation: true,
    },
    Resource {
        group: "apps",
        version: "v1",
        kind: "ReplicaSet",
        plural: "replicasets",
        singular: "replicaset",
        namespaced: true,
        short_names: &["rs"],
        categories: &["all"],
        subresources: &[Status, Scale],
        tracks_generation: true,
    },
    Resource {
        group: "discovery.k8s.io",
        version: "v1",
        kind: "EndpointSlice",
        plural: "endpointslices",
        singular: "endpointslice",
        namespaced: true,
        short_names: &[],
        categories: &[],
        subresources: &[],
        tracks_generation: false,
    },
    Resource {
        group: "coordination.k8s.io",
        version: "v1",
        kind: "Lease",
        plural: "leases",
        singular: "lease",
        namespaced: true,
        short_names: &[],
        categories: &[],
        subresources: &[],
        tracks_generation: false,
    },
    Resource {
        group: "events.k8s.io",
        version: "v1",
        kind: "Event",
        plural: "events",
        singular: "event",
        namespaced: true,
        short_names: &["ev"],
        categories: &[],
        subresources: &[],
        tracks_generation: false,
    },
];

/// The resource served at `group`/`version` under `plural`.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The API groups other than core, in the order discovery lists them.
pub fn groups() -> Vec<&'static str> {
    let mut groups: Vec<&'static str> = Vec::new();
    for resource in RESOURCES.iter().filter(|r| !r.group.is_empty()) {
        if !groups.contains(&resource.group) {
            groups.push(resource.group);
        }
    }
    groups
}

/// `/api`: the core group's versions.
pub fn core_versions() -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [],
    })
}

/// `/apis`: every named group with its versions.
pub fn group_list() -> Value {
    let groups: Vec<Value> = groups().into_iter().map(group_discovery).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`: one group.
pub fn group_discovery(group: &str) -> Value {
    let version = RESOURCES
        .iter()
        .find(|r| r.group == group)
        .map(|r| r.version)
        .unwrap_or("v1");
    let group_version = json!({"groupVersion": format!("{group}/{version}"), "version": version});
    json!({
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": [group_version.clone()],
        "preferredVersion": group_version,
    })
}

/// `/api/v1`, `/apis/<group>/<version>`: the resources of one group version, or `None` when
/// the group version is not served.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let resources: Vec<Value> = RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .flat_map(Resource::discovery)
        .collect();
    if resources.is_empty() {
        return None;
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_resolve_to_one_resource_each() {
        let cases = [
            ("po", "pods"),
            ("deploy", "deployments"),
            ("svc", "services"),
            ("rs", "replicasets"),
            ("ns", "namespaces"),
            ("no", "nodes"),
            ("ep", "endpoints"),
            ("cm", "configmaps"),
        ];
        for (short, plural) in cases {
            let owners: Vec<&str> = RESOURCES
                .iter()
                .filter(|r| r.short_names.contains(&short))
                .map(|r| r.plural)
                .collect();
            assert_eq!(owners, vec![plural], "short name {short}");
        }
    }

    #[test]
    fn category_all_holds_the_workloads_and_services() {
        let all: Vec<String> = RESOURCES
            .iter()
            .filter(|r| r.categories.contains(&"all"))
            .map(Resource::qualified)
            .collect();
        assert_eq!(
            all,
            ["pods", "services", "deployments.apps", "replicasets.apps"]
        );
    }

    #[test]
    fn discovery_lists_subresources_after_their_resource() {
        let core = resource_list("", "v1").unwrap();
        let names: Vec<&str> = core["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        let pods = names.iter().position(|n| *n == "pods").unwrap();
        assert_eq!(names[pods + 1], "pods/status");
        assert!(names.contains(&"pods/binding"));
        let portforward =
            &core["resources"][names.iter().position(|n| *n == "pods/portforward").unwrap()];
        assert_eq!(portforward["kind"], "PodPortForwardOptions");
        assert_eq!(portforward["verbs"], json!(["create", "get"]));
        let attach = &core["resources"][names.iter().position(|n| *n == "pods/attach").unwrap()];
        assert_eq!(attach["kind"], "PodAttachOptions");
        assert_eq!(attach["verbs"], json!(["create", "get"]));
        let apps = resource_list("apps", "v1").unwrap();
        let scale = apps["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "deployments/scale")
            .unwrap();
        assert_eq!(scale["group"], "autoscaling");
        assert_eq!(scale["kind"], "Scale");
        assert!(resource_list("apps", "v2").is_none());
    }

    #[test]
    fn groups_are_listed_once_with_their_preferred_version() {
        let list = group_list();
        let names: Vec<&str> = list["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "apps",
                "discovery.k8s.io",
                "coordination.k8s.io",
                "events.k8s.io"
            ]
        );
        assert_eq!(
            list["groups"][0]["preferredVersion"]["groupVersion"],
            "apps/v1"
        );
    }
}
