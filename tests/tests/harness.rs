//! Tests of the harness itself: etcd, process launching, network namespaces, cleanup.
//!
//! These run as root (namespaces need it) and are parallel-safe: every test uses its own
//! namespaces, ports and temporary directories, and checks only its own names.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use tinykube_tests::netns::{list_netns, netns_pids, BRIDGE_NAME, HUB_VETH_PREFIX};
use tinykube_tests::{pid_alive, require_root, wait_for_healthz, Etcd, Launch, Network, Node};

const BUSYBOX: &str = "/bin/busybox";

/// Whether `/proc/self/mountinfo` mentions a mount of `/run/netns/<name>`.
fn netns_mounted(name: &str) -> bool {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let target = format!("/run/netns/{name}");
    mountinfo
        .lines()
        .any(|l| l.split_whitespace().nth(4) == Some(target.as_str()))
}

/// Asserts that none of `names` exists as a namespace, a mount or a file.
fn assert_namespaces_gone(names: &[String]) -> anyhow::Result<()> {
    let listed = list_netns()?;
    for name in names {
        ensure!(
            !listed.contains(name),
            "netns {name} still listed: {listed:?}"
        );
        ensure!(!netns_mounted(name), "/run/netns/{name} still mounted");
        ensure!(
            !Path::new("/run/netns").join(name).exists(),
            "/run/netns/{name} still exists"
        );
    }
    Ok(())
}

