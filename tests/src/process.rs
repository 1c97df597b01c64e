//! Launching processes for a test: our component binaries or any program, optionally inside a
//! node's network namespace, with stdout and stderr captured to a log file.
//!
//! ```no_run
//! # async fn demo() -> tinykube_tests::Result<()> {
//! use std::time::Duration;
//! use tinykube_tests::{wait_for_healthz, Launch};
//!
//! let apiserver = Launch::binary("kube-apiserver")?
//!     .args(["--etcd-servers", "http://127.0.0.1:2379"])
//!     .env("RUST_LOG", "debug")
//!     .spawn()?;
//! wait_for_healthz("http://127.0.0.1:6443/healthz", Duration::from_secs(20)).await?;
//! println!("{}", apiserver.log());
//! # Ok(()) }
//! ```
//!
//! A [`Process`] is stopped when dropped: SIGTERM, a bounded wait, then SIGKILL, and the exit
//! status is collected so no zombie is left. If the test is panicking at that moment the
//! captured log is printed to stderr, so a failing test shows what the component said. Should
//! the test process die without unwinding (SIGKILL, abort), its launched processes get SIGKILL
//! from the kernel too (`setpriv --pdeathsig KILL`).
//!
//! Our binaries are found in `TINYKUBE_BIN_DIR` if set, else next to the test executable
//! (`<target>/debug/deps/<test>` -> `<target>/debug/<binary>`). They are not built by
//! `cargo test -p tinykube-tests`; run `cargo build --workspace --bins` first.
//!
//! [`wait_for_healthz`] and [`http_get`] are a tiny HTTP/1.1 client (plain `http://` on
//! loopback or a namespace address, `Connection: close`) used to wait for components to come up.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::cmd;
use crate::error::{HarnessError, Result};

/// How long [`Process`] waits after SIGTERM before sending SIGKILL, unless changed with
/// [`Launch::stop_timeout`].
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// At most this much of a log is printed on panic or put into an error message.
const LOG_TAIL_BYTES: u64 = 64 * 1024;

/// The directory holding our built binaries: `TINYKUBE_BIN_DIR` if set, else the directory of
/// the running test executable, with a trailing `deps/` removed.
pub fn bin_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("TINYKUBE_BIN_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let exe = std::env::current_exe()
        .map_err(|e| HarnessError::io("find the current test executable", e))?;
    let mut dir = exe
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    if dir.file_name() == Some(OsStr::new("deps")) {
        dir.pop();
    }
    Ok(dir)
}

/// Full path of one of our binaries (`kube-apiserver`, `kubelet`, `tinykube-runtime`, ...);
/// an error saying how to build it if it is missing.
pub fn binary_path(name: &str) -> Result<PathBuf> {
    let path = bin_dir()?.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(HarnessError::BinaryMissing {
            name: name.to_string(),
            path,
        })
    }
}

/// A process to be started: program, arguments, environment, and optionally a network
/// namespace. Build it, then [`Launch::spawn`].
#[derive(Debug, Clone)]
pub struct Launch {
    program: PathBuf,
    label: String,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    env_remove: Vec<OsString>,
    netns: Option<String>,
    current_dir: Option<PathBuf>,
    stop_timeout: Duration,
}

impl Launch {
    /// One of our binaries, located with [`binary_path`].
    pub fn binary(name: &str) -> Result<Self> {
        let path = binary_path(name)?;
        let mut launch = Launch::program(path);
        launch.label = name.to_string();
        Ok(launch)
    }

