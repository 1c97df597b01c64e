//! kube-proxy against real iptables inside node network namespaces.
//!
//! Topology (all namespaces created here, nothing in the machine's own namespace):
//!
//! ```text
//! hub ns   etcd (127.0.0.1 of the hub), kube-apiserver on <hub ip>:6443, kubectl runs here
//!   |  bridge
//! n1 ns    kube-proxy (iptables of n1), default route via the hub, ip_forward on
//!   |-- vp<i> 10.244.1.1  <->  "pod" ns p<i>: eth0 10.244.1.<i+1>/32, busybox httpd :8080
//! n2 ns    an off-cluster client for NodePorts
//! ```
//!
//! Here "pods" are network namespaces with a server and EndpointSlices are written through the
//! API by the test, as the controller would, so every rule change is under the test's control;
//! `kube_proxy_pods.rs` runs the same paths with real pods, kubelet and controller manager. kube-proxy runs inside n1 and reaches the apiserver on the
//! hub's address, the real topology. Clients use `timeout N busybox wget -qO-`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tinykube_tests::cluster::HubControlPlane;
use tinykube_tests::kubectl::Invocation;
use tinykube_tests::{require_root, CmdOutput, Launch, Network, Node, Process};

const CLUSTER_IP: &str = "10.96.100.10";
const NODE_PORT: u16 = 30080;
const WAIT: Duration = Duration::from_secs(30);

static POD_COUNTER: AtomicU32 = AtomicU32::new(0);

/// Runs a command with a bound; output whatever the exit status.
async fn run(program: &str, args: &[&str], timeout: Duration) -> anyhow::Result<CmdOutput> {
    Ok(Invocation::new(program)
        .args(args)
        .timeout(timeout)
        .run()
        .await?)
}

/// `ip netns exec NS program args`, which must succeed.
async fn ns_ok(ns: &str, program: &str, args: &[&str]) -> anyhow::Result<String> {
    let mut full = vec!["netns", "exec", ns, program];
    full.extend_from_slice(args);
    let out = run("ip", &full, Duration::from_secs(30)).await?;
    if !out.success() {
        bail!(
            "`ip netns exec {ns} {program} {}` failed: {}{}",
            args.join(" "),
            out.stdout,
            out.stderr
        );
    }
    Ok(out.stdout)
}

async fn ip_ok(args: &[&str]) -> anyhow::Result<()> {
    let out = run("ip", args, Duration::from_secs(20)).await?;
    if !out.success() {
        bail!("`ip {}` failed: {}", args.join(" "), out.stderr);
    }
    Ok(())
}

/// A hollow pod: a network namespace routed through node n1, serving its name over HTTP.
/// Its namespace is removed on drop (after its server, which is dropped first).
struct Pod {
    server: Option<Process>,
    ns: String,
    _dir: tempfile::TempDir,
}

impl Drop for Pod {
    fn drop(&mut self) {
        drop(self.server.take());
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.ns])
            .status();
    }
}

/// The whole cluster-in-a-box for one test. Field order is drop order: kube-proxy, pods,
/// the control plane, then the namespaces.
struct Cluster {
    proxy: Option<Process>,
    pods: Vec<Pod>,
    control_plane: HubControlPlane,
    _dir: tempfile::TempDir,
    n1: Node,
    n2: Node,
    network: Network,
}

impl Cluster {
    async fn start() -> anyhow::Result<Cluster> {
        require_root();
        let network = Network::new()?;
        let n1 = network.add_node()?;
        let n2 = network.add_node()?;
        let dir = tempfile::Builder::new().prefix("tinykube-kp-").tempdir()?;
        let control_plane = HubControlPlane::start(&network, dir.path()).await?;
        let cluster = Cluster {
            proxy: None,
            pods: Vec::new(),
            control_plane,
            _dir: dir,
            n1,
            n2,
            network,
        };
        let (n1, n2, hub_ip) = (
            cluster.n1.name().to_string(),
            cluster.n2.name().to_string(),
            cluster.network.hub_ip().to_string(),
        );
        // ClusterIPs route somewhere (so OUTPUT-chain DNAT applies); n1 forwards for its pods.
        for ns in [&n1, &n2] {
            ip_ok(&["-n", ns, "route", "add", "default", "via", &hub_ip]).await?;
        }
        ns_ok(&n1, "sysctl", &["-qw", "net.ipv4.ip_forward=1"]).await?;
        Ok(cluster)
    }