/// Waits (bounded) until `pid` is no longer a live process (gone or a zombie).
async fn wait_pid_dead(pid: u32, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while pid_alive(pid) {
        if Instant::now() >= deadline {
            bail!("pid {pid} still alive after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Starts `busybox sleep 1000` in the background inside `node` through a shell that exits at
/// once, so the sleeper is an orphan the harness does not own; returns its pid.
fn start_orphan_sleeper(node: &Node) -> anyhow::Result<u32> {
    let out = node.exec(
        BUSYBOX,
        &[
            "sh",
            "-c",
            "/bin/busybox sleep 1000 >/dev/null 2>&1 & echo $!",
        ],
    )?;
    ensure!(out.success(), "could not start sleeper: {out:?}");
    let pid: u32 = out.stdout.trim().parse().context("sleeper pid")?;
    ensure!(pid_alive(pid), "sleeper {pid} is not running");
    Ok(pid)
}

#[tokio::test]
async fn etcd_put_get_then_drop_removes_process_and_data() -> anyhow::Result<()> {
    let etcd = Etcd::start().await?;
    let url = etcd.client_url().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let mut client = etcd_client::Client::connect([url.as_str()], None).await?;
    client.put("/tinykube-test/key", "value-1", None).await?;
    let resp = client.get("/tinykube-test/key", None).await?;
    let kvs = resp.kvs();
    ensure!(kvs.len() == 1, "expected one key, got {}", kvs.len());
    assert_eq!(kvs[0].value_str()?, "value-1");
    drop(client);

    let pid = etcd.pid();
    let data_dir = etcd.data_dir().to_path_buf();
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    assert!(data_dir.join("member").is_dir(), "etcd wrote no data");
    assert!(!etcd.log().is_empty(), "etcd log not captured");

    drop(etcd);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "etcd pid {pid} still present after drop"
    );
    assert!(
        !data_dir.exists(),
        "data dir {} left behind",
        data_dir.display()
    );
    Ok(())
}

#[tokio::test]
async fn two_etcds_run_side_by_side() -> anyhow::Result<()> {
    let (a, b) = tokio::try_join!(Etcd::start(), Etcd::start())?;
    assert_ne!(a.client_url(), b.client_url());
    assert_ne!(a.data_dir(), b.data_dir());
    Ok(())
}

#[tokio::test]
async fn nodes_reach_each_other_and_root_namespace_is_untouched() -> anyhow::Result<()> {
    require_root();
    let network = Network::new()?;
    let a = network.add_node()?;
    let b = network.add_node()?;
    assert_ne!(a.name(), b.name());
    assert_ne!(a.ip(), b.ip());

    // Addresses and links are where they should be.
    let addr = a.exec(BUSYBOX, &["ip", "-o", "addr", "show", "dev", "eth0"])?;
    ensure!(addr.stdout.contains(&a.cidr()), "eth0 of a: {addr:?}");
    let lo = a.exec(BUSYBOX, &["ip", "-o", "link", "show", "dev", "lo"])?;
    ensure!(lo.stdout.contains("UP"), "lo of a not up: {lo:?}");

    // ICMP, bounded retries while the links come up.
    let target = b.ip().to_string();
    let mut last = None;
    for _ in 0..5 {
        let out = a
            .exec_async(
                BUSYBOX,
                &["ping", "-c", "1", "-W", "2", &target],
                Duration::from_secs(10),
            )
            .await?;
        if out.success() {
            last = None;
            break;
        }
        last = Some(out);
    }
    if let Some(out) = last {
        bail!("ping {} -> {} failed: {out:?}", a.name(), target);
    }

    // Nodes also reach the hub's bridge address.
    let hub_ip = network.hub_ip().to_string();
    let out = b
        .exec_async(
            BUSYBOX,
            &["ping", "-c", "1", "-W", "2", &hub_ip],
            Duration::from_secs(10),
        )
        .await?;
    ensure!(out.success(), "ping hub {hub_ip} failed: {out:?}");

    // TCP: a one-shot server in b answers a client in a.
    let _server = Launch::program(BUSYBOX)
        .args([
            "nc",
            "-l",
            "-p",
            "7777",
            "-e",
            BUSYBOX,
            "echo",
            "pong-from-b",
        ])
        .netns(b.name())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let out = a
            .exec_async(
                BUSYBOX,
                &["nc", "-w", "2", &target, "7777"],
                Duration::from_secs(10),
            )
            .await?;
        if out.stdout.contains("pong-from-b") {
            break;
        }
        if Instant::now() >= deadline {
            bail!("tcp {target}:7777 from {}: {out:?}", a.name());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The bridge and veths exist in the hub, never in the machine's own namespace.
    let hub_links = std::process::Command::new("ip")
        .args(["-n", network.hub_name(), "-o", "link", "show"])
        .output()?;
    let hub_links = String::from_utf8_lossy(&hub_links.stdout).into_owned();
    ensure!(
        hub_links.contains(BRIDGE_NAME),
        "no bridge in hub: {hub_links}"
    );
    ensure!(
        hub_links.contains(&format!("{HUB_VETH_PREFIX}1")),
        "no veth in hub: {hub_links}"
    );
    let root = std::process::Command::new("ip")
        .args(["-o", "link", "show"])
        .output()?;
    let root = String::from_utf8_lossy(&root.stdout);
    for line in root.lines() {
        let name = line
            .split(':')
            .nth(1)
            .map(|n| n.trim().split('@').next().unwrap_or_default())
            .unwrap_or_default();
        ensure!(
            name != BRIDGE_NAME && !name.starts_with(HUB_VETH_PREFIX),
            "our link {name} leaked into the root namespace: {line}"
        );
    }
    ensure!(
        !root.contains(&a.cidr()),
        "node address in the root namespace"
    );
    Ok(())
}

#[tokio::test]
async fn teardown_leaves_no_namespace_mount_or_process() -> anyhow::Result<()> {
    require_root();
    let network = Network::new()?;
    let a = network.add_node()?;
    let _b = network.add_node()?;
    let names = network.namespace_names();
    assert_eq!(names.len(), 3);
    for name in &names {
        assert!(list_netns()?.contains(name), "{name} not created");
        assert!(netns_mounted(name), "{name} not mounted");
    }

    // One sleeper owned by a Process handle, one orphan nobody owns.
    let mut owned = Launch::program(BUSYBOX)
        .args(["sleep", "1000"])
        .netns(a.name())
        .spawn()?;
    let orphan = start_orphan_sleeper(&a)?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while netns_pids(a.name())?.len() < 2 {
        ensure!(
            Instant::now() < deadline,
            "sleepers not seen in {}",
            a.name()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pids = netns_pids(a.name())?;
    ensure!(
        pids.contains(&owned.pid()),
        "{pids:?} lacks {}",
        owned.pid()
    );
    ensure!(pids.contains(&orphan), "{pids:?} lacks {orphan}");

    // Teardown is idempotent, and Drop after it is harmless.
    network.teardown()?;
    network.teardown()?;
    drop(network);
    assert_namespaces_gone(&names)?;

    let status = owned.wait_exit(Duration::from_secs(10)).await?;
    assert_eq!(status.signal(), Some(9), "owned sleeper: {status:?}");
    let owned_pid = owned.pid();
    assert!(
        !Path::new(&format!("/proc/{owned_pid}")).exists(),
        "owned sleeper {owned_pid} still in /proc"
    );
    // The orphan is reparented to pid 1, which may leave it a zombie: dead is what counts.
    wait_pid_dead(orphan, Duration::from_secs(5)).await?;
    Ok(())
}

#[tokio::test]
async fn cleanup_happens_when_a_test_panics() -> anyhow::Result<()> {
    require_root();
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let network = Network::new().expect("network");
        let node = network.add_node().expect("node");
        network.add_node().expect("second node");
        let sleeper = start_orphan_sleeper(&node).expect("sleeper");
        // Its log is printed to stderr when it is dropped during the panic.
        let _talker = Launch::program(BUSYBOX)
            .args([
                "sh",
                "-c",
                "echo talker-log-line; exec /bin/busybox sleep 1000",
            ])
            .netns(node.name())
            .spawn()
            .expect("talker");
        tx.send((network.namespace_names(), sleeper)).expect("send");
        panic!("deliberate panic while holding a Network");
    });
    let joined = tokio::task::spawn_blocking(move || handle.join()).await?;
    assert!(joined.is_err(), "the thread should have panicked");
    let (names, sleeper) = rx.recv_timeout(Duration::from_secs(5))?;
    assert_namespaces_gone(&names)?;
    wait_pid_dead(sleeper, Duration::from_secs(5)).await?;

    // Same through catch_unwind on this thread.
    let result = std::panic::catch_unwind(|| {
        let network = Network::new().expect("network");
        network.add_node().expect("node");
        let names = network.namespace_names();
        std::panic::panic_any(names);
    });
    let payload = result.expect_err("should have panicked");
    let names = payload
        .downcast::<Vec<String>>()
        .expect("payload holds the names");
    assert_namespaces_gone(&names)?;
    Ok(())
}

#[tokio::test]
async fn stale_namespaces_of_dead_processes_are_removed() -> anyhow::Result<()> {
    require_root();
    // A pid that has certainly exited: a child we started and collected.
    let mut child = std::process::Command::new("true").spawn()?;
    let dead_pid = child.id();
    child.wait()?;
    ensure!(!pid_alive(dead_pid));
    let stale = format!("tkh-{dead_pid}-7777-n1");
    let out = std::process::Command::new("ip")
        .args(["netns", "add", &stale])
        .output()?;
    ensure!(out.status.success(), "ip netns add {stale}: {out:?}");

    let network = Network::new()?;
    // A concurrent test's Network::new may have removed it first; either way it must be gone.
    assert_namespaces_gone(&[stale])?;
    // Our own live namespaces are untouched by stale cleanup.
    let other = Network::new()?;
    assert!(list_netns()?.contains(&network.hub_name().to_string()));
    drop(other);
    Ok(())
}

#[tokio::test]
async fn process_captures_stdout_and_stderr_and_stops_on_drop() -> anyhow::Result<()> {
    let mut p = Launch::program(BUSYBOX)
        .args(["sh", "-c", "echo hello; echo oops >&2; echo \"$GREETING\""])
        .env("GREETING", "from-env")
        .spawn()?;
    let status = p.wait_exit(Duration::from_secs(10)).await?;
    assert!(status.success(), "{status:?}");
    let log = p.log();
    for line in ["hello", "oops", "from-env"] {
        assert!(
            log.lines().any(|l| l == line),
            "{line:?} missing from {log:?}"
        );
    }
    let log_path = p.log_path().to_path_buf();
    assert!(log_path.is_file());
    drop(p);
    assert!(!log_path.exists(), "log not removed with the process");

    // A long-running process is stopped (SIGTERM) and collected on drop.
    let mut sleeper = Launch::program(BUSYBOX).args(["sleep", "1000"]).spawn()?;
    assert!(sleeper.is_running());
    let pid = sleeper.pid();
    drop(sleeper);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "sleeper {pid} still present"
    );
    Ok(())
}

#[tokio::test]
async fn process_runs_inside_a_node_namespace() -> anyhow::Result<()> {
    require_root();
    let network = Network::new()?;
    let node = network.add_node()?;
    let mut p = Launch::program(BUSYBOX)
        .args(["ip", "-o", "addr", "show", "dev", "eth0"])
        .netns(node.name())
        .spawn()?;
    let status = p.wait_exit(Duration::from_secs(10)).await?;
    assert!(status.success(), "{status:?}: {}", p.log());
    assert!(p.log().contains(&node.cidr()), "{}", p.log());
    Ok(())
}

#[tokio::test]
async fn wait_for_healthz_succeeds_on_etcd_and_fails_on_a_closed_port() -> anyhow::Result<()> {
    let etcd = Etcd::start().await?;
    wait_for_healthz(
        &format!("{}/health", etcd.client_url()),
        Duration::from_secs(10),
    )
    .await?;

    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.local_addr()?.port()
    };
    let started = Instant::now();
    let err = wait_for_healthz(
        &format!("http://127.0.0.1:{port}/healthz"),
        Duration::from_secs(1),
    )
    .await
    .expect_err("nothing listens there");
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(4), "took {elapsed:?}");
    let msg = err.to_string();
    assert!(msg.contains("timed out"), "{msg}");
    assert!(msg.to_lowercase().contains("refused"), "{msg}");

    assert!(
        wait_for_healthz("https://127.0.0.1:1/", Duration::from_secs(1))
            .await
            .is_err()
    );
    Ok(())
}

#[test]
fn missing_binary_error_says_how_to_build() {
    let err = Launch::binary("kube-no-such-component")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("build it first: cargo build --workspace --bins"),
        "{err}"
    );
}

