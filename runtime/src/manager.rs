//! The daemon's state: sandboxes and containers as records on disk, and the operations the CRI
//! server calls. Records live under `--root` (`sandboxes/<id>.json`,
//! `containers/<id>/record.json`); what the shim knows (`spec.json`, `started.json`,
//! `exit.json`) lives under `--state` (`containers/<id>/`). Container state is derived from
//! those files every time, so a restarted daemon re-adopts running containers and sees exit
//! codes of containers that ended while it was away.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use nix::sys::signal::Signal;
use prost::Message;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tinykube_cri_proto::v1 as cri;

use crate::cgroup::{self, CgroupManager};
use crate::cni;
use crate::error::{IoContext, Result, RuntimeError};
use crate::image::ImageStore;
use crate::shim::{self, write_json, Exited, Started};
use crate::spec::{self, ContainerSpec, MountSpec};

/// Where things live and which helpers to call.
#[derive(Debug, Clone)]
pub struct Config {
    /// Persistent state: images, layers, records, container upper dirs.
    pub root: PathBuf,
    /// Runtime state: shim files and netns bind mounts.
    pub state: PathBuf,
    pub cni_conf_dir: PathBuf,
    pub cni_bin_dir: PathBuf,
    /// cgroupfs mount (`/sys/fs/cgroup`).
    pub cgroup_root: PathBuf,
    /// Parent cgroup of every pod (`tinykube`).
    pub cgroup_parent: String,
    /// Our own binary, run in `shim`, `pause` and `nsexec` modes.
    pub exe: PathBuf,
    /// How images are pulled: per-registry certificates, insecure registries.
    pub registry: crate::registry::RegistryConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SandboxRecord {
    id: String,
    config_pb: String,
    created_at: i64,
    ready: bool,
    pause_pid: i32,
    pause_start: u64,
    host_network: bool,
    netns: Option<PathBuf>,
    ip: String,
    cni_list: Option<Value>,
    cni_result: Option<Value>,
    ports: Vec<cni::PortMapping>,
    cgroup: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ContainerRecord {
    id: String,
    sandbox_id: String,
    config_pb: String,
    image_id: String,
    image_name: String,
    created_at: i64,
    log_path: PathBuf,
    cgroup: String,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn decode<M: Message + Default>(s: &str) -> M {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .ok()
        .and_then(|b| M::decode(b.as_slice()).ok())
        .unwrap_or_default()
}

/// Observed state of one container.
#[derive(Debug, Clone, PartialEq)]
pub enum Observed {
    Created,
    Running(Started),
    Exited(Option<Started>, Exited),
}

/// The runtime: image store, cgroups, and the sandbox/container records.
#[derive(Debug)]
pub struct Runtime {
    pub cfg: Config,
    pub images: ImageStore,
    pub cgroups: Box<dyn CgroupManager>,
    sandboxes: Mutex<HashMap<String, SandboxRecord>>,
    containers: Mutex<HashMap<String, ContainerRecord>>,
}

fn new_id() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

impl Runtime {
    /// Opens the runtime, loading records from disk and re-adopting sandboxes and containers.
    pub fn open(cfg: Config) -> Result<Arc<Runtime>> {
        for d in [
            cfg.root.join("sandboxes"),
            cfg.root.join("containers"),
            cfg.state.join("containers"),
            cfg.state.join("netns"),
        ] {
            fs::create_dir_all(&d).ctx("create dir", &d)?;
        }
        let images = ImageStore::open(cfg.root.join("images"))?;
        let cgroups = cgroup::detect(&cfg.cgroup_root);
        let mut sandboxes = HashMap::new();
        for e in fs::read_dir(cfg.root.join("sandboxes"))
            .ctx("read dir", cfg.root.join("sandboxes"))?
            .flatten()
        {
            if let Some(r) = shim::read_json::<SandboxRecord>(&e.path()) {
                sandboxes.insert(r.id.clone(), r);
            }
        }
        let mut containers = HashMap::new();
        for e in fs::read_dir(cfg.root.join("containers"))
            .ctx("read dir", cfg.root.join("containers"))?
            .flatten()
        {
            if let Some(r) = shim::read_json::<ContainerRecord>(&e.path().join("record.json")) {
                containers.insert(r.id.clone(), r);
            }
        }
        let rt = Runtime {
            cfg,
            images,
            cgroups,
            sandboxes: Mutex::new(sandboxes),
            containers: Mutex::new(containers),
        };
        rt.repair_netns();
        tracing::info!(
            sandboxes = rt.sandboxes.lock().map(|s| s.len()).unwrap_or(0),
            containers = rt.containers.lock().map(|s| s.len()).unwrap_or(0),
            cgroups = rt.cgroups.version(),
            "runtime state loaded"
        );
        Ok(Arc::new(rt))
    }

    /// A restarted daemon may run in another mount namespace where the netns bind mounts are
    /// not visible: bind them again from the live pause process.
    fn repair_netns(&self) {
        let sbs: Vec<SandboxRecord> = self
            .sandboxes
            .lock()
            .map(|s| s.values().cloned().collect())
            .unwrap_or_default();
        for sb in sbs {
            if let Some(ns) = &sb.netns {
                if sb.ready
                    && shim::process_alive(sb.pause_pid, sb.pause_start)
                    && crate::sys::fs_magic(ns) != Some(crate::sys::NSFS_MAGIC)
                {
                    if let Err(e) = bind_netns(sb.pause_pid, ns) {
                        tracing::warn!(sandbox = %sb.id, "re-binding netns: {e}");
                    }
                }
            }
        }
    }

    fn sandbox(&self, id: &str) -> Result<SandboxRecord> {
        let g = self.sandboxes.lock().unwrap_or_else(|e| e.into_inner());
        find_by_prefix(&g, id)
            .cloned()
            .ok_or_else(|| RuntimeError::SandboxNotFound(id.to_string()))
    }

    fn container(&self, id: &str) -> Result<ContainerRecord> {
        let g = self.containers.lock().unwrap_or_else(|e| e.into_inner());
        find_by_prefix(&g, id)
            .cloned()
            .ok_or_else(|| RuntimeError::ContainerNotFound(id.to_string()))
    }

    fn save_sandbox(&self, r: &SandboxRecord) -> Result<()> {
        write_json(
            &self
                .cfg
                .root
                .join("sandboxes")
                .join(format!("{}.json", r.id)),
            r,
        )?;
        self.sandboxes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(r.id.clone(), r.clone());
        Ok(())
    }

    fn state_dir(&self, id: &str) -> PathBuf {
        self.cfg.state.join("containers").join(id)
    }

    fn container_dir(&self, id: &str) -> PathBuf {
        self.cfg.root.join("containers").join(id)
    }

    /// Observed state of a container from the shim's files.
    pub fn observe(&self, id: &str) -> Observed {
        let dir = self.state_dir(id);
        let started: Option<Started> = shim::read_json(&dir.join("started.json"));
        if let Some(exit) = shim::read_json::<Exited>(&dir.join("exit.json")) {
            return Observed::Exited(started, exit);
        }
        match started {
            Some(s) if shim::process_alive(s.pid, s.proc_start) => Observed::Running(s),
            // The process ended and its shim is writing exit.json right now.
            Some(s) if shim::process_alive(s.shim_pid, s.shim_start) => Observed::Running(s),
            Some(s) => {
                // The container and its shim both died without recording an exit (e.g. both
                // were SIGKILLed): the code is unknown.
                Observed::Exited(
                    Some(s),
                    Exited {
                        exit_code: 255,
                        signal: None,
                        finished_at: shim::now_ns(),
                        oom_killed: false,
                        start_error: Some(
                            "container and shim vanished without an exit record".into(),
                        ),
                    },
                )
            }
            None => Observed::Created,
        }
    }

    // ---------------------------------------------------------------- sandboxes

    /// RunPodSandbox.
    pub async fn run_sandbox(&self, config: cri::PodSandboxConfig) -> Result<String> {
        let md = config.metadata.clone().ok_or_else(|| {
            RuntimeError::InvalidArgument("sandbox config has no metadata".into())
        })?;
        if md.name.is_empty() {
            return Err(RuntimeError::InvalidArgument(
                "sandbox metadata.name is empty".into(),
            ));
        }
        {
            let g = self.sandboxes.lock().unwrap_or_else(|e| e.into_inner());
            for s in g.values() {
                let c: cri::PodSandboxConfig = decode(&s.config_pb);
                if c.metadata.as_ref() == Some(&md) {
                    return Err(RuntimeError::NameInUse {
                        kind: "sandbox",
                        name: format!("{}_{}_{}_{}", md.name, md.namespace, md.uid, md.attempt),
                        id: s.id.clone(),
                    });
                }
            }
        }
        let id = new_id();
        let host_network = config
            .linux
            .as_ref()
            .and_then(|l| l.security_context.as_ref())
            .and_then(|s| s.namespace_options.as_ref())
            .is_some_and(|n| n.network == cri::NamespaceMode::Node as i32);
        let hostname = if config.hostname.is_empty() {
            md.name.clone()
        } else {
            config.hostname.clone()
        };
        let cgroup = format!("{}/pod-{}", self.cfg.cgroup_parent, &id[..16]);
        let ports: Vec<cni::PortMapping> = config
            .port_mappings
            .iter()
            .filter(|p| p.host_port > 0)
            .map(|p| cni::PortMapping {
                host_port: p.host_port,
                container_port: p.container_port,
                protocol: match cri::Protocol::try_from(p.protocol) {
                    Ok(cri::Protocol::Udp) => "udp",
                    Ok(cri::Protocol::Sctp) => "sctp",
                    _ => "tcp",
                }
                .into(),
                host_ip: p.host_ip.clone(),
            })
            .collect();
        let mut rec = SandboxRecord {
            id: id.clone(),
            config_pb: b64(&config.encode_to_vec()),
            created_at: shim::now_ns(),
            ready: false,
            pause_pid: 0,
            pause_start: 0,
            host_network,
            netns: None,
            ip: String::new(),
            cni_list: None,
            cni_result: None,
            ports,
            cgroup: cgroup.clone(),
        };
        match self.start_sandbox(&mut rec, &hostname, &md).await {
            Ok(()) => {
                rec.ready = true;
                self.save_sandbox(&rec)?;
                tracing::info!(sandbox = %id, pod = %format!("{}/{}", md.namespace, md.name), ip = %rec.ip, "sandbox ready");
                Ok(id)
            }
            Err(e) => {
                self.teardown_sandbox(&rec).await;
                Err(e)
            }
        }
    }

    async fn start_sandbox(
        &self,
        rec: &mut SandboxRecord,
        hostname: &str,
        md: &cri::PodSandboxMetadata,
    ) -> Result<()> {
        self.cgroups
            .create(&rec.cgroup, &cgroup::Limits::default())?;
        let mut cmd = tokio::process::Command::new(&self.cfg.exe);
        cmd.arg("pause").arg("--hostname").arg(hostname);
        if rec.host_network {
            cmd.arg("--host-network");
        }
        if sandbox_shares_pid(&decode::<cri::PodSandboxConfig>(&rec.config_pb)) {
            cmd.arg("--share-pid");
        }
        let (helper_pid, line) = spawn_helper(cmd).await?;
        // With a pod pid namespace the namespaces are held by the helper's child (PID 1
        // there), whose pid the helper answers with.
        let pid = match line.strip_prefix("ok") {
            Some(rest) => rest.trim().parse().unwrap_or(helper_pid),
            None => helper_pid,
        };
        rec.pause_pid = pid;
        rec.pause_start = shim::proc_start_time(pid).unwrap_or(0);
        if !line.starts_with("ok") {
            return Err(RuntimeError::Failed(format!("pause process: {line}")));
        }
        for p in self.cgroups.procs_files(&rec.cgroup) {
            let _ = fs::write(&p, pid.to_string());
        }
        // Record early so a crash from here on leaves something to clean up.
        self.save_sandbox(rec)?;
        if rec.host_network {
            return Ok(());
        }
        let ns = self.cfg.state.join("netns").join(&rec.id);
        bind_netns(pid, &ns)?;
        rec.netns = Some(ns.clone());
        let list = cni::load_config(&self.cfg.cni_conf_dir)?;
        rec.cni_list = Some(list.clone());
        self.save_sandbox(rec)?;
        let call = cni::Call {
            bin_dir: &self.cfg.cni_bin_dir,
            container_id: &rec.id,
            netns: &ns,
            ifname: "eth0",
            args: format!(
                "IgnoreUnknown=1;K8S_POD_NAMESPACE={};K8S_POD_NAME={};K8S_POD_INFRA_CONTAINER_ID={};K8S_POD_UID={}",
                md.namespace, md.name, rec.id, md.uid
            ),
            ports: &rec.ports,
        };
        let result = cni::add(&list, &call).await?;
        rec.ip = cni::result_ip(&result).unwrap_or_default();
        rec.cni_result = Some(result);
        Ok(())
    }

    /// Releases the network, kills the pause process and unmounts the netns. Idempotent.
    async fn teardown_sandbox(&self, rec: &SandboxRecord) {
        if let (Some(list), Some(ns)) = (&rec.cni_list, &rec.netns) {
            let md = decode::<cri::PodSandboxConfig>(&rec.config_pb)
                .metadata
                .unwrap_or_default();
            let call = cni::Call {
                bin_dir: &self.cfg.cni_bin_dir,
                container_id: &rec.id,
                netns: ns,
                ifname: "eth0",
                args: format!(
                    "IgnoreUnknown=1;K8S_POD_NAMESPACE={};K8S_POD_NAME={};K8S_POD_INFRA_CONTAINER_ID={};K8S_POD_UID={}",
                    md.namespace, md.name, rec.id, md.uid
                ),
                ports: &rec.ports,
            };
            if let Err(e) = cni::del(list, &call, rec.cni_result.as_ref()).await {
                tracing::warn!(sandbox = %rec.id, "cni del: {e}");
            }
        }
        if rec.pause_pid > 0 && shim::process_alive(rec.pause_pid, rec.pause_start) {
            shim::signal(rec.pause_pid, Signal::SIGTERM);
            wait_until(Duration::from_secs(5), || {
                !shim::process_alive(rec.pause_pid, rec.pause_start)
            })
            .await;
            if shim::process_alive(rec.pause_pid, rec.pause_start) {
                shim::signal(rec.pause_pid, Signal::SIGKILL);
                wait_until(Duration::from_secs(5), || {
                    !shim::process_alive(rec.pause_pid, rec.pause_start)
                })
                .await;
            }
        }
        let ns = self.cfg.state.join("netns").join(&rec.id);
        let _ = nix::mount::umount2(&ns, nix::mount::MntFlags::MNT_DETACH);
        let _ = fs::remove_file(&ns);
    }

    /// StopPodSandbox: stops every container, releases the network, kills the pause process.
    pub async fn stop_sandbox(&self, id: &str) -> Result<()> {
        let mut rec = match self.sandbox(id) {
            Ok(r) => r,
            Err(_) => return Ok(()),
        };
        for c in self.containers_of(&rec.id) {
            self.stop_container(&c, 0).await?;
        }
        self.teardown_sandbox(&rec).await;
        rec.ready = false;
        rec.cni_result = None;
        rec.cni_list = None;
        rec.netns = None;
        self.save_sandbox(&rec)?;
        Ok(())
    }

    fn containers_of(&self, sandbox: &str) -> Vec<String> {
        let g = self.containers.lock().unwrap_or_else(|e| e.into_inner());
        g.values()
            .filter(|c| c.sandbox_id == sandbox)
            .map(|c| c.id.clone())
            .collect()
    }

    /// RemovePodSandbox: stops and removes everything of the sandbox. Idempotent.
    pub async fn remove_sandbox(&self, id: &str) -> Result<()> {
        let rec = match self.sandbox(id) {
            Ok(r) => r,
            Err(_) => return Ok(()),
        };
        self.stop_sandbox(&rec.id).await?;
        for c in self.containers_of(&rec.id) {
            self.remove_container(&c).await?;
        }
        // Stragglers (processes of a shared pid namespace): kill whatever is left in the pod.
        for pid in self.cgroups.pids(&rec.cgroup) {
            shim::signal(pid, Signal::SIGKILL);
        }
        self.cgroups.remove(&rec.cgroup)?;
        let path = self
            .cfg
            .root
            .join("sandboxes")
            .join(format!("{}.json", rec.id));
        let _ = fs::remove_file(&path);
        self.sandboxes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&rec.id);
        Ok(())
    }

    fn sandbox_state(&self, r: &SandboxRecord) -> cri::PodSandboxState {
        if r.ready && shim::process_alive(r.pause_pid, r.pause_start) {
            cri::PodSandboxState::SandboxReady
        } else {
            cri::PodSandboxState::SandboxNotready
        }
    }

    /// PodSandboxStatus.
    pub fn sandbox_status(&self, id: &str, verbose: bool) -> Result<cri::PodSandboxStatusResponse> {
        let r = self.sandbox(id)?;
        let c: cri::PodSandboxConfig = decode(&r.config_pb);
        let ns_opts = c
            .linux
            .as_ref()
            .and_then(|l| l.security_context.as_ref())
            .and_then(|s| s.namespace_options.clone());
        let mut info = HashMap::new();
        if verbose {
            info.insert(
                "info".to_string(),
                serde_json::json!({"pid": r.pause_pid, "netns": r.netns, "cgroup": r.cgroup, "cni_result": r.cni_result}).to_string(),
            );
        }
        Ok(cri::PodSandboxStatusResponse {
            status: Some(cri::PodSandboxStatus {
                id: r.id.clone(),
                metadata: c.metadata.clone(),
                state: self.sandbox_state(&r) as i32,
                created_at: r.created_at,
                network: Some(cri::PodSandboxNetworkStatus {
                    ip: r.ip.clone(),
                    additional_ips: vec![],
                }),
                linux: Some(cri::LinuxPodSandboxStatus {
                    namespaces: Some(cri::Namespace { options: ns_opts }),
                }),
                labels: c.labels.clone(),
                annotations: c.annotations.clone(),
                runtime_handler: String::new(),
            }),
            info,
            containers_statuses: vec![],
            timestamp: shim::now_ns(),
        })
    }

    /// ListPodSandbox.
    pub fn list_sandboxes(&self, filter: Option<cri::PodSandboxFilter>) -> Vec<cri::PodSandbox> {
        let recs: Vec<SandboxRecord> = self
            .sandboxes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        let mut out: Vec<cri::PodSandbox> = recs
            .iter()
            .map(|r| {
                let c: cri::PodSandboxConfig = decode(&r.config_pb);
                cri::PodSandbox {
                    id: r.id.clone(),
                    metadata: c.metadata,
                    state: self.sandbox_state(r) as i32,
                    created_at: r.created_at,
                    labels: c.labels,
                    annotations: c.annotations,
                    runtime_handler: String::new(),
                }
            })
            .filter(|s| match &filter {
                None => true,
                Some(f) => {
                    (f.id.is_empty() || s.id.starts_with(&f.id))
                        && f.state.as_ref().is_none_or(|st| st.state == s.state)
                        && labels_match(&f.label_selector, &s.labels)
                }
            })
            .collect();
        out.sort_by_key(|s| s.created_at);
        out
    }

    // ---------------------------------------------------------------- containers

    /// CreateContainer.
    pub async fn create_container(
        &self,
        sandbox_id: &str,
        config: cri::ContainerConfig,
    ) -> Result<String> {
        let sb = self.sandbox(sandbox_id)?;
        if self.sandbox_state(&sb) != cri::PodSandboxState::SandboxReady {
            return Err(RuntimeError::InvalidArgument(format!(
                "pod sandbox {} is not ready",
                sb.id
            )));
        }
        let md = config.metadata.clone().ok_or_else(|| {
            RuntimeError::InvalidArgument("container config has no metadata".into())
        })?;
        if md.name.is_empty() {
            return Err(RuntimeError::InvalidArgument(
                "container metadata.name is empty".into(),
            ));
        }
        {
            let g = self.containers.lock().unwrap_or_else(|e| e.into_inner());
            for c in g.values().filter(|c| c.sandbox_id == sb.id) {
                let cc: cri::ContainerConfig = decode(&c.config_pb);
                if cc.metadata.as_ref() == Some(&md) {
                    return Err(RuntimeError::NameInUse {
                        kind: "container",
                        name: format!("{}_{}", md.name, md.attempt),
                        id: c.id.clone(),
                    });
                }
            }
        }
        let image_name = config
            .image
            .as_ref()
            .map(|i| i.image.clone())
            .unwrap_or_default();
        if image_name.is_empty() {
            return Err(RuntimeError::InvalidArgument(
                "container config has no image".into(),
            ));
        }
        let image = self
            .images
            .find(&image_name)?
            .ok_or_else(|| RuntimeError::ImageNotFound(image_name.clone()))?;
        for m in &config.mounts {
            if !m.container_path.starts_with('/') {
                return Err(RuntimeError::InvalidArgument(format!(
                    "mount container_path {:?} must be absolute",
                    m.container_path
                )));
            }
            if m.container_path.split('/').any(|c| c == "..") {
                return Err(RuntimeError::InvalidArgument(format!(
                    "mount container_path {:?} must not contain ..",
                    m.container_path
                )));
            }
            if !Path::new(&m.host_path).exists() {
                return Err(RuntimeError::InvalidArgument(format!(
                    "mount host_path {:?} does not exist",
                    m.host_path
                )));
            }
        }
        let sbc: cri::PodSandboxConfig = decode(&sb.config_pb);
        let sc = config
            .linux
            .as_ref()
            .and_then(|l| l.security_context.clone())
            .unwrap_or_default();
        let res = config
            .linux
            .as_ref()
            .and_then(|l| l.resources.clone())
            .unwrap_or_default();
        let id = new_id();
        let dir = self.container_dir(&id);
        let state = self.state_dir(&id);
        let result = async {
            // Image files the user lookup needs, from the top-most layer holding them.
            let read_img = |rel: &str| -> String {
                image
                    .layers
                    .iter()
                    .rev()
                    .find_map(|l| fs::read_to_string(self.images.layer_dir(l).join(rel)).ok())
                    .unwrap_or_default()
            };
            let (uid, gid) = spec::resolve_user(
                sc.run_as_user.as_ref().map(|v| v.value),
                &sc.run_as_username,
                sc.run_as_group.as_ref().map(|v| v.value),
                image.config.user.as_deref().filter(|u| !u.is_empty()),
                &read_img("etc/passwd"),
                &read_img("etc/group"),
            )?;
            let hostname = if sbc.hostname.is_empty() {
                sbc.metadata
                    .as_ref()
                    .map(|m| m.name.clone())
                    .unwrap_or_default()
            } else {
                sbc.hostname.clone()
            };
            let init = dir.join("init");
            for d in [
                dir.join("upper"),
                dir.join("work"),
                dir.join("rootfs"),
                init.join("etc"),
                state.clone(),
            ] {
                fs::create_dir_all(&d).ctx("create dir", &d)?;
            }
            fs::write(init.join("etc/hosts"), spec::hosts_file(&sb.ip, &hostname))
                .ctx("write", init.join("etc/hosts"))?;
            fs::write(init.join("etc/hostname"), format!("{hostname}\n"))
                .ctx("write", init.join("etc/hostname"))?;
            let resolv = match &sbc.dns_config {
                Some(d) if !d.servers.is_empty() || !d.searches.is_empty() => {
                    spec::resolv_conf(&d.servers, &d.searches, &d.options)
                }
                _ => fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
            };
            fs::write(init.join("etc/resolv.conf"), resolv)
                .ctx("write", init.join("etc/resolv.conf"))?;
            let mut lowers = vec![init];
            lowers.extend(image.layers.iter().rev().map(|l| self.images.layer_dir(l)));
            let env_pairs: Vec<(String, String)> = config
                .envs
                .iter()
                .map(|kv| (kv.key.clone(), kv.value.clone()))
                .collect();
            let mut env = spec::merge_env(
                image.config.env.as_deref().unwrap_or(&[]),
                &env_pairs,
                &hostname,
            );
            if !env.iter().any(|e| e.starts_with("HOME=")) {
                env.push(format!("HOME={}", if uid == 0 { "/root" } else { "/" }));
            }
            let cwd = if !config.working_dir.is_empty() {
                config.working_dir.clone()
            } else {
                image
                    .config
                    .working_dir
                    .clone()
                    .filter(|w| !w.is_empty())
                    .unwrap_or_else(|| "/".into())
            };
            let caps = sc.capabilities.clone().unwrap_or_default();
            let cgroup = format!("{}/{}", sb.cgroup, &id[..16]);
            let mut limits = cgroup::limits_from_cri(
                res.cpu_period,
                res.cpu_quota,
                res.cpu_shares,
                res.memory_limit_in_bytes,
            );
            if let Some(p) = res.unified.get("pids.max").and_then(|v| v.parse().ok()) {
                limits.pids = Some(p);
            }
            self.cgroups.create(&cgroup, &limits)?;
            let log_path = if !sbc.log_directory.is_empty() && !config.log_path.is_empty() {
                Path::new(&sbc.log_directory).join(&config.log_path)
            } else {
                dir.join("container.log")
            };
            let pid_namespace = container_pid_namespace(&sbc, sc.namespace_options.as_ref());
            let cspec = ContainerSpec {
                id: id.clone(),
                rootfs: dir.join("rootfs"),
                lowers,
                upper: dir.join("upper"),
                work: dir.join("work"),
                readonly_rootfs: sc.readonly_rootfs,
                args: spec::resolve_args(&image.config, &config.command, &config.args),
                env,
                cwd,
                uid,
                gid,
                groups: sc
                    .supplemental_groups
                    .iter()
                    .filter_map(|g| u32::try_from(*g).ok())
                    .collect(),
                mounts: config
                    .mounts
                    .iter()
                    .map(|m| MountSpec {
                        source: PathBuf::from(&m.host_path),
                        destination: m.container_path.clone(),
                        readonly: m.readonly,
                    })
                    .collect(),
                sandbox_pid: Some(sb.pause_pid),
                netns: sb.netns.clone(),
                share_pid: pid_namespace == PidNamespace::Pod,
                cgroup_procs: self.cgroups.procs_files(&cgroup),
                cgroup: cgroup.clone(),
                log_path: log_path.clone(),
                privileged: sc.privileged,
                capabilities: spec::capability_mask(
                    &caps.add_capabilities,
                    &caps.drop_capabilities,
                    sc.privileged,
                )?,
                no_new_privs: !sc.privileged,
                masked_paths: if sc.masked_paths.is_empty() {
                    spec::DEFAULT_MASKED_PATHS
                        .iter()
                        .map(|s| s.to_string())
                        .collect()
                } else {
                    sc.masked_paths.clone()
                },
                readonly_paths: if sc.readonly_paths.is_empty() {
                    spec::DEFAULT_READONLY_PATHS
                        .iter()
                        .map(|s| s.to_string())
                        .collect()
                } else {
                    sc.readonly_paths.clone()
                },
                tty: config.tty,
                stdin: config.stdin,
                stdin_once: config.stdin_once,
                host_pid: pid_namespace == PidNamespace::Node,
            };
            if cspec.args.is_empty() {
                return Err(RuntimeError::InvalidArgument(format!(
                    "image {image_name} has no Entrypoint/Cmd and the container gives no command"
                )));
            }
            write_json(&state.join("spec.json"), &cspec)?;
            let rec = ContainerRecord {
                id: id.clone(),
                sandbox_id: sb.id.clone(),
                config_pb: b64(&config.encode_to_vec()),
                image_id: image.id.clone(),
                image_name: image_name.clone(),
                created_at: shim::now_ns(),
                log_path,
                cgroup,
            };
            write_json(&dir.join("record.json"), &rec)?;
            self.containers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id.clone(), rec);
            Ok(())
        }
        .await;
        if let Err(e) = result {
            let _ = self.cgroups.remove(&format!("{}/{}", sb.cgroup, &id[..16]));
            let _ = fs::remove_dir_all(&dir);
            let _ = fs::remove_dir_all(&state);
            return Err(e);
        }
        Ok(id)
    }

    /// StartContainer: runs the shim, which starts the container and supervises it.
    pub async fn start_container(&self, id: &str) -> Result<()> {
        let c = self.container(id)?;
        if self.observe(&c.id) != Observed::Created {
            return Err(RuntimeError::BadState {
                id: c.id.clone(),
                state: "not in created state",
                what: "cannot start it",
            });
        }
        let mut cmd = tokio::process::Command::new(&self.cfg.exe);
        cmd.arg("shim").arg(self.state_dir(&c.id));
        let (_, line) = spawn_helper(cmd).await?;
        if let Some(msg) = line.strip_prefix("error: ") {
            return Err(RuntimeError::Failed(format!(
                "start container {}: {msg}",
                c.id
            )));
        }
        if !line.starts_with("ok") {
            return Err(RuntimeError::Failed(format!(
                "start container {}: shim said {line:?}",
                c.id
            )));
        }
        Ok(())
    }

    /// StopContainer: SIGTERM, then SIGKILL after `timeout` seconds. Idempotent.
    pub async fn stop_container(&self, id: &str, timeout: i64) -> Result<()> {
        let c = self.container(id)?;
        let Observed::Running(s) = self.observe(&c.id) else {
            return Ok(());
        };
        let exited = || !matches!(self.observe(&c.id), Observed::Running(_));
        if timeout > 0 {
            shim::signal(s.pid, Signal::SIGTERM);
            wait_until(Duration::from_secs(timeout as u64), exited).await;
        }
        if !exited() {
            shim::signal(s.pid, Signal::SIGKILL);
            // Processes outside the container's pid namespace (shared pid namespace).
            for pid in self.cgroups.pids(&c.cgroup) {
                shim::signal(pid, Signal::SIGKILL);
            }
        }
        wait_until(Duration::from_secs(10), exited).await;
        // The shim writes exit.json just after the process is reaped.
        let dir = self.state_dir(&c.id);
        wait_until(Duration::from_secs(5), || {
            dir.join("exit.json").exists() || !shim::process_alive(s.shim_pid, s.shim_start)
        })
        .await;
        Ok(())
    }

    /// RemoveContainer: kills it if running, removes its cgroup and files. Idempotent.
    pub async fn remove_container(&self, id: &str) -> Result<()> {
        let c = match self.container(id) {
            Ok(c) => c,
            Err(_) => return Ok(()),
        };
        self.stop_container(&c.id, 0).await?;
        for pid in self.cgroups.pids(&c.cgroup) {
            shim::signal(pid, Signal::SIGKILL);
        }
        self.cgroups.remove(&c.cgroup)?;
        let _ = fs::remove_dir_all(self.state_dir(&c.id));
        let dir = self.container_dir(&c.id);
        fs::remove_dir_all(&dir).ctx("remove", &dir)?;
        self.containers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&c.id);
        Ok(())
    }

