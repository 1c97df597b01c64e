//! `kubectl version`: scaffolding until the verb is implemented.

use crate::cli::GlobalFlags;
use crate::error::CliError;

/// Arguments of `kubectl version`.
#[derive(Debug, clap::Args)]
pub struct VersionArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

pub async fn run(_flags: &GlobalFlags, _args: VersionArgs) -> Result<(), CliError> {
    Err(CliError::usage(
        "kubectl version is not built yet in tinykube",
    ))
}
