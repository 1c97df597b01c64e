//! Integration tests of `kube-controller-manager` (DESIGN.md §6, issue #7) against a real etcd
//! and `kube-apiserver`, driven by the real kubectl and kube-rs.
//!
//! No container runtime is involved: a small *hollow kubelet* in this file plays the nodes. It
//! registers Node objects, renews their Leases in `kube-node-lease`, binds pending pods to its
//! nodes (round robin, like a trivial scheduler), marks them Running and Ready with a pod IP
//! through the status subresource, and finishes graceful deletions (a zero-grace delete, as a
//! kubelet does once containers stopped). Stopping a hollow node stops all of that for it.
//!
//! Scenarios, one cluster each:
//!
//! 1. ReplicaSet: replica count, surplus deletion, adoption and release, status, minReadySeconds,
//!    no over-creation;
//! 2. Deployment: rollout, `kubectl rollout status`, rolling update within maxSurge and
//!    maxUnavailable, history, `rollout undo`, `rollout restart`, pause/resume, scaling mid
//!    rollout, Recreate, revisionHistoryLimit, progress deadline; ReplicaSet names equal to
//!    upstream's for the docs' nginx Deployment;
//! 3. Endpoints and EndpointSlices;
//! 4. garbage collection: background, foreground (blockOwnerDeletion), orphan, `kubectl delete`;
//! 5. namespace deletion;
//! 6. node lifecycle: an unreachable node, taints, eviction, replacement; node IPAM; health and
//!    metrics endpoints (default ServiceAccounts are checked in 5);
//! 7. leader election: two replicas, one leads; the standby takes over when the leader dies.
//!
//! Needs the binaries built first: `cargo build --workspace --bins`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Endpoints, Namespace, Node, Pod, Service, ServiceAccount};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::Client;
use serde_json::{json, Value};
use tinykube_tests::apiserver::describe_output;
use tinykube_tests::{
    free_port, http_get, wait_for_healthz, CmdOutput, ControlPlane, Launch, Process,
};

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// How long any one condition may take to come true.
const WAIT: Duration = Duration::from_secs(60);

/// How often conditions are polled.
const POLL: Duration = Duration::from_millis(200);

/// etcd + apiserver + our controller manager (+ a hollow kubelet when asked).
struct Cluster {
    // Drop order: the hollow kubelet stops first, then the controller manager, then the rest.
    hollow: Option<Hollow>,
    kcm: Process,
    kcm_port: u16,
    cp: ControlPlane,
    client: Client,
}

impl Cluster {
    /// A control plane and `kube-controller-manager` with `args` added to the defaults
    /// (`--kubeconfig`, `--leader-elect=false`, loopback health port).
    async fn start(args: &[&str]) -> Cluster {
        let cp = ControlPlane::start()
            .await
            .unwrap_or_else(|e| panic!("could not start etcd + kube-apiserver: {e}"));
        let kcm_port = free_port().expect("free port");
        let mut all: Vec<String> = vec![
            "--kubeconfig".into(),
            cp.kubeconfig().to_string_lossy().into_owned(),
            "--bind-address=127.0.0.1".into(),
            format!("--secure-port={kcm_port}"),
        ];
        if !args.iter().any(|a| a.starts_with("--leader-elect")) {
            all.push("--leader-elect=false".into());
        }
        all.extend(args.iter().map(|a| a.to_string()));
        let kcm = Launch::binary("kube-controller-manager")
            .expect("kube-controller-manager is built")
            .args(&all)
            .env("RUST_LOG", "info,tinykube_controller_manager=debug")
            .spawn()
            .expect("start kube-controller-manager");
        wait_for_healthz(&format!("http://127.0.0.1:{kcm_port}/healthz"), WAIT)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "kube-controller-manager not healthy: {e}\n{}",
                    kcm.log_tail()
                )
            });
        let config = kube::Config::new(cp.url().parse().expect("apiserver url"));
        let client = Client::try_from(config).expect("kube client");
        Cluster {
            hollow: None,
            kcm,
            kcm_port,
            cp,
            client,
        }
    }

    /// Starts a hollow kubelet for `nodes`.
    async fn with_hollow_nodes(mut self, nodes: &[&str]) -> Cluster {
        self.hollow = Some(Hollow::start(self.client.clone(), nodes).await);
        self
    }

    fn hollow(&self) -> &Hollow {
        self.hollow.as_ref().expect("a hollow kubelet")
    }

    async fn kubectl(&self, args: &[&str]) -> CmdOutput {
        self.cp
            .kubectl(args)
            .await
            .unwrap_or_else(|e| panic!("could not run kubectl {}: {e}", args.join(" ")))
    }

    async fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args).await;
        assert!(
            out.success(),
            "`kubectl {}` should succeed:\n{}\n--- controller manager log ---\n{}",
            args.join(" "),
            describe_output(&out),
            self.kcm.log_tail()
        );
        out.stdout
    }

    /// `kubectl apply -f -` of a manifest (written to a file first).
    async fn apply(&self, name: &str, manifest: &str) {
        let path = self.cp.write_file(name, manifest).expect("write manifest");
        self.kubectl_ok(&["apply", "-f", &path.to_string_lossy()])
            .await;
    }

    fn api<K>(&self, ns: &str) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), ns)
    }

    /// Successful reconciles per controller, from `/metrics`.
    async fn reconciles(&self) -> BTreeMap<String, u64> {
        let url = format!("http://127.0.0.1:{}/metrics", self.kcm_port);
        let body = http_get(&url, Duration::from_secs(5))
            .await
            .expect("metrics")
            .body;
        body.lines()
            .filter_map(|line| {
                let rest =
                    line.strip_prefix("controller_manager_reconciles_total{controller=\"")?;
                let (controller, rest) = rest.split_once('"')?;
                if !rest.contains("result=\"success\"") {
                    return None;
                }
                let value = rest.rsplit(' ').next()?.parse().ok()?;
                Some((controller.to_string(), value))
            })
            .collect()
    }

    /// The controller manager's log, plus what the hollow kubelet could not do.
    fn log(&self) -> String {
        let hollow = self
            .hollow
            .as_ref()
            .map(|h| h.state.errors.lock().unwrap().join("\n"))
            .unwrap_or_default();
        format!(
            "{}\n--- hollow kubelet errors ---\n{hollow}",
            self.kcm.log_tail()
        )
    }

    /// Polls `check` until it returns `Some`, at most [`WAIT`]; panics with `what`, the last
    /// observation and the controller manager's log.
    async fn wait<T, F, Fut>(&self, what: &str, check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, String>>,
    {
        self.wait_for(what, WAIT, check).await
    }

    async fn wait_for<T, F, Fut>(&self, what: &str, timeout: Duration, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, String>>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match check().await {
                Ok(value) => return value,
                Err(state) => state,
            };
            if Instant::now() >= deadline {
                panic!(
                    "timed out after {timeout:?} waiting for {what}; last seen: {last}\n--- controller manager log ---\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Pods in `ns` matching `selector`, by name.
    async fn pods(&self, ns: &str, selector: &str) -> Vec<Pod> {
        let api: Api<Pod> = self.api(ns);
        let mut pods = api
            .list(&ListParams::default().labels(selector))
            .await
            .expect("list pods")
            .items;
        pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        pods
    }

    async fn deployment(&self, ns: &str, name: &str) -> Deployment {
        self.api::<Deployment>(ns)
            .get(name)
            .await
            .expect("get deployment")
    }

    /// The Deployment's ReplicaSets, oldest revision first.
    async fn replicasets_of(&self, ns: &str, deployment: &str) -> Vec<ReplicaSet> {
        let d = self.deployment(ns, deployment).await;
        let uid = d.metadata.uid.unwrap_or_default();
        let mut rss: Vec<ReplicaSet> = self
            .api::<ReplicaSet>(ns)
            .list(&ListParams::default())
            .await
            .expect("list replicasets")
            .items
            .into_iter()
            .filter(|rs| {
                rs.metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|r| r.uid == uid && r.controller == Some(true))
            })
            .collect();
        rss.sort_by_key(revision_of);
        rss
    }
}

fn revision_of(rs: &ReplicaSet) -> i64 {
    rs.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("deployment.kubernetes.io/revision"))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn name(meta: &kube::api::ObjectMeta) -> String {
    meta.name.clone().unwrap_or_default()
}

fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

fn node_of(pod: &Pod) -> Option<String> {
    pod.spec.as_ref().and_then(|s| s.node_name.clone())
}

fn controller_uid(meta: &kube::api::ObjectMeta) -> Option<String> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
        .map(|r| r.uid.clone())
}

fn now_rfc3339() -> String {
    jiff_now()
}

/// RFC 3339 "now" with second precision, as the API stores `metav1.Time`.
fn jiff_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // Civil-from-days (Howard Hinnant's algorithm), to avoid a date dependency here.
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Marks a pod Running with `ip`, Ready or not, through the status subresource.
async fn set_pod_status(client: &Client, pod: &Pod, ip: &str, ready: bool) -> kube::Result<Pod> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let ready = if ready { "True" } else { "False" };
    let now = now_rfc3339();
    let containers: Vec<Value> = pod
        .spec
        .as_ref()
        .map(|s| {
            s.containers
                .iter()
                .map(|c| c.name.clone())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .map(|name| {
            json!({"name": name, "ready": ready == "True", "restartCount": 0, "image": "busybox",
                   "imageID": "", "started": true, "state": {"running": {"startedAt": now}}})
        })
        .collect();
    let patch = json!({"status": {
        "phase": "Running",
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "hostIP": "192.0.2.1",
        "startTime": now,
        "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
            {"type": "Initialized", "status": "True", "lastTransitionTime": now},
            {"type": "ContainersReady", "status": ready, "lastTransitionTime": now},
            {"type": "Ready", "status": ready, "lastTransitionTime": now},
        ],
        "containerStatuses": containers,
    }});
    api.patch_status(
        &name(&pod.metadata),
        &PatchParams::default(),
        &Patch::Merge(patch),
    )
    .await
}

/// A stand-in for kubelets (and a trivial scheduler): see the module docs.
struct Hollow {
    state: Arc<HollowState>,
    task: tokio::task::JoinHandle<()>,
}

struct HollowState {
    /// Node name -> alive (renewing its Lease, running its pods).
    nodes: Mutex<BTreeMap<String, bool>>,
    /// Whether new pods become Ready (or stay Running but not Ready).
    ready: AtomicBool,
    next_ip: AtomicU32,
    /// Pod uid -> IP given.
    ips: Mutex<HashMap<String, String>>,
    errors: Mutex<Vec<String>>,
}

impl Drop for Hollow {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Hollow {
    async fn start(client: Client, nodes: &[&str]) -> Hollow {
        let state = Arc::new(HollowState {
            nodes: Mutex::new(nodes.iter().map(|n| (n.to_string(), true)).collect()),
            ready: AtomicBool::new(true),
            next_ip: AtomicU32::new(10),
            ips: Mutex::new(HashMap::new()),
            errors: Mutex::new(Vec::new()),
        });
        for node in nodes {
            register_node(&client, node).await;
        }
        let task = tokio::spawn(hollow_loop(client, state.clone()));
        Hollow { state, task }
    }

    /// Stops (or restarts) a node: no more Lease renewals, binding or pod status.
    fn set_alive(&self, node: &str, alive: bool) {
        self.state
            .nodes
            .lock()
            .unwrap()
            .insert(node.to_string(), alive);
    }

    fn set_ready(&self, ready: bool) {
        self.state.ready.store(ready, Ordering::SeqCst);
    }
}

async fn register_node(client: &Client, node: &str) {
    let nodes: Api<Node> = Api::all(client.clone());
    let now = now_rfc3339();
    let body: Node = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": node, "labels": {"kubernetes.io/hostname": node}},
        "spec": {},
    }))
    .unwrap();
    nodes
        .create(&PostParams::default(), &body)
        .await
        .unwrap_or_else(|e| panic!("create node {node}: {e}"));
    let status = json!({"status": {
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                        "message": "kubelet is posting ready status", "lastHeartbeatTime": now,
                        "lastTransitionTime": now}],
        "addresses": [{"type": "InternalIP", "address": "192.0.2.1"}, {"type": "Hostname", "address": node}],
        "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
        "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
    }});
    // Retried: the apiserver answers 409 to a PATCH that races another writer (the node IPAM
    // controller patches new nodes too), although the patch names no resourceVersion.
    let mut attempts = 0;
    loop {
        match nodes
            .patch_status(node, &PatchParams::default(), &Patch::Merge(status.clone()))
            .await
        {
            Ok(_) => break,
            Err(kube::Error::Api(s)) if s.code == 409 && attempts < 10 => attempts += 1,
            Err(e) => panic!("node {node} status: {e}"),
        }
    }
}