    fn cri_state(o: &Observed) -> cri::ContainerState {
        match o {
            Observed::Created => cri::ContainerState::ContainerCreated,
            Observed::Running(_) => cri::ContainerState::ContainerRunning,
            Observed::Exited(..) => cri::ContainerState::ContainerExited,
        }
    }

    /// ListContainers.
    pub fn list_containers(&self, filter: Option<cri::ContainerFilter>) -> Vec<cri::Container> {
        let recs: Vec<ContainerRecord> = self
            .containers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        let mut out: Vec<cri::Container> = recs
            .iter()
            .map(|r| {
                let c: cri::ContainerConfig = decode(&r.config_pb);
                cri::Container {
                    id: r.id.clone(),
                    pod_sandbox_id: r.sandbox_id.clone(),
                    metadata: c.metadata,
                    image: c.image,
                    image_ref: r.image_id.clone(),
                    state: Self::cri_state(&self.observe(&r.id)) as i32,
                    created_at: r.created_at,
                    labels: c.labels,
                    annotations: c.annotations,
                    image_id: r.image_id.clone(),
                }
            })
            .filter(|c| match &filter {
                None => true,
                Some(f) => {
                    (f.id.is_empty() || c.id.starts_with(&f.id))
                        && (f.pod_sandbox_id.is_empty()
                            || c.pod_sandbox_id.starts_with(&f.pod_sandbox_id))
                        && f.state.as_ref().is_none_or(|s| s.state == c.state)
                        && labels_match(&f.label_selector, &c.labels)
                }
            })
            .collect();
        out.sort_by_key(|c| c.created_at);
        out
    }

