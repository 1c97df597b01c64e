//! The CRI v1 gRPC services over the unix socket: thin conversions onto [`Runtime`].

use std::path::Path;
use std::sync::Arc;

use tinykube_cri_proto::v1 as cri;
use tinykube_cri_proto::v1::image_service_server::{ImageService, ImageServiceServer};
use tinykube_cri_proto::v1::runtime_service_server::{RuntimeService, RuntimeServiceServer};
use tonic::{Request, Response, Status};

use crate::error::RuntimeError;
use crate::manager::Runtime;

/// Maps runtime errors to gRPC codes with the message kept.
pub fn status(e: RuntimeError) -> Status {
    let msg = e.to_string();
    match e {
        RuntimeError::ImageNotFound(_)
        | RuntimeError::SandboxNotFound(_)
        | RuntimeError::ContainerNotFound(_) => Status::not_found(msg),
        RuntimeError::InvalidArgument(_) | RuntimeError::InvalidReference { .. } => {
            Status::invalid_argument(msg)
        }
        RuntimeError::NameInUse { .. } => Status::already_exists(msg),
        RuntimeError::BadState { .. } => Status::failed_precondition(msg),
        _ => Status::internal(msg),
    }
}

/// Maps a failed pull to a gRPC code, naming the image.
pub fn registry_status(image: &str, e: crate::registry::RegistryError) -> Status {
    use crate::registry::RegistryError as E;
    let msg = format!("pull {image}: {e}");
    match e {
        E::NotFound { .. } => Status::not_found(msg),
        E::Unreachable { .. } => Status::unavailable(msg),
        E::Tls { .. } | E::PlainHttp { .. } => Status::failed_precondition(msg),
        E::Unauthorized { .. } => Status::permission_denied(msg),
        E::Unsupported(_) => Status::failed_precondition(msg),
        E::Protocol { .. } => Status::internal(msg),
        E::Store(e) => status(e),
    }
}

/// The daemon's streaming server, which the `Exec`, `Attach` and `PortForward` rpcs hand out
/// sessions of.
fn streaming_server() -> Result<std::sync::Arc<crate::streaming::StreamingServer>, Status> {
    crate::streaming::installed()
        .ok_or_else(|| Status::unavailable("the streaming server is not running"))
}

/// The CRI services sharing one [`Runtime`].
#[derive(Debug, Clone)]
pub struct Cri {
    pub rt: Arc<Runtime>,
}

