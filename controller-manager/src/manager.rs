//! Wiring: the client, the shared informers, the health and metrics endpoints, leader election,
//! and which controllers run (`--controllers`).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use k8s_openapi::api::core::v1::Service;
use kube::runtime::reflector::ObjectRef;
use kube::Client;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use tinykube_component_base::leader::default_identity;
use tinykube_component_base::{Endpoints, LeaderElector, LeaseConfig};

use crate::deployment::DeploymentController;
use crate::endpoints::EndpointsController;
use crate::endpointslice::EndpointSliceController;
use crate::error::{Error, Result};
use crate::informer::{Change, Informer};
use crate::informers::Informers;
use crate::nodelifecycle::NodeLifecycleController;
use crate::replicaset::ReplicaSetController;
use crate::runner::{self, trigger, ControllerMetrics};
use crate::serviceaccount::ServiceAccountController;
use crate::{
    deployment, endpoints, endpointslice, garbagecollector, namespace, nodeipam, nodelifecycle,
    replicaset, serviceaccount,
};

/// Every controller, by its upstream name (`--controllers` also takes the short aliases).
pub const ALL_CONTROLLERS: &[&str] = &[
    "deployment-controller",
    "replicaset-controller",
    "endpoints-controller",
    "endpointslice-controller",
    "garbage-collector-controller",
    "namespace-controller",
    "node-lifecycle-controller",
    "taint-eviction-controller",
    "node-ipam-controller",
    "serviceaccount-controller",
];

/// Controllers `*` does not enable (none: node IPAM runs only with `--allocate-node-cidrs`).
pub const DISABLED_BY_DEFAULT: &[&str] = &[];

/// Upstream's older short names, still accepted by `--controllers`.
const ALIASES: &[(&str, &str)] = &[
    ("deployment", "deployment-controller"),
    ("replicaset", "replicaset-controller"),
    ("endpoint", "endpoints-controller"),
    ("endpoints", "endpoints-controller"),
    ("endpointslice", "endpointslice-controller"),
    ("garbagecollector", "garbage-collector-controller"),
    ("namespace", "namespace-controller"),
    ("nodelifecycle", "node-lifecycle-controller"),
    ("nodeipam", "node-ipam-controller"),
    ("serviceaccount", "serviceaccount-controller"),
];

fn canonical(name: &str) -> &str {
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == name)
        .map(|(_, full)| *full)
        .unwrap_or(name)
}

/// Upstream's `--controllers` semantics: `*` enables every default controller, `foo` enables
/// foo, `-foo` disables foo; the last mention wins over `*`.
pub fn controller_enabled(flags: &[String], name: &str) -> bool {
    let mut star = false;
    for flag in flags {
        let flag = flag.trim();
        if let Some(disabled) = flag.strip_prefix('-') {
            if canonical(disabled) == name {
                return false;
            }
        } else if canonical(flag) == name {
            return true;
        } else if flag == "*" {
            star = true;
        }
    }
    star && !DISABLED_BY_DEFAULT.contains(&name)
}

/// Checks `--controllers` names against [`ALL_CONTROLLERS`].
pub fn validate_controllers(flags: &[String]) -> Result<()> {
    for flag in flags {
        let name = flag.trim().trim_start_matches('-');
        if name == "*" || name.is_empty() {
            continue;
        }
        if !ALL_CONTROLLERS.contains(&canonical(name)) {
            return Err(Error::Flag {
                flag: "--controllers",
                message: format!(
                    "{name:?} is not in the list of known controllers ({})",
                    ALL_CONTROLLERS.join(", ")
                ),
            });
        }
    }
    Ok(())
}

/// Leader election settings (upstream `--leader-elect*`).
#[derive(Debug, Clone)]
pub struct LeaderElection {
    pub enabled: bool,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
    pub resource_name: String,
    pub resource_namespace: String,
}

