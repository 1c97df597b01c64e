//! The docker-like CLI for people on the node: `run`, `ps`, `exec`, `logs`, `inspect`, `stop`,
//! `rm`, `images`, `pull`, all talking to the daemon over CRI on its socket, as any CRI client
//! would (and, for `exec -it` / `run -it`, to the streaming server its rpcs point to, see
//! [`stream`]). A `run` is a one-container pod: the sandbox carries the network (`-p` becomes a
//! hostPort through the CNI portmap plugin), the container the rest. What the CLI needs to
//! show later (name, ports, command, `--rm`) rides along as labels and annotations.
//!
//! Flag parsing and output formatting are pure ([`parse`], [`format`]); this module only calls
//! CRI and prints.

pub mod format;
pub mod parse;
pub mod stream;

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::process::CommandExt;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use tinykube_cri_proto::v1 as cri;
use tinykube_cri_proto::v1::image_service_client::ImageServiceClient;
use tinykube_cri_proto::v1::runtime_service_client::RuntimeServiceClient;
use tonic::transport::Channel;

use crate::image::ExecConfig;
use crate::shim::now_ns;
use format::State;
use parse::{Publish, Volume};

/// Label holding the container name on pods and containers made by `run`.
pub const LABEL_NAME: &str = "io.tinykube.cli.name";
/// Annotation: the published ports (JSON).
pub const ANNOTATION_PORTS: &str = "io.tinykube.cli.ports";
/// Annotation: the command line the container runs (JSON array).
pub const ANNOTATION_COMMAND: &str = "io.tinykube.cli.command";
/// Annotation: `--rm` was given.
pub const ANNOTATION_AUTOREMOVE: &str = "io.tinykube.cli.autoremove";
/// The CRI namespace of pods made by `run` (the kubelet's pods never use it).
pub const POD_NAMESPACE: &str = "tinykube-cli";

/// `tinykube-runtime run` flags (the subset of `docker run` we serve).
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Run in the background and print the container id.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Name of the container (and its pod); a random one if not given.
    #[arg(long)]
    pub name: Option<String>,
    /// Set an environment variable: KEY=VALUE, or KEY to pass the CLI's own value.
    #[arg(short = 'e', long = "env", value_name = "KEY[=VALUE]")]
    pub env: Vec<String>,
    /// Publish a container port on the node: [IP:]HOSTPORT:CONTAINERPORT[/tcp|udp|sctp].
    #[arg(short = 'p', long = "publish", value_name = "[IP:]HOST:CONTAINER")]
    pub publish: Vec<String>,
    /// Bind-mount a host directory: HOSTDIR:CONTAINERDIR[:ro].
    #[arg(short = 'v', long = "volume", value_name = "HOSTDIR:CTRDIR[:ro]")]
    pub volume: Vec<String>,
    /// Memory limit, e.g. 500m or 1g.
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Number of CPUs, e.g. 0.5 (a CFS quota of 50000 per 100000 period).
    #[arg(long)]
    pub cpus: Option<String>,
    /// Remove the container and its pod when it exits.
    #[arg(long)]
    pub rm: bool,
    /// Override the image's entrypoint.
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Working directory inside the container.
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// Keep the container's stdin open and, unless -d, pass ours to it.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Give the container a terminal (with -i: ours, in raw mode, for a shell).
    #[arg(short = 't', long)]
    pub tty: bool,
    /// The image to run.
    pub image: String,
    /// Command and arguments (replace the image's Cmd).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// The CRI clients of one CLI invocation.
pub struct Clients {
    pub rt: RuntimeServiceClient<Channel>,
    pub img: ImageServiceClient<Channel>,
}

/// Connects to the daemon's socket, with the hint Docker gives when it is not running.
pub async fn connect(endpoint: &str) -> anyhow::Result<Clients> {
    let path = tinykube_cri_proto::socket_path(endpoint).to_path_buf();
    let ch = tokio::time::timeout(
        Duration::from_secs(10),
        tinykube_cri_proto::connect(endpoint),
    )
    .await
    .map_err(|_| anyhow!("connecting to the runtime at {} timed out", path.display()))?
    .map_err(|e| {
        anyhow!(
            "cannot connect to the runtime at unix://{}: {e}. Is tinykube-runtime running?",
            path.display()
        )
    })?;
    Ok(Clients {
        rt: RuntimeServiceClient::new(ch.clone()),
        img: ImageServiceClient::new(ch),
    })
}

