//! `kubectl expose`: scaffolding until the verb is implemented.

use crate::cli::GlobalFlags;
use crate::error::CliError;

/// Arguments of `kubectl expose`.
#[derive(Debug, clap::Args)]
pub struct ExposeArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

pub async fn run(_flags: &GlobalFlags, _args: ExposeArgs) -> Result<(), CliError> {
    Err(CliError::usage(
        "kubectl expose is not built yet in tinykube",
    ))
}
