use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    tinykube_kubectl::run(tinykube_kubectl::cli::parse_or_exit()).await
}