fn grpc(e: tonic::Status) -> anyhow::Error {
    anyhow!("{}", e.message())
}

/// The error of a failed `run`: Docker's exit codes (125 the run itself failed, 126 the
/// command cannot be invoked, 127 it was not found).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct RunError {
    pub code: u8,
    pub message: String,
}

fn run_error(code: u8, e: impl std::fmt::Display) -> anyhow::Error {
    RunError {
        code,
        message: e.to_string(),
    }
    .into()
}

/// The image's config as the daemon reports it (verbose ImageStatus).
async fn image_config(c: &mut Clients, image: &str) -> anyhow::Result<Option<ExecConfig>> {
    let r = c
        .img
        .image_status(cri::ImageStatusRequest {
            image: Some(cri::ImageSpec {
                image: image.into(),
                ..Default::default()
            }),
            verbose: true,
        })
        .await
        .map_err(grpc)?
        .into_inner();
    if r.image.is_none() {
        return Ok(None);
    }
    let info: serde_json::Value = r
        .info
        .get("info")
        .and_then(|i| serde_json::from_str(i).ok())
        .unwrap_or_default();
    Ok(Some(
        serde_json::from_value(info["imageSpec"]["config"].clone()).unwrap_or_default(),
    ))
}

/// `run`: pulls the image if absent, creates a one-container pod, starts it; then prints the
/// id (`-d`) or streams its output and returns its exit code.
pub async fn run(c: &mut Clients, args: RunArgs) -> anyhow::Result<i32> {
    if !args.detach {
        stream::check_terminal(args.interactive, args.tty).map_err(|e| run_error(125, e))?;
    }
    let online = std::thread::available_parallelism().map_or(1, |n| n.get());
    let publish: Vec<Publish> = args
        .publish
        .iter()
        .map(|p| parse::parse_publish(p))
        .collect::<Result<_, _>>()
        .map_err(|e| run_error(125, e))?;
    let volumes: Vec<Volume> = args
        .volume
        .iter()
        .map(|v| parse::parse_volume(v))
        .collect::<Result<_, _>>()
        .map_err(|e| run_error(125, e))?;
    let memory = args
        .memory
        .as_deref()
        .map(parse::parse_memory)
        .transpose()
        .map_err(|e| run_error(125, e))?;
    let cpus = args
        .cpus
        .as_deref()
        .map(|s| parse::parse_cpus(s, online))
        .transpose()
        .map_err(|e| run_error(125, e))?;
    let mut envs = Vec::new();
    for e in &args.env {
        if let Some((k, v)) =
            parse::parse_env(e, |k| std::env::var(k).ok()).map_err(|e| run_error(125, e))?
        {
            envs.push(cri::KeyValue { key: k, value: v });
        }
    }
    let name = match &args.name {
        Some(n) => {
            parse::check_name(n).map_err(|e| run_error(125, e))?;
            n.clone()
        }
        None => parse::random_name(uuid::Uuid::new_v4().as_u128() as u64),
    };

    let config = match image_config(c, &args.image)
        .await
        .map_err(|e| run_error(125, e))?
    {
        Some(cfg) => cfg,
        None => {
            eprintln!("Unable to find image '{}' locally", args.image);
            pull(c, &args.image).await.map_err(|e| run_error(125, e))?;
            image_config(c, &args.image)
                .await
                .map_err(|e| run_error(125, e))?
                .unwrap_or_default()
        }
    };
    let entrypoint: Vec<String> = args
        .entrypoint
        .as_ref()
        .map(|e| vec![e.clone()])
        .unwrap_or_default();
    let mut effective = config.clone();
    if args.entrypoint.is_some() {
        // Docker: --entrypoint also drops the image's Cmd.
        effective.cmd = None;
    }
    let command_line = crate::spec::resolve_args(&effective, &entrypoint, &args.command);

    let labels = HashMap::from([(LABEL_NAME.to_string(), name.clone())]);
    let mut annotations = HashMap::from([
        (
            ANNOTATION_PORTS.to_string(),
            serde_json::to_string(&publish)?,
        ),
        (
            ANNOTATION_COMMAND.to_string(),
            serde_json::to_string(&command_line)?,
        ),
    ]);
    if args.rm {
        annotations.insert(ANNOTATION_AUTOREMOVE.into(), "true".into());
    }
    let sandbox_config = cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: name.clone(),
            uid: String::new(),
            namespace: POD_NAMESPACE.into(),
            attempt: 0,
        }),
        hostname: name.clone(),
        port_mappings: publish
            .iter()
            .map(|p| cri::PortMapping {
                protocol: match p.protocol.as_str() {
                    "udp" => cri::Protocol::Udp,
                    "sctp" => cri::Protocol::Sctp,
                    _ => cri::Protocol::Tcp,
                } as i32,
                container_port: p.container_port,
                host_port: p.host_port,
                host_ip: p.host_ip.clone(),
            })
            .collect(),
        labels: labels.clone(),
        annotations: annotations.clone(),
        ..Default::default()
    };
    let pod = match c
        .rt
        .run_pod_sandbox(cri::RunPodSandboxRequest {
            config: Some(sandbox_config.clone()),
            runtime_handler: String::new(),
        })
        .await
    {
        Ok(r) => r.into_inner().pod_sandbox_id,
        Err(e) if e.code() == tonic::Code::AlreadyExists => {
            return Err(run_error(
                125,
                format!(
                    "Conflict. The container name \"/{name}\" is already in use. You have to remove (or rename) that container to be able to reuse that name."
                ),
            ))
        }
        Err(e) => return Err(run_error(125, e.message())),
    };
    let container_config = cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata {
            name: name.clone(),
            attempt: 0,
        }),
        image: Some(cri::ImageSpec {
            image: args.image.clone(),
            ..Default::default()
        }),
        command: entrypoint,
        args: args.command.clone(),
        working_dir: args.workdir.clone().unwrap_or_default(),
        // As Docker: -i keeps stdin open, and an attached run closes it when we are done.
        stdin: args.interactive,
        stdin_once: args.interactive && !args.detach,
        tty: args.tty,
        envs,
        mounts: volumes
            .iter()
            .map(|v| cri::Mount {
                container_path: v.container_path.clone(),
                host_path: v.host_path.clone(),
                readonly: v.readonly,
                ..Default::default()
            })
            .collect(),
        labels,
        annotations,
        linux: Some(cri::LinuxContainerConfig {
            resources: Some(cri::LinuxContainerResources {
                cpu_period: cpus.map_or(0, |c| c.0),
                cpu_quota: cpus.map_or(0, |c| c.1),
                memory_limit_in_bytes: memory.unwrap_or(0),
                ..Default::default()
            }),
            security_context: None,
        }),
        ..Default::default()
    };
    let created =
        c.rt.create_container(cri::CreateContainerRequest {
            pod_sandbox_id: pod.clone(),
            config: Some(container_config),
            sandbox_config: Some(sandbox_config),
        })
        .await;
    let id = match created {
        Ok(r) => r.into_inner().container_id,
        Err(e) => {
            let _ = remove_pod(c, &pod).await;
            return Err(run_error(125, e.message()));
        }
    };
    if let Err(e) =
        c.rt.start_container(cri::StartContainerRequest {
            container_id: id.clone(),
        })
        .await
    {
        let msg = e.message().to_string();
        if args.rm {
            let _ = remove_pod(c, &pod).await;
        }
        let code = if msg.contains("No such file") || msg.contains("not found") {
            127
        } else {
            126
        };
        return Err(run_error(code, msg));
    }
    if args.detach {
        println!("{id}");
        if args.rm {
            spawn_autoremove(&id)?;
        }
        return Ok(0);
    }
    if args.interactive || args.tty {
        let code = attach_until_exit(c, &id, args.interactive, args.tty).await?;
        if args.rm {
            remove_pod(c, &pod).await?;
        }
        return Ok(code);
    }
    let followed = tokio::select! {
        r = follow_logs(c, &id, true, false, None) => Some(r),
        _ = tokio::signal::ctrl_c() => None,
    };
    let code = match followed {
        Some(r) => r?,
        None => {
            // As docker run without -it: an interrupt stops the container.
            stop(c, &id, 10).await?;
            exit_code(c, &id).await?
        }
    };
    if args.rm {
        remove_pod(c, &pod).await?;
    }
    Ok(code)
}