#[test]
fn require_root_passes_as_root() {
    // CI runs as root; elsewhere this fails loudly, which is the point.
    require_root();
    assert_eq!(tinykube_tests::root::effective_uid(), Some(0));
}

/// Not a test on its own: when `TINYKUBE_HARNESS_CRASH_HELPER` is set (by
/// [`processes_die_with_a_crashed_test_process`]), it starts a sleeper in the root namespace and
/// one in a node namespace, prints their pids and the network's names, then exits without
/// unwinding, as a test process killed by a timeout would.
#[test]
fn crash_helper() {
    if std::env::var_os("TINYKUBE_HARNESS_CRASH_HELPER").is_none() {
        return;
    }
    let network = Network::new().expect("network");
    let node = network.add_node().expect("node");
    let root = Launch::program(BUSYBOX)
        .args(["sleep", "1000"])
        .spawn()
        .expect("root sleeper");
    let inside = Launch::program(BUSYBOX)
        .args(["sleep", "1000"])
        .netns(node.name())
        .spawn()
        .expect("node sleeper");
    println!(
        "\nCRASH-HELPER {} {} {} {} {}",
        root.pid(),
        inside.pid(),
        network.namespace_names().join(","),
        root.log_path().display(),
        inside.log_path().display(),
    );
    // Exit without running any destructor (and without a core dump, unlike abort).
    std::process::exit(3);
}

