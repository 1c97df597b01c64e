//! What the kubelet does to a pod's processes, checked from the inside and on the machine:
//! resources become cgroup limits (read from the cgroup files the runtime created), a
//! container over its memory limit is reported OOMKilled, securityContext fields are what the
//! process sees (`id -u`, a read-only root, `CapEff` in `/proc/self/status`), and a
//! hostNetwork pod lives in the node's network namespace with the node's IP.
//!
//! One-node cluster-in-a-box from [`tinykube_tests::cluster`]; the busybox image is imported
//! offline, hence `imagePullPolicy: IfNotPresent`. Needs root and `cargo build
//! --workspace --bins` first.

use std::path::{Path, PathBuf};

use anyhow::Context;
use k8s_openapi::api::core::v1::Pod;
use tinykube_tests::cluster::{cstatus, phase, Cluster};

/// The cgroup hierarchies a container's cgroup can live in: v1 controllers, or the v2 tree.
const HIERARCHIES: &[&str] = &["cpu", "cpu,cpuacct", "memory", "unified", ""];

/// The directory of container `name`'s cgroup in `hierarchy` (`<parent>/pod-<sandbox>/<id>`).
fn container_cgroup(c: &Cluster, pod: &Pod, name: &str, hierarchy: &str) -> Option<PathBuf> {
    let id = cstatus(pod, name).container_id?;
    let id = id.trim_start_matches("tinykube://");
    let short = id.get(..16)?;
    let parent = Path::new("/sys/fs/cgroup")
        .join(hierarchy)
        .join(&c.cgroup_parent);
    std::fs::read_dir(&parent)
        .ok()?
        .flatten()
        .map(|e| e.path().join(short))
        .find(|p| p.is_dir())
}

/// The content of `file` in the first hierarchy where the container's cgroup has it.
fn cgroup_file(c: &Cluster, pod: &Pod, name: &str, file: &str) -> Option<String> {
    HIERARCHIES.iter().find_map(|h| {
        let dir = container_cgroup(c, pod, name, h)?;
        std::fs::read_to_string(dir.join(file))
            .ok()
            .map(|s| s.trim().to_string())
    })
}

/// Whether the machine runs the pure cgroup v2 layout (then limits are in `cpu.max` etc.).
fn cgroup_v2_only() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").is_file()
}

/// `kubectl logs <pod> -c <container>`, waited for until it contains `marker`.
async fn logs_with(
    c: &Cluster,
    pod: &str,
    container: &str,
    marker: &str,
) -> anyhow::Result<String> {
    c.wait_kubectl_output(&["logs", pod, "-c", container], marker)
        .await
}

/// The value of `key:` in a `/proc/<pid>/status` text, e.g. `CapEff`.
fn status_field(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resources_become_cgroup_limits() -> anyhow::Result<()> {
    let c = Cluster::start().await?;
    c.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: sized}}
spec:
  nodeName: {node}
  containers:
  - name: limited
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sleep, "3600"]
    resources:
      requests: {{cpu: 250m, memory: 32Mi}}
      limits: {{cpu: 500m, memory: 64Mi}}
  - name: requested
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sleep, "3600"]
    resources:
      requests: {{cpu: 100m}}
