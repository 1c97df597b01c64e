//! The runtime's error type; every message names the object (id, reference or path).

use std::path::PathBuf;

/// Errors of the runtime library. Converted to gRPC statuses in [`crate::server`].
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("image {0:?} not found")]
    ImageNotFound(String),
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: String },
    #[error("pod sandbox {0:?} not found")]
    SandboxNotFound(String),
    #[error("container {0:?} not found")]
    ContainerNotFound(String),
    #[error("{kind} name {name:?} is already in use by {id}")]
    NameInUse {
        kind: &'static str,
        name: String,
        id: String,
    },
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("container {id} is {state}: {what}")]
    BadState {
        id: String,
        state: &'static str,
        what: &'static str,
    },
    #[error("image archive {path}: {reason}")]
    Archive { path: PathBuf, reason: String },
    #[error("registry {registry}: {reason}")]
    Registry { registry: String, reason: String },
    #[error("cni {command} for sandbox {id}: {reason}")]
    Cni {
        command: &'static str,
        id: String,
        reason: String,
    },
    #[error("cgroup {path}: {reason}")]
    Cgroup { path: PathBuf, reason: String },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    Sys {
        what: String,
        #[source]
        source: nix::Error,
    },
    #[error("{0}")]
    Failed(String),
}

/// Result alias of the runtime library.
pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// Attaches a description and path to an `io::Error`.
pub(crate) trait IoContext<T> {
    fn ctx(self, what: &'static str, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, what: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| RuntimeError::Io {
            what,
            path: path.into(),
            source,
        })
    }
}

/// Attaches a description to a `nix::Error`.
pub(crate) trait SysContext<T> {
    fn sys(self, what: impl Into<String>) -> Result<T>;
}

impl<T> SysContext<T> for nix::Result<T> {
    fn sys(self, what: impl Into<String>) -> Result<T> {
        self.map_err(|source| RuntimeError::Sys {
            what: what.into(),
            source,
        })
    }
}
