//! The Node object: registration, status (capacity, addresses, conditions) every
//! `--node-status-update-frequency`, the Lease heartbeat in `kube-node-lease`, and the CNI
//! config for `Node.spec.podCIDR`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{
    Node, NodeAddress, NodeCondition, NodeSpec, NodeStatus, NodeSystemInfo,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::error::{KubeletError, Result};
use crate::pressure::{self, Pressure};
use crate::Kubelet;

/// The lease the kubelet renews, as upstream: 40 s duration, renewed every 10 s.
pub const LEASE_DURATION_SECONDS: i32 = 40;
pub const LEASE_RENEW_INTERVAL: Duration = Duration::from_secs(10);

/// CPU count and memory bytes of this machine.
pub fn machine_capacity() -> (i64, i64) {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get() as i64)
        .unwrap_or(1);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<i64>().ok())
        })
        .unwrap_or(0)
        * 1024;
    (cpus, mem)
}

fn now() -> Time {
    Time(Timestamp::from_second(Timestamp::now().as_second()).unwrap_or(Timestamp::UNIX_EPOCH))
}

/// Capacity as the Node reports it (`cpu`, `memory` in Ki, `pods`).
pub fn capacity(cpus: i64, mem: i64, max_pods: i64) -> BTreeMap<String, Quantity> {
    BTreeMap::from([
        ("cpu".to_string(), Quantity(cpus.to_string())),
        ("memory".to_string(), Quantity(format!("{}Ki", mem / 1024))),
        ("pods".to_string(), Quantity(max_pods.to_string())),
    ])
}

fn condition(
    kind: &str,
    ok: bool,
    reason: &str,
    message: &str,
    old: Option<&NodeStatus>,
) -> NodeCondition {
    let status = if ok { "True" } else { "False" };
    let since = old
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == kind))
        .filter(|c| c.status == status)
        .and_then(|c| c.last_transition_time.clone())
        .unwrap_or_else(now);
    NodeCondition {
        type_: kind.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_heartbeat_time: Some(now()),
        last_transition_time: Some(since),
    }
}

impl Kubelet {
    /// The pressure conditions from this machine's eviction signals (see [`crate::pressure`]).
    pub async fn pressure(&self) -> Pressure {
        let imagefs = self
            .cri
            .img()
            .image_fs_info(tinykube_cri_proto::v1::ImageFsInfoRequest {})
            .await
            .ok()
            .and_then(|r| r.into_inner().image_filesystems.into_iter().next())
            .and_then(|f| f.fs_id)
            .map(|id| PathBuf::from(id.mountpoint))
            .filter(|p| !p.as_os_str().is_empty());
        let root = self.config.root_dir.clone();
        // statvfs and /proc reads can block on a sick filesystem: keep them off the reactor.
        let observations =
            tokio::task::spawn_blocking(move || pressure::observe(&root, imagefs.as_deref()))
                .await
                .unwrap_or_default();
        let met = pressure::conditions_under_pressure(&self.config.eviction_hard, &observations);
        if !met.is_empty() {
            tracing::warn!(?met, "eviction thresholds met");
        }
        crate::lock(&self.pressure).update(
            &met,
            std::time::Instant::now(),
            self.config.eviction_pressure_transition_period,
        )
    }

