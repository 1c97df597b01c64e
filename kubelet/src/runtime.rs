//! The CRI client side: the runtime's view of pods ("relist", upstream's PLEG), and the
//! calls the workers make.

use std::collections::HashMap;
use std::sync::Mutex;

use tinykube_cri_proto::v1 as cri;
use tinykube_cri_proto::v1::image_service_client::ImageServiceClient;
use tinykube_cri_proto::v1::runtime_service_client::RuntimeServiceClient;
use tonic::transport::Channel;

use crate::actions::{CState, ObservedContainer, ObservedPod, ObservedSandbox};
use crate::error::{KubeletError, Result};
use crate::lock;
use crate::podspec::{LABEL_CONTAINER_NAME, LABEL_POD_UID};

/// Clients for one CRI endpoint.
pub struct Cri {
    pub rt: RuntimeServiceClient<Channel>,
    pub img: ImageServiceClient<Channel>,
    /// Sandbox id -> IP (never changes for a sandbox).
    ips: Mutex<HashMap<String, Option<String>>>,
}

impl Cri {
    pub async fn connect(endpoint: &str) -> Result<Cri> {
        let ch = tinykube_cri_proto::connect(endpoint)
            .await
            .map_err(|source| KubeletError::Connect {
                endpoint: endpoint.to_string(),
                source,
            })?;
        Ok(Cri {
            rt: RuntimeServiceClient::new(ch.clone()),
            img: ImageServiceClient::new(ch),
            ips: Mutex::new(HashMap::new()),
        })
    }

    pub fn rt(&self) -> RuntimeServiceClient<Channel> {
        self.rt.clone()
    }
    pub fn img(&self) -> ImageServiceClient<Channel> {
        self.img.clone()
    }

