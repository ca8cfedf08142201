//! [`CriRuntime`]: the [`Runtime`] trait over CRI v1 gRPC on a unix socket,
//! for containerd's CRI plugin or CRI-O (feature `cri`).
//!
//! What it does as the kubelet does:
//! * Every call has a deadline ([`CriRuntimeConfig::call_timeout`], the
//!   kubelet's `--runtime-request-timeout`, 2 minutes by default; image
//!   pulls [`CriRuntimeConfig::pull_timeout`]); `StopContainer` and
//!   `ExecSync` get their own timeout on top.
//! * Errors carry the CRI method, the object and the gRPC status
//!   ([`Error::Cri`]); `NotFound` becomes [`Error::NotFound`], and stopping
//!   or removing what is already gone succeeds.
//! * The connection is made on first use and again after the runtime
//!   restarts: a call while it is down fails with `Unavailable`, the next
//!   one after it is back succeeds.
//! * Sandboxes share the node's network namespace when the pod asks for it
//!   or when no CNI config exists ([`CriRuntimeConfig::cni_conf_dir`]);
//!   their pod IP is then empty and the node agent reports the node's IP.
//! * Container logs go to the sandbox config's `log_directory`, or when it
//!   is empty to `{pod_logs_root}/{namespace}_{name}_{uid}/` (the kubelet's
//!   `/var/log/pods` layout), created before the sandbox; the default
//!   directory is removed with the sandbox.
//!
//! ```no_run
//! # async fn demo() -> orch_runtime::Result<()> {
//! use orch_runtime::cri::{CriRuntime, CriRuntimeConfig};
//! use orch_runtime::runtime::Runtime;
//!
//! let rt = CriRuntime::connect(CriRuntimeConfig::new("/run/containerd/containerd.sock")).await?;
//! println!("{}", rt.version().await?.runtime_name); // "containerd"
//! # Ok(()) }
//! ```

mod convert;

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use hyper_util::rt::TokioIo;
use k8s_cri::v1 as cri;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::runtime::{
    AuthConfig, Container, ContainerConfig, ContainerFilter, ContainerStatus, ExecSyncResponse,
    Image, ImageSpec, PodSandbox, PodSandboxConfig, PodSandboxFilter, PodSandboxMetadata,
    PodSandboxStatus, Runtime, VersionInfo,
};
use crate::{Error, Result};

/// Settings of a [`CriRuntime`].
#[derive(Clone, Debug)]
pub struct CriRuntimeConfig {
    /// The runtime's CRI socket, e.g. `/run/containerd/containerd.sock`.
    pub socket: PathBuf,
    /// Deadline of every call but pulls (the kubelet's 2 minutes).
    pub call_timeout: Duration,
    /// Deadline of `PullImage`.
    pub pull_timeout: Duration,
    /// Where pod log directories are made (the kubelet's `/var/log/pods`).
    pub pod_logs_root: PathBuf,
    /// Where CNI network configs are looked for; without one, every sandbox
    /// uses the node's network.
    pub cni_conf_dir: PathBuf,
    /// The CRI runtime handler (runtime class); empty for the default.
    pub runtime_handler: String,
}

impl CriRuntimeConfig {
    /// Defaults for the runtime at `socket`: 2-minute calls, 10-minute
    /// pulls, logs under `/var/log/pods`, CNI configs in `/etc/cni/net.d`.
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        CriRuntimeConfig {
            socket: socket.into(),
            call_timeout: Duration::from_secs(120),
            pull_timeout: Duration::from_secs(600),
            pod_logs_root: PathBuf::from("/var/log/pods"),
            cni_conf_dir: PathBuf::from("/etc/cni/net.d"),
            runtime_handler: String::new(),
        }
    }

    /// Changes where pod log directories are made.
    #[must_use]
    pub fn pod_logs_root(mut self, dir: impl Into<PathBuf>) -> Self {
        self.pod_logs_root = dir.into();
        self
    }

    /// Changes where CNI configs are looked for.
    #[must_use]
    pub fn cni_conf_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cni_conf_dir = dir.into();
        self
    }

    /// Changes the deadline of every call but pulls.
    #[must_use]
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }
}

