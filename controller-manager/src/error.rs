//! The controller manager's error type: every message is lowercase and names the object key
//! (`namespace/name`) or the resource it is about.

/// What can go wrong while reconciling or starting up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An API call failed.
    #[error("{action} {key}: {source}")]
    Api {
        action: &'static str,
        key: String,
        #[source]
        source: kube::Error,
    },
    /// An object's label selector does not parse.
    #[error("invalid selector of {key}: {source}")]
    Selector {
        key: String,
        #[source]
        source: tinykube_apimachinery::SelectorError,
    },
    /// An object carries a value the controller cannot act on (reported, never a panic).
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
    /// A reconcile task panicked or was cancelled.
    #[error("reconcile of {key} did not finish: {message}")]
    Task { key: String, message: String },
    /// Building the client failed (kubeconfig unreadable or absent).
    #[error(transparent)]
    Client(#[from] tinykube_component_base::ClientError),
    /// A flag value is invalid.
    #[error("invalid flag {flag}: {message}")]
    Flag { flag: &'static str, message: String },
    /// Leader election failed (bad settings) or the lease was lost.
    #[error(transparent)]
    LeaderElection(#[from] tinykube_component_base::LeaderElectionError),
    /// Serving `/healthz` and `/metrics` failed.
    #[error("serve health endpoints on {addr}: {source}")]
    Serve {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// An [`Error::Api`] for `action` on `key`.
    pub fn api(action: &'static str, key: impl Into<String>, source: kube::Error) -> Error {
        Error::Api {
            action,
            key: key.into(),
            source,
        }
    }

    /// Whether this is an API error with HTTP status `code`.
    pub fn is_status(&self, code: u16) -> bool {
        matches!(self, Error::Api { source, .. } if status_code(source) == Some(code))
    }
}

/// The HTTP status of an API error response, if it was one.
pub fn status_code(error: &kube::Error) -> Option<u16> {
    match error {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

/// Whether `error` is a 404.
pub fn is_not_found(error: &kube::Error) -> bool {
    status_code(error) == Some(404)
}

/// Whether `error` is a 409 (conflict or already exists).
pub fn is_conflict(error: &kube::Error) -> bool {
    status_code(error) == Some(409)
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