    /// ContainerStatus.
    pub fn container_status(
        &self,
        id: &str,
        verbose: bool,
    ) -> Result<cri::ContainerStatusResponse> {
        let r = self.container(id)?;
        let c: cri::ContainerConfig = decode(&r.config_pb);
        let o = self.observe(&r.id);
        let (started_at, finished_at, exit_code, reason, message, pid) = match &o {
            Observed::Created => (0, 0, 0, String::new(), String::new(), 0),
            Observed::Running(s) => (s.started_at, 0, 0, String::new(), String::new(), s.pid),
            Observed::Exited(s, e) => {
                let (reason, message) = exit_reason(e);
                (
                    s.as_ref().map_or(0, |s| s.started_at),
                    e.finished_at,
                    e.exit_code,
                    reason,
                    message,
                    0,
                )
            }
        };
        let mut info = HashMap::new();
        if verbose {
            info.insert(
                "info".to_string(),
                serde_json::json!({"pid": pid, "cgroup": r.cgroup}).to_string(),
            );
        }
        let res = c.linux.as_ref().and_then(|l| l.resources.clone());
        Ok(cri::ContainerStatusResponse {
            status: Some(cri::ContainerStatus {
                id: r.id.clone(),
                metadata: c.metadata.clone(),
                state: Self::cri_state(&o) as i32,
                created_at: r.created_at,
                started_at,
                finished_at,
                exit_code,
                image: c.image.clone(),
                image_ref: r.image_id.clone(),
                reason,
                message,
                labels: c.labels.clone(),
                annotations: c.annotations.clone(),
                mounts: c.mounts.clone(),
                log_path: r.log_path.display().to_string(),
                resources: res.map(|l| cri::ContainerResources { linux: Some(l) }),
                image_id: r.image_id.clone(),
                user: None,
            }),
            info,
        })
    }