/// The [`Runtime`] trait over CRI. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct CriRuntime {
    config: CriRuntimeConfig,
    runtime: RuntimeServiceClient<Channel>,
    images: ImageServiceClient<Channel>,
}

fn status_error(call: &str, object: &str, status: tonic::Status) -> Error {
    if status.code() == tonic::Code::NotFound {
        return Error::NotFound { what: format!("{object} ({call}: {})", status.message()) };
    }
    Error::Cri {
        call: call.to_owned(),
        object: object.to_owned(),
        code: format!("{:?}", status.code()),
        message: status.message().to_owned(),
    }
}

/// Seconds for a CRI timeout field, rounded up (CRI counts whole seconds).
fn whole_seconds(d: Duration) -> i64 {
    d.as_millis().div_ceil(1000) as i64
}

/// A registry's address as a URL: containerd parses `server_address` as
/// one and compares its host with the registry's, so a bare `host:port`
/// (as the kubelet and Docker configs write it) gets a scheme.
fn server_url(address: &str) -> String {
    if address.is_empty() || address.contains("://") {
        address.to_owned()
    } else {
        format!("https://{address}")
    }
}

/// Success for what is already gone (stop and remove are idempotent).
fn gone_is_ok(r: Result<()>) -> Result<()> {
    match r {
        Err(Error::NotFound { .. }) => Ok(()),
        other => other,
    }
}

impl CriRuntime {
    /// A runtime client for the socket in `config`, checked with a `Version`
    /// call; later calls reconnect by themselves if the runtime restarts.
    ///
    /// Errors: [`Error::Cri`] (`Unavailable`) if nothing answers on the
    /// socket within the call timeout.
    pub async fn connect(config: CriRuntimeConfig) -> Result<Self> {
        let rt = Self::connect_lazy(config);
        rt.version().await?;
        Ok(rt)
    }

    /// A runtime client that connects on its first call (and again after
    /// the runtime restarts). Needs a tokio runtime (the connection's task).
    pub fn connect_lazy(config: CriRuntimeConfig) -> Self {
        let socket = config.socket.clone();
        // The URI is not used: every connection opens the unix socket.
        let endpoint = Endpoint::from_static("http://[::1]:0").connect_timeout(config.call_timeout);
        let channel = endpoint.connect_with_connector_lazy(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(&socket).await?;
                Ok::<_, std::io::Error>(TokioIo::new(stream))
            }
        }));
        CriRuntime {
            config,
            runtime: RuntimeServiceClient::new(channel.clone())
                .max_decoding_message_size(16 * 1024 * 1024),
            images: ImageServiceClient::new(channel).max_decoding_message_size(16 * 1024 * 1024),
        }
    }

    /// The settings.
    pub fn config(&self) -> &CriRuntimeConfig {
        &self.config
    }

    /// Runs one call with a deadline, mapping its status.
    async fn call<T>(
        &self,
        call: &str,
        object: &str,
        timeout: Duration,
        request: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T> {
        match tokio::time::timeout(timeout, request).await {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => Err(status_error(call, object, status)),
            Err(_) => Err(Error::Cri {
                call: call.to_owned(),
                object: object.to_owned(),
                code: "DeadlineExceeded".into(),
                message: format!("no answer within {} ms", timeout.as_millis()),
            }),
        }
    }

    /// True if a CNI network config exists (`*.conf`, `*.conflist`, `*.json`).
    pub fn cni_configured(&self) -> bool {
        let Ok(dir) = std::fs::read_dir(&self.config.cni_conf_dir) else { return false };
        dir.flatten().any(|e| {
            matches!(
                e.path().extension().and_then(|x| x.to_str()),
                Some("conf" | "conflist" | "json")
            )
        })
    }

    /// The pod's log directory: the config's, or the kubelet's layout
    /// `{pod_logs_root}/{namespace}_{name}_{uid}`.
    pub fn log_directory(&self, config: &PodSandboxConfig) -> PathBuf {
        if !config.log_directory.is_empty() {
            return PathBuf::from(&config.log_directory);
        }
        self.default_log_directory(&config.metadata)
    }

    fn default_log_directory(&self, m: &PodSandboxMetadata) -> PathBuf {
        self.config.pod_logs_root.join(format!("{}_{}_{}", m.namespace, m.name, m.uid))
    }

    fn sandbox_request(&self, config: &PodSandboxConfig) -> cri::PodSandboxConfig {
        let host_network = config.host_network || !self.cni_configured();
        let logs = self.log_directory(config);
        convert::sandbox_config_in(config, host_network, &logs.to_string_lossy())
    }
}