async fn renew_lease(client: &Client, node: &str) -> kube::Result<()> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let now = {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_micros())
            .unwrap_or(0);
        let base = jiff_now();
        format!("{}.{secs:06}Z", base.trim_end_matches('Z'))
    };
    let body = json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": node, "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": node, "leaseDurationSeconds": 40, "renewTime": now},
    });
    match leases.get_opt(node).await? {
        None => {
            let lease: Lease = serde_json::from_value(body).unwrap();
            leases.create(&PostParams::default(), &lease).await?;
        }
        Some(_) => {
            leases
                .patch(
                    node,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"renewTime": now}})),
                )
                .await?;
        }
    }
    Ok(())
}

/// A live kubelet reports Ready=True again after an outage.
async fn post_ready(client: &Client, node: &str) -> kube::Result<()> {
    let nodes: Api<Node> = Api::all(client.clone());
    let current = nodes.get(node).await?;
    let ready = current
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    if ready {
        return Ok(());
    }
    let now = now_rfc3339();
    let status = json!({"status": {"conditions": [
        {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status",
         "lastHeartbeatTime": now, "lastTransitionTime": now},
        {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory", "lastHeartbeatTime": now, "lastTransitionTime": now},
        {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure", "lastHeartbeatTime": now, "lastTransitionTime": now},
        {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID", "lastHeartbeatTime": now, "lastTransitionTime": now},
    ]}});
    nodes
        .patch_status(node, &PatchParams::default(), &Patch::Merge(status))
        .await
        .map(|_| ())
}

async fn hollow_loop(client: Client, state: Arc<HollowState>) {
    let pods_api: Api<Pod> = Api::all(client.clone());
    let mut round_robin = 0usize;
    let mut last_renew = Instant::now() - Duration::from_secs(10);
    loop {
        let nodes: Vec<(String, bool)> = state
            .nodes
            .lock()
            .unwrap()
            .iter()
            .map(|(n, a)| (n.clone(), *a))
            .collect();
        let alive: Vec<String> = nodes
            .iter()
            .filter(|(_, a)| *a)
            .map(|(n, _)| n.clone())
            .collect();
        let mut errors = Vec::new();
        if last_renew.elapsed() >= Duration::from_secs(1) {
            last_renew = Instant::now();
            for node in &alive {
                if let Err(e) = renew_lease(&client, node).await {
                    errors.push(format!("renew lease {node}: {e}"));
                }
                if let Err(e) = post_ready(&client, node).await {
                    errors.push(format!("node status {node}: {e}"));
                }
            }
        }
        match pods_api.list(&ListParams::default()).await {
            Err(e) => errors.push(format!("list pods: {e}")),
            Ok(list) => {
                for pod in list.items {
                    let ns = pod.metadata.namespace.clone().unwrap_or_default();
                    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
                    let pod_name = name(&pod.metadata);
                    let uid = pod.metadata.uid.clone().unwrap_or_default();
                    match node_of(&pod) {
                        None if !is_terminating(&pod) && !alive.is_empty() => {
                            let node = &alive[round_robin % alive.len()];
                            round_robin += 1;
                            let binding = json!({"apiVersion": "v1", "kind": "Binding",
                                "metadata": {"name": pod_name, "namespace": ns},
                                "target": {"apiVersion": "v1", "kind": "Node", "name": node}});
                            let bound: kube::Result<Value> = api
                                .create_subresource(
                                    "binding",
                                    &pod_name,
                                    &PostParams::default(),
                                    &binding,
                                )
                                .await;
                            if let Err(e) = bound {
                                errors.push(format!("bind {ns}/{pod_name}: {e}"));
                            }
                        }
                        Some(node) if alive.contains(&node) => {
                            if is_terminating(&pod) {
                                let _ = api
                                    .delete(&pod_name, &DeleteParams::default().grace_period(0))
                                    .await;
                                continue;
                            }
                            let running = pod.status.as_ref().and_then(|s| s.phase.as_deref())
                                == Some("Running");
                            let ready = state.ready.load(Ordering::SeqCst);
                            if running && is_ready(&pod) == ready {
                                continue;
                            }
                            let ip = {
                                let mut ips = state.ips.lock().unwrap();
                                ips.entry(uid.clone())
                                    .or_insert_with(|| {
                                        let n = state.next_ip.fetch_add(1, Ordering::SeqCst);
                                        format!("10.244.{}.{}", n / 250, n % 250 + 2)
                                    })
                                    .clone()
                            };
                            if let Err(e) = set_pod_status(&client, &pod, &ip, ready).await {
                                errors.push(format!("status of {ns}/{pod_name}: {e}"));
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        if !errors.is_empty() {
            let mut all = state.errors.lock().unwrap();
            all.extend(errors);
            let len = all.len();
            if len > 50 {
                all.drain(..len - 50);
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn deployment_yaml(name: &str, replicas: i32, image: &str, extra_spec: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: {name}
{extra_spec}  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
      - name: main
        image: {image}
        ports:
        - name: http
          containerPort: 8080
"#
    )
}

// ---------------------------------------------------------------------------------------------
// 1. ReplicaSet
// ---------------------------------------------------------------------------------------------

fn replicaset_json(name: &str, replicas: i32, min_ready: i32) -> ReplicaSet {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "minReadySeconds": min_ready,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name, "tier": "backend"}},
                "spec": {"containers": [{"name": "main", "image": "busybox"}]},
            },
        },
    }))
    .unwrap()
}

fn orphan_pod(name: &str, labels: Value) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "main", "image": "busybox"}]},
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicaset_keeps_replicas_adopts_releases_and_reports_status() {
    let cluster = Cluster::start(&["--controllers=replicaset,garbagecollector"]).await;
    let ns = "default";
    let rss: Api<ReplicaSet> = cluster.api(ns);
    let pods: Api<Pod> = cluster.api(ns);

    // An orphan that matches is adopted instead of creating a third pod.
    pods.create(
        &PostParams::default(),
        &orphan_pod("stray", json!({"app": "rs1"})),
    )
    .await
    .unwrap();
    let rs = rss
        .create(&PostParams::default(), &replicaset_json("rs1", 3, 0))
        .await
        .unwrap();
    let rs_uid = rs.metadata.uid.clone().unwrap();
    let owned = cluster
        .wait("3 pods owned by rs1", || async {
            let all = cluster.pods(ns, "app=rs1").await;
            let owned: Vec<&Pod> = all
                .iter()
                .filter(|p| controller_uid(&p.metadata).as_deref() == Some(rs_uid.as_str()))
                .collect();
            if owned.len() == 3 && all.len() == 3 {
                Ok(all.clone())
            } else {
                Err(format!("{} pods, {} owned", all.len(), owned.len()))
            }
        })
        .await;
    assert!(
        owned.iter().any(|p| name(&p.metadata) == "stray"),
        "the orphan was adopted"
    );
    // The creations are recorded as events on the ReplicaSet, as upstream does.
    cluster
        .wait("SuccessfulCreate events of rs1", || async {
            let out = cluster
                .kubectl_ok(&[
                    "get",
                    "events",
                    "--field-selector",
                    "involvedObject.name=rs1",
                    "-o",
                    "json",
                ])
                .await;
            let events: Value = serde_json::from_str(&out).map_err(|e| e.to_string())?;
            let created = events["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|e| {
                    e["reason"] == "SuccessfulCreate" && e["involvedObject"]["kind"] == "ReplicaSet"
                })
                .count();
            (created == 2)
                .then_some(())
                .ok_or(format!("{created} events"))
        })
        .await;
    for pod in owned.iter().filter(|p| name(&p.metadata) != "stray") {
        assert!(
            name(&pod.metadata).starts_with("rs1-"),
            "generateName: {:?}",
            pod.metadata.name
        );
        let reference = &pod.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (
                reference.kind.as_str(),
                reference.name.as_str(),
                reference.block_owner_deletion
            ),
            ("ReplicaSet", "rs1", Some(true))
        );
    }

    // Not over-created: the count stays at 3 for a while.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(cluster.pods(ns, "app=rs1").await.len(), 3);

    // Status: replicas 3, fullyLabeled 2 (the adopted pod lacks tier=backend), none ready yet.
    let status = cluster
        .wait("rs1 status", || async {
            let rs = rss.get("rs1").await.map_err(|e| e.to_string())?;
            let s = rs.status.clone().unwrap_or_default();
            if s.replicas == 3 && s.observed_generation == rs.metadata.generation {
                Ok(s)
            } else {
                Err(format!("{s:?}"))
            }
        })
        .await;
    assert_eq!(status.fully_labeled_replicas, Some(2));
    assert_eq!(status.ready_replicas.unwrap_or(0), 0);

    // Pods turning ready show in readyReplicas and availableReplicas.
    for (i, pod) in cluster.pods(ns, "app=rs1").await.iter().enumerate() {
        set_pod_status(&cluster.client, pod, &format!("10.1.0.{}", i + 10), true)
            .await
            .unwrap();
    }
    cluster
        .wait("rs1 ready and available", || async {
            let s = rss
                .get("rs1")
                .await
                .map_err(|e| e.to_string())?
                .status
                .unwrap_or_default();
            if s.ready_replicas == Some(3) && s.available_replicas == Some(3) {
                Ok(())
            } else {
                Err(format!("{s:?}"))
            }
        })
        .await;

    // Scale down: surplus pods are deleted, not-ready ones first.
    let victim = cluster
        .pods(ns, "app=rs1")
        .await
        .into_iter()
        .find(|p| name(&p.metadata) != "stray")
        .unwrap();
    set_pod_status(&cluster.client, &victim, "10.1.0.99", false)
        .await
        .unwrap();
    cluster
        .wait("rs1 sees the not-ready pod", || async {
            let s = rss
                .get("rs1")
                .await
                .map_err(|e| e.to_string())?
                .status
                .unwrap_or_default();
            (s.ready_replicas == Some(2))
                .then_some(())
                .ok_or(format!("{s:?}"))
        })
        .await;
    cluster
        .kubectl_ok(&["scale", "replicaset", "rs1", "--replicas=2"])
        .await;
    cluster
        .wait("the not-ready pod deleted", || async {
            let names: Vec<String> = cluster
                .pods(ns, "app=rs1")
                .await
                .iter()
                .map(|p| name(&p.metadata))
                .collect();
            if names.len() == 2 && !names.contains(&name(&victim.metadata)) {
                Ok(())
            } else {
                Err(format!("{names:?}"))
            }
        })
        .await;

    // Relabelling a pod releases it (ownerReference removed) and a replacement is created.
    let released = "stray";
    pods.patch(
        released,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "elsewhere"}}})),
    )
    .await
    .unwrap();
    cluster
        .wait("stray released and replaced", || async {
            let stray = pods.get(released).await.map_err(|e| e.to_string())?;
            let owned = cluster.pods(ns, "app=rs1").await;
            let released = stray
                .metadata
                .owner_references
                .as_ref()
                .is_none_or(|r| r.is_empty());
            if released && owned.len() == 2 {
                Ok(())
            } else {
                Err(format!(
                    "owner refs {:?}, {} pods left",
                    stray.metadata.owner_references,
                    owned.len()
                ))
            }
        })
        .await;

    // Deleting a pod gets it replaced.
    let gone = name(&cluster.pods(ns, "app=rs1").await[0].metadata);
    pods.delete(&gone, &DeleteParams::default()).await.unwrap();
    cluster
        .wait("a replacement pod", || async {
            let names: Vec<String> = cluster
                .pods(ns, "app=rs1")
                .await
                .iter()
                .map(|p| name(&p.metadata))
                .collect();
            if names.len() == 2 && !names.contains(&gone) {
                Ok(())
            } else {
                Err(format!("{names:?}"))
            }
        })
        .await;

    // minReadySeconds: ready pods count as available only after it.
    rss.create(&PostParams::default(), &replicaset_json("slow", 1, 4))
        .await
        .unwrap();
    let pod = cluster
        .wait("a pod of slow", || async {
            cluster
                .pods(ns, "app=slow")
                .await
                .into_iter()
                .next()
                .ok_or("none yet".to_string())
        })
        .await;
    set_pod_status(&cluster.client, &pod, "10.1.1.1", true)
        .await
        .unwrap();
    cluster
        .wait("slow ready but not yet available", || async {
            let s = rss
                .get("slow")
                .await
                .map_err(|e| e.to_string())?
                .status
                .unwrap_or_default();
            if s.ready_replicas == Some(1) && s.available_replicas.unwrap_or(0) == 0 {
                Ok(())
            } else {
                Err(format!("{s:?}"))
            }
        })
        .await;
    cluster
        .wait("slow available after minReadySeconds", || async {
            let s = rss
                .get("slow")
                .await
                .map_err(|e| e.to_string())?
                .status
                .unwrap_or_default();
            (s.available_replicas == Some(1))
                .then_some(())
                .ok_or(format!("{s:?}"))
        })
        .await;

    // A large burst is created exactly.
    rss.create(&PostParams::default(), &replicaset_json("burst", 40, 0))
        .await
        .unwrap();
    cluster
        .wait("40 pods", || async {
            let n = cluster.pods(ns, "app=burst").await.len();
            (n == 40).then_some(()).ok_or(format!("{n} pods"))
        })
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        cluster.pods(ns, "app=burst").await.len(),
        40,
        "no over-creation"
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Deployment
// ---------------------------------------------------------------------------------------------

