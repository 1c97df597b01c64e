//! `kubectl` for tinykube.
//!
//! The command-line client: get, describe, apply, create, delete, logs, exec and rollout, with the
//! habits, columns and exit codes of upstream kubectl. It reads kubeconfig from `--kubeconfig`,
//! `KUBECONFIG` or `~/.kube/config`, talks to the apiserver with kube-rs, and resolves resource
//! types (`po`, `deploy`, `deployments.apps`, `all`) through the server's discovery documents, so
//! it knows exactly the types the server serves.

pub mod cli;
pub mod commands;
pub mod error;
pub mod gojson;
pub mod manifest;
pub mod printers;
pub mod remote;
pub mod resources;
pub mod session;
pub mod targets;

pub use error::CliError;

use std::process::ExitCode;

/// What `kubectl --help` says the component is.
pub const ABOUT: &str = "kubectl controls a tinykube (or any Kubernetes) cluster: get, describe, apply, create, delete, logs, exec and rollout, with the habits, columns and exit codes of upstream kubectl.";

/// Runs one parsed command line and turns its outcome into the process exit code, printing
/// errors on stderr the way upstream kubectl does.
pub async fn run(cli: cli::Cli) -> ExitCode {
    match commands::dispatch(&cli.global, cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let message = error.to_string();
            if !message.is_empty() {
                eprintln!("{message}");
            }
            ExitCode::from(error.exit_code())
        }
    }
}
