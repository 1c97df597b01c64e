//! `kubelet` for tinykube: the node agent (DESIGN.md §7).
//!
//! - [`node`]: registers the Node, keeps its status and a Lease in `kube-node-lease` fresh, and
//!   writes the CNI config for `Node.spec.podCIDR`.
//! - [`sources`]: pods bound to this node (apiserver watch with `spec.nodeName=<node>`) and
//!   static pods (`--pod-manifest-path`) merged into one desired set, keyed by pod UID.
//! - [`actions`]: the pure decision `compute_pod_actions(pod, observed) -> Vec<Action>`.
//! - [`worker`]: one task per pod that observes the runtime over CRI, applies the actions,
//!   runs probes, restarts with CrashLoopBackOff, terminates gracefully, and PATCHes status.
//! - [`status`], [`podspec`], [`volumes`]: pure pieces of status, CRI configs and volumes.
//! - [`pressure`]: node pressure conditions from eviction signals and thresholds.
//! - [`metrics`]: upstream's kubelet metrics (running pods and containers, pod start and
//!   sync durations) on the port's `/metrics`.
//! - [`server`]: the kubelet's HTTP port (`/healthz`, `/pods`, `/containerLogs`, `/metrics`),
//!   with [`exec`] (`/exec`) and [`portforward`] (`/portForward`), both proxied to the
//!   runtime's streaming server.
//!
//! The kubelet keeps no state of its own across restarts: it re-adopts what the runtime
//! reports (sandboxes and containers carry the pod's UID and name as labels).

pub mod actions;
pub mod error;
pub mod exec;
pub mod metrics;
pub mod node;
pub mod podspec;
pub mod portforward;
pub mod pressure;
pub mod probes;
pub mod runtime;
pub mod server;
pub mod sources;
pub mod status;
pub mod volumes;
pub mod worker;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use tokio_util::sync::CancellationToken;

pub use error::{KubeletError, Result};

/// What `kubelet --help` says the component is.
pub const ABOUT: &str = "The node agent: registers its Node, runs the pods bound to it (and static pods from --pod-manifest-path) through the container runtime over CRI, and reports their status.";

/// Upstream's default kubelet port.
pub const DEFAULT_PORT: u16 = 10250;

/// Settings of one kubelet.
#[derive(Debug, Clone)]
pub struct Config {
    /// kubeconfig for the apiserver; `None` runs standalone (static pods only).
    pub kubeconfig: Option<PathBuf>,
    pub node_name: String,
    pub node_ip: String,
    pub container_runtime_endpoint: String,
    pub pod_manifest_path: PathBuf,
    pub root_dir: PathBuf,
    pub pod_logs_dir: PathBuf,
    pub address: std::net::IpAddr,
    pub port: u16,
    pub pod_cidr: Option<String>,
    pub cni_conf_dir: Option<PathBuf>,
    pub node_status_update_frequency: Duration,
    pub file_check_frequency: Duration,
    pub sync_frequency: Duration,
    pub max_pods: i64,
    /// Hard eviction thresholds; met ones set the node's pressure conditions.
    pub eviction_hard: Vec<pressure::Threshold>,
    /// How long a pressure condition stays True after its signal recovered.
    pub eviction_pressure_transition_period: Duration,
}

/// Annotation on mirror pods (upstream's name); its value is the static pod's hash.
pub const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";
/// Annotation naming where a pod came from (`api` or `file`).
pub const SOURCE_ANNOTATION: &str = "kubernetes.io/config.source";

/// `ns/name` of a pod, the key in logs and errors.
pub fn pod_key(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or("default"),
        pod.metadata.name.as_deref().unwrap_or("")
    )
}

/// Whether a pod came from the manifest directory.
pub fn is_static(pod: &Pod) -> bool {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(SOURCE_ANNOTATION))
        .is_some_and(|s| s == "file")
}