    /// ExecSync: runs `cmd` in the container, capturing output (capped at 16 MiB each).
    pub async fn exec_sync(
        &self,
        id: &str,
        cmd: Vec<String>,
        timeout: i64,
    ) -> Result<(Vec<u8>, Vec<u8>, i32)> {
        let c = self.container(id)?;
        if !matches!(self.observe(&c.id), Observed::Running(_)) {
            return Err(RuntimeError::BadState {
                id: c.id.clone(),
                state: "not running",
                what: "cannot exec in it",
            });
        }
        if cmd.is_empty() {
            return Err(RuntimeError::InvalidArgument(
                "exec command is empty".into(),
            ));
        }
        let child = tokio::process::Command::new(&self.cfg.exe)
            .arg("nsexec")
            .arg(self.state_dir(&c.id))
            .arg("--")
            .args(&cmd)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| RuntimeError::Failed(format!("run nsexec: {e}")))?;
        let fut = child.wait_with_output();
        let out = if timeout > 0 {
            tokio::time::timeout(Duration::from_secs(timeout as u64), fut)
                .await
                .map_err(|_| {
                    RuntimeError::Failed(format!("exec in {} timed out after {timeout}s", c.id))
                })?
        } else {
            fut.await
        }
        .map_err(|e| RuntimeError::Failed(format!("exec: {e}")))?;
        const CAP: usize = 16 << 20;
        let mut stdout = out.stdout;
        let mut stderr = out.stderr;
        stdout.truncate(CAP);
        stderr.truncate(CAP);
        Ok((
            stdout,
            stderr,
            out.status.code().unwrap_or(128 + nix_signal(&out.status)),
        ))
    }

    /// What a streaming Exec or Attach needs of a running container: its full id, the state
    /// directory (the `nsexec` helper's spec, the shim's attach socket), and the pid of its
    /// init process (whose `/proc/<pid>/root` holds the container's own `/dev/pts`). A stopped
    /// container fails with "<id> is not running: <what>".
    pub fn running_container(
        &self,
        id: &str,
        what: &'static str,
    ) -> Result<(String, PathBuf, i32)> {
        let c = self.container(id)?;
        match self.observe(&c.id) {
            Observed::Running(started) => Ok((c.id.clone(), self.state_dir(&c.id), started.pid)),
            _ => Err(RuntimeError::BadState {
                id: c.id.clone(),
                state: "not running",
                what,
            }),
        }
    }

    /// Where a PortForward connects: the full id of a ready sandbox and the network namespace
    /// to connect in (`None` for a host-network pod, whose ports are the node's own).
    pub fn port_forward_target(&self, id: &str) -> Result<(String, Option<PathBuf>)> {
        let sb = self.sandbox(id)?;
        if self.sandbox_state(&sb) != cri::PodSandboxState::SandboxReady {
            return Err(RuntimeError::BadState {
                id: sb.id.clone(),
                state: "not ready",
                what: "cannot forward ports to it",
            });
        }
        let netns = (!sb.host_network).then(|| {
            sb.netns
                .clone()
                .unwrap_or_else(|| PathBuf::from(format!("/proc/{}/ns/net", sb.pause_pid)))
        });
        Ok((sb.id.clone(), netns))
    }

    /// ContainerStats.
    pub fn container_stats(&self, id: &str) -> Result<cri::ContainerStats> {
        let r = self.container(id)?;
        let c: cri::ContainerConfig = decode(&r.config_pb);
        let u = self.cgroups.usage(&r.cgroup);
        let now = shim::now_ns();
        let limit = c
            .linux
            .as_ref()
            .and_then(|l| l.resources.as_ref())
            .map_or(0, |r| r.memory_limit_in_bytes);
        let (bytes, inodes) = {
            let mut n = 0;
            (
                dir_usage(&self.container_dir(&r.id).join("upper"), &mut n),
                n,
            )
        };
        Ok(cri::ContainerStats {
            attributes: Some(cri::ContainerAttributes {
                id: r.id.clone(),
                metadata: c.metadata,
                labels: c.labels,
                annotations: c.annotations,
            }),
            cpu: Some(cri::CpuUsage {
                timestamp: now,
                usage_core_nano_seconds: Some(cri::UInt64Value {
                    value: u.cpu_usage_ns,
                }),
                usage_nano_cores: None,
            }),
            memory: Some(cri::MemoryUsage {
                timestamp: now,
                working_set_bytes: Some(cri::UInt64Value {
                    value: u.memory_working_set,
                }),
                available_bytes: (limit > 0).then(|| cri::UInt64Value {
                    value: (limit as u64).saturating_sub(u.memory_working_set),
                }),
                usage_bytes: Some(cri::UInt64Value {
                    value: u.memory_usage,
                }),
                rss_bytes: None,
                page_faults: None,
                major_page_faults: None,
            }),
            writable_layer: Some(cri::FilesystemUsage {
                timestamp: now,
                fs_id: Some(cri::FilesystemIdentifier {
                    mountpoint: self
                        .container_dir(&r.id)
                        .join("upper")
                        .display()
                        .to_string(),
                }),
                used_bytes: Some(cri::UInt64Value { value: bytes }),
                inodes_used: Some(cri::UInt64Value { value: inodes }),
            }),
        })
    }

    /// ListContainerStats.
    pub fn list_container_stats(
        &self,
        filter: Option<cri::ContainerStatsFilter>,
    ) -> Vec<cri::ContainerStats> {
        let f = filter.unwrap_or_default();
        self.list_containers(Some(cri::ContainerFilter {
            id: f.id,
            state: Some(cri::ContainerStateValue {
                state: cri::ContainerState::ContainerRunning as i32,
            }),
            pod_sandbox_id: f.pod_sandbox_id,
            label_selector: f.label_selector,
        }))
        .iter()
        .filter_map(|c| self.container_stats(&c.id).ok())
        .collect()
    }

    /// ReopenContainerLog: tells the shim to reopen the log file.
    pub fn reopen_log(&self, id: &str) -> Result<()> {
        let c = self.container(id)?;
        match self.observe(&c.id) {
            Observed::Running(s) => {
                shim::signal(s.shim_pid, Signal::SIGUSR1);
                Ok(())
            }
            _ => Err(RuntimeError::BadState {
                id: c.id,
                state: "not running",
                what: "cannot reopen its log",
            }),
        }
    }

    /// Whether a CNI config is present (the NetworkReady condition).
    pub fn network_ready(&self) -> std::result::Result<(), String> {
        cni::load_config(&self.cfg.cni_conf_dir)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Image ids used by containers (an image in use cannot be removed).
    pub fn images_in_use(&self) -> Vec<String> {
        self.containers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|c| c.image_id.clone())
            .collect()
    }
}