type R<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl RuntimeService for Cri {
    async fn version(&self, _: Request<cri::VersionRequest>) -> R<cri::VersionResponse> {
        Ok(Response::new(cri::VersionResponse {
            version: "0.1.0".into(),
            runtime_name: "tinykube".into(),
            runtime_version: env!("CARGO_PKG_VERSION").into(),
            runtime_api_version: "v1".into(),
        }))
    }
    async fn run_pod_sandbox(
        &self,
        r: Request<cri::RunPodSandboxRequest>,
    ) -> R<cri::RunPodSandboxResponse> {
        let r = r.into_inner();
        if !r.runtime_handler.is_empty() {
            return Err(Status::invalid_argument(format!(
                "unknown runtime handler {:?}",
                r.runtime_handler
            )));
        }
        let config = r
            .config
            .ok_or_else(|| Status::invalid_argument("config is required"))?;
        let id = self.rt.run_sandbox(config).await.map_err(status)?;
        Ok(Response::new(cri::RunPodSandboxResponse {
            pod_sandbox_id: id,
        }))
    }
    async fn stop_pod_sandbox(
        &self,
        r: Request<cri::StopPodSandboxRequest>,
    ) -> R<cri::StopPodSandboxResponse> {
        self.rt
            .stop_sandbox(&r.into_inner().pod_sandbox_id)
            .await
            .map_err(status)?;
        Ok(Response::new(cri::StopPodSandboxResponse {}))
    }
    async fn remove_pod_sandbox(
        &self,
        r: Request<cri::RemovePodSandboxRequest>,
    ) -> R<cri::RemovePodSandboxResponse> {
        self.rt
            .remove_sandbox(&r.into_inner().pod_sandbox_id)
            .await
            .map_err(status)?;
        Ok(Response::new(cri::RemovePodSandboxResponse {}))
    }
    async fn pod_sandbox_status(
        &self,
        r: Request<cri::PodSandboxStatusRequest>,
    ) -> R<cri::PodSandboxStatusResponse> {
        let r = r.into_inner();
        Ok(Response::new(
            self.rt
                .sandbox_status(&r.pod_sandbox_id, r.verbose)
                .map_err(status)?,
        ))
    }
    async fn list_pod_sandbox(
        &self,
        r: Request<cri::ListPodSandboxRequest>,
    ) -> R<cri::ListPodSandboxResponse> {
        Ok(Response::new(cri::ListPodSandboxResponse {
            items: self.rt.list_sandboxes(r.into_inner().filter),
        }))
    }
    async fn create_container(
        &self,
        r: Request<cri::CreateContainerRequest>,
    ) -> R<cri::CreateContainerResponse> {
        let r = r.into_inner();
        let config = r
            .config
            .ok_or_else(|| Status::invalid_argument("config is required"))?;
        let id = self
            .rt
            .create_container(&r.pod_sandbox_id, config)
            .await
            .map_err(status)?;
        Ok(Response::new(cri::CreateContainerResponse {
            container_id: id,
        }))
    }
    async fn start_container(
        &self,
        r: Request<cri::StartContainerRequest>,
    ) -> R<cri::StartContainerResponse> {
        self.rt
            .start_container(&r.into_inner().container_id)
            .await
            .map_err(status)?;
        Ok(Response::new(cri::StartContainerResponse {}))
    }
    async fn stop_container(
        &self,
        r: Request<cri::StopContainerRequest>,
    ) -> R<cri::StopContainerResponse> {
        let r = r.into_inner();
        self.rt
            .stop_container(&r.container_id, r.timeout)
            .await
            .map_err(status)?;
        Ok(Response::new(cri::StopContainerResponse {}))
    }
    async fn remove_container(
        &self,
        r: Request<cri::RemoveContainerRequest>,
    ) -> R<cri::RemoveContainerResponse> {
        self.rt
            .remove_container(&r.into_inner().container_id)
            .await
            .map_err(status)?;
        Ok(Response::new(cri::RemoveContainerResponse {}))
    }
    async fn list_containers(
        &self,
        r: Request<cri::ListContainersRequest>,
    ) -> R<cri::ListContainersResponse> {
        Ok(Response::new(cri::ListContainersResponse {
            containers: self.rt.list_containers(r.into_inner().filter),
        }))
    }
    async fn container_status(
        &self,
        r: Request<cri::ContainerStatusRequest>,
    ) -> R<cri::ContainerStatusResponse> {
        let r = r.into_inner();
        Ok(Response::new(
            self.rt
                .container_status(&r.container_id, r.verbose)
                .map_err(status)?,
        ))
    }
    async fn update_container_resources(
        &self,
        _: Request<cri::UpdateContainerResourcesRequest>,
    ) -> R<cri::UpdateContainerResourcesResponse> {
        Err(Status::unimplemented(
            "UpdateContainerResources is not supported by tinykube-runtime",
        ))
    }
    async fn reopen_container_log(
        &self,
        r: Request<cri::ReopenContainerLogRequest>,
    ) -> R<cri::ReopenContainerLogResponse> {
        self.rt
            .reopen_log(&r.into_inner().container_id)
            .map_err(status)?;
        Ok(Response::new(cri::ReopenContainerLogResponse {}))
    }
    async fn exec_sync(&self, r: Request<cri::ExecSyncRequest>) -> R<cri::ExecSyncResponse> {
        let r = r.into_inner();
        let (stdout, stderr, exit_code) = self
            .rt
            .exec_sync(&r.container_id, r.cmd, r.timeout)
            .await
            .map_err(status)?;
        Ok(Response::new(cri::ExecSyncResponse {
            stdout,
            stderr,
            exit_code,
        }))
    }
    async fn exec(&self, r: Request<cri::ExecRequest>) -> R<cri::ExecResponse> {
        let url = streaming_server()?
            .prepare_exec(r.into_inner())
            .map_err(status)?;
        Ok(Response::new(cri::ExecResponse { url }))
    }
    async fn attach(&self, r: Request<cri::AttachRequest>) -> R<cri::AttachResponse> {
        let url = streaming_server()?
            .prepare_attach(r.into_inner())
            .map_err(status)?;
        Ok(Response::new(cri::AttachResponse { url }))
    }
    async fn port_forward(
        &self,
        r: Request<cri::PortForwardRequest>,
    ) -> R<cri::PortForwardResponse> {
        let url = streaming_server()?
            .prepare_port_forward(r.into_inner())
            .map_err(status)?;
        Ok(Response::new(cri::PortForwardResponse { url }))
    }
    async fn container_stats(
        &self,
        r: Request<cri::ContainerStatsRequest>,
    ) -> R<cri::ContainerStatsResponse> {
        let s = self
            .rt
            .container_stats(&r.into_inner().container_id)
            .map_err(status)?;
        Ok(Response::new(cri::ContainerStatsResponse {
            stats: Some(s),
        }))
    }
    async fn list_container_stats(
        &self,
        r: Request<cri::ListContainerStatsRequest>,
    ) -> R<cri::ListContainerStatsResponse> {
        Ok(Response::new(cri::ListContainerStatsResponse {
            stats: self.rt.list_container_stats(r.into_inner().filter),
        }))
    }
    async fn update_runtime_config(
        &self,
        _: Request<cri::UpdateRuntimeConfigRequest>,
    ) -> R<cri::UpdateRuntimeConfigResponse> {
        // The pod CIDR reaches us through the CNI config the kubelet writes.
        Ok(Response::new(cri::UpdateRuntimeConfigResponse {}))
    }
    async fn status(&self, _: Request<cri::StatusRequest>) -> R<cri::StatusResponse> {
        let net = self.rt.network_ready();
        Ok(Response::new(cri::StatusResponse {
            status: Some(cri::RuntimeStatus {
                conditions: vec![
                    cri::RuntimeCondition {
                        r#type: "RuntimeReady".into(),
                        status: true,
                        reason: String::new(),
                        message: String::new(),
                    },
                    cri::RuntimeCondition {
                        r#type: "NetworkReady".into(),
                        status: net.is_ok(),
                        reason: if net.is_ok() {
                            String::new()
                        } else {
                            "NetworkPluginNotReady".into()
                        },
                        message: net.err().unwrap_or_default(),
                    },
                ],
            }),
            info: Default::default(),
        }))
    }
    async fn runtime_config(
        &self,
        _: Request<cri::RuntimeConfigRequest>,
    ) -> R<cri::RuntimeConfigResponse> {
        Ok(Response::new(cri::RuntimeConfigResponse {
            linux: Some(cri::LinuxRuntimeConfiguration {
                cgroup_driver: cri::CgroupDriver::Cgroupfs as i32,
            }),
        }))
    }
}

