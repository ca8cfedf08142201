//! The `Runtime` trait: CRI's RuntimeService and ImageService, in CRI's
//! vocabulary and shapes (`runtime.v1`), so that a node agent drives the
//! process runtime, containerd or CRI-O the same way.
//!
//! Times are nanoseconds since the Unix epoch, as in CRI. Labels on
//! sandboxes and containers are how a restarted agent finds — and adopts —
//! what it already runs.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;

use crate::Result;

/// CRI `VersionResponse`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VersionInfo {
    /// The CRI version spoken, e.g. `v1`.
    pub runtime_api_version: String,
    /// The runtime's name, e.g. `orch-process` or `containerd`.
    pub runtime_name: String,
    /// The runtime's version.
    pub runtime_version: String,
}

/// CRI `PodSandboxMetadata`: which pod a sandbox is for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodSandboxMetadata {
    /// Pod name.
    pub name: String,
    /// Pod uid.
    pub uid: String,
    /// Pod namespace.
    pub namespace: String,
    /// Attempt number of this sandbox for the pod.
    pub attempt: u32,
}

/// CRI `PodSandboxConfig`, the fields orch uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodSandboxConfig {
    /// Which pod.
    pub metadata: PodSandboxMetadata,
    /// The pod's hostname.
    pub hostname: String,
    /// Directory for the pod's container logs.
    pub log_directory: String,
    /// Labels (the agent puts the pod's identity here).
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// Share the host's network namespace.
    pub host_network: bool,
}

/// CRI `PodSandboxState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PodSandboxState {
    /// Running, with its network set up.
    Ready,
    /// Stopped or failed.
    NotReady,
}

/// CRI `PodSandbox` (list entry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodSandbox {
    /// Sandbox ID.
    pub id: String,
    /// Which pod.
    pub metadata: PodSandboxMetadata,
    /// State.
    pub state: PodSandboxState,
    /// Creation time, ns since the epoch.
    pub created_at: i64,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
}

/// CRI `PodSandboxStatus`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodSandboxStatus {
    /// Sandbox ID.
    pub id: String,
    /// Which pod.
    pub metadata: PodSandboxMetadata,
    /// State.
    pub state: PodSandboxState,
    /// Creation time, ns since the epoch.
    pub created_at: i64,
    /// The pod's IP.
    pub ip: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
}

/// CRI `PodSandboxFilter`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodSandboxFilter {
    /// Only this sandbox.
    pub id: Option<String>,
    /// Only sandboxes in this state.
    pub state: Option<PodSandboxState>,
    /// Only sandboxes with all these labels.
    pub label_selector: BTreeMap<String, String>,
}

/// CRI `ContainerMetadata`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerMetadata {
    /// The container's name in the pod.
    pub name: String,
    /// Attempt number: 0 for the first start, then one per restart.
    pub attempt: u32,
}

/// CRI `ImageSpec`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageSpec {
    /// Image reference, e.g. `docker.io/library/busybox:1.36`.
    pub image: String,
}

/// CRI `LinuxContainerResources`, the fields orch sets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinuxContainerResources {
    /// CPU shares (relative weight), from the cpu request.
    pub cpu_shares: i64,
    /// CFS quota in µs per period, from the cpu limit (0: none).
    pub cpu_quota: i64,
    /// CFS period in µs (0: the default 100 ms).
    pub cpu_period: i64,
    /// Memory limit in bytes (0: none).
    pub memory_limit_in_bytes: i64,
}

/// CRI `Mount`: a host path made visible inside the container.
///
/// `CriRuntime` passes it to the runtime as it is (containerd
/// and CRI-O bind-mount `host_path` at `container_path`).
/// [`ProcessRuntime`](crate::process::ProcessRuntime) has no mount
/// namespace: it gives such a container a directory standing for its root
/// (`$ORCH_ROOT`) where `container_path` is a symlink to `host_path`; see
/// its docs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mount {
    /// Absolute path in the container, e.g. `/etc/config`.
    pub container_path: String,
    /// Absolute path on the node, e.g. the volume's directory.
    pub host_path: String,
    /// Mount read-only.
    pub readonly: bool,
}

/// CRI `ContainerConfig`, the fields orch uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerConfig {
    /// Name and attempt.
    pub metadata: ContainerMetadata,
    /// The image.
    pub image: ImageSpec,
    /// Entrypoint; the image's if empty.
    pub command: Vec<String>,
    /// Arguments.
    pub args: Vec<String>,
    /// Working directory.
    pub working_dir: String,
    /// Environment, in order.
    pub envs: Vec<(String, String)>,
    /// Labels (the agent puts the container's identity here).
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// Log file path, relative to the sandbox's log directory.
    pub log_path: String,
    /// Resources.
    pub resources: LinuxContainerResources,
    /// Host paths mounted into the container (the Pod's volumes), in order.
    pub mounts: Vec<Mount>,
}

/// CRI `ContainerState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContainerState {
    /// Created, not started.
    Created,
    /// Running.
    Running,
    /// Exited.
    Exited,
    /// Unknown.
    Unknown,
}