fn nix_signal(s: &std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    s.signal().unwrap_or(127)
}

fn dir_usage(p: &Path, inodes: &mut u64) -> u64 {
    let Ok(rd) = fs::read_dir(p) else { return 0 };
    let mut total = 0;
    for e in rd.flatten() {
        *inodes += 1;
        let Ok(md) = e.path().symlink_metadata() else {
            continue;
        };
        total += if md.is_dir() {
            dir_usage(&e.path(), inodes)
        } else {
            md.len()
        };
    }
    total
}

/// Reason and message of an exited container, as CRI expects (`OOMKilled`, `Completed`,
/// `Error`, `StartError`).
pub fn exit_reason(e: &Exited) -> (String, String) {
    if let Some(msg) = &e.start_error {
        return ("StartError".into(), msg.clone());
    }
    if e.oom_killed {
        return ("OOMKilled".into(), String::new());
    }
    if e.exit_code == 0 {
        ("Completed".into(), String::new())
    } else {
        ("Error".into(), String::new())
    }
}

/// All selector labels present with equal values.
pub fn labels_match(selector: &HashMap<String, String>, labels: &HashMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn find_by_prefix<'a, T>(map: &'a HashMap<String, T>, id: &str) -> Option<&'a T> {
    if id.is_empty() {
        return None;
    }
    if let Some(v) = map.get(id) {
        return Some(v);
    }
    let m: Vec<&T> = map
        .iter()
        .filter(|(k, _)| k.starts_with(id))
        .map(|(_, v)| v)
        .collect();
    (m.len() == 1).then(|| m[0])
}

