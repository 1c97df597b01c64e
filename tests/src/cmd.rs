//! Running short external commands (`ip`, `kill`, programs inside a node) with a bounded wait.
//!
//! Output goes to temporary files rather than pipes, so a chatty command can never fill a pipe
//! and block while we poll for its exit; the wait is bounded and a command that overstays is
//! killed.

use std::ffi::OsStr;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::error::{HarnessError, Result};

/// How long a plain administrative command (`ip ...`, `kill ...`) may take.
pub(crate) const ADMIN_TIMEOUT: Duration = Duration::from_secs(20);

/// What a finished command printed, and how it exited.
#[derive(Debug, Clone)]
pub struct CmdOutput {
    /// Exit status.
    pub status: ExitStatus,
    /// Everything written to stdout (lossy UTF-8).
    pub stdout: String,
    /// Everything written to stderr (lossy UTF-8).
    pub stderr: String,
}

impl CmdOutput {
    /// Whether the command exited with status 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// `what`, then the exit status and what the command printed: a test's failure message.
    pub fn report(&self, what: &str) -> String {
        format!("{what}: {}", crate::apiserver::describe_output(self))
    }
}

/// Renders a command line for messages.
pub(crate) fn describe(program: &OsStr, args: &[&OsStr]) -> String {
    let mut s = program.to_string_lossy().into_owned();
    for a in args {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `program args` to completion, waiting at most `timeout` (then it is killed and an error
/// returned). A non-zero exit is *not* an error here; see [`run_ok`].
pub(crate) fn run<S: AsRef<OsStr>>(
    program: impl AsRef<OsStr>,
    args: &[S],
    timeout: Duration,
) -> Result<CmdOutput> {
    let program = program.as_ref();
    let arg_refs: Vec<&OsStr> = args.iter().map(|a| a.as_ref()).collect();
    let line = describe(program, &arg_refs);
    let mut out = tempfile::tempfile().map_err(|e| HarnessError::io("create temp file", e))?;
    let mut err = tempfile::tempfile().map_err(|e| HarnessError::io("create temp file", e))?;
    let mut child = Command::new(program)
        .args(&arg_refs)
        .stdin(Stdio::null())
        .stdout(
            out.try_clone()
                .map_err(|e| HarnessError::io("dup temp file", e))?,
        )
        .stderr(
            err.try_clone()
                .map_err(|e| HarnessError::io("dup temp file", e))?,
        )
        .spawn()
        .map_err(|e| HarnessError::io(format!("spawn `{line}`"), e))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(HarnessError::Timeout {
                    what: format!("`{line}` to finish"),
                    timeout,
                    last: "still running; killed".into(),
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(HarnessError::io(format!("wait for `{line}`"), e)),
        }
    };
    Ok(CmdOutput {
        status,
        stdout: read_all(&mut out),
        stderr: read_all(&mut err),
    })
}

/// Like [`run`] with [`ADMIN_TIMEOUT`], but a non-zero exit is an error carrying stderr.
pub(crate) fn run_ok<S: AsRef<OsStr>>(program: &str, args: &[S]) -> Result<CmdOutput> {
    let out = run(program, args, ADMIN_TIMEOUT)?;
    if out.success() {
        Ok(out)
    } else {
        let arg_refs: Vec<&OsStr> = args.iter().map(|a| a.as_ref()).collect();
        Err(HarnessError::CommandFailed {
            command: describe(OsStr::new(program), &arg_refs),
            status: out.status.to_string(),
            stderr: out.stderr.trim().to_string(),
        })
    }
}

fn read_all(f: &mut File) -> String {
    use std::io::Seek;
    let mut buf = Vec::new();
    let _ = f.rewind();
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// Sends `signal` (e.g. `"TERM"`, `"KILL"`) to the given pids with the `kill` command.
/// Errors (typically: the process is already gone) are ignored.
pub(crate) fn signal(pids: &[u32], signal: &str) {
    if pids.is_empty() {
        return;
    }
    let mut args = vec![format!("-{signal}"), "--".to_string()];
    args.extend(pids.iter().map(u32::to_string));
    let _ = run("kill", &args, ADMIN_TIMEOUT);
}

/// Whether `pid` names a live (running or sleeping, not zombie) process.
///
/// A zombie has exited: it only waits for its parent to collect the status. Orphans on this
/// machine may stay zombies for ever (pid 1 does not always reap), so "gone" means "absent or
/// zombie".
pub fn pid_alive(pid: u32) -> bool {
    let stat = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s,
        Err(_) => return false,
    };
    // Format: "pid (comm) S ...": the state follows the last ')'.
    match stat.rfind(')') {
        Some(i) => {
            let state = stat[i + 1..].trim_start().chars().next();
            !matches!(state, Some('Z') | Some('X') | None)
        }
        None => Path::new(&format!("/proc/{pid}")).exists(),
    }
}
