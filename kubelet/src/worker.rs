//! One worker per pod: observe the runtime, apply [`compute_pod_actions`], run probes, back
//! off crashing containers, PATCH status, and on deletion run preStop, stop with the grace
//! period, tear the sandbox down and finish the deletion in the apiserver.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, Event, EventSource, ObjectReference, Pod, PodStatus, Secret, Service,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions};
use serde_json::json;
use tinykube_cri_proto::v1 as cri;
use tokio::sync::Notify;
use tracing::Instrument;

use crate::actions::{compute_pod_actions, Action, CState, ObservedPod, SyncContext};
use crate::metrics::SyncOperation;
use crate::podspec::{self, EnvSources};
use crate::probes::{self, Kind, ProbeState};
use crate::status::{compute_pod_status, StatusContext};
use crate::{is_static, lock, pod_key, volumes, Kubelet};

/// Upstream's CrashLoopBackOff: 10 s doubling to 5 min, reset after 10 min of running.
pub const BACKOFF_INITIAL: Duration = Duration::from_secs(10);
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);
pub const BACKOFF_RESET: Duration = Duration::from_secs(600);

/// A running worker.
pub struct WorkerHandle {
    pub notify: Arc<Notify>,
}

#[derive(Debug, Clone)]
struct Backoff {
    delay: Duration,
    last: Instant,
}

/// The per-pod state a worker keeps in memory.
struct Worker {
    k: Arc<Kubelet>,
    uid: String,
    key: String,
    backoff: HashMap<String, Backoff>,
    /// Container name -> (reason, message) while it cannot start.
    waiting: HashMap<String, (String, String)>,
    probes: HashMap<(String, Kind), ProbeState>,
    last_status: Option<PodStatus>,
    last_patched: Option<serde_json::Value>,
    last_pod: Option<Pod>,
    start_time: Timestamp,
    volumes_refreshed: Option<Instant>,
    backoff_event: HashMap<String, Instant>,
    mirror_uid: Option<String>,
    timing: SyncTiming,
}

/// What a worker remembers for `kubelet_pod_start_duration_seconds` and
/// `kubelet_pod_worker_duration_seconds`.
struct SyncTiming {
    /// When this kubelet first saw the pod (its worker started).
    first_seen: Instant,
    /// Whether the first relist found the pod already running (re-adopted after a kubelet
    /// restart): its start was not ours to time.
    adopted: Option<bool>,
    start_reported: bool,
    /// The pod's resourceVersion at the previous sync.
    last_version: Option<String>,
}

impl SyncTiming {
    fn new() -> SyncTiming {
        SyncTiming {
            first_seen: Instant::now(),
            adopted: None,
            start_reported: false,
            last_version: None,
        }
    }
}

impl Kubelet {
    /// Starts a worker for every desired pod that has none.
    pub fn reconcile_workers(self: &Arc<Self>) {
        let mut uids: Vec<String> = lock(&self.api_pods).keys().cloned().collect();
        uids.extend(lock(&self.static_pods).keys().cloned());
        for uid in uids {
            self.ensure_worker(&uid);
        }
    }

    /// Wakes the worker of `uid`.
    pub fn notify(&self, uid: &str) {
        if let Some(w) = lock(&self.workers).get(uid) {
            w.notify.notify_one();
        }
    }

    fn ensure_worker(self: &Arc<Self>, uid: &str) {
        let mut workers = lock(&self.workers);
        if workers.contains_key(uid) {
            return;
        }
        let notify = Arc::new(Notify::new());
        workers.insert(
            uid.to_string(),
            WorkerHandle {
                notify: notify.clone(),
            },
        );
        let key = self
            .desired(uid)
            .map(|p| pod_key(&p))
            .unwrap_or_else(|| format!("uid {uid}"));
        let w = Worker {
            k: self.clone(),
            uid: uid.to_string(),
            key: key.clone(),
            backoff: HashMap::new(),
            waiting: HashMap::new(),
            probes: HashMap::new(),
            last_status: None,
            last_patched: None,
            last_pod: None,
            start_time: Timestamp::now(),
            volumes_refreshed: None,
            backoff_event: HashMap::new(),
            mirror_uid: None,
            timing: SyncTiming::new(),
        };
        let span = tracing::info_span!("pod", pod = %key);
        tokio::spawn(w.run(notify).instrument(span));
    }
}

