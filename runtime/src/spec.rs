//! The launch spec of a container (written by the daemon, read by the shim and `nsexec`), and
//! the pure decisions that build it: command resolution, environment, user, capabilities.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Result, RuntimeError};
use crate::image::ExecConfig;

/// A bind mount into the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountSpec {
    pub source: PathBuf,
    pub destination: String,
    pub readonly: bool,
}

/// Everything the shim needs to start a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSpec {
    pub id: String,
    /// Mount point of the overlay root filesystem.
    pub rootfs: PathBuf,
    /// Overlay lower dirs, top first (init layer, then image layers top-down).
    pub lowers: Vec<PathBuf>,
    pub upper: PathBuf,
    pub work: PathBuf,
    pub readonly_rootfs: bool,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub mounts: Vec<MountSpec>,
    /// Pid of the sandbox's pause process: its net/ipc/uts namespaces are joined.
    pub sandbox_pid: Option<i32>,
    /// Network namespace file of the sandbox (bind mount); `None` = host network.
    pub netns: Option<PathBuf>,
    /// Join the pause process's pid namespace (shareProcessNamespace) instead of a new one.
    pub share_pid: bool,
    /// `cgroup.procs` files the container joins.
    pub cgroup_procs: Vec<PathBuf>,
    /// cgroup path (relative to the hierarchy), for OOM detection by the shim.
    pub cgroup: String,
    pub log_path: PathBuf,
    pub privileged: bool,
    /// Capability mask (bit n = capability n) for root processes.
    pub capabilities: u64,
    pub no_new_privs: bool,
    pub masked_paths: Vec<String>,
    pub readonly_paths: Vec<String>,
    /// The process gets a terminal (a pty of the container's own devpts) as stdin/out/err.
    pub tty: bool,
    /// The process reads stdin from attached clients instead of `/dev/null`.
    #[serde(default)]
    pub stdin: bool,
    /// The process's stdin closes when the first attached client closes its stdin.
    #[serde(default)]
    pub stdin_once: bool,
    /// The container runs in the node's pid namespace (hostPID).
    #[serde(default)]
    pub host_pid: bool,
}

/// Paths upstream runtimes mask in `/proc` and `/sys` (containerd's defaults).
pub const DEFAULT_MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths upstream runtimes make read-only.
pub const DEFAULT_READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Capability names by number (`CAP_` prefix omitted).
pub const CAPABILITIES: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// The default capability set of containerd/Docker.
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

/// The number of a capability name (`NET_ADMIN` or `CAP_NET_ADMIN`, any case).
pub fn capability_number(name: &str) -> Option<u32> {
    let n = name.to_ascii_uppercase();
    let n = n.strip_prefix("CAP_").unwrap_or(&n);
    CAPABILITIES.iter().position(|c| *c == n).map(|i| i as u32)
}

/// The capability mask: defaults, plus `add`, minus `drop` (`ALL` works in both).
pub fn capability_mask(add: &[String], drop: &[String], privileged: bool) -> Result<u64> {
    let all = (1u64 << CAPABILITIES.len()) - 1;
    if privileged {
        return Ok(all);
    }
    let mut mask = 0u64;
    for c in DEFAULT_CAPABILITIES {
        mask |= 1 << capability_number(c).unwrap_or(0);
    }
    let lookup = |c: &String| {
        capability_number(c)
            .ok_or_else(|| RuntimeError::InvalidArgument(format!("unknown capability {c:?}")))
    };
    for c in drop {
        if c.eq_ignore_ascii_case("ALL") {
            mask = 0;
        } else {
            mask &= !(1 << lookup(c)?);
        }
    }
    for c in add {
        if c.eq_ignore_ascii_case("ALL") {
            mask = all;
        } else {
            mask |= 1 << lookup(c)?;
        }
    }
    Ok(mask)
}

