//! kubelet end to end on a cluster-in-a-box.
//!
//! Topology: etcd and kube-apiserver run in the harness's hub namespace (the apiserver bound to
//! the hub's bridge address, like a control-plane machine on the node network); the node's
//! tinykube-runtime and kubelet run in the node namespace (entered with `nsenter --net`, so they
//! share the machine's mount namespace and cgroup mounts), reaching the apiserver over the
//! bridge. Pods get their own network namespaces from the runtime and CNI (bridge `cni0` inside
//! the node namespace), so probes and the kubelet port are reachable from the kubelet as they
//! would be on a real node. The test drives the cluster with the real kubectl run inside the
//! hub namespace, and talks to the runtime over its unix socket.
//!
//! Needs root and `cargo build -p tinykube-kubelet -p tinykube-runtime -p tinykube-apiserver
//! --bins` first.

use std::path::{Path, PathBuf};
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

const WAIT: Duration = Duration::from_secs(60);

struct Cluster {
    // Drop order: kubelet, runtime, apiserver, etcd, then the network and the directory.
    kubelet: Option<Process>,
    runtime: Option<Process>,
    apiserver: Process,
    _etcd: Process,
    node: Node,
    node_name: String,
    cgroup_parent: String,
    pod_cidr: String,
    network: Network,
    dir: tempfile::TempDir,
}

