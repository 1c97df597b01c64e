//! Which fields of the built-in kinds carry strategic-merge-patch tags: lists merged by a key,
//! lists of primitives merged as sets, maps replaced whole, structs patched with `retainKeys`.
//! The apiserver reads it to apply a strategic merge patch, `kubectl` to compute one.
//!
//! Upstream reads these facts from the Go struct tags of `k8s.io/api`
//! (`patchStrategy:"merge" patchMergeKey:"name"`, `patchStrategy:"merge,retainKeys"`,
//! `patchStrategy:"replace"`) through `pkg/util/strategicpatch`; this module restates them as a
//! small type graph. Only the types that lead to a tagged field are spelled out: any field not
//! listed here behaves as an untagged field upstream does (maps merge recursively, lists are
//! replaced). Untagged struct fields therefore need no entry, which is why e.g. `tolerations`,
//! `node.spec.taints`, `status.containerStatuses`, `envFrom`, endpoints `subsets` and
//! endpointslice `endpoints` are absent: upstream replaces them whole.

/// How a field is patched, from its `patchStrategy` tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// No tag: maps merge key by key, lists are replaced.
    #[default]
    None,
    /// `patchStrategy:"merge"`: lists are merged (by `merge_key` for lists of objects, as a set
    /// for lists of primitives).
    Merge,
    /// `patchStrategy:"replace"`: a map is replaced whole.
    Replace,
}

/// The patch metadata of one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PatchMeta {
    pub strategy: Strategy,
    /// `retainKeys` was among the strategies: a patch of this map (or of each element of this
    /// list) carries a `$retainKeys` directive listing the keys it keeps. Applying a patch
    /// honours that directive wherever it appears; computing one needs the tag.
    pub retain_keys: bool,
    /// `patchMergeKey`; empty when there is none.
    pub merge_key: &'static str,
}

/// A struct type: its fields that matter for strategic merge patch.
#[derive(Debug)]
pub struct TypeDef {
    pub name: &'static str,
    pub fields: &'static [FieldDef],
}

/// One field of a [`TypeDef`].
#[derive(Debug)]
pub struct FieldDef {
    /// The JSON name of the field.
    pub name: &'static str,
    pub meta: PatchMeta,
    /// The type of the field's value, or of its elements for a list; `None` when nothing below
    /// it carries patch metadata.
    pub ty: Option<&'static TypeDef>,
}

/// Where a walk through an object is in the schema: `None` once below any known type
/// (everything untagged).
pub type Schema = Option<&'static TypeDef>;

/// The name of the type at this point of the schema, for error messages.
pub fn name(schema: Schema) -> &'static str {
    schema.map_or("object", |t| t.name)
}

/// The schema and patch metadata of field `key` of the struct at `schema`. A field the table
/// does not know has no metadata and no schema below it.
pub fn lookup(schema: Schema, key: &str) -> (Schema, PatchMeta) {
    let Some(ty) = schema else {
        return (None, PatchMeta::default());
    };
    // Like encoding/json (and upstream's forked lookup), an exact match wins, then a
    // case-insensitive one.
    let field = ty
        .fields
        .iter()
        .find(|f| f.name == key)
        .or_else(|| ty.fields.iter().find(|f| f.name.eq_ignore_ascii_case(key)));
    match field {
        Some(f) => (f.ty, f.meta),
        None => (None, PatchMeta::default()),
    }
}

/// A kind with tagged fields below its metadata: its API group (empty for core), kind,
/// resource (plural) and type.
struct Root {
    group: &'static str,
    kind: &'static str,
    plural: &'static str,
    ty: &'static TypeDef,
}

const fn root(
    group: &'static str,
    kind: &'static str,
    plural: &'static str,
    ty: &'static TypeDef,
) -> Root {
    Root {
        group,
        kind,
        plural,
        ty,
    }
}

