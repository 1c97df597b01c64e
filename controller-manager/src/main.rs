use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{ArgAction, Parser};
use tinykube_component_base::parse_duration;
use tinykube_controller_manager::{Config, LeaderElection, ALL_CONTROLLERS};

/// Command line of `kube-controller-manager`, with upstream's flag names and defaults.
#[derive(Parser, Debug)]
#[command(name = "kube-controller-manager", version, about = tinykube_controller_manager::ABOUT)]
struct Cli {
    /// Path to a kubeconfig file with the apiserver's address and credentials.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,

    /// The apiserver's address; overrides the kubeconfig's server.
    #[arg(long)]
    master: Option<String>,

    /// Controllers to run: '*' for all, 'foo' to enable foo, '-foo' to disable foo.
    #[arg(long, value_delimiter = ',', default_value = "*", long_help = format!(
        "Controllers to run: '*' enables all, 'foo' enables foo, '-foo' disables foo.\nKnown controllers: {}", ALL_CONTROLLERS.join(", ")))]
    controllers: Vec<String>,

    /// Run controllers only while holding the leader Lease (for running several replicas).
    #[arg(long, action = ArgAction::Set, default_value_t = true, num_args = 0..=1, default_missing_value = "true")]
    leader_elect: bool,

    /// How long a leader's Lease lasts without renewal before another replica may take it.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    leader_elect_lease_duration: Duration,

    /// How long the leader keeps retrying to renew before it gives up leading.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    leader_elect_renew_deadline: Duration,

    /// How long to wait between attempts to acquire or renew the Lease.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    leader_elect_retry_period: Duration,

    /// Name of the leader Lease.
    #[arg(long, default_value = "kube-controller-manager")]
    leader_elect_resource_name: String,

    /// Namespace of the leader Lease.
    #[arg(long, default_value = "kube-system")]
    leader_elect_resource_namespace: String,

    /// Lock type; only 'leases' is supported (upstream's default).
    #[arg(long, default_value = "leases", value_parser = ["leases"])]
    leader_elect_resource_lock: String,

    /// How often node health is checked.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    node_monitor_period: Duration,

    /// How long a node may go without renewing its Lease before it is marked Ready=Unknown.
    #[arg(long, default_value = "40s", value_parser = parse_duration)]
    node_monitor_grace_period: Duration,

    /// How long a newly registered node may take to report Ready before it is marked Unknown.
    #[arg(long, default_value = "1m0s", value_parser = parse_duration)]
    node_startup_grace_period: Duration,

    /// Grace before pods on a failed node are evicted, for pods without their own toleration
    /// of the not-ready/unreachable taints (sets both --default-*-toleration-seconds).
    #[arg(long, value_parser = parse_duration)]
    pod_eviction_timeout: Option<Duration>,

    /// tolerationSeconds of the node.kubernetes.io/not-ready:NoExecute taint for pods that do
    /// not tolerate it themselves.
    #[arg(long, default_value_t = 300)]
    default_not_ready_toleration_seconds: i64,

    /// tolerationSeconds of the node.kubernetes.io/unreachable:NoExecute taint for pods that do
    /// not tolerate it themselves.
    #[arg(long, default_value_t = 300)]
    default_unreachable_toleration_seconds: i64,

    /// Allocate a pod CIDR to every node from --cluster-cidr.
    #[arg(long, action = ArgAction::Set, default_value_t = false, num_args = 0..=1, default_missing_value = "true")]
    allocate_node_cidrs: bool,

    /// The range pod CIDRs are allocated from.
    #[arg(long, default_value = "10.244.0.0/16")]
    cluster_cidr: String,

    /// Prefix length of each node's pod CIDR.
    #[arg(long, default_value_t = 24)]
    node_cidr_mask_size: u8,

    /// Address for /healthz and /metrics (plain HTTP).
    #[arg(long, default_value = "0.0.0.0")]
    bind_address: IpAddr,

    /// Port for /healthz and /metrics; 0 picks a free port.
    #[arg(long, default_value_t = 10257)]
    secure_port: u16,

    /// Deployments synced concurrently.
    #[arg(long, default_value_t = 5)]
    concurrent_deployment_syncs: u16,

    /// ReplicaSets synced concurrently.
    #[arg(long, default_value_t = 5)]
    concurrent_replicaset_syncs: u16,

    /// Services whose Endpoints are synced concurrently.
    #[arg(long, default_value_t = 5)]
    concurrent_endpoint_syncs: u16,

    /// Services whose EndpointSlices are synced concurrently.
    #[arg(long, default_value_t = 5)]
    concurrent_service_endpoint_syncs: u16,

    /// Garbage collector workers.
    #[arg(long, default_value_t = 20)]
    concurrent_gc_syncs: u16,

    /// Namespaces emptied concurrently.
    #[arg(long, default_value_t = 10)]
    concurrent_namespace_syncs: u16,
}

