//! The processes that are not the daemon, all modes of the same binary:
//!
//! - `shim <state-dir>`: supervises one container. It forks an intermediate child that joins
//!   the sandbox's namespaces and creates the container's pid namespace, whose child (PID 1
//!   there) builds the root filesystem and execs the container process. The shim is a child
//!   subreaper, so it waits for the container itself, copies its stdout/stderr into the CRI
//!   log and writes `exit.json` when it ends. It does not depend on the daemon: the daemon may
//!   restart or be killed meanwhile.
//! - `pause`: the sandbox's process holding new net/ipc/uts namespaces (and, for a pod that
//!   shares its process namespace, PID 1 of a new pid namespace the containers join); reaps
//!   zombies, exits on SIGTERM.
//! - `nsexec <state-dir> -- cmd...`: runs a command inside a running container (ExecSync and
//!   streaming Exec); when its stdin is a terminal (tty=1) the command gets it as its
//!   controlling terminal.
//!
//! These modes run single-threaded until they fork, as `setns`/`unshare` require.

use std::fs;
use std::io::{BufRead, IsTerminal, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{ForkResult, Pid};
use serde::{Deserialize, Serialize};

use crate::attach::Hub;
use crate::error::{IoContext, Result, RuntimeError, SysContext};
use crate::spec::ContainerSpec;
use crate::streaming::{STDERR, STDOUT};

/// Written by the shim once the container process has exec'd.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Started {
    pub pid: i32,
    pub shim_pid: i32,
    /// Unix nanoseconds.
    pub started_at: i64,
    /// Start time of the process in clock ticks since boot (guards against pid reuse).
    pub proc_start: u64,
    /// Start time of the shim process.
    #[serde(default)]
    pub shim_start: u64,
}

/// Written by the shim when the container process has ended (or failed to start).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Exited {
    pub exit_code: i32,
    pub signal: Option<i32>,
    pub finished_at: i64,
    pub oom_killed: bool,
    /// Set when the process never started.
    pub start_error: Option<String>,
}

/// Current time in unix nanoseconds.
pub fn now_ns() -> i64 {
    jiff::Timestamp::now().as_nanosecond() as i64
}

/// Start time (field 22 of `/proc/<pid>/stat`) of a live process.
pub fn proc_start_time(pid: i32) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 2 (comm) may hold spaces; fields after the last ')' are fixed.
    let rest = &s[s.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the process `pid` started at `start` is still alive (not a zombie).
pub fn process_alive(pid: i32, start: u64) -> bool {
    let Ok(s) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some(i) = s.rfind(')') else { return false };
    let state = s[i + 2..].chars().next();
    state != Some('Z') && proc_start_time(pid) == Some(start)
}

/// Writes a JSON state file whole: into a temporary file renamed over it, so that a reader
/// (the daemon, the shim, either after a restart) never sees half of it.
pub fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<()> {
    if let Some(p) = path.parent() {
        fs::create_dir_all(p).ctx("create dir", p)?;
    }
    let tmp = path.with_extension("tmp");
    let data = serde_json::to_vec_pretty(v).map_err(|e| RuntimeError::Failed(e.to_string()))?;
    fs::write(&tmp, data).ctx("write", &tmp)?;
    fs::rename(&tmp, path).ctx("rename", path)
}

/// Reads a JSON state file; `None` when absent or unreadable.
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    serde_json::from_slice(&fs::read(path).ok()?).ok()
}

/// One CRI log line: `<RFC3339Nano> <stream> <F|P> <content>\n`.
pub fn cri_log_line(ts: jiff::Timestamp, stream: &str, partial: bool, content: &[u8]) -> Vec<u8> {
    let mut out = format!("{ts} {stream} {} ", if partial { "P" } else { "F" }).into_bytes();
    out.extend_from_slice(content);
    out.push(b'\n');
    out
}

/// Splits buffered output into CRI log records: complete lines (F) and, past `max`, partial
/// chunks (P). Returns the records and leaves the unfinished rest in `buf`.
pub fn split_log(buf: &mut Vec<u8>, max: usize) -> Vec<(bool, Vec<u8>)> {
    let mut out = Vec::new();
    loop {
        if let Some(i) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=i).take(i).collect();
            out.push((false, line));
        } else if buf.len() >= max {
            let chunk: Vec<u8> = buf.drain(..max).collect();
            out.push((true, chunk));
        } else {
            return out;
        }
    }
}

static REOPEN_LOG: AtomicBool = AtomicBool::new(false);

