//! The kubelet's error type.

/// Everything that can go wrong in the kubelet, with the object or path it concerns.
#[derive(Debug, thiserror::Error)]
pub enum KubeletError {
    #[error("apiserver: {0}")]
    Kube(#[from] kube::Error),
    #[error("container runtime {endpoint}: {source}")]
    Connect {
        endpoint: String,
        source: tonic::transport::Error,
    },
    #[error("container runtime: {0}")]
    Cri(#[from] tonic::Status),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("pod {pod}: {message}")]
    Pod { pod: String, message: String },
    #[error(transparent)]
    Client(#[from] tinykube_component_base::ClientError),
    #[error("serve on {addr}: {source}")]
    Serve {
        addr: String,
        source: std::io::Error,
    },
}

impl KubeletError {
    pub(crate) fn io(path: impl std::fmt::Display, source: std::io::Error) -> Self {
        KubeletError::Io {
            path: path.to_string(),
            source,
        }
    }
    pub(crate) fn pod(pod: impl std::fmt::Display, message: impl Into<String>) -> Self {
        KubeletError::Pod {
            pod: pod.to_string(),
            message: message.into(),
        }
    }
}

pub type Result<T, E = KubeletError> = std::result::Result<T, E>;
