//! `kubelet` for tinykube.
//!
//! The node agent: registers its Node, runs the pods bound to it (and static pods from --pod-manifest-path) through the container runtime over CRI, and reports their status.
//!
//! It serves container logs and exec on its own port; the apiserver proxies `kubectl logs` and `kubectl exec` to it.
//!
//! This component is not built yet: the binary says so and exits non-zero rather than pretend
//! to work. See README.md for what tinykube runs today.

/// What `kubelet --help` says the component is.
pub const ABOUT: &str = "The node agent: registers its Node, runs the pods bound to it (and static pods from --pod-manifest-path) through the container runtime over CRI, and reports their status.";
