//! Safety nets for tests that run the container runtime: whatever a failed test left in its
//! cgroups is killed and the cgroups removed, and the pod network namespaces the runtime
//! bind-mounted are unmounted. Tests still assert that nothing is left when they pass; these
//! only keep one failure from leaking into the next run.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The cgroup hierarchies a runtime may have used below `/sys/fs/cgroup` (v1 controllers, the
/// v2 unified mount, or a pure v2 tree at the root).
const HIERARCHIES: &[&str] = &[
    "",
    "pids",
    "memory",
    "cpu",
    "cpuacct",
    "cpu,cpuacct",
    "unified",
];

/// Kills every process in the cgroup `parent` (relative to each hierarchy) and removes it with
/// all its children.
pub fn remove_cgroups(parent: &str) {
    for hierarchy in HIERARCHIES {
        let root = Path::new("/sys/fs/cgroup").join(hierarchy);
        let dir = root.join(parent);
        kill_and_rmdir(&dir);
        // Shared ancestors (`tinykube` above `tinykube/test-42`) go too once nobody uses them;
        // rmdir of a cgroup that still has children fails, so concurrent tests are safe.
        for ancestor in dir.ancestors().skip(1).take_while(|a| *a != root) {
            if std::fs::remove_dir(ancestor).is_err() {
                break;
            }
        }
    }
}

/// Lazily unmounts every entry of `dir` (the runtime's bind-mounted pod network namespaces).
pub fn unmount_entries(dir: &Path) {
    let entries = std::fs::read_dir(dir)
        .map(|r| r.flatten().collect::<Vec<_>>())
        .unwrap_or_default();
    for entry in entries {
        let _ = Command::new("umount").arg("-l").arg(entry.path()).status();
    }
}

fn kill_and_rmdir(dir: &Path) {
    if !dir.is_dir() {
        return;
    }
    let children = std::fs::read_dir(dir)
        .map(|r| r.flatten().collect::<Vec<_>>())
        .unwrap_or_default();
    for child in children {
        if child.path().is_dir() {
            kill_and_rmdir(&child.path());
        }
    }
    // Bounded: a process being killed leaves the cgroup within milliseconds.
    for _ in 0..100 {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.split_whitespace() {
            let _ = Command::new("kill").args(["-9", pid]).status();
        }
        if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