#[tokio::test]
async fn processes_die_with_a_crashed_test_process() -> anyhow::Result<()> {
    require_root();
    let exe = std::env::current_exe()?;
    let run = tokio::process::Command::new(exe)
        .args([
            "--exact",
            "crash_helper",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("TINYKUBE_HARNESS_CRASH_HELPER", "1")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .context("crash helper did not finish")??;
    assert_eq!(
        out.status.code(),
        Some(3),
        "helper should have exited with status 3"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("CRASH-HELPER ").map(|(_, rest)| rest))
        .with_context(|| format!("helper printed no pids: {stdout}"))?;
    let mut fields = line.split_whitespace();
    let root_pid: u32 = fields.next().context("root pid")?.parse()?;
    let node_pid: u32 = fields.next().context("node pid")?.parse()?;
    let names: Vec<String> = fields
        .next()
        .context("names")?
        .split(',')
        .map(str::to_string)
        .collect();

    // No destructor ran in the helper: remove its log directories here.
    for log in fields {
        if let Some(dir) = Path::new(log).parent() {
            std::fs::remove_dir_all(dir).with_context(|| format!("remove {}", dir.display()))?;
        }
    }

    // The kernel killed both sleepers when their parent died.
    wait_pid_dead(root_pid, Duration::from_secs(10)).await?;
    wait_pid_dead(node_pid, Duration::from_secs(10)).await?;

    // Its namespaces are left behind, until the next Network::new() removes them.
    let _network = Network::new()?;
    assert_namespaces_gone(&names)?;
    Ok(())
}
