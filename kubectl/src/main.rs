use clap::Parser;
use std::process::ExitCode;
use tinykube_kubectl::cli::Cli;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    tinykube_kubectl::run(Cli::parse()).await
}
