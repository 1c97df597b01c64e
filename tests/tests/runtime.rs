//! tinykube-runtime end to end: the daemon runs inside a node network namespace and is driven
//! over CRI on its unix socket. Each test has its own state dirs, CNI config and IP range, and
//! cgroup parent `tinykube/t<pid>-<n>`, and checks that nothing is left behind.
//!
//! Needs root and `cargo build -p tinykube-runtime` first.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tinykube_cri_proto::v1 as cri;
use tinykube_cri_proto::v1::image_service_client::ImageServiceClient;
use tinykube_cri_proto::v1::runtime_service_client::RuntimeServiceClient;
use tinykube_tests::{binary_path, require_root, Network, Node, Process};
use tonic::transport::Channel;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// One daemon with its own dirs inside a node namespace.
struct Env {
    dir: tempfile::TempDir,
    node: Node,
    cgroup_parent: String,
    subnet: String,
    daemon: Option<Process>,
    rt: RuntimeServiceClient<Channel>,
    img: ImageServiceClient<Channel>,
    // Declared last: dropped after the daemon.
    network: Network,
}

impl Env {
    async fn new() -> anyhow::Result<Env> {
        require_root();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let network = Network::new()?;
        let node = network.add_node()?;
        let dir = tempfile::tempdir()?;
        let cgroup_parent = format!("tinykube/t{}-{n}", std::process::id());
        let subnet = format!("10.244.{}.0/24", 100 + n);
        let conf = dir.path().join("net.d");
        std::fs::create_dir_all(&conf)?;
        std::fs::write(
            conf.join("10-tinykube.conflist"),
            serde_json::json!({
                "cniVersion": "1.0.0", "name": "tinykube",
                "plugins": [
                    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false,
                     "hairpinMode": true,
                     "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]],
                              "routes": [{"dst": "0.0.0.0/0"}],
                              "dataDir": dir.path().join("ipam")}},
                    {"type": "portmap", "capabilities": {"portMappings": true}},
                    {"type": "loopback"}
                ]
            })
            .to_string(),
        )?;
        tinykube_tests::runtime_daemon::import_busybox_image(dir.path()).await?;
        let mut env = Env {
            dir,
            node,
            cgroup_parent,
            subnet,
            daemon: None,
            rt: RuntimeServiceClient::new(Channel::from_static("http://unused").connect_lazy()),
            img: ImageServiceClient::new(Channel::from_static("http://unused").connect_lazy()),
            network,
        };
        env.start().await?;
        Ok(env)
    }

    /// Runs `tinykube-runtime` as a client of this daemon (its socket and store), bounded.
    async fn cli(&self, args: &[&str]) -> anyhow::Result<std::process::Output> {
        let mut cmd = tokio::process::Command::new(binary_path("tinykube-runtime")?);
        cmd.arg("--listen")
            .arg(self.socket())
            .arg("--root")
            .arg(self.dir.path().join("root"))
            .args(args)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        Ok(tokio::time::timeout(Duration::from_secs(60), cmd.output())
            .await
            .map_err(|_| anyhow::anyhow!("tinykube-runtime {args:?} did not finish in 60s"))??)
    }

    fn socket(&self) -> PathBuf {
        tinykube_tests::runtime_daemon::runtime_socket(self.dir.path())
    }

    async fn start(&mut self) -> anyhow::Result<()> {
        self.start_with(&[]).await
    }

    /// Starts the daemon with more flags and connects to it.
    async fn start_with(&mut self, args: &[std::ffi::OsString]) -> anyhow::Result<()> {
        let p = tinykube_tests::runtime_daemon::start_runtime_daemon_with_args(
            self.node.name(),
            self.dir.path(),
            &self.cgroup_parent,
            args,
        )
        .await?;
        let ch = tinykube_cri_proto::connect(self.socket().display().to_string()).await?;
        self.rt = RuntimeServiceClient::new(ch.clone());
        self.img = ImageServiceClient::new(ch);
        self.daemon = Some(p);
        Ok(())
    }

    fn sandbox_config(&self, name: &str) -> cri::PodSandboxConfig {
        cri::PodSandboxConfig {
            metadata: Some(cri::PodSandboxMetadata {
                name: name.into(),
                uid: format!("uid-{name}"),
                namespace: "default".into(),
                attempt: 0,
            }),
            hostname: name.into(),
            log_directory: self
                .dir
                .path()
                .join("logs")
                .join(name)
                .display()
                .to_string(),
            labels: HashMap::from([("app".to_string(), name.to_string())]),
            ..Default::default()
        }
    }

    async fn run_pod(&mut self, name: &str) -> anyhow::Result<String> {
        let config = self.sandbox_config(name);
        Ok(self.run_pod_with(config).await?)
    }

    async fn run_pod_with(
        &mut self,
        config: cri::PodSandboxConfig,
    ) -> Result<String, tonic::Status> {
        Ok(self
            .rt
            .run_pod_sandbox(cri::RunPodSandboxRequest {
                config: Some(config),
                runtime_handler: String::new(),
            })
            .await?
            .into_inner()
            .pod_sandbox_id)
    }

    async fn create(
        &mut self,
        pod: &str,
        pod_name: &str,
        config: cri::ContainerConfig,
    ) -> Result<String, tonic::Status> {
        let sandbox_config = self.sandbox_config(pod_name);
        Ok(self
            .rt
            .create_container(cri::CreateContainerRequest {
                pod_sandbox_id: pod.into(),
                config: Some(config),
                sandbox_config: Some(sandbox_config),
            })
            .await?
            .into_inner()
            .container_id)
    }

    async fn run(
        &mut self,
        pod: &str,
        pod_name: &str,
        config: cri::ContainerConfig,
    ) -> anyhow::Result<String> {
        let id = self.create(pod, pod_name, config).await?;
        self.rt
            .start_container(cri::StartContainerRequest {
                container_id: id.clone(),
            })
            .await?;
        Ok(id)
    }

    async fn exec(&mut self, id: &str, cmd: &[&str]) -> anyhow::Result<(String, String, i32)> {
        let r = match self
            .rt
            .exec_sync(cri::ExecSyncRequest {
                container_id: id.into(),
                cmd: cmd.iter().map(|s| s.to_string()).collect(),
                timeout: 20,
            })
            .await
        {
            Ok(r) => r.into_inner(),
            Err(e) => {
                let st = self.status(id).await;
                anyhow::bail!("exec {cmd:?} in {id}: {e}; container status: {st:?}");
            }
        };
        Ok((
            String::from_utf8_lossy(&r.stdout).into_owned(),
            String::from_utf8_lossy(&r.stderr).into_owned(),
            r.exit_code,
        ))
    }

    async fn status(&mut self, id: &str) -> anyhow::Result<cri::ContainerStatus> {
        Ok(self
            .rt
            .container_status(cri::ContainerStatusRequest {
                container_id: id.into(),
                verbose: false,
            })
            .await?
            .into_inner()
            .status
            .unwrap())
    }

    async fn wait_exited(&mut self, id: &str) -> anyhow::Result<cri::ContainerStatus> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let s = self.status(id).await?;
            if s.state == cri::ContainerState::ContainerExited as i32 {
                return Ok(s);
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "container {id} did not exit: {s:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn remove_pod(&mut self, id: &str) -> anyhow::Result<()> {
        self.rt
            .stop_pod_sandbox(cri::StopPodSandboxRequest {
                pod_sandbox_id: id.into(),
            })
            .await?;
        self.rt
            .remove_pod_sandbox(cri::RemovePodSandboxRequest {
                pod_sandbox_id: id.into(),
            })
            .await?;
        Ok(())
    }

    /// Everything the runtime created is gone: netns mounts, cgroups, IPs, overlay mounts in
    /// the daemon's mount namespace, records.
    fn assert_clean(&self) {
        let d = self.dir.path();
        let netns: Vec<_> = std::fs::read_dir(d.join("state/netns"))
            .map(|r| r.flatten().collect())
            .unwrap_or_default();
        assert!(netns.is_empty(), "netns files left: {netns:?}");
        for c in ["cpu", "memory", "pids"] {
            let p = Path::new("/sys/fs/cgroup")
                .join(c)
                .join(&self.cgroup_parent);
            let children: Vec<_> = std::fs::read_dir(&p)
                .map(|r| r.flatten().filter(|e| e.path().is_dir()).collect())
                .unwrap_or_default();
            assert!(
                children.is_empty(),
                "cgroups left under {}: {children:?}",
                p.display()
            );
        }
        let ips: Vec<_> = std::fs::read_dir(d.join("ipam/tinykube"))
            .map(|r| {
                r.flatten()
                    .map(|e| e.file_name())
                    .filter(|n| n.to_string_lossy().starts_with("10."))
                    .collect()
            })
            .unwrap_or_default();
        assert!(ips.is_empty(), "IPs still allocated: {ips:?}");
        if let Some(p) = &self.daemon {
            let mounts =
                std::fs::read_to_string(format!("/proc/{}/mounts", p.pid())).unwrap_or_default();
            let root = d.display().to_string();
            let ours: Vec<&str> = mounts.lines().filter(|l| l.contains(&root)).collect();
            assert!(ours.is_empty(), "mounts left: {ours:?}");
        }
        let recs: Vec<_> = std::fs::read_dir(d.join("root/containers"))
            .map(|r| r.flatten().collect())
            .unwrap_or_default();
        assert!(recs.is_empty(), "container records left: {recs:?}");
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // Safety net when a test fails midway: kill what is left in our cgroups, remove them.
        tinykube_tests::leftovers::remove_cgroups(&self.cgroup_parent);
        tinykube_tests::leftovers::unmount_entries(&self.dir.path().join("state/netns"));
    }
}

