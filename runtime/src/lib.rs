//! `tinykube-runtime` for tinykube.
//!
//! The container runtime: serves CRI v1 on a unix socket and runs pods as real processes: a pause process holding the pod's network, IPC and UTS namespaces, containers in their own PID and mount namespaces on an overlay root filesystem, limited by cgroups, supervised by a per-container shim.
//!
//! Pod networking comes from the standard CNI plugins; images come from OCI registries or archives into a content-addressed store.
//!
//! This component is not built yet: the binary says so and exits non-zero rather than pretend
//! to work. See README.md for what tinykube runs today.

/// What `tinykube-runtime --help` says the component is.
pub const ABOUT: &str = "The container runtime: serves CRI v1 on a unix socket and runs pods as real processes: a pause process holding the pod's network, IPC and UTS namespaces, containers in their own PID and mount namespaces on an overlay root filesystem, limited by cgroups, supervised by a per-container shim.";