"#,
        node = c.node_name
    ))
    .await?;
    let p = c
        .wait_pod("sized", "Running", |p| phase(p) == "Running")
        .await?;
    assert_eq!(
        p.status.as_ref().and_then(|s| s.qos_class.as_deref()),
        Some("Burstable")
    );
    if cgroup_v2_only() {
        // cpu.max is "<quota> <period>"; cpu.weight is upstream's shares -> weight mapping.
        assert_eq!(
            cgroup_file(&c, &p, "limited", "cpu.max").as_deref(),
            Some("50000 100000")
        );
        assert_eq!(
            cgroup_file(&c, &p, "limited", "memory.max").as_deref(),
            Some("67108864")
        );
        assert_eq!(
            cgroup_file(&c, &p, "requested", "cpu.max").as_deref(),
            Some("max 100000")
        );
        assert_eq!(
            cgroup_file(&c, &p, "requested", "memory.max").as_deref(),
            Some("max")
        );
    } else {
        let read = |name: &str, file: &str| {
            cgroup_file(&c, &p, name, file)
                .with_context(|| format!("{file} of {name}\n{}", c.logs()))
        };
        // 500m of a 100 ms period; requests -> shares (milliCPU * 1024 / 1000).
        assert_eq!(read("limited", "cpu.cfs_period_us")?, "100000");
        assert_eq!(read("limited", "cpu.cfs_quota_us")?, "50000");
        assert_eq!(read("limited", "cpu.shares")?, "256");
        assert_eq!(read("limited", "memory.limit_in_bytes")?, "67108864");
        // Without limits: no quota, no memory limit (the kernel's "unlimited"), shares from
        // the request.
        assert_eq!(read("requested", "cpu.cfs_quota_us")?, "-1");
        assert_eq!(read("requested", "cpu.shares")?, "102");
        let unlimited: u64 = read("requested", "memory.limit_in_bytes")?.parse()?;
        assert!(unlimited > 1 << 50, "memory limit {unlimited}");
    }
    c.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_over_its_memory_limit_is_oom_killed() -> anyhow::Result<()> {
    let c = Cluster::start().await?;
    // dd's 64 MiB buffer is filled from /dev/zero, so every page of it is charged to the
    // container's 16 MiB memory cgroup; dd is the container's main process, so the OOM kill
    // is its exit.
    c.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: hog}}
spec:
  nodeName: {node}
  restartPolicy: Never
  containers:
  - name: hog
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [dd, if=/dev/zero, of=/dev/null, bs=64M, count=1]
    resources:
      limits: {{memory: 16Mi}}
"#,
        node = c.node_name
    ))
    .await?;
    let p = c
        .wait_pod("hog", "Failed", |p| phase(p) == "Failed")
        .await?;
    let t = cstatus(&p, "hog")
        .state
        .and_then(|s| s.terminated)
        .context("terminated state")?;
    assert_eq!(
        (t.reason.as_deref(), t.exit_code),
        (Some("OOMKilled"), 137),
        "{t:?}"
    );
    assert_eq!(cstatus(&p, "hog").restart_count, 0);
    c.shutdown().await
}

/// Capability bits as the kernel numbers them (`include/uapi/linux/capability.h`).
const CAP_CHOWN: u64 = 1 << 0;
const CAP_NET_ADMIN: u64 = 1 << 12;
const CAP_NET_RAW: u64 = 1 << 13;
const CAP_SYS_ADMIN: u64 = 1 << 21;
/// containerd's default set: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP
/// NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP.
const DEFAULT_CAPS: u64 = 0xa804_25fb;
/// Every capability the kernel defines up to CHECKPOINT_RESTORE (40).
const ALL_CAPS: u64 = (1 << 41) - 1;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_context_is_what_the_process_sees() -> anyhow::Result<()> {
    let c = Cluster::start().await?;
    let report = r#"echo "UID=$(id -u) GID=$(id -g)"; grep CapEff /proc/self/status; (touch /probe 2>/dev/null && echo ROOTFS=rw || echo ROOTFS=ro); (touch /scratch/probe 2>/dev/null && echo SCRATCH=rw || echo SCRATCH=ro); echo done; sleep 3600"#;
    c.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: guarded}}
spec:
  nodeName: {node}
  volumes: [{{name: scratch, emptyDir: {{}}}}]
  containers:
  - name: plain
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sh, -c, '{report}']
    volumeMounts: [{{name: scratch, mountPath: /scratch}}]
  - name: user
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sh, -c, '{report}']
    volumeMounts: [{{name: scratch, mountPath: /scratch}}]
    securityContext: {{runAsUser: 1234, runAsGroup: 2345}}
  - name: readonly
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sh, -c, '{report}']
    volumeMounts: [{{name: scratch, mountPath: /scratch}}]
    securityContext: {{readOnlyRootFilesystem: true}}
  - name: privileged
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sh, -c, '{report}']
    volumeMounts: [{{name: scratch, mountPath: /scratch}}]
    securityContext: {{privileged: true}}
  - name: caps
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sh, -c, '{report}']
    volumeMounts: [{{name: scratch, mountPath: /scratch}}]
    securityContext:
      capabilities: {{add: [NET_ADMIN], drop: [NET_RAW, CHOWN]}}