impl Default for LeaderElection {
    fn default() -> Self {
        LeaderElection {
            enabled: true,
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
            resource_name: "kube-controller-manager".into(),
            resource_namespace: "kube-system".into(),
        }
    }
}

/// Everything `kube-controller-manager` is configured with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Kubeconfig file; in-cluster or `~/.kube/config` when absent.
    pub kubeconfig: Option<PathBuf>,
    /// Overrides the kubeconfig's server URL.
    pub master: Option<String>,
    /// `--controllers`.
    pub controllers: Vec<String>,
    pub leader_election: LeaderElection,
    /// Where `/healthz` and `/metrics` are served (plain HTTP).
    pub bind_address: IpAddr,
    pub secure_port: u16,
    pub node_monitor_period: Duration,
    pub node_monitor_grace_period: Duration,
    pub node_startup_grace_period: Duration,
    /// tolerationSeconds for pods without a toleration of the not-ready/unreachable taints.
    pub default_not_ready_toleration_seconds: i64,
    pub default_unreachable_toleration_seconds: i64,
    pub allocate_node_cidrs: bool,
    pub cluster_cidr: String,
    pub node_cidr_mask_size: u8,
    pub concurrent_deployment_syncs: u16,
    pub concurrent_replicaset_syncs: u16,
    pub concurrent_endpoint_syncs: u16,
    pub concurrent_service_endpoint_syncs: u16,
    pub concurrent_gc_syncs: u16,
    pub concurrent_namespace_syncs: u16,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            kubeconfig: None,
            master: None,
            controllers: vec!["*".into()],
            leader_election: LeaderElection::default(),
            bind_address: IpAddr::from([0, 0, 0, 0]),
            secure_port: 10257,
            node_monitor_period: Duration::from_secs(5),
            node_monitor_grace_period: Duration::from_secs(40),
            node_startup_grace_period: Duration::from_secs(60),
            default_not_ready_toleration_seconds: 300,
            default_unreachable_toleration_seconds: 300,
            allocate_node_cidrs: false,
            cluster_cidr: "10.244.0.0/16".into(),
            node_cidr_mask_size: 24,
            concurrent_deployment_syncs: 5,
            concurrent_replicaset_syncs: 5,
            concurrent_endpoint_syncs: 5,
            concurrent_service_endpoint_syncs: 5,
            concurrent_gc_syncs: 20,
            concurrent_namespace_syncs: 10,
        }
    }
}

/// Builds the API client from `--kubeconfig` / `--master`.
pub async fn client(config: &Config) -> Result<Client> {
    let mut kube_config =
        tinykube_component_base::client::kube_config(config.kubeconfig.as_deref()).await?;
    if let Some(master) = &config.master {
        kube_config.cluster_url = master.parse().map_err(|e| Error::Flag {
            flag: "--master",
            message: format!("{master:?}: {e}"),
        })?;
    }
    // kube-rs's read timeout (295 s) stays: watches ask the apiserver to end them after
    // 290 s (timeoutSeconds), so a quiet watch is never cut by its own client.
    Ok(tinykube_component_base::client::client_from(kube_config)?)
}

