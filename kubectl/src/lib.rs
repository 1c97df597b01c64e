//! `kubectl` for tinykube.
//!
//! The command-line client: get, describe, apply, create, delete, logs, exec and rollout, with the habits, columns and exit codes of upstream kubectl.
//!
//! It reads kubeconfig from --kubeconfig, KUBECONFIG or ~/.kube/config.
//!
//! This component is not built yet: the binary says so and exits non-zero rather than pretend
//! to work. See README.md for what tinykube runs today.

/// What `kubectl --help` says the component is.
pub const ABOUT: &str = "The command-line client: get, describe, apply, create, delete, logs, exec and rollout, with the habits, columns and exit codes of upstream kubectl.";
