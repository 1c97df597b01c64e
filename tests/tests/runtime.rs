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
    _network: Network,
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
                     "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]],
                              "dataDir": dir.path().join("ipam")}},
                    {"type": "portmap", "capabilities": {"portMappings": true}},
                    {"type": "loopback"}
                ]
            })
            .to_string(),
        )?;
        // The busybox image, built from busybox-static and imported offline.
        let tar = dir.path().join("busybox.tar");
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
            .arg(dir.path().join("root"))
            .arg("import")
            .arg(&tar)
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "import: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut env = Env {
            dir,
            node,
            cgroup_parent,
            subnet,
            daemon: None,
            rt: RuntimeServiceClient::new(Channel::from_static("http://unused").connect_lazy()),
            img: ImageServiceClient::new(Channel::from_static("http://unused").connect_lazy()),
            _network: network,
        };
        env.start().await?;
        Ok(env)
    }

    fn socket(&self) -> PathBuf {
        tinykube_tests::runtime_daemon::runtime_socket(self.dir.path())
    }

    async fn start(&mut self) -> anyhow::Result<()> {
        let p = tinykube_tests::runtime_daemon::start_runtime_daemon(
            self.node.name(),
            self.dir.path(),
            &self.cgroup_parent,
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
    let mut sb = env.sandbox_config("limits");
    sb.linux = Some(cri::LinuxPodSandboxConfig {
        security_context: Some(cri::LinuxSandboxSecurityContext {
            namespace_options: Some(cri::NamespaceOption {
                pid: cri::NamespaceMode::Pod as i32,
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
    let pod = env
        .rt
        .run_pod_sandbox(cri::RunPodSandboxRequest {
            config: Some(sb),
            runtime_handler: String::new(),
        })
        .await?
        .into_inner()
        .pod_sandbox_id;
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
    let e = env
        .rt
        .run_pod_sandbox(cri::RunPodSandboxRequest {
            config: Some(config),
            runtime_handler: String::new(),
        })
        .await
        .unwrap_err();
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