async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Spawns a helper mode of our binary and reads its first stdout line (bounded); the helper
/// is reaped in the background.
async fn spawn_helper(mut cmd: tokio::process::Command) -> Result<(i32, String)> {
    use tokio::io::AsyncBufReadExt;
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit());
    let mut child = cmd
        .spawn()
        .map_err(|e| RuntimeError::Failed(format!("spawn helper: {e}")))?;
    let pid = child.id().unwrap_or(0) as i32;
    let stdout = child.stdout.take();
    let line = async {
        let mut line = String::new();
        if let Some(out) = stdout {
            let _ = tokio::io::BufReader::new(out).read_line(&mut line).await;
        }
        line.trim().to_string()
    };
    let line = tokio::time::timeout(Duration::from_secs(30), line)
        .await
        .unwrap_or_else(|_| "error: helper did not answer within 30s".into());
    tokio::spawn(async move {
        let _ = child.wait().await;
    });
    Ok((pid, line))
}

/// The pid namespace mode the sandbox's config asks for, if it names one.
fn sandbox_pid_mode(config: &cri::PodSandboxConfig) -> Option<i32> {
    config
        .linux
        .as_ref()
        .and_then(|l| l.security_context.as_ref())
        .and_then(|s| s.namespace_options.as_ref())
        .map(|n| n.pid)
}

