//! The real kubectl (`/usr/bin/kubectl`) against `kube-apiserver`, for every resource issue 3
//! lists: create, get (table and `-o yaml`), apply (created, configured, unchanged = no write),
//! patch of all three types, scale, delete, `get -w` and `apply --server-side` (managedFields,
//! conflicts, `--force-conflicts`). Plus the one storage behind core/v1 and events.k8s.io/v1
//! Events: each API reads, lists and watches what the other wrote.
//!
//! The resources are one table ([`CASES`]): a manifest per resource and, for each verb, the
//! change it makes and where kubectl shows it. Each test starts its own etcd and apiserver
//! (no controller manager runs, so nothing else writes to the objects) and walks the table.
//!
//! Needs the binaries built first: `cargo build --workspace --bins`.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Event as CoreEvent;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use serde_json::{json, Value};
use tinykube_tests::apiserver::{kubectl_fails, kubectl_ok, start_control_plane};
use tinykube_tests::{eventually, ControlPlane, Launch, Process, KUBECTL};

/// How long to wait for one line of `kubectl get -w` or one watch event.
const EVENT_TIMEOUT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// The resources
// ---------------------------------------------------------------------------------------------

/// A patch, and what `kubectl get -o jsonpath=<jsonpath>` prints after it.
struct Patch {
    body: &'static str,
    jsonpath: &'static str,
    expected: &'static str,
}

/// One resource, everything the tests do with it.
struct Case {
    /// The resource as kubectl takes it and names it in NotFound errors: `pods`,
    /// `deployments.apps`, `events.events.k8s.io`.
    resource: &'static str,
    /// How kubectl names one object in its messages: `pod`, `deployment.apps`.
    printed: &'static str,
    /// The object's name (namespaced ones live in `default`).
    name: &'static str,
    manifest: &'static str,
    /// The columns of `kubectl get` (upstream's server-side printing).
    columns: &'static [&'static str],
    /// A cell of the object's row.
    row_shows: &'static str,
    /// A line (trimmed) of `-o yaml`: a default the server set or a field it kept.
    yaml_shows: &'static str,
    /// For `apply`: the manifest text replaced by another, and where the change shows.
    apply_change: (&'static str, &'static str),
    applied: (&'static str, &'static str),
    merge: Patch,
    json: Patch,
    strategic: Patch,
    /// A cell of the row `kubectl get -w` prints after the merge patch.
    watch_shows: &'static str,
}

impl Case {
    /// `pod/web`, as `create`, `apply`, `patch` and `scale` print it.
    fn printed_name(&self) -> String {
        format!("{}/{}", self.printed, self.name)
    }

    fn is_namespace(&self) -> bool {
        self.resource == "namespaces"
    }
}

const CORE_EVENT_MANIFEST: &str = r#"apiVersion: v1
kind: Event
metadata:
  name: web.1
  labels: {tier: a}
involvedObject:
  kind: Pod
  name: web
  namespace: default
  uid: 5a3d0b6e-0000-4000-8000-000000000001
reason: Started
message: Started container
type: Normal
count: 1
firstTimestamp: "2024-01-01T00:00:00Z"
lastTimestamp: "2024-01-01T00:00:00Z"
source:
  component: kubelet
  host: n1
"#;

const EVENTS_V1_MANIFEST: &str = r#"apiVersion: events.k8s.io/v1
kind: Event
metadata:
  name: web.2
  labels: {tier: a}
regarding:
  kind: Pod
  name: web
  namespace: default
eventTime: "2024-01-01T00:00:00.000000Z"
reportingController: example.com/scaler
reportingInstance: scaler-1
action: Scale
reason: Scaled
type: Normal
note: scaled up
"#;

