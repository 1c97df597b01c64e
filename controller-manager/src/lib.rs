//! `kube-controller-manager` for tinykube (DESIGN.md §6): the controllers that turn intent into
//! objects.
//!
//! | module | upstream controller | what it does |
//! |---|---|---|
//! | [`replicaset`] | `replicaset-controller` | keeps `replicas` pods per ReplicaSet |
//! | [`deployment`] | `deployment-controller` | ReplicaSets per pod template, rolling/recreate rollouts, history, status |
//! | [`endpoints`] | `endpoints-controller` | `Endpoints` of every Service with a selector |
//! | [`endpointslice`] | `endpointslice-controller` | `EndpointSlice`s of the same |
//! | [`garbagecollector`] | `garbage-collector-controller` | ownerReferences: background, foreground, orphan |
//! | [`namespace`] | `namespace-controller` | empties a terminating namespace, then finalizes it |
//! | [`nodelifecycle`] | `node-lifecycle-controller`, `taint-eviction-controller` | unreachable nodes: Unknown, taints, eviction |
//! | [`nodeipam`] | `node-ipam-controller` | a pod CIDR per node |
//! | [`serviceaccount`] | `serviceaccount-controller` | a `default` ServiceAccount per namespace |
//!
//! Every controller is level-driven (watch → cache → queue of keys → reconcile one key), with
//! its decision in a pure function that the tests drive with tables, and a thin executor that
//! applies it with kube-rs. [`informers`] shares one watch per resource type between them;
//! [`runner`] runs each on kube-runtime's `applier`. With `--leader-elect` only the replica
//! holding the `kube-system/kube-controller-manager` Lease runs controllers.

pub mod deployment;
pub mod discovery;
pub mod endpoints;
pub mod endpointslice;
pub mod error;
pub mod events;
pub mod expectations;
pub mod garbagecollector;
pub mod informer;
pub mod informers;
pub mod namespace;
pub mod nodeipam;
pub mod nodelifecycle;
pub mod replicaset;
pub mod runner;
pub mod serviceaccount;
pub mod util;

mod manager;

pub use error::{Error, Result};
pub use manager::{
    controller_enabled, run, Config, LeaderElection, ALL_CONTROLLERS, DISABLED_BY_DEFAULT,
};

/// What `kube-controller-manager --help` says the component is.
pub const ABOUT: &str = "The controller manager: runs the controllers that turn intent into objects (Deployments into ReplicaSets into Pods, Services into Endpoints and EndpointSlices, node lifecycle and pod CIDRs, namespace deletion, garbage collection, default ServiceAccounts).";