/// The process args as CRI says: `command` replaces the image Entrypoint (and drops its Cmd),
/// `args` replace the Cmd.
pub fn resolve_args(image: &ExecConfig, command: &[String], args: &[String]) -> Vec<String> {
    let mut out: Vec<String> = if command.is_empty() {
        image.entrypoint.clone().unwrap_or_default()
    } else {
        command.to_vec()
    };
    if !args.is_empty() {
        out.extend_from_slice(args);
    } else if command.is_empty() {
        out.extend(image.cmd.clone().unwrap_or_default());
    }
    out
}

/// Image env overridden by the container's env (same key = replaced), with a default PATH.
pub fn merge_env(image: &[String], container: &[(String, String)], hostname: &str) -> Vec<String> {
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut set = |k: &str, v: &str| {
        if !map.contains_key(k) {
            order.push(k.to_string());
        }
        map.insert(k.to_string(), v.to_string());
    };
    set(
        "PATH",
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    );
    if !hostname.is_empty() {
        set("HOSTNAME", hostname);
    }
    for e in image {
        let (k, v) = e.split_once('=').unwrap_or((e, ""));
        set(k, v);
    }
    for (k, v) in container {
        set(k, v);
    }
    order.iter().map(|k| format!("{k}={}", map[k])).collect()
}

/// Looks a user up in `/etc/passwd` content by name or numeric id: `(uid, gid, home)`.
pub fn passwd_lookup(passwd: &str, user: &str) -> Option<(u32, u32, String)> {
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 6 {
            return None;
        }
        (f[0] == user || f[2] == user)
            .then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?, f[5].to_string())))?
    })
}

/// Looks a group up in `/etc/group` content by name or id.
pub fn group_lookup(group: &str, name: &str) -> Option<u32> {
    group.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 3 {
            return None;
        }
        (f[0] == name || f[2] == name).then(|| f[2].parse().ok())?
    })
}

/// Resolves the user to run as: `run_as_user`/`run_as_group` from the security context win,
/// then the image's `User` (`name`, `uid`, `name:group`, `uid:gid`). Names must exist in the
/// image's `/etc/passwd` / `/etc/group`.
pub fn resolve_user(
    run_as_user: Option<i64>,
    run_as_username: &str,
    run_as_group: Option<i64>,
    image_user: Option<&str>,
    passwd: &str,
    group: &str,
) -> Result<(u32, u32)> {
    let (uid, mut gid) = if let Some(u) = run_as_user {
        let uid = u32::try_from(u)
            .map_err(|_| RuntimeError::InvalidArgument(format!("runAsUser {u} out of range")))?;
        let gid = passwd_lookup(passwd, &uid.to_string()).map_or(0, |p| p.1);
        (uid, gid)
    } else {
        let spec = if !run_as_username.is_empty() {
            run_as_username
        } else {
            image_user.unwrap_or("")
        };
        let (user, grp) = match spec.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (spec, None),
        };
        let (uid, gid) = if user.is_empty() {
            (0, 0)
        } else if let Ok(n) = user.parse::<u32>() {
            (n, passwd_lookup(passwd, user).map_or(0, |p| p.1))
        } else {
            let p = passwd_lookup(passwd, user).ok_or_else(|| {
                RuntimeError::InvalidArgument(format!(
                    "user {user:?} not found in the image's /etc/passwd"
                ))
            })?;
            (p.0, p.1)
        };
        let gid = match grp {
            Some(g) => match g.parse::<u32>() {
                Ok(n) => n,
                Err(_) => group_lookup(group, g).ok_or_else(|| {
                    RuntimeError::InvalidArgument(format!(
                        "group {g:?} not found in the image's /etc/group"
                    ))
                })?,
            },
            None => gid,
        };
        (uid, gid)
    };
    if let Some(g) = run_as_group {
        gid = u32::try_from(g)
            .map_err(|_| RuntimeError::InvalidArgument(format!("runAsGroup {g} out of range")))?;
    }
    Ok((uid, gid))
}