    /// The node status: capacity, addresses, conditions (Ready from the runtime's status,
    /// pressure from eviction signals).
    pub async fn node_status(&self, old: Option<&NodeStatus>) -> NodeStatus {
        let (cpus, mem) = machine_capacity();
        let cap = capacity(cpus, mem, self.config.max_pods);
        let runtime = self.runtime_ready().await;
        let ready = match &runtime {
            Ok(()) => condition(
                "Ready",
                true,
                "KubeletReady",
                "kubelet is posting ready status",
                old,
            ),
            Err(e) => condition(
                "Ready",
                false,
                "KubeletNotReady",
                &format!("container runtime not ready: {e}"),
                old,
            ),
        };
        let pressure = self.pressure().await;
        NodeStatus {
            capacity: Some(cap.clone()),
            allocatable: Some(cap),
            addresses: Some(vec![
                NodeAddress {
                    type_: "InternalIP".into(),
                    address: self.node_ip.clone(),
                },
                NodeAddress {
                    type_: "Hostname".into(),
                    address: self.node_name.clone(),
                },
            ]),
            conditions: Some(vec![
                if pressure.memory {
                    condition(
                        "MemoryPressure",
                        true,
                        "KubeletHasInsufficientMemory",
                        "kubelet has insufficient memory available",
                        old,
                    )
                } else {
                    condition(
                        "MemoryPressure",
                        false,
                        "KubeletHasSufficientMemory",
                        "kubelet has sufficient memory available",
                        old,
                    )
                },
                if pressure.disk {
                    condition(
                        "DiskPressure",
                        true,
                        "KubeletHasDiskPressure",
                        "kubelet has disk pressure",
                        old,
                    )
                } else {
                    condition(
                        "DiskPressure",
                        false,
                        "KubeletHasNoDiskPressure",
                        "kubelet has no disk pressure",
                        old,
                    )
                },
                if pressure.pid {
                    condition(
                        "PIDPressure",
                        true,
                        "KubeletHasInsufficientPID",
                        "kubelet has insufficient PID available",
                        old,
                    )
                } else {
                    condition(
                        "PIDPressure",
                        false,
                        "KubeletHasSufficientPID",
                        "kubelet has sufficient PID available",
                        old,
                    )
                },
                ready,
            ]),
            daemon_endpoints: Some(k8s_openapi::api::core::v1::NodeDaemonEndpoints {
                kubelet_endpoint: Some(k8s_openapi::api::core::v1::DaemonEndpoint {
                    port: self.config.port as i32,
                }),
            }),
            node_info: Some(NodeSystemInfo {
                architecture: std::env::consts::ARCH
                    .replace("x86_64", "amd64")
                    .replace("aarch64", "arm64"),
                operating_system: "linux".into(),
                kubelet_version: format!("v1.33.0-tinykube.{}", env!("CARGO_PKG_VERSION")),
                kube_proxy_version: String::new(),
                container_runtime_version: "tinykube://0.1.0".into(),
                kernel_version: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                    .unwrap_or_default()
                    .trim()
                    .into(),
                os_image: "tinykube".into(),
                machine_id: std::fs::read_to_string("/etc/machine-id")
                    .unwrap_or_default()
                    .trim()
                    .into(),
                boot_id: std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
                    .unwrap_or_default()
                    .trim()
                    .into(),
                system_uuid: String::new(),
                swap: None,
            }),
            ..Default::default()
        }
    }

    /// Creates the Node if missing, then sets its status.
    pub async fn register_node(&self, client: &kube::Client) -> Result<Node> {
        let api: Api<Node> = Api::all(client.clone());
        let node = match api.get_opt(&self.node_name).await? {
            Some(n) => n,
            None => {
                let labels = BTreeMap::from([
                    ("kubernetes.io/hostname".to_string(), self.node_name.clone()),
                    ("kubernetes.io/os".to_string(), "linux".to_string()),
                    (
                        "kubernetes.io/arch".to_string(),
                        std::env::consts::ARCH
                            .replace("x86_64", "amd64")
                            .replace("aarch64", "arm64"),
                    ),
                ]);
                let n = Node {
                    metadata: ObjectMeta {
                        name: Some(self.node_name.clone()),
                        labels: Some(labels),
                        ..Default::default()
                    },
                    spec: Some(NodeSpec {
                        pod_cidr: self.config.pod_cidr.clone(),
                        pod_cidrs: self.config.pod_cidr.clone().map(|c| vec![c]),
                        ..Default::default()
                    }),
                    ..Default::default()
                };
                match api.create(&PostParams::default(), &n).await {
                    Ok(n) => {
                        tracing::info!(node = %self.node_name, "registered node");
                        n
                    }
                    Err(kube::Error::Api(e)) if e.code == 409 => api.get(&self.node_name).await?,
                    Err(e) => return Err(e.into()),
                }
            }
        };
        self.update_node_status(client).await?;
        Ok(node)
    }

