//! A one-node cluster-in-a-box for kubelet scenarios and benchmarks.
//!
//! Topology: etcd and kube-apiserver run in the harness's hub namespace (the apiserver bound to
//! the hub's bridge address, like a control-plane machine on the node network); the node's
//! tinykube-runtime and kubelet run in the node namespace (entered with `nsenter --net`, so they
//! share the machine's mount namespace and cgroup mounts), reaching the apiserver over the
//! bridge. Pods get their own network namespaces from the runtime and CNI (bridge `cni0` inside
//! the node namespace), so probes and the kubelet port are reachable from the kubelet as they
//! would be on a real node. The cluster is driven with the real kubectl run inside the hub
//! namespace, and the runtime is reachable over its unix socket.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use tinykube_tests::cluster::{phase, Cluster};
//! let c = Cluster::start().await?;
//! c.apply(&format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  nodeName: {}\n  containers:\n  - {{name: c, image: busybox, command: [sleep, '3600']}}\n", c.node_name)).await?;
//! c.wait_pod("p", "Running", |p| phase(p) == "Running").await?;
//! c.shutdown().await
//! # }
//! ```
//!
//! Needs root and our binaries (`cargo build --workspace --bins`, or `TINYKUBE_BIN_DIR`).
//! Everything is removed on drop: processes, pod cgroups, bind-mounted pod network namespaces,
//! the node and hub namespaces and the state directory. [`Cluster::shutdown`] additionally
//! checks that deleting every pod leaves nothing behind in the runtime.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use tinykube_cri_proto::v1 as cri;
use tinykube_cri_proto::v1::runtime_service_client::RuntimeServiceClient;

use crate::etcd::etcd_binary;
use crate::kubectl::Invocation;
use crate::{binary_path, require_root, CmdOutput, Launch, Network, Node, Process, KUBECTL};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// How long any single wait of a scenario may take.
pub const WAIT: Duration = Duration::from_secs(60);

/// How one cluster is started.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// `RUST_LOG` of the kubelet.
    pub kubelet_log: String,
    /// Flags appended to the kubelet's command line.
    pub kubelet_args: Vec<String>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            kubelet_log: "info,tinykube_kubelet=debug".into(),
            kubelet_args: Vec::new(),
        }
    }
}

/// etcd + kube-apiserver in a hub namespace, tinykube-runtime + kubelet in one node namespace.
pub struct Cluster {
    // Drop order: kubelet, runtime, the control plane, then the network and the directory.
    pub kubelet: Option<Process>,
    pub runtime: Option<Process>,
    pub control_plane: HubControlPlane,
    pub node: Node,
    pub node_name: String,
    /// The cgroup (below each hierarchy) that holds every pod of this cluster.
    pub cgroup_parent: String,
    pub pod_cidr: String,
    pub network: Network,
    options: ClusterOptions,
    dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts a cluster with default options and waits for the node to be Ready.
    pub async fn start() -> anyhow::Result<Cluster> {
        Cluster::start_with(ClusterOptions::default()).await
    }

    /// Starts a cluster and waits for the node to be Ready.
    pub async fn start_with(options: ClusterOptions) -> anyhow::Result<Cluster> {
        require_root();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let network = Network::new()?;
        let node = network.add_node()?;
        let dir = tempfile::Builder::new()
            .prefix("tinykube-kubelet-")
            .tempdir()?;
        let d = dir.path().to_path_buf();
        let control_plane = HubControlPlane::start(&network, &d).await?;
        for sub in ["net.d", "manifests", "logs", "kubelet"] {
            std::fs::create_dir_all(d.join(sub))?;
        }
        crate::runtime_daemon::import_busybox_image(&d).await?;
        let mut c = Cluster {
            kubelet: None,
            runtime: None,
            control_plane,
            node_name: format!("node-{}-{n}", std::process::id()),
            cgroup_parent: format!("tinykube/k{}-{n}", std::process::id()),
            pod_cidr: format!("10.244.{}.0/24", 150 + n % 100),
            node,
            network,
            options,
            dir,
        };
        c.start_runtime().await?;
        c.start_kubelet()?;
        c.wait_node_ready().await?;
        Ok(c)
    }

