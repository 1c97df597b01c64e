//! The CRI v1 (`runtime.v1`) protobuf messages and gRPC services that the kubelet and
//! `tinykube-runtime` speak over a unix socket.
//!
//! The `.proto` subset, generated with tonic/prost, arrives with the container runtime; it keeps
//! upstream's service, message and field numbers so upstream CRI tools can talk to our runtime.
//! Until then this crate holds no code.
