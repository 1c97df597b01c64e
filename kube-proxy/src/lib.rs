//! `kube-proxy` for tinykube.
//!
//! The service proxy: turns Services and EndpointSlices into iptables rules on its node, so a ClusterIP or NodePort reaches one ready pod chosen at random per connection.
//!
//! It renders the whole rule set as text and applies it atomically with iptables-restore, only when it changed.
//!
//! This component is not built yet: the binary says so and exits non-zero rather than pretend
//! to work. See README.md for what tinykube runs today.

/// What `kube-proxy --help` says the component is.
pub const ABOUT: &str = "The service proxy: turns Services and EndpointSlices into iptables rules on its node, so a ClusterIP or NodePort reaches one ready pod chosen at random per connection.";
