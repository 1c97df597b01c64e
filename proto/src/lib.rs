//! The CRI v1 (`runtime.v1`) protobuf messages and gRPC services that the kubelet and
//! `tinykube-runtime` speak over a unix socket.
//!
//! `proto/api.proto` is the subset of upstream's `k8s.io/cri-api/pkg/apis/runtime/v1/api.proto`
//! that tinykube implements, with upstream's package, service, message and field numbers, so
//! upstream CRI tools (crictl, a real kubelet) can talk to our runtime. [`v1`] holds the
//! generated types, [`v1::runtime_service_client`] / [`v1::image_service_client`] the clients
//! and [`v1::runtime_service_server`] / [`v1::image_service_server`] the server traits.
//! [`connect`] opens a channel to a runtime's unix socket.

/// Generated CRI v1 code (package `runtime.v1`).
pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("runtime.v1");
}

use std::path::{Path, PathBuf};

/// Opens a gRPC channel to a CRI endpoint: a unix socket path, with or without `unix://`.
pub async fn connect(
    endpoint: impl AsRef<str>,
) -> Result<tonic::transport::Channel, tonic::transport::Error> {
    let path: PathBuf = socket_path(endpoint.as_ref()).to_path_buf();
    // The URI is not used for unix sockets, but tonic needs a syntactically valid one.
    tonic::transport::Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
            let path = path.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(path).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
            }
        }))
        .await
}

/// The filesystem path of a CRI endpoint (`unix:///run/x.sock` or `/run/x.sock`).
pub fn socket_path(endpoint: &str) -> &Path {
    Path::new(endpoint.strip_prefix("unix://").unwrap_or(endpoint))
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn endpoint_forms() {
        assert_eq!(socket_path("unix:///run/a.sock"), Path::new("/run/a.sock"));
        assert_eq!(socket_path("/run/a.sock"), Path::new("/run/a.sock"));
    }

    #[test]
    fn field_numbers_match_upstream() {
        // ContainerStatus.exit_code is field 7 (varint): tag byte = 7 << 3 | 0 = 0x38.
        let s = v1::ContainerStatus {
            exit_code: 3,
            ..Default::default()
        };
        assert_eq!(s.encode_to_vec(), vec![0x38, 3]);
        // ImageSpec.user_specified_image is field 18 (length-delimited): tag = 18<<3|2 = 146 -> varint 0x92 0x01.
        let i = v1::ImageSpec {
            user_specified_image: "a".into(),
            ..Default::default()
        };
        assert_eq!(i.encode_to_vec(), vec![0x92, 0x01, 1, b'a']);
        // LinuxContainerSecurityContext.run_as_group is field 12.
        let c = v1::LinuxContainerSecurityContext {
            run_as_group: Some(v1::Int64Value { value: 1 }),
            ..Default::default()
        };
        assert_eq!(c.encode_to_vec(), vec![12 << 3 | 2, 2, 0x08, 1]);
    }
}