fn image_of(i: &crate::image::ImageRecord) -> cri::Image {
    let user = i.config.user.clone().unwrap_or_default();
    let user = user.split(':').next().unwrap_or("").to_string();
    let (uid, username) = match user.parse::<i64>() {
        Ok(n) => (Some(cri::Int64Value { value: n }), String::new()),
        Err(_) => (None, user),
    };
    cri::Image {
        id: i.id.clone(),
        repo_tags: i.repo_tags.clone(),
        repo_digests: i.repo_digests.clone(),
        size: i.size,
        uid,
        username,
        spec: Some(cri::ImageSpec {
            image: i.id.clone(),
            ..Default::default()
        }),
        pinned: false,
    }
}

#[tonic::async_trait]
impl ImageService for Cri {
    async fn list_images(&self, r: Request<cri::ListImagesRequest>) -> R<cri::ListImagesResponse> {
        let filter = r
            .into_inner()
            .filter
            .and_then(|f| f.image)
            .map(|i| i.image)
            .unwrap_or_default();
        let images = if filter.is_empty() {
            self.rt.images.list().map_err(status)?
        } else {
            self.rt
                .images
                .find(&filter)
                .map_err(status)?
                .into_iter()
                .collect()
        };
        Ok(Response::new(cri::ListImagesResponse {
            images: images.iter().map(image_of).collect(),
        }))
    }
    async fn image_status(
        &self,
        r: Request<cri::ImageStatusRequest>,
    ) -> R<cri::ImageStatusResponse> {
        let r = r.into_inner();
        let spec = r.image.map(|i| i.image).unwrap_or_default();
        let img = self.rt.images.find(&spec).map_err(status)?;
        let mut info = std::collections::HashMap::new();
        if let (true, Some(i)) = (r.verbose, &img) {
            // As containerd: the image config under `imageSpec`, for tools that show it.
            info.insert(
                "info".to_string(),
                serde_json::json!({"imageSpec": {"config": i.config}}).to_string(),
            );
        }
        Ok(Response::new(cri::ImageStatusResponse {
            image: img.as_ref().map(image_of),
            info,
        }))
    }
    async fn pull_image(&self, r: Request<cri::PullImageRequest>) -> R<cri::PullImageResponse> {
        let r = r.into_inner();
        let spec = r.image.map(|i| i.image).unwrap_or_default();
        let reference = crate::reference::Reference::parse(&spec).map_err(status)?;
        let credentials = r.auth.and_then(|a| {
            crate::registry::Credentials::from_cri(
                &a.username,
                &a.password,
                &a.auth,
                &a.registry_token,
            )
        });
        let platform = crate::registry::default_platform();
        let pulled = crate::registry::pull(
            &self.rt.images,
            &self.rt.cfg.registry,
            &reference,
            &platform,
            credentials,
        )
        .await;
        match pulled {
            Ok(img) => {
                tracing::info!(image = %reference.full(), id = %img.id, "pulled");
                Ok(Response::new(cri::PullImageResponse { image_ref: img.id }))
            }
            Err(e @ crate::registry::RegistryError::Unreachable { .. }) => {
                // Images imported offline (the busybox of tests and demos) stay usable by a
                // kubelet whose pull policy says Always when their registry is out of reach.
                // Anything else (an untrusted certificate, plain HTTP where HTTPS was
                // expected, an unsupported manifest) is an answer the user must see, never
                // hidden behind a stale local image.
                match self.rt.images.find(&spec).map_err(status)? {
                    Some(img) => {
                        tracing::warn!(image = %reference.full(), "{e}; using the local image");
                        Ok(Response::new(cri::PullImageResponse { image_ref: img.id }))
                    }
                    None => Err(registry_status(&spec, e)),
                }
            }
            Err(e) => Err(registry_status(&spec, e)),
        }
    }
    async fn remove_image(
        &self,
        r: Request<cri::RemoveImageRequest>,
    ) -> R<cri::RemoveImageResponse> {
        let spec = r.into_inner().image.map(|i| i.image).unwrap_or_default();
        if let Some(img) = self.rt.images.find(&spec).map_err(status)? {
            if self.rt.images_in_use().contains(&img.id) {
                return Err(Status::failed_precondition(format!(
                    "image {spec} is in use by a container"
                )));
            }
            self.rt.images.remove(&img.id).map_err(status)?;
        }
        Ok(Response::new(cri::RemoveImageResponse {}))
    }
    async fn image_fs_info(
        &self,
        _: Request<cri::ImageFsInfoRequest>,
    ) -> R<cri::ImageFsInfoResponse> {
        let (bytes, inodes) = self.rt.images.usage();
        Ok(Response::new(cri::ImageFsInfoResponse {
            image_filesystems: vec![cri::FilesystemUsage {
                timestamp: crate::shim::now_ns(),
                fs_id: Some(cri::FilesystemIdentifier {
                    mountpoint: self.rt.images.root().display().to_string(),
                }),
                used_bytes: Some(cri::UInt64Value { value: bytes }),
                inodes_used: Some(cri::UInt64Value { value: inodes }),
            }],
            container_filesystems: vec![],
        }))
    }
}

/// Serves CRI on the unix socket `socket` until `shutdown` resolves. A stale socket file is
/// replaced.
pub async fn serve(
    rt: Arc<Runtime>,
    socket: &Path,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    if let Some(p) = socket.parent() {
        std::fs::create_dir_all(p)?;
    }
    let _ = std::fs::remove_file(socket);
    let listener = tokio::net::UnixListener::bind(socket)
        .map_err(|e| anyhow::anyhow!("listen on {}: {e}", socket.display()))?;
    let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener);
    let svc = Cri { rt };
    tracing::info!(socket = %socket.display(), "serving CRI");
    tonic::transport::Server::builder()
        .add_service(RuntimeServiceServer::new(svc.clone()))
        .add_service(ImageServiceServer::new(svc))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await?;
    let _ = std::fs::remove_file(socket);
    Ok(())
}