/// Whether the sandbox asks for one pid namespace shared by its containers (CRI pid mode POD,
/// shareProcessNamespace), held by the pause process as its PID 1.
fn sandbox_shares_pid(config: &cri::PodSandboxConfig) -> bool {
    sandbox_pid_mode(config) == Some(cri::NamespaceMode::Pod as i32)
}

/// Which pid namespace a container's processes live in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PidNamespace {
    /// A new one of its own, the container's process as PID 1 (the default).
    Container,
    /// Its pod's, held by the pause process (shareProcessNamespace).
    Pod,
    /// The node's (hostPID).
    Node,
}

/// The pid namespace of a container, from its own namespace options and its sandbox's. Only
/// a sandbox started with a pod pid namespace has one to join (the pause's namespace otherwise
/// is the node's or its own); the node's is used when the container asks for it or, giving no
/// options, belongs to a hostPID sandbox, as the kubelet sets both for hostPID pods.
pub fn container_pid_namespace(
    sandbox: &cri::PodSandboxConfig,
    container: Option<&cri::NamespaceOption>,
) -> PidNamespace {
    let mode = container
        .map(|n| n.pid)
        .or_else(|| sandbox_pid_mode(sandbox));
    match mode {
        Some(m) if m == cri::NamespaceMode::Node as i32 => PidNamespace::Node,
        Some(m) if m == cri::NamespaceMode::Pod as i32 && sandbox_shares_pid(sandbox) => {
            PidNamespace::Pod
        }
        _ => PidNamespace::Container,
    }
}

