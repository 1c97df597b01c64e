//! `kube-apiserver` for tinykube: the Kubernetes REST API, backed by etcd.
//!
//! Every other component and every client (the real kubectl, kube-rs) talks to the cluster only
//! through it, and it is the only component that touches etcd. The request path:
//!
//! - [`request`] turns a URL into the resource, namespace, name and subresource it addresses,
//!   reading the table of served kinds in [`resources`] (which also answers discovery);
//! - [`api`] holds one set of handlers (get, list, watch, create, update, patch, delete and the
//!   subresources) for all kinds; per-kind decoding, defaults and validation live in `kinds`
//!   (with the conversion of events.k8s.io/v1 Events to the core/v1 Events they are stored
//!   as), patching in `patch`, field ownership (`managedFields`) and server-side apply in
//!   `apply`, server-side printing (`kubectl get` tables) in `table`, and `protobuf` turns the
//!   protobuf bodies of kubectl's typed clients into JSON;
//! - [`storage`] keeps objects in etcd under `/registry/` with resourceVersion = mod_revision
//!   and transactions for create/update/delete; [`watch_cache`] keeps one etcd watch per
//!   resource and fans it out to every HTTP watcher.
//!
//! The API is served over plain HTTP for now; TLS and authentication arrive with the
//! certificate tooling of the bring-up work.

pub mod api;
mod apply;
pub mod body;
pub mod filter;
mod kinds;
pub mod kubelet_proxy;
pub mod object;
pub mod openapi;
mod patch;
pub mod protobuf;
pub mod request;
pub mod resources;
pub mod services;
pub mod storage;
mod table;
pub mod watch_cache;

use clap::Parser;
use serde_json::json;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use storage::{StorageError, Store};
use tinykube_component_base::Endpoints;
use tokio_util::sync::CancellationToken;

/// Flags of `kube-apiserver`, named as upstream's.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "kube-apiserver",
    version,
    about = "The Kubernetes API server of tinykube: serves the REST API (core/v1, apps/v1, discovery.k8s.io, coordination.k8s.io, events.k8s.io) with upstream's paths, JSON and semantics, and keeps every object in etcd.",
    long_about = None
)]
pub struct Config {
    /// etcd endpoints, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "http://127.0.0.1:2379")]
    pub etcd_servers: Vec<String>,
    /// Prefix of every key in etcd.
    #[arg(long, default_value = "/registry")]
    pub etcd_prefix: String,
    /// Address of the plain-HTTP API listener. TLS and authentication come in a later step, on
    /// a secure listener beside this one.
    #[arg(long, default_value = "127.0.0.1")]
    pub insecure_bind_address: IpAddr,
    /// Port of the plain-HTTP API listener.
    #[arg(long, default_value_t = 8080)]
    pub insecure_port: u16,
    /// Address the `kubernetes` Service's endpoints point at (default: the insecure bind
    /// address, or 127.0.0.1 when that is 0.0.0.0).
    #[arg(long)]
    pub advertise_address: Option<IpAddr>,
    /// CIDR that Service ClusterIPs are allocated from.
    #[arg(long, default_value = "10.96.0.0/12")]
    pub service_cluster_ip_range: services::Cidr,
    /// Port range that NodePorts are allocated from.
    #[arg(long, default_value = "30000-32767", value_parser = parse_port_range)]
    pub service_node_port_range: (u16, u16),
}

fn parse_port_range(text: &str) -> Result<(u16, u16), String> {
    let (low, high) = text
        .split_once('-')
        .ok_or_else(|| format!("invalid port range {text:?}: expected LOW-HIGH"))?;
    let low: u16 = low
        .trim()
        .parse()
        .map_err(|_| format!("invalid port range {text:?}"))?;
    let high: u16 = high
        .trim()
        .parse()
        .map_err(|_| format!("invalid port range {text:?}"))?;
    if low == 0 || low > high {
        return Err(format!("invalid port range {text:?}: LOW must be 1..=HIGH"));
    }
    Ok((low, high))
}

/// Errors that stop the apiserver.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot reach etcd at {endpoints}: {source}")]
    Etcd {
        endpoints: String,
        source: StorageError,
    },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("bootstrapping the cluster's own objects failed: {0}")]
    Bootstrap(StorageError),
    #[error("serving failed: {0}")]
    Serve(std::io::Error),
}

