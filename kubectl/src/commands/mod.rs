//! One module per verb: its flags (a clap `Args`) and its `run`.

use crate::cli::{Command, GlobalFlags};
use crate::error::CliError;

pub mod api_resources;
pub mod apply;
pub mod attach;
pub mod cluster_info;
pub mod config;
pub mod create;
pub mod delete;
pub mod describe;
pub mod edit;
pub mod exec;
pub mod expose;
pub mod get;
pub mod label;
pub mod logs;
pub mod port_forward;
pub mod rollout;
pub mod run;
pub mod scale;
pub mod set;
pub mod version;

/// Runs one verb.
pub async fn dispatch(flags: &GlobalFlags, command: Command) -> Result<(), CliError> {
    match command {
        Command::Get(args) => get::run(flags, args).await,
        Command::Describe(args) => describe::run(flags, args).await,
        Command::Apply(args) => apply::run(flags, args).await,
        Command::Create(args) => create::run(flags, args).await,
        Command::Expose(args) => expose::run(flags, args).await,
        Command::Delete(args) => delete::run(flags, args).await,
        Command::Scale(args) => scale::run(flags, args).await,
        Command::Set(command) => set::run(flags, command).await,
        Command::Label(args) => label::run(flags, label::Field::Labels, args).await,
        Command::Annotate(args) => label::run(flags, label::Field::Annotations, args).await,
        Command::Edit(args) => edit::run(flags, args).await,
        Command::Rollout(command) => rollout::run(flags, command).await,
        Command::Logs(args) => logs::run(flags, args).await,
        Command::Exec(args) => exec::run(flags, args).await,
        Command::Attach(args) => attach::run(flags, args).await,
        Command::Run(args) => run::run(flags, args).await,
        Command::PortForward(args) => port_forward::run(flags, args).await,
        Command::ClusterInfo(args) => cluster_info::run(flags, args).await,
        Command::Version(args) => version::run(flags, args).await,
        Command::Config(command) => config::run(flags, command).await,
        Command::ApiResources(args) => api_resources::run(flags, args).await,
    }
}
