//! `cargo bench -p tinykube-runtime` (part of `make bench`): the latency of one pod's life, as
//! a kubelet drives it over CRI — RunPodSandbox (pause process, network namespace, CNI bridge),
//! CreateContainer (overlay rootfs, cgroups), StartContainer (shim), StopContainer,
//! RemoveContainer, StopPodSandbox, RemovePodSandbox — p50/p99 over 100 runs; the container
//! part alone (in an existing sandbox); and, in the same run, the same busybox rootfs through
//! the distro's `crun` (create/start/kill/delete of an OCI bundle), printed as ratios.
//!
//! crun 1.8 refuses hybrid cgroup hosts whose v2 mount holds controllers (as this machine's
//! `/sys/fs/cgroup/unified` does), so the crun part runs in a child process with a private
//! mount namespace (`unshare -m`) where that mount is detached: crun sees cgroup v1 and
//! creates and removes a v1 cgroup per container, as we do.
//!
//! Needs root. The daemon runs inside a network namespace the benchmark creates; its state,
//! the CNI IPAM data and crun's state live in a temporary directory; everything (namespace,
//! cgroups, processes) is removed at the end, also on failure.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tinykube_cri_proto::v1 as cri;
use tinykube_cri_proto::v1::runtime_service_client::RuntimeServiceClient;
use tonic::transport::Channel;

const RUNS: usize = 100;
const WARMUP: usize = 5;
const BIN: &str = env!("CARGO_BIN_EXE_tinykube-runtime");

/// Everything the benchmark made, removed on drop.
struct Guard {
    netns: String,
    cgroup_parent: String,
    crun_root: PathBuf,
    daemon: Option<Child>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &d.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while d.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = d.kill();
            let _ = d.wait();
        }
        // crun containers left by a failed run.
        if let Ok(out) = Command::new("crun")
            .arg("--root")
            .arg(&self.crun_root)
            .args(["list", "-q"])
            .output()
        {
            for id in String::from_utf8_lossy(&out.stdout).lines() {
                let _ = Command::new("crun")
                    .arg("--root")
                    .arg(&self.crun_root)
                    .args(["delete", "-f", id])
                    .status();
            }
        }
        for parent in [
            self.cgroup_parent.clone(),
            format!("tinykube-bench-crun-{}", std::process::id()),
        ] {
            for hierarchy in [
                "",
                "pids",
                "memory",
                "cpu,cpuacct",
                "cpuset",
                "blkio",
                "devices",
                "freezer",
                "net_cls,net_prio",
                "perf_event",
                "hugetlb",
                "unified",
                "systemd",
            ] {
                let dir = Path::new("/sys/fs/cgroup").join(hierarchy).join(&parent);
                remove_cgroup_tree(&dir);
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
    }
}

fn remove_cgroup_tree(dir: &Path) {
    if !dir.is_dir() {
        return;
    }
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.path().is_dir() {
                remove_cgroup_tree(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

fn run(cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd.stdin(Stdio::null()).output()?;
    anyhow::ensure!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

struct Stats {
    p50: Duration,
    p99: Duration,
}

fn stats(mut v: Vec<Duration>) -> Stats {
    v.sort();
    Stats {
        p50: percentile(&v, 0.50),
        p99: percentile(&v, 0.99),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn sandbox_config(i: usize) -> cri::PodSandboxConfig {
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: format!("bench-{i}"),
            uid: format!("uid-{i}"),
            namespace: "bench".into(),
            attempt: 0,
        }),
        hostname: format!("bench-{i}"),
        ..Default::default()
    }
}

fn container_config(name: &str) -> cri::ContainerConfig {
    cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata {
            name: name.into(),
            attempt: 0,
        }),
        image: Some(cri::ImageSpec {
            image: "busybox".into(),
            ..Default::default()
        }),
        command: vec!["sleep".into(), "3600".into()],
        ..Default::default()
    }
}

/// Create, start, stop (SIGKILL at once) and remove one container in `pod`.
async fn container_cycle(
    rt: &mut RuntimeServiceClient<Channel>,
    pod: &str,
    config: &cri::PodSandboxConfig,
    name: &str,
) -> anyhow::Result<()> {
    let id = rt
        .create_container(cri::CreateContainerRequest {
            pod_sandbox_id: pod.into(),
            config: Some(container_config(name)),
            sandbox_config: Some(config.clone()),
        })
        .await?
        .into_inner()
        .container_id;
    rt.start_container(cri::StartContainerRequest {
        container_id: id.clone(),
    })
    .await?;
    rt.stop_container(cri::StopContainerRequest {
        container_id: id.clone(),
        timeout: 0,
    })
    .await?;
    rt.remove_container(cri::RemoveContainerRequest { container_id: id })
        .await?;
    Ok(())
}

/// The whole pod: sandbox + one container, up and down.
async fn pod_cycle(rt: &mut RuntimeServiceClient<Channel>, i: usize) -> anyhow::Result<()> {
    let config = sandbox_config(i);
    let pod = rt
        .run_pod_sandbox(cri::RunPodSandboxRequest {
            config: Some(config.clone()),
            runtime_handler: String::new(),
        })
        .await?
        .into_inner()
        .pod_sandbox_id;
    container_cycle(rt, &pod, &config, "c").await?;
    rt.stop_pod_sandbox(cri::StopPodSandboxRequest {
        pod_sandbox_id: pod.clone(),
    })
    .await?;
    rt.remove_pod_sandbox(cri::RemovePodSandboxRequest {
        pod_sandbox_id: pod,
    })
    .await?;
    Ok(())
}

/// An OCI bundle for crun over the busybox layer (read-only root, new pid/net/ipc/uts/mount
/// namespaces, `sleep 3600`), based on crun's own default spec.
fn crun_bundle(dir: &Path, rootfs: &Path) -> anyhow::Result<PathBuf> {
    let bundle = dir.join("bundle");
    std::fs::create_dir_all(&bundle)?;
    run(Command::new("crun").arg("spec").current_dir(&bundle))?;
    let path = bundle.join("config.json");
    let mut spec: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)?;
    spec["root"] = serde_json::json!({"path": rootfs, "readonly": true});
    spec["process"]["terminal"] = false.into();
    spec["process"]["args"] = serde_json::json!(["sleep", "3600"]);
    spec["hostname"] = "crun-bench".into();
    spec["linux"]["cgroupsPath"] = format!("/{}", crun_cgroup()).into();
    std::fs::write(&path, serde_json::to_vec_pretty(&spec)?)?;
    Ok(bundle)
}

