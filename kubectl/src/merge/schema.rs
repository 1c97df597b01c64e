//! Which fields of the built-in kinds carry strategic-merge-patch tags.
//!
//! Upstream kubectl reads these from the Go structs of `k8s.io/api` (`patchStrategy:"merge"
//! patchMergeKey:"name"`, `patchStrategy:"merge,retainKeys"`, `patchStrategy:"replace"`) when
//! the server's OpenAPI has no schema for the kind, which is the case against tinykube. Only the
//! paths that lead to a tagged field are written down; every other field is untagged (maps
//! merge key by key, lists are replaced whole), as upstream treats it.

/// The `patchStrategy` of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// No tag: maps merge key by key, lists are replaced.
    #[default]
    Replace,
    /// `merge`: lists merge by `merge_key` (lists of objects) or as sets (lists of scalars).
    Merge,
    /// `replace` on a map: the map is replaced whole.
    ReplaceMap,
}

/// The patch tags of one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PatchMeta {
    pub strategy: Strategy,
    /// `retainKeys` among the strategies: a patch of this map (or of each element of this list)
    /// carries a `$retainKeys` directive listing the keys it keeps.
    pub retain_keys: bool,
    /// `patchMergeKey`, empty when none.
    pub merge_key: &'static str,
}

/// A struct type with at least one tagged field somewhere below it.
#[derive(Debug)]
pub struct Node {
    pub fields: &'static [Field],
}

/// A field of a [`Node`]: its JSON name, tags and the node of its value (or list element).
#[derive(Debug)]
pub struct Field {
    pub name: &'static str,
    pub meta: PatchMeta,
    pub node: Schema,
}

/// Where a walk through an object is in the schema; `None` below anything tagged.
pub type Schema = Option<&'static Node>;

/// The node below field `key` of `schema` and that field's tags.
pub fn lookup(schema: Schema, key: &str) -> (Schema, PatchMeta) {
    schema
        .and_then(|node| node.fields.iter().find(|f| f.name == key))
        .map_or((None, PatchMeta::default()), |f| (f.node, f.meta))
}

/// The schema of a kind in `group` (empty for core). Kinds we know nothing about get the
/// tags every object has in its metadata.
pub fn for_kind(group: &str, kind: &str) -> &'static Node {
    match (group, kind) {
        ("", "Pod") => &POD,
        ("", "PodTemplate") => &POD_TEMPLATE,
        ("", "ReplicationController") | ("apps", "ReplicaSet" | "StatefulSet" | "DaemonSet") => {
            &WORKLOAD
        }
        ("batch", "Job") => &WORKLOAD,
        ("apps", "Deployment") => &DEPLOYMENT,
        ("batch", "CronJob") => &CRON_JOB,
        ("", "Service") => &SERVICE,
        ("", "Node") => &NODE,
        ("", "ServiceAccount") => &SERVICE_ACCOUNT,
        ("policy", "PodDisruptionBudget") => &POD_DISRUPTION_BUDGET,
        _ => &OBJECT,
    }
}

const fn field(name: &'static str, node: &'static Node) -> Field {
    Field {
        name,
        meta: PatchMeta {
            strategy: Strategy::Replace,
            retain_keys: false,
            merge_key: "",
        },
        node: Some(node),
    }
}

const fn merge(name: &'static str, merge_key: &'static str, node: Schema) -> Field {
    Field {
        name,
        meta: PatchMeta {
            strategy: Strategy::Merge,
            retain_keys: false,
            merge_key,
        },
        node,
    }
}

const fn merge_retain(name: &'static str, merge_key: &'static str) -> Field {
    Field {
        name,
        meta: PatchMeta {
            strategy: Strategy::Merge,
            retain_keys: true,
            merge_key,
        },
        node: None,
    }
}

const fn retain(name: &'static str) -> Field {
    Field {
        name,
        meta: PatchMeta {
            strategy: Strategy::Replace,
            retain_keys: true,
            merge_key: "",
        },
        node: None,
    }
}

const fn replace_map(name: &'static str) -> Field {
    Field {
        name,
        meta: PatchMeta {
            strategy: Strategy::ReplaceMap,
            retain_keys: false,
            merge_key: "",
        },
        node: None,
    }
}

