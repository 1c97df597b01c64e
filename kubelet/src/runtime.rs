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
    ips: Mutex<SandboxIps>,
}

/// The IPs of sandboxes already asked with PodSandboxStatus, so a relist asks each sandbox
/// once. The runtime lists a sandbox (NotReady, no IP) while its network is still being set
/// up, so "no IP" is only final for a ready sandbox (host network); an IP, once assigned,
/// never changes.
#[derive(Debug, Default)]
pub struct SandboxIps {
    known: HashMap<String, Option<String>>,
}

impl SandboxIps {
    /// The final IP of sandbox `id` (`Some(None)`: it has none), or `None` if it must be asked.
    pub fn known(&self, id: &str) -> Option<Option<String>> {
        self.known.get(id).cloned()
    }

    /// Takes in the PodSandboxStatus answer for sandbox `id` and returns the sandbox's IP as
    /// of that answer.
    pub fn learn(&mut self, id: &str, status: &cri::PodSandboxStatus) -> Option<String> {
        let ip = status
            .network
            .as_ref()
            .map(|n| n.ip.clone())
            .filter(|ip| !ip.is_empty());
        let ready = status.state == cri::PodSandboxState::SandboxReady as i32;
        if ip.is_some() || ready {
            self.known.insert(id.to_string(), ip.clone());
        }
        ip
    }

    pub fn forget(&mut self, id: &str) {
        self.known.remove(id);
    }
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
            ips: Mutex::new(SandboxIps::default()),
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
        if let Some(ip) = lock(&self.ips).known(id) {
            return ip;
        }
        let status = self
            .rt()
            .pod_sandbox_status(cri::PodSandboxStatusRequest {
                pod_sandbox_id: id.into(),
                verbose: false,
            })
            .await
            .ok()?
            .into_inner()
            .status?;
        lock(&self.ips).learn(id, &status)
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
            lock(&self.ips).forget(&s.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const READY: cri::PodSandboxState = cri::PodSandboxState::SandboxReady;
    const NOT_READY: cri::PodSandboxState = cri::PodSandboxState::SandboxNotready;

    fn answer(state: cri::PodSandboxState, ip: &str) -> cri::PodSandboxStatus {
        cri::PodSandboxStatus {
            id: "sb1".into(),
            state: state as i32,
            network: Some(cri::PodSandboxNetworkStatus {
                ip: ip.into(),
                additional_ips: vec![],
            }),
            ..Default::default()
        }
    }

    /// What one relist reports for the sandbox, as `Cri::sandbox_ip` resolves it: the known
    /// IP, else the runtime's current answer.
    fn relist(ips: &mut SandboxIps, runtime_now: &cri::PodSandboxStatus) -> Option<String> {
        match ips.known("sb1") {
            Some(ip) => ip,
            None => ips.learn("sb1", runtime_now),
        }
    }

    #[test]
    fn a_sandbox_ip_is_kept_only_once_final() {
        let ip = Some("10.244.7.3");
        // (what the runtime answers at each successive relist, the IP each relist reports)
        let cases = [
            (
                "listed while its network is set up, then ready",
                vec![answer(NOT_READY, ""), answer(READY, "10.244.7.3")],
                vec![None, ip],
            ),
            (
                "listed twice before the network is up",
                vec![
                    answer(NOT_READY, ""),
                    answer(NOT_READY, ""),
                    answer(READY, "10.244.7.3"),
                    answer(READY, "10.244.7.3"),
                ],
                vec![None, None, ip, ip],
            ),
            (
                "ready from the start, then stopped: the IP stays",
                vec![answer(READY, "10.244.7.3"), answer(NOT_READY, "")],
                vec![ip, ip],
            ),
            (
                "host network: ready without an IP is final",
                vec![answer(READY, ""), answer(READY, "10.244.7.9")],
                vec![None, None],
            ),
            (
                "stopped sandbox that had an IP",
                vec![answer(NOT_READY, "10.244.7.3"), answer(NOT_READY, "")],
                vec![ip, ip],
            ),
        ];
        for (name, answers, want) in cases {
            let mut ips = SandboxIps::default();
            let got: Vec<Option<String>> = answers.iter().map(|a| relist(&mut ips, a)).collect();
            let want: Vec<Option<String>> = want.iter().map(|w| w.map(str::to_string)).collect();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn a_removed_sandbox_is_asked_again() {
        let mut ips = SandboxIps::default();
        assert_eq!(
            relist(&mut ips, &answer(READY, "10.244.7.3")).as_deref(),
            Some("10.244.7.3")
        );
        ips.forget("sb1");
        assert_eq!(ips.known("sb1"), None);
    }
}