    /// The cluster's state directory (kubeconfig, manifests, logs, kubelet root, runtime).
    pub fn d(&self) -> &Path {
        self.dir.path()
    }

    /// The runtime's CRI socket.
    pub fn socket(&self) -> PathBuf {
        crate::runtime_daemon::runtime_socket(self.d())
    }

    async fn start_runtime(&mut self) -> anyhow::Result<()> {
        let p = crate::runtime_daemon::start_runtime_daemon(
            self.node.name(),
            self.d(),
            &self.cgroup_parent,
        )
        .await?;
        self.runtime = Some(p);
        Ok(())
    }

    /// Starts the kubelet (again, after the test took the old one).
    pub fn start_kubelet(&mut self) -> anyhow::Result<()> {
        let d = self.d().to_path_buf();
        let p = Launch::program("/usr/bin/nsenter")
            .label("kubelet")
            .arg(format!("--net=/run/netns/{}", self.node.name()))
            .arg(binary_path("kubelet")?)
            .env("RUST_LOG", &self.options.kubelet_log)
            .arg("--kubeconfig")
            .arg(self.control_plane.kubeconfig())
            .args([
                "--hostname-override",
                &self.node_name,
                "--node-ip",
                &self.node.ip().to_string(),
            ])
            .arg("--container-runtime-endpoint")
            .arg(format!("unix://{}", self.socket().display()))
            .arg("--pod-manifest-path")
            .arg(d.join("manifests"))
            .arg("--root-dir")
            .arg(d.join("kubelet"))
            .arg("--pod-logs-dir")
            .arg(d.join("logs"))
            .arg("--cni-conf-dir")
            .arg(d.join("net.d"))
            .args(["--pod-cidr", &self.pod_cidr, "--port", "10250"])
            .args(&self.options.kubelet_args)
            .spawn()?;
        self.kubelet = Some(p);
        Ok(())
    }

    /// The kubelet's and the runtime's logs, for failure messages.
    pub fn logs(&self) -> String {
        format!(
            "--- kubelet ---\n{}\n--- runtime ---\n{}",
            self.kubelet
                .as_ref()
                .map(|p| p.log_tail())
                .unwrap_or_default(),
            self.runtime
                .as_ref()
                .map(|p| p.log_tail())
                .unwrap_or_default()
        )
    }

    /// Runs the real kubectl to completion (bounded).
    pub async fn kubectl(&self, args: &[&str]) -> anyhow::Result<CmdOutput> {
        self.control_plane.kubectl(args, None).await
    }

    /// Runs the real kubectl with `stdin` to completion (bounded).
    pub async fn kubectl_stdin(
        &self,
        args: &[&str],
        stdin: Option<&str>,
    ) -> anyhow::Result<CmdOutput> {
        self.control_plane.kubectl(args, stdin).await
    }

    /// kube-controller-manager in the hub namespace (no leader election: it is the only one),
    /// for scenarios that need workload controllers or EndpointSlices.
    pub fn start_controller_manager(&self) -> anyhow::Result<Process> {
        Ok(Launch::binary("kube-controller-manager")?
            .netns(self.network.hub_name())
            .arg("--kubeconfig")
            .arg(self.control_plane.kubeconfig())
            .args([
                "--bind-address=127.0.0.1",
                "--secure-port=10257",
                "--leader-elect=false",
            ])
            .env("RUST_LOG", "info")
            .spawn()?)
    }

    /// kube-scheduler in the hub namespace (no leader election: it is the only one), for
    /// scenarios whose pods do not name their node (`kubectl run`, workloads).
    pub fn start_scheduler(&self) -> anyhow::Result<Process> {
        Ok(Launch::binary("kube-scheduler")?
            .netns(self.network.hub_name())
            .arg("--kubeconfig")
            .arg(self.control_plane.kubeconfig())
            .args([
                "--bind-address=127.0.0.1",
                "--secure-port=10259",
                "--leader-elect=false",
            ])
            .env("RUST_LOG", "info")
            .spawn()?)
    }

