use clap::Parser;
use std::process::ExitCode;

/// Command line of `kube-controller-manager`. Arguments are accepted but unused until the component exists.
#[derive(Parser)]
#[command(name = "kube-controller-manager", version, about = tinykube_controller_manager::ABOUT)]
struct Cli {
    /// Flags of the upstream component; none is read yet.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    args: Vec<String>,
}

fn main() -> ExitCode {
    let _cli = Cli::parse();
    tinykube_component_base::not_built_yet("kube-controller-manager")
}