/// Runs the controller manager until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<()> {
    validate_controllers(&config.controllers)?;
    let node_ipam_cluster = if config.allocate_node_cidrs {
        Some(nodeipam::cluster_from_flags(
            &config.cluster_cidr,
            config.node_cidr_mask_size,
        )?)
    } else {
        None
    };
    let client = client(&config).await?;
    let election = &config.leader_election;
    let elector = if election.enabled {
        let lease = LeaseConfig {
            namespace: election.resource_namespace.clone(),
            name: election.resource_name.clone(),
            identity: default_identity(),
            lease_duration: election.lease_duration,
            renew_deadline: election.renew_deadline,
            retry_period: election.retry_period,
        };
        Some(LeaderElector::new(client.clone(), lease)?)
    } else {
        None
    };
    let endpoints = Endpoints::new();
    let metrics = ControllerMetrics::default();
    endpoints.metrics().register(
        "controller_manager_reconciles",
        "Reconciles by controller and result",
        metrics.reconciles.clone(),
    );
    let addr = SocketAddr::new(config.bind_address, config.secure_port);
    let (bound, _server) = endpoints
        .serve(addr, shutdown.clone())
        .await
        .map_err(|source| Error::Serve { addr, source })?;
    tracing::info!(%bound, "serving /healthz and /metrics");

    let informers = Arc::new(Informers::new(client.clone()));
    {
        // Only the replica holding the Lease runs controllers; a standby stays healthy.
        let leading = match &elector {
            Some(elector) => elector.leader_flag(),
            None => Arc::new(AtomicBool::new(true)),
        };
        let informers = informers.clone();
        let gc = controller_enabled(&config.controllers, "garbage-collector-controller");
        endpoints.add_readiness_check("informer-sync", move || {
            if leading.load(Ordering::SeqCst) {
                informers.synced(gc)
            } else {
                Ok(())
            }
        });
    }
    let controllers = |leading| {
        run_controllers(
            &config,
            node_ipam_cluster,
            &client,
            &informers,
            &metrics,
            leading,
        )
    };
    match elector {
        None => controllers(shutdown).await,
        Some(elector) => {
            elector.run(shutdown, controllers).await?;
        }
    }
    Ok(())
}

/// Starts the enabled controllers and runs them until `leading` is cancelled.
async fn run_controllers(
    config: &Config,
    node_ipam_cluster: Option<nodeipam::Cidr>,
    client: &Client,
    informers: &Arc<Informers>,
    metrics: &ControllerMetrics,
    leading: CancellationToken,
) {
    let mut tasks = JoinSet::new();
    start_controllers(
        config,
        node_ipam_cluster,
        client,
        informers,
        metrics,
        &leading,
        &mut tasks,
    );
    informers.start(&leading);
    tracing::info!(controllers = tasks.len(), "controllers started");
    leading.cancelled().await;
    while tasks.join_next().await.is_some() {}
    tracing::info!("all controllers stopped");
}

