//! The command line: upstream's global flags and one subcommand per verb. Each verb's own flags
//! live beside its implementation in `commands/`.

use crate::commands;
use clap::{Args, CommandFactory, Parser, Subcommand};
use std::path::PathBuf;

/// `kubectl [global flags] <command> [flags]`.
#[derive(Debug, Parser)]
#[command(name = "kubectl", version, about = crate::ABOUT, disable_version_flag = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalFlags,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command accepts, as upstream's `kubectl options`.
#[derive(Debug, Clone, Default, Args)]
pub struct GlobalFlags {
    /// Path to the kubeconfig file to use for CLI requests.
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The name of the kubeconfig context to use.
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// The name of the kubeconfig cluster to use.
    #[arg(long, global = true)]
    pub cluster: Option<String>,
    /// The name of the kubeconfig user to use.
    #[arg(long, global = true)]
    pub user: Option<String>,
    /// If present, the namespace scope for this CLI request.
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
    /// The address and port of the Kubernetes API server.
    #[arg(short = 's', long, global = true)]
    pub server: Option<String>,
    /// The length of time to wait before giving up on a single server request (e.g. 1s, 2m);
    /// 0 means no timeout.
    #[arg(long, global = true, default_value = "0")]
    pub request_timeout: String,
    /// Log level verbosity (accepted for compatibility; tracing is controlled by RUST_LOG).
    #[arg(short = 'v', long = "v", global = true, hide = true)]
    pub verbosity: Option<u8>,
}

/// The verbs kubectl supports.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Display one or many resources.
    Get(commands::get::GetArgs),
    /// Show details of a specific resource or group of resources.
    Describe(commands::describe::DescribeArgs),
    /// Apply a configuration to a resource by file name or stdin.
    Apply(commands::apply::ApplyArgs),
    /// Create a resource from a file or from stdin, or one of the named generators.
    Create(commands::create::CreateArgs),
    /// Take a deployment, service, replica set or pod and expose it as a new Kubernetes service.
    Expose(commands::expose::ExposeArgs),
    /// Delete resources by file names, stdin, resources and names, or by resources and label selector.
    Delete(commands::delete::DeleteArgs),
    /// Set a new size for a deployment or replica set.
    Scale(commands::scale::ScaleArgs),
    /// Set specific features on objects.
    #[command(subcommand)]
    Set(commands::set::SetCommand),
    /// Update the labels on a resource.
    Label(commands::label::LabelArgs),
    /// Update the annotations on a resource.
    Annotate(commands::label::LabelArgs),
    /// Edit a resource on the server with $EDITOR.
    Edit(commands::edit::EditArgs),
    /// Manage the rollout of a resource.
    #[command(subcommand)]
    Rollout(commands::rollout::RolloutCommand),
    /// Print the logs for a container in a pod.
    Logs(commands::logs::LogsArgs),
    /// Execute a command in a container.
    Exec(commands::exec::ExecArgs),
    /// Attach to a running container.
    Attach(commands::attach::AttachArgs),
    /// Run a particular image on the cluster.
    Run(commands::run::RunArgs),
    /// Forward one or more local ports to a pod.
    PortForward(commands::port_forward::PortForwardArgs),
    /// Display addresses of the control plane.
    ClusterInfo(commands::cluster_info::ClusterInfoArgs),
    /// Print the client and server version information.
    Version(commands::version::VersionArgs),
    /// Modify kubeconfig files.
    #[command(subcommand)]
    Config(commands::config::ConfigCommand),
    /// Print the supported API resources on the server.
    ApiResources(commands::api_resources::ApiResourcesArgs),
}

/// Parses the process arguments the way upstream reports problems: `--help` and `--version`
/// print and exit 0; any other mistake prints one `error:` line plus where to get help, and
/// exits 1 (clap alone would exit 2 with a multi-line message).
pub fn parse_or_exit() -> Cli {
    let args: Vec<String> = std::env::args().collect();
    match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(error) => {
            use clap::error::{ContextKind, ContextValue, ErrorKind};
            if matches!(
                error.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                error.exit();
            }
            let invalid = match error.get(ContextKind::InvalidArg) {
                Some(ContextValue::String(arg)) => Some(arg.clone()),
                _ => None,
            };
            let message = match (error.kind(), invalid) {
                (ErrorKind::UnknownArgument, Some(arg)) if arg.starts_with("--") => {
                    format!("unknown flag: {}", arg.split('=').next().unwrap_or(&arg))
                }
                (ErrorKind::UnknownArgument, Some(arg)) => format!(
                    "unknown shorthand flag: '{}' in {arg}",
                    arg.trim_start_matches('-').chars().next().unwrap_or('?')
                ),
                _ => {
                    let rendered = error.render().to_string();
                    let first = rendered.lines().next().unwrap_or_default();
                    first.trim_start_matches("error: ").to_owned()
                }
            };
            let verb = args
                .iter()
                .skip(1)
                .find(|a| !a.starts_with('-') && Cli::command().find_subcommand(a).is_some());
            eprintln!("error: {message}");
            match verb {
                Some(verb) => eprintln!("See 'kubectl {verb} --help' for usage."),
                None => eprintln!("See 'kubectl --help' for usage."),
            }
            std::process::exit(1);
        }
    }
}
