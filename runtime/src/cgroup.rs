//! cgroups for pods and containers, v1 and v2 behind one trait. Paths are relative to a
//! parent (default `tinykube`): `<parent>/pod-<sandbox>/<container>`. Every manager takes its
//! cgroupfs root, so tests can run the v2 manager on a fake cgroupfs in a tempdir.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Result, RuntimeError};

/// Resource limits, already in cgroup terms (see [`limits_from_cri`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// CFS quota and period in µs: `cpus=0.5` -> `(50000, 100000)`.
    pub cpu_quota: Option<(i64, u64)>,
    /// v1 `cpu.shares` (2..=262144); v2 weight is derived with [`shares_to_weight`].
    pub cpu_shares: Option<u64>,
    /// Memory limit in bytes.
    pub memory: Option<i64>,
    /// Maximum number of tasks.
    pub pids: Option<i64>,
}

/// Converts CRI `LinuxContainerResources` numbers to [`Limits`] (0 means unset).
pub fn limits_from_cri(cpu_period: i64, cpu_quota: i64, cpu_shares: i64, memory: i64) -> Limits {
    Limits {
        cpu_quota: (cpu_quota > 0).then_some((
            cpu_quota,
            if cpu_period > 0 {
                cpu_period as u64
            } else {
                100_000
            },
        )),
        cpu_shares: (cpu_shares > 0).then(|| (cpu_shares as u64).clamp(2, 262_144)),
        memory: (memory > 0).then_some(memory),
        pids: None,
    }
}

/// `cpus` (e.g. 0.5) to a CFS quota over a 100 ms period: `0.5` -> `(50000, 100000)`.
pub fn cpus_to_quota(cpus: f64) -> (i64, u64) {
    ((cpus * 100_000.0).round() as i64, 100_000)
}

/// v1 shares to v2 weight, the formula runc and the kubelet use:
/// `1 + ((shares - 2) * 9999) / 262142`.
pub fn shares_to_weight(shares: u64) -> u64 {
    let s = shares.clamp(2, 262_144);
    1 + ((s - 2) * 9999) / 262_142
}

/// One cgroup's usage numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    pub cpu_usage_ns: u64,
    pub memory_usage: u64,
    pub memory_working_set: u64,
    pub oom_kills: u64,
}

/// A cgroup hierarchy (v1 or v2).
pub trait CgroupManager: Send + Sync + std::fmt::Debug {
    /// Creates the cgroup `rel` (and parents) and applies `limits`.
    fn create(&self, rel: &str, limits: &Limits) -> Result<()>;
    /// The files a process writes `0` into to join `rel` (one per hierarchy).
    fn procs_files(&self, rel: &str) -> Vec<PathBuf>;
    /// Usage numbers of `rel`.
    fn usage(&self, rel: &str) -> Usage;
    /// Removes `rel` (bounded wait for it to empty). Absent is fine.
    fn remove(&self, rel: &str) -> Result<()>;
    /// Whether `rel` exists anywhere.
    fn exists(&self, rel: &str) -> bool;
    /// Pids in `rel`.
    fn pids(&self, rel: &str) -> Vec<i32>;
    /// "v1" or "v2".
    fn version(&self) -> &'static str;
}

/// Picks v2 when `root` is a unified hierarchy (has `cgroup.controllers`), v1 otherwise.
pub fn detect(root: &Path) -> Box<dyn CgroupManager> {
    if root.join("cgroup.controllers").is_file() {
        Box::new(V2 {
            root: root.to_path_buf(),
        })
    } else {
        Box::new(V1 {
            root: root.to_path_buf(),
        })
    }
}

fn write(path: &Path, value: &str) -> Result<()> {
    fs::write(path, value).map_err(|e| RuntimeError::Cgroup {
        path: path.to_path_buf(),
        reason: format!("write {value:?}: {e}"),
    })
}

fn read_u64(path: &Path) -> u64 {
    fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Value of `key` in a flat keyed file (`memory.stat`, `memory.events`, `cpu.stat`).
pub fn keyed(content: &str, key: &str) -> Option<u64> {
    content.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next()? == key).then(|| it.next()?.parse().ok())?
    })
}

