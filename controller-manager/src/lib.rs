//! `kube-controller-manager` for tinykube.
//!
//! The controller manager: runs the controllers that turn intent into objects (Deployments into ReplicaSets into Pods, Services into EndpointSlices, node lifecycle, namespaces, garbage collection).
//!
//! Each controller is level-driven: watch, cache, queue of keys, reconcile one key at a time.
//!
//! This component is not built yet: the binary says so and exits non-zero rather than pretend
//! to work. See README.md for what tinykube runs today.

/// What `kube-controller-manager --help` says the component is.
pub const ABOUT: &str = "The controller manager: runs the controllers that turn intent into objects (Deployments into ReplicaSets into Pods, Services into EndpointSlices, node lifecycle, namespaces, garbage collection).";