fn create_log_directory(dir: &Path, object: &str) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::State {
        path: dir.display().to_string(),
        reason: format!("log directory of {object}: {e}"),
    })
}

#[async_trait]
impl Runtime for CriRuntime {
    async fn version(&self) -> Result<VersionInfo> {
        let mut c = self.runtime.clone();
        let object = self.config.socket.display().to_string();
        let r = self
            .call(
                "Version",
                &object,
                self.config.call_timeout,
                c.version(cri::VersionRequest { version: "v1".into() }),
            )
            .await?;
        Ok(VersionInfo {
            runtime_api_version: r.runtime_api_version,
            runtime_name: r.runtime_name,
            runtime_version: r.runtime_version,
        })
    }

    async fn run_pod_sandbox(&self, config: &PodSandboxConfig) -> Result<String> {
        let object = format!("pod {}/{}", config.metadata.namespace, config.metadata.name);
        create_log_directory(&self.log_directory(config), &object)?;
        let mut c = self.runtime.clone();
        let request = cri::RunPodSandboxRequest {
            config: Some(self.sandbox_request(config)),
            runtime_handler: self.config.runtime_handler.clone(),
        };
        let r = self
            .call("RunPodSandbox", &object, self.config.call_timeout, c.run_pod_sandbox(request))
            .await?;
        Ok(r.pod_sandbox_id)
    }

    async fn stop_pod_sandbox(&self, id: &str) -> Result<()> {
        let mut c = self.runtime.clone();
        let request = cri::StopPodSandboxRequest { pod_sandbox_id: id.to_owned() };
        let object = format!("sandbox {id}");
        gone_is_ok(
            self.call(
                "StopPodSandbox",
                &object,
                self.config.call_timeout,
                c.stop_pod_sandbox(request),
            )
            .await
            .map(drop),
        )
    }