/// `run -i`/`-t` in the foreground: attaches to the started container (the shim gives us
/// what it printed before we came) until it ends, then returns its exit code. A container
/// that ended before we could attach has its whole output in the log.
async fn attach_until_exit(
    c: &mut Clients,
    id: &str,
    interactive: bool,
    tty: bool,
) -> anyhow::Result<i32> {
    let attached =
        c.rt.attach(cri::AttachRequest {
            container_id: id.into(),
            stdin: interactive,
            tty,
            stdout: true,
            stderr: !tty,
        })
        .await;
    let url = match attached {
        Ok(r) => r.into_inner().url,
        Err(e) if e.code() == tonic::Code::FailedPrecondition => {
            return follow_logs(c, id, true, false, None).await;
        }
        Err(e) => return Err(grpc(e)),
    };
    let session = stream::stream(&url, interactive, tty);
    let ended = if tty {
        // In raw mode ^C is a byte for the container, not a signal for us.
        Some(session.await)
    } else {
        tokio::select! {
            r = session => Some(r),
            _ = tokio::signal::ctrl_c() => None,
        }
    };
    match ended {
        Some(r) => {
            r?;
        }
        // As docker run without a terminal: an interrupt stops the container.
        None => stop(c, id, 10).await?,
    }
    wait_exited(c, id).await
}

