//! A real, throw-away etcd for one test.
//!
//! [`Etcd::start`] runs the distro's `etcd` (3.4, Debian `etcd-server`) as a single-member
//! cluster on free loopback ports (client and peer, both on 127.0.0.1), with a fresh data
//! directory and its output captured to a log file, and returns once `/health` says
//! `{"health":"true"}`. Ports are chosen by binding port 0 and releasing it; if another process
//! grabs one in between, etcd fails to bind and the start is retried on new ports.
//!
//! Dropping the [`Etcd`] stops the process (SIGTERM, bounded wait, SIGKILL) and removes the data
//! directory. If the test is panicking, etcd's log is printed.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let etcd = tinykube_tests::Etcd::start().await?;
//! let mut client = etcd_client::Client::connect([etcd.client_url()], None).await?;
//! client.put("k", "v", None).await?;
//! # Ok(()) }
//! ```

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{HarnessError, Result};
use crate::process::{http_get, Launch, Process};

/// How long [`Etcd::start`] waits for etcd to become healthy.
pub const ETCD_START_TIMEOUT: Duration = Duration::from_secs(20);

/// How many times a start is retried on fresh ports when etcd exits early.
const START_ATTEMPTS: usize = 5;

/// A running single-member etcd on loopback. Stopped, and its data removed, on drop.
#[derive(Debug)]
pub struct Etcd {
    // Field order matters: the process is dropped (stopped) before its data directory goes.
    process: Process,
    data_dir: tempfile::TempDir,
    client_url: String,
    peer_url: String,
}

/// Finds the `etcd` executable: `TINYKUBE_ETCD_BIN`, then `PATH`, then the usual places.
pub fn etcd_binary() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("TINYKUBE_ETCD_BIN") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(HarnessError::EtcdMissing)
        };
    }
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    path_dirs
        .into_iter()
        .chain(["/usr/bin", "/usr/local/bin", "/usr/sbin"].map(PathBuf::from))
        .map(|d| d.join("etcd"))
        .find(|p| p.is_file())
        .ok_or(HarnessError::EtcdMissing)
}

/// Two distinct free TCP ports on 127.0.0.1 (bound together, then released).
fn free_ports() -> Result<(u16, u16)> {
    let bind =
        || TcpListener::bind("127.0.0.1:0").map_err(|e| HarnessError::io("bind 127.0.0.1:0", e));
    let a = bind()?;
    let b = bind()?;
    let port = |l: &TcpListener| {
        l.local_addr()
            .map(|a| a.port())
            .map_err(|e| HarnessError::io("local_addr", e))
    };
    Ok((port(&a)?, port(&b)?))
}

impl Etcd {
    /// Starts etcd and waits (at most [`ETCD_START_TIMEOUT`]) until it is healthy.
    pub async fn start() -> Result<Etcd> {
        let binary = etcd_binary()?;
        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            match Self::try_start(&binary).await {
                Ok(etcd) => return Ok(etcd),
                // Most likely a port taken between choosing and binding: try new ports.
                Err(e @ HarnessError::ExitedEarly { .. }) => last_error = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_error.unwrap_or(HarnessError::EtcdMissing))
    }

    async fn try_start(binary: &Path) -> Result<Etcd> {
        let data_dir = tempfile::Builder::new()
            .prefix("tinykube-etcd-")
            .tempdir()
            .map_err(|e| HarnessError::io("create etcd data directory", e))?;
        let (client_port, peer_port) = free_ports()?;
        let client_url = format!("http://127.0.0.1:{client_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let name = "tinykube-test";
        let mut launch = Launch::program(binary)
            .label("etcd")
            .arg("--name")
            .arg(name)
            .arg("--data-dir")
            .arg(data_dir.path())
            .args(["--listen-client-urls", &client_url])
            .args(["--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("{name}={peer_url}")])
            .args(["--initial-cluster-state", "new"])
            .args(["--logger", "zap", "--log-outputs", "stderr"]);
        // etcd reads ETCD_* variables as flags; a developer's stray ETCD_* must not leak in.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ETCD_") {
                launch = launch.env_remove(key);
            }
        }
        let mut process = launch.spawn()?;
        let health = format!("{client_url}/health");
        let deadline = Instant::now() + ETCD_START_TIMEOUT;
        let mut last: String;
        loop {
            if let Some(status) = process.try_status()? {
                return Err(HarnessError::ExitedEarly {
                    what: format!("etcd (client {client_url}, peer {peer_url})"),
                    status: status.to_string(),
                    log: process.log_tail(),
                });
            }
            match http_get(&health, Duration::from_secs(2)).await {
                Ok(r) if r.status == 200 && r.body.contains("true") => break,
                Ok(r) => last = format!("status {}: {}", r.status, r.body.trim()),
                Err(e) => last = e.to_string(),
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::Timeout {
                    what: format!("etcd at {health} to be healthy"),
                    timeout: ETCD_START_TIMEOUT,
                    last: format!("{last}; etcd log:\n{}", process.log_tail()),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Etcd {
            process,
            data_dir,
            client_url,
            peer_url,
        })
    }

    /// The client URL, e.g. `http://127.0.0.1:40123` (what `--etcd-servers` takes).
    pub fn client_url(&self) -> &str {
        &self.client_url
    }

    /// The peer URL (rarely needed).
    pub fn peer_url(&self) -> &str {
        &self.peer_url
    }

    /// Process id of etcd.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The data directory (removed on drop).
    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// etcd's captured output so far.
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// The underlying [`Process`], e.g. to send a signal.
    pub fn process(&mut self) -> &mut Process {
        &mut self.process
    }
}
