use clap::Parser;
use std::process::ExitCode;

/// Command line of `kubectl`. Arguments are accepted but unused until the component exists.
#[derive(Parser)]
#[command(
    name = "kubectl",
    version,
    about = tinykube_kubectl::ABOUT,
    after_help = "Not built yet in this version of tinykube: running it prints one line and exits 1."
)]
struct Cli {
    /// Flags of the upstream component; none is read yet.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    args: Vec<String>,
}

fn main() -> ExitCode {
    let _cli = Cli::parse();
    tinykube_component_base::not_built_yet("kubectl")
}
