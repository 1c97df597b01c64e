//! kube-proxy with real pods on a cluster-in-a-box.
//!
//! Topology (every namespace created here, nothing in the machine's own):
//!
//! ```text
//! hub ns    etcd (127.0.0.1), kube-apiserver on <hub ip>:6443, kube-controller-manager
//!           (ReplicaSets, EndpointSlices); the real kubectl runs here; an off-node client
//!   |  bridge
//! node ns   tinykube-runtime, kubelet, kube-proxy (its iptables and conntrack)
//!   |-- cni0 (CNI bridge plugin) -- pods, each in its own network namespace
//! ```
//!
//! The pods are real: Deployments and Pods through the API (bound to the node by `nodeName`,
//! so no scheduler is needed), started by the kubelet through the runtime from the busybox
//! image, networked by the CNI plugins, their EndpointSlices written by the controller manager. Requests run inside the pods (CRI
//! ExecSync of busybox `wget`, bounded with `timeout`, since busybox `wget -T` crashes) and
//! from the hub. Needs root and `cargo build --workspace --bins` first.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use k8s_openapi::api::core::v1::Pod;
use tinykube_cri_proto::v1 as cri;
use tinykube_cri_proto::v1::runtime_service_client::RuntimeServiceClient;
use tinykube_tests::etcd::etcd_binary;
use tinykube_tests::{
    binary_path, require_root, CmdOutput, Launch, Network, Node, Process, KUBECTL,
};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// How long any one wait may take.
const WAIT: Duration = Duration::from_secs(90);
const WEB_IP: &str = "10.96.100.10";
const NODE_PORT: u16 = 30080;
const DNS_IP: &str = "10.96.100.53";

/// The cluster of one test. Field order is drop order (the `Drop` impl first stops the kubelet
/// and the runtime and removes what pods left behind).
struct PodCluster {
    proxy: Option<Process>,
    kubelet: Option<Process>,
    runtime: Option<Process>,
    controller_manager: Process,
    apiserver: Process,
    _etcd: Process,
    node: Node,
    node_name: String,
    cgroup_parent: String,
    network: Network,
    dir: tempfile::TempDir,
}

