//! `kubectl logs`: scaffolding until the verb is implemented.

use crate::cli::GlobalFlags;
use crate::error::CliError;

/// Arguments of `kubectl logs`.
#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

pub async fn run(_flags: &GlobalFlags, _args: LogsArgs) -> Result<(), CliError> {
    Err(CliError::usage("kubectl logs is not built yet in tinykube"))
}
