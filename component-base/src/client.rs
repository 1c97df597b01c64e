//! The kube-rs client every component builds from `--kubeconfig`, or infers when it is absent.

use std::path::{Path, PathBuf};

use kube::config::{KubeConfigOptions, Kubeconfig};

/// Why no API client could be built; each names where the configuration came from.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("reading kubeconfig {path}: {source}")]
    Kubeconfig {
        path: PathBuf,
        source: kube::config::KubeconfigError,
    },
    #[error("no --kubeconfig given and none found (KUBECONFIG, ~/.kube/config, in-cluster): {0}")]
    InferConfig(#[from] kube::config::InferConfigError),
    #[error("building the API client: {0}")]
    Client(#[source] kube::Error),
}

/// The client configuration from the kubeconfig file at `path`, or inferred (KUBECONFIG,
/// `~/.kube/config`, in-cluster) when there is none; for components that adjust it (a
/// `--master` override, timeouts) before building the client.
pub async fn kube_config(path: Option<&Path>) -> Result<kube::Config, ClientError> {
    match path {
        Some(path) => {
            let error = |source| ClientError::Kubeconfig {
                path: path.to_path_buf(),
                source,
            };
            let file = Kubeconfig::read_from(path).map_err(error)?;
            kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
                .await
                .map_err(error)
        }
        None => Ok(kube::Config::infer().await?),
    }
}

/// A client from `kube_config`.
pub fn client_from(kube_config: kube::Config) -> Result<kube::Client, ClientError> {
    kube::Client::try_from(kube_config).map_err(ClientError::Client)
}

/// A client from the kubeconfig file at `path`, or inferred (see [`kube_config`]).
pub async fn client(path: Option<&Path>) -> Result<kube::Client, ClientError> {
    client_from(kube_config(path).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unreadable_kubeconfig_is_an_error_naming_it() {
        let missing = Path::new("/nonexistent/tinykube/kubeconfig");
        let Err(error) = client(Some(missing)).await else {
            panic!("a client from a missing kubeconfig");
        };
        assert!(
            matches!(&error, ClientError::Kubeconfig { path, .. } if path == missing),
            "{error}"
        );
        assert!(
            error
                .to_string()
                .starts_with("reading kubeconfig /nonexistent/tinykube/kubeconfig: "),
            "{error}"
        );
    }
}
