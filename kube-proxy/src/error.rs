//! The one error type of kube-proxy.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Errors of kube-proxy; each says what it was doing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading kubeconfig {path}: {source}")]
    Kubeconfig {
        path: PathBuf,
        source: kube::config::KubeconfigError,
    },
    #[error("no --kubeconfig given and none found (KUBECONFIG, ~/.kube/config, in-cluster): {0}")]
    InferConfig(#[from] kube::config::InferConfigError),
    #[error("building the API client: {0}")]
    Client(#[source] kube::Error),
    #[error("serving {what} on {addr}: {source}")]
    Serve {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("running `{command}`: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("`{command}` failed: {stderr}")]
    Command { command: String, stderr: String },
    #[error("iptables-restore failed: {stderr}")]
    Restore { stderr: String },
    #[error("invalid duration {text:?}: {reason}")]
    Duration { text: String, reason: String },
}