/// The exit code of a container whose output ended: its shim records the exit before it
/// closes the streams, so this waits only for a shim that was killed meanwhile.
async fn wait_exited(c: &mut Clients, id: &str) -> anyhow::Result<i32> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let st = status(c, id).await?;
        if st.state == cri::ContainerState::ContainerExited as i32 {
            return Ok(st.exit_code);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("container {id} closed its output but did not exit within 10s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `-d --rm`: someone has to remove the container when it exits; a detached helper (this
/// binary) waits for that.
fn spawn_autoremove(id: &str) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    // Keep the global flags (socket path), drop the `run ...` part.
    if let Some(i) = args.iter().position(|a| a == "run") {
        args.truncate(i);
    }
    std::process::Command::new(exe)
        .args(args)
        .arg("autoremove")
        .arg(id)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .context("start the --rm helper")?;
    Ok(())
}

/// The hidden `autoremove ID` mode: waits (polling) until the container exits, then removes
/// it and its pod.
pub async fn autoremove(c: &mut Clients, id: &str) -> anyhow::Result<()> {
    loop {
        match status(c, id).await {
            Ok(s) if s.state == cri::ContainerState::ContainerExited as i32 => break,
            Ok(_) => tokio::time::sleep(Duration::from_millis(500)).await,
            // Already removed by someone else.
            Err(_) => return Ok(()),
        }
    }
    let pod = container(c, id).await?.pod_sandbox_id;
    remove_pod(c, &pod).await
}

async fn status(c: &mut Clients, id: &str) -> anyhow::Result<cri::ContainerStatus> {
    c.rt.container_status(cri::ContainerStatusRequest {
        container_id: id.into(),
        verbose: false,
    })
    .await
    .map_err(grpc)?
    .into_inner()
    .status
    .ok_or_else(|| anyhow!("container {id}: no status"))
}

async fn exit_code(c: &mut Clients, id: &str) -> anyhow::Result<i32> {
    Ok(status(c, id).await?.exit_code)
}

async fn remove_pod(c: &mut Clients, pod: &str) -> anyhow::Result<()> {
    c.rt.stop_pod_sandbox(cri::StopPodSandboxRequest {
        pod_sandbox_id: pod.into(),
    })
    .await
    .map_err(grpc)?;
    c.rt.remove_pod_sandbox(cri::RemovePodSandboxRequest {
        pod_sandbox_id: pod.into(),
    })
    .await
    .map_err(grpc)?;
    Ok(())
}

async fn stop(c: &mut Clients, id: &str, timeout: i64) -> anyhow::Result<()> {
    c.rt.stop_container(cri::StopContainerRequest {
        container_id: id.into(),
        timeout,
    })
    .await
    .map_err(grpc)?;
    Ok(())
}

async fn all_containers(c: &mut Clients) -> anyhow::Result<Vec<cri::Container>> {
    Ok(c.rt
        .list_containers(cri::ListContainersRequest { filter: None })
        .await
        .map_err(grpc)?
        .into_inner()
        .containers)
}

async fn sandboxes(c: &mut Clients) -> anyhow::Result<HashMap<String, cri::PodSandbox>> {
    Ok(c.rt
        .list_pod_sandbox(cri::ListPodSandboxRequest { filter: None })
        .await
        .map_err(grpc)?
        .into_inner()
        .items
        .into_iter()
        .map(|s| (s.id.clone(), s))
        .collect())
}

/// The name `ps` shows: the `run` name, or dockershim's `k8s_<ctr>_<pod>_<ns>_<uid>_<n>`.
fn display_name(ctr: &cri::Container, pods: &HashMap<String, cri::PodSandbox>) -> String {
    if let Some(n) = ctr.labels.get(LABEL_NAME) {
        return n.clone();
    }
    let md = ctr.metadata.clone().unwrap_or_default();
    let pod = pods
        .get(&ctr.pod_sandbox_id)
        .and_then(|p| p.metadata.clone())
        .unwrap_or_default();
    format!(
        "k8s_{}_{}_{}_{}_{}",
        md.name, pod.name, pod.namespace, pod.uid, md.attempt
    )
}

/// Finds a container by full id, unique id prefix, or name (ours or dockershim-style).
pub fn resolve<'a>(
    query: &str,
    containers: &'a [cri::Container],
    pods: &HashMap<String, cri::PodSandbox>,
) -> Result<&'a cri::Container, String> {
    if let Some(c) = containers
        .iter()
        .find(|c| c.id == query || display_name(c, pods) == query)
    {
        return Ok(c);
    }
    let by_prefix: Vec<&cri::Container> = containers
        .iter()
        .filter(|c| !query.is_empty() && c.id.starts_with(query))
        .collect();
    match by_prefix.as_slice() {
        [one] => Ok(one),
        [] => Err(format!("No such container: {query}")),
        _ => Err(format!(
            "multiple containers match {query:?}: give more of the id"
        )),
    }
}