fn open_log(path: &Path) -> Result<fs::File> {
    if let Some(p) = path.parent() {
        fs::create_dir_all(p).ctx("create log dir", p)?;
    }
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .ctx("open log", path)
}

/// Copies one output of the container into the CRI log (as `stream`) and to the clients
/// attached to it (on `channel`) until its end (EOF; EIO for a terminal nobody holds anymore).
fn copy_output(
    mut from: fs::File,
    stream: &'static str,
    channel: u8,
    log: Arc<Mutex<(PathBuf, fs::File)>>,
    hub: Arc<Hub>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = match from.read(&mut chunk) {
            Ok(0) | Err(_) => 0,
            Ok(n) => n,
        };
        if n > 0 {
            hub.publish(channel, &chunk[..n]);
        }
        if n == 0 {
            if !buf.is_empty() {
                let line = std::mem::take(&mut buf);
                write_records(&log, stream, vec![(false, line)]);
            }
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        let records = split_log(&mut buf, 16 * 1024);
        write_records(&log, stream, records);
    }
}

fn write_records(log: &Mutex<(PathBuf, fs::File)>, stream: &str, records: Vec<(bool, Vec<u8>)>) {
    let mut g = log.lock().unwrap_or_else(|e| e.into_inner());
    if REOPEN_LOG.swap(false, Ordering::SeqCst) {
        if let Ok(f) = open_log(&g.0) {
            g.1 = f;
        }
    }
    for (partial, content) in records {
        let _ = g.1.write_all(&cri_log_line(
            jiff::Timestamp::now(),
            stream,
            partial,
            &content,
        ));
    }
}

fn pipe() -> Result<(fs::File, fs::File)> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).sys("pipe")?;
    Ok((fs::File::from(r), fs::File::from(w)))
}

/// Entry of `tinykube-runtime shim <state-dir>`. Prints `ok <pid>` or `error: <msg>` on
/// stdout once the container has exec'd (or failed), then supervises it until it exits.
pub fn run_shim(state_dir: &Path) -> i32 {
    let _ = nix::unistd::setsid();
    let spec: ContainerSpec = match read_json(&state_dir.join("spec.json")) {
        Some(s) => s,
        None => {
            println!("error: cannot read {}/spec.json", state_dir.display());
            return 1;
        }
    };
    match shim_inner(state_dir, &spec) {
        Ok(code) => code,
        Err(e) => {
            let msg = e.to_string();
            let _ = write_json(
                &state_dir.join("exit.json"),
                &Exited {
                    exit_code: 128,
                    signal: None,
                    finished_at: now_ns(),
                    oom_killed: false,
                    start_error: Some(msg.clone()),
                },
            );
            println!("error: {msg}");
            let _ = std::io::stdout().flush();
            1
        }
    }
}

/// What the container process gets as stdin, stdout and stderr: pipes (stdin `/dev/null`
/// unless the container has stdin), or, for a tty container, a socket over which its init
/// hands the master of the terminal it opened in the container's own devpts.
struct ChildStdio {
    stdin: fs::File,
    stdout: fs::File,
    stderr: fs::File,
    console: Option<UnixStream>,
}