const CASES: &[Case] = &[
    Case {
        resource: "namespaces",
        printed: "namespace",
        name: "team",
        manifest: "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n  labels: {tier: a}\n",
        columns: &["NAME", "STATUS", "AGE"],
        row_shows: "Active",
        yaml_shows: "kubernetes.io/metadata.name: team",
        apply_change: ("tier: a", "tier: b"),
        applied: ("{.metadata.labels.tier}", "b"),
        merge: Patch {
            body: r#"{"metadata":{"labels":{"owner":"merge"}}}"#,
            jsonpath: "{.metadata.labels.owner}",
            expected: "merge",
        },
        json: Patch {
            body: r#"[{"op":"add","path":"/metadata/labels/json","value":"yes"}]"#,
            jsonpath: "{.metadata.labels.json}/{.metadata.labels.owner}",
            expected: "yes/merge",
        },
        strategic: Patch {
            body: r#"{"metadata":{"labels":{"owner":null,"strategic":"yes"}}}"#,
            jsonpath: "{.metadata.labels.strategic}/{.metadata.labels.owner}/{.metadata.labels.json}",
            expected: "yes//yes",
        },
        watch_shows: "Active",
    },
    Case {
        resource: "pods",
        printed: "pod",
        name: "web",
        manifest: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  labels: {app: web, tier: a}\nspec:\n  containers:\n  - name: app\n    image: busybox:1.36\n    command: [sleep, \"3600\"]\n",
        columns: &["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        row_shows: "Pending",
        yaml_shows: "terminationMessagePath: /dev/termination-log",
        apply_change: ("busybox:1.36", "busybox:1.37"),
        applied: ("{.spec.containers[0].image}", "busybox:1.37"),
        merge: Patch {
            body: r#"{"spec":{"activeDeadlineSeconds":600}}"#,
            jsonpath: "{.spec.activeDeadlineSeconds}",
            expected: "600",
        },
        json: Patch {
            body: r#"[{"op":"replace","path":"/spec/containers/0/image","value":"busybox:1.38"}]"#,
            jsonpath: "{.spec.containers[0].image}",
            expected: "busybox:1.38",
        },
        // Containers merge by name: the image changes, the command stays.
        strategic: Patch {
            body: r#"{"spec":{"containers":[{"name":"app","image":"busybox:1.39"}]}}"#,
            jsonpath: "{.spec.containers[*].image}/{.spec.containers[0].command[0]}",
            expected: "busybox:1.39/sleep",
        },
        watch_shows: "Pending",
    },
    Case {
        resource: "nodes",
        printed: "node",
        name: "n1",
        manifest: "apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\n  labels: {tier: a}\nspec:\n  podCIDR: 10.244.1.0/24\n  taints:\n  - {key: first, effect: NoSchedule}\n",
        columns: &["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
        row_shows: "Unknown",
        yaml_shows: "podCIDR: 10.244.1.0/24",
        apply_change: ("key: first", "key: second"),
        applied: ("{.spec.taints[*].key}", "second"),
        merge: Patch {
            body: r#"{"spec":{"unschedulable":true}}"#,
            jsonpath: "{.spec.unschedulable}",
            expected: "true",
        },
        json: Patch {
            body: r#"[{"op":"add","path":"/spec/taints/-","value":{"key":"json","effect":"NoExecute"}}]"#,
            jsonpath: "{.spec.taints[*].key}",
            expected: "first json",
        },
        // Taints are an atomic list upstream: the patch's list replaces the stored one.
        strategic: Patch {
            body: r#"{"spec":{"taints":[{"key":"strategic","effect":"PreferNoSchedule"}]}}"#,
            jsonpath: "{.spec.taints[*].key}",
            expected: "strategic",
        },
        watch_shows: "Unknown,SchedulingDisabled",
    },
    Case {
        resource: "services",
        printed: "service",
        name: "web",
        manifest: "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  labels: {tier: a}\nspec:\n  selector: {app: web}\n  ports:\n  - {name: http, port: 80, targetPort: 8080}\n",
        columns: &["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"],
        row_shows: "80/TCP",
        yaml_shows: "sessionAffinity: None",
        apply_change: ("targetPort: 8080", "targetPort: 8081"),
        applied: ("{.spec.ports[0].targetPort}", "8081"),
        merge: Patch {
            body: r#"{"spec":{"ports":[{"name":"http","port":81,"targetPort":8080}]}}"#,
            jsonpath: "{.spec.ports[*].port}",
            expected: "81",
        },
        json: Patch {
            body: r#"[{"op":"replace","path":"/spec/selector/app","value":"api"}]"#,
            jsonpath: "{.spec.selector.app}",
            expected: "api",
        },
        // Ports merge by port number: a new one joins (first, as upstream orders patch items).
        strategic: Patch {
            body: r#"{"spec":{"ports":[{"name":"https","port":443,"targetPort":8443}]}}"#,
            jsonpath: "{.spec.ports[*].port}",
            expected: "443 81",
        },
        watch_shows: "81/TCP",
    },
    Case {
        resource: "endpoints",
        printed: "endpoints",
        name: "web",
        // The port's protocol is spelled out: subsets are an atomic list, so a default the
        // server adds inside them makes every client-side apply a (no-op) "configured".
        manifest: "apiVersion: v1\nkind: Endpoints\nmetadata:\n  name: web\n  labels: {tier: a}\nsubsets:\n- addresses:\n  - ip: 10.244.0.5\n  ports:\n  - {name: http, port: 8080, protocol: TCP}\n",
        columns: &["NAME", "ENDPOINTS", "AGE"],
        row_shows: "10.244.0.5:8080",
        yaml_shows: "- ip: 10.244.0.5",
        apply_change: ("ip: 10.244.0.5", "ip: 10.244.0.6"),
        applied: ("{.subsets[0].addresses[0].ip}", "10.244.0.6"),
        merge: Patch {
            body: r#"{"subsets":[{"addresses":[{"ip":"10.244.0.7"}],"ports":[{"name":"http","port":9090}]}]}"#,
            jsonpath: "{.subsets[0].addresses[0].ip}:{.subsets[0].ports[0].port}/{.subsets[0].ports[0].protocol}",
            expected: "10.244.0.7:9090/TCP",
        },
        json: Patch {
            body: r#"[{"op":"add","path":"/subsets/0/addresses/-","value":{"ip":"10.244.0.8"}}]"#,
            jsonpath: "{.subsets[0].addresses[*].ip}",
            expected: "10.244.0.7 10.244.0.8",
        },
        strategic: Patch {
            body: r#"{"subsets":[{"addresses":[{"ip":"10.244.0.9"}],"ports":[{"name":"http","port":8080}]}]}"#,
            jsonpath: "{.subsets[0].addresses[*].ip}",
            expected: "10.244.0.9",
        },
        watch_shows: "10.244.0.7:9090",
    },
    Case {
        resource: "secrets",
        printed: "secret",
        name: "creds",
        manifest: "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  labels: {tier: a}\ndata:\n  user: YWRtaW4=\n",
        columns: &["NAME", "TYPE", "DATA", "AGE"],
        row_shows: "Opaque",
        yaml_shows: "type: Opaque",
        apply_change: ("YWRtaW4=", "cm9vdA=="),
        applied: ("{.data.user}", "cm9vdA=="),
        // stringData is write-only: the server merges it into data.
        merge: Patch {
            body: r#"{"stringData":{"token":"s3cret"}}"#,
            jsonpath: "{.data.token}",
            expected: "czNjcmV0",
        },
        json: Patch {
            body: r#"[{"op":"add","path":"/data/extra","value":"eA=="}]"#,
            jsonpath: "{.data.extra}",
            expected: "eA==",
        },
        strategic: Patch {
            body: r#"{"data":{"user":"Ym9i"}}"#,
            jsonpath: "{.data.user}/{.data.token}",
            expected: "Ym9i/czNjcmV0",
        },
        watch_shows: "2",
    },
    Case {
        resource: "configmaps",
        printed: "configmap",
        name: "settings",
        manifest: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  labels: {tier: a}\ndata:\n  mode: fast\n",
        columns: &["NAME", "DATA", "AGE"],
        row_shows: "1",
        yaml_shows: "mode: fast",
        apply_change: ("mode: fast", "mode: slow"),
        applied: ("{.data.mode}", "slow"),
        merge: Patch {
            body: r#"{"data":{"level":"3"}}"#,
            jsonpath: "{.data.level}/{.data.mode}",
            expected: "3/fast",
        },
        json: Patch {
            body: r#"[{"op":"replace","path":"/data/mode","value":"json"}]"#,
            jsonpath: "{.data.mode}",
            expected: "json",
        },
        strategic: Patch {
            body: r#"{"data":{"mode":null,"other":"1"}}"#,
            jsonpath: "{.data}",
            expected: r#"{"level":"3","other":"1"}"#,
        },
        watch_shows: "2",
    },
    Case {
        resource: "events",
        printed: "event",
        name: "web.1",
        manifest: CORE_EVENT_MANIFEST,
        columns: &["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
        row_shows: "Started",
        yaml_shows: "message: Started container",
        apply_change: ("message: Started container", "message: Started container app"),
        applied: ("{.message}", "Started container app"),
        merge: Patch {
            body: r#"{"message":"Pulled image"}"#,
            jsonpath: "{.message}",
            expected: "Pulled image",
        },
        json: Patch {
            body: r#"[{"op":"replace","path":"/count","value":5}]"#,
            jsonpath: "{.count}",
            expected: "5",
        },
        strategic: Patch {
            body: r#"{"source":{"host":"n2"}}"#,
            jsonpath: "{.source.component}/{.source.host}",
            expected: "kubelet/n2",
        },
        watch_shows: "Pulled image",
    },
    Case {
        resource: "events.events.k8s.io",
        printed: "event.events.k8s.io",
        name: "web.2",
        manifest: EVENTS_V1_MANIFEST,
        columns: &["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
        row_shows: "Scaled",
        yaml_shows: "note: scaled up",
        // Through events.k8s.io only metadata and the series may change (upstream's strict
        // update validation).
        apply_change: ("tier: a", "tier: b"),
        applied: ("{.metadata.labels.tier}", "b"),
        merge: Patch {
            body: r#"{"series":{"count":2,"lastObservedTime":"2024-01-01T00:01:00.000000Z"}}"#,
            jsonpath: "{.series.count}",
            expected: "2",
        },
        json: Patch {
            body: r#"[{"op":"add","path":"/metadata/labels/json","value":"yes"}]"#,
            jsonpath: "{.metadata.labels.json}",
            expected: "yes",
        },
        strategic: Patch {
            body: r#"{"series":{"count":3}}"#,
            jsonpath: "{.series.count}/{.series.lastObservedTime}",
            expected: "3/2024-01-01T00:01:00.000000Z",
        },
        watch_shows: "Scaled",
    },
    Case {
        resource: "serviceaccounts",
        printed: "serviceaccount",
        name: "builder",
        manifest: "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: builder\n  labels: {tier: a}\nautomountServiceAccountToken: false\n",
        columns: &["NAME", "SECRETS", "AGE"],
        row_shows: "builder",
        yaml_shows: "automountServiceAccountToken: false",
        apply_change: (
            "automountServiceAccountToken: false",
            "automountServiceAccountToken: true",
        ),
        applied: ("{.automountServiceAccountToken}", "true"),
        merge: Patch {
            body: r#"{"secrets":[{"name":"token-a"}]}"#,
            jsonpath: "{.secrets[*].name}",
            expected: "token-a",
        },
        json: Patch {
            body: r#"[{"op":"add","path":"/imagePullSecrets","value":[{"name":"registry"}]}]"#,
            jsonpath: "{.imagePullSecrets[*].name}",
            expected: "registry",
        },
        // Secrets merge by name.
        strategic: Patch {
            body: r#"{"secrets":[{"name":"token-b"}]}"#,
            jsonpath: "{.secrets[*].name}",
            expected: "token-b token-a",
        },
        watch_shows: "1",
    },
    Case {
        resource: "deployments.apps",
        printed: "deployment.apps",
        name: "web",
        manifest: "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels: {tier: a}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: app\n        image: busybox:1.36\n",
        columns: &["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        row_shows: "0/1",
        yaml_shows: "revisionHistoryLimit: 10",
        apply_change: ("busybox:1.36", "busybox:1.37"),
        applied: ("{.spec.template.spec.containers[0].image}", "busybox:1.37"),
        merge: Patch {
            body: r#"{"spec":{"replicas":3}}"#,
            jsonpath: "{.spec.replicas}",
            expected: "3",
        },
        json: Patch {
            body: r#"[{"op":"add","path":"/spec/minReadySeconds","value":5}]"#,
            jsonpath: "{.spec.minReadySeconds}",
            expected: "5",
        },
        strategic: Patch {
            body: r#"{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox:1.36"}]}}}}"#,
            jsonpath: "{.spec.template.spec.containers[*].name}",
            expected: "sidecar app",
        },
        watch_shows: "0/3",
    },
    Case {
        resource: "replicasets.apps",
        printed: "replicaset.apps",
        name: "web-rs",
        manifest: "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: web-rs\n  labels: {tier: a}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: web-rs}\n  template:\n    metadata:\n      labels: {app: web-rs}\n    spec:\n      containers:\n      - name: app\n        image: busybox:1.36\n",
        columns: &["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
        row_shows: "web-rs",
        yaml_shows: "terminationGracePeriodSeconds: 30",
        apply_change: ("busybox:1.36", "busybox:1.37"),
        applied: ("{.spec.template.spec.containers[0].image}", "busybox:1.37"),
        merge: Patch {
            body: r#"{"spec":{"replicas":2}}"#,
            jsonpath: "{.spec.replicas}",
            expected: "2",
        },
        json: Patch {
            body: r#"[{"op":"add","path":"/spec/minReadySeconds","value":5}]"#,
            jsonpath: "{.spec.minReadySeconds}",
            expected: "5",
        },
        strategic: Patch {
            body: r#"{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox:1.36"}]}}}}"#,
            jsonpath: "{.spec.template.spec.containers[*].name}",
            expected: "sidecar app",
        },
        watch_shows: "2",
    },
    Case {
        resource: "endpointslices.discovery.k8s.io",
        printed: "endpointslice.discovery.k8s.io",
        name: "web-abc",
        // Port name and protocol spelled out, for the reason given for Endpoints.
        manifest: "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: web-abc\n  labels: {tier: a, kubernetes.io/service-name: web}\naddressType: IPv4\nendpoints:\n- addresses: [10.244.0.5]\nports:\n- {name: http, port: 8080, protocol: TCP}\n",
        columns: &["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"],
        row_shows: "10.244.0.5",
        yaml_shows: "addressType: IPv4",
        apply_change: ("10.244.0.5", "10.244.0.6"),
        applied: ("{.endpoints[0].addresses[0]}", "10.244.0.6"),
        merge: Patch {
            body: r#"{"ports":[{"name":"http","port":9090}]}"#,
            jsonpath: "{.ports[0].port}/{.ports[0].protocol}",
            expected: "9090/TCP",
        },
        json: Patch {
            body: r#"[{"op":"add","path":"/endpoints/-","value":{"addresses":["10.244.0.8"]}}]"#,
            jsonpath: "{.endpoints[*].addresses[0]}",
            expected: "10.244.0.5 10.244.0.8",
        },
        strategic: Patch {
            body: r#"{"endpoints":[{"addresses":["10.244.0.9"]}]}"#,
            jsonpath: "{.endpoints[*].addresses[0]}",
            expected: "10.244.0.9",
        },
        watch_shows: "9090",
    },
    Case {
        resource: "leases.coordination.k8s.io",
        printed: "lease.coordination.k8s.io",
        name: "leader",
        manifest: "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: leader\n  labels: {tier: a}\nspec:\n  holderIdentity: a\n  leaseDurationSeconds: 15\n",
        columns: &["NAME", "HOLDER", "AGE"],
        row_shows: "a",
        yaml_shows: "holderIdentity: a",
        apply_change: ("leaseDurationSeconds: 15", "leaseDurationSeconds: 30"),
        applied: ("{.spec.leaseDurationSeconds}", "30"),
        merge: Patch {
            body: r#"{"spec":{"holderIdentity":"b"}}"#,
            jsonpath: "{.spec.holderIdentity}",
            expected: "b",
        },
        json: Patch {
            body: r#"[{"op":"add","path":"/spec/leaseTransitions","value":1}]"#,
            jsonpath: "{.spec.leaseTransitions}",
            expected: "1",
        },
        strategic: Patch {
            body: r#"{"spec":{"leaseDurationSeconds":40}}"#,
            jsonpath: "{.spec.holderIdentity}/{.spec.leaseDurationSeconds}",
            expected: "b/40",
        },
        watch_shows: "b",
    },
];

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// What `kubectl get <resource> <name> -o jsonpath=<template>` prints.
async fn jsonpath(cp: &ControlPlane, resource: &str, name: &str, template: &str) -> String {
    let arg = format!("jsonpath={template}");
    kubectl_ok(cp, &["get", resource, name, "-o", &arg]).await
}

async fn get_json(cp: &ControlPlane, resource: &str, name: &str) -> Value {
    let out = kubectl_ok(cp, &["get", resource, name, "-o", "json"]).await;
    serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("`kubectl get {resource} {name} -o json` ({e}):\n{out}"))
}

async fn resource_version(cp: &ControlPlane, case: &Case) -> String {
    jsonpath(cp, case.resource, case.name, "{.metadata.resourceVersion}").await
}

/// Writes `contents` to a file named after the case and returns its path.
fn manifest_file(cp: &ControlPlane, case: &Case, contents: &str) -> String {
    let file = format!("{}-{}.yaml", case.resource, case.name);
    cp.write_file(&file, contents)
        .expect("write manifest")
        .to_string_lossy()
        .into_owned()
}

/// `kubectl create -f` of the case's manifest.
async fn create(cp: &ControlPlane, case: &Case) {
    let path = manifest_file(cp, case, case.manifest);
    let out = kubectl_ok(cp, &["create", "-f", &path]).await;
    assert_eq!(
        out.trim(),
        format!("{} created", case.printed_name()),
        "{}",
        case.resource
    );
}

/// The non-empty cells of a kubectl table line: columns are separated by at least two spaces
/// (single spaces occur inside cells, as in `LAST SEEN`). For headers, and for the rows of
/// `get -w`, which kubectl aligns one at a time.
fn cells(line: &str) -> Vec<String> {
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

/// The cells of a row under `header`: kubectl aligns each cell under its column's name, and
/// cells may be empty (a node's VERSION before its kubelet reports one) or hold spaces.
fn row_cells(header: &str, row: &str) -> Vec<String> {
    let starts: Vec<usize> = header
        .char_indices()
        .filter(|(i, c)| *c != ' ' && (*i == 0 || header[..*i].ends_with("  ")))
        .map(|(i, _)| i)
        .collect();
    let row: Vec<char> = row.chars().collect();
    starts
        .iter()
        .enumerate()
        .map(|(n, start)| {
            let end = starts
                .get(n + 1)
                .copied()
                .unwrap_or(row.len())
                .min(row.len());
            let start = (*start).min(end);
            row[start..end]
                .iter()
                .collect::<String>()
                .trim()
                .to_string()
        })
        .collect()
}

/// Waits for a row of `kubectl get -w --output-watch-events` whose EVENT is `event` and that
/// has `cell` among its cells; returns the row's cells.
async fn watch_row(watcher: &Process, event: &str, cell: &str, what: &str) -> Vec<String> {
    eventually(what, EVENT_TIMEOUT, || {
        let log = watcher.log();
        async move {
            log.lines().map(cells).find(|cells| {
                cells.first().map(String::as_str) == Some(event) && cells.iter().any(|c| c == cell)
            })
        }
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// create, get (table, -o yaml)
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_and_get_as_table_and_yaml() {
    let cp = start_control_plane().await;
    for case in CASES {
        create(&cp, case).await;
        let again = kubectl_fails(
            &cp,
            &["create", "-f", &manifest_file(&cp, case, case.manifest)],
        )
        .await;
        assert!(
            again.contains("Error from server (AlreadyExists): error when creating")
                && again.contains(&format!(
                    "{} \"{}\" already exists",
                    case.resource, case.name
                )),
            "a second create of {}: {again}",
            case.resource
        );

        let table = kubectl_ok(&cp, &["get", case.resource, case.name]).await;
        let lines: Vec<&str> = table.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 2, "a header and one row:\n{table}");
        assert_eq!(
            cells(lines[0]),
            case.columns,
            "columns of {}:\n{table}",
            case.resource
        );
        let row = row_cells(lines[0], lines[1]);
        assert!(
            row.iter().any(|c| c == case.row_shows),
            "{} row should show {:?}:\n{table}",
            case.resource,
            case.row_shows
        );
        if case.columns[0] == "NAME" {
            assert_eq!(row[0], case.name, "{table}");
        }

        let yaml = kubectl_ok(&cp, &["get", case.resource, case.name, "-o", "yaml"]).await;
        let lines: BTreeSet<&str> = yaml.lines().map(str::trim).collect();
        let object = get_json(&cp, case.resource, case.name).await;
        let expected = [
            format!(
                "apiVersion: {}",
                object["apiVersion"].as_str().unwrap_or("?")
            ),
            format!("kind: {}", object["kind"].as_str().unwrap_or("?")),
            format!("name: {}", case.name),
            format!(
                "uid: {}",
                object["metadata"]["uid"].as_str().unwrap_or("no uid")
            ),
            format!(
                "resourceVersion: \"{}\"",
                object["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap_or("no resourceVersion")
            ),
            case.yaml_shows.to_string(),
        ];
        for line in expected {
            assert!(
                lines.contains(line.as_str()),
                "`kubectl get {} {} -o yaml` lacks {line:?}:\n{yaml}",
                case.resource,
                case.name
            );
        }
        assert!(
            object["metadata"]["creationTimestamp"].is_string(),
            "{object}"
        );
    }

    // Every namespaced object is in the kubeconfig's namespace; lists see them all.
    let everything = kubectl_ok(
        &cp,
        &[
            "get",
            &CASES
                .iter()
                .map(|c| c.resource)
                .collect::<Vec<_>>()
                .join(","),
            "-l",
            "tier",
            "-o",
            "name",
        ],
    )
    .await;
    let listed: BTreeSet<&str> = everything.lines().collect();
    // The node and namespace are listed too; the two event APIs list each other's events.
    let expected: BTreeSet<String> = CASES
        .iter()
        .map(|c| c.printed_name())
        .chain(["event/web.2".into(), "event.events.k8s.io/web.1".into()])
        .collect();
    let expected: BTreeSet<&str> = expected.iter().map(String::as_str).collect();
    assert_eq!(
        listed, expected,
        "kubectl get <every resource> -l tier -o name"
    );
}

// ---------------------------------------------------------------------------------------------
// apply
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_creates_configures_and_leaves_unchanged_objects_alone() {
    let cp = start_control_plane().await;
    for case in CASES {
        let path = manifest_file(&cp, case, case.manifest);
        let out = kubectl_ok(&cp, &["apply", "-f", &path]).await;
        assert_eq!(out.trim(), format!("{} created", case.printed_name()));
        let annotation = jsonpath(
            &cp,
            case.resource,
            case.name,
            r"{.metadata.annotations.kubectl\.kubernetes\.io/last-applied-configuration}",
        )
        .await;
        let applied: Value = serde_json::from_str(&annotation).unwrap_or_else(|e| {
            panic!(
                "{}: last-applied annotation is not JSON ({e}): {annotation:?}",
                case.resource
            )
        });
        assert_eq!(applied["metadata"]["name"], case.name, "{annotation}");

        // The same manifest again: nothing to do, nothing written.
        let before = resource_version(&cp, case).await;
        let out = kubectl_ok(&cp, &["apply", "-f", &path]).await;
        assert_eq!(
            out.trim(),
            format!("{} unchanged", case.printed_name()),
            "second apply of the same manifest"
        );
        assert_eq!(
            resource_version(&cp, case).await,
            before,
            "{}: an unchanged apply must not write",
            case.resource
        );

        // A changed manifest: configured, written, and the change is there.
        let (from, to) = case.apply_change;
        assert!(case.manifest.contains(from), "{}: {from:?}", case.resource);
        manifest_file(&cp, case, &case.manifest.replace(from, to));
        let out = kubectl_ok(&cp, &["apply", "-f", &path]).await;
        assert_eq!(out.trim(), format!("{} configured", case.printed_name()));
        let (template, expected) = case.applied;
        assert_eq!(
            jsonpath(&cp, case.resource, case.name, template).await,
            expected,
            "{} after applying {to:?}",
            case.resource
        );
        let after = resource_version(&cp, case).await;
        assert_ne!(after, before, "{}: a changed apply writes", case.resource);
        let out = kubectl_ok(&cp, &["apply", "-f", &path]).await;
        assert_eq!(out.trim(), format!("{} unchanged", case.printed_name()));
        assert_eq!(
            resource_version(&cp, case).await,
            after,
            "{}",
            case.resource
        );
    }
}

// ---------------------------------------------------------------------------------------------
// patch
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_of_every_type() {
    let cp = start_control_plane().await;
    for case in CASES {
        create(&cp, case).await;
        for (patch_type, patch) in [
            ("merge", &case.merge),
            ("json", &case.json),
            ("strategic", &case.strategic),
        ] {
            let type_flag = format!("--type={patch_type}");
            let out = kubectl_ok(
                &cp,
                &[
                    "patch",
                    case.resource,
                    case.name,
                    &type_flag,
                    "-p",
                    patch.body,
                ],
            )
            .await;
            assert_eq!(
                out.trim(),
                format!("{} patched", case.printed_name()),
                "{} {patch_type} patch",
                case.resource
            );
            assert_eq!(
                jsonpath(&cp, case.resource, case.name, patch.jsonpath).await,
                patch.expected,
                "{} after the {patch_type} patch {}",
                case.resource,
                patch.body
            );
        }
        // Applied again, the last patch changes nothing: kubectl says so and nothing is written.
        let before = resource_version(&cp, case).await;
        let out = kubectl_ok(
            &cp,
            &[
                "patch",
                case.resource,
                case.name,
                "--type=strategic",
                "-p",
                case.strategic.body,
            ],
        )
        .await;
        assert_eq!(
            out.trim(),
            format!("{} patched (no change)", case.printed_name())
        );
        assert_eq!(
            resource_version(&cp, case).await,
            before,
            "{}",
            case.resource
        );
    }

    // kubectl's default patch type is strategic: a container list merges by name.
    let pods = &CASES[1];
    let out = kubectl_ok(
        &cp,
        &[
            "patch",
            "pod",
            pods.name,
            "-p",
            r#"{"spec":{"containers":[{"name":"app","image":"busybox:1.40"}]}}"#,
        ],
    )
    .await;
    assert_eq!(out.trim(), "pod/web patched");
    assert_eq!(
        jsonpath(
            &cp,
            "pods",
            pods.name,
            "{.spec.containers[*].image}/{.spec.containers[0].command[1]}"
        )
        .await,
        "busybox:1.40/3600"
    );
    // A patch the object's validation refuses is a 422 naming the field, and changes nothing.
    let stderr = kubectl_fails(
        &cp,
        &[
            "patch",
            "deployment",
            "web",
            "--type=merge",
            "-p",
            r#"{"spec":{"replicas":-1}}"#,
        ],
    )
    .await;
    assert!(
        stderr.contains(
            "The Deployment \"web\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
        ),
        "{stderr}"
    );
    assert_eq!(
        jsonpath(&cp, "deployments.apps", "web", "{.spec.replicas}").await,
        "3"
    );
}

// ---------------------------------------------------------------------------------------------
// scale
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_deployments_and_replicasets() {
    let cp = start_control_plane().await;
    for case in CASES.iter().filter(|c| c.resource.ends_with(".apps")) {
        create(&cp, case).await;
        let generation = jsonpath(&cp, case.resource, case.name, "{.metadata.generation}").await;
        assert_eq!(generation, "1", "{}", case.resource);
        for replicas in ["4", "0", "2"] {
            let flag = format!("--replicas={replicas}");
            let out = kubectl_ok(&cp, &["scale", case.resource, case.name, &flag]).await;
            assert_eq!(out.trim(), format!("{} scaled", case.printed_name()));
            assert_eq!(
                jsonpath(&cp, case.resource, case.name, "{.spec.replicas}").await,
                replicas,
                "{} scaled to {replicas}",
                case.resource
            );
            let scale = kubectl_ok(
                &cp,
                &[
                    "get",
                    case.resource,
                    case.name,
                    "--subresource=scale",
                    "-o",
                    "json",
                ],
            )
            .await;
            let scale: Value = serde_json::from_str(&scale).expect("Scale JSON");
            assert_eq!(
                (&scale["apiVersion"], &scale["kind"]),
                (&json!("autoscaling/v1"), &json!("Scale")),
                "{scale}"
            );
            assert_eq!(scale["spec"]["replicas"].to_string(), replicas, "{scale}");
        }
        let selector = jsonpath(
            &cp,
            case.resource,
            case.name,
            "{.spec.selector.matchLabels.app}",
        )
        .await;
        let scale = kubectl_ok(
            &cp,
            &[
                "get",
                case.resource,
                case.name,
                "--subresource=scale",
                "-o",
                "jsonpath={.status.selector}",
            ],
        )
        .await;
        assert_eq!(scale, format!("app={selector}"), "{}", case.resource);
        // Each scale changed the spec: generation counts them.
        assert_eq!(
            jsonpath(&cp, case.resource, case.name, "{.metadata.generation}").await,
            "4",
            "{}",
            case.resource
        );
        // Scaling to the current size is a no-op.
        let before = resource_version(&cp, case).await;
        kubectl_ok(&cp, &["scale", case.resource, case.name, "--replicas=2"]).await;
        assert_eq!(
            resource_version(&cp, case).await,
            before,
            "{}",
            case.resource
        );
        // kubectl's precondition: the current size must match.
        let stderr = kubectl_fails(
            &cp,
            &[
                "scale",
                case.resource,
                case.name,
                "--current-replicas=7",
                "--replicas=1",
            ],
        )
        .await;
        assert!(
            stderr.contains("Expected replicas to be 7, was 2"),
            "{stderr}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// delete
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_every_resource() {
    let cp = start_control_plane().await;
    for case in CASES {
        create(&cp, case).await;
        if case.is_namespace() {
            continue;
        }
        let out = kubectl_ok(&cp, &["delete", case.resource, case.name]).await;
        assert_eq!(
            out.trim(),
            format!("{} \"{}\" deleted", case.printed, case.name),
            "{}",
            case.resource
        );
        let stderr = kubectl_fails(&cp, &["get", case.resource, case.name]).await;
        assert!(
            stderr.contains(&format!(
                "Error from server (NotFound): {} \"{}\" not found",
                case.resource, case.name
            )),
            "{stderr}"
        );
        let stderr = kubectl_fails(&cp, &["delete", case.resource, case.name]).await;
        assert!(stderr.contains("(NotFound)"), "a second delete: {stderr}");
    }

    // A namespace is only marked: the namespace controller (not running here) empties it and
    // then clears its `kubernetes` finalizer through `namespaces/<name>/finalize`.
    let team = &CASES[0];
    assert!(team.is_namespace());
    let out = kubectl_ok(&cp, &["delete", "namespace", team.name, "--wait=false"]).await;
    assert_eq!(out.trim(), "namespace \"team\" deleted");
    let namespace = get_json(&cp, "namespaces", team.name).await;
    assert_eq!(namespace["status"]["phase"], "Terminating", "{namespace}");
    assert!(
        namespace["metadata"]["deletionTimestamp"].is_string(),
        "{namespace}"
    );
    let stderr = kubectl_fails(
        &cp,
        &[
            "create",
            "configmap",
            "late",
            "--namespace",
            team.name,
            "--from-literal=a=b",
        ],
    )
    .await;
    assert!(
        stderr.contains(
            "unable to create new content in namespace team because it is being terminated"
        ),
        "{stderr}"
    );
    let mut finalized = namespace.clone();
    finalized["spec"]["finalizers"] = json!([]);
    let response = cp
        .request(
            "PUT",
            "/api/v1/namespaces/team/finalize",
            &[("Content-Type", "application/json")],
            finalized.to_string().as_bytes(),
        )
        .await
        .expect("PUT finalize");
    assert_eq!(response.status, 200, "{}", response.body);
    let stderr = kubectl_fails(&cp, &["get", "namespace", team.name]).await;
    assert!(
        stderr.contains("Error from server (NotFound): namespaces \"team\" not found"),
        "{stderr}"
    );
}

// ---------------------------------------------------------------------------------------------
// get -w
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_watch_prints_every_change() {
    let cp = start_control_plane().await;
    for case in CASES {
        create(&cp, case).await;
        let mut watcher = Launch::program(KUBECTL)
            .label(format!("kubectl-get-{}-w", case.resource))
            .args(cp.kubectl_base_args())
            .args([
                "get",
                case.resource,
                case.name,
                "-w",
                "--output-watch-events",
            ])
            .spawn()
            .expect("start kubectl get -w");
        let what = format!("kubectl get {} -w to list {}", case.resource, case.name);
        watch_row(&watcher, "ADDED", case.row_shows, &what).await;
        let header = watcher.log().lines().next().map(cells).unwrap_or_default();
        assert_eq!(header[0], "EVENT", "{}", watcher.log());
        assert_eq!(header[1..], *case.columns, "{}", watcher.log());

        kubectl_ok(
            &cp,
            &[
                "patch",
                case.resource,
                case.name,
                "--type=merge",
                "-p",
                case.merge.body,
            ],
        )
        .await;
        let what = format!(
            "kubectl get {} -w to show {:?}",
            case.resource, case.watch_shows
        );
        watch_row(&watcher, "MODIFIED", case.watch_shows, &what).await;

        if case.is_namespace() {
            kubectl_ok(&cp, &["delete", case.resource, case.name, "--wait=false"]).await;
            let what = "kubectl get namespaces -w to show the namespace terminating";
            watch_row(&watcher, "MODIFIED", "Terminating", what).await;
        } else {
            kubectl_ok(&cp, &["delete", case.resource, case.name]).await;
            let what = format!("kubectl get {} -w to show the deletion", case.resource);
            watch_row(&watcher, "DELETED", case.watch_shows, &what).await;
        }
        assert!(
            watcher.is_running(),
            "kubectl get {} -w exited early:\n{}",
            case.resource,
            watcher.log()
        );
        watcher.stop();
    }
}

// ---------------------------------------------------------------------------------------------
// core/v1 and events.k8s.io/v1 Events: one resource
// ---------------------------------------------------------------------------------------------

/// The names of the events a list through `api` holds.
async fn listed<K>(api: &Api<K>) -> (BTreeSet<String>, String)
where
    K: kube::Resource + Clone + k8s_openapi::serde::de::DeserializeOwned + std::fmt::Debug,
{
    let list = api.list(&ListParams::default()).await.expect("list events");
    let names = list
        .items
        .iter()
        .filter_map(|e| e.meta().name.clone())
        .collect();
    (names, list.metadata.resource_version.unwrap_or_default())
}

/// The next non-bookmark watch event, bounded by [`EVENT_TIMEOUT`].
async fn next_event<K, S>(stream: &mut S, waiting_for: &str) -> WatchEvent<K>
where
    S: Stream<Item = kube::Result<WatchEvent<K>>> + Unpin,
{
    loop {
        match tokio::time::timeout(EVENT_TIMEOUT, stream.next()).await {
            Err(_) => panic!("no watch event within {EVENT_TIMEOUT:?} waiting for {waiting_for}"),
            Ok(None) => panic!("the watch ended while waiting for {waiting_for}"),
            Ok(Some(Err(e))) => panic!("watch error while waiting for {waiting_for}: {e}"),
            Ok(Some(Ok(WatchEvent::Bookmark(_)))) => continue,
            Ok(Some(Ok(event))) => return event,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_and_events_k8s_io_events_are_one_resource() {
    let cp = start_control_plane().await;
    let client = kube::Client::try_from(kube::Config::new(cp.url().parse().expect("url")))
        .expect("kube client");
    let core: Api<CoreEvent> = Api::default_namespaced(client.clone());
    let events_v1: Api<Event> = Api::default_namespaced(client);
    let core_case = CASES.iter().find(|c| c.resource == "events").unwrap();
    let v1_case = CASES
        .iter()
        .find(|c| c.resource == "events.events.k8s.io")
        .unwrap();

    // Written through one API each...
    create(&cp, core_case).await;
    create(&cp, v1_case).await;

    // ...stored once, as core/v1 Events under /registry/events/, as upstream stores them.
    let mut etcd = etcd_client::Client::connect([cp.etcd().client_url()], None)
        .await
        .expect("connect to etcd");
    let stored = etcd
        .get(
            "/registry/events",
            Some(etcd_client::GetOptions::new().with_prefix()),
        )
        .await
        .expect("etcd get");
    let stored: Vec<(String, Value)> = stored
        .kvs()
        .iter()
        .map(|kv| {
            let key = String::from_utf8_lossy(kv.key()).into_owned();
            let value = serde_json::from_slice(kv.value()).expect("stored JSON");
            (key, value)
        })
        .collect();
    let keys: Vec<&str> = stored.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "/registry/events/default/web.1",
            "/registry/events/default/web.2"
        ],
        "one key per event, whichever API wrote it"
    );
    let written_as_v1 = &stored[1].1;
    assert_eq!(written_as_v1["apiVersion"], "v1", "{written_as_v1}");
    assert_eq!(written_as_v1["message"], "scaled up", "{written_as_v1}");
    assert_eq!(
        written_as_v1["involvedObject"]["name"], "web",
        "{written_as_v1}"
    );

    // Each API reads the other's write, converted (upstream's Convert_v1_Event_To_core_Event).
    let as_v1 = get_json(&cp, "events.events.k8s.io", "web.1").await;
    let cases = [
        ("/apiVersion", json!("events.k8s.io/v1")),
        ("/regarding/name", json!("web")),
        (
            "/regarding/uid",
            json!("5a3d0b6e-0000-4000-8000-000000000001"),
        ),
        ("/note", json!("Started container")),
        (
            "/deprecatedSource",
            json!({"component": "kubelet", "host": "n1"}),
        ),
        ("/deprecatedCount", json!(1)),
        ("/deprecatedFirstTimestamp", json!("2024-01-01T00:00:00Z")),
        ("/deprecatedLastTimestamp", json!("2024-01-01T00:00:00Z")),
        ("/reason", json!("Started")),
        ("/type", json!("Normal")),
    ];
    for (pointer, expected) in cases {
        assert_eq!(
            as_v1.pointer(pointer),
            Some(&expected),
            "{pointer}: {as_v1}"
        );
    }
    for core_only in [
        "involvedObject",
        "message",
        "source",
        "count",
        "firstTimestamp",
    ] {
        assert!(as_v1.get(core_only).is_none(), "{core_only} in {as_v1}");
    }
    let as_core = get_json(&cp, "events", "web.2").await;
    let cases = [
        ("/apiVersion", json!("v1")),
        ("/involvedObject/kind", json!("Pod")),
        ("/message", json!("scaled up")),
        ("/reportingComponent", json!("example.com/scaler")),
        ("/reportingInstance", json!("scaler-1")),
        ("/action", json!("Scale")),
        ("/eventTime", json!("2024-01-01T00:00:00.000000Z")),
    ];
    for (pointer, expected) in cases {
        assert_eq!(
            as_core.pointer(pointer),
            Some(&expected),
            "{pointer}: {as_core}"
        );
    }
    for v1_only in ["regarding", "note", "reportingController"] {
        assert!(as_core.get(v1_only).is_none(), "{v1_only} in {as_core}");
    }
    let written_as_core = get_json(&cp, "events", "web.1").await;
    assert_eq!(
        written_as_core["metadata"], as_v1["metadata"],
        "one object: same uid, resourceVersion, labels"
    );

    // Lists through either API hold both, at the same revision.
    let (core_names, core_rv) = listed(&core).await;
    let (v1_names, v1_rv) = listed(&events_v1).await;
    let both: BTreeSet<String> = ["web.1".to_string(), "web.2".to_string()].into();
    assert_eq!(core_names, both);
    assert_eq!(v1_names, both);
    assert_eq!(core_rv, v1_rv);
    let table = kubectl_ok(&cp, &["get", "events.events.k8s.io"]).await;
    let reasons: BTreeSet<String> = table
        .lines()
        .skip(1)
        .filter_map(|l| cells(l).get(2).cloned())
        .collect();
    assert_eq!(
        reasons,
        ["Scaled".to_string(), "Started".to_string()].into(),
        "{table}"
    );

    // Field selectors by each API's own field names (upstream's field label conversions).
    let selections: &[(&str, &str, &[&str])] = &[
        (
            "events",
            "involvedObject.name=web,reason=Started",
            &["event/web.1"],
        ),
        (
            "events",
            "reportingComponent=example.com/scaler",
            &["event/web.2"],
        ),
        ("events", "source=kubelet", &["event/web.1"]),
        (
            "events.events.k8s.io",
            "regarding.uid=5a3d0b6e-0000-4000-8000-000000000001",
            &["event.events.k8s.io/web.1"],
        ),
        (
            "events.events.k8s.io",
            "reportingController=example.com/scaler",
            &["event.events.k8s.io/web.2"],
        ),
        (
            "events.events.k8s.io",
            "regarding.kind=Pod,type=Normal",
            &["event.events.k8s.io/web.1", "event.events.k8s.io/web.2"],
        ),
    ];
    for (resource, selector, expected) in selections {
        let out = kubectl_ok(
            &cp,
            &["get", resource, "--field-selector", selector, "-o", "name"],
        )
        .await;
        let names: Vec<&str> = out.lines().collect();
        assert_eq!(names, *expected, "{resource} --field-selector {selector}");
    }
    let stderr = kubectl_fails(
        &cp,
        &[
            "get",
            "events.events.k8s.io",
            "--field-selector",
            "involvedObject.name=web",
        ],
    )
    .await;
    assert!(
        stderr.contains("field label not supported: involvedObject.name"),
        "{stderr}"
    );

    // Watches through one API see the other's writes, converted.
    let mut v1_watch = events_v1
        .watch(&WatchParams::default().timeout(60), &v1_rv)
        .await
        .expect("watch events.k8s.io")
        .boxed();
    let mut core_watch = core
        .watch(&WatchParams::default().timeout(60), &core_rv)
        .await
        .expect("watch core events")
        .boxed();
    kubectl_ok(
        &cp,
        &[
            "patch",
            "events",
            "web.1",
            "--type=merge",
            "-p",
            r#"{"message":"Pulled image","count":2}"#,
        ],
    )
    .await;
    match next_event(&mut v1_watch, "MODIFIED web.1 on events.k8s.io").await {
        WatchEvent::Modified(event) => {
            assert_eq!(event.metadata.name.as_deref(), Some("web.1"));
            assert_eq!(event.note.as_deref(), Some("Pulled image"));
            assert_eq!(event.deprecated_count, Some(2));
            assert_eq!(event.regarding.and_then(|r| r.name).as_deref(), Some("web"));
        }
        other => panic!("expected MODIFIED web.1, got {other:?}"),
    }
    let third = v1_case
        .manifest
        .replace("name: web.2", "name: web.3")
        .replace("note: scaled up", "note: scaled down");
    let path = cp.write_file("web.3.yaml", &third).expect("write manifest");
    kubectl_ok(&cp, &["create", "-f", path.to_str().unwrap()]).await;
    match next_event(&mut core_watch, "MODIFIED web.1 on core").await {
        WatchEvent::Modified(event) => assert_eq!(event.message.as_deref(), Some("Pulled image")),
        other => panic!("expected MODIFIED web.1, got {other:?}"),
    }
    match next_event(&mut core_watch, "ADDED web.3 on core").await {
        WatchEvent::Added(event) => {
            assert_eq!(event.metadata.name.as_deref(), Some("web.3"));
            assert_eq!(event.message.as_deref(), Some("scaled down"));
            assert_eq!(event.involved_object.name.as_deref(), Some("web"));
            assert_eq!(
                event.reporting_component.as_deref(),
                Some("example.com/scaler")
            );
        }
        other => panic!("expected ADDED web.3, got {other:?}"),
    }
    kubectl_ok(&cp, &["delete", "events", "web.3"]).await;
    match next_event(&mut v1_watch, "ADDED web.3 on events.k8s.io").await {
        WatchEvent::Added(event) => assert_eq!(event.note.as_deref(), Some("scaled down")),
        other => panic!("expected ADDED web.3, got {other:?}"),
    }
    match next_event(&mut v1_watch, "DELETED web.3 on events.k8s.io").await {
        WatchEvent::Deleted(event) => {
            assert_eq!(event.metadata.name.as_deref(), Some("web.3"));
            assert_eq!(event.note.as_deref(), Some("scaled down"));
        }
        other => panic!("expected DELETED web.3, got {other:?}"),
    }

    // Updates keep each API's rules: events.k8s.io refuses to change what it deems immutable,
    // whoever wrote the event, and accepts a series; core accepts any change.
    let stderr = kubectl_fails(
        &cp,
        &[
            "patch",
            "events.events.k8s.io",
            "web.1",
            "--type=merge",
            "-p",
            r#"{"note":"rewritten"}"#,
        ],
    )
    .await;
    assert!(
        stderr.contains("message: Invalid value: \"rewritten\": field is immutable"),
        "{stderr}"
    );
    kubectl_ok(
        &cp,
        &[
            "patch",
            "events.events.k8s.io",
            "web.1",
            "--type=merge",
            "-p",
            r#"{"series":{"count":2,"lastObservedTime":"2024-01-01T00:02:00.000000Z"}}"#,
        ],
    )
    .await;
    assert_eq!(
        jsonpath(&cp, "events", "web.1", "{.series.count}/{.message}").await,
        "2/Pulled image"
    );
    kubectl_ok(
        &cp,
        &[
            "patch",
            "events",
            "web.2",
            "--type=merge",
            "-p",
            r#"{"message":"rewritten"}"#,
        ],
    )
    .await;
    assert_eq!(
        jsonpath(&cp, "events.events.k8s.io", "web.2", "{.note}").await,
        "rewritten"
    );

    // Deleted through one API, gone from both.
    kubectl_ok(&cp, &["delete", "events.events.k8s.io", "web.1"]).await;
    let stderr = kubectl_fails(&cp, &["get", "events", "web.1"]).await;
    assert!(
        stderr.contains("Error from server (NotFound): events \"web.1\" not found"),
        "{stderr}"
    );
}

// ---------------------------------------------------------------------------------------------
// Server-side apply
// ---------------------------------------------------------------------------------------------

/// `(manager, operation, fieldsV1)` of each managedFields entry.
async fn managed_fields(
    cp: &ControlPlane,
    resource: &str,
    name: &str,
) -> Vec<(String, String, Value)> {
    let out = kubectl_ok(
        cp,
        &["get", resource, name, "-o", "json", "--show-managed-fields"],
    )
    .await;
    let object: Value = serde_json::from_str(&out).expect("object JSON");
    object["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["manager"].as_str().unwrap_or_default().to_string(),
                e["operation"].as_str().unwrap_or_default().to_string(),
                e["fieldsV1"].clone(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_creates_updates_and_reports_conflicts() {
    let cp = start_control_plane().await;
    for case in CASES {
        let path = manifest_file(&cp, case, case.manifest);
        let out = kubectl_ok(&cp, &["apply", "--server-side", "-f", &path]).await;
        assert_eq!(
            out.trim(),
            format!("{} serverside-applied", case.printed_name()),
            "{}",
            case.resource
        );
        let managers = managed_fields(&cp, case.resource, case.name).await;
        assert_eq!(managers.len(), 1, "{}: {managers:?}", case.resource);
        let (manager, operation, fields) = &managers[0];
        assert_eq!((manager.as_str(), operation.as_str()), ("kubectl", "Apply"));
        assert_eq!(
            fields.pointer("/f:metadata/f:labels/f:tier"),
            Some(&json!({})),
            "{}: kubectl owns the label it applied: {fields}",
            case.resource
        );

        let before = resource_version(&cp, case).await;
        kubectl_ok(&cp, &["apply", "--server-side", "-f", &path]).await;
        assert_eq!(
            resource_version(&cp, case).await,
            before,
            "{}: applying the same configuration writes nothing",
            case.resource
        );

        let (from, to) = case.apply_change;
        manifest_file(&cp, case, &case.manifest.replace(from, to));
        kubectl_ok(&cp, &["apply", "--server-side", "-f", &path]).await;
        let (template, expected) = case.applied;
        assert_eq!(
            jsonpath(&cp, case.resource, case.name, template).await,
            expected,
            "{} after applying {to:?} server-side",
            case.resource
        );
    }

    // Fields another manager set are conflicts, named with their manager, until forced.
    let deployment = CASES
        .iter()
        .find(|c| c.resource == "deployments.apps")
        .unwrap();
    kubectl_ok(
        &cp,
        &[
            "patch",
            "deployment",
            "web",
            "--type=merge",
            "-p",
            r#"{"spec":{"replicas":3}}"#,
        ],
    )
    .await;
    let path = manifest_file(&cp, deployment, deployment.manifest);
    let stderr = kubectl_fails(&cp, &["apply", "--server-side", "-f", &path]).await;
    assert!(
        stderr.contains(
            "Apply failed with 1 conflict: conflict with \"kubectl-patch\" using apps/v1: .spec.replicas"
        ),
        "{stderr}"
    );
    assert_eq!(
        jsonpath(&cp, "deployments.apps", "web", "{.spec.replicas}").await,
        "3",
        "a conflicting apply changes nothing"
    );
    let owners = managed_fields(&cp, "deployments.apps", "web").await;
    assert!(
        owners.iter().any(|(m, op, f)| m == "kubectl-patch"
            && op == "Update"
            && f.pointer("/f:spec/f:replicas").is_some()),
        "{owners:?}"
    );
    // The same value as the live one is no conflict: both managers own it.
    let shared =
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 3\n";
    manifest_file(&cp, deployment, shared);
    kubectl_ok(
        &cp,
        &[
            "apply",
            "--server-side",
            "--field-manager=other",
            "-f",
            &path,
        ],
    )
    .await;
    manifest_file(&cp, deployment, deployment.manifest);
    let out = kubectl_ok(
        &cp,
        &["apply", "--server-side", "--force-conflicts", "-f", &path],
    )
    .await;
    assert_eq!(out.trim(), "deployment.apps/web serverside-applied");
    assert_eq!(
        jsonpath(&cp, "deployments.apps", "web", "{.spec.replicas}").await,
        "1"
    );
    let owners = managed_fields(&cp, "deployments.apps", "web").await;
    let replicas_owners: Vec<&str> = owners
        .iter()
        .filter(|(_, _, f)| f.pointer("/f:spec/f:replicas").is_some())
        .map(|(m, _, _)| m.as_str())
        .collect();
    assert_eq!(replicas_owners, ["kubectl"], "forced: {owners:?}");

    // A field the manager stops applying is removed, unless someone else owns it.
    let without_label = deployment.manifest.replace("  labels: {tier: a}\n", "");
    manifest_file(&cp, deployment, &without_label);
    kubectl_ok(&cp, &["apply", "--server-side", "-f", &path]).await;
    assert_eq!(
        jsonpath(&cp, "deployments.apps", "web", "{.metadata.labels.tier}").await,
        "",
        "the label kubectl no longer applies is gone"
    );
    // Items of keyed lists are owned by key, and named so in conflicts.
    let image_only = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: busybox:1.37\n";
    manifest_file(&cp, deployment, image_only);
    let stderr = kubectl_fails(
        &cp,
        &[
            "apply",
            "--server-side",
            "--field-manager=other",
            "-f",
            &path,
        ],
    )
    .await;
    assert!(
        stderr.contains(
            "conflict with \"kubectl\" using apps/v1: .spec.template.spec.containers[name=\"app\"].image"
        ),
        "{stderr}"
    );

    // An apply without a field manager is refused as upstream refuses it.
    let response = cp
        .request(
            "PATCH",
            "/apis/apps/v1/namespaces/default/deployments/web",
            &[("Content-Type", "application/apply-patch+yaml")],
            image_only.as_bytes(),
        )
        .await
        .expect("PATCH");
    assert_eq!(response.status, 422, "{}", response.body);
    assert!(
        response.body.contains(
            "PatchOptions.meta.k8s.io \\\"\\\" is invalid: fieldManager: Required value: is required for apply patch"
        ),
        "{}",
        response.body
    );
}