    fn kubeconfig(&self) -> PathBuf {
        self.control_plane.kubeconfig()
    }

    async fn apply(&self, yaml: &str) -> anyhow::Result<()> {
        let out = self
            .control_plane
            .kubectl(&["apply", "-f", "-"], Some(yaml))
            .await?;
        if !out.success() {
            bail!("kubectl apply failed: {}\n{yaml}", out.stderr);
        }
        Ok(())
    }

    /// Adds a hollow pod routed through n1: `p<i>` with IP 10.244.1.<i+1>, serving `name`.
    async fn add_pod(&mut self, name: &str, serve: bool) -> anyhow::Result<String> {
        let index = self.pods.len() + 1;
        let ns = format!(
            "tkh-{}-kp{}-p{index}",
            std::process::id(),
            POD_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let ip = format!("10.244.1.{}", index + 1);
        let veth = format!("vp{index}");
        let n1 = self.n1.name().to_string();
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join("index.html"), format!("{name}\n"))?;
        // Recorded first, so a failure below still removes the namespace.
        self.pods.push(Pod {
            server: None,
            ns: ns.clone(),
            _dir: dir,
        });
        ip_ok(&["netns", "add", &ns]).await?;
        ip_ok(&[
            "-n", &n1, "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
        ])
        .await?;
        ip_ok(&["-n", &n1, "addr", "add", "10.244.1.1/32", "dev", &veth]).await?;
        ip_ok(&["-n", &n1, "link", "set", &veth, "up"]).await?;
        ip_ok(&["-n", &n1, "route", "add", &format!("{ip}/32"), "dev", &veth]).await?;
        ip_ok(&["-n", &ns, "link", "set", "lo", "up"]).await?;
        ip_ok(&["-n", &ns, "addr", "add", &format!("{ip}/32"), "dev", "eth0"]).await?;
        ip_ok(&["-n", &ns, "link", "set", "eth0", "up"]).await?;
        ip_ok(&["-n", &ns, "route", "add", "10.244.1.1", "dev", "eth0"]).await?;
        ip_ok(&["-n", &ns, "route", "add", "default", "via", "10.244.1.1"]).await?;
        if serve {
            let pod = self.pods.last_mut().context("pod just added")?;
            let root = pod._dir.path().to_path_buf();
            pod.server = Some(
                Launch::program("busybox")
                    .netns(&ns)
                    .args(["httpd", "-f", "-p", "8080", "-h"])
                    .arg(root)
                    .label(format!("httpd-{name}"))
                    .spawn()?,
            );
        }
        Ok(ip)
    }

    fn start_proxy(&mut self, extra: &[&str]) -> anyhow::Result<()> {
        let proxy = Launch::binary("kube-proxy")?
            .netns(self.n1.name())
            .arg("--kubeconfig")
            .arg(self.kubeconfig())
            .args([
                "--hostname-override",
                "n1",
                "--cluster-cidr",
                "10.244.0.0/16",
            ])
            .args(["--min-sync-period", "200ms", "--sync-period", "10s"])
            .args(["--metrics-bind-address", "0.0.0.0:10249"])
            .args(extra)
            .env("RUST_LOG", "info,tinykube_kube_proxy=debug")
            .spawn()?;
        self.proxy = Some(proxy);
        Ok(())
    }

    fn proxy_log(&self) -> String {
        self.proxy
            .as_ref()
            .map(|p| p.log_tail())
            .unwrap_or_default()
    }

