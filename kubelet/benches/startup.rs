//! `cargo bench -p tinykube-kubelet` (root): pod startup latency and kubelet memory.
//!
//! On a one-node cluster-in-a-box ([`tinykube_tests::cluster`]: real etcd and kube-apiserver
//! in a hub namespace, real tinykube-runtime and kubelet in a node namespace, all in network
//! namespaces of its own, removed at the end):
//!
//! 1. **idle RSS, 0 pods**: the kubelet's `VmRSS` (`/proc/<pid>/status`) once the node is Ready
//!    and settled;
//! 2. **pod startup latency**: 20 pods (busybox `sleep`, bound to the node) created at once
//!    with one `kubectl apply`; per pod, the time from its ADDED event to the first event
//!    with `status.phase=Running`, both seen by one `kubectl get pods -w` watch (so the
//!    clock is the watcher's, as upstream's pod startup SLI measures it). p50/p90/p99 over
//!    every pod of every round;
//! 3. **idle RSS, 20 pods**: `VmRSS` with the 20 pods running and settled.
//!
//! Uses the release builds of kube-apiserver, tinykube-runtime and kubelet when all are
//! present (`cargo build --release --workspace --bins`, as `make bench` does), else the debug
//! builds, and says which. `KUBELET_BENCH_ROUNDS` (default 3) sets how many rounds of 20 pods
//! are timed.

use std::collections::HashMap;
use std::io::BufReader;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tinykube_tests::bench::{percentile, select_binaries, status_kib};
use tinykube_tests::cluster::{Cluster, ClusterOptions};
use tinykube_tests::KUBECTL;

/// Pods created at once in each round.
const PODS: usize = 20;
/// How long the kubelet is left alone before its RSS is read.
const SETTLE: Duration = Duration::from_secs(5);
/// Bound on one round (all pods Running) and on the cleanup after it.
const ROUND_TIMEOUT: Duration = Duration::from_secs(180);
/// The binaries the benchmark launches.
const BINARIES: [&str; 3] = ["kube-apiserver", "tinykube-runtime", "kubelet"];

