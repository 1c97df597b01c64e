//! From flags and kubeconfig to a connected kube-rs client and the namespace commands act in.
//!
//! Precedence follows upstream: `--kubeconfig`, else every file in `KUBECONFIG` merged, else
//! `~/.kube/config`; with none of them, `http://localhost:8080`. `--context`, `--cluster`,
//! `--user`, `--server` and `--namespace` override what the kubeconfig selects.

use crate::cli::GlobalFlags;
use crate::error::CliError;
use kube::config::{KubeConfigOptions, Kubeconfig};
use std::path::PathBuf;
use std::time::Duration;

/// Where kubeconfig comes from when nothing is configured, as upstream.
pub const FALLBACK_SERVER: &str = "http://localhost:8080";

/// A connection to the apiserver and the namespace commands default to.
#[derive(Clone)]
pub struct Session {
    pub client: kube::Client,
    /// `-n`, else the context's namespace, else `default`.
    pub namespace: String,
    /// Whether the namespace came from `-n` (upstream refuses some mismatches only then).
    pub namespace_from_flag: bool,
    /// The apiserver URL in use.
    pub server: String,
}

impl Session {
    /// Loads kubeconfig as the flags say and builds a client; no request is sent yet.
    pub async fn connect(flags: &GlobalFlags) -> Result<Self, CliError> {
        let mut config = match load_kubeconfig(flags)? {
            Some(kubeconfig) => {
                let options = KubeConfigOptions {
                    context: flags.context.clone(),
                    cluster: flags.cluster.clone(),
                    user: flags.user.clone(),
                };
                kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .map_err(|e| CliError::usage(e.to_string()))?
            }
            None => kube::Config::new(parse_server(FALLBACK_SERVER)?),
        };
        if let Some(server) = &flags.server {
            config.cluster_url = parse_server(server)?;
        }
        let timeout = parse_request_timeout(&flags.request_timeout)?;
        config.read_timeout = timeout;
        config.write_timeout = timeout;
        let namespace_from_flag = flags.namespace.is_some();
        let namespace = flags
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let server = config.cluster_url.to_string();
        let client = kube::Client::try_from(config).map_err(|e| CliError::usage(e.to_string()))?;
        Ok(Self {
            client,
            namespace,
            namespace_from_flag,
            server: server.trim_end_matches('/').to_owned(),
        })
    }
}

/// The kubeconfig files in effect, in precedence order: what `config` subcommands read and write.
pub fn kubeconfig_paths(flags: &GlobalFlags) -> Vec<PathBuf> {
    if let Some(path) = &flags.kubeconfig {
        return vec![path.clone()];
    }
    if let Some(list) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        return std::env::split_paths(&list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
    }
    match std::env::var_os("HOME") {
        Some(home) => vec![PathBuf::from(home).join(".kube").join("config")],
        None => Vec::new(),
    }
}

/// The merged kubeconfig, or `None` when no file exists (then the fallback server is used).
/// A file named by `--kubeconfig` must exist; missing files in `KUBECONFIG` are skipped.
pub fn load_kubeconfig(flags: &GlobalFlags) -> Result<Option<Kubeconfig>, CliError> {
    let explicit = flags.kubeconfig.is_some();
    let mut merged: Option<Kubeconfig> = None;
    for path in kubeconfig_paths(flags) {
        if !path.exists() {
            if explicit {
                return Err(CliError::usage(format!(
                    "stat {}: no such file or directory",
                    path.display()
                )));
            }
            continue;
        }
        let next = Kubeconfig::read_from(&path)
            .map_err(|e| CliError::usage(format!("loading {}: {e}", path.display())))?;
        merged = Some(match merged {
            None => next,
            Some(current) => current
                .merge(next)
                .map_err(|e| CliError::usage(format!("merging {}: {e}", path.display())))?,
        });
    }
    Ok(merged)
}

fn parse_server(server: &str) -> Result<http::Uri, CliError> {
    let with_scheme = if server.contains("://") {
        server.to_owned()
    } else {
        format!("http://{server}")
    };
    with_scheme
        .parse()
        .map_err(|e| CliError::usage(format!("invalid server address {server:?}: {e}")))
}

/// `--request-timeout`: a bare number is seconds, else a duration with a unit; 0 disables it.
pub fn parse_request_timeout(value: &str) -> Result<Option<Duration>, CliError> {
    let invalid = || {
        CliError::usage(format!(
            "invalid timeout value. Timeout must be a single integer in seconds, or an integer followed by a corresponding time unit (e.g. 1s | 2m | 3h): {value:?}"
        ))
    };
    let (number, unit) = match value.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => value.split_at(at),
        None => (value, "s"),
    };
    let amount: u64 = number.parse().map_err(|_| invalid())?;
    let seconds = match unit {
        "s" => amount,
        "m" => amount * 60,
        "h" => amount * 3600,
        _ => return Err(invalid()),
    };
    Ok((seconds > 0).then(|| Duration::from_secs(seconds)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_timeouts_parse_like_upstream() {
        let cases = [
            ("0", Ok(None)),
            ("5", Ok(Some(5))),
            ("5s", Ok(Some(5))),
            ("2m", Ok(Some(120))),
            ("1h", Ok(Some(3600))),
            ("1d", Err(())),
            ("x", Err(())),
        ];
        for (input, want) in cases {
            let got = parse_request_timeout(input)
                .map(|d| d.map(|d| d.as_secs()))
                .map_err(|_| ());
            assert_eq!(got, want, "{input}");
        }
    }

    #[test]
    fn servers_without_scheme_get_http() {
        assert_eq!(
            parse_server("127.0.0.1:8080").unwrap().to_string(),
            "http://127.0.0.1:8080/"
        );
    }
}
