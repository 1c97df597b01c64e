//! The harness's one error type.
//!
//! Every fallible harness call returns [`HarnessError`]; its messages are meant to be read by a
//! person looking at a failed test, so they say what was attempted and what to do about it.

use std::path::PathBuf;
use std::time::Duration;

/// Result alias used throughout the harness.
pub type Result<T, E = HarnessError> = std::result::Result<T, E>;

/// What can go wrong while setting up or tearing down test infrastructure.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// The `etcd` binary is not installed.
    #[error("etcd binary not found (looked for `etcd` on PATH and in /usr/bin, /usr/local/bin; or set TINYKUBE_ETCD_BIN): run hack/install-deps.sh")]
    EtcdMissing,

    /// One of our own binaries has not been built.
    #[error("binary `{name}` not found at {}: build it first: cargo build --workspace --bins", path.display())]
    BinaryMissing {
        /// Binary name, e.g. `kube-scheduler`.
        name: String,
        /// Where it was looked for.
        path: PathBuf,
    },

    /// An I/O operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// An external command (`ip`, `kill`, ...) exited unsuccessfully.
    #[error("`{command}` failed ({status}): {stderr}")]
    CommandFailed {
        /// The command line, for the reader.
        command: String,
        /// Its exit status.
        status: String,
        /// What it printed on stderr (trimmed).
        stderr: String,
    },

    /// A bounded wait ran out.
    #[error("timed out after {timeout:?} waiting for {what}; last: {last}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// The bound that ran out.
        timeout: Duration,
        /// The last observation or failure before giving up.
        last: String,
    },

    /// A process the harness started exited before it became ready.
    #[error("{what} exited early ({status}); its log:\n{log}")]
    ExitedEarly {
        /// Which process.
        what: String,
        /// Its exit status.
        status: String,
        /// The captured log (tail).
        log: String,
    },

    /// A URL the harness cannot handle (only plain `http://host:port/path`).
    #[error("unsupported url {url:?}: {reason}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// Why it is not usable.
        reason: String,
    },

    /// An HTTP exchange produced something that is not a valid HTTP/1.x response.
    #[error("bad http response from {url}: {reason}")]
    BadResponse {
        /// The URL requested.
        url: String,
        /// What was wrong.
        reason: String,
    },

    /// A network namespace operation was refused (e.g. too many nodes).
    #[error("network {network}: {reason}")]
    Network {
        /// The network's hub namespace name.
        network: String,
        /// What went wrong.
        reason: String,
    },
}

impl HarnessError {
    /// Builds an [`HarnessError::Io`] with a context string.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        HarnessError::Io {
            context: context.into(),
            source,
        }
    }
}