/// Runs `program args` to completion, bounded; its output whatever the exit status.
async fn run(program: &str, args: &[&str], timeout: Duration) -> anyhow::Result<CmdOutput> {
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("spawn {program} {args:?}"))?;
    let out = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .with_context(|| format!("{program} {args:?} took longer than {timeout:?}"))??;
    Ok(CmdOutput {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

impl PodCluster {
    async fn start() -> anyhow::Result<PodCluster> {
        require_root();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let network = Network::new()?;
        let node = network.add_node()?;
        let dir = tempfile::Builder::new()
            .prefix("tinykube-kp-pods-")
            .tempdir()?;
        let d = dir.path().to_path_buf();
        let hub = network.hub_name().to_string();
        let hub_ip = network.hub_ip();
        let etcd = Launch::program(etcd_binary()?)
            .label("etcd")
            .netns(&hub)
            .args(["--name", "kp", "--data-dir"])
            .arg(d.join("etcd"))
            .args(["--listen-client-urls", "http://127.0.0.1:2379"])
            .args(["--advertise-client-urls", "http://127.0.0.1:2379"])
            .args(["--listen-peer-urls", "http://127.0.0.1:2380"])
            .args(["--initial-advertise-peer-urls", "http://127.0.0.1:2380"])
            .args(["--initial-cluster", "kp=http://127.0.0.1:2380"])
            .spawn()?;
        let deadline = Instant::now() + WAIT;
        loop {
            let health = run(
                "ip",
                &[
                    "netns",
                    "exec",
                    &hub,
                    "timeout",
                    "2",
                    "busybox",
                    "wget",
                    "-qO-",
                    "http://127.0.0.1:2379/health",
                ],
                Duration::from_secs(10),
            )
            .await?;
            if health.stdout.contains("true") {
                break;
            }
            if Instant::now() > deadline {
                bail!("etcd in the hub not healthy:\n{}", etcd.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let apiserver = Launch::binary("kube-apiserver")?
            .netns(&hub)
            .args(["--etcd-servers", "http://127.0.0.1:2379"])
            .args(["--insecure-bind-address", &hub_ip.to_string()])
            .args(["--insecure-port", "6443"])
            .args(["--service-cluster-ip-range", "10.96.0.0/12"])
            .args(["--service-node-port-range", "30000-32767"])
            .spawn()?;
        std::fs::write(
            d.join("kubeconfig"),
            format!("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://{hub_ip}:6443\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n    namespace: default\ncurrent-context: c\nusers:\n- name: u\n  user: {{}}\n"),
        )?;
        for sub in ["net.d", "manifests", "logs", "kubelet"] {
            std::fs::create_dir_all(d.join(sub))?;
        }
        let controller_manager = Launch::binary("kube-controller-manager")?
            .netns(&hub)
            .arg("--kubeconfig")
            .arg(d.join("kubeconfig"))
            .args(["--bind-address", "127.0.0.1", "--secure-port", "10257"])
            .spawn()?;
        // The busybox image, imported offline.
        let tar = d.join("busybox.tar");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hack/build-busybox-image.sh");
        let out = run(
            "bash",
            &[path_str(&script)?, path_str(&tar)?],
            Duration::from_secs(120),
        )
        .await?;
        anyhow::ensure!(out.success(), "build image: {}", out.stderr);
        let runtime_bin = binary_path("tinykube-runtime")?;
        let root = d.join("root");
        let out = run(
            path_str(&runtime_bin)?,
            &["--root", path_str(&root)?, "import", path_str(&tar)?],
            Duration::from_secs(120),
        )
        .await?;
        anyhow::ensure!(out.success(), "import: {}", out.stderr);
        let mut c = PodCluster {
            proxy: None,
            kubelet: None,
            runtime: None,
            controller_manager,
            apiserver,
            _etcd: etcd,
            node_name: format!("kp-node-{}-{n}", std::process::id()),
            cgroup_parent: format!("tinykube/kp{}-{n}", std::process::id()),
            node,
            network,
            dir,
        };
        c.wait_apiserver().await?;
        // ClusterIPs must route somewhere from the node itself (nat OUTPUT applies before the
        // route lookup only if there is one).
        let hub_ip = c.network.hub_ip().to_string();
        c.node_ok("ip", &["route", "add", "default", "via", &hub_ip])
            .await?;
        c.runtime = Some(
            tinykube_tests::runtime_daemon::start_runtime_daemon(
                c.node.name(),
                c.d(),
                &c.cgroup_parent,
            )
            .await?,
        );
        c.kubelet = Some(
            Launch::program("/usr/bin/nsenter")
                .label("kubelet")
                .arg(format!("--net=/run/netns/{}", c.node.name()))
                .arg(binary_path("kubelet")?)
                .env("RUST_LOG", "info")
                .arg("--kubeconfig")
                .arg(d.join("kubeconfig"))
                .args(["--hostname-override", &c.node_name])
                .args(["--node-ip", &c.node.ip().to_string()])
                .arg("--container-runtime-endpoint")
                .arg(format!(
                    "unix://{}",
                    tinykube_tests::runtime_daemon::runtime_socket(&d).display()
                ))
                .arg("--pod-manifest-path")
                .arg(d.join("manifests"))
                .arg("--root-dir")
                .arg(d.join("kubelet"))
                .arg("--pod-logs-dir")
                .arg(d.join("logs"))
                .arg("--cni-conf-dir")
                .arg(d.join("net.d"))
                .args(["--pod-cidr", "10.244.7.0/24", "--port", "10250"])
                .spawn()?,
        );
        c.proxy = Some(
            Launch::binary("kube-proxy")?
                .netns(c.node.name())
                .arg("--kubeconfig")
                .arg(d.join("kubeconfig"))
                .args(["--hostname-override", &c.node_name])
                .args(["--cluster-cidr", "10.244.0.0/16"])
                .args(["--min-sync-period", "200ms", "--sync-period", "10s"])
                .env("RUST_LOG", "info,tinykube_kube_proxy=debug")
                .spawn()?,
        );
        c.wait_node_ready().await?;
        Ok(c)
    }

    fn d(&self) -> &Path {
        self.dir.path()
    }

    fn logs(&self) -> String {
        let tail = |p: &Option<Process>| p.as_ref().map(|p| p.log_tail()).unwrap_or_default();
        format!(
            "--- kube-proxy ---\n{}\n--- kubelet ---\n{}\n--- runtime ---\n{}\n--- controller-manager ---\n{}",
            tail(&self.proxy),
            tail(&self.kubelet),
            tail(&self.runtime),
            self.controller_manager.log_tail()
        )
    }

    /// `program args` inside the node namespace, which must succeed.
    async fn node_ok(&self, program: &str, args: &[&str]) -> anyhow::Result<String> {
        let mut full = vec!["netns", "exec", self.node.name(), program];
        full.extend_from_slice(args);
        let out = run("ip", &full, Duration::from_secs(30)).await?;
        anyhow::ensure!(
            out.success(),
            "`{program} {}` in the node failed: {}{}",
            args.join(" "),
            out.stdout,
            out.stderr
        );
        Ok(out.stdout)
    }

    async fn kubectl_stdin(&self, args: &[&str], stdin: Option<&str>) -> anyhow::Result<CmdOutput> {
        use tokio::io::AsyncWriteExt;
        let mut child = tokio::process::Command::new("/usr/bin/nsenter")
            .arg(format!("--net=/run/netns/{}", self.network.hub_name()))
            .arg(KUBECTL)
            .arg("--kubeconfig")
            .arg(self.d().join("kubeconfig"))
            .arg("--cache-dir")
            .arg(self.d().join("kcache"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let mut input = child.stdin.take().context("kubectl stdin")?;
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).await?;
        }
        drop(input);
        let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .context("kubectl took longer than 60s")??;
        Ok(CmdOutput {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    async fn kubectl(&self, args: &[&str]) -> anyhow::Result<CmdOutput> {
        self.kubectl_stdin(args, None).await
    }

    async fn kubectl_ok(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self.kubectl(args).await?;
        anyhow::ensure!(out.success(), "kubectl {args:?}: {}", out.stderr);
        Ok(out.stdout)
    }

    async fn apply(&self, yaml: &str) -> anyhow::Result<()> {
        let out = self
            .kubectl_stdin(&["apply", "-f", "-"], Some(yaml))
            .await?;
        anyhow::ensure!(out.success(), "apply: {}\n{yaml}", out.stderr);
        Ok(())
    }

    async fn wait_apiserver(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + WAIT;
        loop {
            let out = self.kubectl(&["get", "--raw", "/healthz"]).await?;
            if out.success() {
                return Ok(());
            }
            if Instant::now() > deadline || !self.apiserver.is_running() {
                bail!(
                    "apiserver not healthy: {}\n{}",
                    out.stderr,
                    self.apiserver.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn wait_node_ready(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + WAIT;
        loop {
            let out = self
                .kubectl(&["get", "node", &self.node_name, "-o", "json"])
                .await?;
            if out.success() {
                let node: serde_json::Value = serde_json::from_str(&out.stdout)?;
                let ready = node["status"]["conditions"]
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

    /// The pods matching `selector` that run and are Ready, with an IP; sorted by name.
    async fn ready_pods(&self, selector: &str) -> anyhow::Result<Vec<Pod>> {
        let out = self
            .kubectl_ok(&["get", "pods", "-l", selector, "-o", "json"])
            .await?;
        let list: serde_json::Value = serde_json::from_str(&out)?;
        let mut pods = Vec::new();
        for item in list["items"].as_array().into_iter().flatten() {
            let pod: Pod = serde_json::from_value(item.clone())?;
            let status = pod.status.clone().unwrap_or_default();
            let ready = status
                .conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            if pod.metadata.deletion_timestamp.is_none()
                && status.phase.as_deref() == Some("Running")
                && ready
                && status.pod_ip.is_some()
            {
                pods.push(pod);
            }
        }
        pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        Ok(pods)
    }

    /// Waits for exactly `count` ready pods matching `selector`.
    async fn wait_ready_pods(&self, selector: &str, count: usize) -> anyhow::Result<Vec<Pod>> {
        let deadline = Instant::now() + WAIT;
        loop {
            let pods = self.ready_pods(selector).await?;
            if pods.len() == count {
                return Ok(pods);
            }
            if Instant::now() > deadline {
                let all = self.kubectl(&["get", "pods", "-o", "wide"]).await?;
                bail!(
                    "{count} ready pods {selector} expected, have {}:\n{}\n{}",
                    pods.len(),
                    all.stdout,
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    async fn iptables_save(&self, table: &str) -> anyhow::Result<String> {
        self.node_ok("iptables-save", &["-t", table]).await
    }

    /// Waits until the node's nat table satisfies `pred`.
    async fn wait_nat(&self, what: &str, pred: impl Fn(&str) -> bool) -> anyhow::Result<()> {
        let deadline = Instant::now() + WAIT;
        loop {
            let nat = self.iptables_save("nat").await?;
            if pred(&nat) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("timed out waiting for {what}; nat:\n{nat}\n{}", self.logs());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Runs `cmd` in the first container of `pod` (CRI ExecSync): (exit code, stdout, stderr).
    async fn exec(&self, pod: &Pod, cmd: &[&str]) -> anyhow::Result<(i32, String, String)> {
        let id = pod
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|cs| cs.first())
            .and_then(|c| c.container_id.clone())
            .context("pod has no container id")?;
        let id = id.rsplit("://").next().unwrap_or_default().to_string();
        let socket = tinykube_tests::runtime_daemon::runtime_socket(self.d());
        let mut client = RuntimeServiceClient::new(
            tinykube_cri_proto::connect(socket.display().to_string()).await?,
        );
        let out = client
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

    /// One bounded `wget` of `url` from inside `pod`: Ok(body) or Err(what wget said).
    async fn get_from_pod(&self, pod: &Pod, url: &str) -> anyhow::Result<Result<String, String>> {
        let (code, stdout, stderr) = self
            .exec(pod, &["timeout", "3", "wget", "-qO-", url])
            .await?;
        Ok(if code == 0 {
            Ok(stdout.trim().to_string())
        } else {
            Err(format!("{stdout}{stderr}").trim().to_string())
        })
    }

    /// One bounded `wget` of `url` from the hub namespace (a client off the node).
    async fn get_from_hub(&self, url: &str) -> anyhow::Result<Result<String, String>> {
        let out = run(
            "ip",
            &[
                "netns",
                "exec",
                self.network.hub_name(),
                "timeout",
                "3",
                "busybox",
                "wget",
                "-qO-",
                url,
            ],
            Duration::from_secs(10),
        )
        .await?;
        Ok(if out.success() {
            Ok(out.stdout.trim().to_string())
        } else {
            Err(format!("{}{}", out.stdout, out.stderr).trim().to_string())
        })
    }

    async fn get(&self, from: Source<'_>, url: &str) -> anyhow::Result<Result<String, String>> {
        match from {
            Source::Pod(pod) => self.get_from_pod(pod, url).await,
            Source::Hub => self.get_from_hub(url).await,
        }
    }

    /// `count` requests from `from`: who answered how often (errors as `ERR: ...`).
    async fn spread(
        &self,
        from: Source<'_>,
        url: &str,
        count: usize,
    ) -> anyhow::Result<BTreeMap<String, usize>> {
        let mut seen = BTreeMap::new();
        for _ in 0..count {
            let key = match self.get(from, url).await? {
                Ok(body) => body,
                Err(e) => format!("ERR: {e}"),
            };
            *seen.entry(key).or_insert(0) += 1;
        }
        Ok(seen)
    }

    /// Deletes every workload and pod and waits until the runtime holds no sandbox.
    async fn shutdown(mut self) -> anyhow::Result<()> {
        let _ = self
            .kubectl(&["delete", "deployments,pods", "--all", "--wait=false"])
            .await;
        let socket = tinykube_tests::runtime_daemon::runtime_socket(self.d());
        let deadline = Instant::now() + WAIT;
        loop {
            let mut client = RuntimeServiceClient::new(
                tinykube_cri_proto::connect(socket.display().to_string()).await?,
            );
            let sandboxes = client
                .list_pod_sandbox(cri::ListPodSandboxRequest { filter: None })
                .await?
                .into_inner()
                .items
                .len();
            if sandboxes == 0 {
                break;
            }
            if Instant::now() > deadline {
                bail!("runtime still holds {sandboxes} sandboxes\n{}", self.logs());
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        if let Some(mut p) = self.proxy.take() {
            p.stop();
        }
        Ok(())
    }
}

impl Drop for PodCluster {
    fn drop(&mut self) {
        if let Some(mut k) = self.kubelet.take() {
            k.stop();
        }
        if let Some(mut r) = self.runtime.take() {
            r.stop();
        }
        // Safety net after a failure: kill what is left in our cgroups and remove them.
        tinykube_tests::leftovers::remove_cgroups(&self.cgroup_parent);
        tinykube_tests::leftovers::unmount_entries(&self.d().join("state/netns"));
    }
}

/// Where a request is sent from.
#[derive(Clone, Copy)]
enum Source<'a> {
    /// Inside this pod (CRI ExecSync).
    Pod(&'a Pod),
    /// The hub namespace: a client off the node.
    Hub,
}

fn path_str(path: &Path) -> anyhow::Result<&str> {
    path.to_str()
        .with_context(|| format!("non-UTF-8 path {}", path.display()))
}

fn name(pod: &Pod) -> String {
    pod.metadata.name.clone().unwrap_or_default()
}

fn ip(pod: &Pod) -> String {
    pod.status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .unwrap_or_default()
}

/// Three busybox web servers, each answering with its own hostname (= pod name), behind a
/// NodePort Service with a fixed ClusterIP, and a client pod that only sleeps.
fn web_yaml(node: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      nodeName: {node}
      terminationGracePeriodSeconds: 2
      containers:
      - name: web
        image: busybox:latest
        imagePullPolicy: IfNotPresent
        command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"]
        ports:
        - containerPort: 8080
        # Ready (an endpoint) only once httpd answers, so a replacement pod never refuses.
        readinessProbe:
          httpGet:
            path: /
            port: 8080
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  type: NodePort
  clusterIP: {WEB_IP}
  selector:
    app: web
  ports:
  - name: http
    port: 80
    targetPort: 8080
    nodePort: {NODE_PORT}
---
apiVersion: v1
kind: Pod
metadata:
  name: client
  labels:
    app: client
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  containers:
  - name: client
    image: busybox:latest
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_reaches_real_pods_by_cluster_ip_node_port_and_hairpin() -> anyhow::Result<()> {
    let cluster = PodCluster::start().await?;
    cluster.apply(&web_yaml(&cluster.node_name)).await?;
    let web = cluster.wait_ready_pods("app=web", 3).await?;
    let client = cluster.wait_ready_pods("app=client", 1).await?.remove(0);
    let names: BTreeSet<String> = web.iter().map(name).collect();
    let dnat: Vec<String> = web
        .iter()
        .map(|p| format!("--to-destination {}:8080", ip(p)))
        .collect();
    cluster
        .wait_nat("a DNAT rule for each web pod", |nat| {
            dnat.iter().all(|d| nat.contains(d))
        })
        .await?;
    let answered =
        |seen: &BTreeMap<String, usize>| -> BTreeSet<String> { seen.keys().cloned().collect() };

    // ClusterIP:port from a client pod: every replica answers over 60 requests.
    let url = format!("http://{WEB_IP}/");
    let seen = cluster.spread(Source::Pod(&client), &url, 60).await?;
    assert_eq!(
        answered(&seen),
        names,
        "ClusterIP from the client pod: {seen:?}"
    );

    // NodeIP:NodePort, from the client pod and from off the node (the hub).
    let node_url = format!("http://{}:{NODE_PORT}/", cluster.node.ip());
    let seen = cluster.spread(Source::Pod(&client), &node_url, 60).await?;
    assert_eq!(
        answered(&seen),
        names,
        "NodePort from the client pod: {seen:?}"
    );
    let seen = cluster.spread(Source::Hub, &node_url, 60).await?;
    assert_eq!(answered(&seen), names, "NodePort from the hub: {seen:?}");

    // Hairpin: a web pod reaches its own Service, and through it every replica, itself too.
    let seen = cluster.spread(Source::Pod(&web[0]), &url, 60).await?;
    assert_eq!(
        answered(&seen),
        names,
        "hairpin from {}: {seen:?}",
        name(&web[0])
    );

    // A deleted pod stops receiving traffic once its endpoint is gone.
    let gone = &web[0];
    cluster
        .kubectl_ok(&["delete", "pod", &name(gone), "--wait=false"])
        .await?;
    let gone_dnat = format!("--to-destination {}:8080", ip(gone));
    cluster
        .wait_nat("the deleted pod's endpoint to go", |nat| {
            !nat.contains(&gone_dnat)
        })
        .await?;
    let seen = cluster.spread(Source::Pod(&client), &url, 30).await?;
    assert!(
        !seen.contains_key(&name(gone)),
        "{} still answers: {seen:?}",
        name(gone)
    );
    assert!(
        seen.keys()
            .all(|k| names.contains(k) || k.starts_with("web-")),
        "only web pods answer: {seen:?}"
    );

    // Scaled to zero: connection refused, by ClusterIP and by NodePort.
    cluster
        .kubectl_ok(&["scale", "deployment", "web", "--replicas=0"])
        .await?;
    cluster
        .wait_nat("no web endpoint left", |nat| {
            !nat.contains("default/web:http -> ")
        })
        .await?;
    let filter = cluster.iptables_save("filter").await?;
    assert!(
        filter.contains("default/web:http has no endpoints"),
        "{filter}"
    );
    for (what, answer) in [
        ("ClusterIP", cluster.get_from_pod(&client, &url).await?),
        ("NodePort", cluster.get_from_pod(&client, &node_url).await?),
        (
            "NodePort from the hub",
            cluster.get_from_hub(&node_url).await?,
        ),
    ] {
        assert!(
            matches!(&answer, Err(e) if e.contains("refused")),
            "{what}: {answer:?}"
        );
    }
    cluster.shutdown().await
}

/// Parses the UDP conntrack entry from `client_ip` to `DNS_IP:53`: (source port, the endpoint
/// it is DNATed to, i.e. the reply's source).
fn dns_entry(conntrack: &str, client_ip: &str) -> Option<(String, String)> {
    let line = conntrack.lines().find(|l| {
        l.contains(&format!("src={client_ip} dst={DNS_IP} ")) && l.contains(" dport=53 ")
    })?;
    let field = |key: &str, nth: usize| {
        line.split_whitespace()
            .filter_map(|w| w.strip_prefix(key))
            .nth(nth)
            .map(str::to_string)
    };
    Some((field("sport=", 0)?, field("src=", 1)?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_conntrack_entries_of_a_removed_endpoint_are_flushed() -> anyhow::Result<()> {
    let cluster = PodCluster::start().await?;
    let node = cluster.node_name.clone();
    // busybox here has no UDP server (its nc has no -u): the backends only need to be
    // endpoints; what matters is where the node's conntrack sends the client's datagrams.
    let backend = |n: usize| {
        format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: dns-{n}\n  labels:\n    app: dns\nspec:\n  nodeName: {node}\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: dns\n    image: busybox:latest\n    imagePullPolicy: IfNotPresent\n    command: [\"sleep\", \"3600\"]\n")
    };
    cluster
        .apply(&format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: dns\nspec:\n  clusterIP: {DNS_IP}\n  selector:\n    app: dns\n  ports:\n  - name: dns\n    port: 53\n    protocol: UDP\n    targetPort: 5353\n---\n{}---\n{}",
            backend(0),
            backend(1)
        ))
        .await?;
    let backends = cluster.wait_ready_pods("app=dns", 2).await?;
    let dnat: Vec<String> = backends
        .iter()
        .map(|p| format!("--to-destination {}:5353", ip(p)))
        .collect();
    cluster
        .wait_nat("both UDP endpoints", |nat| {
            dnat.iter().all(|d| nat.contains(d))
        })
        .await?;
    // The client sends a datagram every 200 ms from one socket (syslogd forwarding to the
    // Service), so its conntrack entry never times out: without a flush it would keep
    // sending to a removed endpoint for ever.
    cluster
        .apply(&format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: client\n  labels:\n    app: client\nspec:\n  nodeName: {node}\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: client\n    image: busybox:latest\n    imagePullPolicy: IfNotPresent\n    command: [\"sh\", \"-c\", \"syslogd -n -R {DNS_IP}:53 & while true; do logger ping; sleep 0.2; done\"]\n"))
        .await?;
    let client = cluster.wait_ready_pods("app=client", 1).await?.remove(0);
    let client_ip = ip(&client);

    let deadline = Instant::now() + WAIT;
    let (sport, first) = loop {
        let list = cluster.node_ok("conntrack", &["-L", "-p", "udp"]).await?;
        if let Some(entry) = dns_entry(&list, &client_ip) {
            break entry;
        }
        if Instant::now() > deadline {
            bail!(
                "no conntrack entry from {client_ip} to {DNS_IP}:53:\n{list}\n{}",
                cluster.logs()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (removed, kept): (Vec<&Pod>, Vec<&Pod>) = backends.iter().partition(|p| ip(p) == first);
    let (removed, kept) = (
        removed
            .first()
            .context("the entry's endpoint is a backend")?,
        kept.first().context("the other backend")?,
    );

    cluster
        .kubectl_ok(&["delete", "pod", &name(removed), "--wait=false"])
        .await?;
    let removed_dnat = format!("--to-destination {}:5353", ip(removed));
    cluster
        .wait_nat("the removed endpoint's rules to go", |nat| {
            !nat.contains(&removed_dnat)
        })
        .await?;
    // The same client socket's entry now leads to the remaining endpoint, and no entry leads
    // to the removed one.
    let deadline = Instant::now() + WAIT;
    loop {
        let list = cluster.node_ok("conntrack", &["-L", "-p", "udp"]).await?;
        let entry = dns_entry(&list, &client_ip);
        let to_removed = list.contains(&format!("src={} dst={client_ip} ", ip(removed)));
        if entry == Some((sport.clone(), ip(kept))) && !to_removed {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "the entry from {client_ip}:{sport} still leads to {} ({entry:?}):\n{list}\n{}",
                ip(removed),
                cluster.logs()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    cluster.shutdown().await
}