impl Cluster {
    async fn start() -> anyhow::Result<Cluster> {
        require_root();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let network = Network::new()?;
        let node = network.add_node()?;
        let dir = tempfile::Builder::new()
            .prefix("tinykube-kubelet-")
            .tempdir()?;
        let d = dir.path().to_path_buf();
        let hub = network.hub_name().to_string();
        let hub_ip = network.hub_ip();
        // etcd on the hub's loopback: the namespace is ours, so fixed ports are free.
        let etcd = Launch::program(etcd_binary()?)
            .label("etcd")
            .netns(&hub)
            .args(["--name", "kubelet-test", "--data-dir"])
            .arg(d.join("etcd"))
            .args([
                "--listen-client-urls",
                "http://127.0.0.1:2379",
                "--advertise-client-urls",
                "http://127.0.0.1:2379",
            ])
            .args([
                "--listen-peer-urls",
                "http://127.0.0.1:2380",
                "--initial-advertise-peer-urls",
                "http://127.0.0.1:2380",
            ])
            .args([
                "--initial-cluster",
                "kubelet-test=http://127.0.0.1:2380",
                "--logger",
                "zap",
                "--log-outputs",
                "stderr",
            ])
            .spawn()?;
        let deadline = Instant::now() + WAIT;
        loop {
            let out = tokio::process::Command::new("/usr/bin/nsenter")
                .arg(format!("--net=/run/netns/{hub}"))
                .args([
                    "/bin/busybox",
                    "wget",
                    "-qO-",
                    "http://127.0.0.1:2379/health",
                ])
                .output()
                .await?;
            if String::from_utf8_lossy(&out.stdout).contains("true") {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "etcd not healthy: {}",
                etcd.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let apiserver = Launch::binary("kube-apiserver")?
            .netns(&hub)
            .args(["--etcd-servers", "http://127.0.0.1:2379"])
            .args([
                "--insecure-bind-address",
                &hub_ip.to_string(),
                "--insecure-port",
                "6443",
            ])
            .args(["--service-cluster-ip-range", "10.96.0.0/12"])
            .env("RUST_LOG", "info")
            .spawn()?;
        std::fs::write(
            d.join("kubeconfig"),
            format!("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://{hub_ip}:6443\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n    namespace: default\ncurrent-context: c\nusers:\n- name: u\n  user: {{}}\n"),
        )?;
        for sub in ["net.d", "manifests", "logs", "kubelet"] {
            std::fs::create_dir_all(d.join(sub))?;
        }
        // The busybox image, imported offline.
        let tar = d.join("busybox.tar");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hack/build-busybox-image.sh");
        let out = std::process::Command::new("bash")
            .arg(&script)
            .arg(&tar)
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "build image: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = std::process::Command::new(binary_path("tinykube-runtime")?)
            .arg("--root")
            .arg(d.join("root"))
            .arg("import")
            .arg(&tar)
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "import: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut c = Cluster {
            kubelet: None,
            runtime: None,
            apiserver,
            _etcd: etcd,
            node_name: format!("node-{}-{n}", std::process::id()),
            cgroup_parent: format!("tinykube/k{}-{n}", std::process::id()),
            pod_cidr: format!("10.244.{}.0/24", 150 + n),
            node,
            network,
            dir,
        };
        c.wait_apiserver().await?;
        c.start_runtime().await?;
        c.start_kubelet()?;
        c.wait_node_ready().await?;
        Ok(c)
    }

    fn d(&self) -> &Path {
        self.dir.path()
    }

    fn socket(&self) -> PathBuf {
        tinykube_tests::runtime_daemon::runtime_socket(self.d())
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

    async fn start_runtime(&mut self) -> anyhow::Result<()> {
        let p = tinykube_tests::runtime_daemon::start_runtime_daemon(
            self.node.name(),
            self.d(),
            &self.cgroup_parent,
        )
        .await?;
        self.runtime = Some(p);
        Ok(())
    }

    fn start_kubelet(&mut self) -> anyhow::Result<()> {
        let d = self.d().to_path_buf();
        let p = Launch::program("/usr/bin/nsenter")
            .label("kubelet")
            .arg(format!("--net=/run/netns/{}", self.node.name()))
            .arg(binary_path("kubelet")?)
            .env("RUST_LOG", "info,tinykube_kubelet=debug")
            .arg("--kubeconfig")
            .arg(d.join("kubeconfig"))
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
            .spawn()?;
        self.kubelet = Some(p);
        Ok(())
    }

    fn logs(&self) -> String {
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

    async fn kubectl(&self, args: &[&str]) -> anyhow::Result<CmdOutput> {
        self.kubectl_stdin(args, None).await
    }

    async fn kubectl_stdin(&self, args: &[&str], stdin: Option<&str>) -> anyhow::Result<CmdOutput> {
        use tokio::io::AsyncWriteExt;
        let mut cmd = tokio::process::Command::new("/usr/bin/nsenter");
        cmd.arg(format!("--net=/run/netns/{}", self.network.hub_name()))
            .arg(KUBECTL)
            .arg("--kubeconfig")
            .arg(self.d().join("kubeconfig"))
            .arg("--cache-dir")
            .arg(self.d().join("kcache"))
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn()?;
        let mut input = child.stdin.take().context("stdin")?;
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).await?;
        }
        drop(input);
        let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .context("kubectl timed out")??;
        Ok(CmdOutput {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    async fn apply(&self, yaml: &str) -> anyhow::Result<()> {
        let out = self
            .kubectl_stdin(&["apply", "-f", "-"], Some(yaml))
            .await?;
        anyhow::ensure!(out.success(), "apply: {}", out.stderr);
        Ok(())
    }

    async fn get_json(&self, args: &[&str]) -> anyhow::Result<Option<serde_json::Value>> {
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

    async fn pod(&self, name: &str) -> anyhow::Result<Option<Pod>> {
        Ok(match self.get_json(&["pod", name]).await? {
            Some(v) => Some(serde_json::from_value(v)?),
            None => None,
        })
    }

    /// Polls `check` on the pod until it returns true.
    async fn wait_pod(
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

    async fn wait_gone(&self, kind: &str, name: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + WAIT;
        while self.get_json(&[kind, name]).await?.is_some() {
            if Instant::now() > deadline {
                bail!("{kind} {name} still exists\n{}", self.logs());
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        Ok(())
    }

    async fn wait_node_ready(&self) -> anyhow::Result<()> {
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
    async fn kubelet_get(&self, path: &str) -> anyhow::Result<String> {
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

    async fn cri(&self) -> anyhow::Result<RuntimeServiceClient<tonic::transport::Channel>> {
        Ok(RuntimeServiceClient::new(
            tinykube_cri_proto::connect(self.socket().display().to_string()).await?,
        ))
    }

    async fn runtime_counts(&self) -> anyhow::Result<(usize, usize)> {
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

    /// Deletes every pod and waits until the runtime holds nothing; then stops everything.
    async fn shutdown(mut self) -> anyhow::Result<()> {
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
        let deadline = Instant::now() + WAIT;
        loop {
            let (s, c) = self.runtime_counts().await?;
            if s == 0 && c == 0 {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "runtime still holds {s} sandboxes, {c} containers\n{}",
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
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
        tinykube_tests::leftovers::remove_cgroups(&self.cgroup_parent);
        tinykube_tests::leftovers::unmount_entries(&self.d().join("state/netns"));
    }
}

fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn condition(p: &Pod, kind: &str) -> String {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == kind))
        .map(|c| c.status.clone())
        .unwrap_or_default()
}

fn cstatus(p: &Pod, name: &str) -> k8s_openapi::api::core::v1::ContainerStatus {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.clone())
        .into_iter()
        .flatten()
        .find(|c| c.name == name)
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_registration_lease_and_status() -> anyhow::Result<()> {
    let c = Cluster::start().await?;
    let n = c.get_json(&["node", &c.node_name]).await?.context("node")?;
    let addrs = n["status"]["addresses"].as_array().context("addresses")?;
    assert!(
        addrs
            .iter()
            .any(|a| a["type"] == "InternalIP" && a["address"] == c.node.ip().to_string()),
        "{addrs:?}"
    );
    assert_eq!(n["status"]["capacity"]["pods"], "110");
    assert_eq!(
        n["status"]["allocatable"]["cpu"],
        std::thread::available_parallelism()?.get().to_string()
    );
    assert!(n["status"]["capacity"]["memory"]
        .as_str()
        .unwrap_or("")
        .ends_with("Ki"));
    for kind in ["MemoryPressure", "DiskPressure", "PIDPressure"] {
        assert!(
            n["status"]["conditions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["type"] == kind),
            "{kind}"
        );
    }
    let lease = c
        .get_json(&["lease", "-n", "kube-node-lease", &c.node_name])
        .await?
        .context("lease")?;
    assert_eq!(lease["spec"]["holderIdentity"], c.node_name.as_str());
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 40);
    // The CNI config the kubelet wrote names the pod CIDR.
    let conf = std::fs::read_to_string(c.d().join("net.d/10-tinykube.conflist"))?;
    assert!(conf.contains(&c.pod_cidr), "{conf}");
    assert!(c.kubelet_get("/healthz").await?.contains("ok"));
    c.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_with_init_env_volumes_runs_and_reports_status() -> anyhow::Result<()> {
    let c = Cluster::start().await?;
    c.apply(
        r#"
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {password: s3cret, user: admin}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: conf}
data: {mode: fast, "app.conf": "level=1"}
---
apiVersion: v1
kind: Service
metadata: {name: web-svc}
spec:
  ports: [{port: 80, targetPort: 8080}]
"#,
    )
    .await?;
    let manifest = format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: app, labels: {{tier: front}}}}
spec:
  nodeName: {node}
  restartPolicy: Always
  volumes:
  - {{name: shared, emptyDir: {{}}}}
  - {{name: sec, secret: {{secretName: creds, defaultMode: 0400}}}}
  - {{name: cfg, configMap: {{name: conf, items: [{{key: app.conf, path: conf/app.conf}}]}}}}
  initContainers:
  - name: init1
    image: busybox
    command: [sh, -c, "echo first > /shared/order"]
    volumeMounts: [{{name: shared, mountPath: /shared}}]
  - name: init2
    image: busybox
    command: [sh, -c, "echo second >> /shared/order"]
    volumeMounts: [{{name: shared, mountPath: /shared}}]
  containers:
  - name: main
    image: busybox
    command: [sh, -c]
    args:
    - |
      echo "ORDER=$(cat /shared/order | tr '\n' ,)"
      echo "PW=$PW MODE=$MODE NAME=$POD_NAME NS=$POD_NS UID=$POD_UID TIER=$TIER IP=$POD_IP NODE=$NODE"
      echo "SVC=$WEB_SVC_SERVICE_HOST:$WEB_SVC_SERVICE_PORT LINK=$WEB_SVC_PORT_80_TCP_ADDR"
      echo "FROM=$cfg_mode"
      echo "SECRETFILE=$(cat /sec/password) MODEBITS=$(stat -L -c %a /sec/password)"
      echo "CFGFILE=$(cat /cfg/conf/app.conf)"
      touch /sec/x 2>/dev/null && echo SECRET_RW || echo SECRET_RO
      echo ready; sleep 3600
    env:
    - {{name: PW, valueFrom: {{secretKeyRef: {{name: creds, key: password}}}}}}
    - {{name: MODE, valueFrom: {{configMapKeyRef: {{name: conf, key: mode}}}}}}
    - {{name: POD_NAME, valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}}}
    - {{name: POD_NS, valueFrom: {{fieldRef: {{fieldPath: metadata.namespace}}}}}}
    - {{name: POD_UID, valueFrom: {{fieldRef: {{fieldPath: metadata.uid}}}}}}
    - {{name: TIER, valueFrom: {{fieldRef: {{fieldPath: "metadata.labels['tier']"}}}}}}
    - {{name: POD_IP, valueFrom: {{fieldRef: {{fieldPath: status.podIP}}}}}}
    - {{name: NODE, valueFrom: {{fieldRef: {{fieldPath: spec.nodeName}}}}}}
    envFrom: [{{prefix: cfg_, configMapRef: {{name: conf}}}}]
    volumeMounts:
    - {{name: shared, mountPath: /shared}}
    - {{name: sec, mountPath: /sec}}
    - {{name: cfg, mountPath: /cfg}}
    resources:
      limits: {{cpu: 500m, memory: 64Mi}}
"#,
        node = c.node_name
    );
    c.apply(&manifest).await?;
    let p = c
        .wait_pod("app", "Running and Ready", |p| {
            phase(p) == "Running" && condition(p, "Ready") == "True"
        })
        .await?;
    let st = p.status.clone().unwrap();
    let ip = st.pod_ip.clone().context("podIP")?;
    assert!(
        ip.starts_with(c.pod_cidr.trim_end_matches("0/24")),
        "{ip} in {}",
        c.pod_cidr
    );
    assert_eq!(
        st.host_ip.as_deref(),
        Some(c.node.ip().to_string().as_str())
    );
    assert!(st.start_time.is_some());
    // Init containers without resources make it Burstable, as upstream.
    assert_eq!(st.qos_class.as_deref(), Some("Burstable"));
    for k in ["PodScheduled", "Initialized", "ContainersReady", "Ready"] {
        assert_eq!(condition(&p, k), "True", "{k}");
    }
    let inits = st.init_container_statuses.clone().unwrap();
    assert!(inits.iter().all(|s| s
        .state
        .as_ref()
        .unwrap()
        .terminated
        .as_ref()
        .unwrap()
        .exit_code
        == 0));
    let main = cstatus(&p, "main");
    assert!(main.state.as_ref().unwrap().running.is_some());
    assert!(main
        .container_id
        .as_deref()
        .unwrap_or("")
        .starts_with("tinykube://"));
    assert!(!main.image_id.is_empty());
    assert_eq!(main.restart_count, 0);

    let uid = p.metadata.uid.clone().unwrap();
    let deadline = Instant::now() + WAIT;
    let logs = loop {
        let l = c
            .kubelet_get("/containerLogs/default/app/main")
            .await
            .unwrap_or_default();
        if l.contains("ready") || Instant::now() > deadline {
            break l;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(logs.contains("ORDER=first,second,"), "{logs}");
    assert!(
        logs.contains(&format!(
            "PW=s3cret MODE=fast NAME=app NS=default UID={uid} TIER=front IP={ip} NODE={}",
            c.node_name
        )),
        "{logs}"
    );
    assert!(logs.contains("LINK=10."), "{logs}");
    assert!(logs.contains(":80 "), "{logs}");
    assert!(logs.contains("FROM=fast"), "{logs}");
    assert!(logs.contains("SECRETFILE=s3cret MODEBITS=400"), "{logs}");
    assert!(logs.contains("CFGFILE=level=1"), "{logs}");
    assert!(logs.contains("SECRET_RO"), "{logs}");
    let tail = c
        .kubelet_get("/containerLogs/default/app/main?tailLines=1")
        .await?;
    assert_eq!(tail.trim(), "ready");
    let pods = c.kubelet_get("/pods").await?;
    assert!(pods.contains("\"app\""), "{pods}");

    // configMap volumes follow the object.
    c.apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: conf}\ndata: {mode: fast, \"app.conf\": \"level=2\"}\n").await?;
    let file = c.d().join(format!(
        "kubelet/pods/{uid}/volumes/kubernetes.io~configmap/cfg/conf/app.conf"
    ));
    let deadline = Instant::now() + WAIT;
    while std::fs::read_to_string(&file).unwrap_or_default() != "level=2" {
        anyhow::ensure!(
            Instant::now() < deadline,
            "configmap volume not updated\n{}",
            c.logs()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // Events for the lifecycle.
    let ev = c
        .kubectl(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=app",
            "-o",
            "jsonpath={.items[*].reason}",
        ])
        .await?;
    for r in ["Pulling", "Pulled", "Created", "Started"] {
        assert!(ev.stdout.contains(r), "{r} in {}", ev.stdout);
    }
    c.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_deletion_runs_prestop_and_cleans_up() -> anyhow::Result<()> {
    let c = Cluster::start().await?;
    let hostdir = c.d().join("host");
    std::fs::create_dir_all(&hostdir)?;
    c.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: stopper}}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 5
  volumes: [{{name: h, hostPath: {{path: {host}}}}}]
  containers:
  - name: c
    image: busybox
    command: [sh, -c, "trap 'echo TERM >> /h/log; exit 0' TERM; while true; do sleep 0.1; done"]
    volumeMounts: [{{name: h, mountPath: /h}}]
    lifecycle:
      preStop:
        exec: {{command: [sh, -c, "echo PRESTOP >> /h/log"]}}
"#,
        node = c.node_name,
        host = hostdir.display()
    ))
    .await?;
    c.wait_pod("stopper", "Running", |p| phase(p) == "Running")
        .await?;
    let out = c
        .kubectl(&["delete", "pod", "stopper", "--wait=false"])
        .await?;
    assert!(out.success(), "{}", out.stderr);
    c.wait_gone("pod", "stopper").await?;
    let log = std::fs::read_to_string(hostdir.join("log"))?;
    assert_eq!(log, "PRESTOP\nTERM\n");
    assert_eq!(c.runtime_counts().await?, (0, 0));
    let ev = c
        .kubectl(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=stopper",
            "-o",
            "jsonpath={.items[*].reason}",
        ])
        .await?;
    assert!(ev.stdout.contains("Killing"), "{}", ev.stdout);
    c.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashloop_backoff_and_restart_policies() -> anyhow::Result<()> {
    let c = Cluster::start().await?;
    for (name, policy, code) in [
        ("crash", "Always", 3),
        ("once", "Never", 4),
        ("fine", "OnFailure", 0),
    ] {
        c.apply(&format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  nodeName: {}\n  restartPolicy: {policy}\n  containers:\n  - {{name: c, image: busybox, command: [sh, -c, 'exit {code}']}}\n", c.node_name)).await?;
    }
    let p = c
        .wait_pod("crash", "CrashLoopBackOff after restarts", |p| {
            let s = cstatus(p, "c");
            s.restart_count >= 1
                && s.state
                    .as_ref()
                    .and_then(|s| s.waiting.as_ref())
                    .and_then(|w| w.reason.as_deref())
                    == Some("CrashLoopBackOff")
        })
        .await?;
    let s = cstatus(&p, "c");
    assert_eq!(s.last_state.unwrap().terminated.unwrap().exit_code, 3);
    let p = c
        .wait_pod("once", "Failed", |p| phase(p) == "Failed")
        .await?;
    let t = cstatus(&p, "c").state.unwrap().terminated.unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (4, Some("Error")));
    assert_eq!(cstatus(&p, "c").restart_count, 0);
    let p = c
        .wait_pod("fine", "Succeeded", |p| phase(p) == "Succeeded")
        .await?;
    assert_eq!(
        cstatus(&p, "c")
            .state
            .unwrap()
            .terminated
            .unwrap()
            .reason
            .as_deref(),
        Some("Completed")
    );
    let ev = c
        .kubectl(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=crash",
            "-o",
            "jsonpath={.items[*].reason}",
        ])
        .await?;
    assert!(ev.stdout.contains("BackOff"), "{}", ev.stdout);
    c.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_drive_readiness_and_liveness_restarts() -> anyhow::Result<()> {
    let c = Cluster::start().await?;
    c.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: probed}}
spec:
  nodeName: {node}
  containers:
  - name: web
    image: busybox
    command: [sh, -c, "mkdir -p /www && echo hi > /www/index.html && httpd -f -p 8080 -h /www"]
    readinessProbe:
      httpGet: {{path: /index.html, port: 8080}}
      periodSeconds: 1
    livenessProbe:
      tcpSocket: {{port: 8080}}
      periodSeconds: 1
  - name: flaky
    image: busybox
    command: [sh, -c, "touch /tmp/alive; sleep 3600"]
    livenessProbe:
      exec: {{command: [test, -f, /tmp/alive]}}
      initialDelaySeconds: 1
      periodSeconds: 1
      failureThreshold: 2
"#,
        node = c.node_name
    ))
    .await?;
    c.wait_pod("probed", "Ready", |p| condition(p, "Ready") == "True")
        .await?;
    // Break the exec liveness probe: the container is restarted.
    let p = c.pod("probed").await?.context("pod")?;
    let id = cstatus(&p, "flaky")
        .container_id
        .unwrap()
        .trim_start_matches("tinykube://")
        .to_string();
    let mut rt = c.cri().await?;
    rt.exec_sync(cri::ExecSyncRequest {
        container_id: id,
        cmd: vec!["rm".into(), "/tmp/alive".into()],
        timeout: 10,
    })
    .await?;
    c.wait_pod("probed", "flaky restarted", |p| {
        cstatus(p, "flaky").restart_count >= 1
    })
    .await?;
    // Break readiness: web is not Ready, pod not Ready.
    let p = c.pod("probed").await?.context("pod")?;
    let id = cstatus(&p, "web")
        .container_id
        .unwrap()
        .trim_start_matches("tinykube://")
        .to_string();
    rt.exec_sync(cri::ExecSyncRequest {
        container_id: id,
        cmd: vec!["rm".into(), "/www/index.html".into()],
        timeout: 10,
    })
    .await?;
    let p = c
        .wait_pod("probed", "not Ready", |p| condition(p, "Ready") == "False")
        .await?;
    assert!(!cstatus(&p, "web").ready);
    assert_eq!(cstatus(&p, "web").restart_count, 0);
    let ev = c
        .kubectl(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=probed",
            "-o",
            "jsonpath={.items[*].reason}",
        ])
        .await?;
    assert!(
        ev.stdout.contains("Unhealthy") && ev.stdout.contains("Killing"),
        "{}",
        ev.stdout
    );
    c.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubelet_restart_adopts_running_pods() -> anyhow::Result<()> {
    let mut c = Cluster::start().await?;
    c.apply(&format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: keep}}\nspec:\n  nodeName: {}\n  containers:\n  - {{name: c, image: busybox, command: [sleep, '3600']}}\n", c.node_name)).await?;
    let before = c
        .wait_pod("keep", "Running", |p| {
            phase(p) == "Running" && condition(p, "Ready") == "True"
        })
        .await?;
    let mut k = c.kubelet.take().context("kubelet")?;
    k.signal("KILL");
    let _ = k.wait_exit(Duration::from_secs(10)).await;
    drop(k);
    c.start_kubelet()?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = c
        .wait_pod("keep", "Running", |p| phase(p) == "Running")
        .await?;
    let (b, a) = (cstatus(&before, "c"), cstatus(&after, "c"));
    assert_eq!(a.container_id, b.container_id);
    assert_eq!(a.restart_count, 0);
    assert_eq!(
        after.status.as_ref().unwrap().pod_ip,
        before.status.as_ref().unwrap().pod_ip
    );
    assert_eq!(c.runtime_counts().await?, (1, 1));
    c.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_pods_and_mirror_pods() -> anyhow::Result<()> {
    let c = Cluster::start().await?;
    let m = c.d().join("manifests");
    std::fs::write(m.join("bad.yaml"), "kind: Pod\nmetadata: [broken")?;
    std::fs::write(m.join("web.yaml"), "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - {name: c, image: busybox, command: [sleep, '3600']}\n")?;
    let mirror = format!("web-{}", c.node_name);
    let p = c
        .wait_pod(&mirror, "mirror Running", |p| phase(p) == "Running")
        .await?;
    assert!(p
        .metadata
        .annotations
        .as_ref()
        .unwrap()
        .contains_key("kubernetes.io/config.mirror"));
    // Deleted mirror pods come back; the static pod keeps running.
    let out = c
        .kubectl(&["delete", "pod", &mirror, "--wait=false"])
        .await?;
    assert!(out.success(), "{}", out.stderr);
    let uid = p.metadata.uid.clone();
    c.wait_pod(&mirror, "mirror recreated", |p| {
        p.metadata.uid != uid && phase(p) == "Running"
    })
    .await?;
    assert_eq!(c.runtime_counts().await?, (1, 1));
    let log = c.kubelet.as_ref().unwrap().log();
    assert!(
        log.contains("bad.yaml"),
        "malformed manifest not logged by name"
    );
    // Removing the file stops the pod and removes the mirror.
    std::fs::remove_file(m.join("web.yaml"))?;
    c.wait_gone("pod", &mirror).await?;
    let deadline = Instant::now() + WAIT;
    while c.runtime_counts().await? != (0, 0) {
        anyhow::ensure!(
            Instant::now() < deadline,
            "static pod not stopped\n{}",
            c.logs()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    c.shutdown().await
}

/// The real `kubectl logs` goes to the apiserver, which streams the log from the pod's kubelet
/// (found through the Node's InternalIP and kubelet port): whole, tailed, with timestamps, and
/// with a clear error for a container the pod does not have.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_logs_are_proxied_through_the_apiserver() -> anyhow::Result<()> {
    let c = Cluster::start().await?;
    c.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: talker}}
spec:
  nodeName: {node}
  containers:
  - name: c
    image: busybox
    command: [sh, -c, "echo first line; echo second line; sleep 3600"]
"#,
        node = c.node_name
    ))
    .await?;
    c.wait_pod("talker", "Running", |p| phase(p) == "Running")
        .await?;
    let deadline = Instant::now() + WAIT;
    let whole = loop {
        let out = c.kubectl(&["logs", "talker"]).await?;
        if out.success() && out.stdout.contains("second line") {
            break out.stdout;
        }
        if Instant::now() > deadline {
            bail!(
                "kubectl logs never showed both lines: {} {}",
                out.stdout,
                out.stderr
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(whole, "first line\nsecond line\n");
    let tail = c
        .kubectl(&["logs", "talker", "--tail=1", "--timestamps"])
        .await?;
    assert!(tail.success(), "{}", tail.stderr);
    let line = tail.stdout.trim_end();
    assert!(
        line.ends_with(" second line") && !line.contains("first"),
        "{line}"
    );
    assert!(
        line.starts_with("20") && line.contains('T'),
        "timestamp missing: {line}"
    );
    let wrong = c.kubectl(&["logs", "talker", "-c", "nope"]).await?;
    assert!(!wrong.success());
    assert!(
        wrong
            .stderr
            .contains("container nope is not valid for pod talker"),
        "{}",
        wrong.stderr
    );
    c.shutdown().await
}
