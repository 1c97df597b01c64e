//! `kubectl describe`: scaffolding until the verb is implemented.

use crate::cli::GlobalFlags;
use crate::error::CliError;

/// Arguments of `kubectl describe`.
#[derive(Debug, clap::Args)]
pub struct DescribeArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

pub async fn run(_flags: &GlobalFlags, _args: DescribeArgs) -> Result<(), CliError> {
    Err(CliError::usage(
        "kubectl describe is not built yet in tinykube",
    ))
}
