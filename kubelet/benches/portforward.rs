//! `cargo bench -p tinykube-kubelet --bench portforward` (root): the port-forward data path.
//!
//! On a one-node cluster-in-a-box ([`tinykube_tests::cluster`]: real etcd and kube-apiserver
//! in a hub namespace, real tinykube-runtime and kubelet in a node namespace, removed at the
//! end), a busybox httpd pod serves a small page and a 64 MiB file. From the hub namespace,
//! `wget` fetches them:
//!
//! 1. **direct**: from the node namespace straight to the pod IP (no forwarding: the floor);
//! 2. **ours**: through our kubectl's `port-forward` (one WebSocket `v4.channel.k8s.io`
//!    session per connection: kubectl -> apiserver -> kubelet -> runtime -> pod);
//! 3. **real**: through the real kubectl's `port-forward` (SPDY/3.1 tunnelled in one
//!    WebSocket session, a stream pair per connection).
//!
//! Per path: the median of `PF_BENCH_ROUNDS` (default 3) transfers of the big file in MiB/s,
//! and p50/p90 of 20 sequential small requests (each a new connection, `wget` process
//! included). Uses release builds when all binaries are there (`cargo build --release
//! --workspace --bins`), else debug builds, and says which.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tinykube_tests::bench::{percentile, select_binaries};
use tinykube_tests::cluster::{cstatus, phase, Cluster};
use tinykube_tests::kubectl::Running;
use tinykube_tests::KUBECTL;

/// Size of the big file, in MiB.
const BIG_MIB: u64 = 64;
/// Small requests timed per path.
const SMALL_REQUESTS: usize = 20;
/// Bound of every single transfer or wait.
const LIMIT: Duration = Duration::from_secs(120);
/// The binaries the benchmark launches.
const BINARIES: [&str; 4] = ["kube-apiserver", "tinykube-runtime", "kubelet", "kubectl"];

fn pod_yaml(node: &str) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata: {{name: web}}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  containers:
  - name: httpd
    image: busybox
    command: [sh, -c, 'mkdir -p /www && echo hello > /www/index.html && dd if=/dev/zero of=/www/big bs=1048576 count={BIG_MIB} 2>/dev/null && exec httpd -f -p 8080 -h /www']
    ports: [{{name: http, containerPort: 8080}}]
"
    )
}

/// `wget -q -O /dev/null url` inside namespace `netns`; how long it took.
fn fetch(netns: &str, url: &str) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let out = Command::new("/usr/bin/nsenter")
        .arg(format!("--net=/run/netns/{netns}"))
        .args(["/usr/bin/timeout", &LIMIT.as_secs().to_string()])
        .args(["/bin/busybox", "wget", "-q", "-O", "/dev/null", url])
        .output()?;
    let took = start.elapsed();
    if !out.status.success() {
        bail!("wget {url}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(took)
}

/// Times the big file and the small requests at `base` (`http://host:port`) from `netns`.
fn measure(label: &str, netns: &str, base: &str, rounds: usize) -> anyhow::Result<()> {
    let mut big: Vec<f64> = (0..rounds)
        .map(|_| {
            fetch(netns, &format!("{base}/big")).map(|took| BIG_MIB as f64 / took.as_secs_f64())
        })
        .collect::<anyhow::Result<_>>()?;
    big.sort_by(f64::total_cmp);
    let mut small: Vec<Duration> = (0..SMALL_REQUESTS)
        .map(|_| fetch(netns, &format!("{base}/index.html")))
        .collect::<anyhow::Result<_>>()?;
    small.sort();
    println!(
        "{label:<7} {BIG_MIB} MiB: median {:>7.1} MiB/s (of {rounds}); small request: p50 {:>6.1} ms, p90 {:>6.1} ms",
        big[big.len() / 2],
        percentile(&small, 0.5).as_secs_f64() * 1000.0,
        percentile(&small, 0.9).as_secs_f64() * 1000.0,
    );
    Ok(())
}

/// Starts `program port-forward pod/web <local>:8080` in the hub namespace and waits for it.
async fn forward(c: &Cluster, program: PathBuf, local: u16) -> anyhow::Result<Running> {
    let mut running = c
        .control_plane
        .kubectl_invocation(program)
        .args([
            "port-forward",
            "pod/web",
            &format!("{local}:8080"),
            "--address",
            "127.0.0.1",
        ])
        .spawn()?;
    running
        .wait_for_stdout("its listener", LIMIT, |out| out.contains("Forwarding from"))
        .await?;
    Ok(running)
}

async fn scenario(rounds: usize) -> anyhow::Result<()> {
    let c = Cluster::start().await?;
    c.apply(&pod_yaml(&c.node_name)).await?;
    let pod = c
        .wait_pod("web", "httpd ready", |p| {
            phase(p) == "Running" && cstatus(p, "httpd").ready
        })
        .await?;
    let ip = pod
        .status
        .and_then(|s| s.pod_ip)
        .context("the pod has no IP")?;
    let hub = c.network.hub_name().to_string();
    measure(
        "direct",
        c.node.name(),
        &format!("http://{ip}:8080"),
        rounds,
    )?;
    let ours = forward(&c, tinykube_tests::binary_path("kubectl")?, 18080).await?;
    measure("ours", &hub, "http://127.0.0.1:18080", rounds)?;
    drop(ours);
    let real = forward(&c, PathBuf::from(KUBECTL), 18081).await?;
    measure("real", &hub, "http://127.0.0.1:18081", rounds)?;
    drop(real);
    c.shutdown().await
}

fn main() -> anyhow::Result<()> {
    // libtest-style flags (`--bench`, filters) are accepted and ignored: this is one scenario.
    // Before any thread starts: it sets the environment the harness finds binaries through.
    let which = select_binaries(&BINARIES)?;
    let rounds = std::env::var("PF_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3usize)
        .max(1);
    println!("port-forward benchmark; binaries: {which}");
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(scenario(rounds))
}