    /// RuntimeReady and NetworkReady, or why not.
    pub async fn ready(&self) -> std::result::Result<(), String> {
        let s = self
            .rt()
            .status(cri::StatusRequest { verbose: false })
            .await
            .map_err(|e| e.message().to_string())?
            .into_inner();
        for c in s.status.map(|s| s.conditions).unwrap_or_default() {
            if !c.status {
                return Err(format!("{} is false: {} {}", c.r#type, c.reason, c.message));
            }
        }
        Ok(())
    }

    async fn sandbox_ip(&self, id: &str) -> Option<String> {
        if let Some(ip) = lock(&self.ips).get(id) {
            return ip.clone();
        }
        let s = self
            .rt()
            .pod_sandbox_status(cri::PodSandboxStatusRequest {
                pod_sandbox_id: id.into(),
                verbose: false,
            })
            .await
            .ok()?
            .into_inner();
        let ip = s
            .status
            .and_then(|s| s.network)
            .map(|n| n.ip)
            .filter(|ip| !ip.is_empty());
        lock(&self.ips).insert(id.to_string(), ip.clone());
        ip
    }

    /// Everything the runtime holds, grouped by pod UID.
    pub async fn relist(&self) -> Result<HashMap<String, ObservedPod>> {
        self.relist_filtered(None).await
    }

    /// The runtime's view of one pod.
    pub async fn relist_pod(&self, uid: &str) -> Result<ObservedPod> {
        Ok(self
            .relist_filtered(Some(uid))
            .await?
            .remove(uid)
            .unwrap_or_default())
    }

    async fn relist_filtered(&self, uid: Option<&str>) -> Result<HashMap<String, ObservedPod>> {
        let selector: HashMap<String, String> = uid
            .map(|u| HashMap::from([(LABEL_POD_UID.to_string(), u.to_string())]))
            .unwrap_or_default();
        let sandboxes = self
            .rt()
            .list_pod_sandbox(cri::ListPodSandboxRequest {
                filter: Some(cri::PodSandboxFilter {
                    label_selector: selector.clone(),
                    ..Default::default()
                }),
            })
            .await?
            .into_inner()
            .items;
        let containers = self
            .rt()
            .list_containers(cri::ListContainersRequest {
                filter: Some(cri::ContainerFilter {
                    label_selector: selector,
                    ..Default::default()
                }),
            })
            .await?
            .into_inner()
            .containers;
        let mut pods: HashMap<String, ObservedPod> = HashMap::new();
        let mut sandbox_uid: HashMap<String, String> = HashMap::new();
        for s in sandboxes {
            let uid = s
                .labels
                .get(LABEL_POD_UID)
                .cloned()
                .or_else(|| s.metadata.as_ref().map(|m| m.uid.clone()))
                .unwrap_or_default();
            if uid.is_empty() {
                continue;
            }
            let ready = s.state == cri::PodSandboxState::SandboxReady as i32;
            let ip = self.sandbox_ip(&s.id).await;
            sandbox_uid.insert(s.id.clone(), uid.clone());
            pods.entry(uid)
                .or_default()
                .sandboxes
                .push(ObservedSandbox {
                    id: s.id.clone(),
                    attempt: s.metadata.as_ref().map(|m| m.attempt).unwrap_or(0),
                    ready,
                    ip,
                    created_at: s.created_at,
                });
        }
        for c in containers {
            let uid = c
                .labels
                .get(LABEL_POD_UID)
                .cloned()
                .or_else(|| sandbox_uid.get(&c.pod_sandbox_id).cloned())
                .unwrap_or_default();
            if uid.is_empty() {
                continue;
            }
            let name = c
                .labels
                .get(LABEL_CONTAINER_NAME)
                .cloned()
                .or_else(|| c.metadata.as_ref().map(|m| m.name.clone()))
                .unwrap_or_default();
            let state = match cri::ContainerState::try_from(c.state) {
                Ok(cri::ContainerState::ContainerCreated) => CState::Created,
                Ok(cri::ContainerState::ContainerRunning) => CState::Running,
                Ok(cri::ContainerState::ContainerExited) => CState::Exited,
                _ => CState::Unknown,
            };
            let mut o = ObservedContainer {
                id: c.id.clone(),
                sandbox_id: c.pod_sandbox_id.clone(),
                name,
                attempt: c.metadata.as_ref().map(|m| m.attempt).unwrap_or(0),
                state,
                exit_code: 0,
                reason: String::new(),
                message: String::new(),
                created_at: c.created_at,
                started_at: 0,
                finished_at: 0,
                image: c
                    .image
                    .as_ref()
                    .map(|i| i.image.clone())
                    .unwrap_or_default(),
                image_ref: c.image_ref.clone(),
            };
            if let Ok(s) = self
                .rt()
                .container_status(cri::ContainerStatusRequest {
                    container_id: c.id.clone(),
                    verbose: false,
                })
                .await
            {
                if let Some(s) = s.into_inner().status {
                    o.exit_code = s.exit_code;
                    o.reason = s.reason;
                    o.message = s.message;
                    o.started_at = s.started_at;
                    o.finished_at = s.finished_at;
                    if !s.image_ref.is_empty() {
                        o.image_ref = s.image_ref;
                    }
                }
            }
            pods.entry(uid).or_default().containers.push(o);
        }
        for p in pods.values_mut() {
            p.sort();
        }
        Ok(pods)
    }

    /// Stops and removes every container and sandbox in `obs`.
    pub async fn remove_all(&self, obs: &ObservedPod, timeout: i64) {
        for c in &obs.containers {
            if c.state != CState::Exited {
                let _ = self
                    .rt()
                    .stop_container(cri::StopContainerRequest {
                        container_id: c.id.clone(),
                        timeout,
                    })
                    .await;
            }
            let _ = self
                .rt()
                .remove_container(cri::RemoveContainerRequest {
                    container_id: c.id.clone(),
                })
                .await;
        }
        for s in &obs.sandboxes {
            let _ = self
                .rt()
                .stop_pod_sandbox(cri::StopPodSandboxRequest {
                    pod_sandbox_id: s.id.clone(),
                })
                .await;
            let _ = self
                .rt()
                .remove_pod_sandbox(cri::RemovePodSandboxRequest {
                    pod_sandbox_id: s.id.clone(),
                })
                .await;
            lock(&self.ips).remove(&s.id);
        }
    }
}