fn shim_inner(state_dir: &Path, spec: &ContainerSpec) -> Result<i32> {
    // SAFETY-free prctl wrappers from nix: become the reaper of the container process, which
    // is re-parented to us when the intermediate child exits.
    nix::sys::prctl::set_child_subreaper(true).sys("set child subreaper")?;
    let log = open_log(&spec.log_path)?;
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (fail_r, fail_w) = pipe()?;
    let (pid_r, pid_w) = pipe()?;
    let (stdin_r, stdin_w) = if spec.stdin && !spec.tty {
        let (r, w) = pipe()?;
        (r, Some(w))
    } else {
        (fs::File::open("/dev/null").ctx("open", "/dev/null")?, None)
    };
    let (console, console_child) = if spec.tty {
        let (ours, theirs) = UnixStream::pair().ctx("create the console socket", state_dir)?;
        (Some(ours), Some(theirs))
    } else {
        (None, None)
    };
    // Bound before the container starts, so a client may attach as soon as it runs.
    let state = fs::File::open(state_dir).ctx("open", state_dir)?;
    let socket_path = state_dir.join(crate::attach::SOCKET);
    let _ = fs::remove_file(&socket_path);
    let listener = UnixListener::bind(crate::attach::socket_address(&state))
        .ctx("listen for attach on", &socket_path)?;
    drop(state);

    match crate::sys::fork()? {
        ForkResult::Child => {
            drop((out_r, err_r, fail_r, pid_r, stdin_w, console, listener));
            let stdio = ChildStdio {
                stdin: stdin_r,
                stdout: out_w,
                stderr: err_w,
                console: console_child,
            };
            let code = intermediate(spec, stdio, fail_w, pid_w);
            std::process::exit(code);
        }
        ForkResult::Parent { child } => {
            drop((out_w, err_w, fail_w, pid_w, stdin_r, console_child));
            let mut pid_s = String::new();
            let _ = (&pid_r).read_to_string(&mut pid_s);
            let _ = waitpid(child, None);
            let mut failure = String::new();
            let _ = (&fail_r).read_to_string(&mut failure);
            let pid: i32 = pid_s.trim().parse().unwrap_or(0);
            // The init sent the terminal before it exec'd, which the pipes above waited for.
            let terminal = match &console {
                Some(socket) if failure.is_empty() && pid > 0 => {
                    let master = crate::sys::recv_fd(socket)?;
                    if master.is_none() {
                        failure = "the container's init did not hand over its terminal".into();
                    }
                    master.map(fs::File::from)
                }
                _ => None,
            };
            drop(console);
            if !failure.is_empty() || pid <= 0 {
                let _ = fs::remove_file(&socket_path);
                if pid > 0 {
                    let _ = waitpid(Pid::from_raw(pid), None);
                }
                let msg = if failure.is_empty() {
                    "container process did not start".to_string()
                } else {
                    failure
                };
                return Err(RuntimeError::Failed(msg));
            }
            let clone = |f: &fs::File| f.try_clone().ctx("duplicate", "the container terminal");
            let (input, resize) = match &terminal {
                Some(master) => (
                    if spec.stdin {
                        Some(clone(master)?)
                    } else {
                        None
                    },
                    Some(clone(master)?),
                ),
                None => (stdin_w, None),
            };
            let hub = Hub::new(input, resize, spec.stdin_once);
            hub.serve(listener);
            write_json(
                &state_dir.join("started.json"),
                &Started {
                    pid,
                    shim_pid: std::process::id() as i32,
                    started_at: now_ns(),
                    proc_start: proc_start_time(pid).unwrap_or(0),
                    shim_start: proc_start_time(std::process::id() as i32).unwrap_or(0),
                },
            )?;
            announce_and_detach(pid);
            crate::sys::flag_on_signal(Signal::SIGUSR1, &REOPEN_LOG);
            let log = Arc::new(Mutex::new((spec.log_path.clone(), log)));
            // A terminal merges everything into stdout, as CRI logs it.
            let outputs = match terminal {
                Some(master) => vec![(master, "stdout", STDOUT)],
                None => vec![(out_r, "stdout", STDOUT), (err_r, "stderr", STDERR)],
            };
            let copiers: Vec<_> = outputs
                .into_iter()
                .map(|(from, stream, channel)| {
                    let (log, hub) = (log.clone(), hub.clone());
                    std::thread::spawn(move || copy_output(from, stream, channel, log, hub))
                })
                .collect();
            let status = loop {
                match waitpid(Pid::from_raw(pid), None) {
                    Ok(WaitStatus::Exited(_, code)) => break (code, None),
                    Ok(WaitStatus::Signaled(_, sig, _)) => {
                        break (128 + sig as i32, Some(sig as i32))
                    }
                    Ok(_) => continue,
                    Err(nix::Error::EINTR) => continue,
                    Err(_) => break (255, None),
                }
            };
            // With a private pid namespace every process of the container is gone now, so
            // the pipes reach EOF; with a shared one, stragglers may keep them open: bound it.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
            while !copiers.iter().all(|c| c.is_finished()) && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            let oom = status.1 == Some(Signal::SIGKILL as i32) && oom_killed(spec);
            write_json(
                &state_dir.join("exit.json"),
                &Exited {
                    exit_code: status.0,
                    signal: status.1,
                    finished_at: now_ns(),
                    oom_killed: oom,
                    start_error: None,
                },
            )?;
            // Attached clients learn of the end once the exit is on record.
            hub.close();
            let _ = fs::remove_file(&socket_path);
            Ok(0)
        }
    }
}