    async fn remove_pod_sandbox(&self, id: &str) -> Result<()> {
        let logs = match self.pod_sandbox_status(id).await {
            Ok(s) => Some(self.default_log_directory(&s.metadata)),
            Err(Error::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut c = self.runtime.clone();
        let request = cri::RemovePodSandboxRequest { pod_sandbox_id: id.to_owned() };
        let object = format!("sandbox {id}");
        gone_is_ok(
            self.call(
                "RemovePodSandbox",
                &object,
                self.config.call_timeout,
                c.remove_pod_sandbox(request),
            )
            .await
            .map(drop),
        )?;
        if let Some(dir) = logs {
            // As the kubelet: a removed pod's logs go with it.
            let _ = std::fs::remove_dir_all(dir);
        }
        Ok(())
    }

    async fn pod_sandbox_status(&self, id: &str) -> Result<PodSandboxStatus> {
        let mut c = self.runtime.clone();
        let request =
            cri::PodSandboxStatusRequest { pod_sandbox_id: id.to_owned(), verbose: false };
        let object = format!("sandbox {id}");
        let r = self
            .call(
                "PodSandboxStatus",
                &object,
                self.config.call_timeout,
                c.pod_sandbox_status(request),
            )
            .await?;
        let status = r.status.ok_or(Error::NotFound { what: object })?;
        Ok(convert::sandbox_status_out(status))
    }

    async fn list_pod_sandbox(&self, filter: &PodSandboxFilter) -> Result<Vec<PodSandbox>> {
        let mut c = self.runtime.clone();
        let request =
            cri::ListPodSandboxRequest { filter: Some(convert::sandbox_filter_in(filter)) };
        let r = self
            .call(
                "ListPodSandbox",
                "sandboxes",
                self.config.call_timeout,
                c.list_pod_sandbox(request),
            )
            .await?;
        Ok(r.items.into_iter().map(convert::sandbox_out).collect())
    }

    async fn create_container(
        &self,
        pod_sandbox_id: &str,
        config: &ContainerConfig,
        sandbox_config: &PodSandboxConfig,
    ) -> Result<String> {
        let object = format!(
            "container {} of pod {}/{}",
            config.metadata.name, sandbox_config.metadata.namespace, sandbox_config.metadata.name
        );
        let logs = self.log_directory(sandbox_config);
        if let Some(dir) = Path::new(&config.log_path).parent() {
            create_log_directory(&logs.join(dir), &object)?;
        }
        let mut c = self.runtime.clone();
        let request = cri::CreateContainerRequest {
            pod_sandbox_id: pod_sandbox_id.to_owned(),
            config: Some(convert::container_config_in(config)),
            sandbox_config: Some(self.sandbox_request(sandbox_config)),
        };
        let r = self
            .call("CreateContainer", &object, self.config.call_timeout, c.create_container(request))
            .await?;
        Ok(r.container_id)
    }

    async fn start_container(&self, id: &str) -> Result<()> {
        let mut c = self.runtime.clone();
        let request = cri::StartContainerRequest { container_id: id.to_owned() };
        let object = format!("container {id}");
        self.call("StartContainer", &object, self.config.call_timeout, c.start_container(request))
            .await
            .map(drop)
    }

    async fn stop_container(&self, id: &str, timeout: Duration) -> Result<()> {
        let mut c = self.runtime.clone();
        let request = cri::StopContainerRequest {
            container_id: id.to_owned(),
            timeout: whole_seconds(timeout),
        };
        let object = format!("container {id}");
        let deadline = timeout + self.config.call_timeout;
        gone_is_ok(
            self.call("StopContainer", &object, deadline, c.stop_container(request))
                .await
                .map(drop),
        )
    }

    async fn remove_container(&self, id: &str) -> Result<()> {
        let mut c = self.runtime.clone();
        let request = cri::RemoveContainerRequest { container_id: id.to_owned() };
        let object = format!("container {id}");
        gone_is_ok(
            self.call(
                "RemoveContainer",
                &object,
                self.config.call_timeout,
                c.remove_container(request),
            )
            .await
            .map(drop),
        )
    }

    async fn container_status(&self, id: &str) -> Result<ContainerStatus> {
        let mut c = self.runtime.clone();
        let request = cri::ContainerStatusRequest { container_id: id.to_owned(), verbose: false };
        let object = format!("container {id}");
        let r = self
            .call("ContainerStatus", &object, self.config.call_timeout, c.container_status(request))
            .await?;
        let status = r.status.ok_or(Error::NotFound { what: object })?;
        Ok(convert::container_status_out(status))
    }

    async fn list_containers(&self, filter: &ContainerFilter) -> Result<Vec<Container>> {
        let mut c = self.runtime.clone();
        let request =
            cri::ListContainersRequest { filter: Some(convert::container_filter_in(filter)) };
        let r = self
            .call(
                "ListContainers",
                "containers",
                self.config.call_timeout,
                c.list_containers(request),
            )
            .await?;
        Ok(r.containers.into_iter().map(convert::container_out).collect())
    }

    async fn exec_sync(
        &self,
        id: &str,
        cmd: &[String],
        timeout: Duration,
    ) -> Result<ExecSyncResponse> {
        let mut c = self.runtime.clone();
        let request = cri::ExecSyncRequest {
            container_id: id.to_owned(),
            cmd: cmd.to_vec(),
            timeout: whole_seconds(timeout),
        };
        let object = format!("container {id}");
        let deadline = timeout + self.config.call_timeout;
        let r = self.call("ExecSync", &object, deadline, c.exec_sync(request)).await?;
        Ok(convert::exec_out(r))
    }

    async fn pull_image(&self, image: &ImageSpec, auth: Option<&AuthConfig>) -> Result<String> {
        let mut c = self.images.clone();
        let request = cri::PullImageRequest {
            image: Some(convert::image_in(image)),
            auth: auth.map(|a| cri::AuthConfig {
                username: a.username.clone(),
                password: a.password.clone(),
                server_address: server_url(&a.server_address),
                ..Default::default()
            }),
            sandbox_config: None,
        };
        let object = format!("image {}", image.image);
        let r = self
            .call("PullImage", &object, self.config.pull_timeout, c.pull_image(request))
            .await?;
        Ok(r.image_ref)
    }

    async fn image_status(&self, image: &ImageSpec) -> Result<Option<Image>> {
        let mut c = self.images.clone();
        let request =
            cri::ImageStatusRequest { image: Some(convert::image_in(image)), verbose: false };
        let object = format!("image {}", image.image);
        match self
            .call("ImageStatus", &object, self.config.call_timeout, c.image_status(request))
            .await
        {
            Ok(r) => Ok(r.image.map(convert::image_info_out)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn list_images(&self) -> Result<Vec<Image>> {
        let mut c = self.images.clone();
        let r = self
            .call(
                "ListImages",
                "images",
                self.config.call_timeout,
                c.list_images(cri::ListImagesRequest { filter: None }),
            )
            .await?;
        Ok(r.images.into_iter().map(convert::image_info_out).collect())
    }

    async fn remove_image(&self, image: &ImageSpec) -> Result<()> {
        let mut c = self.images.clone();
        let request = cri::RemoveImageRequest { image: Some(convert::image_in(image)) };
        let object = format!("image {}", image.image);
        gone_is_ok(
            self.call("RemoveImage", &object, self.config.call_timeout, c.remove_image(request))
                .await
                .map(drop),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_addresses_become_urls() {
        assert_eq!(server_url("127.0.0.1:5000"), "https://127.0.0.1:5000");
        assert_eq!(server_url("http://127.0.0.1:5000"), "http://127.0.0.1:5000");
        assert_eq!(server_url(""), "");
    }

    #[test]
    fn timeouts_round_up_to_whole_seconds() {
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_secs(2)), 2);
        assert_eq!(whole_seconds(Duration::from_millis(2001)), 3);
        assert_eq!(whole_seconds(Duration::ZERO), 0);
    }

    #[test]
    fn statuses_name_the_call_the_object_and_the_code() {
        let e = status_error("StartContainer", "container c1", tonic::Status::unavailable("down"));
        assert_eq!(e.to_string(), "StartContainer container c1: CRI status Unavailable: down");
        let e = status_error("ContainerStatus", "container c2", tonic::Status::not_found("gone"));
        assert!(matches!(e, Error::NotFound { .. }), "{e}");
    }

    #[tokio::test]
    async fn log_directories_follow_the_kubelet_layout() {
        let rt = CriRuntime::connect_lazy(
            CriRuntimeConfig::new("/nonexistent.sock").pod_logs_root("/var/log/pods"),
        );
        let config = PodSandboxConfig {
            metadata: PodSandboxMetadata {
                name: "web-0".into(),
                uid: "u1".into(),
                namespace: "default".into(),
                attempt: 0,
            },
            ..Default::default()
        };
        assert_eq!(rt.log_directory(&config), PathBuf::from("/var/log/pods/default_web-0_u1"));
    }
}