/// Samples the Deployment's pods while a rollout runs, at least once, until `stop`: (most
/// non-terminating pods, fewest ready non-terminating pods) seen. A failed list panics, so the
/// bounds checked on the result always come from real samples.
async fn sample_rollout(
    client: Client,
    ns: String,
    selector: String,
    stop: Arc<AtomicBool>,
) -> (usize, usize) {
    let api: Api<Pod> = Api::namespaced(client, &ns);
    let (mut most, mut fewest_ready) = (0, usize::MAX);
    loop {
        let list = api
            .list(&ListParams::default().labels(&selector))
            .await
            .expect("list the rollout's pods");
        let live: Vec<&Pod> = list.items.iter().filter(|p| !is_terminating(p)).collect();
        most = most.max(live.len());
        fewest_ready = fewest_ready.min(live.iter().filter(|p| is_ready(p)).count());
        if stop.load(Ordering::SeqCst) {
            return (most, fewest_ready);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn image_of(d: &Deployment) -> String {
    d.spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0]
        .image
        .clone()
        .unwrap_or_default()
}

fn rs_image(rs: &ReplicaSet) -> String {
    rs.spec
        .as_ref()
        .unwrap()
        .template
        .as_ref()
        .unwrap()
        .spec
        .as_ref()
        .unwrap()
        .containers[0]
        .image
        .clone()
        .unwrap_or_default()
}

fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deployment_rollouts_history_undo_restart_pause_and_deadline() {
    let cluster = Cluster::start(&["--controllers=*,-node-lifecycle-controller"])
        .await
        .with_hollow_nodes(&["node-a", "node-b"])
        .await;
    let ns = "default";
    let strategy = "  strategy:\n    type: RollingUpdate\n    rollingUpdate:\n      maxSurge: 1\n      maxUnavailable: 0\n";
    cluster
        .apply(
            "web-v1.yaml",
            &deployment_yaml("web", 3, "busybox:v1", strategy),
        )
        .await;
    cluster
        .kubectl_ok(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .await;

    // One ReplicaSet named <deployment>-<pod-template-hash>, revision 1, its pods labelled.
    let rss = cluster.replicasets_of(ns, "web").await;
    assert_eq!(rss.len(), 1, "{rss:?}");
    let first = &rss[0];
    let hash = first.metadata.labels.as_ref().unwrap()["pod-template-hash"].clone();
    assert_eq!(name(&first.metadata), format!("web-{hash}"));
    assert_eq!(revision_of(first), 1);
    assert_eq!(
        first
            .spec
            .as_ref()
            .unwrap()
            .selector
            .match_labels
            .as_ref()
            .unwrap()["pod-template-hash"],
        hash
    );
    let pods = cluster.pods(ns, "app=web").await;
    assert_eq!(pods.len(), 3);
    assert!(pods
        .iter()
        .all(|p| p.metadata.labels.as_ref().unwrap()["pod-template-hash"] == hash));
    let d = cluster.deployment(ns, "web").await;
    let status = d.status.clone().unwrap();
    assert_eq!(
        (
            status.replicas,
            status.updated_replicas,
            status.ready_replicas,
            status.available_replicas
        ),
        (Some(3), Some(3), Some(3), Some(3))
    );
    assert_eq!(status.observed_generation, d.metadata.generation);
    let conditions: BTreeMap<String, (String, String)> = status
        .conditions
        .unwrap()
        .into_iter()
        .map(|c| (c.type_, (c.status, c.reason.unwrap_or_default())))
        .collect();
    assert_eq!(
        conditions["Available"],
        ("True".into(), "MinimumReplicasAvailable".into())
    );
    assert_eq!(
        conditions["Progressing"],
        ("True".into(), "NewReplicaSetAvailable".into())
    );
    assert_eq!(
        d.metadata.annotations.unwrap()["deployment.kubernetes.io/revision"],
        "1"
    );

    // A rolling update stays within maxSurge 1 / maxUnavailable 0.
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn(sample_rollout(
        cluster.client.clone(),
        ns.into(),
        "app=web".into(),
        stop.clone(),
    ));
    cluster
        .kubectl_ok(&["set", "image", "deployment/web", "main=busybox:v2"])
        .await;
    cluster
        .kubectl_ok(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .await;
    stop.store(true, Ordering::SeqCst);
    let (most, fewest_ready) = sampler.await.unwrap();
    assert!(most <= 4, "maxSurge 1 exceeded: {most} pods at once");
    assert!(
        fewest_ready >= 3,
        "maxUnavailable 0 violated: only {fewest_ready} ready"
    );
    let rss = cluster.replicasets_of(ns, "web").await;
    assert_eq!(
        rss.iter()
            .map(|rs| (revision_of(rs), rs_replicas(rs), rs_image(rs)))
            .collect::<Vec<_>>(),
        vec![
            (1, 0, "busybox:v1".to_string()),
            (2, 3, "busybox:v2".to_string())
        ]
    );
    let describe = cluster.kubectl_ok(&["describe", "deployment", "web"]).await;
    assert!(
        describe.contains("ScalingReplicaSet") && describe.contains("Scaled up replica set"),
        "{describe}"
    );
    let history = cluster
        .kubectl_ok(&["rollout", "history", "deployment/web"])
        .await;
    assert!(history.contains('1') && history.contains('2'), "{history}");

    // Undo: back to v1's ReplicaSet, renumbered as revision 3.
    cluster
        .kubectl_ok(&["rollout", "undo", "deployment/web"])
        .await;
    cluster
        .kubectl_ok(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .await;
    assert_eq!(image_of(&cluster.deployment(ns, "web").await), "busybox:v1");
    let rss = cluster.replicasets_of(ns, "web").await;
    assert_eq!(rss.len(), 2, "the old ReplicaSet is reused: {rss:?}");
    let back = rss.iter().find(|rs| rs_image(rs) == "busybox:v1").unwrap();
    assert_eq!(name(&back.metadata), format!("web-{hash}"));
    assert_eq!(revision_of(back), 3);
    assert_eq!(rs_replicas(back), 3);
    assert_eq!(
        back.metadata.annotations.as_ref().unwrap()["deployment.kubernetes.io/revision-history"],
        "1"
    );

    // Restart: a new ReplicaSet for the annotated template.
    cluster
        .kubectl_ok(&["rollout", "restart", "deployment/web"])
        .await;
    cluster
        .kubectl_ok(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .await;
    let rss = cluster.replicasets_of(ns, "web").await;
    assert_eq!(rss.len(), 3);
    let newest = rss.last().unwrap();
    assert_eq!(revision_of(newest), 4);
    assert!(newest
        .spec
        .as_ref()
        .unwrap()
        .template
        .as_ref()
        .unwrap()
        .metadata
        .as_ref()
        .unwrap()
        .annotations
        .as_ref()
        .unwrap()
        .contains_key("kubectl.kubernetes.io/restartedAt"));
    assert_eq!(rs_replicas(newest), 3);

    // Pause: template changes wait for resume.
    cluster
        .kubectl_ok(&["rollout", "pause", "deployment/web"])
        .await;
    cluster
        .kubectl_ok(&["set", "image", "deployment/web", "main=busybox:v3"])
        .await;
    cluster
        .wait("Progressing=Unknown DeploymentPaused", || async {
            let d = cluster.deployment(ns, "web").await;
            let c = d.status.and_then(|s| s.conditions).unwrap_or_default();
            c.iter()
                .find(|c| {
                    c.type_ == "Progressing"
                        && c.reason.as_deref() == Some("DeploymentPaused")
                        && c.status == "Unknown"
                })
                .map(|_| ())
                .ok_or(format!("{c:?}"))
        })
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        cluster.replicasets_of(ns, "web").await.len(),
        3,
        "no rollout while paused"
    );
    cluster
        .kubectl_ok(&["rollout", "resume", "deployment/web"])
        .await;
    cluster
        .kubectl_ok(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .await;
    let rss = cluster.replicasets_of(ns, "web").await;
    assert_eq!(rs_image(rss.last().unwrap()), "busybox:v3");
    assert_eq!(revision_of(rss.last().unwrap()), 5);

    // Scale in the middle of a rollout: new pods never get ready, then the Deployment grows.
    cluster.hollow().set_ready(false);
    cluster
        .kubectl_ok(&["set", "image", "deployment/web", "main=busybox:v4"])
        .await;
    cluster
        .wait("the v4 ReplicaSet started", || async {
            let rss = cluster.replicasets_of(ns, "web").await;
            rss.iter()
                .find(|rs| rs_image(rs) == "busybox:v4" && rs_replicas(rs) >= 1)
                .map(|_| ())
                .ok_or(format!(
                    "{:?}",
                    rss.iter()
                        .map(|r| (rs_image(r), rs_replicas(r)))
                        .collect::<Vec<_>>()
                ))
        })
        .await;
    cluster
        .kubectl_ok(&["scale", "deployment/web", "--replicas=6"])
        .await;
    cluster
        .wait("proportional scale-up within maxSurge", || async {
            let rss = cluster.replicasets_of(ns, "web").await;
            let sizes: Vec<(String, i32)> =
                rss.iter().map(|r| (rs_image(r), rs_replicas(r))).collect();
            let total: i32 = sizes.iter().map(|(_, n)| n).sum();
            let v3 = sizes
                .iter()
                .find(|(i, _)| i == "busybox:v3")
                .map(|(_, n)| *n)
                .unwrap_or(0);
            if total == 7 && v3 >= 5 {
                Ok(())
            } else {
                Err(format!("{sizes:?}"))
            }
        })
        .await;
    cluster.hollow().set_ready(true);
    cluster
        .kubectl_ok(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .await;
    let d = cluster.deployment(ns, "web").await;
    let s = d.status.unwrap();
    assert_eq!(
        (s.replicas, s.updated_replicas, s.available_replicas),
        (Some(6), Some(6), Some(6))
    );
    assert_eq!(
        cluster
            .pods(ns, "app=web")
            .await
            .iter()
            .filter(|p| !is_terminating(p))
            .count(),
        6
    );

    // revisionHistoryLimit: only the newest old ReplicaSets are kept.
    cluster
        .kubectl_ok(&[
            "patch",
            "deployment/web",
            "-p",
            r#"{"spec":{"revisionHistoryLimit":1}}"#,
        ])
        .await;
    cluster
        .wait("history trimmed to 1 old ReplicaSet", || async {
            let rss = cluster.replicasets_of(ns, "web").await;
            let revisions: Vec<i64> = rss.iter().map(revision_of).collect();
            (revisions == vec![5, 6])
                .then_some(())
                .ok_or(format!("{revisions:?}"))
        })
        .await;

    // A rollout whose pods never get ready exceeds its progress deadline.
    cluster.hollow().set_ready(false);
    cluster
        .apply(
            "stuck.yaml",
            &deployment_yaml("stuck", 2, "busybox:v1", "  progressDeadlineSeconds: 5\n"),
        )
        .await;
    let out = cluster
        .kubectl(&["rollout", "status", "deployment/stuck", "--timeout=60s"])
        .await;
    assert!(
        !out.success(),
        "rollout status must fail: {}",
        describe_output(&out)
    );
    assert!(
        out.stderr.contains("exceeded its progress deadline"),
        "{}",
        describe_output(&out)
    );
    let d = cluster.deployment(ns, "stuck").await;
    let progressing = d
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Progressing")
        .unwrap();
    assert_eq!(
        (progressing.status.as_str(), progressing.reason.as_deref()),
        ("False", Some("ProgressDeadlineExceeded"))
    );
    cluster.hollow().set_ready(true);
}

/// The Kubernetes docs' `controllers/nginx-deployment.yaml`.
const DOCS_NGINX_DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx-deployment
  labels:
    app: nginx
spec:
  replicas: 3
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx:1.14.2
        ports:
        - containerPort: 80
"#;

/// ReplicaSet names are upstream's: real v1.33 clusters name the ReplicaSets of the docs'
/// nginx Deployment `nginx-deployment-647677fc66`, and after the docs' `kubectl set image
/// deployment/nginx-deployment nginx=nginx:1.16.1`, `nginx-deployment-8d94c585f` (see the
/// pod-template-hash unit tests for where these come from). This holds only if our apiserver
/// defaults the template as upstream does and our hash is upstream's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deployment_replicaset_names_are_upstreams() {
    let cluster = Cluster::start(&["--controllers=deployment,replicaset"]).await;
    cluster
        .apply("nginx-deployment.yaml", DOCS_NGINX_DEPLOYMENT)
        .await;
    // The Deployment's ReplicaSet names, oldest first, once there are `count` of them.
    let replicaset_names = |count: usize| {
        let cluster = &cluster;
        async move {
            cluster
                .wait(&format!("{count} ReplicaSets"), || async {
                    let rss = cluster.replicasets_of("default", "nginx-deployment").await;
                    let names: Vec<String> = rss.iter().map(|rs| name(&rs.metadata)).collect();
                    if names.len() == count {
                        Ok(names)
                    } else {
                        Err(format!("{names:?}"))
                    }
                })
                .await
        }
    };
    assert_eq!(replicaset_names(1).await, ["nginx-deployment-647677fc66"]);
    cluster
        .kubectl_ok(&[
            "set",
            "image",
            "deployment/nginx-deployment",
            "nginx=nginx:1.16.1",
        ])
        .await;
    assert_eq!(
        replicaset_names(2).await,
        ["nginx-deployment-647677fc66", "nginx-deployment-8d94c585f"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deployment_recreate_never_overlaps_old_and_new_pods() {
    let cluster = Cluster::start(&["--controllers=deployment,replicaset,garbagecollector"])
        .await
        .with_hollow_nodes(&["node-a"])
        .await;
    let ns = "default";
    let strategy = "  strategy:\n    type: Recreate\n";
    cluster
        .apply(
            "rec-v1.yaml",
            &deployment_yaml("rec", 2, "busybox:v1", strategy),
        )
        .await;
    cluster
        .kubectl_ok(&["rollout", "status", "deployment/rec", "--timeout=60s"])
        .await;

    let stop = Arc::new(AtomicBool::new(false));
    let overlap = {
        let client = cluster.client.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let api: Api<Pod> = Api::namespaced(client, "default");
            // Sampled at least once, until `stop`; a failed list panics rather than passing
            // for "no overlap seen".
            let mut overlaps = Vec::new();
            loop {
                let list = api
                    .list(&ListParams::default().labels("app=rec"))
                    .await
                    .expect("list the rollout's pods");
                let images: BTreeSet<String> = list
                    .items
                    .iter()
                    .map(|p| {
                        p.spec.as_ref().unwrap().containers[0]
                            .image
                            .clone()
                            .unwrap_or_default()
                    })
                    .collect();
                if images.len() > 1 {
                    overlaps.push(images);
                }
                if stop.load(Ordering::SeqCst) {
                    return overlaps;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    cluster
        .kubectl_ok(&["set", "image", "deployment/rec", "main=busybox:v2"])
        .await;
    cluster
        .kubectl_ok(&["rollout", "status", "deployment/rec", "--timeout=60s"])
        .await;
    stop.store(true, Ordering::SeqCst);
    let overlaps = overlap.await.unwrap();
    assert!(
        overlaps.is_empty(),
        "old and new pods existed together: {overlaps:?}"
    );
    let pods = cluster.pods(ns, "app=rec").await;
    assert_eq!(pods.len(), 2);

    // Once settled, nothing keeps the controllers busy (no write loops).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = cluster.reconciles().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = cluster.reconciles().await;
    for controller in ["deployment-controller", "replicaset-controller"] {
        let delta = after.get(controller).copied().unwrap_or(0)
            - before.get(controller).copied().unwrap_or(0);
        assert!(
            delta <= 2,
            "{controller} reconciled {delta} times while idle"
        );
    }
    assert!(pods
        .iter()
        .all(|p| p.spec.as_ref().unwrap().containers[0].image.as_deref() == Some("busybox:v2")));
}

// ---------------------------------------------------------------------------------------------
// 3. Endpoints and EndpointSlices
// ---------------------------------------------------------------------------------------------

fn web_pod(name: &str, app: &str, port_name: &str, port: i32) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": app}},
        "spec": {"nodeName": "node-x", "containers": [{"name": "main", "image": "busybox",
                 "ports": [{"name": port_name, "containerPort": port}]}]},
    }))
    .unwrap()
}

/// (ready IPs, not-ready IPs, ports) of an Endpoints object, sorted.
fn endpoints_summary(ep: &Endpoints) -> (Vec<String>, Vec<String>, Vec<(String, i32)>) {
    let mut ready = Vec::new();
    let mut not_ready = Vec::new();
    let mut ports = BTreeSet::new();
    for subset in ep.subsets.iter().flatten() {
        ready.extend(subset.addresses.iter().flatten().map(|a| a.ip.clone()));
        not_ready.extend(
            subset
                .not_ready_addresses
                .iter()
                .flatten()
                .map(|a| a.ip.clone()),
        );
        ports.extend(
            subset
                .ports
                .iter()
                .flatten()
                .map(|p| (p.name.clone().unwrap_or_default(), p.port)),
        );
    }
    ready.sort();
    not_ready.sort();
    (ready, not_ready, ports.into_iter().collect())
}

/// (address, ready, serving, terminating) of every endpoint in the Service's slices, sorted.
async fn slice_summary(
    cluster: &Cluster,
    ns: &str,
    service: &str,
) -> (Vec<(String, bool, bool, bool)>, Vec<i32>) {
    let api: Api<EndpointSlice> = cluster.api(ns);
    let slices = api
        .list(&ListParams::default().labels(&format!("kubernetes.io/service-name={service}")))
        .await
        .expect("list endpointslices")
        .items;
    let mut endpoints = Vec::new();
    let mut ports = BTreeSet::new();
    for slice in &slices {
        assert_eq!(
            slice.metadata.labels.as_ref().unwrap()["endpointslice.kubernetes.io/managed-by"],
            "endpointslice-controller.k8s.io"
        );
        for e in &slice.endpoints {
            let c = e.conditions.clone().unwrap_or_default();
            endpoints.push((
                e.addresses[0].clone(),
                c.ready.unwrap_or(false),
                c.serving.unwrap_or(false),
                c.terminating.unwrap_or(false),
            ));
        }
        ports.extend(slice.ports.iter().flatten().filter_map(|p| p.port));
    }
    endpoints.sort();
    (endpoints, ports.into_iter().collect())
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn endpoints_and_endpointslices_follow_pods() {
    let cluster = Cluster::start(&["--controllers=endpoints,endpointslice,garbagecollector"]).await;
    let ns = "default";
    let pods: Api<Pod> = cluster.api(ns);
    let service = r#"apiVersion: v1
kind: Service
metadata:
  name: web
  labels:
    team: a
spec:
  selector:
    app: web
  ports:
  - name: http
    port: 80
    targetPort: http
"#;
    cluster.apply("svc.yaml", service).await;
    for (name, app, port_name, port) in [
        ("a", "web", "http", 8080),
        ("b", "web", "http", 8080),
        ("c", "db", "http", 8080),
        ("d", "web", "http", 8080),
    ] {
        pods.create(&PostParams::default(), &web_pod(name, app, port_name, port))
            .await
            .unwrap();
    }
    for (name, ip, ready) in [
        ("a", "10.1.0.1", true),
        ("b", "10.1.0.2", true),
        ("c", "10.1.0.3", true),
        ("d", "10.1.0.4", false),
    ] {
        let pod = pods.get(name).await.unwrap();
        set_pod_status(&cluster.client, &pod, ip, ready)
            .await
            .unwrap();
    }
    let eps: Api<Endpoints> = cluster.api(ns);
    let expect = |ready: &[&str], not_ready: &[&str], port: i32| {
        (
            strings(ready),
            strings(not_ready),
            vec![("http".to_string(), port)],
        )
    };
    let want = expect(&["10.1.0.1", "10.1.0.2"], &["10.1.0.4"], 8080);
    let ep = cluster
        .wait("endpoints of web", || async {
            let ep = eps
                .get_opt("web")
                .await
                .map_err(|e| e.to_string())?
                .ok_or("no endpoints yet")?;
            if endpoints_summary(&ep) == want {
                Ok(ep)
            } else {
                Err(format!("{:?}", endpoints_summary(&ep)))
            }
        })
        .await;
    let address = ep.subsets.as_ref().unwrap()[0].addresses.as_ref().unwrap()[0].clone();
    let target = address.target_ref.unwrap();
    assert_eq!(
        (target.kind.as_deref(), target.name.as_deref()),
        (Some("Pod"), Some("a"))
    );
    assert!(target.uid.is_some());
    assert_eq!(
        ep.metadata.labels.as_ref().unwrap()["team"],
        "a",
        "labels copied from the Service"
    );
    let slices_want = (
        vec![
            ("10.1.0.1".to_string(), true, true, false),
            ("10.1.0.2".to_string(), true, true, false),
            ("10.1.0.4".to_string(), false, false, false),
        ],
        vec![8080],
    );
    cluster
        .wait("endpointslices of web", || async {
            let got = slice_summary(&cluster, ns, "web").await;
            (got == slices_want).then_some(()).ok_or(format!("{got:?}"))
        })
        .await;
    let out = cluster.kubectl_ok(&["get", "endpoints", "web"]).await;
    assert!(out.contains("10.1.0.1:8080"), "{out}");

    // Readiness, IP and label changes follow.
    set_pod_status(
        &cluster.client,
        &pods.get("a").await.unwrap(),
        "10.1.0.1",
        false,
    )
    .await
    .unwrap();
    set_pod_status(
        &cluster.client,
        &pods.get("b").await.unwrap(),
        "10.1.0.22",
        true,
    )
    .await
    .unwrap();
    pods.patch(
        "d",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "other"}}})),
    )
    .await
    .unwrap();
    let want = expect(&["10.1.0.22"], &["10.1.0.1"], 8080);
    cluster
        .wait("endpoints after changes", || async {
            let ep = eps.get("web").await.map_err(|e| e.to_string())?;
            (endpoints_summary(&ep) == want)
                .then_some(())
                .ok_or(format!("{:?}", endpoints_summary(&ep)))
        })
        .await;
    let slices_want = (
        vec![
            ("10.1.0.1".to_string(), false, false, false),
            ("10.1.0.22".to_string(), true, true, false),
        ],
        vec![8080],
    );
    cluster
        .wait("endpointslices after changes", || async {
            let got = slice_summary(&cluster, ns, "web").await;
            (got == slices_want).then_some(()).ok_or(format!("{got:?}"))
        })
        .await;

    // A terminating pod leaves Endpoints and shows as terminating in its slice.
    let mut bound = pods.get("b").await.unwrap();
    bound.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    pods.replace("b", &PostParams::default(), &bound)
        .await
        .unwrap();
    pods.delete("b", &DeleteParams::default()).await.unwrap();
    cluster
        .wait("terminating pod out of endpoints", || async {
            let ep = eps.get("web").await.map_err(|e| e.to_string())?;
            let got = endpoints_summary(&ep);
            (got.0.is_empty() && got.1 == strings(&["10.1.0.1"]))
                .then_some(())
                .ok_or(format!("{got:?}"))
        })
        .await;
    cluster
        .wait("terminating pod in slice", || async {
            let got = slice_summary(&cluster, ns, "web").await;
            got.0
                .contains(&("10.1.0.22".to_string(), false, true, true))
                .then_some(())
                .ok_or(format!("{got:?}"))
        })
        .await;
    pods.patch(
        "b",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();

    // A numeric targetPort.
    cluster
        .apply(
            "svc2.yaml",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: metrics\nspec:\n  selector:\n    app: db\n  ports:\n  - name: m\n    port: 9100\n    targetPort: 9100\n",
        )
        .await;
    cluster
        .wait("endpoints of metrics", || async {
            let ep = eps
                .get_opt("metrics")
                .await
                .map_err(|e| e.to_string())?
                .ok_or("none yet")?;
            let got = endpoints_summary(&ep);
            (got == (
                strings(&["10.1.0.3"]),
                vec![],
                vec![("m".to_string(), 9100)],
            ))
                .then_some(())
                .ok_or(format!("{got:?}"))
        })
        .await;

    // A Service without selector: its Endpoints belong to the user.
    cluster
        .apply(
            "manual.yaml",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: manual\nspec:\n  ports:\n  - port: 80\n---\napiVersion: v1\nkind: Endpoints\nmetadata:\n  name: manual\nsubsets:\n- addresses:\n  - ip: 192.0.2.10\n  ports:\n  - port: 80\n",
        )
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let manual = eps.get("manual").await.unwrap();
    assert_eq!(
        endpoints_summary(&manual).0,
        strings(&["192.0.2.10"]),
        "user endpoints untouched"
    );
    let api: Api<EndpointSlice> = cluster.api(ns);
    assert!(api
        .list(&ListParams::default().labels("kubernetes.io/service-name=manual"))
        .await
        .unwrap()
        .items
        .is_empty());

    // Deleting the Service removes its Endpoints and (garbage collector) its slices.
    cluster.kubectl_ok(&["delete", "service", "web"]).await;
    cluster
        .wait("endpoints and slices of web gone", || async {
            let ep = eps.get_opt("web").await.map_err(|e| e.to_string())?;
            let slices = api
                .list(&ListParams::default().labels("kubernetes.io/service-name=web"))
                .await
                .map_err(|e| e.to_string())?
                .items;
            (ep.is_none() && slices.is_empty())
                .then_some(())
                .ok_or(format!(
                    "endpoints {}, {} slices",
                    ep.is_some(),
                    slices.len()
                ))
        })
        .await;
}

// ---------------------------------------------------------------------------------------------
// 4. Garbage collection
// ---------------------------------------------------------------------------------------------

fn owned_configmap(
    name: &str,
    owner: &kube::api::ObjectMeta,
    kind: &str,
    api_version: &str,
    block: bool,
    finalizer: bool,
) -> Value {
    let mut cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "ownerReferences": [{
            "apiVersion": api_version, "kind": kind, "name": owner.name, "uid": owner.uid,
            "blockOwnerDeletion": block,
        }]},
        "data": {"k": "v"},
    });
    if finalizer {
        cm["metadata"]["finalizers"] = json!(["example.com/hold"]);
    }
    cm
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn garbage_collector_background_foreground_and_orphan() {
    let cluster = Cluster::start(&["--controllers=deployment,replicaset,garbagecollector"])
        .await
        .with_hollow_nodes(&["node-a"])
        .await;
    let ns = "default";
    let rss: Api<ReplicaSet> = cluster.api(ns);
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = cluster.api(ns);
    for name in ["bg", "orphan", "fg"] {
        cluster
            .apply(
                &format!("{name}.yaml"),
                &deployment_yaml(name, 2, "busybox", ""),
            )
            .await;
    }
    for name in ["bg", "orphan", "fg"] {
        cluster
            .kubectl_ok(&[
                "rollout",
                "status",
                &format!("deployment/{name}"),
                "--timeout=60s",
            ])
            .await;
    }

    // Background (kubectl's default): the Deployment goes at once, its ReplicaSet and pods after.
    cluster.kubectl_ok(&["delete", "deployment", "bg"]).await;
    cluster
        .wait("bg's ReplicaSet and pods collected", || async {
            let left_rs = rss
                .list(&ListParams::default().labels("app=bg"))
                .await
                .map_err(|e| e.to_string())?
                .items
                .len();
            let left_pods = cluster.pods(ns, "app=bg").await.len();
            (left_rs == 0 && left_pods == 0)
                .then_some(())
                .ok_or(format!("{left_rs} replicasets, {left_pods} pods"))
        })
        .await;

    // Orphan: ReplicaSet and pods stay, without the owner reference.
    cluster
        .kubectl_ok(&["delete", "deployment", "orphan", "--cascade=orphan"])
        .await;
    cluster
        .wait("orphan's ReplicaSet released", || async {
            let d = cluster
                .api::<Deployment>(ns)
                .get_opt("orphan")
                .await
                .map_err(|e| e.to_string())?;
            let list = rss
                .list(&ListParams::default().labels("app=orphan"))
                .await
                .map_err(|e| e.to_string())?
                .items;
            let released = list.len() == 1
                && list[0]
                    .metadata
                    .owner_references
                    .as_ref()
                    .is_none_or(|r| r.is_empty());
            (d.is_none() && released)
                .then_some(())
                .ok_or(format!("deployment {}, {list:?}", d.is_some()))
        })
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        cluster.pods(ns, "app=orphan").await.len(),
        2,
        "orphaned pods are kept"
    );

    // Foreground: the Deployment waits for dependents with blockOwnerDeletion, not for others.
    let fg = cluster.deployment(ns, "fg").await;
    let blocker: k8s_openapi::api::core::v1::ConfigMap = serde_json::from_value(owned_configmap(
        "fg-blocker",
        &fg.metadata,
        "Deployment",
        "apps/v1",
        true,
        true,
    ))
    .unwrap();
    let bystander: k8s_openapi::api::core::v1::ConfigMap = serde_json::from_value(owned_configmap(
        "fg-bystander",
        &fg.metadata,
        "Deployment",
        "apps/v1",
        false,
        true,
    ))
    .unwrap();
    cms.create(&PostParams::default(), &blocker).await.unwrap();
    cms.create(&PostParams::default(), &bystander)
        .await
        .unwrap();
    cluster
        .kubectl_ok(&[
            "delete",
            "deployment",
            "fg",
            "--cascade=foreground",
            "--wait=false",
        ])
        .await;
    cluster
        .wait("fg's pods and ReplicaSet gone while fg waits for its blocker", || async {
            let d = cluster.api::<Deployment>(ns).get_opt("fg").await.map_err(|e| e.to_string())?;
            let Some(d) = d else { return Err("fg deleted too early".to_string()) };
            let finalizers = d.metadata.finalizers.clone().unwrap_or_default();
            let left_rs = rss.list(&ListParams::default().labels("app=fg")).await.map_err(|e| e.to_string())?.items.len();
            let left_pods = cluster.pods(ns, "app=fg").await.len();
            let blocker = cms.get("fg-blocker").await.map_err(|e| e.to_string())?;
            if finalizers.contains(&"foregroundDeletion".to_string())
                && d.metadata.deletion_timestamp.is_some()
                && left_rs == 0
                && left_pods == 0
                && blocker.metadata.deletion_timestamp.is_some()
            {
                Ok(())
            } else {
                Err(format!("finalizers {finalizers:?}, {left_rs} rs, {left_pods} pods, blocker deleting: {}", blocker.metadata.deletion_timestamp.is_some()))
            }
        })
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        cluster
            .api::<Deployment>(ns)
            .get_opt("fg")
            .await
            .unwrap()
            .is_some(),
        "blockOwnerDeletion holds the owner"
    );
    cms.patch(
        "fg-blocker",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    cluster
        .wait("fg deleted once its blocker is gone", || async {
            let d = cluster
                .api::<Deployment>(ns)
                .get_opt("fg")
                .await
                .map_err(|e| e.to_string())?;
            d.is_none()
                .then_some(())
                .ok_or("fg still there".to_string())
        })
        .await;
    // The non-blocking dependent was deleted too (it is only held by its own finalizer).
    let bystander = cms.get("fg-bystander").await.unwrap();
    assert!(bystander.metadata.deletion_timestamp.is_some());
    cms.patch(
        "fg-bystander",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();

    // Any kind: a ConfigMap owned by a ConfigMap.
    let owner = cms
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "owner"}, "data": {}})).unwrap(),
        )
        .await
        .unwrap();
    let dependent = owned_configmap(
        "dependent",
        &owner.metadata,
        "ConfigMap",
        "v1",
        false,
        false,
    );
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(dependent).unwrap(),
    )
    .await
    .unwrap();
    // An owner reference to something that never existed is dangling from the start.
    let ghost = kube::api::ObjectMeta {
        name: Some("ghost".into()),
        uid: Some("00000000-0000-4000-8000-000000000000".into()),
        ..Default::default()
    };
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(owned_configmap(
            "haunted",
            &ghost,
            "ConfigMap",
            "v1",
            false,
            false,
        ))
        .unwrap(),
    )
    .await
    .unwrap();
    cluster.kubectl_ok(&["delete", "configmap", "owner"]).await;
    cluster
        .wait(
            "dependents of deleted and missing owners collected",
            || async {
                let dependent = cms.get_opt("dependent").await.map_err(|e| e.to_string())?;
                let haunted = cms.get_opt("haunted").await.map_err(|e| e.to_string())?;
                (dependent.is_none() && haunted.is_none())
                    .then_some(())
                    .ok_or("still there".to_string())
            },
        )
        .await;
}