    /// Any program, by path (or by bare name, looked up on `PATH`).
    pub fn program(path: impl Into<PathBuf>) -> Self {
        let program: PathBuf = path.into();
        let label = program
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| program.to_string_lossy().into_owned());
        Launch {
            program,
            label,
            args: Vec::new(),
            env: Vec::new(),
            env_remove: Vec::new(),
            netns: None,
            current_dir: None,
            stop_timeout: DEFAULT_STOP_TIMEOUT,
        }
    }

    /// Name used in messages and log headers (defaults to the program's file name).
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
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

    /// Sets an environment variable for the process (the rest of the environment is inherited).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key.as_ref().to_os_string(), value.as_ref().to_os_string()));
        self
    }

    /// Removes an inherited environment variable.
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.env_remove.push(key.as_ref().to_os_string());
        self
    }

    /// Runs the process inside the named network namespace (`ip netns exec NS PROGRAM ...`),
    /// typically [`crate::Node::name`].
    pub fn netns(mut self, name: impl Into<String>) -> Self {
        self.netns = Some(name.into());
        self
    }

    /// Working directory of the process.
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.current_dir = Some(dir.into());
        self
    }

    /// How long to wait after SIGTERM before SIGKILL when the process is stopped.
    pub fn stop_timeout(mut self, timeout: Duration) -> Self {
        self.stop_timeout = timeout;
        self
    }

    /// Starts the process with stdout and stderr both appended to one log file in a fresh
    /// temporary directory, stdin closed.
    pub fn spawn(self) -> Result<Process> {
        let log_dir = tempfile::Builder::new()
            .prefix("tinykube-log-")
            .tempdir()
            .map_err(|e| HarnessError::io("create log directory", e))?;
        let log_path = log_dir
            .path()
            .join(format!("{}.log", sanitize(&self.label)));
        let log = File::create(&log_path)
            .map_err(|e| HarnessError::io(format!("create {}", log_path.display()), e))?;
        let log_err = log
            .try_clone()
            .map_err(|e| HarnessError::io("dup log file", e))?;

        // `setpriv --pdeathsig KILL` (util-linux) makes the process die with the test process
        // even when the test is killed without unwinding; then `ip netns exec` if asked. Both
        // exec the next program, so the pid is the program's own.
        let mut argv: Vec<OsString> = Vec::new();
        if let Some(setpriv) = setpriv() {
            argv.push(setpriv.into());
            argv.extend(["--pdeathsig", "KILL", "--"].map(OsString::from));
        }
        if let Some(ns) = &self.netns {
            argv.extend(["ip", "netns", "exec", ns.as_str()].map(OsString::from));
        }
        argv.push(self.program.clone().into());
        let mut command = Command::new(&argv[0]);
        command.args(&argv[1..]);
        command
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        for key in &self.env_remove {
            command.env_remove(key);
        }
        for (k, v) in &self.env {
            command.env(k, v);
        }
        if let Some(dir) = &self.current_dir {
            command.current_dir(dir);
        }
        let child = spawn_from_keeper(command).map_err(|e| {
            HarnessError::io(
                format!("start {} ({})", self.label, self.program.display()),
                e,
            )
        })?;
        if let Some(setpriv) = setpriv() {
            wait_until_execed_past(child.id(), setpriv);
        }
        Ok(Process {
            label: self.label,
            pid: child.id(),
            child,
            exit: None,
            log_path,
            stop_timeout: self.stop_timeout,
            _log_dir: log_dir,
        })
    }
}

/// Waits (at most 5 s) until `pid` no longer runs `setpriv`: until then its parent-death signal
/// may not be armed yet, and a test process dying in that window would leave it running.
fn wait_until_execed_past(pid: u32, setpriv: &Path) {
    let exe = PathBuf::from(format!("/proc/{pid}/exe"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        match std::fs::read_link(&exe) {
            Ok(current) if current != setpriv => return,
            Err(_) => return,
            Ok(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}

/// Path of `setpriv`, if installed (it is part of util-linux, essential on Debian).
fn setpriv() -> Option<&'static Path> {
    static SETPRIV: OnceLock<Option<PathBuf>> = OnceLock::new();
    SETPRIV
        .get_or_init(|| {
            ["/usr/bin/setpriv", "/bin/setpriv"]
                .into_iter()
                .map(PathBuf::from)
                .find(|p| p.is_file())
        })
        .as_deref()
}

type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

/// Spawns `command` from one long-lived thread.
///
/// The parent-death signal fires when the *thread* that forked the child exits, not the
/// process. Test threads and tokio's blocking threads come and go, so every launch is forked
/// by this one thread, which lives as long as the test process: children die exactly when it
/// does.
fn spawn_from_keeper(command: Command) -> std::io::Result<Child> {
    static KEEPER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let keeper = KEEPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        let started = std::thread::Builder::new()
            .name("tinykube-spawner".into())
            .spawn(move || {
                for (mut command, reply) in rx {
                    let _ = reply.send(command.spawn());
                }
            });
        if let Err(e) = started {
            eprintln!("tinykube-tests: cannot start the spawner thread: {e}");
        }
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    let sent = keeper
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send((command, reply_tx));
    if sent.is_err() {
        return Err(std::io::Error::other("the spawner thread is gone"));
    }
    reply_rx
        .recv_timeout(Duration::from_secs(30))
        .map_err(|e| std::io::Error::other(format!("no answer from the spawner thread: {e}")))?
}

fn sanitize(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A running (or finished) process started by [`Launch::spawn`]. Stopped on drop.
#[derive(Debug)]
pub struct Process {
    label: String,
    pid: u32,
    child: Child,
    exit: Option<ExitStatus>,
    log_path: PathBuf,
    stop_timeout: Duration,
    // Last field: dropped after the process is stopped, removing the log.
    _log_dir: tempfile::TempDir,
}

impl Process {
    /// The process id. With [`Launch::netns`] this is the program itself (`ip netns exec`
    /// replaces itself with the program).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The label given at launch (the binary name by default).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Path of the captured stdout+stderr log; it is removed when the `Process` is dropped.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Everything the process has written so far (stdout and stderr interleaved).
    pub fn log(&self) -> String {
        std::fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The last 64 KiB of the log, for messages.
    pub fn log_tail(&self) -> String {
        read_tail(&self.log_path, LOG_TAIL_BYTES)
    }

    /// The exit status if the process has exited (collecting it), `None` while it runs.
    pub fn try_status(&mut self) -> Result<Option<ExitStatus>> {
        if let Some(status) = self.exit {
            return Ok(Some(status));
        }
        match self.child.try_wait() {
            Ok(status) => {
                self.exit = status;
                Ok(status)
            }
            Err(e) => Err(HarnessError::io(format!("wait for {}", self.label), e)),
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.try_status(), Ok(None))
    }

    /// Waits (asynchronously, bounded) for the process to exit by itself.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_status()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::Timeout {
                    what: format!("{} (pid {}) to exit", self.label, self.pid),
                    timeout,
                    last: "still running".into(),
                });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Sends a signal (`"TERM"`, `"HUP"`, `"KILL"`, ...) unless the process has already exited
    /// and been collected (so a reused pid is never hit).
    pub fn signal(&mut self, signal: &str) {
        if matches!(self.try_status(), Ok(None)) {
            cmd::signal(&[self.pid], signal);
        }
    }

    /// Stops the process: SIGTERM, wait up to the stop timeout, then SIGKILL and wait again
    /// (bounded). Returns the exit status if it was collected. Blocking; idempotent.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        if let Ok(Some(status)) = self.try_status() {
            return Some(status);
        }
        cmd::signal(&[self.pid], "TERM");
        if let Some(status) = self.poll_exit(self.stop_timeout) {
            return Some(status);
        }
        let _ = self.child.kill();
        let status = self.poll_exit(Duration::from_secs(10));
        if status.is_none() {
            eprintln!(
                "tinykube-tests: {} (pid {}) survived SIGKILL for 10s; leaving it",
                self.label, self.pid
            );
        }
        status
    }

    fn poll_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.try_status() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => return None,
            }
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!(
                "----- log of {} (pid {}, {}) -----\n{}\n----- end of log of {} -----",
                self.label,
                self.pid,
                self.log_path.display(),
                self.log_tail(),
                self.label
            );
        }
    }
}

