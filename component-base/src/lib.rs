//! What every tinykube binary shares, so each `main.rs` stays a few lines long:
//!
//! - [`logging`]: tracing to stderr, filtered by `RUST_LOG` (default `info`).
//! - [`shutdown`]: a token cancelled on SIGTERM or SIGINT, for graceful shutdown of every task.
//! - [`endpoints`]: `/healthz`, `/livez`, `/readyz` and `/metrics` (Prometheus text), either
//!   served on their own port or merged into a component's own router.
//! - [`leader`]: leader election on a `coordination.k8s.io/v1` Lease ([`LeaderElector`]), so
//!   two replicas of a component can run and only one works.
//! - [`not_built_yet`]: the one honest line a component that does not exist yet prints.

pub mod endpoints;
pub mod leader;
pub mod logging;
pub mod shutdown;

pub use endpoints::{Endpoints, HealthCheck, Metrics};
pub use leader::{LeaderElectionError, LeaderElector, LeaseConfig};
pub use logging::init_tracing;
pub use shutdown::{shutdown_on_signals, wait_for_signal};

use std::process::ExitCode;

/// Exit code of a component that is not built yet: a failure, so no script mistakes it for a
/// running component.
pub const NOT_BUILT_EXIT_CODE: u8 = 1;

/// Prints the one line saying `component` is not built yet and returns a failing exit code.
pub fn not_built_yet(component: &str) -> ExitCode {
    eprintln!("{}", not_built_yet_message(component));
    ExitCode::from(NOT_BUILT_EXIT_CODE)
}

fn not_built_yet_message(component: &str) -> String {
    format!(
        "{component}: not built yet in tinykube {}; nothing was started (README.md lists what runs today)",
        env!("CARGO_PKG_VERSION")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_built_yet_message_is_one_line_naming_the_component() {
        let message = not_built_yet_message("kube-proxy");
        assert!(message.starts_with("kube-proxy: not built yet"));
        assert!(!message.contains('\n'));
    }
}
