//! `make bench`: scheduler throughput, scheduler_perf style (upstream
//! `test/integration/scheduler_perf`, workload `SchedulingBasic/5000Nodes_10000Pods`, whose CI
//! floor is 270 pods/s).
//!
//! Nodes are upstream's `node-default.yaml` (4 cpu, 32Gi, 110 pods, Ready); pods are
//! `pod-default.yaml` (one container requesting 100m cpu and 500Mi memory). Three figures:
//!
//! 1. **algorithm alone**: the in-process decision (digest the pod, filter, score, assume) for
//!    10,000 pods over 5,000 nodes, no API at all — the ceiling the rest is measured against;
//! 2. **backlog through the API**: 5,000 Node objects and 10,000 pending pods are created in a
//!    real etcd through our kube-apiserver, then our kube-scheduler (release build) starts;
//!    pods/s from its first binding to its last;
//! 3. **streaming through the API**: with the scheduler running, 10,000 more pods are created
//!    as fast as the client can; pods/s from the first creation to the last binding (as
//!    upstream measures: the scheduler keeps up with creations or not).
//!
//! Every pod is checked to be bound, and no node over its allocatable, at the end.
//!
//! Needs release binaries of the apiserver and scheduler:
//! `cargo build --release -p tinykube-apiserver -p tinykube-scheduler --bins` (the Makefile's
//! `bench` target does it). Set `SCHEDULER_BENCH_API=0` to run only the in-process part.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;
use tinykube_scheduler::algorithm::Algorithm;
use tinykube_scheduler::cache::Cache;
use tinykube_tests::{free_port, http_get, wait_for_healthz, ControlPlane, Launch, Process};

const NODES: usize = 5_000;
const PODS: usize = 10_000;
/// Pods placed before measuring, as upstream's `initPods`.
const INIT_PODS: usize = 1_000;
/// Concurrent creations from the benchmark's client.
const CREATE_CONCURRENCY: usize = 64;
/// Upstream's CI floor for SchedulingBasic/5000Nodes_10000Pods.
const UPSTREAM_FLOOR: f64 = 270.0;
/// Bound on waiting for the scheduler to place a batch.
const BATCH_TIMEOUT: Duration = Duration::from_secs(600);

fn node(i: usize) -> Node {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": format!("node-{i}"), "labels": {"kubernetes.io/hostname": format!("node-{i}")}},
        "status": {
            "capacity": {"pods": "110", "cpu": "4", "memory": "32Gi"},
            "allocatable": {"pods": "110", "cpu": "4", "memory": "32Gi"},
            "conditions": [{"type": "Ready", "status": "True"}],
            "phase": "Running",
        },
    }))
    .expect("node json")
}

fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"containers": [{
            "name": "pause",
            "image": "registry.k8s.io/pause:3.10",
            "ports": [{"containerPort": 80}],
            "resources": {
                "requests": {"cpu": "100m", "memory": "500Mi"},
                "limits": {"cpu": "100m", "memory": "500Mi"},
            },
        }]},
    }))
    .expect("pod json")
}