/// `config` with the namespace options a kubelet sends for a pod's `hostNetwork`, `hostPID`,
/// `shareProcessNamespace`.
fn with_namespaces(
    mut config: cri::PodSandboxConfig,
    options: cri::NamespaceOption,
) -> cri::PodSandboxConfig {
    config.linux = Some(cri::LinuxPodSandboxConfig {
        security_context: Some(cri::LinuxSandboxSecurityContext {
            namespace_options: Some(options),
            ..Default::default()
        }),
        ..Default::default()
    });
    config
}

fn busybox(name: &str, cmd: &[&str]) -> cri::ContainerConfig {
    cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata {
            name: name.into(),
            attempt: 0,
        }),
        image: Some(cri::ImageSpec {
            image: "busybox".into(),
            ..Default::default()
        }),
        command: cmd.iter().map(|s| s.to_string()).collect(),
        log_path: format!("{name}/0.log"),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_with_two_containers_runs_isolated_and_networked() -> anyhow::Result<()> {
    let mut env = Env::new().await?;
    let v = env
        .rt
        .version(cri::VersionRequest::default())
        .await?
        .into_inner();
    assert_eq!(
        (v.runtime_name.as_str(), v.runtime_api_version.as_str()),
        ("tinykube", "v1")
    );
    let images = env
        .img
        .list_images(cri::ListImagesRequest::default())
        .await?
        .into_inner()
        .images;
    assert_eq!(
        images[0].repo_tags,
        vec!["docker.io/library/busybox:latest"]
    );

    let pod = env.run_pod("web").await?;
    let st = env
        .rt
        .pod_sandbox_status(cri::PodSandboxStatusRequest {
            pod_sandbox_id: pod.clone(),
            verbose: false,
        })
        .await?
        .into_inner()
        .status
        .unwrap();
    assert_eq!(st.state, cri::PodSandboxState::SandboxReady as i32);
    let ip = st.network.unwrap().ip;
    let prefix = env.subnet.trim_end_matches("0/24").to_string();
    assert!(ip.starts_with(&prefix), "pod ip {ip} not in {}", env.subnet);

    let server = env.run(&pod, "web", busybox("server", &["sh", "-c", "mkdir -p /www && echo hello > /www/index.html && echo started && echo oops >&2 && exec httpd -f -p 8080 -h /www"])).await?;
    let mut client_cfg = busybox("client", &["sleep", "3600"]);
    client_cfg.envs = vec![cri::KeyValue {
        key: "GREETING".into(),
        value: "hi there".into(),
    }];
    let client = env.run(&pod, "web", client_cfg).await?;

    // localhost between containers of one pod (the server needs a moment to listen).
    let mut body = String::new();
    for _ in 0..100 {
        body = env
            .exec(&client, &["wget", "-qO-", "http://127.0.0.1:8080/"])
            .await?
            .0;
        if body.contains("hello") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(body.trim(), "hello");
    // The pod IP is reachable from the node, through the CNI bridge.
    let out = env.node.exec(
        "/bin/busybox",
        &["wget", "-qO-", &format!("http://{ip}:8080/")],
    )?;
    assert_eq!(out.stdout.trim(), "hello", "{out:?}");

    // Own pid namespace: the container process is PID 1 and sees only itself (+ exec).
    let (out, _, _) = env.exec(&client, &["cat", "/proc/1/cmdline"]).await?;
    assert_eq!(out.replace('\0', " ").trim(), "sleep 3600");
    let (out, _, _) = env
        .exec(&client, &["sh", "-c", "ls /proc | grep -c '^[0-9]'"])
        .await?;
    assert!(
        out.trim().parse::<u32>()? <= 4,
        "too many processes visible: {out}"
    );
    // UTS, /etc files, env.
    assert_eq!(env.exec(&client, &["hostname"]).await?.0.trim(), "web");
    let hosts = env.exec(&client, &["cat", "/etc/hosts"]).await?.0;
    assert!(hosts.contains(&format!("{ip}\tweb")), "{hosts}");
    assert_eq!(
        env.exec(&client, &["sh", "-c", "echo $GREETING"])
            .await?
            .0
            .trim(),
        "hi there"
    );
    // Writable layer per container.
    assert_eq!(
        env.exec(&client, &["sh", "-c", "echo x > /marker"])
            .await?
            .2,
        0
    );
    assert_eq!(env.exec(&server, &["test", "-e", "/marker"]).await?.2, 1);
    // Masked /proc, read-only /sys, default capabilities, no_new_privs.
    assert_eq!(
        env.exec(&client, &["sh", "-c", "cat /proc/timer_list | wc -c"])
            .await?
            .0
            .trim(),
        "0"
    );
    assert_ne!(env.exec(&client, &["touch", "/sys/x"]).await?.2, 0);
    assert_ne!(
        env.exec(
            &client,
            &["sh", "-c", "echo 1 > /proc/sys/kernel/domainname"]
        )
        .await?
        .2,
        0
    );
    let status = env.exec(&client, &["cat", "/proc/self/status"]).await?.0;
    assert!(status.contains("CapEff:\t00000000a80425fb"), "{status}");
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");
    for dev in [
        "null", "zero", "full", "random", "urandom", "tty", "pts", "shm",
    ] {
        assert_eq!(
            env.exec(&client, &["test", "-e", &format!("/dev/{dev}")])
                .await?
                .2,
            0,
            "/dev/{dev}"
        );
    }

    // CRI logs.
    let st = env.status(&server).await?;
    let log = std::fs::read_to_string(&st.log_path)?;
    let lines: Vec<&str> = log.lines().collect();
    assert!(
        lines.iter().any(|l| l.ends_with(" stdout F started")),
        "{log}"
    );
    assert!(lines.iter().any(|l| l.ends_with(" stderr F oops")), "{log}");

    // Stats from cgroups.
    let stats: cri::ContainerStats = env
        .rt
        .container_stats(cri::ContainerStatsRequest {
            container_id: client.clone(),
        })
        .await?
        .into_inner()
        .stats
        .unwrap();
    assert!(
        stats.memory.unwrap().usage_bytes.unwrap().value > 0,
        "{stats:?}"
    );

    // Stop: sleep as PID 1 ignores SIGTERM, so SIGKILL after the 1s timeout.
    env.rt
        .stop_container(cri::StopContainerRequest {
            container_id: client.clone(),
            timeout: 1,
        })
        .await?;
    let st = env.wait_exited(&client).await?;
    assert_eq!((st.exit_code, st.reason.as_str()), (137, "Error"));
    assert!(st.finished_at >= st.started_at && st.started_at > 0);
    // Exit codes and reasons.
    let done = env.run(&pod, "web", busybox("done", &["true"])).await?;
    assert_eq!(env.wait_exited(&done).await?.reason, "Completed");
    let failed = env
        .run(&pod, "web", busybox("failed", &["sh", "-c", "exit 3"]))
        .await?;
    let st = env.wait_exited(&failed).await?;
    assert_eq!((st.exit_code, st.reason.as_str()), (3, "Error"));

    env.remove_pod(&pod).await?;
    assert!(env
        .rt
        .list_pod_sandbox(cri::ListPodSandboxRequest::default())
        .await?
        .into_inner()
        .items
        .is_empty());
    env.assert_clean();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_security_and_volumes() -> anyhow::Result<()> {
    let mut env = Env::new().await?;
    let sb = with_namespaces(
        env.sandbox_config("limits"),
        cri::NamespaceOption {
            pid: cri::NamespaceMode::Pod as i32,
            ..Default::default()
        },
    );
    let pod = env.run_pod_with(sb).await?;
    let vol = env.dir.path().join("vol");
    std::fs::create_dir_all(&vol)?;
    std::fs::write(vol.join("data"), "from host")?;
    let mut c = busybox("limited", &["sleep", "3600"]);
    c.mounts = vec![cri::Mount {
        container_path: "/data".into(),
        host_path: vol.display().to_string(),
        readonly: true,
        ..Default::default()
    }];
    c.linux = Some(cri::LinuxContainerConfig {
        resources: Some(cri::LinuxContainerResources {
            cpu_period: 100_000,
            cpu_quota: 50_000,
            cpu_shares: 512,
            memory_limit_in_bytes: 64 << 20,
            ..Default::default()
        }),
        security_context: Some(cri::LinuxContainerSecurityContext {
            run_as_user: Some(cri::Int64Value { value: 65534 }),
            readonly_rootfs: true,
            ..Default::default()
        }),
    });
    c.working_dir = "/tmp".into();
    let id = env.run(&pod, "limits", c).await?;
    let cg = format!("{}/pod-", env.cgroup_parent);
    let pod_cg = std::fs::read_dir(Path::new("/sys/fs/cgroup/cpu").join(&env.cgroup_parent))?
        .flatten()
        .find(|e| e.path().is_dir())
        .unwrap()
        .path();
    assert!(pod_cg.display().to_string().contains(&cg));
    let ctr_cg = std::fs::read_dir(&pod_cg)?
        .flatten()
        .find(|e| e.path().is_dir())
        .unwrap()
        .path();
    assert_eq!(
        std::fs::read_to_string(ctr_cg.join("cpu.cfs_quota_us"))?.trim(),
        "50000"
    );
    assert_eq!(
        std::fs::read_to_string(ctr_cg.join("cpu.cfs_period_us"))?.trim(),
        "100000"
    );
    assert_eq!(
        std::fs::read_to_string(ctr_cg.join("cpu.shares"))?.trim(),
        "512"
    );
    let mem = Path::new("/sys/fs/cgroup/memory").join(ctr_cg.strip_prefix("/sys/fs/cgroup/cpu")?);
    assert_eq!(
        std::fs::read_to_string(mem.join("memory.limit_in_bytes"))?.trim(),
        (64u64 << 20).to_string()
    );

    assert_eq!(env.exec(&id, &["id", "-u"]).await?.0.trim(), "65534");
    assert_eq!(env.exec(&id, &["pwd"]).await?.0.trim(), "/tmp");
    assert_eq!(env.exec(&id, &["cat", "/data/data"]).await?.0, "from host");
    assert_ne!(
        env.exec(&id, &["sh", "-c", "echo x > /data/new"]).await?.2,
        0,
        "read-only volume is writable"
    );
    assert_ne!(
        env.exec(&id, &["sh", "-c", "echo x > /etc/x"]).await?.2,
        0,
        "read-only rootfs is writable"
    );
    let status = env.exec(&id, &["cat", "/proc/self/status"]).await?.0;
    assert!(status.contains("CapEff:\t0000000000000000"), "{status}");
    // Shared pid namespace: the pause process is PID 1 and the other container is visible.
    let other = env
        .run(&pod, "limits", busybox("other", &["sleep", "3601"]))
        .await?;
    let ps = env.exec(&other, &["ps"]).await?.0;
    assert!(
        ps.contains("sleep 3600") && ps.contains("sleep 3601"),
        "{ps}"
    );
    assert_eq!(
        env.exec(&other, &["cat", "/proc/1/cmdline"])
            .await?
            .0
            .split('\0')
            .nth(1),
        Some("pause"),
        "PID 1 of the pod is not its pause process"
    );
    // Only the pod's processes are visible: pause, both sleeps and this exec's shell and
    // cats, never a process of the node (such as this test).
    let listing = env
        .exec(
            &other,
            &[
                "sh",
                "-c",
                "for p in /proc/[0-9]*; do echo \"${p#/proc/} $(cat $p/cmdline | tr '\\0' ' ')\"; done",
            ],
        )
        .await?
        .0;
    let commands: Vec<&str> = listing
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(_, cmd)| cmd.trim()))
        .filter(|cmd| !cmd.is_empty())
        .collect();
    let test_cmdline = std::fs::read_to_string("/proc/self/cmdline")?.replace('\0', " ");
    assert!(
        !commands.contains(&test_cmdline.trim()),
        "the test process is visible in the pod: {listing}"
    );
    for cmd in &commands {
        assert!(
            ["sleep 360", "sh -c ", "cat ", "tr "]
                .iter()
                .any(|p| cmd.starts_with(p))
                || cmd.contains(" pause --hostname "),
            "process {cmd:?} from outside the pod is visible: {listing}"
        );
    }
    assert_eq!(
        commands
            .iter()
            .filter(|c| c.starts_with("sleep 360"))
            .count(),
        2,
        "{listing}"
    );

    // OOM: a process that exceeds its memory limit is killed and reported OOMKilled.
    let mut hog = busybox(
        "hog",
        &[
            "sh",
            "-c",
            "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived",
        ],
    );
    hog.linux = Some(cri::LinuxContainerConfig {
        resources: Some(cri::LinuxContainerResources {
            memory_limit_in_bytes: 16 << 20,
            ..Default::default()
        }),
        security_context: None,
    });
    let hog = env.run(&pod, "limits", hog).await?;
    let st = env.wait_exited(&hog).await?;
    assert_eq!(
        (st.reason.as_str(), st.exit_code),
        ("OOMKilled", 137),
        "{st:?}"
    );

    env.remove_pod(&pod).await?;
    env.assert_clean();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_errors() -> anyhow::Result<()> {
    let mut env = Env::new().await?;
    let pod = env.run_pod("errs").await?;
    let e = env
        .create(
            &pod,
            "errs",
            cri::ContainerConfig {
                image: Some(cri::ImageSpec {
                    image: "nosuchimage:1".into(),
                    ..Default::default()
                }),
                ..busybox("a", &["true"])
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);
    assert!(e.message().contains("nosuchimage"), "{e}");
    let mut bad = busybox("b", &["true"]);
    bad.mounts = vec![cri::Mount {
        container_path: "/x".into(),
        host_path: "/does/not/exist".into(),
        ..Default::default()
    }];
    let e = env.create(&pod, "errs", bad).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e.message().contains("/does/not/exist"), "{e}");
    env.create(&pod, "errs", busybox("dup", &["true"])).await?;
    let e = env
        .create(&pod, "errs", busybox("dup", &["true"]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::AlreadyExists, "{e}");
    let config = env.sandbox_config("errs");
    let e = env.run_pod_with(config).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::AlreadyExists, "{e}");
    let e = env
        .create("nosuchsandbox", "errs", busybox("c", &["true"]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);
    assert!(e.message().contains("nosuchsandbox"), "{e}");
    let e = env
        .run(&pod, "errs", busybox("noexec", &["/no/such/binary"]))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("/no/such/binary"), "{e}");
    env.remove_pod(&pod).await?;
    env.assert_clean();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_survive_a_daemon_kill_and_are_readopted() -> anyhow::Result<()> {
    let mut env = Env::new().await?;
    let pod = env.run_pod("survivor").await?;
    let long = env
        .run(&pod, "survivor", busybox("long", &["sleep", "3600"]))
        .await?;
    let short = env
        .run(
            &pod,
            "survivor",
            busybox("short", &["sh", "-c", "sleep 1; exit 7"]),
        )
        .await?;
    let mut daemon = env.daemon.take().unwrap();
    daemon.signal("KILL");
    daemon.wait_exit(Duration::from_secs(10)).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    env.start().await?;
    let st = env.status(&long).await?;
    assert_eq!(st.state, cri::ContainerState::ContainerRunning as i32);
    assert_eq!(
        env.exec(&long, &["echo", "still here"]).await?.0.trim(),
        "still here"
    );
    let st = env.wait_exited(&short).await?;
    assert_eq!(st.exit_code, 7);
    // The sandbox is usable by the new daemon (its netns re-bound in this mount namespace).
    let more = env
        .run(&pod, "survivor", busybox("more", &["sleep", "3600"]))
        .await?;
    assert_eq!(env.exec(&more, &["hostname"]).await?.0.trim(), "survivor");
    env.remove_pod(&pod).await?;
    env.assert_clean();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_pods_leave_nothing_behind() -> anyhow::Result<()> {
    let mut env = Env::new().await?;
    for i in 0..50 {
        let name = format!("p{i}");
        let pod = env.run_pod(&name).await?;
        let c = env
            .run(&pod, &name, busybox("c", &["sleep", "3600"]))
            .await?;
        env.rt
            .stop_container(cri::StopContainerRequest {
                container_id: c.clone(),
                timeout: 0,
            })
            .await?;
        env.rt
            .remove_container(cri::RemoveContainerRequest { container_id: c })
            .await?;
        env.remove_pod(&pod).await?;
    }
    env.assert_clean();
    Ok(())
}

/// The distro's docker-registry and a token server on the node's loopback, where the daemon
/// pulls from. The registry uses distribution's "silly" auth: it answers every request without
/// an `Authorization` header with a Bearer challenge naming our token server, so every client
/// must go through the challenge/token flow (any token is then accepted). The token server is
/// busybox httpd with a CGI script that logs each request's query string.
struct Registry {
    registry: Process,
    _tokens: Process,
    token_queries: PathBuf,
}

const REGISTRY: &str = "127.0.0.1:5000";

impl Registry {
    async fn start(env: &Env) -> anyhow::Result<Registry> {
        let dir = env.dir.path().join("registry");
        let cgi = dir.join("www/cgi-bin");
        std::fs::create_dir_all(&cgi)?;
        let token_queries = dir.join("token-queries.log");
        let script = cgi.join("token");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"$QUERY_STRING\" >> {}\nprintf 'Content-Type: application/json\\r\\n\\r\\n{{\"token\":\"tinykube-test-token\"}}'\n",
                token_queries.display()
            ),
        )?;
        std::process::Command::new("chmod")
            .arg("755")
            .arg(&script)
            .status()?;
        let tokens = tinykube_tests::Launch::program("/bin/busybox")
            .netns(env.node.name())
            .args(["httpd", "-f", "-p", "127.0.0.1:5001", "-h"])
            .arg(dir.join("www"))
            .spawn()?;
        let registry = start_registry(env, "registry", REGISTRY, "", "").await?;
        Ok(Registry {
            registry,
            _tokens: tokens,
            token_queries,
        })
    }

    fn token_queries(&self) -> String {
        std::fs::read_to_string(&self.token_queries).unwrap_or_default()
    }
}

impl Env {
    /// `tinykube-runtime push` run inside the node (where the registry listens); returns the
    /// pushed digest.
    async fn push(&self, reference: &str, extra: &[&str]) -> anyhow::Result<String> {
        let out = self.push_output(reference, extra).await?;
        anyhow::ensure!(out.status.success(), "push {reference}: {out:?}");
        // "<tag>: digest: sha256:... size: N", as docker push ends.
        let digest = out
            .stdout
            .split_whitespace()
            .find(|w| w.starts_with("sha256:"))
            .ok_or_else(|| anyhow::anyhow!("no digest in {out:?}"))?;
        Ok(digest.to_string())
    }

    /// `tinykube-runtime push` inside the node, whatever its outcome.
    async fn push_output(
        &self,
        reference: &str,
        extra: &[&str],
    ) -> anyhow::Result<tinykube_tests::CmdOutput> {
        let bin = binary_path("tinykube-runtime")?.display().to_string();
        let root = self.dir.path().join("push-root").display().to_string();
        let tar = self.dir.path().join("busybox.tar").display().to_string();
        let mut args = vec![bin.as_str(), "--root", &root, "push"];
        args.extend_from_slice(extra);
        args.extend([tar.as_str(), reference]);
        Ok(self
            .node
            .exec_async(
                "/usr/bin/timeout",
                &[&["60"], args.as_slice()].concat(),
                Duration::from_secs(70),
            )
            .await?)
    }

    async fn pull(&mut self, image: &str) -> Result<String, tonic::Status> {
        Ok(self
            .img
            .pull_image(cri::PullImageRequest {
                image: Some(cri::ImageSpec {
                    image: image.into(),
                    ..Default::default()
                }),
                auth: None,
                sandbox_config: None,
            })
            .await?
            .into_inner()
            .image_ref)
    }

    async fn image_status(&mut self, image: &str) -> anyhow::Result<Option<cri::Image>> {
        Ok(self
            .img
            .image_status(cri::ImageStatusRequest {
                image: Some(cri::ImageSpec {
                    image: image.into(),
                    ..Default::default()
                }),
                verbose: false,
            })
            .await?
            .into_inner()
            .image)
    }

    fn unpacked_layers(&self) -> usize {
        std::fs::read_dir(self.dir.path().join("root/images/layers"))
            .map(|r| r.count())
            .unwrap_or(0)
    }

    /// Removes the imported busybox, so that a pull really downloads, gunzips and unpacks the
    /// layer; returns its id.
    async fn forget_imported_busybox(&mut self) -> anyhow::Result<String> {
        let imported = self
            .image_status("busybox")
            .await?
            .ok_or_else(|| anyhow::anyhow!("the imported busybox is missing"))?
            .id;
        self.img
            .remove_image(cri::RemoveImageRequest {
                image: Some(cri::ImageSpec {
                    image: imported.clone(),
                    ..Default::default()
                }),
            })
            .await?;
        assert_eq!(self.unpacked_layers(), 0);
        Ok(imported)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_from_a_registry_with_token_auth_and_runs_the_image() -> anyhow::Result<()> {
    let mut env = Env::new().await?;
    let registry = Registry::start(&env).await?;
    // The image pushed three ways: Docker schema2, OCI, and an OCI index over the OCI one.
    let docker_digest = env
        .push(&format!("{REGISTRY}/tinykube/busybox:docker"), &[])
        .await?;
    let oci_digest = env
        .push(
            &format!("{REGISTRY}/tinykube/busybox:oci"),
            &["--format", "oci"],
        )
        .await?;
    let index_digest = env
        .push(
            &format!("{REGISTRY}/tinykube/busybox:multi"),
            &["--format", "oci", "--index"],
        )
        .await?;
    assert_ne!(docker_digest, oci_digest);
    assert_ne!(oci_digest, index_digest);
    let queries = registry.token_queries();
    assert!(
        queries.contains("service=tinykube-test")
            && queries.contains("scope=repository%3Atinykube%2Fbusybox%3Apull%2Cpush"),
        "push did not ask the token server for push access: {queries}"
    );

    let imported = env.forget_imported_busybox().await?;

    let id = env
        .pull(&format!("{REGISTRY}/tinykube/busybox:docker"))
        .await?;
    // Same config blob, same image id as the archive it was pushed from.
    assert_eq!(id, imported);
    assert_eq!(env.unpacked_layers(), 1);
    assert!(
        registry
            .token_queries()
            .contains("scope=repository%3Atinykube%2Fbusybox%3Apull"),
        "{}",
        registry.token_queries()
    );
    // The OCI manifest and the index resolve to the same image; its layer is not fetched
    // again (the store already has that diff id).
    let blob_gets_before = registry
        .registry
        .log()
        .matches("GET /v2/tinykube/busybox/blobs/")
        .count();
    assert_eq!(
        env.pull(&format!("{REGISTRY}/tinykube/busybox:oci"))
            .await?,
        id
    );
    assert_eq!(
        env.pull(&format!("{REGISTRY}/tinykube/busybox:multi"))
            .await?,
        id
    );
    let blob_gets = registry
        .registry
        .log()
        .matches("GET /v2/tinykube/busybox/blobs/")
        .count();
    // Only the config blob, once per pull.
    assert_eq!(
        blob_gets - blob_gets_before,
        2,
        "{}",
        registry.registry.log()
    );
    assert_eq!(env.unpacked_layers(), 1);
    let by_digest = format!("{REGISTRY}/tinykube/busybox@{oci_digest}");
    assert_eq!(env.pull(&by_digest).await?, id);
    let img = env.image_status(&id).await?.unwrap();
    for tag in ["docker", "oci", "multi"] {
        assert!(
            img.repo_tags
                .contains(&format!("{REGISTRY}/tinykube/busybox:{tag}")),
            "{img:?}"
        );
    }
    for digest in [&docker_digest, &oci_digest, &index_digest] {
        assert!(
            img.repo_digests
                .contains(&format!("{REGISTRY}/tinykube/busybox@{digest}")),
            "{img:?}"
        );
    }

    // The pulled image runs.
    let pod = env.run_pod("pulled").await?;
    let mut c = busybox("c", &["sh", "-c", "echo from the registry"]);
    c.image = Some(cri::ImageSpec {
        image: format!("{REGISTRY}/tinykube/busybox:multi"),
        ..Default::default()
    });
    let ctr = env.run(&pod, "pulled", c).await?;
    let st = env.wait_exited(&ctr).await?;
    assert_eq!(st.exit_code, 0, "{st:?}");
    assert!(std::fs::read_to_string(&st.log_path)?.contains("stdout F from the registry"));

    // Unknown images, a digest that does not match, and an unreachable registry: clear errors.
    let e = env
        .pull(&format!("{REGISTRY}/tinykube/nosuchimage:1"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound, "{e}");
    assert!(e.message().contains("nosuchimage"), "{e}");
    let e = env
        .pull(&format!("{REGISTRY}/tinykube/busybox:nosuchtag"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound, "{e}");
    assert!(e.message().contains("MANIFEST_UNKNOWN"), "{e}");
    let wrong = format!("{REGISTRY}/tinykube/busybox@sha256:{}", "0".repeat(64));
    let e = env.pull(&wrong).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound, "{e}");
    let e = env
        .pull("127.0.0.1:1/tinykube/busybox:1")
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unavailable, "{e}");
    assert!(e.message().contains("unreachable"), "{e}");
    let e = env.pull("Not A Reference").await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e}");

    env.remove_pod(&pod).await?;
    env.assert_clean();
    Ok(())
}

/// `wget` from another node's namespace, bounded (busybox wget's own -T crashes).
async fn fetch_from(node: &Node, url: &str) -> anyhow::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = node
            .exec_async(
                "/usr/bin/timeout",
                &["5", "/bin/busybox", "wget", "-q", "-O-", url],
                Duration::from_secs(10),
            )
            .await?;
        if out.status.success() {
            return Ok(out.stdout);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "GET {url} from {}: {out:?}",
            node.name()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn nat_rules(node: &Node) -> anyhow::Result<String> {
    Ok(node.exec("iptables-save", &["-t", "nat"])?.stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_ports_and_host_network() -> anyhow::Result<()> {
    let mut env = Env::new().await?;
    let client = env.network.add_node()?;
    let node_ip = env.node.ip().to_string();

    // hostPort: the portmap plugin DNATs the node's port 8081 to the pod's port 80.
    let mut sb = env.sandbox_config("ported");
    sb.port_mappings = vec![cri::PortMapping {
        protocol: cri::Protocol::Tcp as i32,
        container_port: 80,
        host_port: 8081,
        host_ip: String::new(),
    }];
    let pod = env.run_pod_with(sb).await?;
    env.run(
        &pod,
        "ported",
        busybox(
            "web",
            &[
                "sh",
                "-c",
                "mkdir /www && echo via-hostport > /www/index.html && exec httpd -f -p 80 -h /www",
            ],
        ),
    )
    .await?;
    let body = fetch_from(&client, &format!("http://{node_ip}:8081/")).await?;
    assert_eq!(body.trim(), "via-hostport");
    assert!(nat_rules(&env.node)?.contains("8081"), "no portmap rule");
    env.remove_pod(&pod).await?;
    let rules = nat_rules(&env.node)?;
    assert!(!rules.contains("8081"), "portmap rules left: {rules}");

    // hostNetwork: no own network or UTS namespace: the node's interfaces, address and name.
    let mut sb = env.sandbox_config("hostnet");
    sb.hostname = String::new();
    // As the kubelet sends it for a hostNetwork pod.
    let sb = with_namespaces(
        sb,
        cri::NamespaceOption {
            network: cri::NamespaceMode::Node as i32,
            pid: cri::NamespaceMode::Container as i32,
            ipc: cri::NamespaceMode::Pod as i32,
            ..Default::default()
        },
    );
    let pod = env.run_pod_with(sb).await?;
    let ctr = env
        .run(
            &pod,
            "hostnet",
            busybox(
                "web",
                &["sh", "-c", "mkdir /www && echo via-host-network > /www/index.html && exec httpd -f -p 8082 -h /www"],
            ),
        )
        .await?;
    let addrs = env.exec(&ctr, &["ip", "-o", "addr"]).await?.0;
    assert!(addrs.contains(&format!("inet {node_ip}/")), "{addrs}");
    assert!(
        addrs.contains("cni0"),
        "the node's bridge is not visible: {addrs}"
    );
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname")?;
    assert_eq!(
        env.exec(&ctr, &["hostname"]).await?.0.trim(),
        host_name.trim()
    );
    // Reached on the node's own address, no port mapping involved.
    let body = fetch_from(&client, &format!("http://{node_ip}:8082/")).await?;
    assert_eq!(body.trim(), "via-host-network");
    // The pid namespace is still the container's own.
    assert_eq!(
        env.exec(&ctr, &["cat", "/proc/1/comm"]).await?.0.trim(),
        "httpd"
    );
    env.remove_pod(&pod).await?;
    env.assert_clean();
    Ok(())
}

/// Runs `tinykube-runtime` as a client of `env`'s daemon inside its node's network namespace
/// (where the daemon's streaming server listens), with `input` on stdin; with `terminal`
/// (rows, columns), inside a pseudo-terminal of that size (util-linux `script`), which then
/// carries `input` too.
async fn cli_in_node(
    env: &Env,
    args: &[&str],
    input: &str,
    terminal: Option<(u16, u16)>,
) -> anyhow::Result<std::process::Output> {
    use tokio::io::AsyncWriteExt;
    let quote = |w: &str| format!("'{}'", w.replace('\'', "'\\''"));
    let mut line = vec![
        binary_path("tinykube-runtime")?.display().to_string(),
        "--listen".into(),
        env.socket().display().to_string(),
    ];
    line.extend(args.iter().map(|a| a.to_string()));
    let mut cmd = tokio::process::Command::new("nsenter");
    cmd.arg(format!("--net=/run/netns/{}", env.node.name()));
    match terminal {
        Some((rows, cols)) => {
            let words: Vec<String> = line.iter().map(|w| quote(w)).collect();
            let script = format!("stty rows {rows} cols {cols}; exec {}", words.join(" "));
            cmd.args(["script", "-qec", &script, "/dev/null"]);
        }
        None => {
            cmd.args(&line);
        }
    }
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn()?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_string();
    // Input is written at once. Behind a terminal stdin stays open until the command ends: at
    // the end of its input `script` would hang up the terminal before the session is over.
    let feeder = tokio::spawn(async move {
        let _ = stdin.write_all(input.as_bytes()).await;
        if terminal.is_some() {
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        drop(stdin);
    });
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .map_err(|_| anyhow::anyhow!("tinykube-runtime {args:?} did not finish in 60s"))??;
    feeder.abort();
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interactive_runs_and_execs_get_terminals_and_stdin() -> anyhow::Result<()> {
    let env = Env::new().await?;

    // run -it: a shell on a terminal of the container's own devpts, fed our keystrokes; its
    // exit code is ours, and --rm takes the container away.
    let out = cli_in_node(
        &env,
        &["run", "-it", "--rm", "--name", "shell", "busybox", "sh"],
        "tty; stty size; echo sum-$((40+2)); exit 3\n",
        Some((33, 111)),
    )
    .await?;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(
        text.contains("/dev/pts/0") && text.contains("33 111") && text.contains("sum-42"),
        "{out:?}"
    );
    let ps = stdout(&env.cli(&["ps", "-a"]).await?);
    assert!(
        !ps.contains("shell"),
        "run -it --rm left the container: {ps}"
    );

    // run -i without a terminal: stdin is a pipe that closes at the end of our input.
    let out = cli_in_node(
        &env,
        &[
            "run",
            "-i",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "cat; echo end-of-input",
        ],
        "first\nsecond\n",
        None,
    )
    .await?;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout(&out), "first\nsecond\nend-of-input\n", "{out:?}");

    // What a container printed before the CLI could attach is not lost.
    let out = cli_in_node(
        &env,
        &[
            "run",
            "-t",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "echo early; sleep 1; echo late; exit 7",
        ],
        "",
        Some((24, 80)),
    )
    .await?;
    assert_eq!(out.status.code(), Some(7), "{out:?}");
    let text = stdout(&out);
    assert!(text.contains("early") && text.contains("late"), "{out:?}");

    // -dit keeps a shell waiting on its terminal; exec -it and exec -i reach it.
    let out = env
        .cli(&["run", "-dit", "--name", "waiting", "busybox", "sh"])
        .await?;
    assert!(out.status.success(), "{out:?}");
    let out = cli_in_node(
        &env,
        &["exec", "-it", "waiting", "sh"],
        "tty; stty size; exit 5\n",
        Some((40, 120)),
    )
    .await?;
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    let text = stdout(&out);
    assert!(
        text.contains("/dev/pts/") && text.contains("40 120"),
        "{out:?}"
    );
    let out = cli_in_node(
        &env,
        &["exec", "-i", "waiting", "sh", "-c", "tr a-z A-Z; exit 4"],
        "shout\n",
        None,
    )
    .await?;
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert_eq!(stdout(&out), "SHOUT\n", "{out:?}");
    let out = cli_in_node(&env, &["exec", "-it", "waiting", "sh"], "", None).await?;
    assert!(
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("the input device is not a TTY"),
        "{out:?}"
    );
    // The shell stayed up through all of it, still the container's process.
    assert!(
        stdout(&env.cli(&["ps"]).await?).contains("waiting"),
        "the -dit shell exited"
    );

    // Attach is refused with what the container lacks.
    let id = stdout(&env.cli(&["inspect", "waiting"]).await?);
    let id: serde_json::Value = serde_json::from_str(&id)?;
    let id = id[0]["Id"].as_str().unwrap_or_default().to_string();
    let mut rt = env.rt.clone();
    let err = rt
        .attach(cri::AttachRequest {
            container_id: id.clone(),
            stdin: true,
            tty: false,
            stdout: true,
            stderr: true,
        })
        .await
        .unwrap_err();
    assert!(
        err.code() == tonic::Code::InvalidArgument && err.message().contains("tty=false"),
        "{err:?}"
    );
    assert!(env.cli(&["rm", "-f", "waiting"]).await?.status.success());
    env.assert_clean();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_pid_containers_see_the_nodes_processes() -> anyhow::Result<()> {
    let mut env = Env::new().await?;
    let node_pid = |pid: cri::NamespaceMode| cri::NamespaceOption {
        pid: pid as i32,
        ..Default::default()
    };
    let config = with_namespaces(
        env.sandbox_config("hostpid"),
        node_pid(cri::NamespaceMode::Node),
    );
    let pod = env.run_pod_with(config.clone()).await?;
    let mut host = busybox("host", &["sleep", "3600"]);
    host.linux = Some(cri::LinuxContainerConfig {
        security_context: Some(cri::LinuxContainerSecurityContext {
            namespace_options: Some(node_pid(cri::NamespaceMode::Node)),
            ..Default::default()
        }),
        ..Default::default()
    });
    let host = env
        .rt
        .create_container(cri::CreateContainerRequest {
            pod_sandbox_id: pod.clone(),
            config: Some(host),
            sandbox_config: Some(config),
        })
        .await?
        .into_inner()
        .container_id;
    env.rt
        .start_container(cri::StartContainerRequest {
            container_id: host.clone(),
        })
        .await?;
    let own = env.run_pod("ownpid").await?;
    let isolated = env
        .run(&own, "ownpid", busybox("isolated", &["sleep", "3600"]))
        .await?;

    // The node's pid namespace: the container's process has its node pid, and the test
    // process (on the node) is visible by its own pid.
    let status = env
        .rt
        .container_status(cri::ContainerStatusRequest {
            container_id: host.clone(),
            verbose: true,
        })
        .await?
        .into_inner();
    let me = std::process::id().to_string();
    let (out, _, code) = env
        .exec(
            &host,
            &[
                "sh",
                "-c",
                &format!("test -d /proc/{me} && echo sees-node; cat /proc/1/comm"),
            ],
        )
        .await?;
    assert_eq!(code, 0, "{out}");
    let node_init = std::fs::read_to_string("/proc/1/comm")?;
    assert_eq!(out, format!("sees-node\n{node_init}"), "{status:?}");
    let (out, _, _) = env
        .exec(
            &isolated,
            &[
                "sh",
                "-c",
                &format!("test -d /proc/{me} && echo sees-node; cat /proc/1/comm"),
            ],
        )
        .await?;
    assert_eq!(
        out, "sleep\n",
        "a container without hostPID is PID 1 of its own namespace"
    );
    env.remove_pod(&pod).await?;
    env.remove_pod(&own).await?;
    env.assert_clean();
    Ok(())
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_like_cli_drives_the_daemon() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let client = env.network.add_node()?;
    let node_ip = env.node.ip().to_string();
    let www = env.dir.path().join("www");
    std::fs::create_dir_all(&www)?;
    std::fs::write(www.join("index.html"), "served from the host\n")?;
    let volume = format!("{}:/www:ro", www.display());

    // What `docker run -d -p 8080:80 --memory 500m --cpus .5` does.
    let out = env
        .cli(&[
            "run",
            "-d",
            "--name",
            "web",
            "-p",
            "8080:80",
            "--memory",
            "500m",
            "--cpus",
            ".5",
            "-e",
            "GREETING=hello there",
            "-v",
            &volume,
            "busybox",
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/www",
        ])
        .await?;
    assert!(out.status.success(), "{out:?}");
    let id = stdout(&out).trim().to_string();
    assert_eq!(id.len(), 64, "{out:?}");

    let body = fetch_from(&client, &format!("http://{node_ip}:8080/")).await?;
    assert_eq!(body, "served from the host\n");
    let ps = stdout(&env.cli(&["ps"]).await?);
    let lines: Vec<&str> = ps.lines().collect();
    assert!(
        lines[0].starts_with("CONTAINER ID")
            && ["IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
                .iter()
                .all(|c| lines[0].contains(c)),
        "{ps}"
    );
    let row = lines
        .iter()
        .find(|l| l.ends_with("web"))
        .expect("web in ps");
    assert!(row.starts_with(&id[..12]), "{ps}");
    assert!(row.contains("\"httpd -f -p 80 -h /…\""), "{ps}");
    assert!(
        row.contains("Up ") && row.contains("0.0.0.0:8080->80/tcp"),
        "{ps}"
    );

    // The limits land in the container's cgroups: quota 50000 per 100000, 500 MiB.
    let inspect: serde_json::Value =
        serde_json::from_slice(&env.cli(&["inspect", "web"]).await?.stdout)?;
    let c = &inspect[0];
    assert_eq!(c["Id"], id.as_str());
    assert_eq!(c["State"]["Status"], "running");
    assert_eq!(c["HostConfig"]["Memory"], 500 << 20);
    assert_eq!(c["HostConfig"]["NanoCpus"], 500_000_000);
    assert_eq!(
        c["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"],
        "8080"
    );
    let pod_dir = std::fs::read_dir(Path::new("/sys/fs/cgroup/cpu").join(&env.cgroup_parent))?
        .flatten()
        .find(|e| e.path().is_dir())
        .unwrap()
        .path();
    let ctr_cg = pod_dir.join(&id[..16]);
    assert_eq!(
        std::fs::read_to_string(ctr_cg.join("cpu.cfs_quota_us"))?.trim(),
        "50000"
    );
    let mem = Path::new("/sys/fs/cgroup/memory").join(ctr_cg.strip_prefix("/sys/fs/cgroup/cpu")?);
    assert_eq!(
        std::fs::read_to_string(mem.join("memory.limit_in_bytes"))?.trim(),
        (500u64 << 20).to_string()
    );

    // exec: output and exit code (-it: interactive_runs_and_execs_get_terminals_and_stdin).
    let out = env
        .cli(&["exec", "web", "sh", "-c", "echo $GREETING; exit 3"])
        .await?;
    assert_eq!(
        (stdout(&out).trim(), out.status.code()),
        ("hello there", Some(3))
    );

    // A second container with the same name is refused as docker refuses it.
    let out = env
        .cli(&["run", "-d", "--name", "web", "busybox", "true"])
        .await?;
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already in use"),
        "{out:?}"
    );

    // Foreground run: output streamed to the right streams, exit code passed on, --rm.
    let out = env
        .cli(&[
            "run",
            "--rm",
            "--name",
            "once",
            "busybox",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 4",
        ])
        .await?;
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert_eq!(stdout(&out), "out\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");

    // logs [-f] of a detached container.
    let out = env
        .cli(&[
            "run",
            "-d",
            "--name",
            "talker",
            "busybox",
            "sh",
            "-c",
            "echo one; sleep 1; echo two",
        ])
        .await?;
    assert!(out.status.success(), "{out:?}");
    let out = env.cli(&["logs", "-f", "talker"]).await?;
    assert_eq!(stdout(&out), "one\ntwo\n");
    let out = env.cli(&["logs", "--tail", "1", "talker"]).await?;
    assert_eq!(stdout(&out), "two\n");

    // stop, ps -a, rm; removing a running container needs -f.
    let out = env.cli(&["rm", "web"]).await?;
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("running"),
        "{out:?}"
    );
    assert_eq!(
        stdout(&env.cli(&["stop", "-t", "1", "web"]).await?),
        "web\n"
    );
    let ps = stdout(&env.cli(&["ps"]).await?);
    assert!(!ps.contains("web"), "{ps}");
    let ps = stdout(&env.cli(&["ps", "-a"]).await?);
    assert!(
        ps.lines()
            .any(|l| l.ends_with("web") && l.contains("Exited (")),
        "{ps}"
    );
    assert!(!ps.contains("once"), "--rm left the container: {ps}");
    assert!(env.cli(&["rm", "web", "talker"]).await?.status.success());
    let out = env
        .cli(&["run", "-d", "--name", "forced", "busybox", "sleep", "3600"])
        .await?;
    assert!(out.status.success(), "{out:?}");
    assert!(env.cli(&["rm", "-f", "forced"]).await?.status.success());
    let ps = stdout(&env.cli(&["ps", "-a"]).await?);
    assert_eq!(ps.lines().count(), 1, "{ps}");

    // -d --rm: a helper removes the container once it exits.
    let out = env
        .cli(&["run", "-d", "--rm", "--name", "gone", "busybox", "true"])
        .await?;
    assert!(out.status.success(), "{out:?}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ps = stdout(&env.cli(&["ps", "-a"]).await?);
        if !ps.contains("gone") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "run -d --rm left the container: {ps}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // images, and clear errors for what is not there.
    let out = std::process::Command::new(binary_path("tinykube-runtime")?)
        .args(["--listen", "/nonexistent/runtime.sock", "ps"])
        .output()?;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Is tinykube-runtime running?"),
        "{out:?}"
    );
    let images = stdout(&env.cli(&["images"]).await?);
    assert!(
        images
            .lines()
            .any(|l| l.starts_with("busybox ") && l.contains("latest")),
        "{images}"
    );
    let out = env.cli(&["logs", "nosuch"]).await?;
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("No such container: nosuch"),
        "{out:?}"
    );
    let out = env.cli(&["run", "-p", "80", "busybox", "true"]).await?;
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    let out = env
        .cli(&["run", "--memory", "1x", "busybox", "true"])
        .await?;
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    let out = env.cli(&["run", "busybox", "/no/such/binary"]).await?;
    assert_eq!(out.status.code(), Some(127), "{out:?}");
    let leftover = stdout(&env.cli(&["ps", "-a"]).await?);
    for line in leftover.lines().skip(1) {
        let name = line.split_whitespace().last().unwrap_or_default();
        env.cli(&["rm", "-f", name]).await?;
    }
    env.assert_clean();
    Ok(())
}

/// Runs `/usr/bin/openssl` in `dir`, bounded.
async fn openssl(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new("/usr/bin/openssl")
            .args(args)
            .current_dir(dir)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| anyhow::anyhow!("openssl {args:?} did not finish in 30s"))??;
    anyhow::ensure!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// A test CA in `dir` (`ca.crt`, `ca.key`) and two certificates it signs: `server.crt` for
/// the IP address `ip` (the registry's), and `client.cert`/`client.key` for a client.
async fn make_certificates(dir: &Path, ip: std::net::Ipv4Addr) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let ca = [
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=tinykube test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    ]
    .concat();
    openssl(dir, &ca).await?;
    for (name, key, cert, ext) in [
        (
            "registry",
            "server.key",
            "server.crt",
            format!("subjectAltName=IP:{ip}\nextendedKeyUsage=serverAuth\n"),
        ),
        (
            "tinykube node",
            "client.key",
            "client.cert",
            "extendedKeyUsage=clientAuth\n".to_string(),
        ),
    ] {
        let ext_file = format!("{cert}.ext");
        std::fs::write(dir.join(&ext_file), ext)?;
        let subject = format!("/CN={name}");
        let csr = format!("{cert}.csr");
        let req = [
            &["req", "-new"][..],
            &ec,
            &["-keyout", key, "-out", &csr, "-subj", &subject],
        ]
        .concat();
        openssl(dir, &req).await?;
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-set_serial",
                "2",
                "-days",
                "2",
                "-out",
                cert,
                "-extfile",
                &ext_file,
            ],
        )
        .await?;
    }
    Ok(())
}

/// A docker-registry inside the node, on `addr`, with the "silly" token auth of [`Registry`]
/// (whose token server answers the challenges) and its storage in `<name>/data`; `http_extra`
/// adds lines to its `http:` section, `extra` top-level sections. Returns once it listens.
async fn start_registry(
    env: &Env,
    name: &str,
    addr: &str,
    http_extra: &str,
    extra: &str,
) -> anyhow::Result<Process> {
    let dir = env.dir.path().join(name);
    std::fs::create_dir_all(&dir)?;
    let config = dir.join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n{http_extra}auth:\n  silly:\n    realm: http://127.0.0.1:5001/cgi-bin/token\n    service: tinykube-test\n{extra}",
            dir.join("data").display()
        ),
    )?;
    let process = tinykube_tests::Launch::program("/usr/bin/docker-registry")
        .label(name)
        .netns(env.node.name())
        .args([std::ffi::OsStr::new("serve"), config.as_os_str()])
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !process.log().contains("listening on") {
        anyhow::ensure!(
            Instant::now() < deadline,
            "docker-registry {name} did not come up:\n{}",
            process.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(process)
}

impl Env {
    /// Restarts the daemon (no pods may be running) with extra flags.
    async fn restart_daemon_with(&mut self, args: &[String]) -> anyhow::Result<()> {
        if let Some(mut daemon) = self.daemon.take() {
            daemon.signal("TERM");
            daemon.wait_exit(Duration::from_secs(20)).await?;
        }
        let args: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
        self.start_with(&args).await
    }
}

/// HTTPS registries as Docker reaches them: a registry on the node's (non-loopback) address
/// with a certificate from a private CA and mutual TLS is refused until its CA is in
/// `<certs dir>/<host:port>/ca.crt` and a client certificate in `client.cert`/`client.key`
/// (each refusal a clear error naming the problem, never a fallback to the local image); then
/// push and pull work over TLS and the image runs. A plain-HTTP registry on that address is
/// refused until it is given with `--insecure-registry`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_and_pushes_over_https_with_per_registry_certificates() -> anyhow::Result<()> {
    let mut env = Env::new().await?;
    let _registry = Registry::start(&env).await?;
    let ip = env.node.ip();
    let pki = env.dir.path().join("pki");
    make_certificates(&pki, ip).await?;
    let tls_registry = format!("{ip}:5443");
    let plain_registry = format!("{ip}:5080");
    let tls = format!(
        "  tls:\n    certificate: {}\n    key: {}\n    clientcas:\n      - {}\n",
        pki.join("server.crt").display(),
        pki.join("server.key").display(),
        pki.join("ca.crt").display()
    );
    // Blob downloads are redirected, as registries backed by object storage do, to a plain
    // HTTP server on another address serving the registry's storage: pulls follow redirects
    // across schemes and hosts (blobs are verified by digest wherever they come from).
    let tls_data = env.dir.path().join("tls-registry/data");
    std::fs::create_dir_all(&tls_data)?;
    let _blob_server = tinykube_tests::Launch::program("/bin/busybox")
        .label("blob-server")
        .netns(env.node.name())
        .args(["httpd", "-f", "-p", "127.0.0.1:5002", "-h"])
        .arg(&tls_data)
        .spawn()?;
    let redirect = "middleware:\n  storage:\n    - name: redirect\n      options:\n        baseurl: http://127.0.0.1:5002/\n";
    let tls_process = start_registry(&env, "tls-registry", &tls_registry, &tls, redirect).await?;
    let _plain_process = start_registry(&env, "plain-registry", &plain_registry, "", "").await?;
    let certs_dir = env.dir.path().join("certs.d");
    let certs_flag = certs_dir.display().to_string();
    env.restart_daemon_with(&[
        "--registry-certs-dir".into(),
        certs_flag.clone(),
        "--insecure-registry".into(),
        plain_registry.clone(),
    ])
    .await?;
    let image = format!("{tls_registry}/tinykube/busybox:tls");
    let push_flags = ["--registry-certs-dir", certs_flag.as_str()];

    // Untrusted CA: push and pull fail naming the certificate problem and where the CA goes.
    let out = env.push_output(&image, &push_flags).await?;
    assert!(!out.status.success(), "{out:?}");
    assert!(
        out.stderr
            .contains(&format!("registry {tls_registry}: TLS handshake with {tls_registry} failed: invalid peer certificate: UnknownIssuer"))
            && out.stderr.contains(&format!("{certs_flag}/{tls_registry}/ca.crt")),
        "{out:?}"
    );
    // The image is in the store under that name: an untrusted registry must still not fall
    // back to it.
    let tagged = env.cli(&["tag", "busybox", &image]).await?;
    anyhow::ensure!(tagged.status.success(), "{tagged:?}");
    let e = env.pull(&image).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition, "{e}");
    assert!(
        e.message()
            .contains("invalid peer certificate: UnknownIssuer")
            && e.message().contains(&tls_registry),
        "{e}"
    );

    // Trusted CA, but the registry wants a client certificate.
    let host_dir = certs_dir.join(&tls_registry);
    std::fs::create_dir_all(&host_dir)?;
    std::fs::copy(pki.join("ca.crt"), host_dir.join("ca.crt"))?;
    let e = env.pull(&image).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition, "{e}");
    assert!(
        e.message().contains("received fatal alert") && e.message().contains("client.cert"),
        "{e}"
    );
    // A client key without its certificate is a clear configuration error.
    std::fs::copy(pki.join("client.key"), host_dir.join("client.key"))?;
    let e = env.pull(&image).await.unwrap_err();
    assert!(
        e.message()
            .contains("missing client certificate client.cert for key client.key"),
        "{e}"
    );

    // CA and client certificate: push over TLS, then a real pull (the imported copy removed)
    // downloads and unpacks the layer over TLS, and the image runs.
    std::fs::copy(pki.join("client.cert"), host_dir.join("client.cert"))?;
    let pushed = env.push(&image, &push_flags).await?;
    let imported = env.forget_imported_busybox().await?;
    assert_eq!(env.pull(&image).await?, imported);
    assert_eq!(env.unpacked_layers(), 1);
    let img = env.image_status(&image).await?.unwrap();
    assert!(
        img.repo_digests
            .contains(&format!("{tls_registry}/tinykube/busybox@{pushed}")),
        "{img:?}"
    );
    let log = tls_process.log();
    let redirected_blob_gets = log
        .lines()
        .filter(|l| l.contains("\"GET /v2/tinykube/busybox/blobs/sha256:") && l.contains("\" 307 "))
        .count();
    // The config and the layer.
    assert_eq!(redirected_blob_gets, 2, "{log}");
    let pod = env.run_pod("tls").await?;
    let mut c = busybox("c", &["sh", "-c", "echo pulled over https"]);
    c.image = Some(cri::ImageSpec {
        image: image.clone(),
        ..Default::default()
    });
    let ctr = env.run(&pod, "tls", c).await?;
    let st = env.wait_exited(&ctr).await?;
    assert_eq!(st.exit_code, 0, "{st:?}");
    assert!(std::fs::read_to_string(&st.log_path)?.contains("stdout F pulled over https"));

    // Plain HTTP on a non-loopback address: refused unless the registry is insecure.
    let plain_image = format!("{plain_registry}/tinykube/busybox:plain");
    let out = env.push_output(&plain_image, &push_flags).await?;
    assert!(!out.status.success(), "{out:?}");
    assert!(
        out.stderr.contains(&format!(
            "registry {plain_registry}: {plain_registry} answered in plain HTTP, not TLS"
        )) && out.stderr.contains("--insecure-registry"),
        "{out:?}"
    );
    env.push(
        &plain_image,
        &[&push_flags[..], &["--insecure-registry", &plain_registry]].concat(),
    )
    .await?;
    // The daemon was started with --insecure-registry for it.
    assert_eq!(env.pull(&plain_image).await?, imported);

    env.remove_pod(&pod).await?;
    env.assert_clean();
    Ok(())
}
