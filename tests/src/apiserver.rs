//! A control plane for API tests: a throw-away etcd plus our `kube-apiserver` on a free loopback
//! port, a kubeconfig pointing at it (plain HTTP, no auth), the real `kubectl` and a tiny raw
//! HTTP client for requests kubectl does not make (stale PUTs, malformed bodies, bindings).
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let cp = tinykube_tests::ControlPlane::start().await?;
//! let out = cp.kubectl(&["get", "pods"]).await?;
//! assert!(out.success(), "{}", out.stderr);
//! let resp = cp.request("GET", "/api/v1/namespaces", &[], b"").await?;
//! assert_eq!(resp.status, 200);
//! # Ok(()) }
//! ```
//!
//! Everything is dropped in order: the apiserver is stopped before etcd, and the temporary
//! directory (kubeconfig, manifests, kubectl's cache) is removed last.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::cmd::{self, CmdOutput};
use crate::error::{HarnessError, Result};
use crate::etcd::Etcd;
use crate::process::{http_get, HttpResponse, Launch, Process};

/// The real kubectl, always by full path.
pub const KUBECTL: &str = "/usr/bin/kubectl";

/// How long the apiserver may take to answer `/healthz` after start.
pub const APISERVER_START_TIMEOUT: Duration = Duration::from_secs(40);

/// How long one kubectl invocation may take before it is killed.
pub const KUBECTL_TIMEOUT: Duration = Duration::from_secs(90);

/// How long one raw HTTP exchange may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Start attempts on fresh ports when the apiserver exits early (port taken meanwhile).
const START_ATTEMPTS: usize = 5;

/// etcd + kube-apiserver + kubeconfig. Stopped and removed on drop.
#[derive(Debug)]
pub struct ControlPlane {
    // Field order is drop order: the apiserver goes before etcd, the directory last.
    apiserver: Process,
    etcd: Etcd,
    port: u16,
    dir: tempfile::TempDir,
    /// Flags the apiserver was started with beyond the harness's own.
    extra: Vec<String>,
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bound, then released).
pub fn free_port() -> Result<u16> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| HarnessError::io("bind 127.0.0.1:0", e))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| HarnessError::io("local_addr", e))
}

