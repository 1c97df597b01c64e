use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgAction, Parser};
use tinykube_component_base::parse_duration;
use tinykube_scheduler::{Config, ABOUT};

/// Command line of `kube-scheduler`, with upstream's flag names and defaults.
#[derive(Parser)]
#[command(
    name = "kube-scheduler",
    version,
    about = ABOUT,
    long_about = format!("{ABOUT}\n\nPods whose spec.schedulerName is --scheduler-name and that have no spec.nodeName are placed on a Ready, schedulable node with room for their requests, matching their nodeSelector and required node affinity, tolerating its taints and with their host ports free; the best such node by free resources, balance, preferred affinity, PreferNoSchedule taints and spreading wins. Pods that fit nowhere get PodScheduled=False (reason Unschedulable) and a FailedScheduling event, and are retried when nodes or pods change. With --leader-elect (the default) only the holder of the Lease --leader-elect-resource-namespace/--leader-elect-resource-name schedules. /healthz and /metrics are served over plain HTTP on --bind-address:--secure-port.")
)]
struct Cli {
    /// Path to a kubeconfig file for the apiserver (default: KUBECONFIG, ~/.kube/config, or
    /// in-cluster).
    #[arg(long, value_name = "PATH")]
    kubeconfig: Option<PathBuf>,

    /// Elect a leader on a Lease before scheduling, so several replicas can run.
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    leader_elect: bool,

    /// How long a non-leader waits after the last renewal before taking over.
    #[arg(long, default_value = "15s", value_parser = parse_duration, value_name = "DURATION")]
    leader_elect_lease_duration: Duration,

    /// How long the leader keeps trying to renew before it stops leading.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    leader_elect_renew_deadline: Duration,

    /// How long candidates wait between attempts to acquire or renew.
    #[arg(long, default_value = "2s", value_parser = parse_duration, value_name = "DURATION")]
    leader_elect_retry_period: Duration,

    /// The kind of lock object; only "leases" is supported.
    #[arg(long, default_value = "leases", value_parser = ["leases"])]
    leader_elect_resource_lock: String,

    /// Name of the Lease used for leader election.
    #[arg(long, default_value = "kube-scheduler")]
    leader_elect_resource_name: String,

    /// Namespace of the Lease used for leader election.
    #[arg(long, default_value = "kube-system")]
    leader_elect_resource_namespace: String,

    /// Address to serve /healthz and /metrics on.
    #[arg(long, default_value = "0.0.0.0")]
    bind_address: IpAddr,

    /// Port to serve /healthz and /metrics on (plain HTTP here; 0 picks a free port).
    #[arg(long, default_value_t = tinykube_scheduler::DEFAULT_PORT)]
    secure_port: u16,

    /// Schedule the pods whose spec.schedulerName is this.
    #[arg(long, default_value = tinykube_scheduler::DEFAULT_SCHEDULER_NAME)]
    scheduler_name: String,

    /// Percentage of nodes to find feasible before scoring (0: upstream's adaptive default).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=100))]
    percentage_of_nodes_to_score: u32,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match start(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line: every error of the library already names its cause.
            eprintln!("kube-scheduler: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn start(cli: Cli) -> anyhow::Result<()> {
    tinykube_component_base::init_tracing()?;
    let config = Config {
        kubeconfig: cli.kubeconfig,
        scheduler_name: cli.scheduler_name,
        leader_elect: cli.leader_elect,
        lease_duration: cli.leader_elect_lease_duration,
        renew_deadline: cli.leader_elect_renew_deadline,
        retry_period: cli.leader_elect_retry_period,
        lease_name: cli.leader_elect_resource_name,
        lease_namespace: cli.leader_elect_resource_namespace,
        identity: None,
        bind_address: cli.bind_address,
        secure_port: cli.secure_port,
        percentage_of_nodes_to_score: cli.percentage_of_nodes_to_score,
    };
    let shutdown = tinykube_component_base::shutdown_on_signals()?;
    tinykube_scheduler::run(config, shutdown).await?;
    Ok(())
}