impl Cli {
    fn config(self) -> Config {
        let (not_ready, unreachable) = match self.pod_eviction_timeout {
            Some(timeout) => (timeout.as_secs() as i64, timeout.as_secs() as i64),
            None => (
                self.default_not_ready_toleration_seconds,
                self.default_unreachable_toleration_seconds,
            ),
        };
        Config {
            kubeconfig: self.kubeconfig,
            master: self.master,
            controllers: self.controllers,
            leader_election: LeaderElection {
                enabled: self.leader_elect,
                lease_duration: self.leader_elect_lease_duration,
                renew_deadline: self.leader_elect_renew_deadline,
                retry_period: self.leader_elect_retry_period,
                resource_name: self.leader_elect_resource_name,
                resource_namespace: self.leader_elect_resource_namespace,
            },
            bind_address: self.bind_address,
            secure_port: self.secure_port,
            node_monitor_period: self.node_monitor_period,
            node_monitor_grace_period: self.node_monitor_grace_period,
            node_startup_grace_period: self.node_startup_grace_period,
            default_not_ready_toleration_seconds: not_ready,
            default_unreachable_toleration_seconds: unreachable,
            allocate_node_cidrs: self.allocate_node_cidrs,
            cluster_cidr: self.cluster_cidr,
            node_cidr_mask_size: self.node_cidr_mask_size,
            concurrent_deployment_syncs: self.concurrent_deployment_syncs,
            concurrent_replicaset_syncs: self.concurrent_replicaset_syncs,
            concurrent_endpoint_syncs: self.concurrent_endpoint_syncs,
            concurrent_service_endpoint_syncs: self.concurrent_service_endpoint_syncs,
            concurrent_gc_syncs: self.concurrent_gc_syncs,
            concurrent_namespace_syncs: self.concurrent_namespace_syncs,
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let shutdown =
        tinykube_component_base::shutdown_on_signals().context("install signal handlers")?;
    tinykube_controller_manager::run(config, shutdown).await?;
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(error) = tinykube_component_base::init_tracing() {
        eprintln!("kube-controller-manager: {error}");
        return ExitCode::FAILURE;
    }
    let config = cli.config();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("kube-controller-manager: start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("kube-controller-manager: {error:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_as_upstream() {
        let cli = Cli::try_parse_from([
            "kube-controller-manager",
            "--kubeconfig",
            "/k",
            "--leader-elect=false",
            "--controllers=*,-deployment",
            "--node-monitor-grace-period=10s",
            "--pod-eviction-timeout=30s",
            "--allocate-node-cidrs",
            "--secure-port=0",
        ])
        .unwrap();
        let config = cli.config();
        assert!(!config.leader_election.enabled);
        assert_eq!(config.controllers, vec!["*", "-deployment"]);
        assert_eq!(config.node_monitor_grace_period, Duration::from_secs(10));
        assert_eq!(config.default_unreachable_toleration_seconds, 30);
        assert!(config.allocate_node_cidrs);
        assert_eq!(config.secure_port, 0);
        let defaults = Cli::try_parse_from(["kube-controller-manager"])
            .unwrap()
            .config();
        assert!(defaults.leader_election.enabled);
        assert_eq!(defaults.secure_port, 10257);
        assert_eq!(defaults.cluster_cidr, "10.244.0.0/16");
        assert_eq!(defaults.default_unreachable_toleration_seconds, 300);
        assert!(Cli::try_parse_from([
            "kube-controller-manager",
            "--leader-elect-resource-lock=endpoints"
        ])
        .is_err());
    }
}