fn oom_killed(spec: &ContainerSpec) -> bool {
    for procs in &spec.cgroup_procs {
        let Some(dir) = procs.parent() else { continue };
        for (file, key) in [
            ("memory.oom_control", "oom_kill"),
            ("memory.events", "oom_kill"),
        ] {
            if let Ok(s) = fs::read_to_string(dir.join(file)) {
                if crate::cgroup::keyed(&s, key).unwrap_or(0) > 0 {
                    return true;
                }
            }
        }
    }
    false
}

fn ns_file(pid: i32, ns: &str) -> Result<fs::File> {
    let p = format!("/proc/{pid}/ns/{ns}");
    fs::File::open(&p).ctx("open namespace", p)
}

/// The intermediate child: joins the sandbox, makes the pid namespace, forks PID 1.
fn intermediate(spec: &ContainerSpec, stdio: ChildStdio, fail_w: fs::File, pid_w: fs::File) -> i32 {
    let mut fail_w = fail_w;
    let res = (|| -> Result<Pid> {
        if let Some(sp) = spec.sandbox_pid {
            if let Some(netns) = &spec.netns {
                let f = fs::File::open(netns)
                    .or_else(|_| fs::File::open(format!("/proc/{sp}/ns/net")))
                    .ctx("open netns", netns)?;
                setns(&f, CloneFlags::CLONE_NEWNET).sys("setns net")?;
                setns(ns_file(sp, "uts")?, CloneFlags::CLONE_NEWUTS).sys("setns uts")?;
            }
            setns(ns_file(sp, "ipc")?, CloneFlags::CLONE_NEWIPC).sys("setns ipc")?;
            if spec.share_pid {
                setns(ns_file(sp, "pid")?, CloneFlags::CLONE_NEWPID).sys("setns pid")?;
            }
        }
        // hostPID: the node's pid namespace, which the shim already is in.
        if !spec.share_pid && !spec.host_pid {
            unshare(CloneFlags::CLONE_NEWPID).sys("unshare pid")?;
        }
        match crate::sys::fork()? {
            ForkResult::Child => {
                let err = container_init(spec, &stdio);
                let _ = write!(fail_w, "{err}");
                std::process::exit(127);
            }
            ForkResult::Parent { child } => Ok(child),
        }
    })();
    match res {
        Ok(child) => {
            let _ = write!(&pid_w, "{child}");
            0
        }
        Err(e) => {
            let _ = write!(fail_w, "{e}");
            1
        }
    }
}

