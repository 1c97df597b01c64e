use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tinykube_runtime::manager::{Config, Runtime};

/// tinykube-runtime: without a subcommand it runs the CRI daemon.
#[derive(Parser)]
#[command(name = "tinykube-runtime", version, about = tinykube_runtime::ABOUT)]
struct Cli {
    /// Unix socket to serve CRI on (also accepts unix://PATH).
    #[arg(
        long,
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
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Import a docker-save or OCI-layout archive (tar or tar.gz) into the image store.
    Import { archive: PathBuf },
    /// List images in the store.
    Images,
    /// Add a tag to an image: tag SOURCE TARGET.
    Tag { source: String, target: String },
    /// Remove images.
    Rmi { images: Vec<String> },
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
        }) => return code(tinykube_runtime::shim::run_pause(hostname, *host_network)),
        Some(Command::Nsexec { state_dir, cmd }) => {
            let cmd: Vec<String> = cmd.iter().skip_while(|c| *c == "--").cloned().collect();
            return code(tinykube_runtime::shim::run_nsexec(state_dir, &cmd));
        }
        _ => {}
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tinykube-runtime: {e:#}");
            ExitCode::FAILURE
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
        Some(Command::Images) => {
            println!("{:<50} {:<20} {:>10}", "REPOSITORY:TAG", "IMAGE ID", "SIZE");
            for img in store()?.list()? {
                let id = &img.id.trim_start_matches("sha256:")[..12];
                let tags = if img.repo_tags.is_empty() {
                    vec!["<none>".to_string()]
                } else {
                    img.repo_tags.clone()
                };
                for t in tags {
                    println!("{t:<50} {id:<20} {:>9.1}M", img.size as f64 / 1e6);
                }
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
    };
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let runtime = Runtime::open(config)?;
        let token = tinykube_component_base::shutdown::shutdown_on_signals()?;
        let socket = tinykube_cri_proto::socket_path(&cli.listen).to_path_buf();
        tinykube_runtime::server::serve(runtime, &socket, async move { token.cancelled().await })
            .await
    })
}