static ROOTS: [Root; 15] = [
    root("", "Pod", "pods", &POD),
    root("", "PodTemplate", "podtemplates", &POD_TEMPLATE),
    root(
        "",
        "ReplicationController",
        "replicationcontrollers",
        &REPLICATION_CONTROLLER,
    ),
    root("", "Service", "services", &SERVICE),
    root("", "Node", "nodes", &NODE),
    root("", "Namespace", "namespaces", &NAMESPACE),
    root("", "ServiceAccount", "serviceaccounts", &SERVICE_ACCOUNT),
    root(
        "",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        &PERSISTENT_VOLUME_CLAIM,
    ),
    root("apps", "Deployment", "deployments", &DEPLOYMENT),
    root("apps", "ReplicaSet", "replicasets", &REPLICA_SET),
    root("apps", "StatefulSet", "statefulsets", &STATEFUL_SET),
    root("apps", "DaemonSet", "daemonsets", &DAEMON_SET),
    root("batch", "Job", "jobs", &JOB),
    root("batch", "CronJob", "cronjobs", &CRON_JOB),
    root(
        "policy",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        &POD_DISRUPTION_BUDGET,
    ),
];

/// The root schema of a resource, named `plural` for the core group or `plural.group`
/// (`"pods"`, `"deployments.apps"`, `"endpointslices.discovery.k8s.io"`). Bare plurals of the
/// apps, batch and policy groups are accepted too. Anything else gets a schema that knows only
/// `metadata` (every built-in kind embeds ObjectMeta), so its maps merge and its lists replace.
pub fn for_resource(resource: &str) -> &'static TypeDef {
    let (plural, group) = resource.split_once('.').unwrap_or((resource, ""));
    ROOTS
        .iter()
        .find(|r| r.plural == plural && (r.group == group || group.is_empty()))
        .map_or(&GENERIC_OBJECT, |r| r.ty)
}

/// The root schema of `kind` in `group` (empty for core); like [`for_resource`], kinds the
/// table does not know get the tags every object has in its metadata.
pub fn for_kind(group: &str, kind: &str) -> &'static TypeDef {
    ROOTS
        .iter()
        .find(|r| r.kind == kind && r.group == group)
        .map_or(&GENERIC_OBJECT, |r| r.ty)
}

// ---- field constructors -------------------------------------------------------------------

/// An untagged field whose value (or list element) has tagged fields below it.
const fn nested(name: &'static str, ty: &'static TypeDef) -> FieldDef {
    FieldDef {
        name,
        meta: PatchMeta {
            strategy: Strategy::None,
            retain_keys: false,
            merge_key: "",
        },
        ty: Some(ty),
    }
}

/// `patchStrategy:"merge" patchMergeKey:"<key>"`.
const fn merge_by(name: &'static str, key: &'static str, ty: Option<&'static TypeDef>) -> FieldDef {
    FieldDef {
        name,
        meta: PatchMeta {
            strategy: Strategy::Merge,
            retain_keys: false,
            merge_key: key,
        },
        ty,
    }
}

/// `patchStrategy:"merge,retainKeys" patchMergeKey:"<key>"`.
const fn merge_by_retain_keys(name: &'static str, key: &'static str) -> FieldDef {
    FieldDef {
        name,
        meta: PatchMeta {
            strategy: Strategy::Merge,
            retain_keys: true,
            merge_key: key,
        },
        ty: None,
    }
}

/// `patchStrategy:"merge"` on a list of primitives (a set union).
const fn merge_set(name: &'static str) -> FieldDef {
    merge_by(name, "", None)
}

/// `patchStrategy:"retainKeys"` on a struct.
const fn retain_keys(name: &'static str) -> FieldDef {
    FieldDef {
        name,
        meta: PatchMeta {
            strategy: Strategy::None,
            retain_keys: true,
            merge_key: "",
        },
        ty: None,
    }
}

