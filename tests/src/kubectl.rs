//! Running kubectl against a [`ControlPlane`]: OUR kubectl (the `kubectl` binary built from
//! `kubectl/`) and the real one ([`KUBECTL`]), both with the control plane's kubeconfig, so a
//! test can run the same command line through each and compare what they print.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use tinykube_tests::kubectl::{ours, real};
//! let cp = tinykube_tests::ControlPlane::start().await?;
//! let mine = ours(&cp)?.args(["get", "pods"]).run().await?;
//! let theirs = real(&cp).args(["get", "pods"]).run().await?;
//! assert_eq!(mine.stdout, theirs.stdout);
//! let applied = real(&cp).args(["apply", "-f", "-"]).stdin("apiVersion: v1\n...").run().await?;
//! # let _ = applied; Ok(()) }
//! ```
//!
//! Commands that do not end by themselves (`get -w`, `logs -f`) are started with
//! [`Invocation::spawn`]: the [`Running`] handle reads output as it comes and is killed on
//! drop. Every wait is bounded; output goes to temporary files, never pipes, so a chatty
//! command can never block on a full pipe.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{Seek, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::apiserver::{ControlPlane, KUBECTL, KUBECTL_TIMEOUT};
use crate::cmd::CmdOutput;
use crate::error::{HarnessError, Result};
use crate::process::binary_path;

/// One kubectl command line to run: program, arguments, environment and stdin.
#[derive(Debug, Clone)]
pub struct Invocation {
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    env_remove: Vec<OsString>,
    stdin: Vec<u8>,
    timeout: Duration,
}

/// Which kubectl a test runs: the real one ([`KUBECTL`]) or ours (built from `kubectl/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kubectl {
    Real,
    Ours,
}

impl Kubectl {
    /// Both, the real one first: what a comparing test loops over.
    pub const BOTH: [Kubectl; 2] = [Kubectl::Real, Kubectl::Ours];

    /// The program's path; for ours, an error saying how to build it when it is missing.
    pub fn program(self) -> Result<PathBuf> {
        match self {
            Kubectl::Real => Ok(PathBuf::from(KUBECTL)),
            Kubectl::Ours => binary_path("kubectl"),
        }
    }
}

/// `ok`, else an error with `what` and everything `out` printed: a test's check of a command.
pub fn check(what: &str, ok: bool, out: &CmdOutput) -> anyhow::Result<()> {
    anyhow::ensure!(ok, "{}", out.report(what));
    Ok(())
}

/// `words` as one POSIX shell command line, each word single-quoted: for command lines run
/// under `sh -c` or `script -c` (a pseudo-terminal).
pub fn shell_line(words: &[impl AsRef<OsStr>]) -> String {
    let quoted: Vec<String> = words
        .iter()
        .map(|w| format!("'{}'", w.as_ref().to_string_lossy().replace('\'', "'\\''")))
        .collect();
    quoted.join(" ")
}

/// Our kubectl with `--kubeconfig` of `cp`; an error saying how to build it when it is missing.
pub fn ours(cp: &ControlPlane) -> Result<Invocation> {
    Ok(Invocation::new(binary_path("kubectl")?)
        .arg("--kubeconfig")
        .arg(cp.kubeconfig()))
}

/// The real kubectl with `--kubeconfig` of `cp` and a private discovery cache.
pub fn real(cp: &ControlPlane) -> Invocation {
    Invocation::new(KUBECTL).args(cp.kubectl_base_args())
}

/// Runs our kubectl with `args`, and `stdin` when given (a non-zero exit is not an error).
pub async fn run_ours(cp: &ControlPlane, args: &[&str], stdin: Option<&str>) -> Result<CmdOutput> {
    ours(cp)?
        .args(args)
        .stdin(stdin.unwrap_or_default())
        .run()
        .await
}

/// Runs the real kubectl with `args`, and `stdin` when given (a non-zero exit is not an error).
pub async fn run_real(cp: &ControlPlane, args: &[&str], stdin: Option<&str>) -> Result<CmdOutput> {
    real(cp)
        .args(args)
        .stdin(stdin.unwrap_or_default())
        .run()
        .await
}

/// Runs the same command line through ours and the real one: `(ours, real)`.
pub async fn run_both(cp: &ControlPlane, args: &[&str]) -> Result<(CmdOutput, CmdOutput)> {
    let mine = run_ours(cp, args, None).await?;
    let theirs = run_real(cp, args, None).await?;
    Ok((mine, theirs))
}