    /// `busybox wget` of `url` from namespace `ns`, bounded: Ok(body) or Err(message).
    async fn get(&self, ns: &str, url: &str) -> anyhow::Result<Result<String, String>> {
        let out = run(
            "ip",
            &[
                "netns", "exec", ns, "timeout", "2", "busybox", "wget", "-qO-", url,
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

    /// `count` requests; how often each body answered (errors under `"ERR: ..."`).
    async fn spread(
        &self,
        ns: &str,
        url: &str,
        count: usize,
    ) -> anyhow::Result<BTreeMap<String, usize>> {
        let mut seen = BTreeMap::new();
        for _ in 0..count {
            let key = match self.get(ns, url).await? {
                Ok(body) => body,
                Err(e) => format!("ERR: {e}"),
            };
            *seen.entry(key).or_insert(0) += 1;
        }
        Ok(seen)
    }

    async fn iptables_save(&self, table: &str) -> anyhow::Result<String> {
        ns_ok(self.n1.name(), "iptables-save", &["-t", table]).await
    }

    /// Waits until the nat table of n1 satisfies `pred`.
    async fn wait_nat(&self, what: &str, pred: impl Fn(&str) -> bool) -> anyhow::Result<()> {
        let deadline = Instant::now() + WAIT;
        loop {
            let nat = self.iptables_save("nat").await?;
            if pred(&nat) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "timed out waiting for {what}; nat:\n{nat}\nkube-proxy:\n{}",
                    self.proxy_log()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn http_in_n1(&self, port: u16, path: &str) -> anyhow::Result<Result<String, String>> {
        self.get(self.n1.name(), &format!("http://127.0.0.1:{port}{path}"))
            .await
    }
}

fn service_yaml(name: &str, ip: &str, proto: &str, port: u16, extra_spec: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  clusterIP: {ip}\n  selector:\n    app: {name}\n  ports:\n  - port: {port}\n    protocol: {proto}\n{extra_spec}"
    )
}

fn slice_yaml(service: &str, proto: &str, port: u16, ips: &[&str]) -> String {
    let mut eps = String::new();
    for ip in ips {
        eps.push_str(&format!(
            "- addresses: [\"{ip}\"]\n  conditions:\n    ready: true\n"
        ));
    }
    let eps = if ips.is_empty() {
        "[]\n".to_string()
    } else {
        format!("\n{eps}")
    };
    format!(
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: {service}-abcde\n  labels:\n    kubernetes.io/service-name: {service}\naddressType: IPv4\nports:\n- name: \"\"\n  port: {port}\n  protocol: {proto}\nendpoints: {eps}"
    )
}

/// The web Service (ClusterIP + NodePort) with three hollow pods, synced into n1's rules.
async fn web_cluster(affinity: &str) -> anyhow::Result<(Cluster, Vec<String>)> {
    let mut cluster = Cluster::start().await?;
    let mut ips = Vec::new();
    for name in ["web-0", "web-1", "web-2"] {
        ips.push(cluster.add_pod(name, true).await?);
    }
    let extra = format!("  type: NodePort\n{affinity}");
    let mut svc = service_yaml("web", CLUSTER_IP, "TCP", 80, &extra);
    svc = svc.replace(
        "    protocol: TCP\n",
        &format!("    protocol: TCP\n    targetPort: 8080\n    nodePort: {NODE_PORT}\n"),
    );
    cluster.apply(&svc).await?;
    let refs: Vec<&str> = ips.iter().map(String::as_str).collect();
    cluster
        .apply(&slice_yaml("web", "TCP", 8080, &refs))
        .await?;
    cluster.start_proxy(&[])?;
    let want: Vec<String> = ips
        .iter()
        .map(|ip| format!("--to-destination {ip}:8080"))
        .collect();
    cluster
        .wait_nat("three DNAT endpoints", |nat| {
            want.iter().all(|w| nat.contains(w))
        })
        .await?;
    Ok((cluster, ips))
}

fn all_three(seen: &BTreeMap<String, usize>) -> bool {
    let names: BTreeSet<&str> = seen.keys().map(String::as_str).collect();
    names == BTreeSet::from(["web-0", "web-1", "web-2"])
}

#[tokio::test]
async fn cluster_ip_node_port_hairpin_removal_and_reject() -> anyhow::Result<()> {
    let (mut cluster, ips) = web_cluster("").await?;
    let url = format!("http://{CLUSTER_IP}/");
    let n1 = cluster.n1.name().to_string();
    let n2 = cluster.n2.name().to_string();

    // The upstream chains are there, hooked into the built-in chains.
    let nat = cluster.iptables_save("nat").await?;
    for want in [
        "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
        "-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
        "-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING",
        "-j KUBE-NODEPORTS",
        "-m statistic --mode random --probability 0.3333",
        "-j MASQUERADE --random-fully",
    ] {
        assert!(nat.contains(want), "missing {want:?} in\n{nat}");
    }

    // ClusterIP from the node itself (nat OUTPUT) and from a client pod (nat PREROUTING).
    let seen = cluster.spread(&n1, &url, 60).await?;
    assert!(all_three(&seen), "from the node: {seen:?}");
    let client_ip = cluster.add_pod("client", false).await?;
    let client_ns = cluster
        .pods
        .last()
        .map(|p| p.ns.clone())
        .unwrap_or_default();
    let seen = cluster.spread(&client_ns, &url, 60).await?;
    assert!(all_three(&seen), "from pod {client_ip}: {seen:?}");

    // NodePort from another node (off-cluster source, masqueraded).
    let node_url = format!("http://{}:{NODE_PORT}/", cluster.n1.ip());
    let seen = cluster.spread(&n2, &node_url, 60).await?;
    assert!(all_three(&seen), "NodePort from n2: {seen:?}");

    // Hairpin: web-0 reaches its own Service, and sometimes itself through it.
    let web0_ns = cluster.pods[0].ns.clone();
    let seen = cluster.spread(&web0_ns, &url, 60).await?;
    assert!(all_three(&seen), "hairpin from web-0: {seen:?}");

    // web-2's endpoint goes: no more traffic to it.
    cluster
        .apply(&slice_yaml("web", "TCP", 8080, &[&ips[0], &ips[1]]))
        .await?;
    let gone = format!("--to-destination {}:8080", ips[2]);
    cluster
        .wait_nat("web-2 removed", |nat| !nat.contains(&gone))
        .await?;
    let seen = cluster.spread(&n1, &url, 60).await?;
    let names: BTreeSet<&str> = seen.keys().map(String::as_str).collect();
    assert_eq!(names, BTreeSet::from(["web-0", "web-1"]), "{seen:?}");

    // Scaled to zero: connection refused (REJECT in the filter table), for both paths.
    cluster.apply(&slice_yaml("web", "TCP", 8080, &[])).await?;
    cluster
        .wait_nat("no endpoints", |nat| !nat.contains("DNAT"))
        .await?;
    let filter = cluster.iptables_save("filter").await?;
    assert!(filter.contains("default/web has no endpoints"), "{filter}");
    let answer = cluster.get(&n1, &url).await?;
    assert!(
        matches!(&answer, Err(e) if e.contains("refused")),
        "{answer:?}"
    );
    let answer = cluster.get(&n2, &node_url).await?;
    assert!(
        matches!(&answer, Err(e) if e.contains("refused")),
        "{answer:?}"
    );

    // /healthz: the time of the last successful sync; /metrics: sync durations.
    let health = cluster.http_in_n1(10256, "/healthz").await?;
    let health = health.map_err(anyhow::Error::msg)?;
    let json: serde_json::Value = serde_json::from_str(&health)?;
    assert!(
        json["lastUpdated"]
            .as_str()
            .is_some_and(|t| t.starts_with("20")),
        "{health}"
    );
    let metrics = cluster
        .http_in_n1(10249, "/metrics")
        .await?
        .map_err(anyhow::Error::msg)?;
    assert!(
        metrics.contains("kubeproxy_sync_proxy_rules_duration_seconds_count"),
        "{metrics}"
    );
    assert!(
        metrics.contains("kubeproxy_sync_proxy_rules_last_timestamp_seconds"),
        "{metrics}"
    );
    assert!(cluster.proxy.as_mut().is_some_and(|p| p.is_running()));
    Ok(())
}

#[tokio::test]
async fn session_affinity_client_ip_sticks() -> anyhow::Result<()> {
    let affinity = "  sessionAffinity: ClientIP\n  sessionAffinityConfig:\n    clientIP:\n      timeoutSeconds: 600\n";
    let (cluster, _) = web_cluster(affinity).await?;
    let nat = cluster.iptables_save("nat").await?;
    assert!(nat.contains("--rcheck --seconds 600 --reap"), "{nat}");
    let seen = cluster
        .spread(cluster.n1.name(), &format!("http://{CLUSTER_IP}/"), 20)
        .await?;
    assert_eq!(seen.len(), 1, "one client, one backend: {seen:?}");
    assert!(seen.keys().all(|k| k.starts_with("web-")), "{seen:?}");
    // Another client (n2 through the NodePort) is pinned too, possibly elsewhere.
    let seen = cluster
        .spread(
            cluster.n2.name(),
            &format!("http://{}:{NODE_PORT}/", cluster.n1.ip()),
            20,
        )
        .await?;
    assert_eq!(seen.len(), 1, "{seen:?}");
    Ok(())
}

#[tokio::test]
async fn udp_conntrack_entries_of_removed_endpoints_are_flushed() -> anyhow::Result<()> {
    let mut cluster = Cluster::start().await?;
    let a = cluster.add_pod("dns-0", false).await?;
    let b = cluster.add_pod("dns-1", false).await?;
    let ip = "10.96.100.53";
    cluster
        .apply(&service_yaml("dns", ip, "UDP", 53, "").replace(
            "    protocol: UDP\n",
            "    protocol: UDP\n    targetPort: 5353\n",
        ))
        .await?;
    cluster
        .apply(&slice_yaml("dns", "UDP", 5353, &[&a, &b]))
        .await?;
    cluster.start_proxy(&[])?;
    let want = format!("--to-destination {b}:5353");
    cluster
        .wait_nat("UDP endpoints", |nat| nat.contains(&want))
        .await?;
    let n1 = cluster.n1.name().to_string();
    // Each datagram from a new source port is a new conntrack entry, DNATed to either pod.
    for _ in 0..24 {
        ns_ok(&n1, "bash", &["-c", &format!("echo x > /dev/udp/{ip}/53")]).await?;
    }
    let to_b = format!("src={b} ");
    let list = ns_ok(&n1, "conntrack", &["-L", "-p", "udp"]).await?;
    assert!(
        list.contains(&to_b),
        "an entry DNATed to {b} expected:\n{list}"
    );

    cluster
        .apply(&slice_yaml("dns", "UDP", 5353, &[&a]))
        .await?;
    cluster
        .wait_nat("dns-1 removed", |nat| !nat.contains(&want))
        .await?;
    let deadline = Instant::now() + WAIT;
    loop {
        let list = ns_ok(&n1, "conntrack", &["-L", "-p", "udp"]).await?;
        if !list.contains(&to_b) {
            assert!(
                list.contains(&format!("src={a} ")),
                "dns-0's entries stay:\n{list}"
            );
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "entries to {b} not flushed:\n{list}\n{}",
                cluster.proxy_log()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

#[tokio::test]
async fn foreign_rules_survive_syncs_and_cleanup_removes_only_ours() -> anyhow::Result<()> {
    let (mut cluster, ips) = web_cluster("").await?;
    let n1 = cluster.n1.name().to_string();
    // Somebody else's rules, in both tables and in built-in and own chains.
    for args in [
        vec!["-t", "nat", "-N", "FOREIGN"],
        vec![
            "-t",
            "nat",
            "-A",
            "FOREIGN",
            "-s",
            "10.99.0.0/24",
            "-j",
            "RETURN",
        ],
        vec![
            "-t",
            "nat",
            "-A",
            "POSTROUTING",
            "-s",
            "10.99.0.0/24",
            "-j",
            "FOREIGN",
        ],
        vec![
            "-t",
            "filter",
            "-A",
            "INPUT",
            "-s",
            "10.98.0.0/24",
            "-j",
            "DROP",
        ],
    ] {
        ns_ok(&n1, "iptables", &args).await?;
    }
    // A sync (one endpoint fewer) replaces our chains and leaves theirs alone.
    cluster
        .apply(&slice_yaml("web", "TCP", 8080, &[&ips[0]]))
        .await?;
    let gone = format!("--to-destination {}:8080", ips[1]);
    cluster.wait_nat("sync", |nat| !nat.contains(&gone)).await?;
    let nat = cluster.iptables_save("nat").await?;
    assert!(
        nat.contains("-A FOREIGN -s 10.99.0.0/24 -j RETURN"),
        "{nat}"
    );
    // No stale chains are left behind: exactly one SEP chain for the one endpoint.
    assert_eq!(
        nat.lines().filter(|l| l.starts_with(":KUBE-SEP-")).count(),
        1,
        "{nat}"
    );

    cluster.proxy = None; // SIGTERM
    let mut cleanup = Launch::binary("kube-proxy")?
        .netns(&n1)
        .arg("--cleanup")
        .spawn()?;
    let status = cleanup.wait_exit(Duration::from_secs(30)).await?;
    assert!(status.success(), "{}", cleanup.log());
    let nat = cluster.iptables_save("nat").await?;
    let filter = cluster.iptables_save("filter").await?;
    assert!(
        !nat.contains("KUBE-") && !filter.contains("KUBE-"),
        "{nat}\n{filter}"
    );
    assert!(nat.contains(":FOREIGN"), "{nat}");
    assert!(
        nat.contains("-A FOREIGN -s 10.99.0.0/24 -j RETURN"),
        "{nat}"
    );
    assert!(
        nat.contains("-A POSTROUTING -s 10.99.0.0/24 -j FOREIGN"),
        "{nat}"
    );
    assert!(
        filter.contains("-A INPUT -s 10.98.0.0/24 -j DROP"),
        "{filter}"
    );
    Ok(())
}

#[tokio::test]
async fn keeps_running_and_retries_when_iptables_restore_fails() -> anyhow::Result<()> {
    let (mut cluster, ips) = web_cluster("").await?;
    let n1 = cluster.n1.name().to_string();
    // A foreign rule jumping into one of our endpoint chains: deleting that chain (when its
    // endpoint goes) makes the whole restore fail.
    let nat = cluster.iptables_save("nat").await?;
    let sep = nat
        .lines()
        .find(|l| l.contains(&format!("--to-destination {}:8080", ips[2])))
        .and_then(|l| l.split_whitespace().nth(1))
        .context("SEP chain of web-2")?
        .to_string();
    let foreign = [
        "-t",
        "nat",
        "-A",
        "OUTPUT",
        "-d",
        "10.55.0.0/16",
        "-j",
        sep.as_str(),
    ];
    ns_ok(&n1, "iptables", &foreign).await?;
    cluster
        .apply(&slice_yaml("web", "TCP", 8080, &[&ips[0], &ips[1]]))
        .await?;
    let deadline = Instant::now() + WAIT;
    while !cluster.proxy_log().contains("sync failed") {
        if Instant::now() > deadline {
            bail!("no failed sync:\n{}", cluster.proxy_log());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(cluster.proxy.as_mut().is_some_and(|p| p.is_running()));
    let metrics = cluster
        .http_in_n1(10249, "/metrics")
        .await?
        .map_err(anyhow::Error::msg)?;
    assert!(
        metrics.lines().any(|l| l
            .starts_with("kubeproxy_sync_proxy_rules_iptables_restore_failures_total ")
            && !l.ends_with(" 0")),
        "{metrics}"
    );
    // The transaction failed as a whole: the old rules still work.
    assert!(cluster
        .iptables_save("nat")
        .await?
        .contains(&format!("--to-destination {}:8080", ips[2])));
    // Once the obstacle is gone, a retry succeeds.
    let mut delete = foreign.to_vec();
    delete[2] = "-D";
    ns_ok(&n1, "iptables", &delete).await?;
    let gone = format!("--to-destination {}:8080", ips[2]);
    cluster
        .wait_nat("retry to succeed", |nat| !nat.contains(&gone))
        .await?;
    Ok(())
}

#[tokio::test]
async fn partial_syncs_leave_unchanged_chains_and_the_periodic_full_sync_repairs_them(
) -> anyhow::Result<()> {
    let (cluster, ips) = web_cluster("").await?;
    let n1 = cluster.n1.name().to_string();
    // Somebody tampers with web-0's endpoint chain (a harmless rule after its DNAT).
    let nat = cluster.iptables_save("nat").await?;
    let sep = nat
        .lines()
        .find(|l| l.contains(&format!("--to-destination {}:8080", ips[0])))
        .and_then(|l| l.split_whitespace().nth(1))
        .context("SEP chain of web-0")?
        .to_string();
    let tamper = [
        "-t",
        "nat",
        "-A",
        sep.as_str(),
        "-m",
        "comment",
        "--comment",
        "tampered",
        "-j",
        "RETURN",
    ];
    ns_ok(&n1, "iptables", &tamper).await?;
    // web-2's endpoint goes: a partial sync rewrites the Service's chain and deletes web-2's,
    // and leaves web-0's chain as it is, tampering included.
    cluster
        .apply(&slice_yaml("web", "TCP", 8080, &[&ips[0], &ips[1]]))
        .await?;
    let gone = format!("--to-destination {}:8080", ips[2]);
    cluster
        .wait_nat("web-2 removed", |nat| !nat.contains(&gone))
        .await?;
    let nat = cluster.iptables_save("nat").await?;
    assert!(
        nat.contains(&format!("-A {sep} -m comment --comment tampered -j RETURN")),
        "a partial sync rewrote an unchanged chain:\n{nat}"
    );
    assert!(
        !nat.contains("--probability 0.3333"),
        "the Service's chain was rewritten for two endpoints:\n{nat}"
    );
    // The periodic full sync (--sync-period 10s) rewrites every chain: the tampering goes.
    cluster
        .wait_nat("the full resync to repair web-0's chain", |nat| {
            !nat.contains("tampered")
        })
        .await?;
    let metrics = cluster
        .http_in_n1(10249, "/metrics")
        .await?
        .map_err(anyhow::Error::msg)?;
    let count = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    assert!(
        count("kubeproxy_sync_partial_proxy_rules_duration_seconds_count") >= 1,
        "{metrics}"
    );
    assert!(
        count("kubeproxy_sync_full_proxy_rules_duration_seconds_count") >= 2,
        "{metrics}"
    );
    Ok(())
}