/// CRI `Container` (list entry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    /// Container ID.
    pub id: String,
    /// Its sandbox.
    pub pod_sandbox_id: String,
    /// Name and attempt.
    pub metadata: ContainerMetadata,
    /// The image.
    pub image: ImageSpec,
    /// State.
    pub state: ContainerState,
    /// Creation time, ns since the epoch.
    pub created_at: i64,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
}

/// CRI `ContainerStatus`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerStatus {
    /// Container ID.
    pub id: String,
    /// Name and attempt.
    pub metadata: ContainerMetadata,
    /// State.
    pub state: ContainerState,
    /// Creation time, ns since the epoch.
    pub created_at: i64,
    /// Start time, ns since the epoch (0 if not started).
    pub started_at: i64,
    /// Exit time, ns since the epoch (0 if not exited).
    pub finished_at: i64,
    /// Exit code (128 + signal when killed by a signal).
    pub exit_code: i32,
    /// The image.
    pub image: ImageSpec,
    /// Machine-readable reason, e.g. `Completed`, `Error`, `OOMKilled`.
    pub reason: String,
    /// Human-readable detail.
    pub message: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// Absolute path of the container's log file.
    pub log_path: String,
}

/// CRI `ContainerFilter`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerFilter {
    /// Only this container.
    pub id: Option<String>,
    /// Only containers in this state.
    pub state: Option<ContainerState>,
    /// Only containers of this sandbox.
    pub pod_sandbox_id: Option<String>,
    /// Only containers with all these labels.
    pub label_selector: BTreeMap<String, String>,
}

/// CRI `ExecSyncResponse`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecSyncResponse {
    /// Captured standard output.
    pub stdout: Vec<u8>,
    /// Captured standard error.
    pub stderr: Vec<u8>,
    /// Exit code.
    pub exit_code: i32,
}

/// CRI `AuthConfig`: registry credentials.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthConfig {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
    /// Registry host the credentials are for.
    pub server_address: String,
}

/// CRI `Image`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Image {
    /// Image ID.
    pub id: String,
    /// Tags.
    pub repo_tags: Vec<String>,
    /// Size in bytes.
    pub size: u64,
}

/// True if `labels` has every pair of `selector`.
pub fn labels_match(
    labels: &BTreeMap<String, String>,
    selector: &BTreeMap<String, String>,
) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// A container runtime, in CRI's shape. Shared as `Arc<dyn Runtime>`.
///
/// Errors are [`Error::Runtime`](crate::Error::Runtime) naming the call and
/// the object, or [`Error::NotFound`](crate::Error::NotFound) for an
/// unknown sandbox, container or image.
#[async_trait]
pub trait Runtime: Send + Sync + 'static {
    /// The runtime's name and version.
    async fn version(&self) -> Result<VersionInfo>;

    /// Creates and starts a pod sandbox (its network: the pod IP); returns its ID.
    async fn run_pod_sandbox(&self, config: &PodSandboxConfig) -> Result<String>;
    /// Stops a sandbox and every container in it (force). Idempotent.
    async fn stop_pod_sandbox(&self, id: &str) -> Result<()>;
    /// Removes a stopped sandbox and its containers. Idempotent.
    async fn remove_pod_sandbox(&self, id: &str) -> Result<()>;
    /// A sandbox's status, with its IP.
    async fn pod_sandbox_status(&self, id: &str) -> Result<PodSandboxStatus>;
    /// Sandboxes matching the filter.
    async fn list_pod_sandbox(&self, filter: &PodSandboxFilter) -> Result<Vec<PodSandbox>>;

    /// Creates a container in a sandbox; returns its ID.
    async fn create_container(
        &self,
        pod_sandbox_id: &str,
        config: &ContainerConfig,
        sandbox_config: &PodSandboxConfig,
    ) -> Result<String>;
    /// Starts a created container.
    async fn start_container(&self, id: &str) -> Result<()>;
    /// Stops a container: SIGTERM, then SIGKILL after `timeout`. Idempotent.
    async fn stop_container(&self, id: &str, timeout: Duration) -> Result<()>;
    /// Removes a container (stopping it first if needed). Idempotent.
    async fn remove_container(&self, id: &str) -> Result<()>;
    /// A container's status.
    async fn container_status(&self, id: &str) -> Result<ContainerStatus>;
    /// Containers matching the filter.
    async fn list_containers(&self, filter: &ContainerFilter) -> Result<Vec<Container>>;
    /// Runs a command in a container's environment and waits for it, at
    /// most `timeout`.
    async fn exec_sync(
        &self,
        id: &str,
        cmd: &[String],
        timeout: Duration,
    ) -> Result<ExecSyncResponse>;

    /// Pulls an image; returns its reference.
    async fn pull_image(&self, image: &ImageSpec, auth: Option<&AuthConfig>) -> Result<String>;
    /// An image's status, `None` if absent.
    async fn image_status(&self, image: &ImageSpec) -> Result<Option<Image>>;
    /// Every image.
    async fn list_images(&self) -> Result<Vec<Image>>;
    /// Removes an image. Idempotent.
    async fn remove_image(&self, image: &ImageSpec) -> Result<()>;
}