/// The last `max` bytes of a file, lossily decoded; empty if unreadable.
pub(crate) fn read_tail(path: &Path, max: u64) -> String {
    let Ok(mut f) = File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut prefix = String::new();
    if len > max {
        let _ = f.seek(SeekFrom::Start(len - max));
        prefix = format!("[... {} bytes cut ...]\n", len - max);
    }
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    prefix + &String::from_utf8_lossy(&buf)
}

/// A parsed HTTP response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code, e.g. 200.
    pub status: u16,
    /// Header lines as (name, value), names as sent.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked if needed), lossily decoded.
    pub body: String,
}

impl HttpResponse {
    /// First header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Splits `http://host:port/path?query` into (`host:port`, `/path?query`).
fn split_url(url: &str) -> Result<(String, String)> {
    let bad = |reason: &str| HarnessError::BadUrl {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| bad("only http:// is supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(bad("no host"));
    }
    let has_port = match authority.strip_prefix('[') {
        Some(v6) => v6.contains("]:"),
        None => authority.contains(':'),
    };
    let authority = if has_port {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok((authority, path.to_string()))
}

/// One plain-HTTP GET (`Connection: close`), bounded by `timeout` as a whole.
pub async fn http_get(url: &str, timeout: Duration) -> Result<HttpResponse> {
    let (authority, path) = split_url(url)?;
    http_request(&authority, "GET", &path, &[("Accept", "*/*")], b"", timeout).await
}

/// A raw HTTP/1.1 exchange with `authority` (`host:port`), bounded by `timeout`.
///
/// The body is written by a separate task while the response is read, so a server that answers
/// (413) and closes before reading a huge body is still heard.
pub async fn http_request(
    authority: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Result<HttpResponse> {
    let what = format!("{method} http://{authority}{path}");
    let exchange = async {
        let stream = TcpStream::connect(authority)
            .await
            .map_err(|e| HarnessError::io(format!("connect to {authority}"), e))?;
        let (mut reader, mut writer) = stream.into_split();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: tinykube-tests\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        let has_accept = headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("accept"));
        if !has_accept {
            head.push_str("Accept: application/json\r\n");
        }
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let mut payload = head.into_bytes();
        payload.extend_from_slice(body);
        let writing = tokio::spawn(async move {
            let result = writer.write_all(&payload).await;
            // Keep the write half open until the reader is done (dropping it would send FIN,
            // which is fine for HTTP/1.1 with Connection: close, but be explicit).
            let _ = writer.flush().await;
            (result, writer)
        });
        let mut raw = Vec::new();
        let read = reader.read_to_end(&mut raw).await;
        let written = writing.await;
        if raw.is_empty() {
            let why = match (read, written) {
                (Err(e), _) => e.to_string(),
                (_, Ok((Err(e), _))) => format!("write failed: {e}"),
                _ => "connection closed without a response".to_string(),
            };
            return Err(HarnessError::BadResponse {
                url: what.clone(),
                reason: why,
            });
        }
        parse_response(&what, &raw)
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(result) => result,
        Err(_) => Err(HarnessError::Timeout {
            what,
            timeout,
            last: "no complete response".into(),
        }),
    }
}

fn parse_response(url: &str, raw: &[u8]) -> Result<HttpResponse> {
    let bad = |reason: String| HarnessError::BadResponse {
        url: url.to_string(),
        reason,
    };
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad(format!("no end of headers in {} bytes", raw.len())))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let body = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(bad(format!("status line {status_line:?}")));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(format!("status line {status_line:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut response = HttpResponse {
        status,
        headers,
        body: String::new(),
    };
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let body = if chunked {
        dechunk(body).ok_or_else(|| bad("malformed chunked body".into()))?
    } else {
        body.to_vec()
    };
    response.body = String::from_utf8_lossy(&body).into_owned();
    Ok(response)
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size_text = size_text.split(';').next()?.trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        if data.len() < size {
            return None;
        }
        out.extend_from_slice(&data[..size]);
        data = data.get(size + 2..)?;
    }
}

/// Polls `url` with GET until it answers 200, for at most `timeout`. The error says what the
/// last attempt got (connection refused, status 500 with body, ...).
pub async fn wait_for_healthz(url: &str, timeout: Duration) -> Result<()> {
    // Reject malformed URLs at once rather than after the timeout.
    split_url(url)?;
    let deadline = Instant::now() + timeout;
    let mut last = String::from("no attempt made");
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(HarnessError::Timeout {
                what: format!("{url} to answer 200"),
                timeout,
                last,
            });
        }
        match http_get(url, remaining.min(Duration::from_secs(2))).await {
            Ok(resp) if resp.status == 200 => return Ok(()),
            Ok(resp) => {
                last = format!("status {}: {}", resp.status, resp.body.trim());
            }
            Err(e) => last = e.to_string(),
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        tokio::time::sleep(remaining.min(Duration::from_millis(100))).await;
    }
}

/// Polls `check` every 100 ms until it yields `Some`, for at most `timeout`; fails the test
/// naming `what` when it never does.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_parse_plain_and_chunked() {
        let r =
            parse_response("u", b"HTTP/1.1 409 Conflict\r\nContent-Length: 2\r\n\r\n{}").unwrap();
        assert_eq!((r.status, r.body.as_str()), (409, "{}"));
        let r = parse_response(
            "u",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!((r.status, r.body.as_str()), (200, "abc"));
        assert!(parse_response("u", b"nonsense").is_err());
    }

