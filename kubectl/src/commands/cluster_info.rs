//! `kubectl cluster-info`: where the control plane answers, as upstream words it.

use crate::cli::GlobalFlags;
use crate::error::CliError;
use crate::session::Session;

/// Arguments of `kubectl cluster-info` (upstream's `dump` subcommand is not offered).
#[derive(Debug, clap::Args)]
pub struct ClusterInfoArgs {}

/// The lines upstream prints for a reachable control plane at `server`.
pub fn render(server: &str) -> String {
    format!(
        "Kubernetes control plane is running at {server}\n\nTo further debug and diagnose cluster problems, use 'kubectl cluster-info dump'.\n"
    )
}

pub async fn run(flags: &GlobalFlags, _args: ClusterInfoArgs) -> Result<(), CliError> {
    let session = Session::connect(flags).await?;
    // Upstream reads the core API first, so an unreachable server fails here, not silently.
    crate::commands::get::get_json(&session.client, "/api", "application/json").await?;
    print!("{}", render(&session.server));
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_the_control_plane_url() {
        assert_eq!(
            super::render("http://127.0.0.1:6443").lines().next(),
            Some("Kubernetes control plane is running at http://127.0.0.1:6443")
        );
    }
}
