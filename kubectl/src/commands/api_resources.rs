//! `kubectl api-resources`: scaffolding until the verb is implemented.

use crate::cli::GlobalFlags;
use crate::error::CliError;

/// Arguments of `kubectl api-resources`.
#[derive(Debug, clap::Args)]
pub struct ApiResourcesArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

pub async fn run(_flags: &GlobalFlags, _args: ApiResourcesArgs) -> Result<(), CliError> {
    Err(CliError::usage(
        "kubectl api-resources is not built yet in tinykube",
    ))
}