/// `patchStrategy:"replace"` on a struct.
const fn replace(name: &'static str) -> FieldDef {
    FieldDef {
        name,
        meta: PatchMeta {
            strategy: Strategy::Replace,
            retain_keys: false,
            merge_key: "",
        },
        ty: None,
    }
}

/// `conditions` merged by `type`, as on most status structs.
const CONDITIONS: FieldDef = merge_by("conditions", "type", None);

// ---- meta/v1 ------------------------------------------------------------------------------

/// ObjectMeta.
static OBJECT_META: TypeDef = TypeDef {
    name: "ObjectMeta",
    fields: &[
        merge_by("ownerReferences", "uid", None),
        merge_set("finalizers"),
    ],
};

/// Any kind whose only tagged fields are in its ObjectMeta (ConfigMap, Secret, Endpoints,
/// EndpointSlice, Event, Lease, ...).
static GENERIC_OBJECT: TypeDef = TypeDef {
    name: "Object",
    fields: &[nested("metadata", &OBJECT_META)],
};

/// A status whose only tagged field is `conditions` (merged by `type`).
static CONDITIONS_STATUS: TypeDef = TypeDef {
    name: "Status",
    fields: &[CONDITIONS],
};

// ---- core/v1 ------------------------------------------------------------------------------

/// Container, and EphemeralContainer (whose EphemeralContainerCommon is inlined and carries the
/// same tags).
static CONTAINER: TypeDef = TypeDef {
    name: "Container",
    fields: &[
        merge_by("ports", "containerPort", None),
        merge_by("env", "name", None),
        merge_by("volumeMounts", "mountPath", None),
        merge_by("volumeDevices", "devicePath", None),
    ],
};

static POD_SPEC: TypeDef = TypeDef {
    name: "PodSpec",
    fields: &[
        merge_by_retain_keys("volumes", "name"),
        merge_by("initContainers", "name", Some(&CONTAINER)),
        merge_by("containers", "name", Some(&CONTAINER)),
        merge_by("ephemeralContainers", "name", Some(&CONTAINER)),
        merge_by("imagePullSecrets", "name", None),
        merge_by("hostAliases", "ip", None),
        merge_by("topologySpreadConstraints", "topologyKey", None),
        merge_by("schedulingGates", "name", None),
        merge_by_retain_keys("resourceClaims", "name"),
    ],
};

static POD_STATUS: TypeDef = TypeDef {
    name: "PodStatus",
    fields: &[
        CONDITIONS,
        merge_by("hostIPs", "ip", None),
        merge_by("podIPs", "ip", None),
        merge_by_retain_keys("resourceClaimStatuses", "name"),
    ],
};

static POD: TypeDef = TypeDef {
    name: "Pod",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &POD_SPEC),
        nested("status", &POD_STATUS),
    ],
};

static POD_TEMPLATE_SPEC: TypeDef = TypeDef {
    name: "PodTemplateSpec",
    fields: &[nested("metadata", &OBJECT_META), nested("spec", &POD_SPEC)],
};

static POD_TEMPLATE: TypeDef = TypeDef {
    name: "PodTemplate",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("template", &POD_TEMPLATE_SPEC),
    ],
};

/// The spec of ReplicationController, ReplicaSet, StatefulSet, DaemonSet and Job: only
/// `template` leads to tags.
static TEMPLATED_SPEC: TypeDef = TypeDef {
    name: "Spec",
    fields: &[nested("template", &POD_TEMPLATE_SPEC)],
};

static REPLICATION_CONTROLLER: TypeDef = TypeDef {
    name: "ReplicationController",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &TEMPLATED_SPEC),
        nested("status", &CONDITIONS_STATUS),
    ],
};

static SERVICE_SPEC: TypeDef = TypeDef {
    name: "ServiceSpec",
    fields: &[merge_by("ports", "port", None)],
};

static SERVICE: TypeDef = TypeDef {
    name: "Service",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &SERVICE_SPEC),
        nested("status", &CONDITIONS_STATUS),
    ],
};