fn rmdir_bounded(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    // Children first (a pod cgroup holds container cgroups).
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                rmdir_bounded(&e.path())?;
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if Instant::now() >= deadline => {
                return Err(RuntimeError::Cgroup {
                    path: dir.to_path_buf(),
                    reason: format!("remove: {e}"),
                })
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// cgroup v1: one directory per controller (`cpu`, `cpuacct`, `memory`, `pids`).
#[derive(Debug)]
pub struct V1 {
    pub root: PathBuf,
}

const V1_CONTROLLERS: [&str; 4] = ["cpu", "cpuacct", "memory", "pids"];

impl V1 {
    fn dirs(&self, rel: &str) -> Vec<PathBuf> {
        let mut seen: Vec<PathBuf> = Vec::new();
        for c in V1_CONTROLLERS {
            let base = self.root.join(c);
            let real = fs::canonicalize(&base).unwrap_or(base);
            if real.is_dir() && !seen.iter().any(|s| s == &real) {
                seen.push(real);
            }
        }
        seen.into_iter().map(|d| d.join(rel)).collect()
    }
    fn ctl(&self, controller: &str, rel: &str) -> PathBuf {
        self.root.join(controller).join(rel)
    }
}

impl CgroupManager for V1 {
    fn create(&self, rel: &str, limits: &Limits) -> Result<()> {
        for d in self.dirs(rel) {
            fs::create_dir_all(&d).map_err(|e| RuntimeError::Cgroup {
                path: d.clone(),
                reason: format!("create: {e}"),
            })?;
        }
        if let Some((quota, period)) = limits.cpu_quota {
            write(
                &self.ctl("cpu", rel).join("cpu.cfs_period_us"),
                &period.to_string(),
            )?;
            write(
                &self.ctl("cpu", rel).join("cpu.cfs_quota_us"),
                &quota.to_string(),
            )?;
        }
        if let Some(s) = limits.cpu_shares {
            write(&self.ctl("cpu", rel).join("cpu.shares"), &s.to_string())?;
        }
        if let Some(m) = limits.memory {
            write(
                &self.ctl("memory", rel).join("memory.limit_in_bytes"),
                &m.to_string(),
            )?;
            // No swap beyond the limit, as the kubelet asks.
            let memsw = self.ctl("memory", rel).join("memory.memsw.limit_in_bytes");
            if memsw.exists() {
                let _ = write(&memsw, &m.to_string());
            }
        }
        if let Some(p) = limits.pids {
            write(&self.ctl("pids", rel).join("pids.max"), &p.to_string())?;
        }
        Ok(())
    }
    fn procs_files(&self, rel: &str) -> Vec<PathBuf> {
        self.dirs(rel)
            .into_iter()
            .map(|d| d.join("cgroup.procs"))
            .collect()
    }
    fn usage(&self, rel: &str) -> Usage {
        let mem = self.ctl("memory", rel);
        let usage = read_u64(&mem.join("memory.usage_in_bytes"));
        let stat = fs::read_to_string(mem.join("memory.stat")).unwrap_or_default();
        let inactive = keyed(&stat, "total_inactive_file").unwrap_or(0);
        let oom = fs::read_to_string(mem.join("memory.oom_control")).unwrap_or_default();
        Usage {
            cpu_usage_ns: read_u64(&self.ctl("cpuacct", rel).join("cpuacct.usage")),
            memory_usage: usage,
            memory_working_set: usage.saturating_sub(inactive),
            oom_kills: keyed(&oom, "oom_kill").unwrap_or(0),
        }
    }
    fn remove(&self, rel: &str) -> Result<()> {
        for d in self.dirs(rel) {
            rmdir_bounded(&d)?;
        }
        Ok(())
    }
    fn exists(&self, rel: &str) -> bool {
        self.dirs(rel).iter().any(|d| d.exists())
    }
    fn pids(&self, rel: &str) -> Vec<i32> {
        let s = fs::read_to_string(self.ctl("pids", rel).join("cgroup.procs")).unwrap_or_default();
        s.split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }
    fn version(&self) -> &'static str {
        "v1"
    }
}

/// cgroup v2: one unified tree; controllers enabled via `cgroup.subtree_control`.
#[derive(Debug)]
pub struct V2 {
    pub root: PathBuf,
}

impl CgroupManager for V2 {
    fn create(&self, rel: &str, limits: &Limits) -> Result<()> {
        // Enable controllers on every ancestor (root excluded from creation).
        let mut cur = self.root.clone();
        let parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty()).collect();
        for part in &parts {
            let avail = fs::read_to_string(cur.join("cgroup.controllers")).unwrap_or_default();
            let want: Vec<String> = ["cpu", "memory", "pids"]
                .iter()
                .filter(|c| avail.split_whitespace().any(|a| a == **c))
                .map(|c| format!("+{c}"))
                .collect();
            if !want.is_empty() {
                let _ = fs::write(cur.join("cgroup.subtree_control"), want.join(" "));
            }
            cur = cur.join(part);
            fs::create_dir_all(&cur).map_err(|e| RuntimeError::Cgroup {
                path: cur.clone(),
                reason: format!("create: {e}"),
            })?;
        }
        let dir = self.root.join(rel);
        if let Some((quota, period)) = limits.cpu_quota {
            write(&dir.join("cpu.max"), &format!("{quota} {period}"))?;
        }
        if let Some(s) = limits.cpu_shares {
            write(&dir.join("cpu.weight"), &shares_to_weight(s).to_string())?;
        }
        if let Some(m) = limits.memory {
            write(&dir.join("memory.max"), &m.to_string())?;
            let _ = fs::write(dir.join("memory.swap.max"), "0");
        }
        if let Some(p) = limits.pids {
            write(&dir.join("pids.max"), &p.to_string())?;
        }
        Ok(())
    }
    fn procs_files(&self, rel: &str) -> Vec<PathBuf> {
        vec![self.root.join(rel).join("cgroup.procs")]
    }
    fn usage(&self, rel: &str) -> Usage {
        let dir = self.root.join(rel);
        let cpu = fs::read_to_string(dir.join("cpu.stat")).unwrap_or_default();
        let usage = read_u64(&dir.join("memory.current"));
        let stat = fs::read_to_string(dir.join("memory.stat")).unwrap_or_default();
        let events = fs::read_to_string(dir.join("memory.events")).unwrap_or_default();
        Usage {
            cpu_usage_ns: keyed(&cpu, "usage_usec").unwrap_or(0) * 1000,
            memory_usage: usage,
            memory_working_set: usage.saturating_sub(keyed(&stat, "inactive_file").unwrap_or(0)),
            oom_kills: keyed(&events, "oom_kill").unwrap_or(0),
        }
    }
    fn remove(&self, rel: &str) -> Result<()> {
        rmdir_bounded(&self.root.join(rel))
    }
    fn exists(&self, rel: &str) -> bool {
        self.root.join(rel).exists()
    }
    fn pids(&self, rel: &str) -> Vec<i32> {
        let s = fs::read_to_string(self.root.join(rel).join("cgroup.procs")).unwrap_or_default();
        s.split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }
    fn version(&self) -> &'static str {
        "v2"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(cpus_to_quota(0.5), (50_000, 100_000));
        assert_eq!(cpus_to_quota(2.0), (200_000, 100_000));
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        let l = limits_from_cri(0, 50_000, 512, 500 << 20);
        assert_eq!(l.cpu_quota, Some((50_000, 100_000)));
        assert_eq!(l.cpu_shares, Some(512));
        assert_eq!(l.memory, Some(500 << 20));
        assert_eq!(limits_from_cri(0, 0, 0, 0), Limits::default());
        assert_eq!(keyed("a 1\noom_kill 3\n", "oom_kill"), Some(3));
        assert_eq!(keyed("oom_kill_disable 0\n", "oom_kill"), None);
    }

    #[test]
    fn v2_on_a_fake_cgroupfs() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        fs::write(
            root.join("cgroup.controllers"),
            "cpuset cpu io memory pids\n",
        )
        .unwrap();
        fs::write(root.join("cgroup.subtree_control"), "").unwrap();
        let m = detect(root);
        assert_eq!(m.version(), "v2");
        // A fake fs has no controller files in new dirs: pre-create what the kernel would.
        let limits = Limits {
            cpu_quota: Some(cpus_to_quota(0.5)),
            cpu_shares: Some(1024),
            memory: Some(100 << 20),
            pids: Some(64),
        };
        m.create("tinykube/pod-a/c1", &limits).unwrap();
        let d = root.join("tinykube/pod-a/c1");
        assert_eq!(
            fs::read_to_string(d.join("cpu.max")).unwrap(),
            "50000 100000"
        );
        assert_eq!(fs::read_to_string(d.join("cpu.weight")).unwrap(), "39");
        assert_eq!(
            fs::read_to_string(d.join("memory.max")).unwrap(),
            (100u64 << 20).to_string()
        );
        assert_eq!(fs::read_to_string(d.join("pids.max")).unwrap(), "64");
        assert_eq!(
            fs::read_to_string(root.join("cgroup.subtree_control")).unwrap(),
            "+cpu +memory +pids"
        );
        assert_eq!(
            m.procs_files("tinykube/pod-a/c1"),
            vec![d.join("cgroup.procs")]
        );
        fs::write(
            d.join("memory.events"),
            "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n",
        )
        .unwrap();
        fs::write(d.join("cpu.stat"), "usage_usec 1500\nuser_usec 1000\n").unwrap();
        fs::write(d.join("memory.current"), "4096\n").unwrap();
        let u = m.usage("tinykube/pod-a/c1");
        assert_eq!(
            (u.oom_kills, u.cpu_usage_ns, u.memory_usage),
            (1, 1_500_000, 4096)
        );
        // A fake fs keeps the files, so clear them before the (real-cgroupfs-style) rmdir.
        for f in [
            "cpu.max",
            "cpu.weight",
            "memory.max",
            "memory.swap.max",
            "pids.max",
            "memory.events",
            "cpu.stat",
            "memory.current",
        ] {
            let _ = fs::remove_file(d.join(f));
        }
        m.remove("tinykube/pod-a").unwrap();
        assert!(!m.exists("tinykube/pod-a"));
    }

    #[test]
    fn v1_on_a_fake_cgroupfs() {
        let t = tempfile::tempdir().unwrap();
        for c in ["cpu", "cpuacct", "memory", "pids"] {
            fs::create_dir_all(t.path().join(c)).unwrap();
        }
        let m = detect(t.path());
        assert_eq!(m.version(), "v1");
        m.create(
            "tk/pod-x/c",
            &Limits {
                cpu_quota: Some((50_000, 100_000)),
                memory: Some(1 << 20),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            fs::read_to_string(t.path().join("cpu/tk/pod-x/c/cpu.cfs_quota_us")).unwrap(),
            "50000"
        );
        assert_eq!(
            fs::read_to_string(t.path().join("memory/tk/pod-x/c/memory.limit_in_bytes")).unwrap(),
            "1048576"
        );
        assert_eq!(m.procs_files("tk/pod-x/c").len(), 4);
    }
}
