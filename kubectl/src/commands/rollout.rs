//! `kubectl rollout`: scaffolding until the verb is implemented.

use crate::cli::GlobalFlags;
use crate::error::CliError;

/// Subcommands of `kubectl rollout`.
#[derive(Debug, clap::Subcommand)]
pub enum RolloutCommand {
    #[command(external_subcommand)]
    Other(Vec<String>),
}

pub async fn run(_flags: &GlobalFlags, _command: RolloutCommand) -> Result<(), CliError> {
    Err(CliError::usage(
        "kubectl rollout is not built yet in tinykube",
    ))
}
