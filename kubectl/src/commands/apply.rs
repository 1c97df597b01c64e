//! `kubectl apply`: scaffolding until the verb is implemented.

use crate::cli::GlobalFlags;
use crate::error::CliError;

/// Arguments of `kubectl apply`.
#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

pub async fn run(_flags: &GlobalFlags, _args: ApplyArgs) -> Result<(), CliError> {
    Err(CliError::usage(
        "kubectl apply is not built yet in tinykube",
    ))
}