    /// PATCHes `nodes/<name>/status`; writes the CNI config when the pod CIDR is known.
    pub async fn update_node_status(&self, client: &kube::Client) -> Result<()> {
        let api: Api<Node> = Api::all(client.clone());
        let node = api.get(&self.node_name).await?;
        let cidr = node
            .spec
            .as_ref()
            .and_then(|s| s.pod_cidr.clone())
            .or_else(|| self.config.pod_cidr.clone());
        if let Some(cidr) = cidr {
            self.write_cni_config(&cidr)?;
        }
        let status = self.node_status(node.status.as_ref()).await;
        api.patch_status(
            &self.node_name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await?;
        Ok(())
    }

    /// Writes `10-tinykube.conflist` (bridge + host-local for `cidr`, portmap, loopback) into
    /// `--cni-conf-dir`, if that flag is set and the content changed.
    pub fn write_cni_config(&self, cidr: &str) -> Result<()> {
        let Some(dir) = &self.config.cni_conf_dir else {
            return Ok(());
        };
        let conf = cni_config(cidr, &self.config.root_dir.join("cni-ipam"));
        let path = dir.join("10-tinykube.conflist");
        if std::fs::read_to_string(&path).ok().as_deref() == Some(conf.as_str()) {
            return Ok(());
        }
        std::fs::create_dir_all(dir).map_err(|e| KubeletError::io(dir.display(), e))?;
        let tmp = dir.join(".10-tinykube.conflist.tmp");
        std::fs::write(&tmp, &conf).map_err(|e| KubeletError::io(tmp.display(), e))?;
        std::fs::rename(&tmp, &path).map_err(|e| KubeletError::io(path.display(), e))?;
        tracing::info!(pod_cidr = cidr, path = %path.display(), "wrote CNI config");
        Ok(())
    }

    /// Creates or renews the node's Lease.
    pub async fn renew_lease(&self, client: &kube::Client) -> Result<()> {
        let api: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
        let renew = MicroTime(Timestamp::now());
        match api.get_opt(&self.node_name).await? {
            Some(_) => {
                api.patch(
                    &self.node_name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"holderIdentity": self.node_name, "leaseDurationSeconds": LEASE_DURATION_SECONDS, "renewTime": renew}})),
                )
                .await?;
            }
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.node_name.clone()),
                        namespace: Some("kube-node-lease".into()),
                        ..Default::default()
                    },
                    spec: Some(LeaseSpec {
                        holder_identity: Some(self.node_name.clone()),
                        lease_duration_seconds: Some(LEASE_DURATION_SECONDS),
                        renew_time: Some(renew),
                        ..Default::default()
                    }),
                };
                api.create(&PostParams::default(), &lease).await?;
            }
        }
        Ok(())
    }

    /// Registration, then status and lease loops until shutdown. Errors are logged and retried.
    pub async fn run_node_loops(self: Arc<Self>, client: kube::Client) {
        loop {
            match self.register_node(&client).await {
                Ok(_) => break,
                Err(e) => tracing::warn!(error = %e, "registering node failed; retrying"),
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
        }
        self.registered
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let k = self.clone();
        let c = client.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = k.renew_lease(&c).await {
                    tracing::warn!(error = %e, "renewing node lease failed");
                }
                tokio::select! {
                    _ = k.shutdown.cancelled() => return,
                    _ = tokio::time::sleep(LEASE_RENEW_INTERVAL) => {}
                }
            }
        });
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = tokio::time::sleep(self.config.node_status_update_frequency) => {}
            }
            if let Err(e) = self.update_node_status(&client).await {
                tracing::warn!(error = %e, "updating node status failed");
                if let KubeletError::Kube(kube::Error::Api(ae)) = &e {
                    if ae.code == 404 {
                        let _ = self.register_node(&client).await;
                    }
                }
            }
        }
    }
}

/// The CNI network config for a node's pod CIDR.
pub fn cni_config(cidr: &str, ipam_dir: &Path) -> String {
    serde_json::to_string_pretty(&json!({
        "cniVersion": "1.0.0",
        "name": "tinykube",
        "plugins": [
            {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": cidr}]], "routes": [{"dst": "0.0.0.0/0"}],
                      "dataDir": ipam_dir}},
            {"type": "portmap", "capabilities": {"portMappings": true}},
            {"type": "loopback"}
        ]
    }))
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_of_this_machine() {
        let (cpus, mem) = machine_capacity();
        assert!(cpus >= 1 && mem > 0);
        let c = capacity(2, 4 * 1024 * 1024 * 1024, 110);
        assert_eq!(c["cpu"].0, "2");
        assert_eq!(c["memory"].0, "4194304Ki");
        assert_eq!(c["pods"].0, "110");
    }

    #[test]
    fn cni_config_names_the_cidr() {
        let c = cni_config("10.244.3.0/24", Path::new("/x/ipam"));
        let v: serde_json::Value = serde_json::from_str(&c).unwrap();
        assert_eq!(
            v["plugins"][0]["ipam"]["ranges"][0][0]["subnet"],
            "10.244.3.0/24"
        );
        assert_eq!(v["plugins"][0]["ipam"]["dataDir"], "/x/ipam");
    }
}