/// Runs the apiserver until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), ServeError> {
    let endpoints_text = config.etcd_servers.join(",");
    let store = tokio::time::timeout(
        Duration::from_secs(20),
        Store::connect(&config.etcd_servers, &config.etcd_prefix),
    )
    .await
    .unwrap_or_else(|_| {
        Err(StorageError::NotFound(
            "etcd did not answer within 20s".into(),
        ))
    })
    .map_err(|source| ServeError::Etcd {
        endpoints: endpoints_text.clone(),
        source,
    })?;
    // A first read proves etcd answers, so a wrong --etcd-servers fails at once and clearly.
    store
        .current_revision()
        .await
        .map_err(|source| ServeError::Etcd {
            endpoints: endpoints_text.clone(),
            source,
        })?;

    let allocator = services::ServiceAllocator::new(
        config.service_cluster_ip_range,
        config.service_node_port_range,
    );
    let advertise =
        config
            .advertise_address
            .unwrap_or(if config.insecure_bind_address.is_unspecified() {
                IpAddr::from([127, 0, 0, 1])
            } else {
                config.insecure_bind_address
            });
    bootstrap(
        &store,
        allocator.first_ip().to_string(),
        advertise,
        config.insecure_port,
    )
    .await
    .map_err(ServeError::Bootstrap)?;

    let state = api::ApiState::start(store.clone(), allocator, shutdown.clone());
    let endpoints = Endpoints::new();
    let etcd_ok = Arc::new(AtomicBool::new(true));
    let etcd_flag = etcd_ok.clone();
    endpoints.add_check("etcd", move || {
        if etcd_flag.load(Ordering::Relaxed) {
            Ok(())
        } else {
            Err("etcd is not answering".to_string())
        }
    });
    tokio::spawn(watch_etcd_health(store, etcd_ok, shutdown.clone()));

    let addr = SocketAddr::new(config.insecure_bind_address, config.insecure_port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Listen { addr, source })?;
    let ready = state.wait_caches(Duration::from_secs(30)).await;
    tracing::info!(%addr, caches_ready = ready, "serving the Kubernetes API");
    let app = api::router(state).merge(endpoints.router());
    // Upgraded exec and port-forward streams carry small interactive writes: no Nagle delay.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .map_err(ServeError::Serve)
}

/// Keeps the `etcd` health check current with a cheap read every few seconds.
async fn watch_etcd_health(store: Store, healthy: Arc<AtomicBool>, shutdown: CancellationToken) {
    loop {
        let ok = tokio::time::timeout(Duration::from_secs(2), store.current_revision())
            .await
            .is_ok_and(|r| r.is_ok());
        if healthy.swap(ok, Ordering::Relaxed) != ok {
            tracing::warn!(healthy = ok, "etcd health changed");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(3)) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// The objects every cluster has (upstream's bootstrap controller): the system namespaces and
/// the `kubernetes` Service in `default`, whose Endpoints point at this apiserver.
async fn bootstrap(
    store: &Store,
    kubernetes_ip: String,
    advertise: IpAddr,
    port: u16,
) -> Result<(), StorageError> {
    let now = object::now_rfc3339();
    for namespace in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        let object = json!({
            "kind": "Namespace", "apiVersion": "v1",
            "metadata": {"name": namespace, "uid": uuid::Uuid::new_v4().to_string(), "creationTimestamp": now,
                         "labels": {"kubernetes.io/metadata.name": namespace}},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        });
        create_if_missing(
            store,
            &tinykube_apimachinery::storage_key("namespaces", None, namespace),
            &object,
        )
        .await?;
    }
    let service = json!({
        "kind": "Service", "apiVersion": "v1",
        "metadata": {"name": "kubernetes", "namespace": "default", "uid": uuid::Uuid::new_v4().to_string(),
                     "creationTimestamp": now, "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {
            "type": "ClusterIP", "clusterIP": kubernetes_ip, "clusterIPs": [kubernetes_ip],
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}],
            "sessionAffinity": "None", "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
            "internalTrafficPolicy": "Cluster",
        },
        "status": {"loadBalancer": {}},
    });
    create_if_missing(
        store,
        &tinykube_apimachinery::storage_key("services", Some("default"), "kubernetes"),
        &service,
    )
    .await?;
    let endpoints_key =
        tinykube_apimachinery::storage_key("endpoints", Some("default"), "kubernetes");
    let endpoints = json!({
        "kind": "Endpoints", "apiVersion": "v1",
        "metadata": {"name": "kubernetes", "namespace": "default", "uid": uuid::Uuid::new_v4().to_string(),
                     "creationTimestamp": now, "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": advertise.to_string()}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}],
    });
    match store.get(&endpoints_key).await {
        Ok(current) if current.object.get("subsets") == endpoints.get("subsets") => Ok(()),
        Ok(current) => {
            let mut updated = current.object.clone();
            updated["subsets"] = endpoints["subsets"].clone();
            store
                .update(&endpoints_key, &updated, current.revision)
                .await
                .map(|_| ())
        }
        Err(StorageError::NotFound(_)) => {
            create_if_missing(store, &endpoints_key, &endpoints).await
        }
        Err(error) => Err(error),
    }
}

async fn create_if_missing(
    store: &Store,
    key: &str,
    object: &serde_json::Value,
) -> Result<(), StorageError> {
    match store.create(key, object).await {
        Ok(_) | Err(StorageError::AlreadyExists(_)) => Ok(()),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges_parse_like_upstream_flags() {
        let cases = [
            ("30000-32767", Ok((30000, 32767))),
            ("1-1", Ok((1, 1))),
            ("0-10", Err(())),
            ("10-1", Err(())),
            ("30000", Err(())),
            ("a-b", Err(())),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_port_range(text).map_err(|_| ()), expected, "{text}");
        }
    }

    #[test]
    fn flags_have_upstream_defaults() {
        let config = Config::parse_from(["kube-apiserver"]);
        assert_eq!(config.insecure_port, 8080);
        assert_eq!(config.insecure_bind_address.to_string(), "127.0.0.1");
        assert_eq!(config.etcd_prefix, "/registry");
        assert_eq!(config.service_cluster_ip_range.to_string(), "10.96.0.0/12");
        assert_eq!(config.service_node_port_range, (30000, 32767));
        assert_eq!(
            config.etcd_servers,
            vec!["http://127.0.0.1:2379".to_string()]
        );
    }
}
