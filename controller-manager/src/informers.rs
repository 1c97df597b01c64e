//! The informer factory: one shared [`Informer`] per resource type, created on first use and
//! started together once every controller has subscribed (upstream's `SharedInformerFactory`).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Endpoints, Namespace, Node, Pod, Service, ServiceAccount};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::Api;
use kube::runtime::watcher;
use kube::Client;
use tokio_util::sync::CancellationToken;

use crate::informer::Informer;

/// The namespace of node heartbeat Leases.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// The label our EndpointSlices carry (upstream `endpointslice.kubernetes.io/managed-by`).
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";

/// Its value for slices of this controller.
pub const MANAGED_BY_CONTROLLER: &str = "endpointslice-controller.k8s.io";

/// Shared informers for the built-in types the controllers read.
pub struct Informers {
    client: Client,
    used: Mutex<BTreeSet<&'static str>>,
    pods: Informer<Pod>,
    replicasets: Informer<ReplicaSet>,
    deployments: Informer<Deployment>,
    services: Informer<Service>,
    endpoints: Informer<Endpoints>,
    endpointslices: Informer<EndpointSlice>,
    nodes: Informer<Node>,
    node_leases: Informer<Lease>,
    namespaces: Informer<Namespace>,
    serviceaccounts: Informer<ServiceAccount>,
    /// Set by the garbage collector once its own watches have listed.
    pub gc_synced: Arc<AtomicBool>,
}

macro_rules! accessor {
    ($name:ident, $ty:ty) => {
        #[doc = concat!("The shared informer of ", stringify!($name), " (marks it to be started).")]
        pub fn $name(&self) -> &Informer<$ty> {
            self.used
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(stringify!($name));
            &self.$name
        }
    };
}

impl Informers {
    pub fn new(client: Client) -> Informers {
        Informers {
            client,
            used: Mutex::new(BTreeSet::new()),
            pods: Informer::new(),
            replicasets: Informer::new(),
            deployments: Informer::new(),
            services: Informer::new(),
            endpoints: Informer::new(),
            endpointslices: Informer::new(),
            nodes: Informer::new(),
            node_leases: Informer::new(),
            namespaces: Informer::new(),
            serviceaccounts: Informer::new(),
            gc_synced: Arc::new(AtomicBool::new(false)),
        }
    }

    accessor!(pods, Pod);
    accessor!(replicasets, ReplicaSet);
    accessor!(deployments, Deployment);
    accessor!(services, Service);
    accessor!(endpoints, Endpoints);
    accessor!(endpointslices, EndpointSlice);
    accessor!(nodes, Node);
    accessor!(node_leases, Lease);
    accessor!(namespaces, Namespace);
    accessor!(serviceaccounts, ServiceAccount);

    /// Whether every informer in use has received its first list (`gc` says whether the
    /// garbage collector runs, so its own watches count too).
    pub fn synced(&self, gc: bool) -> Result<(), String> {
        let used = self.used.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut pending: Vec<&str> = used
            .into_iter()
            .filter(|name| !self.is_synced(name))
            .collect();
        if gc && !self.gc_synced.load(Ordering::SeqCst) {
            pending.push("garbage-collector");
        }
        if pending.is_empty() {
            Ok(())
        } else {
            Err(format!("caches not synced: {}", pending.join(", ")))
        }
    }

    fn is_synced(&self, name: &str) -> bool {
        match name {
            "pods" => self.pods.has_synced(),
            "replicasets" => self.replicasets.has_synced(),
            "deployments" => self.deployments.has_synced(),
            "services" => self.services.has_synced(),
            "endpoints" => self.endpoints.has_synced(),
            "endpointslices" => self.endpointslices.has_synced(),
            "nodes" => self.nodes.has_synced(),
            "node_leases" => self.node_leases.has_synced(),
            "namespaces" => self.namespaces.has_synced(),
            "serviceaccounts" => self.serviceaccounts.has_synced(),
            _ => true,
        }
    }

    /// Starts every informer some controller asked for.
    pub fn start(&self, shutdown: &CancellationToken) {
        let used = self.used.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let all = watcher::Config::default();
        let c = &self.client;
        for name in used {
            let s = shutdown.clone();
            match name {
                "pods" => self
                    .pods
                    .start_with(Api::all(c.clone()), all.clone(), trim, s),
                "replicasets" => {
                    self.replicasets
                        .start_with(Api::all(c.clone()), all.clone(), trim, s)
                }
                "deployments" => {
                    self.deployments
                        .start_with(Api::all(c.clone()), all.clone(), trim, s)
                }
                "services" => self
                    .services
                    .start_with(Api::all(c.clone()), all.clone(), trim, s),
                "endpoints" => self
                    .endpoints
                    .start_with(Api::all(c.clone()), all.clone(), trim, s),
                "endpointslices" => self.endpointslices.start_with(
                    Api::all(c.clone()),
                    all.clone()
                        .labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY_CONTROLLER}")),
                    trim,
                    s,
                ),
                "nodes" => self
                    .nodes
                    .start_with(Api::all(c.clone()), all.clone(), trim, s),
                "node_leases" => self.node_leases.start_with(
                    Api::namespaced(c.clone(), NODE_LEASE_NAMESPACE),
                    all.clone(),
                    trim,
                    s,
                ),
                "namespaces" => {
                    self.namespaces
                        .start_with(Api::all(c.clone()), all.clone(), trim, s)
                }
                "serviceaccounts" => {
                    self.serviceaccounts
                        .start_with(Api::all(c.clone()), all.clone(), trim, s)
                }
                _ => {}
            }
        }
    }
}

/// Drops what no controller reads: managed fields. (Annotations stay: objects from the cache
/// are written back on updates, and kubectl's last-applied copy must survive those.)
fn trim<K: kube::Resource>(obj: &mut K) {
    obj.meta_mut().managed_fields = None;
}
