//! Cluster-in-a-box test harness for tinykube.
//!
//! Integration tests run against real parts (DESIGN.md §12): a real etcd, our real binaries,
//! real network namespaces. This crate provides the building blocks, each cleaning up after
//! itself on `Drop` — also when the test panics, in which case captured logs are printed:
//!
//! - [`etcd`]: [`Etcd::start`] runs a throw-away single-member etcd on free loopback ports with a
//!   temporary data dir; [`Etcd::client_url`] is what `--etcd-servers` takes.
//! - [`process`]: [`Launch`] starts one of our binaries ([`Launch::binary`]) or any program
//!   ([`Launch::program`]), optionally inside a node's network namespace, with stdout+stderr
//!   in a log file; the resulting [`Process`] is stopped (SIGTERM, then SIGKILL) on drop.
//!   [`wait_for_healthz`] / [`http_get`] poll plain-HTTP endpoints; [`eventually`] polls any
//!   condition, bounded.
//! - [`netns`]: [`Network`] is a hub namespace with a bridge; [`Network::add_node`] adds a
//!   [`Node`] namespace with `eth0` on that bridge. Nothing is ever configured in the machine's
//!   own network namespace.
//! - [`require_root`]: tests that need root call it first and fail loudly without it.
//! - [`apiserver`]: [`ControlPlane::start`] runs etcd plus `kube-apiserver` with a kubeconfig,
//!   drives the real kubectl ([`ControlPlane::kubectl`]; [`apiserver::kubectl_ok`] and
//!   friends for tests) and makes raw HTTP requests.
//! - [`cluster`]: [`cluster::Cluster::start`] runs a one-node cluster-in-a-box (etcd and
//!   apiserver in a hub namespace, tinykube-runtime and kubelet in a node namespace);
//!   [`cluster::HubControlPlane`] is that control plane alone, for other topologies.
//! - [`bench`]: what the benchmarks share: the build they launch, percentiles, memory.
//! - [`kubectl`]: runs OUR kubectl and the real one against a [`ControlPlane`] with the same
//!   kubeconfig (args, stdin, env), to compare what they print; long-running ones (`-w`, `-f`)
//!   as a [`kubectl::Running`] handle.
//!
//! A typical scenario:
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use std::time::Duration;
//! use tinykube_tests::{require_root, wait_for_healthz, Etcd, Launch, Network};
//!
//! require_root();
//! let etcd = Etcd::start().await?;
//! let network = Network::new()?;
//! let node = network.add_node()?;
//! let runtime = Launch::binary("tinykube-runtime")?.netns(node.name()).spawn()?;
//! let out = node.exec("/bin/busybox", &["ip", "addr"])?;
//! assert!(out.stdout.contains(&node.ip().to_string()));
//! # let _ = (etcd, runtime); Ok(()) }
//! ```
//!
//! Our binaries are not built by `cargo test -p tinykube-tests`: run
//! `cargo build --workspace --bins` first (or point `TINYKUBE_BIN_DIR` at them). Everything is
//! parallel-safe: names, ports and temporary directories are unique per process and call, and
//! every wait is bounded.

#![forbid(unsafe_code)]

pub mod apiserver;
pub mod bench;
pub mod cluster;
mod cmd;
pub mod error;
pub mod etcd;
pub mod kubectl;
pub mod leftovers;
pub mod netns;
pub mod process;
pub mod root;
pub mod runtime_daemon;

pub use apiserver::{free_port, ControlPlane, KUBECTL};
pub use cmd::{pid_alive, CmdOutput};
pub use error::{HarnessError, Result};
pub use etcd::Etcd;
pub use netns::{Network, Node};
pub use process::{
    bin_dir, binary_path, eventually, http_get, wait_for_healthz, HttpResponse, Launch, Process,
};
pub use root::require_root;