fn mnt(
    src: Option<&str>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<()> {
    mount(src, target, fstype, flags, data).sys(format!(
        "mount {} ({})",
        target.display(),
        fstype.unwrap_or("bind")
    ))
}

fn ensure_dir(p: &Path) -> Result<()> {
    fs::create_dir_all(p).ctx("create dir", p)
}

fn ensure_file(p: &Path) -> Result<()> {
    if let Some(d) = p.parent() {
        ensure_dir(d)?;
    }
    if !p.exists() {
        fs::File::create(p).ctx("create file", p)?;
    }
    Ok(())
}

/// Joins `path` (absolute, inside the container) onto `root`, refusing `..`.
fn in_root(root: &Path, path: &str) -> Result<PathBuf> {
    crate::image::safe_join(root, path.trim_start_matches('/')).ok_or_else(|| {
        RuntimeError::InvalidArgument(format!("path {path:?} escapes the container"))
    })
}

/// PID 1 of the container: cgroups, mounts, pivot_root, credentials, exec. Returns only on
/// failure, with the error.
fn container_init(spec: &ContainerSpec, stdio: &ChildStdio) -> RuntimeError {
    match init_inner(spec, stdio) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

enum Never {}

fn init_inner(spec: &ContainerSpec, stdio: &ChildStdio) -> Result<Never> {
    // No parent-death signal here: our parent (the intermediate child) exits at once by design.
    for p in &spec.cgroup_procs {
        fs::write(p, "0").ctx("join cgroup", p)?;
    }
    unshare(CloneFlags::CLONE_NEWNS).sys("unshare mount namespace")?;
    mnt(
        None,
        Path::new("/"),
        None,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None,
    )?;
    let root = &spec.rootfs;
    let lowers: Vec<String> = spec
        .lowers
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        lowers.join(":"),
        spec.upper.display(),
        spec.work.display()
    );
    mnt(
        Some("overlay"),
        root,
        Some("overlay"),
        MsFlags::empty(),
        Some(&opts),
    )?;
    // /proc of the new pid namespace.
    let proc_dir = root.join("proc");
    ensure_dir(&proc_dir)?;
    let nodev = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mnt(Some("proc"), &proc_dir, Some("proc"), nodev, None)?;
    // Minimal /dev.
    let dev = root.join("dev");
    ensure_dir(&dev)?;
    mnt(
        Some("tmpfs"),
        &dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
        Some("mode=755,size=65536k"),
    )?;
    for d in ["null", "zero", "full", "random", "urandom", "tty"] {
        let target = dev.join(d);
        ensure_file(&target)?;
        mnt(
            Some(&format!("/dev/{d}")),
            &target,
            None,
            MsFlags::MS_BIND,
            None,
        )?;
    }
    let pts = dev.join("pts");
    ensure_dir(&pts)?;
    mnt(
        Some("devpts"),
        &pts,
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
    )?;
    let shm = dev.join("shm");
    ensure_dir(&shm)?;
    mnt(
        Some("shm"),
        &shm,
        Some("tmpfs"),
        nodev,
        Some("mode=1777,size=65536k"),
    )?;
    for (link, target) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        std::os::unix::fs::symlink(target, dev.join(link)).ctx("symlink", dev.join(link))?;
    }
    // Read-only /sys.
    let sys = root.join("sys");
    ensure_dir(&sys)?;
    mnt(
        Some("sysfs"),
        &sys,
        Some("sysfs"),
        nodev | MsFlags::MS_RDONLY,
        None,
    )?;
    // Volumes.
    for m in &spec.mounts {
        let target = in_root(root, &m.destination)?;
        if m.source.is_dir() {
            ensure_dir(&target)?;
        } else {
            ensure_file(&target)?;
        }
        mnt(
            Some(&m.source.display().to_string()),
            &target,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        )?;
        if m.readonly {
            mnt(
                None,
                &target,
                None,
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                None,
            )?;
        }
    }
    let cwd = in_root(root, &spec.cwd)?;
    ensure_dir(&cwd)?;
    let _ = nix::unistd::chown(&cwd, None, None);
    // pivot_root(".", ".") then detach the old root: no directory for it is needed.
    nix::unistd::chdir(root).sys("chdir rootfs")?;
    nix::unistd::pivot_root(".", ".").sys("pivot_root")?;
    umount2(".", MntFlags::MNT_DETACH).sys("detach old root")?;
    nix::unistd::chdir("/").sys("chdir /")?;
    if !spec.privileged {
        for p in &spec.masked_paths {
            let path = Path::new(p);
            match fs::metadata(path) {
                Ok(md) if md.is_dir() => {
                    mnt(Some("tmpfs"), path, Some("tmpfs"), MsFlags::MS_RDONLY, None)?
                }
                Ok(_) => mnt(Some("/dev/null"), path, None, MsFlags::MS_BIND, None)?,
                Err(_) => {}
            }
        }
        for p in &spec.readonly_paths {
            let path = Path::new(p);
            if path.exists() {
                mnt(
                    Some(p.as_str()),
                    path,
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None,
                )?;
                mnt(
                    None,
                    path,
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_REC,
                    None,
                )?;
            }
        }
    }
    if spec.readonly_rootfs {
        mnt(
            None,
            Path::new("/"),
            None,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None,
        )?;
    }
    nix::unistd::chdir(spec.cwd.as_str()).sys(format!("chdir {}", spec.cwd))?;
    let env = exec_env(&spec.env, spec.tty);
    let program = find_program(&spec.args, &env)?;
    match &stdio.console {
        Some(console) => take_terminal(spec, console)?,
        None => {
            nix::unistd::dup2_stdin(&stdio.stdin).sys("dup2 stdin")?;
            nix::unistd::dup2_stdout(&stdio.stdout).sys("dup2 stdout")?;
            nix::unistd::dup2_stderr(&stdio.stderr).sys("dup2 stderr")?;
        }
    }
    drop_privileges(spec)?;
    exec(&program, &spec.args, &env)
}

/// A tty container: a terminal from the container's own devpts (so `tty` inside names
/// `/dev/pts/0`), as stdin/stdout/stderr and controlling terminal of a new session, owned by
/// the container's user; its master goes to the shim.
fn take_terminal(spec: &ContainerSpec, console: &UnixStream) -> Result<()> {
    let pty = crate::sys::open_pty(Path::new("/dev/pts/ptmx"))?;
    nix::unistd::setsid().sys("setsid")?;
    nix::unistd::dup2_stdin(&pty.slave).sys("dup2 stdin")?;
    nix::unistd::dup2_stdout(&pty.slave).sys("dup2 stdout")?;
    nix::unistd::dup2_stderr(&pty.slave).sys("dup2 stderr")?;
    crate::sys::set_controlling_terminal()?;
    nix::unistd::fchown(&pty.slave, Some(nix::unistd::Uid::from_raw(spec.uid)), None)
        .sys("chown the terminal")?;
    crate::sys::send_fd(console, pty.master.as_fd())
}