fn rate(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

/// Figure 1: the decision procedure alone.
fn in_process() -> f64 {
    let mut cache = Cache::new();
    for i in 0..NODES {
        cache.upsert_node(&node(i));
    }
    let mut algorithm = Algorithm::new(42);
    let mut place = |name: String| {
        let info = Arc::new(cache.pod_info(&pod(&name)));
        let decision = algorithm
            .schedule(&info, cache.nodes())
            .expect("every pod fits");
        cache.assume(info, &decision.node_name);
        black_box(decision);
    };
    for i in 0..INIT_PODS {
        place(format!("init-{i}"));
    }
    let pods: Vec<String> = (0..PODS).map(|i| format!("pod-{i}")).collect();
    let started = Instant::now();
    for name in pods {
        place(name);
    }
    let elapsed = started.elapsed();
    let per_second = rate(PODS, elapsed);
    println!(
        "algorithm alone (no API)           {PODS:>6} pods / {NODES} nodes in {:>8.3} s  {per_second:>10.0} pods/s  ({:.1} µs per pod)",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / PODS as f64
    );
    per_second
}

async fn create_all<K, F>(api: &Api<K>, count: usize, make: F) -> Duration
where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
    F: Fn(usize) -> K,
{
    let started = Instant::now();
    let results: Vec<Result<K, kube::Error>> = futures::stream::iter(0..count)
        .map(|i| {
            let object = make(i);
            async move { api.create(&PostParams::default(), &object).await }
        })
        .buffer_unordered(CREATE_CONCURRENCY)
        .collect()
        .await;
    let failures: Vec<String> = results
        .into_iter()
        .filter_map(|r| r.err().map(|e| e.to_string()))
        .take(3)
        .collect();
    assert!(failures.is_empty(), "creations failed: {failures:?}");
    started.elapsed()
}

/// The value of the first sample of `/metrics` at `url` whose line starts with `prefix` and
/// contains `label`.
async fn metric(url: &str, prefix: &str, label: &str) -> Option<usize> {
    let body = http_get(url, Duration::from_secs(5)).await.ok()?.body;
    body.lines()
        .find(|l| l.starts_with(prefix) && l.contains(label))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .map(|v| v as usize)
}

/// `scheduler_schedule_attempts_total{result="scheduled"}` from the scheduler's /metrics.
async fn scheduled_count(metrics_url: &str) -> Option<usize> {
    metric(
        metrics_url,
        "scheduler_schedule_attempts_total{",
        "result=\"scheduled\"",
    )
    .await
}

/// Polls until `target` pods are scheduled; returns (time of the first increase, time the
/// target was reached), polled every 20 ms.
async fn wait_scheduled(
    metrics_url: &str,
    target: usize,
    scheduler: &Process,
) -> (Instant, Instant) {
    let deadline = Instant::now() + BATCH_TIMEOUT;
    let baseline = scheduled_count(metrics_url).await.unwrap_or(0);
    let mut first = None;
    loop {
        let now = Instant::now();
        let count = scheduled_count(metrics_url).await.unwrap_or(0);
        if count > baseline && first.is_none() {
            first = Some(now);
        }
        if count >= target {
            return (first.unwrap_or(now), now);
        }
        assert!(
            now < deadline,
            "only {count}/{target} pods scheduled after {BATCH_TIMEOUT:?}\n{}",
            scheduler.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every pod, listed in pages of 500 (as kubectl and client-go pagers do).
async fn list_pods(pods: &Api<Pod>) -> Vec<Pod> {
    let mut all = Vec::new();
    let mut params = ListParams::default().limit(500);
    loop {
        let page = pods.list(&params).await.expect("list pods");
        all.extend(page.items);
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return all,
        }
    }
}

/// Checks every pod is bound and no node holds more than its allocatable.
async fn verify(pods: &Api<Pod>, expected: usize) {
    let items = list_pods(pods).await;
    let mut per_node: BTreeMap<String, (i64, i64, i64)> = BTreeMap::new();
    let mut unbound = 0;
    for pod in &items {
        match pod.spec.as_ref().and_then(|s| s.node_name.clone()) {
            Some(node) => {
                let entry = per_node.entry(node).or_default();
                entry.0 += 1;
                entry.1 += 100;
                entry.2 += 500 << 20;
            }
            None => unbound += 1,
        }
    }
    assert_eq!(items.len(), expected, "pod count");
    assert_eq!(unbound, 0, "unbound pods remain");
    for (node, (count, cpu, memory)) in &per_node {
        assert!(
            *count <= 110 && *cpu <= 4000 && *memory <= 32 << 30,
            "{node} overcommitted: {count} pods, {cpu}m, {memory} bytes"
        );
    }
    let max = per_node.values().map(|v| v.0).max().unwrap_or(0);
    println!(
        "verified: {expected} pods bound on {} nodes (at most {max} per node), none over allocatable",
        per_node.len()
    );
}

/// Starts kube-scheduler against `cp` on a free port; returns it and its metrics URL once
/// healthy.
async fn start_scheduler(cp: &ControlPlane) -> (Process, String) {
    let port = free_port().expect("free port");
    let scheduler = Launch::binary("kube-scheduler")
        .expect("kube-scheduler (release) is built")
        .arg("--kubeconfig")
        .arg(cp.kubeconfig())
        .args([
            "--bind-address",
            "127.0.0.1",
            "--secure-port",
            &port.to_string(),
        ])
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("start kube-scheduler");
    wait_for_healthz(
        &format!("http://127.0.0.1:{port}/healthz"),
        Duration::from_secs(30),
    )
    .await
    .expect("scheduler healthz");
    (scheduler, format!("http://127.0.0.1:{port}/metrics"))
}

async fn through_api() {
    let cp = ControlPlane::start().await.unwrap_or_else(|e| {
        panic!("{e}\n(the API part needs release binaries: cargo build --release -p tinykube-apiserver -p tinykube-scheduler --bins; SCHEDULER_BENCH_API=0 skips it)")
    });
    let config = kube::Config::new(cp.url().parse().expect("url"));
    let client = kube::Client::try_from(config).expect("client");
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");

    let took = create_all(&nodes, NODES, node).await;
    println!(
        "setup: {NODES} nodes created in {:.1} s ({:.0}/s)",
        took.as_secs_f64(),
        rate(NODES, took)
    );

    // The scheduler places the initial pods first (not measured).
    let started = Instant::now();
    let (scheduler, metrics_url) = start_scheduler(&cp).await;
    create_all(&pods, INIT_PODS, |i| pod(&format!("init-{i}"))).await;
    wait_scheduled(&metrics_url, INIT_PODS, &scheduler).await;

    // Figure 2: a backlog of pending pods, created while the scheduler is stopped.
    drop(scheduler);
    let took = create_all(&pods, PODS, |i| pod(&format!("backlog-{i}"))).await;
    println!(
        "setup: {PODS} pending pods created in {:.1} s ({:.0}/s)",
        took.as_secs_f64(),
        rate(PODS, took)
    );
    let restarted = Instant::now();
    let (scheduler, metrics_url) = start_scheduler(&cp).await;
    let (first, last) = wait_scheduled(&metrics_url, PODS, &scheduler).await;
    let backlog = rate(PODS, last - first);
    println!(
        "backlog through apiserver + etcd   {PODS:>6} pods / {NODES} nodes in {:>8.3} s  {backlog:>10.0} pods/s  (first binding {:.2} s after start; {:.0} pods/s counting start-up)",
        (last - first).as_secs_f64(),
        (first - restarted).as_secs_f64(),
        rate(PODS, last - restarted),
    );

    // Figure 3: pods created while the scheduler runs.
    let created_from = Instant::now();
    let creating = create_all(&pods, PODS, |i| pod(&format!("stream-{i}")));
    let waiting = wait_scheduled(&metrics_url, 2 * PODS, &scheduler);
    let (took, (_, last)) = tokio::join!(creating, waiting);
    let streaming = rate(PODS, last - created_from);
    println!(
        "streaming through apiserver + etcd {PODS:>6} pods / {NODES} nodes in {:>8.3} s  {streaming:>10.0} pods/s  (creating them took {:.2} s; last binding {:.0} ms after the last creation)",
        (last - created_from).as_secs_f64(),
        took.as_secs_f64(),
        (last - created_from).saturating_sub(took).as_secs_f64() * 1000.0,
    );
    let dropped = metric(&metrics_url, "scheduler_events_dropped_total", "")
        .await
        .unwrap_or(0);
    println!("events: {dropped} of {} Scheduled events dropped by the bounded event queue (as upstream's recorder drops)", 2 * PODS);
    verify(&pods, INIT_PODS + 2 * PODS).await;
    println!(
        "upstream CI floor for SchedulingBasic/5000Nodes_10000Pods: {UPSTREAM_FLOOR:.0} pods/s; total bench time {:.0} s",
        started.elapsed().as_secs_f64()
    );
    drop(scheduler);
}

fn main() {
    // `cargo bench` passes `--bench`; anything else (a filter) is ignored.
    println!("kube-scheduler throughput, scheduler_perf SchedulingBasic style ({NODES} nodes, {PODS} pods, {INIT_PODS} placed first)");
    in_process();
    if std::env::var("SCHEDULER_BENCH_API").as_deref() == Ok("0") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(through_api());
}
