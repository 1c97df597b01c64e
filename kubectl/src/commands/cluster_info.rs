//! `kubectl cluster-info`: scaffolding until the verb is implemented.

use crate::cli::GlobalFlags;
use crate::error::CliError;

/// Arguments of `kubectl cluster-info`.
#[derive(Debug, clap::Args)]
pub struct ClusterInfoArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

pub async fn run(_flags: &GlobalFlags, _args: ClusterInfoArgs) -> Result<(), CliError> {
    Err(CliError::usage(
        "kubectl cluster-info is not built yet in tinykube",
    ))
}
