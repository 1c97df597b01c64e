//! `kubectl delete`: scaffolding until the verb is implemented.

use crate::cli::GlobalFlags;
use crate::error::CliError;

/// Arguments of `kubectl delete`.
#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

pub async fn run(_flags: &GlobalFlags, _args: DeleteArgs) -> Result<(), CliError> {
    Err(CliError::usage(
        "kubectl delete is not built yet in tinykube",
    ))
}
