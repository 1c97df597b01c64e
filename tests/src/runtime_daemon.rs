//! Starts `tinykube-runtime` inside a node's network namespace with its whole state in one
//! test directory: `runtime.sock`, `root/`, `state/` and the CNI config dir `net.d/`; and puts
//! the busybox image into that store.
//!
//! It enters only the network namespace (`nsenter --net`): `ip netns exec` would also give the
//! daemon a private mount namespace with a fresh `/sys`, hiding the cgroup mounts a real daemon
//! works with.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{HarnessError, Result};
use crate::kubectl::Invocation;
use crate::process::{binary_path, Launch, Process};

/// How long the daemon may take to create its socket.
pub const RUNTIME_START_TIMEOUT: Duration = Duration::from_secs(20);

/// How long building or importing the busybox image may take.
pub const IMAGE_TIMEOUT: Duration = Duration::from_secs(120);

/// Builds the busybox image offline (`hack/build-busybox-image.sh`, from busybox-static) as
/// `<dir>/busybox.tar` and imports it into the store `<dir>/root` of a daemon started by
/// [`start_runtime_daemon`] in `dir`.
pub async fn import_busybox_image(dir: &Path) -> Result<()> {
    let tar = dir.join("busybox.tar");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hack/build-busybox-image.sh");
    run_image_step(Invocation::new("bash").arg(script).arg(&tar)).await?;
    run_image_step(
        Invocation::new(binary_path("tinykube-runtime")?)
            .arg("--root")
            .arg(dir.join("root"))
            .arg("import")
            .arg(&tar),
    )
    .await
}

async fn run_image_step(step: Invocation) -> Result<()> {
    let command = step.describe();
    let out = step.timeout(IMAGE_TIMEOUT).run().await?;
    if out.success() {
        Ok(())
    } else {
        Err(HarnessError::CommandFailed {
            command,
            status: out.status.to_string(),
            stderr: out.stderr.trim().to_string(),
        })
    }
}

/// The socket a daemon started by [`start_runtime_daemon`] in `dir` listens on.
pub fn runtime_socket(dir: &Path) -> PathBuf {
    dir.join("runtime.sock")
}

/// Starts the runtime daemon in network namespace `netns`, state under `dir`, pods under the
/// cgroup `cgroup_parent`; returns once its socket exists.
pub async fn start_runtime_daemon(netns: &str, dir: &Path, cgroup_parent: &str) -> Result<Process> {
    start_runtime_daemon_with_args(netns, dir, cgroup_parent, &[]).await
}

/// [`start_runtime_daemon`] with more daemon flags (`--registry-certs-dir`,
/// `--insecure-registry`, ...).
pub async fn start_runtime_daemon_with_args(
    netns: &str,
    dir: &Path,
    cgroup_parent: &str,
    extra_args: &[std::ffi::OsString],
) -> Result<Process> {
    let socket = runtime_socket(dir);
    let _ = std::fs::remove_file(&socket);
    let process = Launch::program("/usr/bin/nsenter")
        .label("tinykube-runtime")
        .arg(format!("--net=/run/netns/{netns}"))
        .arg(binary_path("tinykube-runtime")?)
        .env("RUST_LOG", "info")
        .arg("--listen")
        .arg(&socket)
        .arg("--root")
        .arg(dir.join("root"))
        .arg("--state")
        .arg(dir.join("state"))
        .arg("--cni-conf-dir")
        .arg(dir.join("net.d"))
        .args([
            "--cni-bin-dir",
            "/usr/lib/cni",
            "--cgroup-parent",
            cgroup_parent,
        ])
        .args(extra_args)
        .spawn()?;
    let deadline = Instant::now() + RUNTIME_START_TIMEOUT;
    while !socket.exists() {
        if Instant::now() >= deadline {
            return Err(HarnessError::Timeout {
                what: format!("the runtime socket {}", socket.display()),
                timeout: RUNTIME_START_TIMEOUT,
                last: process.log_tail(),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(process)
}