static NODE_SPEC: TypeDef = TypeDef {
    name: "NodeSpec",
    fields: &[merge_set("podCIDRs")],
};

static NODE_STATUS: TypeDef = TypeDef {
    name: "NodeStatus",
    fields: &[CONDITIONS, merge_by("addresses", "type", None)],
};

static NODE: TypeDef = TypeDef {
    name: "Node",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &NODE_SPEC),
        nested("status", &NODE_STATUS),
    ],
};

static NAMESPACE: TypeDef = TypeDef {
    name: "Namespace",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("status", &CONDITIONS_STATUS),
    ],
};

static SERVICE_ACCOUNT: TypeDef = TypeDef {
    name: "ServiceAccount",
    fields: &[
        nested("metadata", &OBJECT_META),
        merge_by("secrets", "name", None),
    ],
};

static PERSISTENT_VOLUME_CLAIM: TypeDef = TypeDef {
    name: "PersistentVolumeClaim",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("status", &CONDITIONS_STATUS),
    ],
};

// ---- apps/v1 ------------------------------------------------------------------------------

static DEPLOYMENT_SPEC: TypeDef = TypeDef {
    name: "DeploymentSpec",
    fields: &[
        nested("template", &POD_TEMPLATE_SPEC),
        retain_keys("strategy"),
    ],
};

static DEPLOYMENT: TypeDef = TypeDef {
    name: "Deployment",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &DEPLOYMENT_SPEC),
        nested("status", &CONDITIONS_STATUS),
    ],
};

static REPLICA_SET: TypeDef = TypeDef {
    name: "ReplicaSet",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &TEMPLATED_SPEC),
        nested("status", &CONDITIONS_STATUS),
    ],
};

static STATEFUL_SET: TypeDef = TypeDef {
    name: "StatefulSet",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &TEMPLATED_SPEC),
        nested("status", &CONDITIONS_STATUS),
    ],
};

static DAEMON_SET: TypeDef = TypeDef {
    name: "DaemonSet",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &TEMPLATED_SPEC),
        nested("status", &CONDITIONS_STATUS),
    ],
};

// ---- batch/v1 -----------------------------------------------------------------------------

static JOB: TypeDef = TypeDef {
    name: "Job",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &TEMPLATED_SPEC),
        nested("status", &CONDITIONS_STATUS),
    ],
};

static JOB_TEMPLATE_SPEC: TypeDef = TypeDef {
    name: "JobTemplateSpec",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &TEMPLATED_SPEC),
    ],
};

static CRON_JOB_SPEC: TypeDef = TypeDef {
    name: "CronJobSpec",
    fields: &[nested("jobTemplate", &JOB_TEMPLATE_SPEC)],
};

static CRON_JOB: TypeDef = TypeDef {
    name: "CronJob",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &CRON_JOB_SPEC),
    ],
};

// ---- policy/v1 ----------------------------------------------------------------------------

static POD_DISRUPTION_BUDGET_SPEC: TypeDef = TypeDef {
    name: "PodDisruptionBudgetSpec",
    fields: &[replace("selector")],
};

