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
//! The cluster is the harness's one-node [`Cluster`] plus the controller manager and kube-proxy.
//! The pods are real: Deployments and Pods through the API (bound to the node by `nodeName`,
//! so no scheduler is needed), started by the kubelet through the runtime from the busybox
//! image, networked by the CNI plugins, their EndpointSlices written by the controller manager.
//! Requests run inside the pods (CRI ExecSync of busybox `wget`, bounded with `timeout`, since
//! busybox `wget -T` crashes) and from the hub. Needs root and `cargo build --workspace --bins`
//! first.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use k8s_openapi::api::core::v1::Pod;
use tinykube_tests::cluster::Cluster;
use tinykube_tests::kubectl::Invocation;
use tinykube_tests::{Launch, Process};

/// How long any one wait may take.
const WAIT: Duration = Duration::from_secs(90);
const WEB_IP: &str = "10.96.100.10";
const NODE_PORT: u16 = 30080;
const DNS_IP: &str = "10.96.100.53";

/// The one-node [`Cluster`] with what Services need on top: kube-controller-manager in the hub
/// and kube-proxy in the node. Field order is drop order.
struct PodCluster {
    proxy: Process,
    controller_manager: Process,
    base: Cluster,
}

impl PodCluster {
    async fn start() -> anyhow::Result<PodCluster> {
        let cluster = Cluster::start().await?;
        // ClusterIPs must route somewhere from the node itself (nat OUTPUT applies before the
        // route lookup only if there is one).
        let hub_ip = cluster.network.hub_ip().to_string();
        node_ok(&cluster, "ip", &["route", "add", "default", "via", &hub_ip]).await?;
        let controller_manager = cluster.start_controller_manager()?;
        let proxy = Launch::binary("kube-proxy")?
            .netns(cluster.node.name())
            .arg("--kubeconfig")
            .arg(cluster.control_plane.kubeconfig())
            .args(["--hostname-override", &cluster.node_name])
            .args(["--cluster-cidr", "10.244.0.0/16"])
            .args(["--min-sync-period", "200ms", "--sync-period", "10s"])
            .env("RUST_LOG", "info,tinykube_kube_proxy=debug")
            .spawn()?;
        Ok(PodCluster {
            proxy,
            controller_manager,
            base: cluster,
        })
    }

    fn logs(&self) -> String {
        format!(
            "--- kube-proxy ---\n{}\n{}\n--- controller-manager ---\n{}",
            self.proxy.log_tail(),
            self.base.logs(),
            self.controller_manager.log_tail()
        )
    }

    async fn apply(&self, yaml: &str) -> anyhow::Result<()> {
        self.base.apply(yaml).await
    }

    async fn node_ok(&self, program: &str, args: &[&str]) -> anyhow::Result<String> {
        node_ok(&self.base, program, args).await
    }

    async fn kubectl_ok(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self.base.kubectl(args).await?;
        anyhow::ensure!(out.success(), "kubectl {args:?}: {}", out.stderr);
        Ok(out.stdout)
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
                let all = self.base.kubectl(&["get", "pods", "-o", "wide"]).await?;
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

    /// One bounded `wget` of `url` from inside `pod` (CRI ExecSync in its first container):
    /// Ok(body) or Err(what wget said).
    async fn get_from_pod(&self, pod: &Pod, url: &str) -> anyhow::Result<Result<String, String>> {
        let container = pod
            .spec
            .as_ref()
            .and_then(|s| s.containers.first())
            .map(|c| c.name.as_str())
            .context("pod without containers")?;
        let (code, stdout, stderr) = self
            .base
            .exec(pod, container, &["timeout", "3", "wget", "-qO-", url])
            .await?;
        Ok(if code == 0 {
            Ok(stdout.trim().to_string())
        } else {
            Err(format!("{stdout}{stderr}").trim().to_string())
        })
    }

    /// One bounded `wget` of `url` from the hub namespace (a client off the node).
    async fn get_from_hub(&self, url: &str) -> anyhow::Result<Result<String, String>> {
        let out = Invocation::new("ip")
            .args(["netns", "exec", self.base.network.hub_name()])
            .args(["timeout", "3", "busybox", "wget", "-qO-", url])
            .timeout(Duration::from_secs(10))
            .run()
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

    /// Deletes every pod and checks that the runtime and the kubelet keep nothing of them.
    async fn shutdown(mut self) -> anyhow::Result<()> {
        // Without the controller manager no ReplicaSet brings back the pods being deleted.
        self.controller_manager.stop();
        self.proxy.stop();
        self.base.shutdown().await
    }
}

/// `program args` inside the node namespace, which must succeed.
async fn node_ok(cluster: &Cluster, program: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = cluster
        .node
        .exec_async(program, args, Duration::from_secs(30))
        .await?;
    anyhow::ensure!(
        out.success(),
        "`{program} {}` in the node failed: {}{}",
        args.join(" "),
        out.stdout,
        out.stderr
    );
    Ok(out.stdout)
}

/// Where a request is sent from.
#[derive(Clone, Copy)]
enum Source<'a> {
    /// Inside this pod (CRI ExecSync).
    Pod(&'a Pod),
    /// The hub namespace: a client off the node.
    Hub,
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
    cluster.apply(&web_yaml(&cluster.base.node_name)).await?;
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
    let node_url = format!("http://{}:{NODE_PORT}/", cluster.base.node.ip());
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
    let node = cluster.base.node_name.clone();
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