    /// `kubectl apply -f -` of `yaml`.
    pub async fn apply(&self, yaml: &str) -> anyhow::Result<()> {
        let out = self
            .kubectl_stdin(&["apply", "-f", "-"], Some(yaml))
            .await?;
        anyhow::ensure!(out.success(), "apply: {}", out.stderr);
        Ok(())
    }

    /// `kubectl get <args> -o json`; `None` when the object does not exist.
    pub async fn get_json(&self, args: &[&str]) -> anyhow::Result<Option<serde_json::Value>> {
        let mut a = vec!["get"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["-o", "json"]);
        let out = self.kubectl(&a).await?;
        if !out.success() {
            if out.stderr.contains("NotFound") || out.stderr.contains("not found") {
                return Ok(None);
            }
            bail!("kubectl get {args:?}: {}", out.stderr);
        }
        Ok(Some(serde_json::from_str(&out.stdout)?))
    }

    /// The pod `name` in `default`, if it exists.
    pub async fn pod(&self, name: &str) -> anyhow::Result<Option<Pod>> {
        Ok(match self.get_json(&["pod", name]).await? {
            Some(v) => Some(serde_json::from_value(v)?),
            None => None,
        })
    }

    /// Polls `check` on the pod until it returns true.
    pub async fn wait_pod(
        &self,
        name: &str,
        what: &str,
        check: impl Fn(&Pod) -> bool,
    ) -> anyhow::Result<Pod> {
        let deadline = Instant::now() + WAIT;
        loop {
            let p = self.pod(name).await?;
            if let Some(p) = &p {
                if check(p) {
                    return Ok(p.clone());
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "pod {name}: timed out waiting for {what}; last: {}\n{}",
                    serde_json::to_string_pretty(&p.map(|p| p.status)).unwrap_or_default(),
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Waits until `kubectl get <kind> <name>` says NotFound.
    pub async fn wait_gone(&self, kind: &str, name: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + WAIT;
        while self.get_json(&[kind, name]).await?.is_some() {
            if Instant::now() > deadline {
                bail!("{kind} {name} still exists\n{}", self.logs());
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        Ok(())
    }

    /// Runs the real kubectl with `args` until it succeeds and prints `wanted` (e.g. a log
    /// line that is still to come); returns what it printed.
    pub async fn wait_kubectl_output(&self, args: &[&str], wanted: &str) -> anyhow::Result<String> {
        let deadline = Instant::now() + WAIT;
        loop {
            let out = self.kubectl(args).await?;
            if out.success() && out.stdout.contains(wanted) {
                return Ok(out.stdout);
            }
            if Instant::now() > deadline {
                bail!(
                    "kubectl {args:?} never printed {wanted:?}: {}{}\n{}",
                    out.stdout,
                    out.stderr,
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Waits (at most `timeout`) until the runtime holds no sandbox and no container.
    pub async fn wait_runtime_empty(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let (s, c) = self.runtime_counts().await?;
            if s == 0 && c == 0 {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "runtime still holds {s} sandboxes, {c} containers\n{}",
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Waits for the node's Ready condition to be True.
    pub async fn wait_node_ready(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(n) = self.get_json(&["node", &self.node_name]).await? {
                let ready = n["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True");
                if ready {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("node {} never Ready\n{}", self.node_name, self.logs());
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// GET on the kubelet port from inside the node namespace.
    pub async fn kubelet_get(&self, path: &str) -> anyhow::Result<String> {
        let url = format!("http://127.0.0.1:10250{path}");
        let out = self
            .node
            .exec_async(
                "/bin/busybox",
                &["wget", "-qO-", &url],
                Duration::from_secs(20),
            )
            .await?;
        anyhow::ensure!(out.success(), "GET {url}: {}", out.stderr);
        Ok(out.stdout)
    }

    /// A CRI client for the node's runtime.
    pub async fn cri(&self) -> anyhow::Result<RuntimeServiceClient<tonic::transport::Channel>> {
        Ok(RuntimeServiceClient::new(
            tinykube_cri_proto::connect(self.socket().display().to_string()).await?,
        ))
    }

    /// How many sandboxes and containers the runtime holds.
    pub async fn runtime_counts(&self) -> anyhow::Result<(usize, usize)> {
        let mut rt = self.cri().await?;
        let s = rt
            .list_pod_sandbox(cri::ListPodSandboxRequest { filter: None })
            .await?
            .into_inner()
            .items
            .len();
        let c = rt
            .list_containers(cri::ListContainersRequest { filter: None })
            .await?
            .into_inner()
            .containers
            .len();
        Ok((s, c))
    }

    /// Runs `cmd` in the running container `container` of pod `pod` through CRI ExecSync;
    /// returns (exit code, stdout, stderr).
    pub async fn exec(
        &self,
        pod: &Pod,
        container: &str,
        cmd: &[&str],
    ) -> anyhow::Result<(i32, String, String)> {
        let id = cstatus(pod, container)
            .container_id
            .context("container has no id")?
            .trim_start_matches("tinykube://")
            .to_string();
        let out = self
            .cri()
            .await?
            .exec_sync(cri::ExecSyncRequest {
                container_id: id,
                cmd: cmd.iter().map(|s| s.to_string()).collect(),
                timeout: 20,
            })
            .await?
            .into_inner();
        Ok((
            out.exit_code,
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }

    /// Deletes every pod and waits until the runtime holds nothing; then stops everything.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        let _ = self
            .kubectl(&[
                "delete",
                "pods",
                "--all",
                "--all-namespaces",
                "--wait=false",
            ])
            .await;
        for f in std::fs::read_dir(self.d().join("manifests"))?.flatten() {
            std::fs::remove_file(f.path())?;
        }
        self.wait_runtime_empty(WAIT).await?;
        if let Some(mut k) = self.kubelet.take() {
            k.stop();
        }
        if let Some(mut r) = self.runtime.take() {
            r.stop();
        }
        let leftovers: Vec<_> = std::fs::read_dir(self.d().join("kubelet/pods"))
            .map(|r| r.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        anyhow::ensure!(leftovers.is_empty(), "pod dirs left: {leftovers:?}");
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(mut k) = self.kubelet.take() {
            k.stop();
        }
        if let Some(mut r) = self.runtime.take() {
            r.stop();
        }
        // Safety net after a failure: kill what is left in our cgroups and remove them.
        crate::leftovers::remove_cgroups(&self.cgroup_parent);
        crate::leftovers::unmount_entries(&self.d().join("state/netns"));
    }
}

/// etcd and kube-apiserver in the hub namespace of a [`Network`]: the control-plane machine of a
/// cluster-in-a-box, on the node network. etcd listens on the hub's loopback (the namespace is
/// ours, so fixed ports are free), the apiserver on `<hub ip>:6443`, where `<dir>/kubeconfig`
/// points. Stopped on drop, the apiserver first.
pub struct HubControlPlane {
    apiserver: Process,
    etcd: Process,
    hub: String,
    dir: PathBuf,
}

impl HubControlPlane {
    /// Starts etcd (data in `<dir>/etcd`), then the apiserver, writes the kubeconfig and
    /// returns once the apiserver is healthy.
    pub async fn start(network: &Network, dir: &Path) -> anyhow::Result<HubControlPlane> {
        let hub = network.hub_name().to_string();
        let etcd = Launch::program(etcd_binary()?)
            .label("etcd")
            .netns(&hub)
            .args(["--name", "hub", "--data-dir"])
            .arg(dir.join("etcd"))
            .args(["--listen-client-urls", "http://127.0.0.1:2379"])
            .args(["--advertise-client-urls", "http://127.0.0.1:2379"])
            .args(["--listen-peer-urls", "http://127.0.0.1:2380"])
            .args(["--initial-advertise-peer-urls", "http://127.0.0.1:2380"])
            .args(["--initial-cluster", "hub=http://127.0.0.1:2380"])
            .args(["--logger", "zap", "--log-outputs", "stderr"])
            .spawn()?;
        // The apiserver wants a healthy etcd at start.
        let deadline = Instant::now() + WAIT;
        loop {
            // busybox wget has no usable timeout of its own.
            let probe = Invocation::new("/usr/bin/nsenter")
                .arg(format!("--net=/run/netns/{hub}"))
                .args(["/usr/bin/timeout", "2", "/bin/busybox", "wget", "-qO-"])
                .arg("http://127.0.0.1:2379/health")
                .timeout(Duration::from_secs(5))
                .run()
                .await;
            if probe.is_ok_and(|out| out.stdout.contains("true")) {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "etcd in the hub not healthy:\n{}",
                etcd.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let apiserver = Launch::binary("kube-apiserver")?
            .netns(&hub)
            .args(["--etcd-servers", "http://127.0.0.1:2379"])
            .args(["--insecure-bind-address", &network.hub_ip().to_string()])
            .args(["--insecure-port", "6443"])
            .args(["--service-cluster-ip-range", "10.96.0.0/12"])
            .env("RUST_LOG", "info")
            .spawn()?;
        let mut control_plane = HubControlPlane {
            apiserver,
            etcd,
            hub,
            dir: dir.to_path_buf(),
        };
        std::fs::write(
            control_plane.kubeconfig(),
            format!("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://{}:6443\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n    namespace: default\ncurrent-context: c\nusers:\n- name: u\n  user: {{}}\n", network.hub_ip()),
        )?;
        control_plane.wait_healthy().await?;
        Ok(control_plane)
    }

    async fn wait_healthy(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + WAIT;
        loop {
            let out = self.kubectl(&["get", "--raw", "/healthz"], None).await?;
            if out.success() && out.stdout.trim() == "ok" {
                return Ok(());
            }
            if Instant::now() > deadline || !self.apiserver.is_running() {
                bail!(
                    "apiserver in the hub not healthy: {}\n{}\n--- etcd ---\n{}",
                    out.stderr,
                    self.apiserver.log_tail(),
                    self.etcd.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The kubeconfig every client of this control plane uses.
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    /// A command run inside the hub namespace, where the cluster's users sit (`nsenter` execs
    /// it, so stopping it stops the command).
    pub fn in_hub(&self) -> Invocation {
        Invocation::new("/usr/bin/nsenter").arg(format!("--net=/run/netns/{}", self.hub))
    }

    /// `kubectl` (the real one at [`KUBECTL`], or ours) inside the hub with this kubeconfig;
    /// the real one with a discovery cache of its own.
    pub fn kubectl_invocation(&self, kubectl: impl AsRef<Path>) -> Invocation {
        self.in_hub().args(self.kubectl_words(kubectl))
    }

    /// The words that start `kubectl` (the real one at [`KUBECTL`], or ours) against this
    /// control plane: the program, the kubeconfig and, for the real one, its discovery cache;
    /// for command lines built by hand (under `script`, for a terminal).
    pub fn kubectl_words(&self, kubectl: impl AsRef<Path>) -> Vec<PathBuf> {
        let kubectl = kubectl.as_ref();
        let mut words = vec![
            kubectl.to_path_buf(),
            "--kubeconfig".into(),
            self.kubeconfig(),
        ];
        if kubectl == Path::new(KUBECTL) {
            words.push("--cache-dir".into());
            words.push(self.dir.join("kcache"));
        }
        words
    }

    /// Runs the real kubectl inside the hub namespace with this kubeconfig (and `stdin` when
    /// given) to completion, bounded; a non-zero exit is not an error here.
    pub async fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> anyhow::Result<CmdOutput> {
        Ok(self
            .kubectl_invocation(KUBECTL)
            .args(args)
            .stdin(stdin.unwrap_or_default())
            .timeout(Duration::from_secs(60))
            .run()
            .await?)
    }
}

/// The pod's phase, `""` without status.
pub fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

/// The status (`"True"`, `"False"`) of the pod condition `kind`, `""` when absent.
pub fn condition(p: &Pod, kind: &str) -> String {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == kind))
        .map(|c| c.status.clone())
        .unwrap_or_default()
}

/// The status of container `name` (default when absent).
pub fn cstatus(p: &Pod, name: &str) -> ContainerStatus {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.clone())
        .into_iter()
        .flatten()
        .find(|c| c.name == name)
        .unwrap_or_default()
}