/// Every 2 s: pods the runtime holds that no source wants get a worker that stops them, and
/// the running pod and container gauges follow the runtime.
pub async fn housekeeping(k: Arc<Kubelet>) {
    loop {
        tokio::select! {
            _ = k.shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
        let synced = k.api_synced.load(Ordering::Relaxed) && k.files_synced.load(Ordering::Relaxed);
        match k.cri.relist().await {
            Ok(pods) => {
                k.pod_metrics.set_running(&pods);
                if !synced {
                    continue;
                }
                for uid in pods.keys() {
                    if k.desired(uid).is_none() {
                        k.ensure_worker(uid);
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "relisting the runtime failed"),
        }
    }
}

fn now_time() -> Time {
    Time(Timestamp::from_second(Timestamp::now().as_second()).unwrap_or(Timestamp::UNIX_EPOCH))
}

impl Worker {
    async fn run(mut self, notify: Arc<Notify>) {
        loop {
            if self.k.shutdown.is_cancelled() {
                return;
            }
            let synced = self.k.api_synced.load(Ordering::Relaxed)
                && self.k.files_synced.load(Ordering::Relaxed);
            let desired = self.k.desired(&self.uid);
            let done = match desired {
                Some(p) if p.metadata.deletion_timestamp.is_some() => {
                    self.terminate(&p, true).await;
                    true
                }
                Some(p) => {
                    self.last_pod = Some(p.clone());
                    let version = p.metadata.resource_version.clone().unwrap_or_default();
                    let operation = SyncOperation::classify(
                        self.timing.last_version.as_deref(),
                        Some(&version),
                    );
                    let started = Instant::now();
                    if let Err(e) = self.sync(&p).await {
                        tracing::warn!(error = %e, "sync failed");
                    }
                    self.k
                        .pod_metrics
                        .observe_pod_worker(operation, started.elapsed());
                    self.timing.last_version = Some(version);
                    false
                }
                None if synced => {
                    let p = self.last_pod.clone();
                    match p {
                        Some(p) => self.terminate(&p, false).await,
                        None => self.terminate(&Pod::default(), false).await,
                    }
                    true
                }
                None => false,
            };
            if done {
                lock(&self.k.workers).remove(&self.uid);
                lock(&self.k.pod_status).remove(&self.uid);
                // A pod re-added meanwhile gets a new worker.
                if self
                    .k
                    .desired(&self.uid)
                    .is_some_and(|p| p.metadata.deletion_timestamp.is_none())
                {
                    self.k.ensure_worker(&self.uid);
                }
                return;
            }
            tokio::select! {
                _ = self.k.shutdown.cancelled() => return,
                _ = notify.notified() => {}
                _ = tokio::time::sleep(self.k.config.sync_frequency) => {}
            }
        }
    }

    fn event(&self, pod: &Pod, container: Option<&str>, kind: &str, reason: &str, message: String) {
        if kind == "Warning" {
            tracing::warn!(reason, %message, "event");
        } else {
            tracing::info!(reason, %message, "event");
        }
        let Some(client) = self.k.client.clone() else {
            return;
        };
        let ns = pod
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let name = pod.metadata.name.clone().unwrap_or_default();
        let field_path = container.map(|c| {
            let init = pod
                .spec
                .as_ref()
                .and_then(|s| s.init_containers.as_ref())
                .is_some_and(|i| i.iter().any(|x| x.name == c));
            format!(
                "spec.{}{{{c}}}",
                if init { "initContainers" } else { "containers" }
            )
        });
        let now = now_time();
        let ev = Event {
            metadata: ObjectMeta {
                name: Some(format!("{name}.{:x}", Timestamp::now().as_nanosecond())),
                namespace: Some(ns.clone()),
                ..Default::default()
            },
            involved_object: ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                name: Some(name),
                namespace: Some(ns.clone()),
                uid: if is_static(pod) {
                    None
                } else {
                    pod.metadata.uid.clone()
                },
                field_path,
                ..Default::default()
            },
            reason: Some(reason.into()),
            message: Some(message),
            type_: Some(kind.into()),
            source: Some(EventSource {
                component: Some("kubelet".into()),
                host: Some(self.k.node_name.clone()),
            }),
            reporting_component: Some("kubelet".into()),
            reporting_instance: Some(self.k.node_name.clone()),
            first_timestamp: Some(now.clone()),
            last_timestamp: Some(now),
            event_time: None::<MicroTime>,
            count: Some(1),
            ..Default::default()
        };
        tokio::spawn(async move {
            let api: Api<Event> = Api::namespaced(client, &ns);
            let _ = api.create(&PostParams::default(), &ev).await;
        });
    }

    fn container<'a>(pod: &'a Pod, name: &str) -> Option<&'a Container> {
        let spec = pod.spec.as_ref()?;
        spec.containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
            .find(|c| c.name == name)
    }

    fn sandbox_config(&self, pod: &Pod, attempt: u32) -> cri::PodSandboxConfig {
        let m = &pod.metadata;
        let spec = pod.spec.clone().unwrap_or_default();
        let host_net = spec.host_network == Some(true);
        let name = m.name.clone().unwrap_or_default();
        let ns = m.namespace.clone().unwrap_or_else(|| "default".into());
        let hostname = if host_net {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .unwrap_or_default()
                .trim()
                .to_string()
        } else {
            spec.hostname
                .clone()
                .unwrap_or_else(|| name.chars().take(63).collect())
        };
        let ports = spec
            .containers
            .iter()
            .flat_map(|c| c.ports.iter().flatten())
            .filter(|p| p.host_port.unwrap_or(0) > 0)
            .map(|p| cri::PortMapping {
                protocol: match p.protocol.as_deref() {
                    Some("UDP") => cri::Protocol::Udp,
                    Some("SCTP") => cri::Protocol::Sctp,
                    _ => cri::Protocol::Tcp,
                } as i32,
                container_port: p.container_port,
                host_port: p.host_port.unwrap_or(0),
                host_ip: p.host_ip.clone().unwrap_or_default(),
            })
            .collect();
        cri::PodSandboxConfig {
            metadata: Some(cri::PodSandboxMetadata {
                name: name.clone(),
                uid: self.uid.clone(),
                namespace: ns.clone(),
                attempt,
            }),
            hostname,
            log_directory: self
                .k
                .config
                .pod_logs_dir
                .join(format!("{ns}_{name}_{}", self.uid))
                .display()
                .to_string(),
            dns_config: None,
            port_mappings: ports,
            labels: podspec::pod_labels(pod),
            annotations: m
                .annotations
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect(),
            linux: Some(cri::LinuxPodSandboxConfig {
                cgroup_parent: String::new(),
                security_context: Some(cri::LinuxSandboxSecurityContext {
                    namespace_options: Some(podspec::namespace_options(
                        host_net,
                        spec.share_process_namespace == Some(true),
                        spec.host_pid == Some(true),
                    )),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        }
    }

    /// Fetches the secrets, config maps and services the pod refers to.
    async fn env_sources(&self, pod: &Pod, obs: &ObservedPod) -> EnvSources {
        let host_network = pod.spec.as_ref().and_then(|s| s.host_network) == Some(true);
        let mut src = EnvSources {
            // status.podIP of a hostNetwork pod is the node's IP, as in its status.
            pod_ip: if host_network {
                self.k.node_ip.clone()
            } else {
                obs.sandbox().and_then(|s| s.ip.clone()).unwrap_or_default()
            },
            node_name: self.k.node_name.clone(),
            host_ip: self.k.node_ip.clone(),
            ..Default::default()
        };
        let Some(client) = self.k.client.clone() else {
            return src;
        };
        let ns = pod
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let spec = pod.spec.clone().unwrap_or_default();
        let mut secrets = HashSet::new();
        let mut cms = HashSet::new();
        for c in spec
            .containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
        {
            for e in c.env.iter().flatten() {
                if let Some(vf) = &e.value_from {
                    if let Some(r) = &vf.secret_key_ref {
                        secrets.insert(r.name.clone());
                    }
                    if let Some(r) = &vf.config_map_key_ref {
                        cms.insert(r.name.clone());
                    }
                }
            }
            for f in c.env_from.iter().flatten() {
                if let Some(r) = &f.secret_ref {
                    secrets.insert(r.name.clone());
                }
                if let Some(r) = &f.config_map_ref {
                    cms.insert(r.name.clone());
                }
            }
        }
        for v in spec.volumes.iter().flatten() {
            if let Some(s) = v.secret.as_ref().and_then(|s| s.secret_name.clone()) {
                secrets.insert(s);
            }
            if let Some(c) = &v.config_map {
                cms.insert(c.name.clone());
            }
        }
        let sapi: Api<Secret> = Api::namespaced(client.clone(), &ns);
        for s in secrets {
            if let Ok(Some(obj)) = sapi.get_opt(&s).await {
                src.secrets.insert(s, obj);
            }
        }
        let capi: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
        for c in cms {
            if let Ok(Some(obj)) = capi.get_opt(&c).await {
                src.config_maps.insert(c, obj);
            }
        }
        let svc: Api<Service> = Api::namespaced(client, &ns);
        if let Ok(list) = svc.list(&ListParams::default()).await {
            src.services = list.items;
        }
        src
    }

    async fn pull(&mut self, pod: &Pod, c: &Container) -> Result<String, (String, String)> {
        let image = c.image.clone().unwrap_or_default();
        let spec = cri::ImageSpec {
            image: image.clone(),
            ..Default::default()
        };
        let present = self
            .k
            .cri
            .img()
            .image_status(cri::ImageStatusRequest {
                image: Some(spec.clone()),
                verbose: false,
            })
            .await
            .ok()
            .and_then(|r| r.into_inner().image)
            .map(|i| i.id);
        if !podspec::must_pull(c, present.is_some()) {
            return match present {
                Some(id) => {
                    self.event(
                        pod,
                        Some(&c.name),
                        "Normal",
                        "Pulled",
                        format!("Container image \"{image}\" already present on machine"),
                    );
                    Ok(id)
                }
                None => {
                    let msg = format!(
                        "Container image \"{image}\" is not present with pull policy of Never"
                    );
                    self.event(
                        pod,
                        Some(&c.name),
                        "Warning",
                        "ErrImageNeverPull",
                        msg.clone(),
                    );
                    Err(("ErrImageNeverPull".into(), msg))
                }
            };
        }
        self.event(
            pod,
            Some(&c.name),
            "Normal",
            "Pulling",
            format!("Pulling image \"{image}\""),
        );
        let started = Instant::now();
        match self
            .k
            .cri
            .img()
            .pull_image(cri::PullImageRequest {
                image: Some(spec),
                auth: None,
                sandbox_config: None,
            })
            .await
        {
            Ok(r) => {
                self.event(
                    pod,
                    Some(&c.name),
                    "Normal",
                    "Pulled",
                    format!(
                        "Successfully pulled image \"{image}\" in {:?}",
                        started.elapsed()
                    ),
                );
                Ok(r.into_inner().image_ref)
            }
            Err(e) => {
                let msg = format!("Failed to pull image \"{image}\": {}", e.message());
                self.event(pod, Some(&c.name), "Warning", "Failed", msg.clone());
                Err(("ErrImagePull".into(), msg))
            }
        }
    }

    async fn refresh_volumes(
        &mut self,
        pod: &Pod,
        src: &EnvSources,
    ) -> crate::Result<HashMap<String, std::path::PathBuf>> {
        let r =
            volumes::setup_volumes(&self.k.config.root_dir, pod, &src.secrets, &src.config_maps);
        self.volumes_refreshed = Some(Instant::now());
        r
    }

    /// Records why container `name` could not start: a `Failed` event, and the reason its
    /// status shows while it waits for the next attempt.
    fn start_failed(&mut self, pod: &Pod, name: &str, reason: &str, message: String) {
        self.event(
            pod,
            Some(name),
            "Warning",
            "Failed",
            format!("Error: {message}"),
        );
        self.waiting.insert(name.into(), (reason.into(), message));
    }

    async fn start_container(&mut self, pod: &Pod, obs: &ObservedPod, name: &str, attempt: u32) {
        let Some(c) = Self::container(pod, name).cloned() else {
            return;
        };
        let Some(sb) = obs.sandbox().filter(|s| s.ready).cloned() else {
            return;
        };
        let image_ref = match self.pull(pod, &c).await {
            Ok(r) => r,
            Err(w) => {
                self.waiting.insert(name.into(), w);
                return;
            }
        };
        let src = self.env_sources(pod, obs).await;
        let env = match podspec::container_env(pod, &c, &src) {
            Ok(e) => e,
            Err(msg) => {
                self.start_failed(pod, name, "CreateContainerConfigError", msg);
                return;
            }
        };
        let paths = match self.refresh_volumes(pod, &src).await {
            Ok(p) => p,
            Err(e) => {
                self.event(pod, Some(name), "Warning", "FailedMount", e.to_string());
                self.waiting
                    .insert(name.into(), ("ContainerCreating".into(), e.to_string()));
                return;
            }
        };
        let mut labels = podspec::pod_labels(pod);
        labels.retain(|k, _| k.starts_with("io.kubernetes."));
        labels.insert(podspec::LABEL_CONTAINER_NAME.into(), name.into());
        let config = cri::ContainerConfig {
            metadata: Some(cri::ContainerMetadata {
                name: name.into(),
                attempt,
            }),
            image: Some(cri::ImageSpec {
                image: image_ref,
                user_specified_image: c.image.clone().unwrap_or_default(),
                ..Default::default()
            }),
            command: c.command.clone().unwrap_or_default(),
            args: c.args.clone().unwrap_or_default(),
            working_dir: c.working_dir.clone().unwrap_or_default(),
            envs: env
                .into_iter()
                .map(|(key, value)| cri::KeyValue { key, value })
                .collect(),
            mounts: volumes::container_mounts(pod, &c, &paths),
            devices: vec![],
            labels,
            annotations: HashMap::from([(
                "io.kubernetes.container.restartCount".to_string(),
                attempt.to_string(),
            )]),
            log_path: format!("{name}/{attempt}.log"),
            stdin: c.stdin.unwrap_or(false),
            stdin_once: c.stdin_once.unwrap_or(false),
            tty: c.tty.unwrap_or(false),
            linux: Some(cri::LinuxContainerConfig {
                resources: Some(podspec::linux_resources(&c)),
                security_context: Some(podspec::security_context(pod, &c)),
            }),
        };
        let sandbox_config = self.sandbox_config(pod, sb.attempt);
        let rt = self.k.cri.rt();
        let id = match rt
            .clone()
            .create_container(cri::CreateContainerRequest {
                pod_sandbox_id: sb.id.clone(),
                config: Some(config),
                sandbox_config: Some(sandbox_config),
            })
            .await
        {
            Ok(r) => r.into_inner().container_id,
            Err(e) => {
                self.start_failed(pod, name, "CreateContainerError", e.message().into());
                return;
            }
        };
        self.event(
            pod,
            Some(name),
            "Normal",
            "Created",
            format!("Created container {name}"),
        );
        if let Err(e) = rt
            .clone()
            .start_container(cri::StartContainerRequest {
                container_id: id.clone(),
            })
            .await
        {
            self.start_failed(pod, name, "RunContainerError", e.message().into());
            return;
        }
        self.waiting.remove(name);
        self.event(
            pod,
            Some(name),
            "Normal",
            "Started",
            format!("Started container {name}"),
        );
        // New instance: fresh probe states.
        self.probes.retain(|(n, _), _| n != name);
        if let Some(h) = c.lifecycle.as_ref().and_then(|l| l.post_start.as_ref()) {
            if let Some(e) = &h.exec {
                let _ = rt
                    .clone()
                    .exec_sync(cri::ExecSyncRequest {
                        container_id: id,
                        cmd: e.command.clone().unwrap_or_default(),
                        timeout: 30,
                    })
                    .await;
            }
        }
    }

    /// Restart decisions: which exited containers are still backing off; records restarts.
    fn backoff_context(&mut self, pod: &Pod, obs: &ObservedPod) -> HashMap<String, Duration> {
        let now = Instant::now();
        let mut out = HashMap::new();
        let spec = pod.spec.clone().unwrap_or_default();
        for c in spec
            .containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
        {
            let Some(o) = obs.latest(&c.name) else {
                continue;
            };
            if o.state != CState::Exited {
                continue;
            }
            // A container that ran 10 minutes before exiting starts over at 10 s.
            if o.finished_at > 0
                && o.started_at > 0
                && (o.finished_at - o.started_at) as u128 > BACKOFF_RESET.as_nanos()
            {
                self.backoff.remove(&c.name);
            }
            if let Some(b) = self.backoff.get(&c.name) {
                let until = b.last + b.delay;
                if until > now {
                    out.insert(c.name.clone(), until - now);
                }
            }
        }
        out
    }

    fn record_restart(&mut self, name: &str) {
        let now = Instant::now();
        let delay = match self.backoff.get(name) {
            None => BACKOFF_INITIAL,
            Some(b) => (b.delay * 2).min(BACKOFF_MAX),
        };
        self.backoff
            .insert(name.into(), Backoff { delay, last: now });
    }

    async fn run_probes(&mut self, pod: &Pod, obs: &ObservedPod) -> HashSet<String> {
        let mut unhealthy = HashSet::new();
        let now = Instant::now();
        let ip = obs
            .sandbox()
            .and_then(|s| s.ip.clone())
            .unwrap_or_else(|| self.k.node_ip.clone());
        let spec = pod.spec.clone().unwrap_or_default();
        for c in &spec.containers {
            let Some(o) = obs.latest(&c.name).filter(|o| o.state == CState::Running) else {
                self.probes.retain(|(n, _), _| n != &c.name);
                continue;
            };
            let startup_done = match &c.startup_probe {
                Some(_) => self
                    .probes
                    .get(&(c.name.clone(), Kind::Startup))
                    .is_some_and(|s| s.ok && s.container_id == o.id),
                None => true,
            };
            let list = [
                (Kind::Startup, &c.startup_probe),
                (Kind::Liveness, &c.liveness_probe),
                (Kind::Readiness, &c.readiness_probe),
            ];
            for (kind, probe) in list {
                let Some(probe) = probe else { continue };
                if kind != Kind::Startup && !startup_done {
                    continue;
                }
                if kind == Kind::Startup && startup_done {
                    continue;
                }
                let key = (c.name.clone(), kind);
                let st = self
                    .probes
                    .entry(key.clone())
                    .or_insert_with(|| ProbeState::new(kind, &o.id, probe, now));
                if st.container_id != o.id {
                    *st = ProbeState::new(kind, &o.id, probe, now);
                }
                if st.next > now {
                    if !st.ok && kind != Kind::Readiness && st.failures > 0 {
                        unhealthy.insert(c.name.clone());
                    }
                    continue;
                }
                let (ok, msg) = probes::run(&self.k.cri, probe, c, &o.id, &ip).await;
                let Some(st) = self.probes.get_mut(&key) else {
                    continue;
                };
                st.record(probe, ok, msg.clone(), Instant::now());
                if !ok {
                    let what = match kind {
                        Kind::Liveness => "Liveness",
                        Kind::Readiness => "Readiness",
                        Kind::Startup => "Startup",
                    };
                    self.event(
                        pod,
                        Some(&c.name),
                        "Warning",
                        "Unhealthy",
                        format!("{what} probe failed: {msg}"),
                    );
                }
                let st = &self.probes[&key];
                if !st.ok
                    && kind == Kind::Liveness
                    && st.failures >= probe.failure_threshold.unwrap_or(3).max(1)
                {
                    unhealthy.insert(c.name.clone());
                }
                if kind == Kind::Startup
                    && !st.ok
                    && st.failures >= probe.failure_threshold.unwrap_or(3).max(1)
                {
                    unhealthy.insert(c.name.clone());
                }
            }
        }
        unhealthy
    }

    async fn sync(&mut self, pod: &Pod) -> crate::Result<()> {
        let mut obs = self.k.cri.relist_pod(&self.uid).await?;
        if self.timing.adopted.is_none() {
            self.timing.adopted = Some(obs.sandbox().is_some_and(|s| s.ready));
        }
        let unhealthy = self.run_probes(pod, &obs).await;
        let ctx = SyncContext {
            backoff: self.backoff_context(pod, &obs),
            unhealthy,
        };
        let actions = compute_pod_actions(pod, &obs, &ctx);
        if !actions.is_empty() {
            tracing::debug!(?actions, "sync");
        }
        let grace = pod
            .spec
            .as_ref()
            .and_then(|s| s.termination_grace_period_seconds)
            .unwrap_or(30);
        for a in actions {
            match a {
                Action::KillPod => {
                    for c in obs.running().cloned().collect::<Vec<_>>() {
                        self.kill_container(pod, &c.id, &c.name, grace, "sandbox changed")
                            .await;
                    }
                    for s in obs.sandboxes.iter().filter(|s| s.ready) {
                        let _ = self
                            .k
                            .cri
                            .rt()
                            .stop_pod_sandbox(cri::StopPodSandboxRequest {
                                pod_sandbox_id: s.id.clone(),
                            })
                            .await;
                    }
                }
                Action::CreateSandbox { attempt } => {
                    let src = self.env_sources(pod, &obs).await;
                    if let Err(e) = self.refresh_volumes(pod, &src).await {
                        self.event(pod, None, "Warning", "FailedMount", e.to_string());
                        break;
                    }
                    let config = self.sandbox_config(pod, attempt);
                    match self
                        .k
                        .cri
                        .rt()
                        .run_pod_sandbox(cri::RunPodSandboxRequest {
                            config: Some(config),
                            runtime_handler: String::new(),
                        })
                        .await
                    {
                        Ok(_) => {}
                        Err(e) => {
                            self.event(
                                pod,
                                None,
                                "Warning",
                                "FailedCreatePodSandBox",
                                format!("Failed to create pod sandbox: {}", e.message()),
                            );
                            break;
                        }
                    }
                    obs = self.k.cri.relist_pod(&self.uid).await?;
                }
                Action::StartContainer { name, attempt, .. } => {
                    if attempt > 0 && obs.latest(&name).is_some_and(|o| o.state == CState::Exited) {
                        self.record_restart(&name);
                    }
                    self.start_container(pod, &obs, &name, attempt).await;
                }
                Action::KillContainer { id, name, reason } => {
                    self.event(
                        pod,
                        Some(&name),
                        "Normal",
                        "Killing",
                        format!("Container {name} {reason}, will be restarted"),
                    );
                    self.kill_container(pod, &id, &name, grace, &reason).await;
                    self.probes.retain(|(n, _), _| n != &name);
                    obs = self.k.cri.relist_pod(&self.uid).await?;
                }
                Action::BackOff { name, .. } => {
                    let b = self
                        .backoff
                        .get(&name)
                        .map(|b| b.delay)
                        .unwrap_or(BACKOFF_INITIAL);
                    let msg = format!(
                        "back-off {}s restarting failed container={name} pod={}_{}({})",
                        b.as_secs(),
                        pod.metadata.name.as_deref().unwrap_or(""),
                        pod.metadata.namespace.as_deref().unwrap_or(""),
                        self.uid
                    );
                    self.waiting
                        .insert(name.clone(), ("CrashLoopBackOff".into(), msg));
                    let last = self.backoff_event.get(&name).copied();
                    if last.is_none_or(|l| l.elapsed() >= b) {
                        self.backoff_event.insert(name.clone(), Instant::now());
                        self.event(
                            pod,
                            Some(&name),
                            "Warning",
                            "BackOff",
                            "Back-off restarting failed container".into(),
                        );
                    }
                }
                Action::StopSandbox { id } => {
                    let _ = self
                        .k
                        .cri
                        .rt()
                        .stop_pod_sandbox(cri::StopPodSandboxRequest { pod_sandbox_id: id })
                        .await;
                }
                Action::RemoveContainer { id } => {
                    let _ = self
                        .k
                        .cri
                        .rt()
                        .remove_container(cri::RemoveContainerRequest { container_id: id })
                        .await;
                }
            }
        }
        // Secret and configMap volumes follow their objects.
        if self
            .volumes_refreshed
            .is_none_or(|t| t.elapsed() > Duration::from_secs(5))
            && obs.sandbox().is_some_and(|s| s.ready)
        {
            let src = self.env_sources(pod, &obs).await;
            let _ = self.refresh_volumes(pod, &src).await;
        }
        let obs = self.k.cri.relist_pod(&self.uid).await?;
        // Waiting reasons only hold while the container has not started since.
        let keep: HashSet<String> = self
            .waiting
            .keys()
            .filter(|n| obs.latest(n).is_none_or(|o| o.state == CState::Exited))
            .cloned()
            .collect();
        self.waiting.retain(|n, _| keep.contains(n));
        self.report_status(pod, &obs).await;
        Ok(())
    }

    async fn report_status(&mut self, pod: &Pod, obs: &ObservedPod) {
        let mut p = pod.clone();
        if self.last_status.is_some() {
            p.status = self.last_status.clone();
        }
        let mut ctx = StatusContext {
            host_ip: self.k.node_ip.clone(),
            waiting: self.waiting.clone(),
            start_time: Some(self.start_time),
            ..Default::default()
        };
        for ((name, kind), st) in &self.probes {
            match kind {
                Kind::Readiness => {
                    ctx.ready.insert(name.clone(), st.ok);
                }
                Kind::Startup => {
                    ctx.started.insert(name.clone(), st.ok);
                }
                Kind::Liveness => {}
            }
        }
        for c in pod.spec.iter().flat_map(|s| s.containers.iter()) {
            if c.readiness_probe.is_some() && !ctx.ready.contains_key(&c.name) {
                ctx.ready.insert(c.name.clone(), false);
            }
            if c.startup_probe.is_some() && !ctx.started.contains_key(&c.name) {
                ctx.started.insert(c.name.clone(), false);
            }
        }
        let status = compute_pod_status(&p, obs, &ctx);
        if status.phase.as_deref() == Some("Running") && !self.timing.start_reported {
            self.timing.start_reported = true;
            if self.timing.adopted == Some(false) {
                self.k
                    .pod_metrics
                    .observe_pod_start(self.timing.first_seen.elapsed());
            }
        }
        self.last_status = Some(status.clone());
        let mut shown = pod.clone();
        shown.status = Some(status.clone());
        lock(&self.k.pod_status).insert(self.uid.clone(), shown);
        let body = json!({ "status": status });
        let Some(client) = self.k.client.clone() else {
            return;
        };
        let ns = pod
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let name = pod.metadata.name.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(client, &ns);
        if is_static(pod) {
            // Static pods report through their mirror pod, when it exists; a recreated
            // mirror pod gets the status again.
            match api.get_opt(&name).await {
                Ok(Some(m))
                    if m.metadata
                        .annotations
                        .as_ref()
                        .is_some_and(|a| a.contains_key(crate::MIRROR_ANNOTATION)) =>
                {
                    if m.metadata.uid != self.mirror_uid {
                        self.mirror_uid = m.metadata.uid.clone();
                        self.last_patched = None;
                    }
                }
                _ => return,
            }
        }
        if self.last_patched.as_ref() == Some(&body) {
            return;
        }
        match api
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&body))
            .await
        {
            Ok(_) => self.last_patched = Some(body),
            Err(e) => tracing::debug!(error = %e, "status patch failed"),
        }
    }

    async fn kill_container(&mut self, pod: &Pod, id: &str, name: &str, grace: i64, _reason: &str) {
        let started = Instant::now();
        if let Some(h) = Self::container(pod, name)
            .and_then(|c| c.lifecycle.as_ref())
            .and_then(|l| l.pre_stop.as_ref())
        {
            let run = async {
                if let Some(e) = &h.exec {
                    let _ = self
                        .k
                        .cri
                        .rt()
                        .exec_sync(cri::ExecSyncRequest {
                            container_id: id.into(),
                            cmd: e.command.clone().unwrap_or_default(),
                            timeout: grace.max(1),
                        })
                        .await;
                } else if let Some(hg) = &h.http_get {
                    let ip = self
                        .k
                        .cri
                        .relist_pod(&self.uid)
                        .await
                        .ok()
                        .and_then(|o| o.sandbox().and_then(|s| s.ip.clone()))
                        .unwrap_or_default();
                    let probe = k8s_openapi::api::core::v1::Probe {
                        http_get: Some(hg.clone()),
                        timeout_seconds: Some(grace.max(1) as i32),
                        ..Default::default()
                    };
                    if let Some(c) = Self::container(pod, name) {
                        let _ = probes::run(&self.k.cri, &probe, c, id, &ip).await;
                    }
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(grace.max(1) as u64), run).await;
        }
        let left = (grace - started.elapsed().as_secs() as i64).max(0);
        let _ = self
            .k
            .cri
            .rt()
            .stop_container(cri::StopContainerRequest {
                container_id: id.into(),
                timeout: left,
            })
            .await;
    }

    /// Stops everything of the pod (preStop, SIGTERM, grace, SIGKILL), removes sandbox and
    /// volumes, and for a deleted API pod finishes the deletion.
    async fn terminate(&mut self, pod: &Pod, deleted: bool) {
        let obs = match self.k.cri.relist_pod(&self.uid).await {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(error = %e, "relist before termination failed");
                ObservedPod::default()
            }
        };
        let grace = pod
            .metadata
            .deletion_grace_period_seconds
            .or_else(|| {
                pod.spec
                    .as_ref()
                    .and_then(|s| s.termination_grace_period_seconds)
            })
            .unwrap_or(30);
        let running: Vec<_> = obs.running().cloned().collect();
        let mut tasks = Vec::new();
        for c in running {
            self.event(
                pod,
                Some(&c.name),
                "Normal",
                "Killing",
                format!("Stopping container {}", c.name),
            );
            tasks.push((c.id.clone(), c.name.clone()));
        }
        // All containers stop in parallel, each with the whole grace period.
        let futs = tasks.iter().map(|(id, name)| {
            let k = self.k.clone();
            let pod = pod.clone();
            let uid = self.uid.clone();
            let key = self.key.clone();
            let (id, name) = (id.clone(), name.clone());
            async move {
                let mut w = Worker {
                    k,
                    uid,
                    key,
                    backoff: HashMap::new(),
                    waiting: HashMap::new(),
                    probes: HashMap::new(),
                    last_status: None,
                    last_patched: None,
                    last_pod: None,
                    start_time: Timestamp::now(),
                    volumes_refreshed: None,
                    backoff_event: HashMap::new(),
                    mirror_uid: None,
                    timing: SyncTiming::new(),
                };
                w.kill_container(&pod, &id, &name, grace, "deleted").await;
            }
        });
        futures::future::join_all(futs).await;
        self.k.cri.remove_all(&obs, 0).await;
        volumes::remove_pod_dir(&self.k.config.root_dir, &self.uid);
        let _ = std::fs::remove_dir_all(self.k.config.pod_logs_dir.join(format!(
            "{}_{}_{}",
            pod.metadata.namespace.as_deref().unwrap_or("default"),
            pod.metadata.name.as_deref().unwrap_or(""),
            self.uid
        )));
        tracing::info!(key = %self.key, "pod stopped and cleaned up");
        if deleted && !is_static(pod) {
            if let Some(client) = self.k.client.clone() {
                let api: Api<Pod> = Api::namespaced(
                    client,
                    pod.metadata.namespace.as_deref().unwrap_or("default"),
                );
                let dp = DeleteParams {
                    grace_period_seconds: Some(0),
                    preconditions: Some(Preconditions {
                        uid: Some(self.uid.clone()),
                        resource_version: None,
                    }),
                    ..Default::default()
                };
                if let Err(e) = api
                    .delete(pod.metadata.name.as_deref().unwrap_or(""), &dp)
                    .await
                {
                    tracing::warn!(error = %e, "finishing the deletion failed");
                }
            }
        }
    }
}