fn crun_cgroup() -> String {
    format!("tinykube-bench-crun-{}", std::process::id())
}

/// `--crun-phase ROOT BUNDLE`: (in a private mount namespace) hides the cgroup v2 mount from
/// crun, runs the crun cycles and prints one duration in nanoseconds per line.
fn crun_phase(root: &Path, bundle: &Path) -> anyhow::Result<()> {
    let _ = nix::mount::umount2("/sys/fs/cgroup/unified", nix::mount::MntFlags::MNT_DETACH);
    for i in 0..WARMUP + RUNS {
        let id = format!("tkbench-{}-{i}", std::process::id());
        let t = Instant::now();
        crun_cycle(root, bundle, &id)?;
        if i >= WARMUP {
            println!("{}", t.elapsed().as_nanos());
        }
    }
    Ok(())
}

fn crun_cycle(root: &Path, bundle: &Path, id: &str) -> anyhow::Result<()> {
    let crun = |args: &[&str]| {
        let mut c = Command::new("crun");
        c.arg("--root").arg(root).args(args);
        c
    };
    // The container inherits create's stdio: no pipes, or reading them would wait for it.
    let err_path = root.join("create.err");
    let status = crun(&["create", "--bundle", &bundle.display().to_string(), id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err_path)?)
        .status()?;
    anyhow::ensure!(
        status.success(),
        "crun create {id}: {}",
        std::fs::read_to_string(&err_path).unwrap_or_default()
    );
    run(&mut crun(&["start", id]))?;
    run(&mut crun(&["kill", id, "KILL"]))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state = run(&mut crun(&["state", id]))?;
        if state.contains("\"stopped\"") {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "crun container {id} did not stop: {state}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    run(&mut crun(&["delete", id]))?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--crun-phase") {
        anyhow::ensure!(args.len() > i + 2, "--crun-phase ROOT BUNDLE");
        return crun_phase(Path::new(&args[i + 1]), Path::new(&args[i + 2]));
    }
    anyhow::ensure!(
        nix::unistd::geteuid().is_root(),
        "the runtime benchmark needs root (namespaces, cgroups, mounts)"
    );
    let dir = tempfile::tempdir()?;
    let pid = std::process::id();
    let netns = format!("tkbench-runtime-{pid}");
    let mut guard = Guard {
        netns: netns.clone(),
        cgroup_parent: format!("tinykube/bench-{pid}"),
        crun_root: dir.path().join("crun"),
        daemon: None,
    };
    run(Command::new("ip").args(["netns", "add", &netns]))?;
    run(Command::new("ip").args(["netns", "exec", &netns, "ip", "link", "set", "lo", "up"]))?;

    // The busybox image, built offline and imported.
    let tar = dir.path().join("busybox.tar");
    run(Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../hack/build-busybox-image.sh"))
        .arg(&tar))?;
    let root = dir.path().join("root");
    run(Command::new(BIN)
        .arg("--root")
        .arg(&root)
        .arg("import")
        .arg(&tar))?;
    let net_d = dir.path().join("net.d");
    std::fs::create_dir_all(&net_d)?;
    std::fs::write(
        net_d.join("10-bench.conflist"),
        serde_json::json!({
            "cniVersion": "1.0.0", "name": "bench",
            "plugins": [
                {"type": "bridge", "bridge": "cni0", "isGateway": true,
                 "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.250.0.0/24"}]],
                          "routes": [{"dst": "0.0.0.0/0"}], "dataDir": dir.path().join("ipam")}},
                {"type": "loopback"}
            ]
        })
        .to_string(),
    )?;
    let socket = dir.path().join("runtime.sock");
    guard.daemon = Some(
        Command::new("nsenter")
            .arg(format!("--net=/run/netns/{netns}"))
            .arg(BIN)
            .arg("--listen")
            .arg(&socket)
            .arg("--root")
            .arg(&root)
            .arg("--state")
            .arg(dir.path().join("state"))
            .arg("--cni-conf-dir")
            .arg(&net_d)
            .args(["--cgroup-parent", &guard.cgroup_parent])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()?,
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !socket.exists() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the daemon did not create its socket"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (pod_times, container_times) = tokio.block_on(async {
        let ch = tinykube_cri_proto::connect(socket.display().to_string()).await?;
        let mut rt = RuntimeServiceClient::new(ch);
        for i in 0..WARMUP {
            pod_cycle(&mut rt, i).await?;
        }
        let mut pods = Vec::with_capacity(RUNS);
        for i in 0..RUNS {
            let t = Instant::now();
            pod_cycle(&mut rt, WARMUP + i).await?;
            pods.push(t.elapsed());
        }
        // The container part alone, in one long-lived sandbox.
        let config = sandbox_config(usize::MAX);
        let pod = rt
            .run_pod_sandbox(cri::RunPodSandboxRequest {
                config: Some(config.clone()),
                runtime_handler: String::new(),
            })
            .await?
            .into_inner()
            .pod_sandbox_id;
        let mut containers = Vec::with_capacity(RUNS);
        for i in 0..WARMUP + RUNS {
            let t = Instant::now();
            container_cycle(&mut rt, &pod, &config, &format!("c{i}")).await?;
            if i >= WARMUP {
                containers.push(t.elapsed());
            }
        }
        rt.stop_pod_sandbox(cri::StopPodSandboxRequest {
            pod_sandbox_id: pod.clone(),
        })
        .await?;
        rt.remove_pod_sandbox(cri::RemovePodSandboxRequest {
            pod_sandbox_id: pod,
        })
        .await?;
        anyhow::Ok((pods, containers))
    })?;

    // crun on the very layer directory the runtime unpacked.
    let layers: Vec<PathBuf> = std::fs::read_dir(root.join("images/layers"))?
        .flatten()
        .map(|e| e.path())
        .collect();
    anyhow::ensure!(
        layers.len() == 1,
        "expected one busybox layer, found {layers:?}"
    );
    let bundle = crun_bundle(dir.path(), &layers[0])?;
    std::fs::create_dir_all(&guard.crun_root)?;
    let out = run(Command::new("unshare")
        .args(["-m", "--propagation", "private"])
        .arg(std::env::current_exe()?)
        .arg("--crun-phase")
        .arg(&guard.crun_root)
        .arg(&bundle))?;
    let crun_times: Vec<Duration> = out
        .lines()
        .map(|l| l.trim().parse().map(Duration::from_nanos))
        .collect::<Result<_, _>>()?;
    anyhow::ensure!(crun_times.len() == RUNS, "crun phase printed {out:?}");

    let pod = stats(pod_times);
    let ctr = stats(container_times);
    let crun = stats(crun_times);
    println!("runtime lifecycle, {RUNS} runs each (p50 / p99):");
    println!(
        "  tinykube pod (sandbox + CNI + container), create/start/stop/remove: {} / {}",
        ms(pod.p50),
        ms(pod.p99)
    );
    println!(
        "  tinykube container in an existing sandbox, create/start/stop/remove: {} / {}",
        ms(ctr.p50),
        ms(ctr.p99)
    );
    println!(
        "  crun container (create/start/kill/delete, same rootfs):            {} / {}",
        ms(crun.p50),
        ms(crun.p99)
    );
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!(
        "  ratio tinykube pod / crun: {:.1}x (p50), {:.1}x (p99)",
        ratio(pod.p50, crun.p50),
        ratio(pod.p99, crun.p99)
    );
    println!(
        "  ratio tinykube container / crun: {:.1}x (p50), {:.1}x (p99)",
        ratio(ctr.p50, crun.p50),
        ratio(ctr.p99, crun.p99)
    );
    drop(guard);
    Ok(())
}