"#,
        node = c.node_name
    ))
    .await?;
    c.wait_pod("guarded", "Running", |p| phase(p) == "Running")
        .await?;
    // A privileged container gets every capability the runtime itself may hand out.
    let bounding = status_field(&std::fs::read_to_string("/proc/self/status")?, "CapBnd")
        .context("CapBnd of the test process")?;
    let mut seen = Vec::new();
    for name in ["plain", "user", "readonly", "privileged", "caps"] {
        let out = logs_with(&c, "guarded", name, "done").await?;
        let cap_eff = status_field(&out, "CapEff").with_context(|| format!("{name}: {out}"))?;
        seen.push((name, out, cap_eff));
    }
    let get = |n: &str| seen.iter().find(|(name, ..)| *name == n).unwrap();

    let (_, out, cap) = get("plain");
    assert!(out.contains("UID=0 GID=0"), "{out}");
    assert!(out.contains("ROOTFS=rw"), "{out}");
    assert_eq!(*cap, DEFAULT_CAPS, "plain CapEff {cap:#x}");

    let (_, out, cap) = get("user");
    assert!(out.contains("UID=1234 GID=2345"), "{out}");
    // A non-root process keeps no effective capabilities.
    assert_eq!(*cap, 0, "user CapEff {cap:#x}");

    let (_, out, _) = get("readonly");
    assert!(out.contains("ROOTFS=ro"), "{out}");
    // Volumes stay writable on a read-only root.
    assert!(out.contains("SCRATCH=rw"), "{out}");

    let (_, out, cap) = get("privileged");
    assert!(out.contains("UID=0"), "{out}");
    assert_eq!(*cap, ALL_CAPS & bounding, "privileged CapEff {cap:#x}");
    assert_ne!(*cap & CAP_SYS_ADMIN, 0);

    let (_, _, cap) = get("caps");
    assert_eq!(
        *cap,
        (DEFAULT_CAPS | CAP_NET_ADMIN) & !CAP_NET_RAW & !CAP_CHOWN,
        "caps CapEff {cap:#x}"
    );
    c.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_network_pod_shares_the_node_network() -> anyhow::Result<()> {
    let c = Cluster::start().await?;
    c.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: hostnet}}
spec:
  nodeName: {node}
  hostNetwork: true
  containers:
  - name: c
    image: busybox
    imagePullPolicy: IfNotPresent
    # The CNI bridge appears with the node's first pod network (podnet's, maybe after us).
    command: [sh, -c, "i=0; until ip -o link show cni0 >/dev/null 2>&1 || [ $i -ge 300 ]; do sleep 0.1; i=$((i+1)); done; ip -4 -o addr show; echo done; sleep 3600"]
---
apiVersion: v1
kind: Pod
metadata: {{name: podnet}}
spec:
  nodeName: {node}
  containers:
  - name: c
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sh, -c, "ip -4 -o addr show; echo done; sleep 3600"]
"#,
        node = c.node_name
    ))
    .await?;
    let node_ip = c.node.ip().to_string();
    let host = c
        .wait_pod("hostnet", "Running", |p| phase(p) == "Running")
        .await?;
    let st = host.status.clone().context("status")?;
    assert_eq!(st.pod_ip.as_deref(), Some(node_ip.as_str()));
    assert_eq!(st.host_ip.as_deref(), Some(node_ip.as_str()));
    let ips: Vec<String> = st.pod_ips.into_iter().flatten().map(|i| i.ip).collect();
    assert_eq!(ips, vec![node_ip.clone()]);
    let inside = logs_with(&c, "hostnet", "c", "done").await?;
    // The node namespace's interfaces: its eth0 with the node IP, and the CNI bridge.
    assert!(inside.contains(&format!("inet {node_ip}/")), "{inside}");
    assert!(inside.contains("cni0"), "{inside}");

    // A pod without hostNetwork gets its own namespace and an IP from the pod CIDR.
    let pod = c
        .wait_pod("podnet", "Running", |p| phase(p) == "Running")
        .await?;
    let pod_ip = pod.status.and_then(|s| s.pod_ip).context("podnet podIP")?;
    assert!(
        pod_ip.starts_with(c.pod_cidr.trim_end_matches("0/24")),
        "{pod_ip}"
    );
    let inside = logs_with(&c, "podnet", "c", "done").await?;
    assert!(inside.contains(&format!("inet {pod_ip}/")), "{inside}");
    assert!(!inside.contains(&node_ip), "{inside}");
    c.shutdown().await
}
