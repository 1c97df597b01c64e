//! Server-side printing: the `meta.k8s.io/v1` Table that `kubectl get` asks for with
//! `Accept: application/json;as=Table;v=v1;g=meta.k8s.io,...`.
//!
//! Columns (names, types, formats, priorities) and cell values follow upstream's printers
//! (`pkg/printers/internalversion/printers.go`, as served by a 1.32/1.33 kube-apiserver). The
//! server always prints the wide columns (priority 1); kubectl hides them unless `-o wide`.
//! Resources without a printer get the generic table (`Name`, `Created At`), as upstream's
//! default table convertor does.
//!
//! Objects are the stored JSON (`serde_json::Value`) and are read field by field, so a missing
//! field, a field of the wrong type or an empty object prints like the zero value upstream would
//! see after decoding and defaulting; nothing here panics on bad input.

use k8s_openapi::jiff::Timestamp;
use serde_json::{json, Map, Value};
use tinykube_apimachinery::duration::human_duration;
use tinykube_apimachinery::validation::{is_qualified_name, is_valid_label_value};

/// `?includeObject=`: what each row's `object` carries. kubectl asks for `Metadata` (the
/// default when the parameter is absent), which `--show-labels` and `-A` rely on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// No `object` in the rows.
    None,
    /// A `meta.k8s.io/v1` `PartialObjectMetadata` with the item's `metadata`.
    #[default]
    Metadata,
    /// The whole object.
    Object,
}

impl IncludeObject {
    /// Parses the `includeObject` query parameter; absent or empty means `Metadata`. The error
    /// is upstream's message for a 400 BadRequest.
    pub fn parse(s: Option<&str>) -> Result<Self, String> {
        match s.unwrap_or("") {
            "" | "Metadata" => Ok(Self::Metadata),
            "None" => Ok(Self::None),
            "Object" => Ok(Self::Object),
            other => Err(format!("unrecognized includeObject value: {other:?}")),
        }
    }
}

/// Builds the complete `meta.k8s.io/v1` Table for `items` of `resource` (the plural qualified by
/// group, e.g. `pods`, `deployments.apps`, `events.events.k8s.io`).
///
/// `list_metadata` is the list's `metadata` (its `resourceVersion`, `continue` and
/// `remainingItemCount` are carried over); for a GET of one object pass
/// `{"resourceVersion": <the object's>}` and a one-item slice. `now` is the reference for ages.
pub fn build_table(
    resource: &str,
    items: &[Value],
    list_metadata: Value,
    include: IncludeObject,
    now: Timestamp,
) -> Value {
    let printer = Printer::for_resource(resource);
    let columns: Vec<Value> = printer.columns().iter().map(Column::to_json).collect();
    let rows: Vec<Value> = items
        .iter()
        .map(|item| {
            let printed = printer.row(item, now);
            let mut row = Map::new();
            row.insert("cells".into(), Value::Array(printed.cells));
            if !printed.conditions.is_empty() {
                row.insert("conditions".into(), Value::Array(printed.conditions));
            }
            match include {
                IncludeObject::None => {}
                IncludeObject::Metadata => {
                    row.insert("object".into(), partial_object_metadata(item));
                }
                IncludeObject::Object => {
                    row.insert("object".into(), full_object(item, printer));
                }
            }
            Value::Object(row)
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": table_list_meta(&list_metadata),
        "columnDefinitions": columns,
        "rows": rows,
    })
}

/// The Table's ListMeta: the fields upstream copies from the list (all `omitempty`).
fn table_list_meta(list_metadata: &Value) -> Value {
    let mut meta = Map::new();
    for key in ["resourceVersion", "continue"] {
        if let Some(s) = list_metadata.get(key).and_then(Value::as_str) {
            if !s.is_empty() {
                meta.insert(key.into(), Value::String(s.to_string()));
            }
        }
    }
    if let Some(n) = list_metadata
        .get("remainingItemCount")
        .filter(|v| v.is_number())
    {
        meta.insert("remainingItemCount".into(), n.clone());
    }
    Value::Object(meta)
}

fn partial_object_metadata(item: &Value) -> Value {
    let metadata = item
        .get("metadata")
        .filter(|m| m.is_object())
        .cloned()
        .unwrap_or_else(|| Value::Object(Map::new()));
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
    })
}

/// The object as stored, with `apiVersion`/`kind` filled in when missing (upstream converts
/// each row's object to the request's version, which sets them).
fn full_object(item: &Value, printer: Printer) -> Value {
    let mut object = item.clone();
    if let (Some(map), Some((api_version, kind))) = (object.as_object_mut(), printer.type_meta()) {
        for (key, value) in [("apiVersion", api_version), ("kind", kind)] {
            let missing = map
                .get(key)
                .and_then(Value::as_str)
                .is_none_or(str::is_empty);
            if missing {
                map.insert(key.into(), Value::String(value.into()));
            }
        }
    }
    object
}

// ---------------------------------------------------------------------------------------------
// Column definitions

/// A `TableColumnDefinition`.
struct Column {
    name: &'static str,
    ty: &'static str,
    format: &'static str,
    description: &'static str,
    priority: i32,
}

