//! `kubectl label` and `kubectl annotate`: scaffolding until the verbs are implemented.

use crate::cli::GlobalFlags;
use crate::error::CliError;

/// Which metadata map the command edits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Labels,
    Annotations,
}

/// Arguments of `kubectl label` / `kubectl annotate`.
#[derive(Debug, clap::Args)]
pub struct LabelArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

pub async fn run(_flags: &GlobalFlags, _field: Field, _args: LabelArgs) -> Result<(), CliError> {
    Err(CliError::usage(
        "kubectl label/annotate is not built yet in tinykube",
    ))
}