static META: Node = Node {
    fields: &[
        merge("ownerReferences", "uid", None),
        merge("finalizers", "", None),
    ],
};
static CONDITIONS: Node = Node {
    fields: &[merge("conditions", "type", None)],
};
static OBJECT: Node = Node {
    fields: &[field("metadata", &META)],
};
static CONTAINER: Node = Node {
    fields: &[
        merge("ports", "containerPort", None),
        merge("env", "name", None),
        merge("volumeMounts", "mountPath", None),
        merge("volumeDevices", "devicePath", None),
    ],
};
static POD_SPEC: Node = Node {
    fields: &[
        merge_retain("volumes", "name"),
        merge("initContainers", "name", Some(&CONTAINER)),
        merge("containers", "name", Some(&CONTAINER)),
        merge("ephemeralContainers", "name", Some(&CONTAINER)),
        merge("imagePullSecrets", "name", None),
        merge("hostAliases", "ip", None),
        merge("topologySpreadConstraints", "topologyKey", None),
        merge("schedulingGates", "name", None),
        merge_retain("resourceClaims", "name"),
    ],
};
static POD_STATUS: Node = Node {
    fields: &[
        merge("conditions", "type", None),
        merge("hostIPs", "ip", None),
        merge("podIPs", "ip", None),
    ],
};
static POD: Node = Node {
    fields: &[
        field("metadata", &META),
        field("spec", &POD_SPEC),
        field("status", &POD_STATUS),
    ],
};
static TEMPLATE: Node = Node {
    fields: &[field("metadata", &META), field("spec", &POD_SPEC)],
};
static POD_TEMPLATE: Node = Node {
    fields: &[field("metadata", &META), field("template", &TEMPLATE)],
};
static WORKLOAD_SPEC: Node = Node {
    fields: &[field("template", &TEMPLATE)],
};
static WORKLOAD: Node = Node {
    fields: &[
        field("metadata", &META),
        field("spec", &WORKLOAD_SPEC),
        field("status", &CONDITIONS),
    ],
};
static DEPLOYMENT_SPEC: Node = Node {
    fields: &[field("template", &TEMPLATE), retain("strategy")],
};
static DEPLOYMENT: Node = Node {
    fields: &[
        field("metadata", &META),
        field("spec", &DEPLOYMENT_SPEC),
        field("status", &CONDITIONS),
    ],
};
static JOB_TEMPLATE: Node = Node {
    fields: &[field("metadata", &META), field("spec", &WORKLOAD_SPEC)],
};
static CRON_JOB_SPEC: Node = Node {
    fields: &[field("jobTemplate", &JOB_TEMPLATE)],
};
static CRON_JOB: Node = Node {
    fields: &[field("metadata", &META), field("spec", &CRON_JOB_SPEC)],
};
static SERVICE_SPEC: Node = Node {
    fields: &[merge("ports", "port", None)],
};
static SERVICE: Node = Node {
    fields: &[
        field("metadata", &META),
        field("spec", &SERVICE_SPEC),
        field("status", &CONDITIONS),
    ],
};
static NODE_SPEC: Node = Node {
    fields: &[merge("podCIDRs", "", None)],
};
static NODE_STATUS: Node = Node {
    fields: &[
        merge("conditions", "type", None),
        merge("addresses", "type", None),
    ],
};
static NODE: Node = Node {
    fields: &[
        field("metadata", &META),
        field("spec", &NODE_SPEC),
        field("status", &NODE_STATUS),
    ],
};
static SERVICE_ACCOUNT: Node = Node {
    fields: &[field("metadata", &META), merge("secrets", "name", None)],
};
static PDB_SPEC: Node = Node {
    fields: &[replace_map("selector")],
};
static POD_DISRUPTION_BUDGET: Node = Node {
    fields: &[
        field("metadata", &META),
        field("spec", &PDB_SPEC),
        field("status", &CONDITIONS),
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    fn at(group: &str, kind: &str, path: &[&str]) -> PatchMeta {
        let mut schema: Schema = Some(for_kind(group, kind));
        let mut meta = PatchMeta::default();
        for key in path {
            (schema, meta) = lookup(schema, key);
        }
        meta
    }

    #[test]
    fn finds_the_tags_upstream_declares() {
        type Case<'a> = (&'a str, &'a str, &'a [&'a str], Strategy, &'a str, bool);
        let cases: &[Case] = &[
            (
                "apps",
                "Deployment",
                &["spec", "template", "spec", "containers"],
                Strategy::Merge,
                "name",
                false,
            ),
            (
                "apps",
                "Deployment",
                &["spec", "template", "spec", "containers", "env"],
                Strategy::Merge,
                "name",
                false,
            ),
            (
                "apps",
                "Deployment",
                &["spec", "template", "spec", "containers", "ports"],
                Strategy::Merge,
                "containerPort",
                false,
            ),
            (
                "apps",
                "Deployment",
                &["spec", "template", "spec", "volumes"],
                Strategy::Merge,
                "name",
                true,
            ),
            (
                "apps",
                "Deployment",
                &["spec", "strategy"],
                Strategy::Replace,
                "",
                true,
            ),
            (
                "apps",
                "Deployment",
                &["spec", "template", "spec", "tolerations"],
                Strategy::Replace,
                "",
                false,
            ),
            (
                "",
                "Pod",
                &["spec", "containers", "args"],
                Strategy::Replace,
                "",
                false,
            ),
            (
                "",
                "Service",
                &["spec", "ports"],
                Strategy::Merge,
                "port",
                false,
            ),
            (
                "",
                "ConfigMap",
                &["metadata", "finalizers"],
                Strategy::Merge,
                "",
                false,
            ),
            ("", "ConfigMap", &["data"], Strategy::Replace, "", false),
            (
                "batch",
                "CronJob",
                &[
                    "spec",
                    "jobTemplate",
                    "spec",
                    "template",
                    "spec",
                    "containers",
                ],
                Strategy::Merge,
                "name",
                false,
            ),
            (
                "policy",
                "PodDisruptionBudget",
                &["spec", "selector"],
                Strategy::ReplaceMap,
                "",
                false,
            ),
            (
                "example.com",
                "Widget",
                &["spec", "containers"],
                Strategy::Replace,
                "",
                false,
            ),
        ];
        for (group, kind, path, strategy, key, retain_keys) in cases {
            let meta = at(group, kind, path);
            assert_eq!(
                (meta.strategy, meta.merge_key, meta.retain_keys),
                (*strategy, *key, *retain_keys),
                "{kind} {path:?}"
            );
        }
    }
}
