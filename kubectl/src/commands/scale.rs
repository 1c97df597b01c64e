//! `kubectl scale`: scaffolding until the verb is implemented.

use crate::cli::GlobalFlags;
use crate::error::CliError;

/// Arguments of `kubectl scale`.
#[derive(Debug, clap::Args)]
pub struct ScaleArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

pub async fn run(_flags: &GlobalFlags, _args: ScaleArgs) -> Result<(), CliError> {
    Err(CliError::usage(
        "kubectl scale is not built yet in tinykube",
    ))
}
