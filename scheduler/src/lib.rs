//! `kube-scheduler` for tinykube.
//!
//! The scheduler: watches pods that have no node yet, filters and scores the nodes, and binds each pod to one through pods/<name>/binding.
//!
//! It keeps a cache of nodes and assigned pods so that two pods are never placed on a node that only fits one.
//!
//! This component is not built yet: the binary says so and exits non-zero rather than pretend
//! to work. See README.md for what tinykube runs today.

/// What `kube-scheduler --help` says the component is.
pub const ABOUT: &str = "The scheduler: watches pods that have no node yet, filters and scores the nodes, and binds each pod to one through pods/<name>/binding.";
