//! The one error type of kube-proxy.

use std::net::SocketAddr;

/// Errors of kube-proxy; each says what it was doing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Client(#[from] tinykube_component_base::ClientError),
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
}