fn find_program(args: &[String], env: &[String]) -> Result<PathBuf> {
    let first = args.first().ok_or_else(|| {
        RuntimeError::InvalidArgument("no command to run (image has no Cmd/Entrypoint)".into())
    })?;
    if first.contains('/') {
        return Ok(PathBuf::from(first));
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    path.split(':')
        .map(|d| Path::new(d).join(first))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            RuntimeError::InvalidArgument(format!("executable {first:?} not found in PATH {path}"))
        })
}

/// This process's capability bounding set (`CapBnd` in `/proc/self/status`); all bits when
/// it cannot be read, so that capset reports the real problem.
fn own_bounding_set() -> u64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX)
}

fn drop_privileges(spec: &ContainerSpec) -> Result<()> {
    let last_cap = fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(40);
    for cap in 0..=last_cap {
        if spec.capabilities & (1u64 << cap) == 0 {
            crate::sys::capbset_drop(cap)?;
        }
    }
    nix::sys::prctl::set_keepcaps(true).sys("keepcaps")?;
    let groups: Vec<nix::unistd::Gid> = spec
        .groups
        .iter()
        .map(|g| nix::unistd::Gid::from_raw(*g))
        .collect();
    nix::unistd::setgroups(&groups).sys("setgroups")?;
    nix::unistd::setresgid(spec.gid.into(), spec.gid.into(), spec.gid.into()).sys("setgid")?;
    nix::unistd::setresuid(spec.uid.into(), spec.uid.into(), spec.uid.into()).sys("setuid")?;
    // Capabilities outside our own bounding set cannot be gained (capset fails with EPERM);
    // a privileged container gets every capability the machine lets us hand out, as Docker.
    let caps = if spec.uid == 0 {
        spec.capabilities & own_bounding_set()
    } else {
        0
    };
    crate::sys::capset(caps, caps, 0)?;
    crate::sys::clear_ambient();
    if spec.no_new_privs {
        nix::sys::prctl::set_no_new_privs().sys("no_new_privs")?;
    }
    Ok(())
}

fn exec(program: &Path, args: &[String], env: &[String]) -> Result<Never> {
    use std::ffi::CString;
    let c = |s: &str| {
        CString::new(s).map_err(|_| RuntimeError::InvalidArgument(format!("{s:?} contains NUL")))
    };
    let prog = c(&program.display().to_string())?;
    let argv = args.iter().map(|a| c(a)).collect::<Result<Vec<_>>>()?;
    let envp = env.iter().map(|a| c(a)).collect::<Result<Vec<_>>>()?;
    let e = nix::unistd::execve(&prog, &argv, &envp).unwrap_err();
    Err(RuntimeError::Sys {
        what: format!("exec {}", program.display()),
        source: e,
    })
}

/// Entry of `tinykube-runtime pause [--hostname H] [--host-network] [--share-pid]`: unshares
/// the sandbox's namespaces, prints `ok <pid>` (the pid that holds them), then sleeps reaping
/// zombies until SIGTERM/SIGINT.
///
/// With `--share-pid` (CRI pid mode POD, shareProcessNamespace) the pause process must be PID 1
/// of a new pid namespace that the pod's containers join, as upstream's pause is: unsharing a
/// pid namespace only moves the children, so this process forks the pause into it and stays
/// behind as its waiter (so it never lingers as a zombie), exiting when the pause does.
pub fn run_pause(hostname: &str, host_network: bool, share_pid: bool) -> i32 {
    let _ = nix::unistd::setsid();
    let mut flags = CloneFlags::CLONE_NEWIPC;
    if !host_network {
        flags |= CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWUTS;
    }
    if let Err(e) = unshare(flags) {
        println!("error: unshare: {e}");
        return 1;
    }
    if !host_network && !hostname.is_empty() {
        if let Err(e) = nix::unistd::sethostname(hostname) {
            println!("error: sethostname: {e}");
            return 1;
        }
    }
    if !host_network {
        // Bring loopback up even without a CNI loopback plugin. Done before the pid namespace
        // exists: the first process forked into it becomes its PID 1.
        let _ = std::process::Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status();
    }
    if !share_pid {
        let signals = block_pause_signals();
        announce_and_detach(std::process::id() as i32);
        return pause_loop(&signals);
    }
    match fork_pid_namespace_init() {
        Ok(child) => {
            announce_and_detach(child.as_raw());
            loop {
                match waitpid(child, None) {
                    Ok(WaitStatus::Exited(_, code)) => return code,
                    Ok(WaitStatus::Signaled(_, sig, _)) => return 128 + sig as i32,
                    Ok(_) | Err(nix::Error::EINTR) => continue,
                    Err(_) => return 2,
                }
            }
        }
        Err(e) => {
            println!("error: {e}");
            1
        }
    }
}

