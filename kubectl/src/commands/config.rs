//! `kubectl config`: scaffolding until the verb is implemented.

use crate::cli::GlobalFlags;
use crate::error::CliError;

/// Subcommands of `kubectl config`.
#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    #[command(external_subcommand)]
    Other(Vec<String>),
}

pub async fn run(_flags: &GlobalFlags, _command: ConfigCommand) -> Result<(), CliError> {
    Err(CliError::usage(
        "kubectl config is not built yet in tinykube",
    ))
}