    #[test]
    fn split_url_forms() {
        assert_eq!(
            split_url("http://127.0.0.1:2379/health").unwrap(),
            ("127.0.0.1:2379".into(), "/health".into())
        );
        assert_eq!(
            split_url("http://localhost").unwrap(),
            ("localhost:80".into(), "/".into())
        );
        assert_eq!(
            split_url("http://[::1]:8080/x?y=1").unwrap(),
            ("[::1]:8080".into(), "/x?y=1".into())
        );
        assert_eq!(
            split_url("http://[::1]/").unwrap(),
            ("[::1]:80".into(), "/".into())
        );
        assert!(split_url("https://127.0.0.1/").is_err());
        assert!(split_url("http:///x").is_err());
    }

    #[test]
    fn parses_plain_and_chunked() {
        let r = parse_response("u", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").unwrap();
        assert_eq!((r.status, r.body.as_str()), (200, "ok"));
        let r = parse_response(
            "u",
            b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!((r.status, r.body.as_str()), (503, "abcde"));
        assert!(parse_response("u", b"garbage").is_err());
    }

    #[test]
    fn bin_dir_strips_deps() {
        // Unit tests run from <target>/debug/deps as well.
        if std::env::var_os("TINYKUBE_BIN_DIR").is_none() {
            let dir = bin_dir().unwrap();
            assert_ne!(dir.file_name(), Some(OsStr::new("deps")));
        }
    }

    #[test]
    fn missing_binary_says_how_to_build() {
        let err = binary_path("no-such-tinykube-binary")
            .unwrap_err()
            .to_string();
        assert!(err.contains("cargo build --workspace --bins"), "{err}");
    }
}