// ---------------------------------------------------------------------------------------------
// 5. Namespaces
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn namespace_deletion_empties_then_removes_it() {
    let cluster = Cluster::start(&["--controllers=*,-node-lifecycle-controller"])
        .await
        .with_hollow_nodes(&["node-a"])
        .await;
    cluster.kubectl_ok(&["create", "namespace", "team"]).await;
    let team = "team";
    cluster
        .wait("the default ServiceAccount of team", || async {
            let sa = cluster
                .api::<ServiceAccount>(team)
                .get_opt("default")
                .await
                .map_err(|e| e.to_string())?;
            sa.map(|_| ()).ok_or("not yet".to_string())
        })
        .await;
    let path = cluster
        .cp
        .write_file("app.yaml", &deployment_yaml("app", 2, "busybox", ""))
        .unwrap();
    cluster
        .kubectl_ok(&["apply", "-n", team, "-f", &path.to_string_lossy()])
        .await;
    cluster
        .kubectl_ok(&[
            "-n",
            team,
            "create",
            "configmap",
            "settings",
            "--from-literal=a=b",
        ])
        .await;
    cluster
        .kubectl_ok(&[
            "-n",
            team,
            "create",
            "secret",
            "generic",
            "token",
            "--from-literal=t=x",
        ])
        .await;
    cluster
        .kubectl_ok(&[
            "-n",
            team,
            "create",
            "service",
            "clusterip",
            "app",
            "--tcp=80:8080",
        ])
        .await;
    cluster
        .kubectl_ok(&[
            "-n",
            team,
            "rollout",
            "status",
            "deployment/app",
            "--timeout=60s",
        ])
        .await;

    cluster
        .kubectl_ok(&["delete", "namespace", team, "--wait=false"])
        .await;
    let namespaces: Api<Namespace> = Api::all(cluster.client.clone());
    let phase = namespaces
        .get_opt(team)
        .await
        .unwrap()
        .and_then(|n| n.status)
        .and_then(|s| s.phase);
    // It may already be gone on a fast machine; if not, it says Terminating.
    if let Some(phase) = phase {
        assert_eq!(phase, "Terminating");
    }
    cluster
        .wait("namespace team gone", || async {
            match namespaces.get_opt(team).await.map_err(|e| e.to_string())? {
                None => Ok(()),
                Some(n) => Err(format!("{:?}", n.status)),
            }
        })
        .await;
    for (kind, count) in [
        (
            "pods",
            cluster
                .api::<Pod>(team)
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .len(),
        ),
        (
            "replicasets",
            cluster
                .api::<ReplicaSet>(team)
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .len(),
        ),
        (
            "services",
            cluster
                .api::<Service>(team)
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .len(),
        ),
    ] {
        assert_eq!(count, 0, "{kind} left in a deleted namespace");
    }
    let out = cluster.kubectl(&["get", "namespace", team]).await;
    assert!(
        !out.success() && out.stderr.contains("NotFound"),
        "{}",
        describe_output(&out)
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Nodes
// ---------------------------------------------------------------------------------------------

fn node_condition(node: &Node, type_: &str) -> Option<String> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| c.status.clone())
}

