//! `kubectl exec`: scaffolding until the verb is implemented.

use crate::cli::GlobalFlags;
use crate::error::CliError;

/// Arguments of `kubectl exec`.
#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

pub async fn run(_flags: &GlobalFlags, _args: ExecArgs) -> Result<(), CliError> {
    Err(CliError::usage("kubectl exec is not built yet in tinykube"))
}
