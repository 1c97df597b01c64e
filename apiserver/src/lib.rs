//! `kube-apiserver` for tinykube.
//!
//! The Kubernetes API server: serves the REST API (core/v1, apps/v1, discovery, coordination, events) with the paths, JSON and semantics of upstream, and keeps every object in etcd.
//!
//! Every other component and every client (kubectl, kube-rs) talks to the cluster only through it; it is the only component that reads or writes etcd.
//!
//! This component is not built yet: the binary says so and exits non-zero rather than pretend
//! to work. See README.md for what tinykube runs today.

/// What `kube-apiserver --help` says the component is.
pub const ABOUT: &str = "The Kubernetes API server: serves the REST API (core/v1, apps/v1, discovery, coordination, events) with the paths, JSON and semantics of upstream, and keeps every object in etcd.";