impl Invocation {
    /// Any program (by path) with no arguments yet, bounded by [`KUBECTL_TIMEOUT`].
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Invocation {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            env_remove: Vec::new(),
            stdin: Vec::new(),
            timeout: KUBECTL_TIMEOUT,
        }
    }

    /// Adds one argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    /// Adds several arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    /// Sets an environment variable (the rest of the environment is inherited).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key.as_ref().to_os_string(), value.as_ref().to_os_string()));
        self
    }

    /// Removes an inherited environment variable (e.g. `KUBECONFIG`).
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.env_remove.push(key.as_ref().to_os_string());
        self
    }

    /// What the command reads on stdin (empty, i.e. immediately closed, by default).
    pub fn stdin(mut self, input: impl AsRef<[u8]>) -> Self {
        self.stdin = input.as_ref().to_vec();
        self
    }

    /// How long [`Invocation::run`] waits before killing the command.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The command line, for messages.
    pub fn describe(&self) -> String {
        let args: Vec<&OsStr> = self.args.iter().map(OsString::as_os_str).collect();
        crate::cmd::describe(self.program.as_os_str(), &args)
    }

    /// Starts the command; it runs until it exits or the [`Running`] handle stops it.
    pub fn spawn(&self) -> Result<Running> {
        let line = self.describe();
        let mut stdin =
            tempfile::tempfile().map_err(|e| HarnessError::io("create stdin file", e))?;
        stdin
            .write_all(&self.stdin)
            .and_then(|()| stdin.rewind())
            .map_err(|e| HarnessError::io("write stdin file", e))?;
        let stdout = tempfile::tempfile().map_err(|e| HarnessError::io("create temp file", e))?;
        let stderr = tempfile::tempfile().map_err(|e| HarnessError::io("create temp file", e))?;
        let dup = |f: &File| {
            f.try_clone()
                .map_err(|e| HarnessError::io("dup temp file", e))
        };
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .stdin(Stdio::from(stdin))
            .stdout(dup(&stdout)?)
            .stderr(dup(&stderr)?);
        for key in &self.env_remove {
            command.env_remove(key);
        }
        for (key, value) in &self.env {
            command.env(key, value);
        }
        let child = command
            .spawn()
            .map_err(|e| HarnessError::io(format!("spawn `{line}`"), e))?;
        Ok(Running {
            child,
            line,
            stdout,
            stderr,
        })
    }

    /// Runs the command to completion (bounded by the timeout, then killed and an error).
    pub async fn run(self) -> Result<CmdOutput> {
        let mut running = self.spawn()?;
        let timeout = self.timeout;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(output) = running.try_finish()? {
                return Ok(output);
            }
            if Instant::now() >= deadline {
                running.kill();
                return Err(HarnessError::Timeout {
                    what: format!("`{}` to finish", running.line),
                    timeout,
                    last: format!(
                        "still running; killed. stdout so far:\n{}",
                        running.stdout()
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// A started kubectl; killed (SIGKILL) and collected on drop.
#[derive(Debug)]
pub struct Running {
    child: Child,
    line: String,
    stdout: File,
    stderr: File,
}

impl Running {
    /// Everything written on stdout so far.
    pub fn stdout(&self) -> String {
        read_all(&self.stdout)
    }

    /// Everything written on stderr so far.
    pub fn stderr(&self) -> String {
        read_all(&self.stderr)
    }

    /// Waits (bounded) until stdout satisfies `done`; returns stdout at that moment.
    pub async fn wait_for_stdout(
        &mut self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&str) -> bool,
    ) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let stdout = self.stdout();
            if done(&stdout) {
                return Ok(stdout);
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(HarnessError::ExitedEarly {
                    what: format!("`{}` while waiting for {what}", self.line),
                    status: status.to_string(),
                    log: format!("stdout:\n{stdout}\nstderr:\n{}", self.stderr()),
                });
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::Timeout {
                    what: format!("`{}` to print {what}", self.line),
                    timeout,
                    last: format!("stdout:\n{stdout}\nstderr:\n{}", self.stderr()),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The output once the command has exited by itself, `None` while it runs.
    pub fn try_finish(&mut self) -> Result<Option<CmdOutput>> {
        match self.child.try_wait() {
            Ok(Some(status)) => Ok(Some(CmdOutput {
                status,
                stdout: self.stdout(),
                stderr: self.stderr(),
            })),
            Ok(None) => Ok(None),
            Err(e) => Err(HarnessError::io(format!("wait for `{}`", self.line), e)),
        }
    }

    /// Kills the command and returns what it printed.
    pub fn stop(mut self) -> CmdOutput {
        self.kill();
        // `wait` returns the status `kill` already collected.
        let status = self
            .child
            .wait()
            .unwrap_or_else(|_| std::os::unix::process::ExitStatusExt::from_raw(9));
        CmdOutput {
            status,
            stdout: self.stdout(),
            stderr: self.stderr(),
        }
    }

    fn kill(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads the whole file with positioned reads: the command shares the file's offset, so seeking
/// it while the command runs would make it overwrite what it already wrote.
fn read_all(file: &File) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        match file.read_at(&mut chunk, buf.len() as u64) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_lines_quote_every_word() {
        let cases: [(&[&str], &str); 3] = [
            (&["kubectl", "get", "pods"], "'kubectl' 'get' 'pods'"),
            (
                &["sh", "-c", "echo $HOME; exit 3"],
                "'sh' '-c' 'echo $HOME; exit 3'",
            ),
            (&["it's"], "'it'\\''s'"),
        ];
        for (words, line) in cases {
            assert_eq!(shell_line(words), line);
        }
    }
}