fn taint_keys(node: &Node) -> BTreeSet<String> {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .map(|t| {
            t.iter()
                .map(|t| format!("{}:{}", t.key, t.effect))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unreachable_nodes_are_tainted_and_their_pods_replaced() {
    let cluster = Cluster::start(&[
        "--node-monitor-grace-period=4s",
        "--node-monitor-period=1s",
        "--default-unreachable-toleration-seconds=3",
        "--allocate-node-cidrs",
        "--cluster-cidr=10.244.0.0/16",
    ])
    .await
    .with_hollow_nodes(&["node-a", "node-b"])
    .await;
    let ns = "default";
    let nodes: Api<Node> = Api::all(cluster.client.clone());

    // Node IPAM: a distinct /24 each.
    let cidrs = cluster
        .wait("pod CIDRs", || async {
            let mut cidrs = BTreeSet::new();
            for n in ["node-a", "node-b"] {
                let node = nodes.get(n).await.map_err(|e| e.to_string())?;
                let spec = node.spec.unwrap_or_default();
                match (spec.pod_cidr, spec.pod_cidrs) {
                    (Some(c), Some(list)) if list == vec![c.clone()] => {
                        cidrs.insert(c);
                    }
                    other => return Err(format!("{n}: {other:?}")),
                }
            }
            Ok(cidrs)
        })
        .await;
    assert_eq!(
        cidrs,
        BTreeSet::from(["10.244.0.0/24".to_string(), "10.244.1.0/24".to_string()])
    );

    cluster
        .apply("spread.yaml", &deployment_yaml("spread", 4, "busybox", ""))
        .await;
    cluster
        .kubectl_ok(&["rollout", "status", "deployment/spread", "--timeout=60s"])
        .await;
    // A pod that tolerates the unreachable taint forever stays.
    let patient: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "patient"},
        "spec": {"nodeName": "node-a", "containers": [{"name": "main", "image": "busybox"}],
                 "tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"}]},
    }))
    .unwrap();
    cluster
        .api::<Pod>(ns)
        .create(&PostParams::default(), &patient)
        .await
        .unwrap();
    let on_a: BTreeSet<String> = cluster
        .pods(ns, "app=spread")
        .await
        .iter()
        .filter(|p| node_of(p).as_deref() == Some("node-a"))
        .map(|p| name(&p.metadata))
        .collect();
    assert!(!on_a.is_empty(), "round robin put pods on node-a");

    // node-a stops renewing its Lease.
    cluster.hollow().set_alive("node-a", false);
    cluster
        .wait("node-a Unknown and tainted unreachable", || async {
            let node = nodes.get("node-a").await.map_err(|e| e.to_string())?;
            let taints = taint_keys(&node);
            let ready = node_condition(&node, "Ready");
            if ready.as_deref() == Some("Unknown")
                && taints.contains("node.kubernetes.io/unreachable:NoExecute")
                && taints.contains("node.kubernetes.io/unreachable:NoSchedule")
            {
                Ok(())
            } else {
                Err(format!("Ready={ready:?} taints={taints:?}"))
            }
        })
        .await;
    let b = nodes.get("node-b").await.unwrap();
    assert_eq!(node_condition(&b, "Ready").as_deref(), Some("True"));
    assert!(
        taint_keys(&b).is_empty(),
        "node-b untouched: {:?}",
        taint_keys(&b)
    );

    // Its pods are marked not ready, evicted after the default 3 s, and replaced on node-b.
    cluster
        .wait("node-a's pods evicted and replaced on node-b", || async {
            let pods = cluster.pods(ns, "app=spread").await;
            let evicted = on_a.iter().all(|n| {
                pods.iter()
                    .any(|p| name(&p.metadata) == *n && is_terminating(p))
            });
            let live_on_b = pods
                .iter()
                .filter(|p| {
                    !is_terminating(p) && is_ready(p) && node_of(p).as_deref() == Some("node-b")
                })
                .count();
            (evicted && live_on_b == 4)
                .then_some(())
                .ok_or(format!("evicted {evicted}, {live_on_b} ready on node-b"))
        })
        .await;
    let patient = cluster.api::<Pod>(ns).get("patient").await.unwrap();
    assert!(
        !is_terminating(&patient),
        "a pod tolerating the taint stays"
    );
    cluster
        .kubectl_ok(&["rollout", "status", "deployment/spread", "--timeout=60s"])
        .await;

    // node-a comes back: Ready again, taints removed.
    cluster.hollow().set_alive("node-a", true);
    cluster
        .wait("node-a Ready and untainted", || async {
            let node = nodes.get("node-a").await.map_err(|e| e.to_string())?;
            let taints = taint_keys(&node);
            (node_condition(&node, "Ready").as_deref() == Some("True") && taints.is_empty())
                .then_some(())
                .ok_or(format!("{taints:?}"))
        })
        .await;

    // Health and metrics.
    let health = http_get(
        &format!("http://127.0.0.1:{}/healthz", cluster.kcm_port),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!((health.status, health.body.as_str()), (200, "ok"));
    let metrics = http_get(
        &format!("http://127.0.0.1:{}/metrics", cluster.kcm_port),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert!(metrics.body.contains("controller_manager_reconciles_total{controller=\"node-lifecycle-controller\",result=\"success\"}"), "{}", metrics.body);
}

// ---------------------------------------------------------------------------------------------
// 7. Leader election
// ---------------------------------------------------------------------------------------------

async fn lease_holder(client: &Client) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
    leases
        .get_opt("kube-controller-manager")
        .await
        .ok()
        .flatten()
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
        .filter(|h| !h.is_empty())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leader_election_runs_one_replica_at_a_time() {
    let election = [
        "--controllers=replicaset",
        "--leader-elect=true",
        "--leader-elect-lease-duration=4s",
        "--leader-elect-renew-deadline=3s",
        "--leader-elect-retry-period=500ms",
    ];
    let mut cluster = Cluster::start(&election).await;
    let port = free_port().expect("free port");
    let mut args: Vec<String> = vec![
        "--kubeconfig".into(),
        cluster.cp.kubeconfig().to_string_lossy().into_owned(),
        "--bind-address=127.0.0.1".into(),
        format!("--secure-port={port}"),
    ];
    args.extend(election.iter().map(|a| a.to_string()));
    let mut second = Launch::binary("kube-controller-manager")
        .unwrap()
        .label("kube-controller-manager-2")
        .args(&args)
        .spawn()
        .unwrap();
    wait_for_healthz(&format!("http://127.0.0.1:{port}/healthz"), WAIT)
        .await
        .unwrap();

    let holder = cluster
        .wait("a leader", || async {
            lease_holder(&cluster.client)
                .await
                .ok_or("no holder yet".to_string())
        })
        .await;
    let rss: Api<ReplicaSet> = cluster.api("default");
    rss.create(&PostParams::default(), &replicaset_json("le1", 2, 0))
        .await
        .unwrap();
    cluster
        .wait("le1's pods", || async {
            let n = cluster.pods("default", "app=le1").await.len();
            (n == 2).then_some(()).ok_or(format!("{n} pods"))
        })
        .await;
    let first_leads = cluster.kcm.log().contains("successfully acquired lease");
    let second_leads = second.log().contains("successfully acquired lease");
    assert!(
        first_leads != second_leads,
        "exactly one replica leads (first {first_leads}, second {second_leads})"
    );

    // The leader dies without releasing the lease; the standby takes over once it expires.
    if first_leads {
        cluster.kcm.signal("KILL");
    } else {
        second.signal("KILL");
    }
    cluster
        .wait_for("a new leader", Duration::from_secs(30), || async {
            match lease_holder(&cluster.client).await {
                Some(h) if h != holder => Ok(()),
                other => Err(format!("holder {other:?}")),
            }
        })
        .await;
    rss.create(&PostParams::default(), &replicaset_json("le2", 2, 0))
        .await
        .unwrap();
    cluster
        .wait("le2's pods from the new leader", || async {
            let n = cluster.pods("default", "app=le2").await.len();
            (n == 2).then_some(()).ok_or(format!("{n} pods"))
        })
        .await;
    let survivor = if first_leads {
        second.log()
    } else {
        cluster.kcm.log()
    };
    assert!(
        survivor.contains("successfully acquired lease"),
        "{survivor}"
    );
    second.stop();
}
