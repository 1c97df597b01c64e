//! `kubectl create`: scaffolding until the verb is implemented.

use crate::cli::GlobalFlags;
use crate::error::CliError;

/// Arguments of `kubectl create`.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

pub async fn run(_flags: &GlobalFlags, _args: CreateArgs) -> Result<(), CliError> {
    Err(CliError::usage(
        "kubectl create is not built yet in tinykube",
    ))
}