/// Starts kube-apiserver against `etcd_url` on `preferred` port for the first attempt (a
/// restart keeps its clients' address), else on a free port; returns once `/healthz` is 200.
async fn spawn_apiserver(
    etcd_url: &str,
    extra_args: &[String],
    preferred: Option<u16>,
) -> Result<(Process, u16)> {
    let mut last_error = None;
    for attempt in 0..START_ATTEMPTS {
        let port = match preferred {
            Some(port) if attempt == 0 => port,
            _ => free_port()?,
        };
        let mut process = Launch::binary("kube-apiserver")?
            .args(["--etcd-servers", etcd_url])
            .args(["--insecure-bind-address", "127.0.0.1"])
            .args(["--insecure-port", &port.to_string()])
            .args(["--service-cluster-ip-range", "10.96.0.0/12"])
            .args(["--service-node-port-range", "30000-32767"])
            .args(extra_args)
            .env("RUST_LOG", "info")
            .spawn()?;
        let url = format!("http://127.0.0.1:{port}/healthz");
        let deadline = Instant::now() + APISERVER_START_TIMEOUT;
        let mut last: String;
        let outcome = loop {
            if let Some(status) = process.try_status()? {
                break Err(HarnessError::ExitedEarly {
                    what: format!("kube-apiserver (port {port}, etcd {etcd_url})"),
                    status: status.to_string(),
                    log: process.log_tail(),
                });
            }
            match http_get(&url, Duration::from_secs(2)).await {
                Ok(r) if r.status == 200 => break Ok(()),
                Ok(r) => last = format!("status {}: {}", r.status, r.body.trim()),
                Err(e) => last = e.to_string(),
            }
            if Instant::now() >= deadline {
                break Err(HarnessError::Timeout {
                    what: format!("kube-apiserver at {url} to be healthy"),
                    timeout: APISERVER_START_TIMEOUT,
                    last: format!("{last}; apiserver log:\n{}", process.log_tail()),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        match outcome {
            // Healthy, and it is our process that answered (not a stranger on that port).
            Ok(()) if process.is_running() => return Ok((process, port)),
            Ok(()) => {
                last_error = Some(HarnessError::ExitedEarly {
                    what: format!("kube-apiserver (port {port})"),
                    status: "exited after another process answered /healthz".into(),
                    log: process.log_tail(),
                })
            }
            Err(e @ HarnessError::ExitedEarly { .. }) => last_error = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_error.unwrap_or(HarnessError::Timeout {
        what: "kube-apiserver to start".into(),
        timeout: APISERVER_START_TIMEOUT,
        last: "no attempt made".into(),
    }))
}

impl ControlPlane {
    /// Starts a fresh etcd and an apiserver on it.
    pub async fn start() -> Result<ControlPlane> {
        let etcd = Etcd::start().await?;
        ControlPlane::start_with(etcd).await
    }

    /// Starts an apiserver on an existing etcd.
    pub async fn start_with(etcd: Etcd) -> Result<ControlPlane> {
        ControlPlane::start_with_args(etcd, &[]).await
    }

    /// Starts an apiserver with extra flags on an existing etcd.
    pub async fn start_with_args(etcd: Etcd, apiserver_args: &[&str]) -> Result<ControlPlane> {
        let extra: Vec<String> = apiserver_args.iter().map(|a| a.to_string()).collect();
        let dir = tempfile::Builder::new()
            .prefix("tinykube-cp-")
            .tempdir()
            .map_err(|e| HarnessError::io("create control plane directory", e))?;
        let (apiserver, port) = spawn_apiserver(etcd.client_url(), &extra, None).await?;
        let cp = ControlPlane {
            apiserver,
            etcd,
            port,
            dir,
            extra,
        };
        cp.write_kubeconfig()?;
        Ok(cp)
    }

    /// Stops the apiserver and starts a new one on the same etcd, on the same port when it is
    /// free again (so clients keep working, as against a restarted upstream apiserver); the
    /// kubeconfig is rewritten in case the port changed.
    pub async fn restart_apiserver(&mut self) -> Result<()> {
        self.apiserver.stop();
        let (apiserver, port) =
            spawn_apiserver(self.etcd.client_url(), &self.extra, Some(self.port)).await?;
        self.apiserver = apiserver;
        self.port = port;
        self.write_kubeconfig()
    }

    fn write_kubeconfig(&self) -> Result<()> {
        let config = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: tinykube\n  cluster:\n    server: {}\ncontexts:\n- name: tinykube\n  context:\n    cluster: tinykube\n    user: tinykube\n    namespace: default\ncurrent-context: tinykube\nusers:\n- name: tinykube\n  user: {{}}\n",
            self.url()
        );
        let path = self.kubeconfig();
        std::fs::write(&path, config)
            .map_err(|e| HarnessError::io(format!("write {}", path.display()), e))
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn etcd(&self) -> &Etcd {
        &self.etcd
    }

    /// The apiserver process (to check it still runs, read its log).
    pub fn apiserver(&mut self) -> &mut Process {
        &mut self.apiserver
    }

    /// The kubeconfig for this control plane.
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// The temporary directory of this control plane (kubeconfig, manifests).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `contents` to `name` in the control plane's directory; returns its path.
    pub fn write_file(&self, name: &str, contents: &str) -> Result<PathBuf> {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents)
            .map_err(|e| HarnessError::io(format!("write {}", path.display()), e))?;
        Ok(path)
    }

    /// The arguments every kubectl call gets: this kubeconfig and a private discovery cache.
    pub fn kubectl_base_args(&self) -> Vec<String> {
        vec![
            "--kubeconfig".into(),
            self.kubeconfig().to_string_lossy().into_owned(),
            "--cache-dir".into(),
            self.dir
                .path()
                .join("kube-cache")
                .to_string_lossy()
                .into_owned(),
        ]
    }

    /// Runs the real kubectl with `args` (bounded by [`KUBECTL_TIMEOUT`]); a non-zero exit is
    /// not an error here, look at [`CmdOutput::status`].
    pub async fn kubectl(&self, args: &[&str]) -> Result<CmdOutput> {
        let mut all = self.kubectl_base_args();
        all.extend(args.iter().map(|a| a.to_string()));
        tokio::task::spawn_blocking(move || cmd::run(KUBECTL, &all, KUBECTL_TIMEOUT))
            .await
            .map_err(|e| HarnessError::io("join kubectl task", std::io::Error::other(e)))?
    }

    /// One raw HTTP/1.1 request to the apiserver (`Connection: close`), e.g.
    /// `request("PUT", "/api/v1/namespaces/default/pods/a", &[("Content-Type", "application/json")], body)`.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<HttpResponse> {
        http_request(
            &format!("127.0.0.1:{}", self.port),
            method,
            path,
            headers,
            body,
        )
        .await
    }
}

/// A raw HTTP/1.1 exchange with `authority` (`host:port`), bounded by [`REQUEST_TIMEOUT`].
pub async fn http_request(
    authority: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<HttpResponse> {
    crate::process::http_request(authority, method, path, headers, body, REQUEST_TIMEOUT).await
}

/// Convenience for messages: a command's exit status and both outputs.
pub fn describe_output(out: &CmdOutput) -> String {
    format!(
        "exit {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        out.stdout.trim_end(),
        out.stderr.trim_end()
    )
}

// What the API tests call in every scenario: each fails the test with a message saying what
// went wrong, so a scenario reads as its steps.

/// [`ControlPlane::start`], failing the test with the harness's message if it cannot.
pub async fn start_control_plane() -> ControlPlane {
    ControlPlane::start()
        .await
        .unwrap_or_else(|e| panic!("could not start etcd + kube-apiserver: {e}"))
}

/// Runs the real kubectl and returns its output, whatever the exit status; fails the test
/// only when kubectl could not be run at all.
pub async fn run_kubectl(cp: &ControlPlane, args: &[&str]) -> CmdOutput {
    cp.kubectl(args)
        .await
        .unwrap_or_else(|e| panic!("could not run kubectl {}: {e}", args.join(" ")))
}

/// Runs kubectl, asserts it succeeded, returns stdout.
pub async fn kubectl_ok(cp: &ControlPlane, args: &[&str]) -> String {
    let out = run_kubectl(cp, args).await;
    assert!(
        out.success(),
        "`kubectl {}` should succeed:\n{}",
        args.join(" "),
        describe_output(&out)
    );
    out.stdout
}

/// Runs kubectl, asserts it failed, returns stderr.
pub async fn kubectl_fails(cp: &ControlPlane, args: &[&str]) -> String {
    let out = run_kubectl(cp, args).await;
    assert!(
        !out.success(),
        "`kubectl {}` should fail:\n{}",
        args.join(" "),
        describe_output(&out)
    );
    out.stderr
}
