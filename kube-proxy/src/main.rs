use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgAction, Parser};
use tinykube_component_base::parse_duration;
use tinykube_kube_proxy::{Config, Iptables, NodeContext, ABOUT};

/// Command line of `kube-proxy`, with upstream's flag names and defaults.
#[derive(Parser)]
#[command(
    name = "kube-proxy",
    version,
    about = ABOUT,
    long_about = format!("{ABOUT}\n\nWatches Services and EndpointSlices and programs the filter and nat tables of the network namespace it runs in with upstream's chains (KUBE-SERVICES, KUBE-SVC-*, KUBE-SEP-*, KUBE-NODEPORTS, KUBE-MARK-MASQ, KUBE-POSTROUTING), written in one iptables-restore --noflush and only when they changed. Rules of others are never touched; --cleanup removes ours and exits.")
)]
struct Cli {
    /// Path to a kubeconfig file for the apiserver (default: KUBECONFIG, ~/.kube/config, or
    /// in-cluster).
    #[arg(long, value_name = "PATH")]
    kubeconfig: Option<PathBuf>,

    /// The name of this node (default: the hostname).
    #[arg(long, value_name = "NAME")]
    hostname_override: Option<String>,

    /// The pods' CIDR; traffic to a cluster IP from outside it is masqueraded.
    #[arg(long, value_name = "CIDR")]
    cluster_cidr: Option<String>,

    /// Masquerade all traffic sent to cluster IPs.
    #[arg(long, default_value_t = false, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    masquerade_all: bool,

    /// Comma-separated CIDRs of the node addresses NodePorts answer on (default: all local).
    #[arg(long, value_delimiter = ',', value_name = "CIDRS")]
    nodeport_addresses: Vec<String>,

    /// Minimum time between syncs; changes arriving meanwhile are batched into one.
    #[arg(long, default_value = "1s", value_parser = parse_duration, value_name = "DURATION")]
    min_sync_period: Duration,

    /// Maximum time between full resyncs of the rules.
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    sync_period: Duration,

    /// Remove kube-proxy's iptables chains and jumps from this network namespace, then exit.
    #[arg(long, default_value_t = false, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    cleanup: bool,

    /// Where /healthz is served (JSON with the time of the last successful sync).
    #[arg(long, default_value = tinykube_kube_proxy::DEFAULT_HEALTHZ_BIND_ADDRESS)]
    healthz_bind_address: SocketAddr,

    /// Where /metrics is served.
    #[arg(long, default_value = tinykube_kube_proxy::DEFAULT_METRICS_BIND_ADDRESS)]
    metrics_bind_address: SocketAddr,

    /// Only "iptables" is implemented.
    #[arg(long, default_value = "iptables", value_parser = ["iptables"])]
    proxy_mode: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match start(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("kube-proxy: {error}");
            ExitCode::FAILURE
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

async fn start(cli: Cli) -> anyhow::Result<()> {
    tinykube_component_base::init_tracing()?;
    if cli.cleanup {
        Iptables::new().cleanup().await?;
        tracing::info!("removed kube-proxy's chains");
        return Ok(());
    }
    let config = Config {
        kubeconfig: cli.kubeconfig,
        node: NodeContext {
            node_name: cli
                .hostname_override
                .unwrap_or_else(hostname)
                .to_lowercase(),
            cluster_cidr: cli.cluster_cidr,
            masquerade_all: cli.masquerade_all,
            nodeport_addresses: cli.nodeport_addresses,
        },
        min_sync_period: cli.min_sync_period,
        sync_period: cli.sync_period,
        healthz_bind_address: cli.healthz_bind_address,
        metrics_bind_address: cli.metrics_bind_address,
    };
    let shutdown = tinykube_component_base::shutdown_on_signals()?;
    tinykube_kube_proxy::run(config, shutdown).await?;
    Ok(())
}