static POD_DISRUPTION_BUDGET: TypeDef = TypeDef {
    name: "PodDisruptionBudget",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &POD_DISRUPTION_BUDGET_SPEC),
        nested("status", &CONDITIONS_STATUS),
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    /// Walks a path of field names from a root type.
    fn walk(root: &'static TypeDef, path: &[&str]) -> PatchMeta {
        let mut schema: Schema = Some(root);
        let mut meta = PatchMeta::default();
        for key in path {
            (schema, meta) = lookup(schema, key);
        }
        meta
    }

    fn meta_at(resource: &str, path: &[&str]) -> PatchMeta {
        walk(for_resource(resource), path)
    }

    #[test]
    fn resolves_paths() {
        let merge = |key| PatchMeta {
            strategy: Strategy::Merge,
            retain_keys: false,
            merge_key: key,
        };
        let cases: &[(&str, &[&str], PatchMeta)] = &[
            ("pods", &["spec", "containers"], merge("name")),
            ("pods", &["spec", "containers", "env"], merge("name")),
            (
                "pods",
                &["spec", "initContainers", "ports"],
                merge("containerPort"),
            ),
            (
                "pods",
                &["spec", "ephemeralContainers", "volumeMounts"],
                merge("mountPath"),
            ),
            ("pods", &["spec", "tolerations"], PatchMeta::default()),
            (
                "pods",
                &["spec", "containers", "envFrom"],
                PatchMeta::default(),
            ),
            ("pods", &["status", "conditions"], merge("type")),
            (
                "pods",
                &["status", "containerStatuses"],
                PatchMeta::default(),
            ),
            ("pods", &["metadata", "finalizers"], merge("")),
            ("pods", &["metadata", "ownerReferences"], merge("uid")),
            (
                "deployments.apps",
                &["spec", "template", "spec", "containers"],
                merge("name"),
            ),
            (
                "deployments.apps",
                &["spec", "template", "spec", "containers", "volumeDevices"],
                merge("devicePath"),
            ),
            ("deployments", &["status", "conditions"], merge("type")),
            (
                "replicasets.apps",
                &["spec", "template", "metadata", "finalizers"],
                merge(""),
            ),
            ("services", &["spec", "ports"], merge("port")),
            ("nodes", &["status", "addresses"], merge("type")),
            ("nodes", &["spec", "taints"], PatchMeta::default()),
            ("nodes", &["spec", "podCIDRs"], merge("")),
            ("configmaps", &["metadata", "finalizers"], merge("")),
            ("configmaps", &["data"], PatchMeta::default()),
            (
                "endpointslices.discovery.k8s.io",
                &["endpoints"],
                PatchMeta::default(),
            ),
            (
                "cronjobs.batch",
                &[
                    "spec",
                    "jobTemplate",
                    "spec",
                    "template",
                    "spec",
                    "containers",
                ],
                merge("name"),
            ),
            (
                "widgets.example.com",
                &["spec", "containers"],
                PatchMeta::default(),
            ),
        ];
        for (resource, path, want) in cases {
            assert_eq!(meta_at(resource, path), *want, "{resource} {path:?}");
        }
        let strategy = meta_at("deployments.apps", &["spec", "strategy"]);
        assert!(strategy.retain_keys);
        let volumes = meta_at("pods", &["spec", "volumes"]);
        assert!(volumes.retain_keys && volumes.merge_key == "name");
        assert_eq!(
            meta_at("poddisruptionbudgets.policy", &["spec", "selector"]).strategy,
            Strategy::Replace
        );
    }

    #[test]
    fn case_insensitive_fallback() {
        assert_eq!(lookup(Some(&POD_SPEC), "Containers").1.merge_key, "name");
    }

    #[test]
    fn resolves_paths_from_kinds() {
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
                Strategy::None,
                "",
                true,
            ),
            (
                "apps",
                "Deployment",
                &["spec", "template", "spec", "tolerations"],
                Strategy::None,
                "",
                false,
            ),
            (
                "",
                "Pod",
                &["spec", "containers", "args"],
                Strategy::None,
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
            ("", "ConfigMap", &["data"], Strategy::None, "", false),
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
                Strategy::Replace,
                "",
                false,
            ),
            (
                "example.com",
                "Widget",
                &["spec", "containers"],
                Strategy::None,
                "",
                false,
            ),
        ];
        for (group, kind, path, strategy, key, retain_keys) in cases {
            let meta = walk(for_kind(group, kind), path);
            assert_eq!(
                (meta.strategy, meta.merge_key, meta.retain_keys),
                (*strategy, *key, *retain_keys),
                "{kind} {path:?}"
            );
        }
    }
}