async fn container(c: &mut Clients, query: &str) -> anyhow::Result<cri::Container> {
    let all = all_containers(c).await?;
    let pods = sandboxes(c).await?;
    resolve(query, &all, &pods).cloned().map_err(|e| anyhow!(e))
}

fn state_of(s: &cri::ContainerStatus) -> State {
    match cri::ContainerState::try_from(s.state) {
        Ok(cri::ContainerState::ContainerRunning) => State::Running(s.started_at),
        Ok(cri::ContainerState::ContainerExited) => State::Exited(s.exit_code, s.finished_at),
        _ => State::Created,
    }
}

fn annotation<T: serde::de::DeserializeOwned + Default>(
    a: &HashMap<String, String>,
    key: &str,
) -> T {
    a.get(key)
        .and_then(|v| serde_json::from_str(v).ok())
        .unwrap_or_default()
}

/// `ps [-a]`: Docker's columns.
pub async fn ps(c: &mut Clients, all: bool) -> anyhow::Result<()> {
    let containers = all_containers(c).await?;
    let pods = sandboxes(c).await?;
    let now = now_ns();
    let mut rows = vec![[
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ]
    .map(String::from)
    .to_vec()];
    // Newest first, as docker ps.
    for ctr in containers.iter().rev() {
        if !all && ctr.state != cri::ContainerState::ContainerRunning as i32 {
            continue;
        }
        let Ok(st) = status(c, &ctr.id).await else {
            continue;
        };
        let command: Vec<String> = annotation(&ctr.annotations, ANNOTATION_COMMAND);
        let ports: Vec<Publish> = annotation(&ctr.annotations, ANNOTATION_PORTS);
        rows.push(vec![
            ctr.id.chars().take(12).collect(),
            ctr.image
                .as_ref()
                .map(|i| i.image.clone())
                .unwrap_or_default(),
            format::command_text(&command),
            format!(
                "{} ago",
                format::human_duration((now - ctr.created_at) / 1_000_000_000)
            ),
            format::status_text(&state_of(&st), now),
            format::ports_text(&ports),
            display_name(ctr, &pods),
        ]);
    }
    print!("{}", format::table(&rows));
    Ok(())
}