/// The median of five `VmRSS` readings one second apart, after [`SETTLE`].
async fn settled_rss(c: &Cluster) -> anyhow::Result<u64> {
    tokio::time::sleep(SETTLE).await;
    let pid = c.kubelet.as_ref().context("kubelet")?.pid();
    let mut samples = Vec::new();
    for _ in 0..5 {
        samples.push(status_kib(pid, "VmRSS")?);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    samples.sort_unstable();
    Ok(samples[samples.len() / 2])
}

/// One watch event as the benchmark needs it: when it arrived, which pod, which phase.
struct Seen {
    at: Instant,
    kind: String,
    name: String,
    phase: String,
}

/// `kubectl get pods -w --output-watch-events -o json` in the hub namespace, its events read
/// by a thread that stamps each one on arrival.
struct Watch {
    child: std::process::Child,
    events: mpsc::Receiver<Seen>,
}

impl Watch {
    fn start(c: &Cluster) -> anyhow::Result<Watch> {
        let mut child = Command::new("/usr/bin/nsenter")
            .arg(format!("--net=/run/netns/{}", c.network.hub_name()))
            .arg(KUBECTL)
            .arg("--kubeconfig")
            .arg(c.d().join("kubeconfig"))
            .args([
                "get",
                "pods",
                "--watch",
                "--output-watch-events",
                "-o",
                "json",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().context("kubectl stdout")?;
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            let stream = serde_json::Deserializer::from_reader(BufReader::new(stdout))
                .into_iter::<serde_json::Value>();
            for event in stream {
                let Ok(event) = event else { return };
                let at = Instant::now();
                let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
                let seen = Seen {
                    at,
                    kind: text(&event["type"]),
                    name: text(&event["object"]["metadata"]["name"]),
                    phase: text(&event["object"]["status"]["phase"]),
                };
                if tx.send(seen).is_err() {
                    return;
                }
            }
        });
        Ok(Watch { child, events })
    }

    /// The next event, waiting at most until `deadline`.
    fn next(&self, deadline: Instant) -> anyhow::Result<Seen> {
        let left = deadline.saturating_duration_since(Instant::now());
        self.events
            .recv_timeout(left)
            .map_err(|e| anyhow::anyhow!("watch: no event in time ({e})"))
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The round's pods as one multi-document stream (JSON documents are YAML), so one kubectl
/// call creates them all. Not a `kind: List`: kubectl validates Lists against
/// `/openapi/v2`, which our apiserver does not serve.
fn pod_docs(node: &str, round: usize) -> String {
    (0..PODS)
        .map(|i| {
            serde_json::json!({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": format!("start-{round}-{i}"), "labels": {"bench": "startup"}},
                "spec": {
                    "nodeName": node,
                    "terminationGracePeriodSeconds": 0,
                    "containers": [{
                        "name": "c",
                        "image": "busybox",
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["sleep", "3600"],
                    }],
                },
            })
            .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n---\n")
}

/// Creates one round of pods and returns each pod's ADDED -> Running latency.
async fn round(c: &Cluster, watch: &Watch, round: usize) -> anyhow::Result<Vec<Duration>> {
    let out = c
        .kubectl_stdin(&["apply", "-f", "-"], Some(&pod_docs(&c.node_name, round)))
        .await?;
    anyhow::ensure!(out.success(), "apply: {}", out.stderr);
    let prefix = format!("start-{round}-");
    let deadline = Instant::now() + ROUND_TIMEOUT;
    let mut added: HashMap<String, Instant> = HashMap::new();
    let mut running: HashMap<String, Duration> = HashMap::new();
    while running.len() < PODS {
        let seen = watch.next(deadline).with_context(|| {
            format!(
                "round {round}: {} of {PODS} pods Running\n{}",
                running.len(),
                c.logs()
            )
        })?;
        if !seen.name.starts_with(&prefix) {
            continue;
        }
        if seen.kind == "ADDED" {
            added.entry(seen.name.clone()).or_insert(seen.at);
        }
        if seen.phase == "Running" && !running.contains_key(&seen.name) {
            let since = added
                .get(&seen.name)
                .with_context(|| format!("{} Running before ADDED", seen.name))?;
            running.insert(seen.name, seen.at - *since);
        }
    }
    Ok(running.into_values().collect())
}

/// Deletes the round's pods and waits until the runtime holds nothing.
async fn clean(c: &Cluster) -> anyhow::Result<()> {
    let out = c
        .kubectl(&["delete", "pods", "-l", "bench=startup", "--wait=false"])
        .await?;
    anyhow::ensure!(out.success(), "delete: {}", out.stderr);
    c.wait_runtime_empty(ROUND_TIMEOUT)
        .await
        .context("pods not cleaned up")
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

async fn bench() -> anyhow::Result<()> {
    let rounds: usize = std::env::var("KUBELET_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(3);
    let c = Cluster::start_with(ClusterOptions {
        kubelet_log: "info".into(),
        kubelet_args: Vec::new(),
    })
    .await?;
    let idle = settled_rss(&c).await?;
    println!("kubelet RSS, idle, 0 pods             {idle:>8} KiB");

    let watch = Watch::start(&c)?;
    // A pod for another node proves the watch is established before the clock matters.
    let out = c
        .kubectl_stdin(
            &["apply", "-f", "-"],
            Some("apiVersion: v1\nkind: Pod\nmetadata: {name: marker}\nspec:\n  nodeName: elsewhere\n  containers: [{name: c, image: busybox}]\n"),
        )
        .await?;
    anyhow::ensure!(out.success(), "marker: {}", out.stderr);
    let deadline = Instant::now() + ROUND_TIMEOUT;
    while watch.next(deadline)?.name != "marker" {}
    let out = c
        .kubectl(&["delete", "pod", "marker", "--grace-period=0", "--force"])
        .await?;
    anyhow::ensure!(out.success(), "marker: {}", out.stderr);

    let mut latencies = Vec::new();
    let mut busy = 0;
    for r in 0..rounds {
        let started = Instant::now();
        let mut l = round(&c, &watch, r).await?;
        l.sort_unstable();
        println!(
            "round {r}: {PODS} pods Running in {}  (p50 {}, max {})",
            ms(started.elapsed()),
            ms(percentile(&l, 0.50)),
            ms(percentile(&l, 1.0))
        );
        latencies.extend(l);
        if r == 0 {
            busy = settled_rss(&c).await?;
        }
        clean(&c).await?;
    }
    latencies.sort_unstable();
    println!(
        "pod startup latency (ADDED -> Running seen by a watch), {} pods on one node, {PODS} at once:",
        latencies.len()
    );
    println!(
        "  p50 {}   p90 {}   p99 {}   max {}",
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.90)),
        ms(percentile(&latencies, 0.99)),
        ms(percentile(&latencies, 1.0))
    );
    println!("kubelet RSS, idle, {PODS} pods running    {busy:>8} KiB");
    drop(watch);
    c.shutdown().await
}

fn main() -> anyhow::Result<()> {
    // libtest-style flags (`--bench`, filters) are accepted and ignored: this is one scenario.
    // Before any thread starts: it sets the environment the harness finds binaries through.
    let which = select_binaries(&BINARIES)?;
    println!("kubelet startup benchmark; binaries: {which}");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(bench())
}