/// Creates a pid namespace and forks its PID 1, the pause loop. Returns in the parent once
/// the child is ready (its signals blocked, so a SIGTERM right after `ok` is not lost), with
/// the child's pid; the child never returns.
fn fork_pid_namespace_init() -> Result<Pid> {
    unshare(CloneFlags::CLONE_NEWPID).sys("unshare pid")?;
    let (ready_r, ready_w) = pipe()?;
    match crate::sys::fork()? {
        ForkResult::Child => {
            drop(ready_r);
            let signals = block_pause_signals();
            // Our stdout is the daemon's pipe: only the parent answers on it.
            detach_stdout();
            let _ = (&ready_w).write_all(b"r");
            drop(ready_w);
            std::process::exit(pause_loop(&signals));
        }
        ForkResult::Parent { child } => {
            drop(ready_w);
            let mut ready = Vec::new();
            let _ = (&ready_r).read_to_end(&mut ready);
            if ready != b"r" {
                let _ = waitpid(child, None);
                return Err(RuntimeError::Failed(
                    "pause process died before it was ready".into(),
                ));
            }
            Ok(child)
        }
    }
}

/// Blocks the signals the pause loop waits for. Blocked signals stay pending even for the
/// PID 1 of a pid namespace, which otherwise drops signals it has no handler for.
fn block_pause_signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [Signal::SIGCHLD, Signal::SIGTERM, Signal::SIGINT] {
        set.add(s);
    }
    let _ = set.thread_block();
    set
}

/// Answers the daemon that started us `ok <pid>` (the pid it is to record: the container's
/// init, the pause holding the sandbox's namespaces), then lets go of its pipe.
fn announce_and_detach(pid: i32) {
    println!("ok {pid}");
    let _ = std::io::stdout().flush();
    detach_stdout();
}

/// Points stdout at `/dev/null`, so that the daemon's end of the pipe it was sees EOF.
fn detach_stdout() {
    if let Ok(null) = fs::OpenOptions::new().write(true).open("/dev/null") {
        let _ = nix::unistd::dup2_stdout(&null);
    }
}

/// Reaps zombies (as PID 1 of a shared pid namespace it adopts the pod's orphans) until
/// SIGTERM/SIGINT.
fn pause_loop(set: &SigSet) -> i32 {
    loop {
        match set.wait() {
            Ok(Signal::SIGCHLD) => {
                while let Ok(st) = waitpid(
                    Pid::from_raw(-1),
                    Some(nix::sys::wait::WaitPidFlag::WNOHANG),
                ) {
                    if st == WaitStatus::StillAlive {
                        break;
                    }
                }
            }
            Ok(_) => return 0,
            Err(_) => return 2,
        }
    }
}

/// Entry of `tinykube-runtime nsexec <state-dir> -- cmd...`: joins the running container's
/// namespaces and cgroup, then runs `cmd` with the container's env, user and capabilities.
/// Exits with the command's exit code (126/127 when it cannot run).
pub fn run_nsexec(state_dir: &Path, cmd: &[String]) -> i32 {
    match nsexec_inner(state_dir, cmd) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tinykube-runtime nsexec: {e}");
            126
        }
    }
}

