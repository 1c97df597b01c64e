//! `kube-scheduler` for tinykube: watches pods that have no node yet, filters and scores the
//! nodes, and binds each pod to one through `POST pods/<name>/binding` (DESIGN.md §6).
//!
//! The decisions are pure functions with table-driven tests; the rest is a thin layer of
//! watches and writes around them:
//!
//! | module | what it holds |
//! |---|---|
//! | [`resources`] | resource arithmetic, a pod's requests (init-container and sidecar rules) |
//! | [`info`] | [`PodInfo`](info::PodInfo) / [`NodeInfo`](info::NodeInfo): objects digested for the checks |
//! | [`filter`] | the filters (unschedulable, taints, node affinity, host ports, resources) |
//! | [`score`] | the scores (least allocated, balanced, preferred affinity, PreferNoSchedule, spreading) |
//! | [`algorithm`] | one decision: round-robin filtering of a share of the nodes, scoring, random ties, [`fit_error_message`](algorithm::fit_error_message) |
//! | [`cache`] | nodes and placed pods, with *assumed* pods counted before their binding is confirmed |
//! | [`queue`] | active / backoff (1 s doubling to 10 s) / unschedulable queues |
//! | [`executor`] | bindings, the `PodScheduled` condition, Events |
//! | [`runner`] | the watches, the scheduling loop and binding tasks |
//!
//! [`run`] adds what every component has: a kube-rs client from `--kubeconfig`, `/healthz`
//! and `/metrics` on `--bind-address:--secure-port` (plain HTTP), and leader election on the
//! Lease `kube-system/kube-scheduler` (`--leader-elect`, default true) so that of several
//! replicas only one schedules. Losing the lease ends [`run`] with an error, as upstream exits.

pub mod algorithm;
pub mod cache;
pub mod executor;
pub mod filter;
pub mod info;
pub mod metrics;
pub mod queue;
pub mod resources;
pub mod runner;
pub mod score;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tinykube_component_base::leader::{
    default_identity, LeaderElectionError, LeaderElector, LeaseConfig,
};
use tinykube_component_base::{ClientError, Endpoints};
use tokio_util::sync::CancellationToken;

/// What `kube-scheduler --help` says the component is.
pub const ABOUT: &str = "The scheduler: watches pods that have no node yet, filters and scores the nodes, and binds each pod to one through pods/<name>/binding.";

/// The scheduler name pods get by default (`spec.schedulerName`).
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";
/// Upstream's port for the scheduler's `/healthz` and `/metrics`.
pub const DEFAULT_PORT: u16 = 10259;

/// Errors that stop the scheduler; each says what it was doing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("serving /healthz and /metrics on {addr}: {source}")]
    Serve {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    LeaderElection(#[from] LeaderElectionError),
}

/// The scheduler's configuration (the flags of `kube-scheduler`).
#[derive(Debug, Clone)]
pub struct Config {
    /// `--kubeconfig`; `None` infers (KUBECONFIG, ~/.kube/config, in-cluster).
    pub kubeconfig: Option<PathBuf>,
    /// Pods whose `spec.schedulerName` is this are ours (`--scheduler-name`).
    pub scheduler_name: String,
    /// `--leader-elect`.
    pub leader_elect: bool,
    /// `--leader-elect-lease-duration`, `-renew-deadline`, `-retry-period`.
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
    /// `--leader-elect-resource-name` / `-namespace`.
    pub lease_name: String,
    pub lease_namespace: String,
    /// Identity in the lease; `None` for `<hostname>_<uuid>`.
    pub identity: Option<String>,
    /// `--bind-address` and `--secure-port` of `/healthz` and `/metrics` (port 0 picks one).
    pub bind_address: IpAddr,
    pub secure_port: u16,
    /// Percentage of nodes to score; 0 = upstream's adaptive default.
    pub percentage_of_nodes_to_score: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            kubeconfig: None,
            scheduler_name: DEFAULT_SCHEDULER_NAME.to_string(),
            leader_elect: true,
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
            lease_name: "kube-scheduler".to_string(),
            lease_namespace: "kube-system".to_string(),
            identity: None,
            bind_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            secure_port: DEFAULT_PORT,
            percentage_of_nodes_to_score: 0,
        }
    }
}

/// Runs the scheduler until `shutdown` is cancelled (or, with leader election, until the
/// lease is lost, which is an error).
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), Error> {
    let client = tinykube_component_base::client::client(config.kubeconfig.as_deref()).await?;
    let endpoints = Endpoints::new();
    let metrics = metrics::Metrics::register(endpoints.metrics(), &config.scheduler_name);
    let identity = config.identity.clone().unwrap_or_else(default_identity);
    let elector = if config.leader_elect {
        let lease_config = LeaseConfig {
            namespace: config.lease_namespace.clone(),
            name: config.lease_name.clone(),
            identity: identity.clone(),
            lease_duration: config.lease_duration,
            renew_deadline: config.renew_deadline,
            retry_period: config.retry_period,
        };
        Some(LeaderElector::new(client.clone(), lease_config)?)
    } else {
        None
    };
    let synced = Arc::new(AtomicBool::new(false));
    {
        let synced = synced.clone();
        let leading = match &elector {
            Some(elector) => elector.leader_flag(),
            None => Arc::new(AtomicBool::new(true)),
        };
        endpoints.add_readiness_check("sched-handler-sync", move || {
            // A standby replica is ready: it has nothing to sync until it leads.
            if !leading.load(Ordering::SeqCst) || synced.load(Ordering::SeqCst) {
                Ok(())
            } else {
                Err("caches not synced yet".to_string())
            }
        });
    }
    let addr = SocketAddr::new(config.bind_address, config.secure_port);
    let (bound, server) = endpoints
        .serve(addr, shutdown.clone())
        .await
        .map_err(|source| Error::Serve { addr, source })?;
    tracing::info!(%bound, "serving /healthz and /metrics over plain HTTP");

    let context = runner::Context {
        client,
        scheduler_name: config.scheduler_name.clone(),
        identity,
        metrics: metrics.clone(),
        synced,
        percentage_of_nodes_to_score: config.percentage_of_nodes_to_score,
    };
    let result = match elector {
        Some(elector) => {
            let lease = format!("{}/{}", config.lease_namespace, config.lease_name);
            metrics.set_leader(&lease, false);
            let outcome = elector
                .run(shutdown.clone(), |token| async move {
                    metrics.set_leader(&lease, true);
                    runner::run_scheduler(context, token).await;
                    metrics.set_leader(&lease, false);
                })
                .await;
            outcome.map(|_| ()).map_err(Error::from)
        }
        None => {
            runner::run_scheduler(context, shutdown.clone()).await;
            Ok(())
        }
    };
    shutdown.cancel();
    match server.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(%error, "health server ended with an error"),
        Err(error) => tracing::warn!(%error, "health server task failed"),
    }
    result
}
