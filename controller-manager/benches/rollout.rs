//! `make bench`: a 1,000-replica Deployment through our kube-controller-manager (issue #7).
//!
//! A real etcd, our kube-apiserver and our kube-controller-manager (release builds) run on
//! loopback; no scheduler or kubelet. A *hollow status writer* in this process stands in for
//! the kubelets, as in `tests/tests/controllers.rs`: it watches the benchmark's pods and marks
//! every new one Running and Ready with a pod IP through the status subresource (up to
//! [`STATUS_CONCURRENCY`] writes at once). Pods are never bound, so the apiserver deletes
//! them at once when a ReplicaSet scales down (upstream does the same for unscheduled pods).
//!
//! Figures:
//! 1. **create**: from creating the Deployment to its 1,000th pod existing, and to the
//!    Deployment reporting 1,000 available replicas (`kubectl rollout status` returning);
//! 2. **rolling update**: from changing the image (default strategy, 25% surge and
//!    unavailable) to the Deployment reporting the rollout complete — every replica updated
//!    and available, no old pods left;
//! 3. **memory**: the controller manager's VmRSS and VmHWM (peak) from `/proc` at that size.
//!
//! Needs release binaries: `cargo build --release -p tinykube-apiserver -p
//! tinykube-controller-manager --bins` (the Makefile's `bench` target builds everything).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use kube::runtime::WatchStreamExt;
use serde_json::json;
use tinykube_tests::bench::status_kib;
use tinykube_tests::{free_port, wait_for_healthz, ControlPlane, Launch, Process};
use tokio::sync::Semaphore;

const REPLICAS: i32 = 1_000;
const NAMESPACE: &str = "bench";
const DEPLOYMENT: &str = "web";
/// Status writes the hollow writer keeps in flight.
const STATUS_CONCURRENCY: usize = 32;
/// Bound on each measured phase.
const PHASE_TIMEOUT: Duration = Duration::from_secs(600);

fn deployment(image: &str) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": DEPLOYMENT, "namespace": NAMESPACE},
        "spec": {
            "replicas": REPLICAS,
            "selector": {"matchLabels": {"app": DEPLOYMENT}},
            "template": {
                "metadata": {"labels": {"app": DEPLOYMENT}},
                "spec": {"containers": [{
                    "name": "web",
                    "image": image,
                    "ports": [{"containerPort": 8080}],
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                }]},
            },
        },
    }))
    .expect("deployment json")
}

/// What the hollow status writer has seen.
#[derive(Default)]
struct HollowCounts {
    /// Uids of every pod ever seen.
    seen: HashSet<String>,
    /// When the pod count first reached each milestone we wait for.
    reached: Vec<(usize, Instant)>,
    errors: Vec<String>,
}

fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Marks `pod` Running and Ready with `ip`.
async fn mark_ready(pods: &Api<Pod>, pod: &Pod, ip: &str) -> kube::Result<()> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let now = jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_default();
    let now = now.to_string();
    let patch = json!({"status": {
        "phase": "Running",
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "hostIP": "192.0.2.1",
        "startTime": now,
        "conditions": [
            {"type": "Initialized", "status": "True", "lastTransitionTime": now},
            {"type": "ContainersReady", "status": "True", "lastTransitionTime": now},
            {"type": "Ready", "status": "True", "lastTransitionTime": now},
        ],
        "containerStatuses": [{"name": "web", "ready": true, "restartCount": 0, "image": "web",
            "imageID": "", "started": true, "state": {"running": {"startedAt": now}}}],
    }});
    pods.patch_status(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .map(|_| ())
}

/// The hollow status writer: see the module docs. Runs until aborted.
async fn hollow_status_writer(pods: Api<Pod>, counts: Arc<Mutex<HollowCounts>>) {
    let permits = Arc::new(Semaphore::new(STATUS_CONCURRENCY));
    let mut next_ip: u32 = 0;
    let stream = watcher(pods.clone(), watcher::Config::default()).applied_objects();
    let mut stream = std::pin::pin!(stream);
    while let Some(event) = stream.next().await {
        let pod = match event {
            Ok(pod) => pod,
            Err(e) => {
                counts.lock().unwrap().errors.push(format!("watch: {e}"));
                continue;
            }
        };
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        {
            let mut counts = counts.lock().unwrap();
            if counts.seen.insert(uid) {
                let total = counts.seen.len();
                counts.reached.push((total, Instant::now()));
            }
        }
        if is_ready(&pod) || pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        next_ip += 1;
        let ip = format!(
            "10.{}.{}.{}",
            100 + next_ip / 65_536,
            (next_ip / 256) % 256,
            next_ip % 256
        );
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let pods = pods.clone();
        let counts = counts.clone();
        tokio::spawn(async move {
            if let Err(e) = mark_ready(&pods, &pod, &ip).await {
                // A pod deleted meanwhile is not an error of the benchmark.
                if !matches!(&e, kube::Error::Api(s) if s.code == 404) {
                    counts.lock().unwrap().errors.push(format!("status: {e}"));
                }
            }
            drop(permit);
        });
    }
}

/// The moment the hollow writer first saw `count` distinct pods.
fn time_reached(counts: &Mutex<HollowCounts>, count: usize) -> Option<Instant> {
    let counts = counts.lock().unwrap();
    counts
        .reached
        .iter()
        .find(|(n, _)| *n >= count)
        .map(|(_, at)| *at)
}

