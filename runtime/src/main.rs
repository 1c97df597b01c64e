use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tinykube_runtime::manager::{Config, Runtime};

/// tinykube-runtime: without a subcommand it runs the CRI daemon.
#[derive(Parser)]
#[command(name = "tinykube-runtime", version, about = tinykube_runtime::ABOUT)]
struct Cli {
    /// Unix socket to serve CRI on, or (CLI commands) to reach the daemon on; also accepts
    /// unix://PATH.
    #[arg(
        long,
        visible_alias = "runtime-endpoint",
        alias = "container-runtime-endpoint",
        default_value = "/run/tinykube/runtime.sock",
        global = true
    )]
    listen: String,
    /// Persistent state: images, layers, container records and writable layers.
    #[arg(long, default_value = "/var/lib/tinykube/runtime", global = true)]
    root: PathBuf,
    /// Runtime state: shim files and network namespace bind mounts.
    #[arg(long, default_value = "/run/tinykube", global = true)]
    state: PathBuf,
    /// Directory holding the CNI network config (first .conflist/.conf wins).
    #[arg(long, default_value = "/etc/cni/net.d")]
    cni_conf_dir: PathBuf,
    /// Directory holding the CNI plugin binaries.
    #[arg(long, default_value = "/usr/lib/cni")]
    cni_bin_dir: PathBuf,
    /// cgroupfs mount point (v1 controllers below it, or a v2 unified tree).
    #[arg(long, default_value = "/sys/fs/cgroup")]
    cgroup_root: PathBuf,
    /// Parent cgroup of all pods.
    #[arg(long, default_value = "tinykube")]
    cgroup_parent: String,
    /// host:port of the streaming server that serves Exec sessions (port 0: a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    streaming_address: String,
    /// Per-registry TLS settings (pulls and `push`), as Docker's certs.d: `<dir>/<host[:port]>/`
    /// holds `*.crt` CA roots and a `client.cert` + `client.key` client certificate.
    #[arg(long, default_value = tinykube_runtime::registry::DEFAULT_CERTS_DIR, global = true)]
    registry_certs_dir: PathBuf,
    /// A registry spoken to without verifying its certificate, or in plain HTTP (Docker's
    /// insecure-registries): HOST[:PORT] or a CIDR; repeatable. Loopback registries always are.
    #[arg(
        long = "insecure-registry",
        value_name = "HOST[:PORT]|CIDR",
        global = true
    )]
    insecure_registries: Vec<tinykube_runtime::registry::InsecureRegistry>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a command in a new container (a one-container pod), as `docker run`.
    Run(tinykube_runtime::cli::RunArgs),
    /// List containers (running ones; all with -a).
    Ps {
        /// Show all containers, not only running ones.
        #[arg(short = 'a', long)]
        all: bool,
    },
    /// Run a command in a running container.
    Exec {
        /// Pass our stdin to the command.
        #[arg(short = 'i', long)]
        interactive: bool,
        /// Give the command a terminal (with -i: ours, in raw mode).
        #[arg(short = 't', long)]
        tty: bool,
        container: String,
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Print a container's output.
    Logs {
        /// Keep printing new output until the container exits.
        #[arg(short = 'f', long)]
        follow: bool,
        /// Prefix every line with its timestamp.
        #[arg(short = 't', long)]
        timestamps: bool,
        /// Only the last N lines.
        #[arg(long, value_name = "N")]
        tail: Option<usize>,
        container: String,
    },
    /// Show what the runtime knows about containers, as JSON.
    Inspect {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Stop containers: SIGTERM, then SIGKILL after the timeout.
    Stop {
        /// Seconds to wait before killing.
        #[arg(short = 't', long = "time", default_value_t = 10)]
        time: i64,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Remove containers (a `run` container goes with its pod).
    Rm {
        /// Remove running containers too (killing them).
        #[arg(short = 'f', long)]
        force: bool,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// List images (through the daemon).
    Images,
    /// Pull an image from its registry (through the daemon).
    Pull { image: String },
    /// Push the image of a docker-save/OCI archive to a registry (HTTPS, with the trust of
    /// --registry-certs-dir; plain HTTP to insecure registries): push ARCHIVE REFERENCE. Needs
    /// no daemon.
    Push {
        /// Manifest format to push.
        #[arg(long, value_parser = ["docker", "oci"], default_value = "docker")]
        format: String,
        /// Push a manifest list / OCI index naming the image's platform, as multi-platform
        /// images are pushed.
        #[arg(long)]
        index: bool,
        /// Registry user (Basic credentials, also for Bearer token requests).
        #[arg(long, env = "TINYKUBE_REGISTRY_USER")]
        username: Option<String>,
        /// Registry password.
        #[arg(long, env = "TINYKUBE_REGISTRY_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        archive: PathBuf,
        reference: String,
    },
    /// Import a docker-save or OCI-layout archive (tar or tar.gz) into the image store.
    Import { archive: PathBuf },
    /// Add a tag to an image: tag SOURCE TARGET.
    Tag { source: String, target: String },
    /// Remove images.
    Rmi { images: Vec<String> },
    /// (internal) remove a `run -d --rm` container once it exits.
    #[command(hide = true)]
    Autoremove { container: String },
    /// (internal) supervise one container.
    #[command(hide = true)]
    Shim { state_dir: PathBuf },
    /// (internal) the pod sandbox process.
    #[command(hide = true)]
    Pause {
        #[arg(long, default_value = "")]
        hostname: String,
        #[arg(long)]
        host_network: bool,
        /// Make the pause PID 1 of a new pid namespace (CRI pid mode POD).
        #[arg(long)]
        share_pid: bool,
    },
    /// (internal) run a command inside a container.
    #[command(hide = true)]
    Nsexec {
        state_dir: PathBuf,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        cmd: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Helper modes run single-threaded (setns/unshare/fork need it): no tokio, no tracing.
    match &cli.command {
        Some(Command::Shim { state_dir }) => {
            return code(tinykube_runtime::shim::run_shim(state_dir))
        }
        Some(Command::Pause {
            hostname,
            host_network,
            share_pid,
        }) => {
            return code(tinykube_runtime::shim::run_pause(
                hostname,
                *host_network,
                *share_pid,
            ))
        }
        Some(Command::Nsexec { state_dir, cmd }) => {
            let cmd: Vec<String> = cmd.iter().skip_while(|c| *c == "--").cloned().collect();
            return code(tinykube_runtime::shim::run_nsexec(state_dir, &cmd));
        }
        _ => {}
    }
    if let Some(result) = run_client_command(&cli) {
        return match result {
            Ok(c) => code(c),
            Err(e) => {
                eprintln!("tinykube-runtime: {e:#}");
                match e.downcast_ref::<tinykube_runtime::cli::RunError>() {
                    Some(r) => ExitCode::from(r.code),
                    None => ExitCode::FAILURE,
                }
            }
        };
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tinykube-runtime: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The docker-like commands that talk to the daemon (and `push`, which talks to a registry);
/// `None` for the other modes. Returns the exit code.
fn run_client_command(cli: &Cli) -> Option<anyhow::Result<i32>> {
    use tinykube_runtime::cli;
    let command = cli.command.as_ref()?;
    let is_client = matches!(
        command,
        Command::Run(_)
            | Command::Ps { .. }
            | Command::Exec { .. }
            | Command::Logs { .. }
            | Command::Inspect { .. }
            | Command::Stop { .. }
            | Command::Rm { .. }
            | Command::Images
            | Command::Pull { .. }
            | Command::Push { .. }
            | Command::Autoremove { .. }
    );
    if !is_client {
        return None;
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return Some(Err(e.into())),
    };
    Some(rt.block_on(async {
        if let Command::Push {
            format,
            index,
            username,
            password,
            archive,
            reference,
        } = command
        {
            return push(cli, format, *index, username, password, archive, reference).await;
        }
        let mut c = cli::connect(&cli.listen).await?;
        match command {
            Command::Run(args) => cli::run(&mut c, args.clone()).await,
            Command::Ps { all } => cli::ps(&mut c, *all).await.map(|()| 0),
            Command::Exec {
                interactive,
                tty,
                container,
                command,
            } => cli::exec(&mut c, container, command.clone(), *interactive, *tty).await,
            Command::Logs {
                follow,
                timestamps,
                tail,
                container,
            } => cli::logs(&mut c, container, *follow, *timestamps, *tail)
                .await
                .map(|()| 0),
            Command::Inspect { containers } => cli::inspect(&mut c, containers).await.map(|()| 0),
            Command::Stop { time, containers } => {
                cli::stop_many(&mut c, containers, *time).await.map(|()| 0)
            }
            Command::Rm { force, containers } => {
                cli::rm(&mut c, containers, *force).await.map(|()| 0)
            }
            Command::Images => cli::images(&mut c).await.map(|()| 0),
            Command::Pull { image } => {
                let id = cli::pull(&mut c, image).await?;
                println!("{id}");
                Ok(0)
            }
            Command::Autoremove { container } => {
                cli::autoremove(&mut c, container).await.map(|()| 0)
            }
            _ => Ok(0),
        }
    }))
}

async fn push(
    cli: &Cli,
    format: &str,
    index: bool,
    username: &Option<String>,
    password: &Option<String>,
    archive: &std::path::Path,
    reference: &str,
) -> anyhow::Result<i32> {
    use tinykube_runtime::registry;
    let store = tinykube_runtime::image::ImageStore::open(cli.root.join("images"))?;
    let reference = tinykube_runtime::reference::Reference::parse(reference)?;
    let format = if format == "oci" {
        registry::ManifestFormat::Oci
    } else {
        registry::ManifestFormat::Docker
    };
    let credentials = registry::Credentials::from_cri(
        username.as_deref().unwrap_or(""),
        password.as_deref().unwrap_or(""),
        "",
        "",
    );
    let pushed = registry::push_archive(
        &store,
        &cli.registry_config(),
        archive,
        &reference,
        format,
        index,
        credentials,
    )
    .await?;
    println!(
        "{}: digest: {} size: {}",
        reference.tag.as_deref().unwrap_or("latest"),
        pushed.digest,
        pushed.size
    );
    Ok(0)
}

impl Cli {
    fn registry_config(&self) -> tinykube_runtime::registry::RegistryConfig {
        tinykube_runtime::registry::RegistryConfig {
            certs_dir: self.registry_certs_dir.clone(),
            insecure: self.insecure_registries.clone(),
        }
    }
}

fn code(c: i32) -> ExitCode {
    ExitCode::from(c.clamp(0, 255) as u8)
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let store = || tinykube_runtime::image::ImageStore::open(cli.root.join("images"));
    match &cli.command {
        Some(Command::Import { archive }) => {
            for img in store()?.import_archive(archive)? {
                println!("imported {} {}", img.id, img.repo_tags.join(" "));
            }
            return Ok(());
        }
        Some(Command::Tag { source, target }) => {
            store()?.tag(source, target)?;
            return Ok(());
        }
        Some(Command::Rmi { images }) => {
            let s = store()?;
            for i in images {
                if !s.remove(i)? {
                    anyhow::bail!("image {i:?} not found");
                }
                println!("removed {i}");
            }
            return Ok(());
        }
        _ => {}
    }
    tinykube_component_base::logging::init_tracing()?;
    let exe = std::env::current_exe()?;
    let config = Config {
        root: cli.root.clone(),
        state: cli.state.clone(),
        cni_conf_dir: cli.cni_conf_dir.clone(),
        cni_bin_dir: cli.cni_bin_dir.clone(),
        cgroup_root: cli.cgroup_root.clone(),
        cgroup_parent: cli.cgroup_parent.clone(),
        exe,
        registry: cli.registry_config(),
    };
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let runtime = Runtime::open(config)?;
        tinykube_runtime::streaming::start(&cli.streaming_address, runtime.clone()).await?;
        let token = tinykube_component_base::shutdown::shutdown_on_signals()?;
        let socket = tinykube_cri_proto::socket_path(&cli.listen).to_path_buf();
        tinykube_runtime::server::serve(runtime, &socket, async move { token.cancelled().await })
            .await
    })
}