/// `exec [-i] [-t] CONTAINER CMD...`: with -i or -t a streaming session (the CRI `Exec`
/// rpc) passing our stdin and/or a terminal; without, ExecSync. Output, then the command's
/// exit code (126/127 when it cannot be run, as Docker).
pub async fn exec(
    c: &mut Clients,
    query: &str,
    cmd: Vec<String>,
    interactive: bool,
    tty: bool,
) -> anyhow::Result<i32> {
    stream::check_terminal(interactive, tty)?;
    let ctr = container(c, query).await?;
    if interactive || tty {
        let url =
            c.rt.exec(cri::ExecRequest {
                container_id: ctr.id,
                cmd,
                tty,
                stdin: interactive,
                stdout: true,
                stderr: !tty,
            })
            .await
            .map_err(grpc)?
            .into_inner()
            .url;
        return match stream::stream(&url, interactive, tty).await? {
            Some(status) => stream::exit_code_of(&status).map_err(|e| anyhow!(e)),
            None => bail!("the exec session ended without the command's status"),
        };
    }
    let r =
        c.rt.exec_sync(cri::ExecSyncRequest {
            container_id: ctr.id,
            cmd,
            timeout: 0,
        })
        .await
        .map_err(grpc)?
        .into_inner();
    std::io::stdout().write_all(&r.stdout)?;
    std::io::stderr().write_all(&r.stderr)?;
    Ok(r.exit_code)
}

