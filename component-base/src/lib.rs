//! What every tinykube binary shares, so each `main.rs` stays a few lines long:
//!
//! - [`logging`]: tracing to stderr, filtered by `RUST_LOG` (default `info`).
//! - [`client`]: the kube-rs client from `--kubeconfig` (or inferred).
//! - [`flags`]: flag values parsed as upstream's Go flags ([`parse_duration`]).
//! - [`shutdown`]: a token cancelled on SIGTERM or SIGINT, for graceful shutdown of every task.
//! - [`endpoints`]: `/healthz`, `/livez`, `/readyz` and `/metrics` (Prometheus text), either
//!   served on their own port or merged into a component's own router.
//! - [`leader`]: leader election on a `coordination.k8s.io/v1` Lease ([`LeaderElector`]), so
//!   two replicas of a component can run and only one works.
//! - [`query`]: URL query strings decoded into their pairs, for the apiserver and the kubelet.
//! - [`upgrade`]: proxying an upgraded connection (exec streams) to a backend, for the
//!   apiserver and the kubelet.

pub mod client;
pub mod endpoints;
pub mod flags;
pub mod leader;
pub mod logging;
pub mod query;
pub mod shutdown;
pub mod upgrade;

pub use client::ClientError;
pub use endpoints::{Endpoints, HealthCheck, Metrics};
pub use flags::parse_duration;
pub use leader::{LeaderElectionError, LeaderElector, LeaseConfig};
pub use logging::init_tracing;
pub use shutdown::{shutdown_on_signals, wait_for_signal};
