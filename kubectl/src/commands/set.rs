//! `kubectl set`: scaffolding until the verb is implemented.

use crate::cli::GlobalFlags;
use crate::error::CliError;

/// Subcommands of `kubectl set`.
#[derive(Debug, clap::Subcommand)]
pub enum SetCommand {
    #[command(external_subcommand)]
    Other(Vec<String>),
}

pub async fn run(_flags: &GlobalFlags, _command: SetCommand) -> Result<(), CliError> {
    Err(CliError::usage("kubectl set is not built yet in tinykube"))
}
