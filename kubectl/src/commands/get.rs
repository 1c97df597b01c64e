//! `kubectl get`: scaffolding until the verb is implemented.

use crate::cli::GlobalFlags;
use crate::error::CliError;

/// Arguments of `kubectl get`.
#[derive(Debug, clap::Args)]
pub struct GetArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

pub async fn run(_flags: &GlobalFlags, _args: GetArgs) -> Result<(), CliError> {
    Err(CliError::usage("kubectl get is not built yet in tinykube"))
}
