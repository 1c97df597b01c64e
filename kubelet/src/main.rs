use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use tinykube_kubelet::{Config, ABOUT};

/// Command line of `kubelet`, with upstream's flag names and defaults.
#[derive(Parser)]
#[command(
    name = "kubelet",
    version,
    about = ABOUT,
    long_about = format!("{ABOUT}\n\nWith --kubeconfig it registers Node --hostname-override (InternalIP --node-ip), renews a Lease in kube-node-lease every 10 s and runs the pods whose spec.nodeName is that node; without it, only static pods from --pod-manifest-path. Containers run through the CRI runtime at --container-runtime-endpoint. /healthz, /metrics, /pods and /containerLogs are served over plain HTTP on --address:--port.")
)]
struct Cli {
    /// kubeconfig for the apiserver; without it the kubelet runs standalone (static pods only).
    #[arg(long, value_name = "PATH")]
    kubeconfig: Option<PathBuf>,
    /// Node name to use instead of the machine's hostname.
    #[arg(long, value_name = "NAME")]
    hostname_override: Option<String>,
    /// The node's InternalIP (default: the first non-loopback IPv4 address).
    #[arg(long, value_name = "IP")]
    node_ip: Option<IpAddr>,
    /// CRI endpoint of the container runtime.
    #[arg(long, default_value = "unix:///run/tinykube/runtime.sock")]
    container_runtime_endpoint: String,
    /// Directory of static pod manifests (YAML or JSON, one pod per file).
    #[arg(long, default_value = "/etc/kubernetes/manifests")]
    pod_manifest_path: PathBuf,
    /// Directory for pod volumes and kubelet state.
    #[arg(long, default_value = "/var/lib/kubelet")]
    root_dir: PathBuf,
    /// Directory of container logs (`<ns>_<pod>_<uid>/<container>/<restart>.log`).
    #[arg(long, default_value = "/var/log/pods")]
    pod_logs_dir: PathBuf,
    /// Address to serve the kubelet port on.
    #[arg(long, default_value = "0.0.0.0")]
    address: IpAddr,
    /// The kubelet port (0 picks a free port).
    #[arg(long, default_value_t = tinykube_kubelet::DEFAULT_PORT)]
    port: u16,
    /// Pod CIDR to use until (or instead of) Node.spec.podCIDR.
    #[arg(long, value_name = "CIDR")]
    pod_cidr: Option<String>,
    /// Where to write the CNI config for the node's pod CIDR (unset: leave CNI config alone).
    #[arg(long, value_name = "DIR")]
    cni_conf_dir: Option<PathBuf>,
    /// How often node status is posted.
    #[arg(long, default_value = "10s", value_parser = tinykube_component_base::parse_duration)]
    node_status_update_frequency: Duration,
    /// How often the manifest directory is rescanned in full; changes are seen at once
    /// through inotify, this is the safety net.
    #[arg(long, default_value = "20s", value_parser = tinykube_component_base::parse_duration)]
    file_check_frequency: Duration,
    /// How often each pod is resynced (besides on change).
    #[arg(long, default_value = "1s", value_parser = tinykube_component_base::parse_duration)]
    sync_frequency: Duration,
    /// Maximum pods on this node.
    #[arg(long, default_value_t = 110)]
    max_pods: i64,
    /// Hard eviction thresholds (`<signal><<quantity or percentage>`, comma-separated); a met
    /// one sets MemoryPressure, DiskPressure or PIDPressure. Signals: memory.available,
    /// nodefs.available, nodefs.inodesFree, imagefs.available, imagefs.inodesFree,
    /// pid.available. Replaces the defaults entirely, as upstream.
    #[arg(long, value_name = "THRESHOLDS", default_value = tinykube_kubelet::pressure::DEFAULT_EVICTION_HARD)]
    eviction_hard: String,
    /// How long a pressure condition stays True after its signal recovered.
    #[arg(long, default_value = "5m", value_parser = tinykube_component_base::parse_duration)]
    eviction_pressure_transition_period: Duration,
}

fn default_ip() -> String {
    // The source address of a route to a public address; no packet is sent.
    std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| {
            s.connect("192.0.2.1:9")?;
            s.local_addr()
        })
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|_| "127.0.0.1".into())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = tinykube_component_base::init_tracing() {
        eprintln!("kubelet: {e}");
    }
    let node_name = cli
        .hostname_override
        .clone()
        .unwrap_or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .unwrap_or_default()
                .trim()
                .to_string()
        })
        .to_lowercase();
    let eviction_hard = match tinykube_kubelet::pressure::parse_thresholds(&cli.eviction_hard) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("kubelet: --eviction-hard: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config = Config {
        kubeconfig: cli.kubeconfig,
        node_name,
        node_ip: cli
            .node_ip
            .map(|i| i.to_string())
            .unwrap_or_else(default_ip),
        container_runtime_endpoint: cli.container_runtime_endpoint,
        pod_manifest_path: cli.pod_manifest_path,
        root_dir: cli.root_dir,
        pod_logs_dir: cli.pod_logs_dir,
        address: cli.address,
        port: cli.port,
        pod_cidr: cli.pod_cidr,
        cni_conf_dir: cli.cni_conf_dir,
        node_status_update_frequency: cli.node_status_update_frequency,
        file_check_frequency: cli.file_check_frequency,
        sync_frequency: cli.sync_frequency,
        max_pods: cli.max_pods,
        eviction_hard,
        eviction_pressure_transition_period: cli.eviction_pressure_transition_period,
    };
    let shutdown = match tinykube_component_base::shutdown_on_signals() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("kubelet: {e}");
            return ExitCode::FAILURE;
        }
    };
    match tinykube_kubelet::run(config, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kubelet: {e}");
            ExitCode::FAILURE
        }
    }
}