/// The shared state of a running kubelet.
pub struct Kubelet {
    pub config: Config,
    pub node_name: String,
    pub node_ip: String,
    pub client: Option<kube::Client>,
    pub cri: runtime::Cri,
    pub shutdown: CancellationToken,
    pub registered: AtomicBool,
    /// The apiserver source listed once (or there is no apiserver).
    pub api_synced: AtomicBool,
    /// The manifest directory was read once.
    pub files_synced: AtomicBool,
    /// Desired pods by UID, from the apiserver.
    pub api_pods: Mutex<HashMap<String, Pod>>,
    /// Desired pods by UID, from the manifest directory.
    pub static_pods: Mutex<HashMap<String, Pod>>,
    /// One worker per pod UID.
    pub workers: Mutex<HashMap<String, worker::WorkerHandle>>,
    /// The last status each worker computed, for `/pods`.
    pub pod_status: Mutex<HashMap<String, Pod>>,
    /// When each pressure condition last had a threshold met.
    pub pressure: Mutex<pressure::PressureTracker>,
    pub metrics: server::KubeletMetrics,
    /// The kubelet's own series in `metrics` (running pods, start and sync durations).
    pub pod_metrics: metrics::PodMetrics,
}

impl Kubelet {
    /// The desired pod with `uid`, from either source.
    pub fn desired(&self, uid: &str) -> Option<Pod> {
        if let Some(p) = lock(&self.static_pods).get(uid) {
            return Some(p.clone());
        }
        lock(&self.api_pods).get(uid).cloned()
    }

    /// `f` of the uid and the last computed status of pod `namespace/name`, when this
    /// kubelet runs it.
    pub(crate) fn with_pod_named<T>(
        &self,
        namespace: &str,
        name: &str,
        f: impl FnOnce(&str, &Pod) -> T,
    ) -> Option<T> {
        lock(&self.pod_status)
            .iter()
            .find(|(_, p)| {
                p.metadata.namespace.as_deref() == Some(namespace)
                    && p.metadata.name.as_deref() == Some(name)
            })
            .map(|(uid, p)| f(uid, p))
    }

    /// Whether the runtime answers and has a network config.
    pub async fn runtime_ready(&self) -> std::result::Result<(), String> {
        self.cri.ready().await
    }
}

/// Locks a mutex, recovering from poisoning (a panicked holder never wedges the kubelet).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs the kubelet until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<()> {
    let client = match &config.kubeconfig {
        Some(path) => Some(tinykube_component_base::client::client(Some(path)).await?),
        None => None,
    };
    let cri = runtime::Cri::connect(&config.container_runtime_endpoint).await?;
    std::fs::create_dir_all(&config.root_dir)
        .map_err(|e| KubeletError::io(config.root_dir.display(), e))?;
    let kubelet_metrics = server::KubeletMetrics::default();
    let kubelet = Arc::new(Kubelet {
        node_name: config.node_name.clone(),
        node_ip: config.node_ip.clone(),
        client: client.clone(),
        cri,
        shutdown: shutdown.clone(),
        registered: AtomicBool::new(false),
        api_synced: AtomicBool::new(client.is_none()),
        files_synced: AtomicBool::new(false),
        api_pods: Mutex::new(HashMap::new()),
        static_pods: Mutex::new(HashMap::new()),
        workers: Mutex::new(HashMap::new()),
        pod_status: Mutex::new(HashMap::new()),
        pressure: Mutex::new(pressure::PressureTracker::default()),
        pod_metrics: metrics::PodMetrics::register(kubelet_metrics.endpoints.metrics()),
        metrics: kubelet_metrics,
        config,
    });
    if kubelet.client.is_none() {
        if let Some(cidr) = kubelet.config.pod_cidr.clone() {
            kubelet.write_cni_config(&cidr)?;
        }
    }
    let addr = SocketAddr::new(kubelet.config.address, kubelet.config.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| KubeletError::Serve {
            addr: addr.to_string(),
            source,
        })?;
    tracing::info!(node = %kubelet.node_name, %addr, "kubelet serving");
    let server = tokio::spawn(server::serve(kubelet.clone(), listener));

    if let Some(client) = client.clone() {
        tokio::spawn(kubelet.clone().run_node_loops(client.clone()));
        tokio::spawn(sources::watch_apiserver(kubelet.clone(), client.clone()));
        tokio::spawn(sources::mirror_pods(kubelet.clone(), client));
    }
    tokio::spawn(sources::watch_manifests(kubelet.clone()));
    tokio::spawn(worker::housekeeping(kubelet.clone()));

    shutdown.cancelled().await;
    // Containers keep running: a kubelet restart must not restart pods.
    server.abort();
    tracing::info!("kubelet stopped");
    Ok(())
}