/// Bind-mounts the network namespace of `pid` at `path`, so it outlives the process.
fn bind_netns(pid: i32, path: &Path) -> Result<()> {
    if let Some(p) = path.parent() {
        fs::create_dir_all(p).ctx("create dir", p)?;
    }
    if !path.exists() {
        fs::File::create(path).ctx("create", path)?;
    }
    nix::mount::mount(
        Some(Path::new(&format!("/proc/{pid}/ns/net"))),
        path,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|source| RuntimeError::Sys {
        what: format!("bind netns to {}", path.display()),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_reasons() {
        let e = |code, oom, err: Option<&str>| Exited {
            exit_code: code,
            signal: None,
            finished_at: 1,
            oom_killed: oom,
            start_error: err.map(Into::into),
        };
        assert_eq!(exit_reason(&e(0, false, None)).0, "Completed");
        assert_eq!(exit_reason(&e(1, false, None)).0, "Error");
        assert_eq!(exit_reason(&e(137, true, None)).0, "OOMKilled");
        assert_eq!(
            exit_reason(&e(128, false, Some("boom"))),
            ("StartError".into(), "boom".into())
        );
    }

    #[test]
    fn pid_namespaces_follow_the_container_then_the_sandbox() {
        let ns = |pid: cri::NamespaceMode| cri::NamespaceOption {
            pid: pid as i32,
            ..Default::default()
        };
        let sandbox = |opt: Option<cri::NamespaceOption>| cri::PodSandboxConfig {
            linux: Some(cri::LinuxPodSandboxConfig {
                security_context: Some(cri::LinuxSandboxSecurityContext {
                    namespace_options: opt,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        use cri::NamespaceMode::{Container, Node, Pod};
        let cases = [
            (sandbox(Some(ns(Pod))), Some(ns(Pod)), PidNamespace::Pod),
            (sandbox(Some(ns(Pod))), None, PidNamespace::Pod),
            (
                sandbox(Some(ns(Pod))),
                Some(ns(Container)),
                PidNamespace::Container,
            ),
            // A pod namespace asked for in a sandbox that has none: the container's own.
            (
                sandbox(Some(ns(Container))),
                Some(ns(Pod)),
                PidNamespace::Container,
            ),
            (
                sandbox(Some(ns(Node))),
                Some(ns(Pod)),
                PidNamespace::Container,
            ),
            (sandbox(None), Some(ns(Pod)), PidNamespace::Container),
            (
                cri::PodSandboxConfig::default(),
                None,
                PidNamespace::Container,
            ),
            // hostPID: the kubelet says NODE on the sandbox and on every container.
            (sandbox(Some(ns(Node))), Some(ns(Node)), PidNamespace::Node),
            (sandbox(Some(ns(Node))), None, PidNamespace::Node),
            (sandbox(None), Some(ns(Node)), PidNamespace::Node),
            (
                sandbox(Some(ns(Node))),
                Some(ns(Container)),
                PidNamespace::Container,
            ),
        ];
        for (i, (sb, ctr, want)) in cases.iter().enumerate() {
            assert_eq!(container_pid_namespace(sb, ctr.as_ref()), *want, "case {i}");
        }
    }

    #[test]
    fn labels_and_prefixes() {
        let l: HashMap<String, String> = [("a".to_string(), "1".to_string())].into();
        assert!(labels_match(&HashMap::new(), &l));
        assert!(labels_match(&l, &l));
        assert!(!labels_match(
            &[("a".to_string(), "2".to_string())].into(),
            &l
        ));
        let m: HashMap<String, i32> = [("abc1".to_string(), 1), ("abd2".to_string(), 2)].into();
        assert_eq!(find_by_prefix(&m, "abc"), Some(&1));
        assert_eq!(find_by_prefix(&m, "ab"), None);
        assert_eq!(find_by_prefix(&m, ""), None);
    }
}