fn nsexec_inner(state_dir: &Path, cmd: &[String]) -> Result<i32> {
    let spec: ContainerSpec = read_json(&state_dir.join("spec.json")).ok_or_else(|| {
        RuntimeError::Failed(format!("cannot read {}/spec.json", state_dir.display()))
    })?;
    let started: Started = read_json(&state_dir.join("started.json"))
        .ok_or_else(|| RuntimeError::Failed("container is not running".into()))?;
    if !process_alive(started.pid, started.proc_start) {
        return Err(RuntimeError::Failed("container is not running".into()));
    }
    let pid = started.pid;
    for p in &spec.cgroup_procs {
        let _ = fs::write(p, "0");
    }
    let files: Vec<(fs::File, CloneFlags)> = [
        ("ipc", CloneFlags::CLONE_NEWIPC),
        ("uts", CloneFlags::CLONE_NEWUTS),
        ("net", CloneFlags::CLONE_NEWNET),
        ("pid", CloneFlags::CLONE_NEWPID),
        ("mnt", CloneFlags::CLONE_NEWNS),
    ]
    .into_iter()
    .map(|(n, f)| ns_file(pid, n).map(|file| (file, f)))
    .collect::<Result<_>>()?;
    for (f, flag) in files {
        setns(f, flag).sys(format!("setns {flag:?}"))?;
    }
    match crate::sys::fork()? {
        ForkResult::Child => {
            crate::sys::set_parent_death_signal();
            let r = (|| -> Result<Never> {
                let _ = nix::unistd::chdir(spec.cwd.as_str());
                let tty = std::io::stdin().is_terminal();
                let env = exec_env(&spec.env, tty);
                if tty {
                    // A streaming exec with tty=1 hands us a pty slave: make it our controlling
                    // terminal, as a login would, so ^C and job control work inside.
                    nix::unistd::setsid().sys("setsid")?;
                    crate::sys::set_controlling_terminal()?;
                }
                let program = find_program(cmd, &env)?;
                drop_privileges(&spec)?;
                exec(&program, cmd, &env)
            })();
            match r {
                Ok(never) => match never {},
                Err(e) => eprintln!("tinykube-runtime nsexec: {e}"),
            }
            std::process::exit(127);
        }
        ForkResult::Parent { child } => loop {
            match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, c)) => return Ok(c),
                Ok(WaitStatus::Signaled(_, s, _)) => return Ok(128 + s as i32),
                Ok(_) | Err(nix::Error::EINTR) => continue,
                Err(e) => {
                    return Err(RuntimeError::Sys {
                        what: "wait".into(),
                        source: e,
                    })
                }
            }
        },
    }
}

/// The environment of an exec'd command: the container's, plus `TERM=xterm` on a terminal
/// when the image sets no TERM (as container runtimes do for tty processes), so full-screen
/// programs work.
pub fn exec_env(container_env: &[String], tty: bool) -> Vec<String> {
    let mut env = container_env.to_vec();
    if tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    env
}

/// Kills `pid` with `signal`, ignoring a vanished process.
pub fn signal(pid: i32, sig: Signal) {
    let _ = kill(Pid::from_raw(pid), sig);
}

/// Reads the first line a freshly started helper prints (bounded by the caller).
pub fn first_line(r: impl Read) -> String {
    let mut line = String::new();
    let _ = std::io::BufReader::new(r).read_line(&mut line);
    line.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_split_like_cri() {
        let mut b = b"one\ntwo\nthr".to_vec();
        let r = split_log(&mut b, 16);
        assert_eq!(r, vec![(false, b"one".to_vec()), (false, b"two".to_vec())]);
        assert_eq!(b, b"thr");
        let mut long = vec![b'x'; 20];
        let r = split_log(&mut long, 16);
        assert_eq!(r, vec![(true, vec![b'x'; 16])]);
        let ts: jiff::Timestamp = "2024-01-02T03:04:05.123456789Z".parse().unwrap();
        assert_eq!(
            cri_log_line(ts, "stdout", false, b"hi"),
            b"2024-01-02T03:04:05.123456789Z stdout F hi\n".to_vec()
        );
    }

    #[test]
    fn tty_exec_gets_a_term_unless_the_image_sets_one() {
        let cases: &[(&[&str], bool, &[&str])] = &[
            (&["PATH=/bin"], false, &["PATH=/bin"]),
            (&["PATH=/bin"], true, &["PATH=/bin", "TERM=xterm"]),
            (&["TERM=vt100"], true, &["TERM=vt100"]),
        ];
        for (env, tty, want) in cases {
            let env: Vec<String> = env.iter().map(|e| e.to_string()).collect();
            assert_eq!(exec_env(&env, *tty), *want, "{env:?} tty={tty}");
        }
    }

    #[test]
    fn own_process_is_alive() {
        let me = std::process::id() as i32;
        let start = proc_start_time(me).unwrap();
        assert!(process_alive(me, start));
        assert!(!process_alive(me, start + 1));
    }
}