/// Whether the Deployment's status says the rollout of generation `generation` is complete,
/// as `kubectl rollout status` decides it.
fn rolled_out(d: &Deployment, generation: i64) -> bool {
    let Some(status) = d.status.as_ref() else {
        return false;
    };
    status.observed_generation.unwrap_or(0) >= generation
        && status.updated_replicas.unwrap_or(0) == REPLICAS
        && status.replicas.unwrap_or(0) == REPLICAS
        && status.available_replicas.unwrap_or(0) == REPLICAS
}

/// Polls until `done(deployment)`; panics with the controller manager's log after
/// [`PHASE_TIMEOUT`].
async fn wait_for(
    deployments: &Api<Deployment>,
    kcm: &Process,
    what: &str,
    done: impl Fn(&Deployment) -> bool,
) -> Instant {
    let deadline = Instant::now() + PHASE_TIMEOUT;
    loop {
        let last = match deployments.get(DEPLOYMENT).await {
            Ok(d) if done(&d) => return Instant::now(),
            Ok(d) => format!("status {:?}", d.status),
            Err(e) => format!("get failed: {e}"),
        };
        if Instant::now() > deadline {
            panic!(
                "{what}: not done after {PHASE_TIMEOUT:?}; {last}\n{}",
                kcm.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `VmRSS` and `VmHWM` of `pid` in MiB.
fn memory_mib(pid: u32) -> (f64, f64) {
    let mib = |field| status_kib(pid, field).map_or(f64::NAN, |kib| kib as f64 / 1024.0);
    (mib("VmRSS"), mib("VmHWM"))
}

async fn run() {
    let cp = ControlPlane::start().await.unwrap_or_else(|e| {
        panic!("{e}\n(needs release binaries: cargo build --release -p tinykube-apiserver -p tinykube-controller-manager --bins)")
    });
    let port = free_port().expect("free port");
    let mut kcm = Launch::binary("kube-controller-manager")
        .expect("kube-controller-manager (release) is built")
        .arg("--kubeconfig")
        .arg(cp.kubeconfig())
        .args([
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            &format!("--secure-port={port}"),
        ])
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("start kube-controller-manager");
    wait_for_healthz(
        &format!("http://127.0.0.1:{port}/healthz"),
        Duration::from_secs(30),
    )
    .await
    .expect("kube-controller-manager healthz");
    let (idle_rss, _) = memory_mib(kcm.pid());

    let config = kube::Config::new(cp.url().parse().expect("apiserver url"));
    let client = kube::Client::try_from(config).expect("client");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": NAMESPACE}})).expect("ns"),
        )
        .await
        .expect("create namespace");
    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NAMESPACE);
    let counts = Arc::new(Mutex::new(HollowCounts::default()));
    let writer = tokio::spawn(hollow_status_writer(pods.clone(), counts.clone()));

    // Figure 1: a fresh Deployment.
    let created = Instant::now();
    deployments
        .create(&PostParams::default(), &deployment("web:1"))
        .await
        .expect("create deployment");
    let available = wait_for(&deployments, &kcm, "first rollout", |d| rolled_out(d, 1)).await;
    let all_created = time_reached(&counts, REPLICAS as usize).unwrap_or(available);
    println!(
        "create  {REPLICAS} replicas: {REPLICAS} pods created in {:>7.2} s ({:.0} pods/s); available in {:>7.2} s",
        (all_created - created).as_secs_f64(),
        f64::from(REPLICAS) / (all_created - created).as_secs_f64(),
        (available - created).as_secs_f64(),
    );
    let (rss, _) = memory_mib(kcm.pid());
    println!("memory  after create:         VmRSS {rss:>7.1} MiB (idle before: {idle_rss:.1} MiB)");

    // Figure 2: a rolling update of every replica.
    let patched = deployments
        .patch(
            DEPLOYMENT,
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [
                {"name": "web", "image": "web:2"}]}}}})),
        )
        .await
        .expect("update image");
    let generation = patched.metadata.generation.unwrap_or(2);
    let updated = Instant::now();
    let done = wait_for(&deployments, &kcm, "rolling update", |d| {
        rolled_out(d, generation)
    })
    .await;
    // Old pods are gone when the old ReplicaSet reached zero; count what is left.
    let left = pods.list(&Default::default()).await.map(|l| l.items.len());
    println!(
        "update  {REPLICAS} replicas: rolled out in {:>7.2} s ({:.0} pods replaced/s); {} pods afterwards",
        (done - updated).as_secs_f64(),
        f64::from(REPLICAS) / (done - updated).as_secs_f64(),
        left.map(|n| n.to_string()).unwrap_or_else(|e| e.to_string()),
    );
    let (rss, hwm) = memory_mib(kcm.pid());
    println!("memory  after rolling update: VmRSS {rss:>7.1} MiB, peak (VmHWM) {hwm:.1} MiB");

    writer.abort();
    let errors = counts.lock().unwrap().errors.clone();
    if !errors.is_empty() {
        println!(
            "hollow status writer: {} errors, first: {}",
            errors.len(),
            errors[0]
        );
    }
    assert!(
        kcm.is_running(),
        "controller manager died\n{}",
        kcm.log_tail()
    );
    drop(kcm);
    drop(cp);
}

fn main() {
    // `cargo bench` passes `--bench`; anything else (a filter) is ignored.
    println!(
        "kube-controller-manager: a {REPLICAS}-replica Deployment, hollow status writer ({STATUS_CONCURRENCY} writes in flight)"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run());
}