/// Prints the CRI log of `id` (the last `tail` lines), following it until the container exits
/// when `follow`; returns the exit code when it followed to the end.
pub async fn follow_logs(
    c: &mut Clients,
    id: &str,
    follow: bool,
    timestamps: bool,
    tail: Option<usize>,
) -> anyhow::Result<i32> {
    let st = status(c, id).await?;
    let path = std::path::PathBuf::from(&st.log_path);
    let mut stdout = std::io::stdout();
    let mut stderr = std::io::stderr();
    let mut print = |line: &str| -> std::io::Result<()> {
        let Some(l) = format::parse_log_line(line) else {
            return Ok(());
        };
        let out: &mut dyn Write = if l.stderr { &mut stderr } else { &mut stdout };
        if timestamps {
            write!(out, "{} ", l.timestamp)?;
        }
        out.write_all(l.content.as_bytes())?;
        if !l.partial {
            out.write_all(b"\n")?;
        }
        out.flush()
    };
    let mut file = match std::fs::File::open(&path) {
        Ok(f) => Some(f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("open log {}", path.display())),
    };
    let mut buf = Vec::new();
    if let Some(f) = file.as_mut() {
        f.read_to_end(&mut buf)?;
        let lines = format::take_lines(&mut buf);
        for l in format::tail(&lines, tail) {
            print(l)?;
        }
    }
    if !follow {
        return Ok(st.exit_code);
    }
    loop {
        let exited = status(c, id).await?.state == cri::ContainerState::ContainerExited as i32;
        if file.is_none() {
            file = std::fs::File::open(&path).ok();
        }
        if let Some(f) = file.as_mut() {
            let pos = f.stream_position()?;
            if f.metadata()?.len() < pos {
                // Rotated under us: start over at the new file's beginning.
                f.seek(SeekFrom::Start(0))?;
            }
            f.read_to_end(&mut buf)?;
            for l in format::take_lines(&mut buf) {
                print(&l)?;
            }
        }
        // The shim has written everything once the container is reported exited.
        if exited {
            return exit_code(c, id).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `logs [-f] [-t] [--tail N] CONTAINER`.
pub async fn logs(
    c: &mut Clients,
    query: &str,
    follow: bool,
    timestamps: bool,
    tail: Option<usize>,
) -> anyhow::Result<()> {
    let ctr = container(c, query).await?;
    follow_logs(c, &ctr.id, follow, timestamps, tail).await?;
    Ok(())
}

fn rfc3339(ns: i64) -> String {
    if ns <= 0 {
        return "0001-01-01T00:00:00Z".into();
    }
    jiff::Timestamp::from_nanosecond(i128::from(ns))
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// `inspect CONTAINER...`: Docker's shape for what CRI knows, as a JSON array.
pub async fn inspect(c: &mut Clients, queries: &[String]) -> anyhow::Result<()> {
    let all = all_containers(c).await?;
    let pods = sandboxes(c).await?;
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for q in queries {
        let ctr = match resolve(q, &all, &pods) {
            Ok(ctr) => ctr.clone(),
            Err(e) => {
                missing.push(e);
                continue;
            }
        };
        let st = status(c, &ctr.id).await?;
        let pod =
            c.rt.pod_sandbox_status(cri::PodSandboxStatusRequest {
                pod_sandbox_id: ctr.pod_sandbox_id.clone(),
                verbose: false,
            })
            .await
            .map_err(grpc)?
            .into_inner()
            .status
            .unwrap_or_default();
        let command: Vec<String> = annotation(&ctr.annotations, ANNOTATION_COMMAND);
        let ports: Vec<Publish> = annotation(&ctr.annotations, ANNOTATION_PORTS);
        let state = state_of(&st);
        let res = st
            .resources
            .as_ref()
            .and_then(|r| r.linux.clone())
            .unwrap_or_default();
        let nano_cpus = if res.cpu_period > 0 {
            res.cpu_quota * 1_000_000_000 / res.cpu_period
        } else {
            0
        };
        let mut port_bindings = serde_json::Map::new();
        for p in &ports {
            port_bindings.insert(
                format!("{}/{}", p.container_port, p.protocol),
                serde_json::json!([{"HostIp": p.host_ip, "HostPort": p.host_port.to_string()}]),
            );
        }
        out.push(serde_json::json!({
            "Id": ctr.id,
            "Created": rfc3339(ctr.created_at),
            "Path": command.first(),
            "Args": command.iter().skip(1).collect::<Vec<_>>(),
            "State": {
                "Status": match state { State::Created => "created", State::Running(_) => "running", State::Exited(..) => "exited" },
                "Running": matches!(state, State::Running(_)),
                "OOMKilled": st.reason == "OOMKilled",
                "ExitCode": st.exit_code,
                "Reason": st.reason,
                "Error": st.message,
                "StartedAt": rfc3339(st.started_at),
                "FinishedAt": rfc3339(st.finished_at),
            },
            "Image": ctr.image_ref,
            "Name": format!("/{}", display_name(&ctr, &pods)),
            "LogPath": st.log_path,
            "PodSandboxId": ctr.pod_sandbox_id,
            "HostConfig": {
                "Memory": res.memory_limit_in_bytes,
                "NanoCpus": nano_cpus,
                "CpuPeriod": res.cpu_period,
                "CpuQuota": res.cpu_quota,
                "Binds": st.mounts.iter().map(|m| format!("{}:{}{}", m.host_path, m.container_path, if m.readonly { ":ro" } else { "" })).collect::<Vec<_>>(),
                "PortBindings": port_bindings,
                "AutoRemove": ctr.annotations.contains_key(ANNOTATION_AUTOREMOVE),
            },
            "Config": {
                "Hostname": pod.metadata.as_ref().map(|m| m.name.clone()),
                "Image": ctr.image.as_ref().map(|i| i.image.clone()),
                "Labels": ctr.labels,
            },
            "NetworkSettings": {
                "IPAddress": pod.network.as_ref().map(|n| n.ip.clone()).unwrap_or_default(),
                "Ports": port_bindings,
            },
        }));
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    if !missing.is_empty() {
        bail!("{}", missing.join("\n"));
    }
    Ok(())
}

/// `stop [-t N] CONTAINER...`.
pub async fn stop_many(c: &mut Clients, queries: &[String], timeout: i64) -> anyhow::Result<()> {
    let mut errors = Vec::new();
    for q in queries {
        match container(c, q).await {
            Ok(ctr) => match stop(c, &ctr.id, timeout).await {
                Ok(()) => println!("{q}"),
                Err(e) => errors.push(format!("{q}: {e}")),
            },
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        bail!("{}", errors.join("\n"))
    }
}

/// `rm [-f] CONTAINER...`: a `run` container goes with its pod.
pub async fn rm(c: &mut Clients, queries: &[String], force: bool) -> anyhow::Result<()> {
    let mut errors = Vec::new();
    for q in queries {
        let result = async {
            let ctr = container(c, q).await?;
            if ctr.state == cri::ContainerState::ContainerRunning as i32 && !force {
                bail!("cannot remove container {q:?}: container is running: stop the container before removing or force remove (-f)");
            }
            if ctr.labels.contains_key(LABEL_NAME) {
                remove_pod(c, &ctr.pod_sandbox_id).await
            } else {
                c.rt.remove_container(cri::RemoveContainerRequest {
                    container_id: ctr.id.clone(),
                })
                .await
                .map_err(grpc)?;
                Ok(())
            }
        }
        .await;
        match result {
            Ok(()) => println!("{q}"),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        bail!("{}", errors.join("\n"))
    }
}

/// `images`: REPOSITORY TAG IMAGE ID SIZE.
pub async fn images(c: &mut Clients) -> anyhow::Result<()> {
    let list = c
        .img
        .list_images(cri::ListImagesRequest { filter: None })
        .await
        .map_err(grpc)?
        .into_inner()
        .images;
    let mut rows = vec![["REPOSITORY", "TAG", "IMAGE ID", "SIZE"]
        .map(String::from)
        .to_vec()];
    for i in &list {
        let id: String =
            i.id.trim_start_matches("sha256:")
                .chars()
                .take(12)
                .collect();
        let refs = if i.repo_tags.is_empty() {
            vec![("<none>".to_string(), "<none>".to_string())]
        } else {
            i.repo_tags
                .iter()
                .map(|t| format::repo_and_tag(t))
                .collect()
        };
        for (repo, tag) in refs {
            rows.push(vec![repo, tag, id.clone(), format::human_size(i.size)]);
        }
    }
    print!("{}", format::table(&rows));
    Ok(())
}

/// `pull IMAGE`: PullImage through the daemon; returns the image id.
pub async fn pull(c: &mut Clients, image: &str) -> anyhow::Result<String> {
    let full = crate::reference::Reference::parse(image)?.full();
    eprintln!("Pulling {full}");
    let id = c
        .img
        .pull_image(cri::PullImageRequest {
            image: Some(cri::ImageSpec {
                image: image.into(),
                ..Default::default()
            }),
            auth: None,
            sandbox_config: None,
        })
        .await
        .map_err(grpc)?
        .into_inner()
        .image_ref;
    eprintln!("Status: image is up to date for {full} ({id})");
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_ids_prefixes_and_names() {
        let ctr = |id: &str, pod: &str, name: &str, cli: bool| cri::Container {
            id: id.into(),
            pod_sandbox_id: pod.into(),
            metadata: Some(cri::ContainerMetadata {
                name: name.into(),
                attempt: 1,
            }),
            labels: if cli {
                HashMap::from([(LABEL_NAME.to_string(), name.to_string())])
            } else {
                HashMap::new()
            },
            ..Default::default()
        };
        let containers = vec![
            ctr("abc111", "p1", "web", true),
            ctr("abc222", "p2", "app", false),
        ];
        let pods = HashMap::from([(
            "p2".to_string(),
            cri::PodSandbox {
                id: "p2".into(),
                metadata: Some(cri::PodSandboxMetadata {
                    name: "mypod".into(),
                    uid: "u1".into(),
                    namespace: "default".into(),
                    attempt: 0,
                }),
                ..Default::default()
            },
        )]);
        let id = |q: &str| resolve(q, &containers, &pods).map(|c| c.id.clone());
        assert_eq!(id("web"), Ok("abc111".into()));
        assert_eq!(id("abc2"), Ok("abc222".into()));
        assert_eq!(id("abc111"), Ok("abc111".into()));
        assert_eq!(id("k8s_app_mypod_default_u1_1"), Ok("abc222".into()));
        assert!(id("abc").unwrap_err().contains("multiple"));
        assert_eq!(id("nope"), Err("No such container: nope".into()));
        assert!(id("").is_err());
    }
}