impl Column {
    fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.ty,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

/// A column shown by default.
const fn col(name: &'static str, ty: &'static str, description: &'static str) -> Column {
    Column {
        name,
        ty,
        format: "",
        description,
        priority: 0,
    }
}

/// A column shown with `-o wide` (priority 1).
const fn wide(name: &'static str, ty: &'static str, description: &'static str) -> Column {
    Column {
        name,
        ty,
        format: "",
        description,
        priority: 1,
    }
}

const NAME: Column = Column {
    name: "Name",
    ty: "string",
    format: "name",
    description: D_OBJECTMETA_NAME,
    priority: 0,
};
const AGE: Column = col("Age", "string", D_OBJECTMETA_CREATIONTIMESTAMP);
const CONTAINERS: Column = wide(
    "Containers",
    "string",
    "Names of each container in the template.",
);
const IMAGES: Column = wide(
    "Images",
    "string",
    "Images referenced by each container in the template.",
);

const POD_COLUMNS: &[Column] = &[
    NAME,
    col("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
    col("Status", "string", "The aggregate status of the containers in this pod."),
    col(
        "Restarts",
        "string",
        "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
    ),
    AGE,
    wide("IP", "string", D_PODSTATUS_PODIP),
    wide("Node", "string", D_PODSPEC_NODENAME),
    wide("Nominated Node", "string", D_PODSTATUS_NOMINATEDNODENAME),
    wide("Readiness Gates", "string", D_PODSPEC_READINESSGATES),
];

const DEPLOYMENT_COLUMNS: &[Column] = &[
    NAME,
    col("Ready", "string", "Number of the pod with ready state"),
    col("Up-to-date", "string", D_DEPLOYMENTSTATUS_UPDATEDREPLICAS),
    col("Available", "string", D_DEPLOYMENTSTATUS_AVAILABLEREPLICAS),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", "string", D_DEPLOYMENTSPEC_SELECTOR),
];

const REPLICASET_COLUMNS: &[Column] = &[
    NAME,
    col("Desired", "integer", D_REPLICASETSPEC_REPLICAS),
    col("Current", "integer", D_REPLICASETSTATUS_REPLICAS),
    col("Ready", "integer", D_REPLICASETSTATUS_READYREPLICAS),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", "string", D_REPLICASETSPEC_SELECTOR),
];

const SERVICE_COLUMNS: &[Column] = &[
    NAME,
    col("Type", "string", D_SERVICESPEC_TYPE),
    col("Cluster-IP", "string", D_SERVICESPEC_CLUSTERIP),
    col("External-IP", "string", D_SERVICESPEC_EXTERNALIPS),
    col("Port(s)", "string", D_SERVICESPEC_PORTS),
    AGE,
    wide("Selector", "string", D_SERVICESPEC_SELECTOR),
];

const ENDPOINTS_COLUMNS: &[Column] = &[NAME, col("Endpoints", "string", D_ENDPOINTS_SUBSETS), AGE];

const NODE_COLUMNS: &[Column] = &[
    NAME,
    col("Status", "string", "The status of the node"),
    col("Roles", "string", "The roles of the node"),
    AGE,
    col("Version", "string", D_NODESYSTEMINFO_KUBELETVERSION),
    wide("Internal-IP", "string", D_NODESTATUS_ADDRESSES),
    wide("External-IP", "string", D_NODESTATUS_ADDRESSES),
    wide("OS-Image", "string", D_NODESYSTEMINFO_OSIMAGE),
    wide("Kernel-Version", "string", D_NODESYSTEMINFO_KERNELVERSION),
    wide(
        "Container-Runtime",
        "string",
        D_NODESYSTEMINFO_CONTAINERRUNTIMEVERSION,
    ),
];

const EVENT_COLUMNS: &[Column] = &[
    col("Last Seen", "string", D_EVENT_LASTTIMESTAMP),
    col("Type", "string", D_EVENT_TYPE),
    col("Reason", "string", D_EVENT_REASON),
    col("Object", "string", D_EVENT_INVOLVEDOBJECT),
    wide("Subobject", "string", D_OBJECTREFERENCE_FIELDPATH),
    wide("Source", "string", D_EVENT_SOURCE),
    col("Message", "string", D_EVENT_MESSAGE),
    wide("First Seen", "string", D_EVENT_FIRSTTIMESTAMP),
    wide("Count", "string", D_EVENT_COUNT),
    Column {
        name: "Name",
        ty: "string",
        format: "name",
        description: D_OBJECTMETA_NAME,
        priority: 1,
    },
];

const NAMESPACE_COLUMNS: &[Column] = &[
    NAME,
    col("Status", "string", "The status of the namespace"),
    AGE,
];

const SECRET_COLUMNS: &[Column] = &[
    NAME,
    col("Type", "string", D_SECRET_TYPE),
    col("Data", "string", D_SECRET_DATA),
    AGE,
];

const SERVICE_ACCOUNT_COLUMNS: &[Column] = &[
    NAME,
    col("Secrets", "string", D_SERVICEACCOUNT_SECRETS),
    AGE,
];

const CONFIG_MAP_COLUMNS: &[Column] = &[NAME, col("Data", "string", D_CONFIGMAP_DATA), AGE];

const LEASE_COLUMNS: &[Column] = &[
    NAME,
    col("Holder", "string", D_LEASESPEC_HOLDERIDENTITY),
    AGE,
];

const ENDPOINT_SLICE_COLUMNS: &[Column] = &[
    NAME,
    col("AddressType", "string", D_ENDPOINTSLICE_ADDRESSTYPE),
    col("Ports", "string", D_ENDPOINTSLICE_PORTS),
    col("Endpoints", "string", D_ENDPOINTSLICE_ENDPOINTS),
    AGE,
];

/// Upstream's default table convertor (`k8s.io/apiserver/pkg/registry/rest/table.go`).
const DEFAULT_COLUMNS: &[Column] = &[
    NAME,
    col("Created At", "date", D_OBJECTMETA_CREATIONTIMESTAMP),
];

// ---------------------------------------------------------------------------------------------
// Printers

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Printer {
    Pod,
    Deployment,
    ReplicaSet,
    Service,
    Endpoints,
    Node,
    /// core/v1 Event.
    Event,
    /// events.k8s.io/v1 Event: same printer upstream (both decode to the internal core Event),
    /// with that version's field names.
    EventsV1Event,
    Namespace,
    Secret,
    ServiceAccount,
    ConfigMap,
    Lease,
    EndpointSlice,
    Default,
}

/// One printed row: its cells and its `conditions`.
struct Row {
    cells: Vec<Value>,
    conditions: Vec<Value>,
}

impl From<Vec<Value>> for Row {
    fn from(cells: Vec<Value>) -> Self {
        Row {
            cells,
            conditions: Vec::new(),
        }
    }
}

impl Printer {
    fn for_resource(resource: &str) -> Printer {
        match resource {
            "pods" => Printer::Pod,
            "deployments.apps" | "deployments" => Printer::Deployment,
            "replicasets.apps" | "replicasets" => Printer::ReplicaSet,
            "services" => Printer::Service,
            "endpoints" => Printer::Endpoints,
            "nodes" => Printer::Node,
            "events" => Printer::Event,
            "events.events.k8s.io" => Printer::EventsV1Event,
            "namespaces" => Printer::Namespace,
            "secrets" => Printer::Secret,
            "serviceaccounts" => Printer::ServiceAccount,
            "configmaps" => Printer::ConfigMap,
            "leases.coordination.k8s.io" | "leases" => Printer::Lease,
            "endpointslices.discovery.k8s.io" | "endpointslices" => Printer::EndpointSlice,
            _ => Printer::Default,
        }
    }

    fn columns(self) -> &'static [Column] {
        match self {
            Printer::Pod => POD_COLUMNS,
            Printer::Deployment => DEPLOYMENT_COLUMNS,
            Printer::ReplicaSet => REPLICASET_COLUMNS,
            Printer::Service => SERVICE_COLUMNS,
            Printer::Endpoints => ENDPOINTS_COLUMNS,
            Printer::Node => NODE_COLUMNS,
            Printer::Event | Printer::EventsV1Event => EVENT_COLUMNS,
            Printer::Namespace => NAMESPACE_COLUMNS,
            Printer::Secret => SECRET_COLUMNS,
            Printer::ServiceAccount => SERVICE_ACCOUNT_COLUMNS,
            Printer::ConfigMap => CONFIG_MAP_COLUMNS,
            Printer::Lease => LEASE_COLUMNS,
            Printer::EndpointSlice => ENDPOINT_SLICE_COLUMNS,
            Printer::Default => DEFAULT_COLUMNS,
        }
    }

    /// `(apiVersion, kind)` of the objects this printer prints.
    fn type_meta(self) -> Option<(&'static str, &'static str)> {
        Some(match self {
            Printer::Pod => ("v1", "Pod"),
            Printer::Deployment => ("apps/v1", "Deployment"),
            Printer::ReplicaSet => ("apps/v1", "ReplicaSet"),
            Printer::Service => ("v1", "Service"),
            Printer::Endpoints => ("v1", "Endpoints"),
            Printer::Node => ("v1", "Node"),
            Printer::Event => ("v1", "Event"),
            Printer::EventsV1Event => ("events.k8s.io/v1", "Event"),
            Printer::Namespace => ("v1", "Namespace"),
            Printer::Secret => ("v1", "Secret"),
            Printer::ServiceAccount => ("v1", "ServiceAccount"),
            Printer::ConfigMap => ("v1", "ConfigMap"),
            Printer::Lease => ("coordination.k8s.io/v1", "Lease"),
            Printer::EndpointSlice => ("discovery.k8s.io/v1", "EndpointSlice"),
            Printer::Default => return None,
        })
    }

    fn row(self, o: &Value, now: Timestamp) -> Row {
        match self {
            Printer::Pod => pod_row(o, now),
            Printer::Deployment => deployment_row(o, now).into(),
            Printer::ReplicaSet => replica_set_row(o, now).into(),
            Printer::Service => service_row(o, now).into(),
            Printer::Endpoints => vec![name(o), s(format_endpoints(o)), age(o, now)].into(),
            Printer::Node => node_row(o, now).into(),
            Printer::Event => event_row(o, now, &CORE_EVENT_FIELDS).into(),
            Printer::EventsV1Event => event_row(o, now, &EVENTS_V1_EVENT_FIELDS).into(),
            Printer::Namespace => {
                let phase = or_default(text(o, &["status", "phase"]), "Active");
                vec![name(o), s(phase), age(o, now)].into()
            }
            Printer::Secret => {
                let ty = or_default(text(o, &["type"]), "Opaque");
                vec![name(o), s(ty), json!(key_count(o, &["data"])), age(o, now)].into()
            }
            Printer::ServiceAccount => {
                let secrets = list(o, &["secrets"]).len();
                vec![name(o), json!(secrets), age(o, now)].into()
            }
            Printer::ConfigMap => {
                let data = key_count(o, &["data"]) + key_count(o, &["binaryData"]);
                vec![name(o), json!(data), age(o, now)].into()
            }
            Printer::Lease => vec![
                name(o),
                s(text(o, &["spec", "holderIdentity"])),
                age(o, now),
            ]
            .into(),
            Printer::EndpointSlice => vec![
                name(o),
                s(text(o, &["addressType"])),
                s(format_discovery_ports(list(o, &["ports"]))),
                s(format_discovery_endpoints(list(o, &["endpoints"]))),
                age(o, now),
            ]
            .into(),
            Printer::Default => {
                let created = time_at(o, &["metadata", "creationTimestamp"])
                    .map_or_else(|| "0001-01-01T00:00:00Z".to_string(), rfc3339_seconds);
                vec![name(o), s(created)].into()
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pods

fn pod_row(pod: &Value, now: Timestamp) -> Row {
    let init_specs = list(pod, &["spec", "initContainers"]);
    let is_sidecar = |name: &str| {
        init_specs
            .iter()
            .rev()
            .find(|c| text(c, &["name"]) == name)
            .is_some_and(|c| text(c, &["restartPolicy"]) == "Always")
    };
    let sidecars = init_specs
        .iter()
        .filter(|c| text(c, &["restartPolicy"]) == "Always")
        .count();
    let total_containers = list(pod, &["spec", "containers"]).len() + sidecars;
    let mut ready_containers = 0usize;
    let mut restarts: i64 = 0;
    let mut sidecar_restarts: i64 = 0;
    let mut last_restart: Option<Timestamp> = None;
    let mut last_sidecar_restart: Option<Timestamp> = None;

    let phase = text(pod, &["status", "phase"]);
    let status_reason = text(pod, &["status", "reason"]);
    let mut reason = or_default(status_reason, phase).to_string();
    let conditions = list(pod, &["status", "conditions"]);
    if conditions
        .iter()
        .any(|c| text(c, &["type"]) == "PodScheduled" && text(c, &["reason"]) == "SchedulingGated")
    {
        reason = "SchedulingGated".into();
    }

    let row_conditions = match phase {
        "Succeeded" => vec![row_completed(
            "Succeeded",
            "The pod has completed successfully.",
        )],
        "Failed" => vec![row_completed("Failed", "The pod failed.")],
        _ => Vec::new(),
    };

    let mut initializing = false;
    for (i, status) in list(pod, &["status", "initContainerStatuses"])
        .iter()
        .enumerate()
    {
        let restart_count = int(status, &["restartCount"]).unwrap_or(0);
        let finished = time_at(status, &["lastState", "terminated", "finishedAt"]);
        restarts += restart_count;
        keep_latest(&mut last_restart, finished);
        let sidecar = is_sidecar(text(status, &["name"]));
        if sidecar {
            sidecar_restarts += restart_count;
            keep_latest(&mut last_sidecar_restart, finished);
        }
        let terminated = object(status, &["state", "terminated"]);
        if terminated.is_some_and(|t| int(t, &["exitCode"]).unwrap_or(0) == 0) {
            continue;
        }
        if sidecar && flag(status, &["started"]) {
            if flag(status, &["ready"]) {
                ready_containers += 1;
            }
            continue;
        }
        let waiting_reason =
            object(status, &["state", "waiting"]).map_or("", |w| text(w, &["reason"]));
        reason = if let Some(t) = terminated {
            terminated_reason(t, "Init:")
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            format!("Init:{waiting_reason}")
        } else {
            format!("Init:{}/{}", i, init_specs.len())
        };
        initializing = true;
        break;
    }

    if !initializing || initialized_condition_true(conditions) {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for status in list(pod, &["status", "containerStatuses"]).iter().rev() {
            restarts += int(status, &["restartCount"]).unwrap_or(0);
            keep_latest(
                &mut last_restart,
                time_at(status, &["lastState", "terminated", "finishedAt"]),
            );
            let waiting_reason =
                object(status, &["state", "waiting"]).map_or("", |w| text(w, &["reason"]));
            if !waiting_reason.is_empty() {
                reason = waiting_reason.to_string();
            } else if let Some(t) = object(status, &["state", "terminated"]) {
                reason = terminated_reason(t, "");
            } else if flag(status, &["ready"]) && object(status, &["state", "running"]).is_some() {
                has_running = true;
                ready_containers += 1;
            }
        }
        // A pod whose last container reports Completed while another still runs is Running.
        if reason == "Completed" && has_running {
            reason = if ready_condition_true(conditions) {
                "Running"
            } else {
                "NotReady"
            }
            .into();
        }
    }

    let deleting = get(pod, &["metadata", "deletionTimestamp"]).is_some();
    if deleting && status_reason == "NodeLost" {
        reason = "Unknown".into();
    } else if deleting && phase != "Failed" && phase != "Succeeded" {
        reason = "Terminating".into();
    }

    let restarts_cell = match last_restart {
        Some(at) if restarts != 0 => format!("{restarts} ({} ago)", since(Some(at), now)),
        _ => restarts.to_string(),
    };

    let pod_ip = {
        let ip = text(pod, &["status", "podIP"]);
        let ip = if ip.is_empty() {
            list(pod, &["status", "podIPs"])
                .first()
                .map_or("", |p| text(p, &["ip"]))
        } else {
            ip
        };
        or_default(ip, "<none>")
    };
    let gates = list(pod, &["spec", "readinessGates"]);
    let readiness_gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let true_gates = gates
            .iter()
            .filter(|gate| {
                let ty = text(gate, &["conditionType"]);
                conditions
                    .iter()
                    .find(|c| text(c, &["type"]) == ty)
                    .is_some_and(|c| text(c, &["status"]) == "True")
            })
            .count();
        format!("{true_gates}/{}", gates.len())
    };

    Row {
        cells: vec![
            name(pod),
            s(format!("{ready_containers}/{total_containers}")),
            s(reason),
            s(restarts_cell),
            age(pod, now),
            s(pod_ip),
            s(or_default(text(pod, &["spec", "nodeName"]), "<none>")),
            s(or_default(
                text(pod, &["status", "nominatedNodeName"]),
                "<none>",
            )),
            s(readiness_gates),
        ],
        conditions: row_conditions,
    }
}

fn row_completed(reason: &str, message: &str) -> Value {
    json!({"type": "Completed", "status": "True", "reason": reason, "message": message})
}

/// `Completed`/`Error`/..., or `Signal:9`/`ExitCode:1` when the runtime gave no reason.
fn terminated_reason(terminated: &Value, prefix: &str) -> String {
    let reason = text(terminated, &["reason"]);
    if !reason.is_empty() {
        return format!("{prefix}{reason}");
    }
    let signal = int(terminated, &["signal"]).unwrap_or(0);
    if signal != 0 {
        format!("{prefix}Signal:{signal}")
    } else {
        format!(
            "{prefix}ExitCode:{}",
            int(terminated, &["exitCode"]).unwrap_or(0)
        )
    }
}

/// The first `Initialized` condition decides (upstream's `isPodInitializedConditionTrue`).
fn initialized_condition_true(conditions: &[Value]) -> bool {
    conditions
        .iter()
        .find(|c| text(c, &["type"]) == "Initialized")
        .is_some_and(|c| text(c, &["status"]) == "True")
}

/// Any `Ready=True` condition (upstream's `hasPodReadyCondition`).
fn ready_condition_true(conditions: &[Value]) -> bool {
    conditions
        .iter()
        .any(|c| text(c, &["type"]) == "Ready" && text(c, &["status"]) == "True")
}

fn keep_latest(slot: &mut Option<Timestamp>, candidate: Option<Timestamp>) {
    if let Some(t) = candidate {
        if slot.is_none_or(|current| current < t) {
            *slot = Some(t);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Workloads

fn deployment_row(o: &Value, now: Timestamp) -> Vec<Value> {
    let desired = int(o, &["spec", "replicas"]).unwrap_or(1);
    let ready = int(o, &["status", "readyReplicas"]).unwrap_or(0);
    let (names, images) = container_cells(o);
    let selector =
        label_selector_string(get(o, &["spec", "selector"])).unwrap_or_else(|| "<invalid>".into());
    vec![
        name(o),
        s(format!("{ready}/{desired}")),
        json!(int(o, &["status", "updatedReplicas"]).unwrap_or(0)),
        json!(int(o, &["status", "availableReplicas"]).unwrap_or(0)),
        age(o, now),
        s(names),
        s(images),
        s(selector),
    ]
}

fn replica_set_row(o: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = container_cells(o);
    vec![
        name(o),
        json!(int(o, &["spec", "replicas"]).unwrap_or(1)),
        json!(int(o, &["status", "replicas"]).unwrap_or(0)),
        json!(int(o, &["status", "readyReplicas"]).unwrap_or(0)),
        age(o, now),
        s(names),
        s(images),
        s(format_label_selector(get(o, &["spec", "selector"]))),
    ]
}

/// Container names and images of `spec.template`, comma-separated.
fn container_cells(o: &Value) -> (String, String) {
    let containers = list(o, &["spec", "template", "spec", "containers"]);
    let names: Vec<&str> = containers.iter().map(|c| text(c, &["name"])).collect();
    let images: Vec<&str> = containers.iter().map(|c| text(c, &["image"])).collect();
    (names.join(","), images.join(","))
}

// ---------------------------------------------------------------------------------------------
// Services and endpoints

fn service_row(o: &Value, now: Timestamp) -> Vec<Value> {
    let ty = or_default(text(o, &["spec", "type"]), "ClusterIP");
    let cluster_ip = list(o, &["spec", "clusterIPs"])
        .first()
        .and_then(Value::as_str)
        .filter(|ip| !ip.is_empty())
        .unwrap_or_else(|| or_default(text(o, &["spec", "clusterIP"]), "<none>"));
    let ports: Vec<String> = list(o, &["spec", "ports"])
        .iter()
        .map(|p| {
            let port = int(p, &["port"]).unwrap_or(0);
            let protocol = or_default(text(p, &["protocol"]), "TCP");
            match int(p, &["nodePort"]).unwrap_or(0) {
                node_port if node_port > 0 => format!("{port}:{node_port}/{protocol}"),
                _ => format!("{port}/{protocol}"),
            }
        })
        .collect();
    let ports = if ports.is_empty() {
        "<none>".to_string()
    } else {
        ports.join(",")
    };
    vec![
        name(o),
        s(ty),
        s(cluster_ip),
        s(service_external_ip(o, ty)),
        s(ports),
        age(o, now),
        s(format_labels(object(o, &["spec", "selector"]))),
    ]
}

/// Upstream's `getServiceExternalIP` as the server prints it (wide, so never truncated).
fn service_external_ip(o: &Value, ty: &str) -> String {
    let external_ips: Vec<&str> = list(o, &["spec", "externalIPs"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    match ty {
        "ClusterIP" | "NodePort" => {
            if external_ips.is_empty() {
                "<none>".into()
            } else {
                external_ips.join(",")
            }
        }
        "LoadBalancer" => {
            let mut lb: Vec<&str> = list(o, &["status", "loadBalancer", "ingress"])
                .iter()
                .map(|ing| or_default(text(ing, &["ip"]), text(ing, &["hostname"])))
                .filter(|a| !a.is_empty())
                .collect();
            lb.sort_unstable();
            lb.dedup();
            let mut all = lb;
            all.extend(external_ips);
            if all.is_empty() {
                "<pending>".into()
            } else {
                all.join(",")
            }
        }
        "ExternalName" => text(o, &["spec", "externalName"]).to_string(),
        _ => "<unknown>".into(),
    }
}

/// Upstream's `formatEndpoints` with all ports: at most three `ip:port`, then `+ N more...`.
fn format_endpoints(o: &Value) -> String {
    let subsets = list(o, &["subsets"]);
    if subsets.is_empty() {
        return "<none>".into();
    }
    const MAX: usize = 3;
    let mut shown: Vec<String> = Vec::new();
    let mut more = false;
    let mut count = 0usize;
    for subset in subsets {
        let addresses = list(subset, &["addresses"]);
        let ports = list(subset, &["ports"]);
        if ports.is_empty() {
            // Headless services may have no ports.
            count += addresses.len();
            for address in addresses {
                if shown.len() == MAX {
                    more = true;
                    break;
                }
                shown.push(text(address, &["ip"]).to_string());
            }
            continue;
        }
        for port in ports {
            count += addresses.len();
            let port = int(port, &["port"]).unwrap_or(0);
            for address in addresses {
                if shown.len() == MAX {
                    more = true;
                    break;
                }
                shown.push(join_host_port(text(address, &["ip"]), port));
            }
        }
    }
    let joined = shown.join(",");
    if more {
        format!("{joined} + {} more...", count.saturating_sub(MAX))
    } else {
        joined
    }
}

/// Go's `net.JoinHostPort`: IPv6 literals get brackets.
fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn format_discovery_ports(ports: &[Value]) -> String {
    const MAX: usize = 3;
    let shown: Vec<String> = ports
        .iter()
        .take(MAX)
        .map(
            |p| match (int(p, &["port"]), get(p, &["name"]).and_then(Value::as_str)) {
                (Some(port), _) => port.to_string(),
                (None, Some(name)) => name.to_string(),
                (None, None) => "*".to_string(),
            },
        )
        .collect();
    list_with_more(&shown, ports.len(), MAX)
}

fn format_discovery_endpoints(endpoints: &[Value]) -> String {
    const MAX: usize = 3;
    let addresses: Vec<String> = endpoints
        .iter()
        .flat_map(|e| list(e, &["addresses"]))
        .map(|a| a.as_str().unwrap_or("").to_string())
        .collect();
    let shown: Vec<String> = addresses.iter().take(MAX).cloned().collect();
    list_with_more(&shown, addresses.len(), MAX)
}

/// Upstream's `listWithMoreString`: `a,b,c + 2 more...`, or `<unset>` for nothing.
fn list_with_more(shown: &[String], count: usize, max: usize) -> String {
    let joined = shown.join(",");
    if count > max {
        format!("{joined} + {} more...", count - max)
    } else if joined.is_empty() {
        "<unset>".into()
    } else {
        joined
    }
}

// ---------------------------------------------------------------------------------------------
// Nodes

fn node_row(o: &Value, now: Timestamp) -> Vec<Value> {
    // Only the Ready condition counts; the last one listed wins, as in upstream's map.
    let ready = list(o, &["status", "conditions"])
        .iter()
        .rev()
        .find(|c| text(c, &["type"]) == "Ready");
    let mut status = vec![match ready {
        Some(c) if text(c, &["status"]) == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if flag(o, &["spec", "unschedulable"]) {
        status.push("SchedulingDisabled");
    }
    let roles = node_roles(o);
    let roles = if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.join(",")
    };
    let info =
        |field: &str| or_default(text(o, &["status", "nodeInfo", field]), "<unknown>").to_string();
    vec![
        name(o),
        s(status.join(",")),
        s(roles),
        age(o, now),
        s(text(o, &["status", "nodeInfo", "kubeletVersion"])),
        s(node_address(o, "InternalIP")),
        s(node_address(o, "ExternalIP")),
        s(info("osImage")),
        s(info("kernelVersion")),
        s(info("containerRuntimeVersion")),
    ]
}

/// Roles from `node-role.kubernetes.io/<role>` label keys and the `kubernetes.io/role` label value,
/// sorted and deduplicated.
fn node_roles(o: &Value) -> Vec<String> {
    let mut roles: Vec<String> = Vec::new();
    if let Some(labels) = object(o, &["metadata", "labels"]).and_then(Value::as_object) {
        for (key, value) in labels {
            if let Some(role) = key.strip_prefix("node-role.kubernetes.io/") {
                if !role.is_empty() {
                    roles.push(role.to_string());
                }
            } else if key == "kubernetes.io/role" {
                if let Some(role) = value.as_str().filter(|r| !r.is_empty()) {
                    roles.push(role.to_string());
                }
            }
        }
    }
    roles.sort();
    roles.dedup();
    roles
}

fn node_address(o: &Value, ty: &str) -> String {
    list(o, &["status", "addresses"])
        .iter()
        .find(|a| text(a, &["type"]) == ty)
        .map_or_else(
            || "<none>".to_string(),
            |a| text(a, &["address"]).to_string(),
        )
}

// ---------------------------------------------------------------------------------------------
// Events

/// Where an Event version keeps the fields the printer reads.
struct EventFields {
    involved_object: &'static str,
    message: &'static str,
    source: &'static str,
    first_timestamp: &'static str,
    last_timestamp: &'static str,
    count: &'static str,
    reporting_controller: &'static str,
}

const CORE_EVENT_FIELDS: EventFields = EventFields {
    involved_object: "involvedObject",
    message: "message",
    source: "source",
    first_timestamp: "firstTimestamp",
    last_timestamp: "lastTimestamp",
    count: "count",
    reporting_controller: "reportingComponent",
};

/// events.k8s.io/v1 names, as upstream's conversion to the internal Event maps them.
const EVENTS_V1_EVENT_FIELDS: EventFields = EventFields {
    involved_object: "regarding",
    message: "note",
    source: "deprecatedSource",
    first_timestamp: "deprecatedFirstTimestamp",
    last_timestamp: "deprecatedLastTimestamp",
    count: "deprecatedCount",
    reporting_controller: "reportingController",
};

fn event_row(o: &Value, now: Timestamp, f: &EventFields) -> Vec<Value> {
    let first_seen = match time_at(o, &[f.first_timestamp]) {
        Some(t) => since(Some(t), now),
        None => since(time_at(o, &["eventTime"]), now),
    };
    let mut last_seen = match time_at(o, &[f.last_timestamp]) {
        Some(t) => since(Some(t), now),
        None => first_seen.clone(),
    };
    let mut count = int(o, &[f.count]).unwrap_or(0);
    if let Some(series) = object(o, &["series"]) {
        last_seen = since(time_at(series, &["lastObservedTime"]), now);
        count = int(series, &["count"]).unwrap_or(0);
    } else if count == 0 {
        // Singleton events don't have a count set in the new API.
        count = 1;
    }

    let kind = text(o, &[f.involved_object, "kind"]).to_lowercase();
    let involved_name = text(o, &[f.involved_object, "name"]);
    let target = if involved_name.is_empty() {
        kind
    } else {
        format!("{kind}/{involved_name}")
    };

    let component = or_default(
        text(o, &[f.source, "component"]),
        text(o, &[f.reporting_controller]),
    );
    let instance = or_default(
        text(o, &[f.source, "host"]),
        text(o, &["reportingInstance"]),
    );
    let source = if instance.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {instance}")
    };

    vec![
        s(last_seen),
        s(text(o, &["type"])),
        s(text(o, &["reason"])),
        s(target),
        s(text(o, &[f.involved_object, "fieldPath"])),
        s(source),
        s(text(o, &[f.message]).trim()),
        s(first_seen),
        json!(count),
        name(o),
    ]
}

// ---------------------------------------------------------------------------------------------
// Labels and selectors

/// `labels.FormatLabels`: `a=1,b=2` sorted by key, `<none>` when empty.
fn format_labels(labels: Option<&Value>) -> String {
    let Some(map) = labels.and_then(Value::as_object).filter(|m| !m.is_empty()) else {
        return "<none>".into();
    };
    let mut pairs: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    pairs.sort();
    pairs.join(",")
}

/// `metav1.FormatLabelSelector`: the selector string, `<none>` when it selects everything or
/// nothing, `<error>` when it is invalid.
fn format_label_selector(selector: Option<&Value>) -> String {
    match label_selector_string(selector) {
        None => "<error>".into(),
        Some(s) if s.is_empty() => "<none>".into(),
        Some(s) => s,
    }
}

/// `metav1.LabelSelectorAsSelector(...).String()`; `None` when the selector is invalid.
///
/// Not `labels::Selector::from_label_selector`: that one keeps values as a set, while upstream
/// prints a value given twice twice.
fn label_selector_string(selector: Option<&Value>) -> Option<String> {
    let Some(selector) = selector else {
        return Some(String::new());
    };
    let selector = selector.as_object()?;
    let mut requirements: Vec<(String, String)> = Vec::new();
    if let Some(match_labels) = selector.get("matchLabels").filter(|v| !v.is_null()) {
        for (key, value) in match_labels.as_object()? {
            let value = value.as_str()?;
            if !valid_label_key(key) || !valid_label_value(value) {
                return None;
            }
            requirements.push((key.clone(), format!("{key}={value}")));
        }
    }
    if let Some(expressions) = selector.get("matchExpressions").filter(|v| !v.is_null()) {
        for expr in expressions.as_array()? {
            let key = expr.get("key").and_then(Value::as_str).unwrap_or("");
            let values: Vec<&str> = match expr.get("values").filter(|v| !v.is_null()) {
                None => Vec::new(),
                Some(values) => values
                    .as_array()?
                    .iter()
                    .map(Value::as_str)
                    .collect::<Option<_>>()?,
            };
            if !valid_label_key(key) || !values.iter().all(|v| valid_label_value(v)) {
                return None;
            }
            let mut sorted = values.clone();
            sorted.sort_unstable();
            let printed = match expr.get("operator").and_then(Value::as_str).unwrap_or("") {
                "In" if !values.is_empty() => format!("{key} in ({})", sorted.join(",")),
                "NotIn" if !values.is_empty() => format!("{key} notin ({})", sorted.join(",")),
                "Exists" if values.is_empty() => key.to_string(),
                "DoesNotExist" if values.is_empty() => format!("!{key}"),
                _ => return None,
            };
            requirements.push((key.to_string(), printed));
        }
    }
    requirements.sort_by(|a, b| a.0.cmp(&b.0));
    Some(
        requirements
            .into_iter()
            .map(|(_, r)| r)
            .collect::<Vec<_>>()
            .join(","),
    )
}

fn valid_label_key(key: &str) -> bool {
    is_qualified_name(key).is_empty()
}

fn valid_label_value(value: &str) -> bool {
    is_valid_label_value(value).is_empty()
}

// ---------------------------------------------------------------------------------------------
// Time

/// Go's zero `time.Time` (`0001-01-01T00:00:00Z`), which upstream prints as `<unknown>`.
const GO_ZERO_TIME_SECONDS: i64 = -62_135_596_800;

/// A timestamp field; `None` when missing, unparseable or Go's zero time.
fn time_at(o: &Value, path: &[&str]) -> Option<Timestamp> {
    let t: Timestamp = get(o, path)?.as_str()?.parse().ok()?;
    if t.as_second() == GO_ZERO_TIME_SECONDS && t.subsec_nanosecond() == 0 {
        None
    } else {
        Some(t)
    }
}

/// Upstream's `translateTimestampSince`.
fn since(t: Option<Timestamp>, now: Timestamp) -> String {
    match t {
        None => "<unknown>".into(),
        Some(t) => human_duration(now.as_nanosecond() - t.as_nanosecond()),
    }
}

/// RFC 3339 in UTC with whole seconds, as Go's `time.RFC3339` prints a UTC time.
fn rfc3339_seconds(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

// ---------------------------------------------------------------------------------------------
// JSON access: every reader tolerates missing fields and wrong types.

/// The value at `path`; `None` when missing, `null`, or a step is not an object.
fn get<'a>(o: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = o;
    for key in path {
        cur = cur.as_object()?.get(*key)?;
    }
    (!cur.is_null()).then_some(cur)
}

/// The object at `path` (a set pointer upstream), if it is one.
fn object<'a>(o: &'a Value, path: &[&str]) -> Option<&'a Value> {
    get(o, path).filter(|v| v.is_object())
}

fn text<'a>(o: &'a Value, path: &[&str]) -> &'a str {
    get(o, path).and_then(Value::as_str).unwrap_or("")
}

fn int(o: &Value, path: &[&str]) -> Option<i64> {
    let v = get(o, path)?;
    v.as_i64()
        .or_else(|| v.as_u64().map(|_| i64::MAX))
        .or_else(|| v.as_f64().map(|f| f as i64))
}

fn flag(o: &Value, path: &[&str]) -> bool {
    get(o, path).and_then(Value::as_bool).unwrap_or(false)
}

fn list<'a>(o: &'a Value, path: &[&str]) -> &'a [Value] {
    get(o, path)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn key_count(o: &Value, path: &[&str]) -> usize {
    get(o, path).and_then(Value::as_object).map_or(0, Map::len)
}

fn or_default<'a>(value: &'a str, default: &'a str) -> &'a str {
    if value.is_empty() {
        default
    } else {
        value
    }
}

fn s(value: impl Into<String>) -> Value {
    Value::String(value.into())
}

fn name(o: &Value) -> Value {
    s(text(o, &["metadata", "name"]))
}

fn age(o: &Value, now: Timestamp) -> Value {
    s(since(time_at(o, &["metadata", "creationTimestamp"]), now))
}

// ---------------------------------------------------------------------------------------------
// Column descriptions: upstream's SwaggerDoc() strings (k8s.io/api v0.32).

const D_OBJECTMETA_NAME: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const D_OBJECTMETA_CREATIONTIMESTAMP: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const D_PODSTATUS_NOMINATEDNODENAME: &str = "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods. This field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to give the resources on this node to a higher priority pod that is created after preemption. As a result, this field may be different than PodSpec.nodeName when the pod is scheduled.";
const D_PODSTATUS_PODIP: &str = "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.";
const D_PODSPEC_NODENAME: &str = "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for this node becomes responsible for the lifecycle of this pod. This field should not be used to express a desire for the pod to be scheduled on a specific node. https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename";
const D_PODSPEC_READINESSGATES: &str = "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to \"True\" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates";
const D_REPLICASETSPEC_REPLICAS: &str = "Replicas is the number of desired replicas. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/#what-is-a-replicationcontroller";
const D_REPLICASETSPEC_SELECTOR: &str = "Selector is a label query over pods that should match the replica count. If the selector is empty, it is defaulted to the labels present on the pod template. Label keys and values that must match in order to be controlled by this replica set. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors";
const D_REPLICASETSTATUS_REPLICAS: &str = "Replicas is the most recently observed number of replicas. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/#what-is-a-replicationcontroller";
const D_REPLICASETSTATUS_READYREPLICAS: &str = "The number of ready replicas for this replica set.";
const D_DEPLOYMENTSTATUS_UPDATEDREPLICAS: &str = "Total number of non-terminated pods targeted by this deployment that have the desired template spec.";
const D_DEPLOYMENTSTATUS_AVAILABLEREPLICAS: &str = "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.";
const D_DEPLOYMENTSPEC_SELECTOR: &str = "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.";
const D_SERVICESPEC_PORTS: &str = "The list of ports that are exposed by this service. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies";
const D_SERVICESPEC_SELECTOR: &str = "Route service traffic to pods with label keys and values matching this selector. If empty or not present, the service is assumed to have an external process managing its endpoints, which Kubernetes will not modify. Only applies to types ClusterIP, NodePort, and LoadBalancer. Ignored if type is ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/";
const D_SERVICESPEC_CLUSTERIP: &str = "clusterIP is the IP address of the service and is usually assigned randomly. If an address is specified manually, is in-range (as per system configuration), and is not in use, it will be allocated to the service; otherwise creation of the service will fail. This field may not be changed through updates unless the type field is also being changed to ExternalName (which requires this field to be blank) or the type field is being changed from ExternalName (in which case this field may optionally be specified, as describe above).  Valid values are \"None\", empty string (\"\"), or a valid IP address. Setting this to \"None\" makes a \"headless service\" (no virtual IP), which is useful when direct endpoint connections are preferred and proxying is not required.  Only applies to types ClusterIP, NodePort, and LoadBalancer. If this field is specified when creating a Service of type ExternalName, creation will fail. This field will be wiped when updating a Service to type ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies";
const D_SERVICESPEC_TYPE: &str = "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are ExternalName, ClusterIP, NodePort, and LoadBalancer. \"ClusterIP\" allocates a cluster-internal IP address for load-balancing to endpoints. Endpoints are determined by the selector or if that is not specified, by manual construction of an Endpoints object or EndpointSlice objects. If clusterIP is \"None\", no virtual IP is allocated and the endpoints are published as a set of endpoints rather than a virtual IP. \"NodePort\" builds on ClusterIP and allocates a port on every node which routes to the same endpoints as the clusterIP. \"LoadBalancer\" builds on NodePort and creates an external load-balancer (if supported in the current cloud) which routes to the same endpoints as the clusterIP. \"ExternalName\" aliases this service to the specified externalName. Several other fields do not apply to ExternalName services. More info: https://kubernetes.io/docs/concepts/services-networking/service/#publishing-services-service-types";
const D_SERVICESPEC_EXTERNALIPS: &str = "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.  These IPs are not managed by Kubernetes.  The user is responsible for ensuring that traffic arrives at a node with this IP.  A common example is external load-balancers that are not part of the Kubernetes system.";
const D_ENDPOINTS_SUBSETS: &str = "The set of all endpoints is the union of all subsets. Addresses are placed into subsets according to the IPs they share. A single address with multiple ports, some of which are ready and some of which are not (because they come from different containers) will result in the address being displayed in different subsets for the different ports. No address will appear in both Addresses and NotReadyAddresses in the same subset. Sets of addresses and ports that comprise a service.";
const D_NODESYSTEMINFO_KERNELVERSION: &str =
    "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).";
const D_NODESYSTEMINFO_OSIMAGE: &str =
    "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).";
const D_NODESYSTEMINFO_CONTAINERRUNTIMEVERSION: &str = "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).";
const D_NODESYSTEMINFO_KUBELETVERSION: &str = "Kubelet Version reported by the node.";
const D_NODESTATUS_ADDRESSES: &str = "List of addresses reachable to the node. Queried from cloud provider, if available. More info: https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is declared as mergeable, but the merge key is not sufficiently unique, which can cause data corruption when it is merged. Callers should instead use a full-replacement patch. See https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can change during the lifetime of a Node. However, there are some exceptions where this may not be possible, such as Pods that inherit a Node's address in its own status or consumers of the downward API (status.hostIP).";
const D_EVENT_INVOLVEDOBJECT: &str = "The object that this event is about.";
const D_EVENT_REASON: &str = "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.";
const D_EVENT_MESSAGE: &str = "A human-readable description of the status of this operation.";
const D_EVENT_SOURCE: &str =
    "The component reporting this event. Should be a short machine understandable string.";
const D_EVENT_FIRSTTIMESTAMP: &str =
    "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)";
const D_EVENT_LASTTIMESTAMP: &str =
    "The time at which the most recent occurrence of this event was recorded.";
const D_EVENT_COUNT: &str = "The number of times this event has occurred.";
const D_EVENT_TYPE: &str =
    "Type of this event (Normal, Warning), new types could be added in the future";
const D_OBJECTREFERENCE_FIELDPATH: &str = "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]. For example, if the object reference is to a container within a pod, this would take on a value like: \"spec.containers{name}\" (where \"name\" refers to the name of the container that triggered the event) or if no container name is specified \"spec.containers[2]\" (container with index 2 in this pod). This syntax is chosen only to have some well-defined way of referencing a part of an object.";
const D_SECRET_DATA: &str = "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4";
const D_SECRET_TYPE: &str = "Used to facilitate programmatic handling of secret data. More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types";
const D_SERVICEACCOUNT_SECRETS: &str = "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use. Pods are only limited to this list if this service account has a \"kubernetes.io/enforce-mountable-secrets\" annotation set to \"true\". The \"kubernetes.io/enforce-mountable-secrets\" annotation is deprecated since v1.32. Prefer separate namespaces to isolate access to mounted secrets. This field should not be used to find auto-generated service account token secrets for use outside of pods. Instead, tokens can be requested directly using the TokenRequest API, or service account token secrets can be manually created. More info: https://kubernetes.io/docs/concepts/configuration/secret";
const D_CONFIGMAP_DATA: &str = "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process.";
const D_LEASESPEC_HOLDERIDENTITY: &str = "holderIdentity contains the identity of the holder of a current lease. If Coordinated Leader Election is used, the holder identity must be equal to the elected LeaseCandidate.metadata.name field.";
const D_ENDPOINTSLICE_ADDRESSTYPE: &str = "addressType specifies the type of address carried by this EndpointSlice. All addresses in this slice must be the same type. This field is immutable after creation. The following address types are currently supported: * IPv4: Represents an IPv4 Address. * IPv6: Represents an IPv6 Address. * FQDN: Represents a Fully Qualified Domain Name.";
const D_ENDPOINTSLICE_ENDPOINTS: &str = "endpoints is a list of unique endpoints in this slice. Each slice may include a maximum of 1000 endpoints.";
const D_ENDPOINTSLICE_PORTS: &str = "ports specifies the list of network ports exposed by each endpoint in this slice. Each port must have a unique name. When ports is empty, it indicates that there are no defined ports. When a port is defined with a nil port value, it indicates \"all ports\". Each slice may include a maximum of 100 ports.";

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2024-05-01T12:00:00Z";

    fn now() -> Timestamp {
        NOW.parse().unwrap()
    }

    /// The RFC 3339 time `secs` seconds before `NOW`.
    fn ago(secs: i64) -> String {
        let t = Timestamp::from_second(now().as_second() - secs).unwrap();
        rfc3339_seconds(t)
    }

    fn table(resource: &str, items: &[Value]) -> Value {
        build_table(
            resource,
            items,
            json!({"resourceVersion": "42"}),
            IncludeObject::Metadata,
            now(),
        )
    }

    /// The cells of the single row printed for `item`.
    fn cells(resource: &str, item: Value) -> Vec<Value> {
        let t = table(resource, &[item]);
        t["rows"][0]["cells"].as_array().unwrap().clone()
    }

    /// A column as (name, type, format, priority).
    type ColumnSummary = (String, String, String, i64);

    fn column_names(resource: &str) -> Vec<ColumnSummary> {
        table(resource, &[])["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap().to_string(),
                    c["type"].as_str().unwrap().to_string(),
                    c["format"].as_str().unwrap().to_string(),
                    c["priority"].as_i64().unwrap(),
                )
            })
            .collect()
    }

    fn meta(name: &str, created_secs_ago: i64) -> Value {
        json!({"name": name, "namespace": "default", "uid": "u-1", "resourceVersion": "7",
               "creationTimestamp": ago(created_secs_ago), "labels": {"app": "web"}})
    }

    // -----------------------------------------------------------------------------------------
    // Column definitions

    #[test]
    fn column_definitions_match_upstream() {
        type Want = &'static [(&'static str, &'static str, &'static str, i64)];
        let cases: &[(&str, Want)] = &[
            (
                "pods",
                &[
                    ("Name", "string", "name", 0),
                    ("Ready", "string", "", 0),
                    ("Status", "string", "", 0),
                    ("Restarts", "string", "", 0),
                    ("Age", "string", "", 0),
                    ("IP", "string", "", 1),
                    ("Node", "string", "", 1),
                    ("Nominated Node", "string", "", 1),
                    ("Readiness Gates", "string", "", 1),
                ],
            ),
            (
                "deployments.apps",
                &[
                    ("Name", "string", "name", 0),
                    ("Ready", "string", "", 0),
                    ("Up-to-date", "string", "", 0),
                    ("Available", "string", "", 0),
                    ("Age", "string", "", 0),
                    ("Containers", "string", "", 1),
                    ("Images", "string", "", 1),
                    ("Selector", "string", "", 1),
                ],
            ),
            (
                "replicasets.apps",
                &[
                    ("Name", "string", "name", 0),
                    ("Desired", "integer", "", 0),
                    ("Current", "integer", "", 0),
                    ("Ready", "integer", "", 0),
                    ("Age", "string", "", 0),
                    ("Containers", "string", "", 1),
                    ("Images", "string", "", 1),
                    ("Selector", "string", "", 1),
                ],
            ),
            (
                "services",
                &[
                    ("Name", "string", "name", 0),
                    ("Type", "string", "", 0),
                    ("Cluster-IP", "string", "", 0),
                    ("External-IP", "string", "", 0),
                    ("Port(s)", "string", "", 0),
                    ("Age", "string", "", 0),
                    ("Selector", "string", "", 1),
                ],
            ),
            (
                "nodes",
                &[
                    ("Name", "string", "name", 0),
                    ("Status", "string", "", 0),
                    ("Roles", "string", "", 0),
                    ("Age", "string", "", 0),
                    ("Version", "string", "", 0),
                    ("Internal-IP", "string", "", 1),
                    ("External-IP", "string", "", 1),
                    ("OS-Image", "string", "", 1),
                    ("Kernel-Version", "string", "", 1),
                    ("Container-Runtime", "string", "", 1),
                ],
            ),
            (
                "events",
                &[
                    ("Last Seen", "string", "", 0),
                    ("Type", "string", "", 0),
                    ("Reason", "string", "", 0),
                    ("Object", "string", "", 0),
                    ("Subobject", "string", "", 1),
                    ("Source", "string", "", 1),
                    ("Message", "string", "", 0),
                    ("First Seen", "string", "", 1),
                    ("Count", "string", "", 1),
                    ("Name", "string", "name", 1),
                ],
            ),
            (
                "secrets",
                &[
                    ("Name", "string", "name", 0),
                    ("Type", "string", "", 0),
                    ("Data", "string", "", 0),
                    ("Age", "string", "", 0),
                ],
            ),
            (
                "configmaps",
                &[
                    ("Name", "string", "name", 0),
                    ("Data", "string", "", 0),
                    ("Age", "string", "", 0),
                ],
            ),
            (
                "namespaces",
                &[
                    ("Name", "string", "name", 0),
                    ("Status", "string", "", 0),
                    ("Age", "string", "", 0),
                ],
            ),
            (
                "serviceaccounts",
                &[
                    ("Name", "string", "name", 0),
                    ("Secrets", "string", "", 0),
                    ("Age", "string", "", 0),
                ],
            ),
            (
                "endpoints",
                &[
                    ("Name", "string", "name", 0),
                    ("Endpoints", "string", "", 0),
                    ("Age", "string", "", 0),
                ],
            ),
            (
                "endpointslices.discovery.k8s.io",
                &[
                    ("Name", "string", "name", 0),
                    ("AddressType", "string", "", 0),
                    ("Ports", "string", "", 0),
                    ("Endpoints", "string", "", 0),
                    ("Age", "string", "", 0),
                ],
            ),
            (
                "leases.coordination.k8s.io",
                &[
                    ("Name", "string", "name", 0),
                    ("Holder", "string", "", 0),
                    ("Age", "string", "", 0),
                ],
            ),
            (
                "widgets.example.com",
                &[("Name", "string", "name", 0), ("Created At", "date", "", 0)],
            ),
        ];
        for (resource, want) in cases {
            let want: Vec<ColumnSummary> = want
                .iter()
                .map(|(n, t, f, p)| (n.to_string(), t.to_string(), f.to_string(), *p))
                .collect();
            assert_eq!(column_names(resource), want, "{resource}");
        }
        assert_eq!(column_names("events.events.k8s.io"), column_names("events"));
        // Every definition carries all five keys, descriptions included.
        for c in table("pods", &[])["columnDefinitions"].as_array().unwrap() {
            assert_eq!(c.as_object().unwrap().len(), 5);
            assert!(!c["description"].as_str().unwrap().is_empty());
        }
    }

    // -----------------------------------------------------------------------------------------
    // Table envelope and includeObject

    #[test]
    fn table_envelope_carries_list_meta() {
        let t = build_table(
            "pods",
            &[],
            json!({"resourceVersion": "99", "continue": "abc", "remainingItemCount": 5, "selfLink": "x"}),
            IncludeObject::Metadata,
            now(),
        );
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(
            t["metadata"],
            json!({"resourceVersion": "99", "continue": "abc", "remainingItemCount": 5})
        );
        assert_eq!(t["rows"], json!([]));

        let t = build_table(
            "pods",
            &[],
            json!({"resourceVersion": "", "continue": ""}),
            IncludeObject::None,
            now(),
        );
        assert_eq!(t["metadata"], json!({}));
        let t = build_table("pods", &[], json!("garbage"), IncludeObject::None, now());
        assert_eq!(t["metadata"], json!({}));
    }

    #[test]
    fn include_object_parse() {
        let cases = [
            (None, Ok(IncludeObject::Metadata)),
            (Some(""), Ok(IncludeObject::Metadata)),
            (Some("Metadata"), Ok(IncludeObject::Metadata)),
            (Some("None"), Ok(IncludeObject::None)),
            (Some("Object"), Ok(IncludeObject::Object)),
            (
                Some("object"),
                Err("unrecognized includeObject value: \"object\"".to_string()),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(IncludeObject::parse(input), want, "{input:?}");
        }
        assert_eq!(IncludeObject::default(), IncludeObject::Metadata);
    }

    #[test]
    fn include_object_variants() {
        let pod = json!({"metadata": meta("web", 10), "spec": {"containers": [{"name": "c"}]}, "status": {}});
        let metadata = build_table(
            "pods",
            std::slice::from_ref(&pod),
            json!({}),
            IncludeObject::Metadata,
            now(),
        );
        assert_eq!(
            metadata["rows"][0]["object"],
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": pod["metadata"]})
        );

        let none = build_table(
            "pods",
            std::slice::from_ref(&pod),
            json!({}),
            IncludeObject::None,
            now(),
        );
        assert!(none["rows"][0].get("object").is_none());
        assert!(none["rows"][0]["cells"].is_array());

        // Full objects get their type meta when the stored JSON lacks it.
        let object = build_table(
            "pods",
            std::slice::from_ref(&pod),
            json!({}),
            IncludeObject::Object,
            now(),
        );
        let mut want = pod.clone();
        want["apiVersion"] = json!("v1");
        want["kind"] = json!("Pod");
        assert_eq!(object["rows"][0]["object"], want);

        let deploy =
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("d", 1)});
        let object = build_table(
            "deployments.apps",
            std::slice::from_ref(&deploy),
            json!({}),
            IncludeObject::Object,
            now(),
        );
        assert_eq!(object["rows"][0]["object"], deploy);

        // An item without metadata still gets a PartialObjectMetadata.
        let t = build_table(
            "pods",
            &[json!(5)],
            json!({}),
            IncludeObject::Metadata,
            now(),
        );
        assert_eq!(t["rows"][0]["object"]["metadata"], json!({}));
    }

    // -----------------------------------------------------------------------------------------
    // HumanDuration

    #[test]
    fn ages_from_creation_timestamp() {
        let cases = [
            (json!({"name": "a", "creationTimestamp": ago(5)}), "5s"),
            (json!({"name": "a", "creationTimestamp": ago(200)}), "3m20s"),
            (json!({"name": "a", "creationTimestamp": ago(600)}), "10m"),
            (
                json!({"name": "a", "creationTimestamp": ago(2 * 86400 + 3 * 3600)}),
                "2d3h",
            ),
            (
                json!({"name": "a", "creationTimestamp": "2024-05-01T11:59:59.5Z"}),
                "0s",
            ),
            (
                json!({"name": "a", "creationTimestamp": ago(-60)}),
                "<invalid>",
            ),
            (json!({"name": "a"}), "<unknown>"),
            (json!({"name": "a", "creationTimestamp": null}), "<unknown>"),
            (
                json!({"name": "a", "creationTimestamp": "0001-01-01T00:00:00Z"}),
                "<unknown>",
            ),
            (
                json!({"name": "a", "creationTimestamp": "yesterday"}),
                "<unknown>",
            ),
            (json!({"name": "a", "creationTimestamp": 12}), "<unknown>"),
        ];
        for (metadata, want) in cases {
            let row = cells("configmaps", json!({"metadata": metadata}));
            assert_eq!(row[2], want, "{metadata}");
        }
    }

    // -----------------------------------------------------------------------------------------
    // Pods

    fn pod(spec: Value, status: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta("web-1", 600), "spec": spec, "status": status})
    }

    fn one_container() -> Value {
        json!({"containers": [{"name": "web", "image": "nginx"}], "nodeName": "node-1"})
    }

    fn two_inits() -> Value {
        json!({"initContainers": [{"name": "i1"}, {"name": "i2"}], "containers": [{"name": "web"}]})
    }

    fn running(ready: bool, restarts: i64) -> Value {
        json!({"name": "web", "ready": ready, "restartCount": restarts, "started": true,
               "state": {"running": {"startedAt": ago(60)}}})
    }

    /// (READY, STATUS, RESTARTS) of a pod.
    fn pod_summary(p: Value) -> (String, String, String) {
        let c = cells("pods", p);
        let str_of = |v: &Value| v.as_str().unwrap().to_string();
        (str_of(&c[1]), str_of(&c[2]), str_of(&c[3]))
    }

    #[test]
    fn pod_status_cases() {
        let ready_cond = json!([{"type": "Ready", "status": "True"}]);
        let cases: Vec<(&str, Value, (&str, &str, &str))> = vec![
            (
                "pending, unscheduled",
                pod(
                    json!({"containers": [{"name": "web"}]}),
                    json!({"phase": "Pending"}),
                ),
                ("0/1", "Pending", "0"),
            ),
            (
                "scheduling gated",
                pod(
                    json!({"containers": [{"name": "web"}], "schedulingGates": [{"name": "g"}]}),
                    json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}),
                ),
                ("0/1", "SchedulingGated", "0"),
            ),
            (
                "container creating",
                pod(
                    one_container(),
                    json!({"phase": "Pending", "containerStatuses": [{"name": "web", "ready": false, "restartCount": 0,
                        "state": {"waiting": {"reason": "ContainerCreating"}}}]}),
                ),
                ("0/1", "ContainerCreating", "0"),
            ),
            (
                "running and ready",
                pod(
                    one_container(),
                    json!({"phase": "Running", "conditions": ready_cond, "containerStatuses": [running(true, 0)]}),
                ),
                ("1/1", "Running", "0"),
            ),
            (
                "running, not ready yet",
                pod(
                    one_container(),
                    json!({"phase": "Running", "containerStatuses": [running(false, 0)]}),
                ),
                ("0/1", "Running", "0"),
            ),
            (
                "crash loop with last restart five minutes ago",
                pod(
                    one_container(),
                    json!({"phase": "Running", "containerStatuses": [{"name": "web", "ready": false, "restartCount": 5,
                        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 2m40s"}},
                        "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(300)}}}]}),
                ),
                ("0/1", "CrashLoopBackOff", "5 (5m ago)"),
            ),
            (
                "restarted, running again",
                pod(
                    one_container(),
                    json!({"phase": "Running", "containerStatuses": [{"name": "web", "ready": true, "restartCount": 2,
                        "state": {"running": {"startedAt": ago(30)}},
                        "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled", "finishedAt": ago(35)}}}]}),
                ),
                ("1/1", "Running", "2 (35s ago)"),
            ),
            (
                "restarts without a termination time have no suffix",
                pod(
                    one_container(),
                    json!({"phase": "Running", "containerStatuses": [running(true, 3)]}),
                ),
                ("1/1", "Running", "3"),
            ),
            (
                "completed",
                pod(
                    one_container(),
                    json!({"phase": "Succeeded", "containerStatuses": [{"name": "web", "ready": false, "restartCount": 0,
                        "state": {"terminated": {"exitCode": 0, "reason": "Completed", "finishedAt": ago(10)}}}]}),
                ),
                ("0/1", "Completed", "0"),
            ),
            (
                "error",
                pod(
                    one_container(),
                    json!({"phase": "Failed", "containerStatuses": [{"name": "web", "ready": false, "restartCount": 0,
                        "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}),
                ),
                ("0/1", "Error", "0"),
            ),
            (
                "terminated without reason: exit code",
                pod(
                    one_container(),
                    json!({"phase": "Failed", "containerStatuses": [{"name": "web", "state": {"terminated": {"exitCode": 137}}}]}),
                ),
                ("0/1", "ExitCode:137", "0"),
            ),
            (
                "terminated without reason: signal",
                pod(
                    one_container(),
                    json!({"phase": "Failed", "containerStatuses": [{"name": "web", "state": {"terminated": {"exitCode": 0, "signal": 9}}}]}),
                ),
                ("0/1", "Signal:9", "0"),
            ),
            (
                "image pull backoff",
                pod(
                    one_container(),
                    json!({"phase": "Pending", "containerStatuses": [{"name": "web", "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}),
                ),
                ("0/1", "ImagePullBackOff", "0"),
            ),
            (
                "first of two init containers running",
                pod(
                    two_inits(),
                    json!({"phase": "Pending", "initContainerStatuses": [
                        {"name": "i1", "ready": false, "restartCount": 0, "state": {"running": {}}},
                        {"name": "i2", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}],
                      "containerStatuses": [{"name": "web", "state": {"waiting": {"reason": "PodInitializing"}}}]}),
                ),
                ("0/1", "Init:0/2", "0"),
            ),
            (
                "second init container running",
                pod(
                    two_inits(),
                    json!({"phase": "Pending", "initContainerStatuses": [
                        {"name": "i1", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                        {"name": "i2", "state": {"running": {}}}]}),
                ),
                ("0/1", "Init:1/2", "0"),
            ),
            (
                "init container crash looping",
                pod(
                    two_inits(),
                    json!({"phase": "Pending", "initContainerStatuses": [
                        {"name": "i1", "restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                         "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(90)}}}]}),
                ),
                ("0/1", "Init:CrashLoopBackOff", "4 (90s ago)"),
            ),
            (
                "init container failed",
                pod(
                    two_inits(),
                    json!({"phase": "Failed", "initContainerStatuses": [
                        {"name": "i1", "state": {"terminated": {"exitCode": 2, "reason": "Error"}}}]}),
                ),
                ("0/1", "Init:Error", "0"),
            ),
            (
                "init container killed by a signal",
                pod(
                    two_inits(),
                    json!({"phase": "Pending", "initContainerStatuses": [
                        {"name": "i1", "state": {"terminated": {"exitCode": 1, "signal": 15}}}]}),
                ),
                ("0/1", "Init:Signal:15", "0"),
            ),
            (
                "terminating",
                {
                    let mut p = pod(
                        one_container(),
                        json!({"phase": "Running", "conditions": ready_cond, "containerStatuses": [running(true, 0)]}),
                    );
                    p["metadata"]["deletionTimestamp"] = json!(ago(1));
                    p
                },
                ("1/1", "Terminating", "0"),
            ),
            (
                "deleted but already succeeded keeps its status",
                {
                    let mut p = pod(
                        one_container(),
                        json!({"phase": "Succeeded", "containerStatuses": [{"name": "web", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}),
                    );
                    p["metadata"]["deletionTimestamp"] = json!(ago(1));
                    p
                },
                ("0/1", "Completed", "0"),
            ),
            (
                "node lost and deleted",
                {
                    let mut p = pod(
                        one_container(),
                        json!({"phase": "Running", "reason": "NodeLost", "containerStatuses": [running(true, 0)]}),
                    );
                    p["metadata"]["deletionTimestamp"] = json!(ago(1));
                    p
                },
                ("1/1", "Unknown", "0"),
            ),
            (
                "evicted",
                pod(
                    one_container(),
                    json!({"phase": "Failed", "reason": "Evicted", "message": "low on memory"}),
                ),
                ("0/1", "Evicted", "0"),
            ),
            (
                "one container completed, another still running and ready",
                pod(
                    json!({"containers": [{"name": "a"}, {"name": "b"}]}),
                    json!({"phase": "Running", "conditions": ready_cond, "containerStatuses": [
                        {"name": "a", "ready": true, "state": {"running": {}}},
                        {"name": "b", "ready": false, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}),
                ),
                ("1/2", "Running", "0"),
            ),
            (
                "one container completed, another running, pod not ready",
                pod(
                    json!({"containers": [{"name": "a"}, {"name": "b"}]}),
                    json!({"phase": "Running", "containerStatuses": [
                        {"name": "a", "ready": true, "state": {"running": {}}},
                        {"name": "b", "ready": false, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}),
                ),
                ("1/2", "NotReady", "0"),
            ),
            (
                "sidecar init container counts as a container",
                pod(
                    json!({"initContainers": [{"name": "proxy", "restartPolicy": "Always"}], "containers": [{"name": "web"}]}),
                    json!({"phase": "Running", "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
                      "initContainerStatuses": [{"name": "proxy", "ready": true, "started": true, "restartCount": 1,
                         "state": {"running": {}}, "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(120)}}}],
                      "containerStatuses": [running(true, 0)]}),
                ),
                ("2/2", "Running", "1 (2m ago)"),
            ),
            (
                "restarts are summed over containers, latest restart wins",
                pod(
                    json!({"containers": [{"name": "a"}, {"name": "b"}]}),
                    json!({"phase": "Running", "containerStatuses": [
                        {"name": "a", "ready": true, "restartCount": 1, "state": {"running": {}},
                         "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(7200)}}},
                        {"name": "b", "ready": true, "restartCount": 2, "state": {"running": {}},
                         "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(45)}}}]}),
                ),
                ("2/2", "Running", "3 (45s ago)"),
            ),
        ];
        for (what, p, (ready, status, restarts)) in cases {
            assert_eq!(
                pod_summary(p),
                (ready.to_string(), status.to_string(), restarts.to_string()),
                "{what}"
            );
        }
    }

    #[test]
    fn pod_full_row_and_wide_cells() {
        let p = json!({
            "metadata": meta("web-1", 600),
            "spec": {"nodeName": "node-1", "containers": [{"name": "web"}],
                     "readinessGates": [{"conditionType": "example.com/a"}, {"conditionType": "example.com/b"}]},
            "status": {"phase": "Running", "podIP": "10.244.1.5", "podIPs": [{"ip": "10.244.1.5"}],
                       "nominatedNodeName": "node-2",
                       "conditions": [{"type": "example.com/a", "status": "True"}, {"type": "example.com/b", "status": "False"}],
                       "containerStatuses": [running(true, 0)]}
        });
        assert_eq!(
            cells("pods", p),
            vec![
                json!("web-1"),
                json!("1/1"),
                json!("Running"),
                json!("0"),
                json!("10m"),
                json!("10.244.1.5"),
                json!("node-1"),
                json!("node-2"),
                json!("1/2"),
            ]
        );
        // Unscheduled pod: <none> everywhere; podIPs used when podIP is absent.
        let c = cells("pods", pod(json!({"containers": []}), json!({})));
        assert_eq!(
            &c[5..],
            &[
                json!("<none>"),
                json!("<none>"),
                json!("<none>"),
                json!("<none>")
            ]
        );
        let c = cells(
            "pods",
            pod(json!({}), json!({"podIPs": [{"ip": "fd00::5"}]})),
        );
        assert_eq!(c[5], "fd00::5");
    }

    #[test]
    fn pod_row_conditions_for_finished_pods() {
        let t = table(
            "pods",
            &[
                pod(one_container(), json!({"phase": "Succeeded"})),
                pod(one_container(), json!({"phase": "Failed"})),
                pod(one_container(), json!({"phase": "Running"})),
            ],
        );
        assert_eq!(
            t["rows"][0]["conditions"],
            json!([{"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}])
        );
        assert_eq!(
            t["rows"][1]["conditions"],
            json!([{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}])
        );
        assert!(t["rows"][2].get("conditions").is_none());
    }

    // -----------------------------------------------------------------------------------------
    // Workloads

    fn deployment(selector: Value) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("web", 3600),
            "spec": {"replicas": 3, "selector": selector,
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "web", "image": "nginx:1.25"},
                                                          {"name": "log", "image": "busybox"}]}}},
            "status": {"replicas": 3, "updatedReplicas": 3, "readyReplicas": 2, "availableReplicas": 2}
        })
    }

    #[test]
    fn deployment_rows() {
        assert_eq!(
            cells(
                "deployments.apps",
                deployment(json!({"matchLabels": {"app": "web"}}))
            ),
            vec![
                json!("web"),
                json!("2/3"),
                json!(3),
                json!(2),
                json!("60m"),
                json!("web,log"),
                json!("nginx:1.25,busybox"),
                json!("app=web"),
            ]
        );
        let selectors = [
            (
                json!({"matchLabels": {"app": "web", "tier": "fe"},
                       "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]},
                                            {"key": "zz", "operator": "Exists"},
                                            {"key": "canary", "operator": "DoesNotExist"},
                                            {"key": "b", "operator": "NotIn", "values": ["x"]}]}),
                "app=web,b notin (x),!canary,env in (dev,prod),tier=fe,zz",
            ),
            (json!({}), ""),
            (Value::Null, ""),
            (
                json!({"matchExpressions": [{"key": "a", "operator": "Bogus"}]}),
                "<invalid>",
            ),
            (
                json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}),
                "<invalid>",
            ),
            (
                json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}),
                "<invalid>",
            ),
            (json!({"matchLabels": {"bad key": "x"}}), "<invalid>"),
            (
                json!({"matchLabels": {"example.com/app": "web"}}),
                "example.com/app=web",
            ),
            (json!("not a selector"), "<invalid>"),
        ];
        for (selector, want) in selectors {
            let c = cells("deployments.apps", deployment(selector.clone()));
            assert_eq!(c[7], want, "{selector}");
        }
        // Unset replicas default to 1, as the stored object would be defaulted.
        let c = cells("deployments.apps", json!({"metadata": {"name": "x"}}));
        assert_eq!(c[1..4], [json!("0/1"), json!(0), json!(0)]);
    }

    #[test]
    fn replica_set_rows() {
        let rs = json!({
            "metadata": meta("web-5d4f8", 120),
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web", "pod-template-hash": "5d4f8"}},
                     "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}}},
            "status": {"replicas": 3, "readyReplicas": 1}
        });
        assert_eq!(
            cells("replicasets.apps", rs),
            vec![
                json!("web-5d4f8"),
                json!(3),
                json!(3),
                json!(1),
                json!("2m"),
                json!("web"),
                json!("nginx:1.25"),
                json!("app=web,pod-template-hash=5d4f8"),
            ]
        );
        let c = cells(
            "replicasets.apps",
            json!({"metadata": {"name": "x"}, "spec": {"replicas": 0, "selector": {}}}),
        );
        assert_eq!(c[1..4], [json!(0), json!(0), json!(0)]);
        assert_eq!(c[5..], [json!(""), json!(""), json!("<none>")]);
        let c = cells(
            "replicasets.apps",
            json!({"spec": {"selector": {"matchExpressions": [{"key": "a", "operator": "?"}]}}}),
        );
        assert_eq!(c[7], "<error>");
        let c = cells("replicasets.apps", json!({}));
        assert_eq!(c[7], "<none>");
    }

    // -----------------------------------------------------------------------------------------
    // Services, endpoints, slices

    fn service(spec: Value, status: Value) -> Value {
        json!({"metadata": meta("web", 30), "spec": spec, "status": status})
    }

    #[test]
    fn service_rows() {
        let cases = vec![
            (
                "cluster ip",
                service(
                    json!({"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                           "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}, {"port": 53, "protocol": "UDP"}],
                           "selector": {"app": "web", "tier": "fe"}}),
                    json!({}),
                ),
                vec![
                    "web",
                    "ClusterIP",
                    "10.96.0.10",
                    "<none>",
                    "80/TCP,53/UDP",
                    "30s",
                    "app=web,tier=fe",
                ],
            ),
            (
                "node port",
                service(
                    json!({"type": "NodePort", "clusterIPs": ["10.96.0.11"], "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]}),
                    json!({}),
                ),
                vec![
                    "web",
                    "NodePort",
                    "10.96.0.11",
                    "<none>",
                    "80:30080/TCP",
                    "30s",
                    "<none>",
                ],
            ),
            (
                "load balancer pending",
                service(
                    json!({"type": "LoadBalancer", "clusterIPs": ["10.96.0.12"], "ports": [{"port": 443, "nodePort": 31443}]}),
                    json!({"loadBalancer": {}}),
                ),
                vec![
                    "web",
                    "LoadBalancer",
                    "10.96.0.12",
                    "<pending>",
                    "443:31443/TCP",
                    "30s",
                    "<none>",
                ],
            ),
            (
                "load balancer with ingress and external ips",
                service(
                    json!({"type": "LoadBalancer", "clusterIPs": ["10.96.0.12"], "externalIPs": ["192.0.2.9"], "ports": [{"port": 80, "protocol": "TCP"}]}),
                    json!({"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}, {"hostname": "lb.example.com"}, {"ip": "203.0.113.7"}]}}),
                ),
                vec![
                    "web",
                    "LoadBalancer",
                    "10.96.0.12",
                    "203.0.113.7,lb.example.com,192.0.2.9",
                    "80/TCP",
                    "30s",
                    "<none>",
                ],
            ),
            (
                "external ips on a cluster ip service",
                service(
                    json!({"clusterIP": "10.96.0.13", "externalIPs": ["192.0.2.1", "192.0.2.2"], "ports": []}),
                    json!({}),
                ),
                vec![
                    "web",
                    "ClusterIP",
                    "10.96.0.13",
                    "192.0.2.1,192.0.2.2",
                    "<none>",
                    "30s",
                    "<none>",
                ],
            ),
            (
                "headless",
                service(
                    json!({"type": "ClusterIP", "clusterIP": "None", "clusterIPs": ["None"], "selector": {"app": "db"}}),
                    json!({}),
                ),
                vec![
                    "web",
                    "ClusterIP",
                    "None",
                    "<none>",
                    "<none>",
                    "30s",
                    "app=db",
                ],
            ),
            (
                "external name",
                service(
                    json!({"type": "ExternalName", "externalName": "db.example.com"}),
                    json!({}),
                ),
                vec![
                    "web",
                    "ExternalName",
                    "<none>",
                    "db.example.com",
                    "<none>",
                    "30s",
                    "<none>",
                ],
            ),
            (
                "unknown type",
                service(json!({"type": "Weird"}), json!({})),
                vec![
                    "web",
                    "Weird",
                    "<none>",
                    "<unknown>",
                    "<none>",
                    "30s",
                    "<none>",
                ],
            ),
        ];
        for (what, svc, want) in cases {
            let want: Vec<Value> = want.into_iter().map(Value::from).collect();
            assert_eq!(cells("services", svc), want, "{what}");
        }
    }

    #[test]
    fn endpoints_formatting() {
        let addr = |ips: &[&str]| -> Value { ips.iter().map(|ip| json!({"ip": ip})).collect() };
        let cases = vec![
            (json!([]), "<none>"),
            (Value::Null, "<none>"),
            (
                json!([{"addresses": addr(&["10.0.0.1", "10.0.0.2"]), "ports": [{"port": 80, "protocol": "TCP"}]}]),
                "10.0.0.1:80,10.0.0.2:80",
            ),
            (
                json!([{"addresses": addr(&["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]), "ports": [{"port": 80}]}]),
                "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 1 more...",
            ),
            (
                json!([{"addresses": addr(&["10.0.0.1", "10.0.0.2"]), "ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443}]}]),
                "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more...",
            ),
            (
                json!([{"addresses": addr(&["10.0.0.1"]), "ports": [{"port": 80}]},
                       {"addresses": addr(&["10.0.1.1", "10.0.1.2", "10.0.1.3"]), "ports": [{"port": 8080}]}]),
                "10.0.0.1:80,10.0.1.1:8080,10.0.1.2:8080 + 1 more...",
            ),
            (
                json!([{"addresses": addr(&["10.0.0.1", "10.0.0.2"])}]),
                "10.0.0.1,10.0.0.2",
            ),
            (
                json!([{"addresses": addr(&["fd00::1"]), "ports": [{"port": 80}]}]),
                "[fd00::1]:80",
            ),
            (
                json!([{"notReadyAddresses": addr(&["10.0.0.9"]), "ports": [{"port": 80}]}]),
                "",
            ),
        ];
        for (subsets, want) in cases {
            let ep = json!({"metadata": meta("web", 45), "subsets": subsets});
            assert_eq!(
                cells("endpoints", ep),
                vec![json!("web"), json!(want), json!("45s")],
                "{subsets}"
            );
        }
    }

    #[test]
    fn endpoint_slice_rows() {
        let slice = |ports: Value, endpoints: Value| json!({"metadata": meta("web-abc12", 80), "addressType": "IPv4", "ports": ports, "endpoints": endpoints});
        let ep = |ips: &[&str]| json!({"addresses": ips, "conditions": {"ready": true}});
        let cases = vec![
            (
                json!([{"name": "http", "port": 80, "protocol": "TCP"}]),
                json!([ep(&["10.244.1.5"]), ep(&["10.244.2.7"])]),
                "80",
                "10.244.1.5,10.244.2.7",
            ),
            (Value::Null, Value::Null, "<unset>", "<unset>"),
            (json!([]), json!([]), "<unset>", "<unset>"),
            (
                json!([{"name": "http"}, {}]),
                json!([ep(&[])]),
                "http,*",
                "<unset>",
            ),
            (
                json!([{"port": 1}, {"port": 2}, {"port": 3}, {"port": 4}]),
                json!([ep(&["a", "b"]), ep(&["c", "d", "e"])]),
                "1,2,3 + 1 more...",
                "a,b,c + 2 more...",
            ),
        ];
        for (ports, endpoints, want_ports, want_endpoints) in cases {
            assert_eq!(
                cells(
                    "endpointslices.discovery.k8s.io",
                    slice(ports.clone(), endpoints)
                ),
                vec![
                    json!("web-abc12"),
                    json!("IPv4"),
                    json!(want_ports),
                    json!(want_endpoints),
                    json!("80s")
                ],
                "{ports}"
            );
        }
    }

    // -----------------------------------------------------------------------------------------
    // Nodes

    #[test]
    fn node_rows() {
        let node = |labels: Value, spec: Value, conditions: Value| {
            json!({
                "metadata": {"name": "node-1", "creationTimestamp": ago(3 * 86400), "labels": labels},
                "spec": spec,
                "status": {"conditions": conditions,
                           "addresses": [{"type": "Hostname", "address": "node-1"},
                                         {"type": "InternalIP", "address": "192.168.1.10"}],
                           "nodeInfo": {"kubeletVersion": "v1.32.4", "osImage": "Debian GNU/Linux 12 (bookworm)",
                                        "kernelVersion": "6.1.0-18-amd64", "containerRuntimeVersion": "tinykube://0.1.0"}}
            })
        };
        let ready = json!([{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}]);
        assert_eq!(
            cells(
                "nodes",
                node(
                    json!({"node-role.kubernetes.io/control-plane": ""}),
                    json!({}),
                    ready.clone()
                )
            ),
            vec![
                json!("node-1"),
                json!("Ready"),
                json!("control-plane"),
                json!("3d"),
                json!("v1.32.4"),
                json!("192.168.1.10"),
                json!("<none>"),
                json!("Debian GNU/Linux 12 (bookworm)"),
                json!("6.1.0-18-amd64"),
                json!("tinykube://0.1.0"),
            ]
        );
        let cases = vec![
            (json!({}), json!({}), ready.clone(), "Ready", "<none>"),
            (
                json!({}),
                json!({"unschedulable": true}),
                ready.clone(),
                "Ready,SchedulingDisabled",
                "<none>",
            ),
            (
                json!({}),
                json!({}),
                json!([{"type": "Ready", "status": "False"}]),
                "NotReady",
                "<none>",
            ),
            (
                json!({}),
                json!({}),
                json!([{"type": "Ready", "status": "Unknown"}]),
                "NotReady",
                "<none>",
            ),
            (
                json!({}),
                json!({"unschedulable": true}),
                json!([]),
                "Unknown,SchedulingDisabled",
                "<none>",
            ),
            (
                json!({"node-role.kubernetes.io/worker": "", "node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "worker",
                       "node-role.kubernetes.io/": "x"}),
                json!({}),
                ready.clone(),
                "Ready",
                "control-plane,worker",
            ),
            (
                json!({"kubernetes.io/role": "master"}),
                json!({}),
                ready.clone(),
                "Ready",
                "master",
            ),
        ];
        for (labels, spec, conditions, status, roles) in cases {
            let c = cells("nodes", node(labels.clone(), spec, conditions));
            assert_eq!(
                (c[1].clone(), c[2].clone()),
                (json!(status), json!(roles)),
                "{labels}"
            );
        }
        // A bare node: unknown status, no addresses, unknown node info.
        assert_eq!(
            cells("nodes", json!({"metadata": {"name": "n"}})),
            vec![
                json!("n"),
                json!("Unknown"),
                json!("<none>"),
                json!("<unknown>"),
                json!(""),
                json!("<none>"),
                json!("<none>"),
                json!("<unknown>"),
                json!("<unknown>"),
                json!("<unknown>"),
            ]
        );
    }

    // -----------------------------------------------------------------------------------------
    // Events

    #[test]
    fn core_event_rows() {
        let ev = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "web-1.17c1d8c0a1b2c3d4", "namespace": "default", "creationTimestamp": ago(300)},
            "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web-1", "fieldPath": "spec.containers{web}"},
            "reason": "Pulled", "message": "  Successfully pulled image \"nginx\"\n", "type": "Normal",
            "source": {"component": "kubelet", "host": "node-1"},
            "firstTimestamp": ago(300), "lastTimestamp": ago(30), "count": 3
        });
        assert_eq!(
            cells("events", ev),
            vec![
                json!("30s"),
                json!("Normal"),
                json!("Pulled"),
                json!("pod/web-1"),
                json!("spec.containers{web}"),
                json!("kubelet, node-1"),
                json!("Successfully pulled image \"nginx\""),
                json!("5m"),
                json!(3),
                json!("web-1.17c1d8c0a1b2c3d4"),
            ]
        );
        // New-style event written through core/v1: eventTime, series, reporting component.
        let ev = json!({
            "metadata": {"name": "e2"},
            "involvedObject": {"kind": "Node", "name": ""},
            "reason": "Scheduled", "type": "Normal", "message": "ok",
            "eventTime": "2024-05-01T11:58:00.123456Z",
            "series": {"count": 7, "lastObservedTime": "2024-05-01T11:59:50.000000Z"},
            "reportingComponent": "default-scheduler", "reportingInstance": "default-scheduler-cp-1"
        });
        let c = cells("events", ev);
        assert_eq!(c[0], "10s");
        assert_eq!(c[3], "node");
        assert_eq!(c[5], "default-scheduler, default-scheduler-cp-1");
        assert_eq!(c[7], "119s");
        assert_eq!(c[8], 7);
        // Singleton without count prints 1; last seen falls back to first seen.
        let c = cells(
            "events",
            json!({"metadata": {"name": "e3"}, "firstTimestamp": ago(65)}),
        );
        assert_eq!(
            (c[0].clone(), c[7].clone(), c[8].clone()),
            (json!("65s"), json!("65s"), json!(1))
        );
        let c = cells("events", json!({}));
        assert_eq!(
            (c[0].clone(), c[3].clone(), c[5].clone()),
            (json!("<unknown>"), json!(""), json!(""))
        );
    }

    #[test]
    fn events_k8s_io_event_rows() {
        let ev = json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "web-1.abc", "namespace": "default"},
            "eventTime": "2024-05-01T11:57:00.000000Z",
            "reportingController": "default-scheduler", "reportingInstance": "default-scheduler-cp",
            "action": "Binding", "reason": "Scheduled", "type": "Normal",
            "regarding": {"kind": "Pod", "namespace": "default", "name": "web-1"},
            "note": "Successfully assigned default/web-1 to node-1"
        });
        assert_eq!(
            cells("events.events.k8s.io", ev),
            vec![
                json!("3m"),
                json!("Normal"),
                json!("Scheduled"),
                json!("pod/web-1"),
                json!(""),
                json!("default-scheduler, default-scheduler-cp"),
                json!("Successfully assigned default/web-1 to node-1"),
                json!("3m"),
                json!(1),
                json!("web-1.abc"),
            ]
        );
        let ev = json!({
            "metadata": {"name": "x"}, "regarding": {"kind": "Pod", "name": "p"},
            "deprecatedSource": {"component": "kubelet"}, "deprecatedFirstTimestamp": ago(600),
            "deprecatedLastTimestamp": ago(60), "deprecatedCount": 4, "note": "n"
        });
        let c = cells("events.events.k8s.io", ev);
        assert_eq!(
            (c[0].clone(), c[5].clone(), c[7].clone(), c[8].clone()),
            (json!("60s"), json!("kubelet"), json!("10m"), json!(4))
        );
    }

    // -----------------------------------------------------------------------------------------
    // Small resources

    #[test]
    fn small_resource_rows() {
        let cases: Vec<(&str, Value, Vec<Value>)> = vec![
            (
                "secrets",
                json!({"metadata": meta("tls", 7200), "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}}),
                vec![
                    json!("tls"),
                    json!("kubernetes.io/tls"),
                    json!(2),
                    json!("120m"),
                ],
            ),
            (
                "secrets",
                json!({"metadata": meta("s", 1)}),
                vec![json!("s"), json!("Opaque"), json!(0), json!("1s")],
            ),
            (
                "configmaps",
                json!({"metadata": meta("cfg", 86400), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}),
                vec![json!("cfg"), json!(3), json!("24h")],
            ),
            (
                "namespaces",
                json!({"metadata": {"name": "default", "creationTimestamp": ago(10 * 86400)}, "status": {"phase": "Active"}}),
                vec![json!("default"), json!("Active"), json!("10d")],
            ),
            (
                "namespaces",
                json!({"metadata": {"name": "old", "creationTimestamp": ago(60), "deletionTimestamp": ago(1)}, "status": {"phase": "Terminating"}}),
                vec![json!("old"), json!("Terminating"), json!("60s")],
            ),
            (
                "namespaces",
                json!({"metadata": {"name": "n"}}),
                vec![json!("n"), json!("Active"), json!("<unknown>")],
            ),
            (
                "serviceaccounts",
                json!({"metadata": meta("default", 5), "secrets": [{"name": "t"}]}),
                vec![json!("default"), json!(1), json!("5s")],
            ),
            (
                "serviceaccounts",
                json!({"metadata": meta("default", 5)}),
                vec![json!("default"), json!(0), json!("5s")],
            ),
            (
                "leases.coordination.k8s.io",
                json!({"metadata": meta("kube-scheduler", 400), "spec": {"holderIdentity": "cp-1_7f3a", "leaseDurationSeconds": 15}}),
                vec![json!("kube-scheduler"), json!("cp-1_7f3a"), json!("6m40s")],
            ),
            (
                "leases.coordination.k8s.io",
                json!({"metadata": meta("l", 1)}),
                vec![json!("l"), json!(""), json!("1s")],
            ),
            (
                "widgets.example.com",
                json!({"metadata": {"name": "w", "creationTimestamp": "2024-04-30T08:09:10Z"}}),
                vec![json!("w"), json!("2024-04-30T08:09:10Z")],
            ),
            (
                "podtemplates",
                json!({"metadata": {"name": "w", "creationTimestamp": "2024-04-30T08:09:10.5+02:00"}}),
                vec![json!("w"), json!("2024-04-30T06:09:10Z")],
            ),
            (
                "widgets.example.com",
                json!({}),
                vec![json!(""), json!("0001-01-01T00:00:00Z")],
            ),
        ];
        for (resource, item, want) in cases {
            assert_eq!(cells(resource, item.clone()), want, "{resource} {item}");
        }
    }

    // -----------------------------------------------------------------------------------------
    // Robustness

    #[test]
    fn no_panics_on_odd_input() {
        let resources = [
            "pods",
            "deployments.apps",
            "replicasets.apps",
            "services",
            "endpoints",
            "nodes",
            "events",
            "events.events.k8s.io",
            "namespaces",
            "secrets",
            "serviceaccounts",
            "configmaps",
            "leases.coordination.k8s.io",
            "endpointslices.discovery.k8s.io",
            "unknown",
        ];
        let odd = [
            json!(null),
            json!(1),
            json!("pod"),
            json!([]),
            json!({}),
            json!({"metadata": null, "spec": null, "status": null}),
            json!({"metadata": [], "spec": "x", "status": 3}),
            json!({"metadata": {"name": 5, "labels": "x", "creationTimestamp": true, "deletionTimestamp": {}},
                   "spec": {"containers": {}, "initContainers": [null, 1, {"name": 2}], "ports": [null, {"port": "80"}],
                            "replicas": "3", "selector": [], "template": {"spec": {"containers": [1, null]}},
                            "readinessGates": [1], "type": 7, "externalIPs": [1], "clusterIPs": [null]},
                   "status": {"phase": 1, "containerStatuses": [null, 1, {"state": [], "lastState": {"terminated": 1}}],
                              "initContainerStatuses": [{"state": {"terminated": {"exitCode": "x"}}}],
                              "conditions": [null, {"type": 1}], "addresses": [1], "nodeInfo": [],
                              "loadBalancer": {"ingress": [1, {}]}},
                   "subsets": [1, {"addresses": [1], "ports": [1]}], "endpoints": [1, {"addresses": [1]}],
                   "ports": [1], "data": [], "secrets": {}, "series": {"count": "x"}, "involvedObject": 1,
                   "regarding": [], "source": 1, "deprecatedSource": [], "count": 1e300, "firstTimestamp": "not a time"}),
            json!({"spec": {"replicas": 18446744073709551615u64}, "status": {"readyReplicas": -1}}),
        ];
        for resource in resources {
            for include in [
                IncludeObject::None,
                IncludeObject::Metadata,
                IncludeObject::Object,
            ] {
                let t = build_table(resource, &odd, json!(null), include, now());
                let rows = t["rows"].as_array().unwrap();
                assert_eq!(rows.len(), odd.len());
                let width = t["columnDefinitions"].as_array().unwrap().len();
                for row in rows {
                    assert_eq!(row["cells"].as_array().unwrap().len(), width, "{resource}");
                }
            }
        }
    }

    #[test]
    fn cell_count_matches_columns_for_realistic_objects() {
        let items = [
            ("pods", pod(one_container(), json!({"phase": "Running"}))),
            (
                "deployments.apps",
                deployment(json!({"matchLabels": {"app": "web"}})),
            ),
            (
                "services",
                service(json!({"ports": [{"port": 80}]}), json!({})),
            ),
        ];
        for (resource, item) in items {
            let t = table(resource, &[item]);
            assert_eq!(
                t["rows"][0]["cells"].as_array().unwrap().len(),
                t["columnDefinitions"].as_array().unwrap().len(),
                "{resource}"
            );
            assert_eq!(t["metadata"]["resourceVersion"], "42");
        }
    }
}
