//! `kubectl edit`: scaffolding until the verb is implemented.

use crate::cli::GlobalFlags;
use crate::error::CliError;

/// Arguments of `kubectl edit`.
#[derive(Debug, clap::Args)]
pub struct EditArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

pub async fn run(_flags: &GlobalFlags, _args: EditArgs) -> Result<(), CliError> {
    Err(CliError::usage("kubectl edit is not built yet in tinykube"))
}