/// A future that resolves once every given informer has synced.
fn all_synced(waits: Vec<BoxFuture<'static, ()>>) -> BoxFuture<'static, ()> {
    futures::future::join_all(waits).map(|_| ()).boxed()
}

fn start_controllers(
    config: &Config,
    node_ipam_cluster: Option<nodeipam::Cidr>,
    client: &Client,
    informers: &Arc<Informers>,
    metrics: &ControllerMetrics,
    shutdown: &CancellationToken,
    tasks: &mut JoinSet<()>,
) {
    let enabled = |name: &str| controller_enabled(&config.controllers, name);

    if enabled("replicaset-controller") {
        let pods = informers.pods().clone();
        let rss = informers.replicasets().clone();
        let ctx = Arc::new(ReplicaSetController::new(
            client.clone(),
            pods.store().clone(),
            rss.store().clone(),
        ));
        let triggers = vec![
            ctx_trigger(&rss, &ctx, ReplicaSetController::on_replicaset_change),
            ctx_trigger(&pods, &ctx, ReplicaSetController::on_pod_change),
        ];
        let ready = all_synced(vec![wait(pods.clone()), wait(rss.clone())]);
        tasks.spawn(runner::run(
            "replicaset-controller",
            rss.store().clone(),
            triggers,
            ready,
            config.concurrent_replicaset_syncs,
            ctx,
            replicaset::reconcile,
            metrics.clone(),
            shutdown.clone(),
        ));
    }

    if enabled("deployment-controller") {
        let pods = informers.pods().clone();
        let rss = informers.replicasets().clone();
        let deployments = informers.deployments().clone();
        let ctx = Arc::new(DeploymentController {
            client: client.clone(),
            recorder: crate::events::Recorder::new(client.clone(), "deployment-controller"),
            deployments: deployments.store().clone(),
            replicasets: rss.store().clone(),
            pods: pods.store().clone(),
        });
        let triggers = vec![
            ctx_trigger(
                &deployments,
                &ctx,
                DeploymentController::on_deployment_change,
            ),
            ctx_trigger(&rss, &ctx, DeploymentController::on_replicaset_change),
            ctx_trigger(&pods, &ctx, DeploymentController::on_pod_change),
        ];
        let ready = all_synced(vec![
            wait(pods.clone()),
            wait(rss.clone()),
            wait(deployments.clone()),
        ]);
        tasks.spawn(runner::run(
            "deployment-controller",
            deployments.store().clone(),
            triggers,
            ready,
            config.concurrent_deployment_syncs,
            ctx,
            deployment::reconcile,
            metrics.clone(),
            shutdown.clone(),
        ));
    }

    if enabled("endpoints-controller") {
        let ctx = Arc::new(EndpointsController {
            client: client.clone(),
            pods: informers.pods().store().clone(),
            services: informers.services().store().clone(),
            endpoints: informers.endpoints().store().clone(),
        });
        spawn_endpoints_deletions(informers, ctx.clone(), shutdown.clone(), tasks);
        spawn_service_controller(
            ServiceController {
                name: "endpoints-controller",
                owned: informers.endpoints().clone(),
                on_owned_change: EndpointsController::on_endpoints_change,
                concurrency: config.concurrent_endpoint_syncs,
                ctx,
                reconcile: endpoints::reconcile,
            },
            informers,
            metrics,
            shutdown,
            tasks,
        );
    }

    if enabled("endpointslice-controller") {
        let ctx = Arc::new(EndpointSliceController {
            client: client.clone(),
            pods: informers.pods().store().clone(),
            services: informers.services().store().clone(),
            slices: informers.endpointslices().store().clone(),
        });
        spawn_service_controller(
            ServiceController {
                name: "endpointslice-controller",
                owned: informers.endpointslices().clone(),
                on_owned_change: EndpointSliceController::on_slice_change,
                concurrency: config.concurrent_service_endpoint_syncs,
                ctx,
                reconcile: endpointslice::reconcile,
            },
            informers,
            metrics,
            shutdown,
            tasks,
        );
    }

    if enabled("garbage-collector-controller") {
        let client = client.clone();
        let shutdown = shutdown.clone();
        let concurrency = config.concurrent_gc_syncs;
        let synced = informers.gc_synced.clone();
        tasks.spawn(async move {
            if let Some(gc) =
                garbagecollector::GarbageCollector::new(client, concurrency, &shutdown).await
            {
                gc.run(shutdown, synced).await;
            }
        });
    }

    if enabled("namespace-controller") {
        let namespaces = informers.namespaces().clone();
        let ctx = Arc::new(namespace::NamespaceController::new(client.clone()));
        let triggers = vec![trigger(namespaces.subscribe(), applied_key)];
        tasks.spawn(runner::run(
            "namespace-controller",
            namespaces.store().clone(),
            triggers,
            wait(namespaces.clone()),
            config.concurrent_namespace_syncs,
            ctx,
            namespace::reconcile,
            metrics.clone(),
            shutdown.clone(),
        ));
    }

    let lifecycle = enabled("node-lifecycle-controller");
    let eviction = enabled("taint-eviction-controller");
    if lifecycle || eviction {
        let nodes = informers.nodes().clone();
        let pods = informers.pods().clone();
        let leases = informers.node_leases().clone();
        let ctx = Arc::new(NodeLifecycleController::new(
            client.clone(),
            nodes.store().clone(),
            pods.store().clone(),
            config.node_monitor_period,
            config.node_monitor_grace_period,
            config.node_startup_grace_period,
            config.default_not_ready_toleration_seconds,
            config.default_unreachable_toleration_seconds,
            lifecycle,
            eviction,
        ));
        let triggers = vec![
            ctx_trigger(&nodes, &ctx, NodeLifecycleController::on_node_change),
            ctx_trigger(&leases, &ctx, NodeLifecycleController::on_lease_change),
            ctx_trigger(&pods, &ctx, NodeLifecycleController::on_pod_change),
        ];
        let ready = all_synced(vec![
            wait(nodes.clone()),
            wait(pods.clone()),
            wait(leases.clone()),
        ]);
        tasks.spawn(runner::run(
            "node-lifecycle-controller",
            nodes.store().clone(),
            triggers,
            ready,
            0,
            ctx,
            nodelifecycle::reconcile,
            metrics.clone(),
            shutdown.clone(),
        ));
    }

    if let Some(cluster) = node_ipam_cluster.filter(|_| enabled("node-ipam-controller")) {
        let nodes = informers.nodes().clone();
        let ctx = nodeipam::NodeIpamController::new(
            client.clone(),
            nodes.store().clone(),
            cluster,
            config.node_cidr_mask_size,
        );
        let triggers = vec![trigger(nodes.subscribe(), applied_key)];
        tasks.spawn(runner::run(
            "node-ipam-controller",
            nodes.store().clone(),
            triggers,
            wait(nodes.clone()),
            1,
            Arc::new(ctx),
            nodeipam::reconcile,
            metrics.clone(),
            shutdown.clone(),
        ));
    }

    if enabled("serviceaccount-controller") {
        let namespaces = informers.namespaces().clone();
        let accounts = informers.serviceaccounts().clone();
        let ctx = Arc::new(ServiceAccountController {
            client: client.clone(),
            accounts: accounts.store().clone(),
        });
        let triggers = vec![
            trigger(namespaces.subscribe(), applied_key),
            ctx_trigger(&accounts, &ctx, ServiceAccountController::on_account_change),
        ];
        let ready = all_synced(vec![wait(namespaces.clone()), wait(accounts.clone())]);
        tasks.spawn(runner::run(
            "serviceaccount-controller",
            namespaces.store().clone(),
            triggers,
            ready,
            1,
            ctx,
            serviceaccount::reconcile,
            metrics.clone(),
            shutdown.clone(),
        ));
    }
}

/// The key of an added or modified object; deletions need no sync (the object is gone, and
/// what it owned is the garbage collector's or a dedicated watcher's).
fn applied_key<K>(change: Change<K>) -> Option<ObjectRef<K>>
where
    K: kube::Resource<DynamicType = ()>,
{
    match change {
        Change::Applied { new, .. } => Some(runner::obj_ref(
            crate::util::name_of(new.meta()),
            new.meta().namespace.as_deref(),
        )),
        Change::Deleted(_) => None,
    }
}

/// A controller keyed by Service that keeps objects of kind `K` (Endpoints or EndpointSlices)
/// in step with the pods the Service selects.
struct ServiceController<K: InformedResource, Ctx, F> {
    name: &'static str,
    /// The informer of the objects the controller writes.
    owned: Informer<K>,
    /// The Services to sync after a change of one of those objects.
    on_owned_change: fn(&Ctx, Change<K>) -> Vec<ObjectRef<Service>>,
    concurrency: u16,
    ctx: Arc<Ctx>,
    reconcile: F,
}

/// Runs a [`ServiceController`]: synced on Service changes, on changes of pods that a
/// Service selects (before or after the change), and on changes of its own objects.
fn spawn_service_controller<K, Ctx, F, Fut>(
    controller: ServiceController<K, Ctx, F>,
    informers: &Informers,
    metrics: &ControllerMetrics,
    shutdown: &CancellationToken,
    tasks: &mut JoinSet<()>,
) where
    K: InformedResource,
    Ctx: Send + Sync + 'static,
    F: Fn(Arc<Service>, Arc<Ctx>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<kube::runtime::controller::Action>> + Send + 'static,
{
    let ServiceController {
        name,
        owned,
        on_owned_change,
        concurrency,
        ctx,
        reconcile,
    } = controller;
    let pods = informers.pods().clone();
    let services = informers.services().clone();
    let service_store = services.store().clone();
    let triggers = vec![
        trigger(services.subscribe(), applied_key),
        trigger(pods.subscribe(), move |c| {
            endpoints::services_for_pod(&service_store, &c)
        }),
        ctx_trigger(&owned, &ctx, on_owned_change),
    ];
    let ready = all_synced(vec![
        wait(pods.clone()),
        wait(services.clone()),
        wait(owned.clone()),
    ]);
    tasks.spawn(runner::run(
        name,
        services.store().clone(),
        triggers,
        ready,
        concurrency,
        ctx,
        reconcile,
        metrics.clone(),
        shutdown.clone(),
    ));
}

/// Deleted Services take their Endpoints along; leftovers are swept once at start.
fn spawn_endpoints_deletions(
    informers: &Informers,
    ctx: Arc<EndpointsController>,
    shutdown: CancellationToken,
    tasks: &mut JoinSet<()>,
) {
    let services = informers.services();
    let deletions = services.subscribe();
    let ready = all_synced(vec![
        wait(services.clone()),
        wait(informers.endpoints().clone()),
    ]);
    tasks.spawn(async move {
        tokio::select! {
            _ = ready => {}
            _ = shutdown.cancelled() => return,
        }
        ctx.delete_leftovers().await;
        let mut deletions = std::pin::pin!(deletions);
        loop {
            let change = tokio::select! {
                _ = shutdown.cancelled() => return,
                change = futures::StreamExt::next(&mut deletions) => change,
            };
            match change {
                None => return,
                Some(Change::Deleted(service)) => ctx.service_deleted(&service).await,
                Some(_) => {}
            }
        }
    });
}

/// Keys from one of a controller's own mapping methods (`on_pod_change` and the like) for
/// every change `informer` sees.
fn ctx_trigger<O, K, Ctx>(
    informer: &Informer<O>,
    ctx: &Arc<Ctx>,
    map: fn(&Ctx, Change<O>) -> Vec<ObjectRef<K>>,
) -> runner::Triggers<K>
where
    O: InformedResource,
    K: kube::Resource<DynamicType = ()> + 'static,
    Ctx: Send + Sync + 'static,
{
    let ctx = ctx.clone();
    trigger(informer.subscribe(), move |c| map(&ctx, c))
}

/// What an informer's object type must be for [`wait`] and the runner.
trait InformedResource:
    kube::Resource<DynamicType = ()>
    + kube::runtime::reflector::Lookup<DynamicType = ()>
    + Clone
    + serde::de::DeserializeOwned
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
}

impl<K> InformedResource for K where
    K: kube::Resource<DynamicType = ()>
        + kube::runtime::reflector::Lookup<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static
{
}

fn wait<K: InformedResource>(informer: Informer<K>) -> BoxFuture<'static, ()> {
    async move { informer.wait_synced().await }.boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controllers_flag_as_upstream() {
        let flags = |s: &str| s.split(',').map(str::to_string).collect::<Vec<_>>();
        // (flag, controller, enabled)
        let cases = [
            ("*", "deployment-controller", true),
            ("*,-deployment", "deployment-controller", false),
            ("*,-deployment-controller", "deployment-controller", false),
            ("*,-deployment", "replicaset-controller", true),
            ("replicaset", "replicaset-controller", true),
            ("replicaset", "deployment-controller", false),
            ("-replicaset,*", "replicaset-controller", false),
            ("garbagecollector", "garbage-collector-controller", true),
            ("", "deployment-controller", false),
        ];
        for (flag, name, expected) in cases {
            assert_eq!(
                controller_enabled(&flags(flag), name),
                expected,
                "{flag} {name}"
            );
        }
        assert!(validate_controllers(&flags("*,-deployment,nodeipam")).is_ok());
        let error = validate_controllers(&flags("*,bogus"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("\"bogus\" is not in the list"), "{error}");
    }
}
