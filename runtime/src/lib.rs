//! `tinykube-runtime`: the container runtime of tinykube.
//!
//! Serves CRI v1 on a unix socket and runs pods as real processes: a pause process holding the
//! pod's network, IPC and UTS namespaces ([`shim::run_pause`]; with `shareProcessNamespace` also
//! the pod's PID namespace, as its PID 1), containers in their own mount namespaces (and their own
//! PID namespaces unless shared) on an overlay root filesystem ([`shim::run_shim`]), limited by cgroups
//! ([`cgroup`]), each supervised by a per-container shim so the daemon can restart without
//! touching them. Pod networking comes from the standard CNI plugins ([`cni`]); images come
//! from registries ([`registry`], over TLS set up by [`tls`]) or archives into a
//! content-addressed store ([`image`]).
//!
//! Map: [`server`] (gRPC) -> [`manager::Runtime`] (records on disk, operations) -> [`shim`]
//! (processes), [`spec`] (pure launch decisions), [`cgroup`], [`cni`], [`image`],
//! [`reference`]; [`streaming`] serves the exec sessions that the `Exec` rpc hands out, and the
//! [`portforward`] sessions of the `PortForward` rpc.
//!
//! This is the one crate of the workspace that needs `unsafe` (fork, capset, prctl, signal
//! handlers, xattrs): the workspace denies `unsafe_code`, this crate allows it, and every
//! `unsafe` block lives in [`sys`] with a `// SAFETY:` comment.

#![allow(unsafe_code)]

pub mod attach;
pub mod cgroup;
pub mod cli;
pub mod cni;
pub mod error;
pub mod image;
pub mod manager;
pub mod portforward;
pub mod reference;
pub mod registry;
pub mod server;
pub mod shim;
pub mod spdy;
pub mod spec;
pub mod streaming;
pub mod sys;
pub mod tls;

pub use error::{Result, RuntimeError};

/// What `tinykube-runtime --help` says the component is.
pub const ABOUT: &str = "The container runtime: serves CRI v1 on a unix socket and runs pods as real processes: a pause process holding the pod's network, IPC and UTS namespaces, containers in their own PID and mount namespaces on an overlay root filesystem, limited by cgroups, supervised by a per-container shim.";
