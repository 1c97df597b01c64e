//! `make bench`: how fast the apiserver writes and lists pods, next to raw etcd.
//!
//! One run, one machine, one etcd: (1) raw etcd puts of pod-sized JSON values, the floor the
//! apiserver cannot beat; (2) creating pods through our kube-apiserver with kube-rs (decode,
//! defaults, validation, admission, the etcd transaction), throughput and p50/p99 latency;
//! (3) listing all of them, from etcd (`resourceVersion` unset) and from the watch cache
//! (`resourceVersion=0`). `APISERVER_BENCH_PODS` sets the count (default 10,000).
//!
//! Needs the release apiserver: `cargo build --release -p tinykube-apiserver --bins` (the
//! Makefile's `bench` target does it).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{stream, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;
use tinykube_tests::bench::percentile;
use tinykube_tests::ControlPlane;

/// Requests in flight at once, from one client.
const CONCURRENCY: usize = 16;

fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "bench"}},
        "spec": {"containers": [{"name": "c", "image": "busybox:latest", "command": ["sleep", "3600"],
                                 "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}
    }))
    .expect("a valid pod")
}

fn report(what: &str, count: usize, elapsed: Duration, mut latencies: Vec<Duration>) {
    latencies.sort();
    println!(
        "{what:<44} {count:>6} in {:>7.2} s  {:>8.0}/s  p50 {:>7.2} ms  p99 {:>7.2} ms",
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.50).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
    );
}

async fn timed<F: std::future::Future<Output = ()>>(work: F) -> Duration {
    let start = Instant::now();
    work.await;
    start.elapsed()
}

#[tokio::main]
async fn main() {
    let count: usize = std::env::var("APISERVER_BENCH_PODS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let cp = ControlPlane::start().await.unwrap_or_else(|e| {
        panic!("{e}\n(needs the release apiserver: cargo build --release -p tinykube-apiserver --bins)")
    });

    // 1. Raw etcd: the same JSON a stored pod has, under a key of our own.
    let etcd = etcd_client::Client::connect([cp.etcd().client_url()], None)
        .await
        .expect("etcd answers");
    let value = serde_json::to_vec(&pod("raw")).expect("json");
    let started = Instant::now();
    let latencies: Vec<Duration> = stream::iter(0..count)
        .map(|i| {
            let mut kv = etcd.kv_client();
            let value = value.clone();
            async move {
                let start = Instant::now();
                kv.put(format!("/bench/raw/{i}"), value, None)
                    .await
                    .expect("put");
                start.elapsed()
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    report(
        "raw etcd put (pod-sized JSON)",
        count,
        started.elapsed(),
        latencies,
    );

    // 2. Pods through the apiserver.
    let config = kube::Config::new(cp.url().parse().expect("url"));
    let client = kube::Client::try_from(config).expect("client");
    let pods: Arc<Api<Pod>> = Arc::new(Api::namespaced(client, "default"));
    let started = Instant::now();
    let latencies: Vec<Duration> = stream::iter(0..count)
        .map(|i| {
            let pods = pods.clone();
            async move {
                let start = Instant::now();
                pods.create(&PostParams::default(), &pod(&format!("bench-{i}")))
                    .await
                    .expect("create");
                start.elapsed()
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    report(
        "create pod through kube-apiserver",
        count,
        started.elapsed(),
        latencies,
    );

    // 3. Lists of everything, five times each way.
    for (what, params) in [
        ("list all pods (from etcd)", ListParams::default()),
        (
            "list all pods (resourceVersion=0, cache)",
            ListParams::default().match_any(),
        ),
    ] {
        let mut latencies = Vec::new();
        let mut total = Duration::ZERO;
        for _ in 0..5 {
            let elapsed = timed(async {
                let list = pods.list(&params).await.expect("list");
                assert_eq!(list.items.len(), count, "every pod is listed");
            })
            .await;
            total += elapsed;
            latencies.push(elapsed);
        }
        report(what, 5, total, latencies);
    }
}