/// `/etc/hosts` for a pod.
pub fn hosts_file(ip: &str, hostname: &str) -> String {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n",
    );
    if !ip.is_empty() {
        s.push_str(&format!("{ip}\t{hostname}\n"));
    } else if !hostname.is_empty() {
        s.push_str(&format!("127.0.1.1\t{hostname}\n"));
    }
    s
}

/// `/etc/resolv.conf` from the CRI DNS config (the node's file when `None`/empty).
pub fn resolv_conf(servers: &[String], searches: &[String], options: &[String]) -> String {
    let mut s = String::new();
    if !searches.is_empty() {
        s.push_str(&format!("search {}\n", searches.join(" ")));
    }
    for n in servers {
        s.push_str(&format!("nameserver {n}\n"));
    }
    if !options.is_empty() {
        s.push_str(&format!("options {}\n", options.join(" ")));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn args_follow_cri_rules() {
        let img = ExecConfig {
            entrypoint: Some(v(&["/ep"])),
            cmd: Some(v(&["c1"])),
            ..Default::default()
        };
        let cases: &[(&[&str], &[&str], &[&str])] = &[
            (&[], &[], &["/ep", "c1"]),
            (&[], &["a"], &["/ep", "a"]),
            (&["/x"], &[], &["/x"]),
            (&["/x"], &["y"], &["/x", "y"]),
        ];
        for (cmd, args, want) in cases {
            assert_eq!(
                resolve_args(&img, &v(cmd), &v(args)),
                v(want),
                "{cmd:?} {args:?}"
            );
        }
    }

    #[test]
    fn env_overrides_image() {
        let env = merge_env(
            &v(&["A=1", "PATH=/bin"]),
            &[("A".into(), "2".into()), ("B".into(), "x=y".into())],
            "h",
        );
        assert_eq!(env, v(&["PATH=/bin", "HOSTNAME=h", "A=2", "B=x=y"]));
    }

    #[test]
    fn users_resolve() {
        let pw = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:n:/home:/bin/false\n";
        let gr = "root:x:0:\nstaff:x:50:\n";
        let r = |u: Option<i64>, n: &str, g: Option<i64>, img: Option<&str>| {
            resolve_user(u, n, g, img, pw, gr)
        };
        assert_eq!(r(None, "", None, None).unwrap(), (0, 0));
        assert_eq!(r(Some(1000), "", None, Some("nobody")).unwrap(), (1000, 0));
        assert_eq!(r(Some(65534), "", None, None).unwrap(), (65534, 65534));
        assert_eq!(r(None, "", None, Some("nobody")).unwrap(), (65534, 65534));
        assert_eq!(r(None, "", None, Some("123:staff")).unwrap(), (123, 50));
        assert_eq!(r(None, "", Some(7), Some("nobody")).unwrap(), (65534, 7));
        assert!(r(None, "ghost", None, None).is_err());
        assert!(r(Some(-1), "", None, None).is_err());
    }

    #[test]
    fn capabilities() {
        let d = capability_mask(&[], &[], false).unwrap();
        assert_eq!(d.count_ones() as usize, DEFAULT_CAPABILITIES.len());
        assert_ne!(d & (1 << capability_number("NET_RAW").unwrap()), 0);
        assert_eq!(d & (1 << capability_number("SYS_ADMIN").unwrap()), 0);
        let m = capability_mask(&v(&["CAP_NET_ADMIN"]), &v(&["net_raw"]), false).unwrap();
        assert_ne!(m & (1 << 12), 0);
        assert_eq!(m & (1 << 13), 0);
        assert_eq!(capability_mask(&[], &v(&["ALL"]), false).unwrap(), 0);
        assert!(capability_mask(&v(&["BOGUS"]), &[], false).is_err());
    }

    #[test]
    fn etc_files() {
        assert!(hosts_file("10.244.0.5", "web").ends_with("10.244.0.5\tweb\n"));
        assert_eq!(
            resolv_conf(
                &v(&["10.96.0.10"]),
                &v(&["default.svc.cluster.local"]),
                &v(&["ndots:5"])
            ),
            "search default.svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"
        );
    }
}
