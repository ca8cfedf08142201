//! Pod (core/v1): the unit the scheduler places and a node agent runs.
//!
//! The Pod and its spec are here; its status types are in `status.rs`, its
//! scheduling constraints (affinity, tolerations, topology spread) in
//! `scheduling.rs`, its volumes in `volume.rs` and its validation rules in `validation.rs`, all
//! re-exported from this module.

mod scheduling;
mod status;
mod validation;
mod volume;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::int_or_string::IntOrString;
use crate::meta::ObjectMeta;
use crate::quantity::Quantity;

pub use scheduling::{
    Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, PodAffinity,
    PodAffinityTerm, PreferredSchedulingTerm, Toleration, TopologySpreadConstraint,
    WeightedPodAffinityTerm,
};
pub use status::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    ContainerStatus, PodCondition, PodPhase, PodStatus,
};
pub use validation::{
    is_env_var_name, validate, validate_spec, validate_update, ENV_VAR_NAME_RULE,
};
pub use volume::{
    ConfigMapVolumeSource, EmptyDirVolumeSource, KeyToPath, SecretVolumeSource, Volume,
    VolumeMount, DEFAULT_PROJECTED_FILE_MODE,
};

/// A Pod: one or more containers run together on one node.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.Pod")]
#[serde(rename_all = "camelCase")]
pub struct Pod {
    /// `v1`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// `Pod`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Desired state.
    #[serde(default)]
    pub spec: PodSpec,
    /// Observed state, written by the scheduler and the node agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<PodStatus>,
}

fn pod_field(pod: &Pod, path: &str) -> Option<String> {
    match path {
        "spec.nodeName" => Some(pod.spec.node_name.clone().unwrap_or_default()),
        "spec.schedulerName" => Some(pod.spec.scheduler_name.clone().unwrap_or_default()),
        "spec.restartPolicy" => {
            Some(pod.spec.restart_policy.map(|p| p.as_str().to_owned()).unwrap_or_default())
        }
        "status.phase" => Some(
            pod.status
                .as_ref()
                .and_then(|s| s.phase)
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default(),
        ),
        "status.podIP" => {
            Some(pod.status.as_ref().and_then(|s| s.pod_ip.clone()).unwrap_or_default())
        }
        _ => None,
    }
}

/// A bound, unfinished pod is deleted gracefully: its node agent stops it.
fn pod_grace(pod: &Pod) -> Option<i64> {
    let bound = pod.spec.node_name.as_deref().is_some_and(|n| !n.is_empty());
    let finished = matches!(
        pod.status.as_ref().and_then(|s| s.phase),
        Some(PodPhase::Succeeded) | Some(PodPhase::Failed)
    );
    (bound && !finished).then(|| pod.spec.termination_grace_period_seconds())
}

crate::impl_resource!(Pod {
    group: "",
    version: "v1",
    kind: "Pod",
    plural: "pods",
    namespaced: true,
    status_subresource: true,
    fields: pod_field,
    validate: validation::validate,
    validate_update: validation::validate_update,
    graceful_deletion: pod_grace,
});

/// The desired state of a Pod (core/v1 `PodSpec`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.PodSpec")]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    /// Init containers, run to completion one after another before `containers`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-patch-strategy" = "merge", "x-kubernetes-patch-merge-key" = "name"))]
    pub init_containers: Vec<Container>,
    /// The containers; at least one.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-patch-strategy" = "merge", "x-kubernetes-patch-merge-key" = "name"))]
    pub containers: Vec<Container>,
    /// `Always` (the default), `OnFailure` or `Never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    /// The node the Pod is bound to; empty until scheduled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    /// Labels the node must have.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Node affinity, pod affinity and pod anti-affinity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// Taints this Pod tolerates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// How replicas spread across topology domains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-patch-strategy" = "merge", "x-kubernetes-patch-merge-key" = "topologyKey"))]
    pub topology_spread_constraints: Vec<TopologySpreadConstraint>,
    /// Scheduling priority; higher goes first. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// Name of a PriorityClass (recorded; orch reads `priority`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
    /// The scheduler profile that places this Pod; default `default-scheduler`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler_name: Option<String>,
    /// Seconds between SIGTERM and SIGKILL on shutdown; default 30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_grace_period_seconds: Option<i64>,
    /// Use the node's network namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_network: Option<bool>,
    /// The Pod's hostname; default its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Volumes the containers can mount, each name unique.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-patch-strategy" = "merge,retainKeys", "x-kubernetes-patch-merge-key" = "name"))]
    pub volumes: Vec<Volume>,
}

impl PodSpec {
    /// `restartPolicy`, defaulted to `Always`.
    pub fn restart_policy(&self) -> RestartPolicy {
        self.restart_policy.unwrap_or(RestartPolicy::Always)
    }

    /// `schedulerName`, defaulted to `default-scheduler`.
    pub fn scheduler_name(&self) -> &str {
        self.scheduler_name.as_deref().unwrap_or("default-scheduler")
    }

    /// `terminationGracePeriodSeconds`, defaulted to 30.
    pub fn termination_grace_period_seconds(&self) -> i64 {
        self.termination_grace_period_seconds.unwrap_or(30)
    }
}

/// When the node agent restarts a Pod's containers (core/v1 `RestartPolicy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.RestartPolicy")]
pub enum RestartPolicy {
    /// Restart whenever a container exits.
    Always,
    /// Restart when a container exits non-zero.
    OnFailure,
    /// Never restart.
    Never,
}

impl RestartPolicy {
    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RestartPolicy::Always => "Always",
            RestartPolicy::OnFailure => "OnFailure",
            RestartPolicy::Never => "Never",
        }
    }
}

/// One container of a Pod (core/v1 `Container`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.Container")]
#[serde(rename_all = "camelCase")]
pub struct Container {
    /// Name, a DNS-1123 label unique in the Pod.
    pub name: String,
    /// Image reference. What it means depends on the runtime.
    #[serde(default)]
    pub image: String,
    /// `Always`, `IfNotPresent` or `Never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
    /// Entrypoint; the image's if empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Arguments to the entrypoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Environment variables; they override those of `env_from`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-patch-strategy" = "merge", "x-kubernetes-patch-merge-key" = "name"))]
    pub env: Vec<EnvVar>,
    /// Every key of ConfigMaps and Secrets as environment variables, in
    /// order (a later source overrides an earlier).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_from: Vec<EnvFromSource>,
    /// Ports the container listens on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-patch-strategy" = "merge", "x-kubernetes-patch-merge-key" = "containerPort"))]
    pub ports: Vec<ContainerPort>,
    /// Resource requests and limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Restarts the container when it fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_probe: Option<Probe>,
    /// Decides whether the container is Ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness_probe: Option<Probe>,
    /// Holds off the other probes until it succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_probe: Option<Probe>,
    /// Hooks run after the container starts and before it is stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Lifecycle>,
    /// The Pod's volumes this container mounts, and where.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-patch-strategy" = "merge", "x-kubernetes-patch-merge-key" = "mountPath"))]
    pub volume_mounts: Vec<VolumeMount>,
}

/// A container's lifecycle hooks (core/v1 `Lifecycle`), run by the node
/// agent as the kubelet runs them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.Lifecycle")]
#[serde(rename_all = "camelCase")]
pub struct Lifecycle {
    /// Run right after the container is started. If it fails, the container
    /// is killed and restarted as its restart policy says (Event
    /// `FailedPostStartHook`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_start: Option<LifecycleHandler>,
    /// Run before the container is sent SIGTERM, inside its grace period: the
    /// time it takes is taken off the grace left for SIGTERM (which keeps at
    /// least 2 s). A failure is an Event `FailedPreStopHook`; the container
    /// is stopped anyway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_stop: Option<LifecycleHandler>,
}

/// One hook's action (core/v1 `LifecycleHandler`): exactly one of `exec`,
/// `httpGet`, `tcpSocket` (deprecated in Kubernetes, accepted), `sleep`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.LifecycleHandler")]
#[serde(rename_all = "camelCase")]
pub struct LifecycleHandler {
    /// Run a command in the container; exit 0 is success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecAction>,
    /// HTTP GET; a status of 200–399 is success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_get: Option<HttpGetAction>,
    /// TCP connect; success if it connects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_socket: Option<TcpSocketAction>,
    /// Wait this long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sleep: Option<SleepAction>,
}

/// Wait (core/v1 `SleepAction`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.SleepAction")]
#[serde(rename_all = "camelCase")]
pub struct SleepAction {
    /// Seconds to sleep, 0 or more.
    pub seconds: i64,
}

/// An environment variable (core/v1 `EnvVar`): a literal `value` or a
/// reference in `valueFrom`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.EnvVar")]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    /// Variable name.
    pub name: String,
    /// Literal value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Where the value comes from, if not literal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<EnvVarSource>,
}

/// All keys of a ConfigMap or Secret as environment variables (core/v1
/// `EnvFromSource`): exactly one of `config_map_ref`, `secret_ref`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.EnvFromSource")]
#[serde(rename_all = "camelCase")]
pub struct EnvFromSource {
    /// Put before each key to make the variable's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// A ConfigMap in the Pod's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<EnvFromRef>,
    /// A Secret in the Pod's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<EnvFromRef>,
}

/// The ConfigMap or Secret of an [`EnvFromSource`] (core/v1
/// `ConfigMapEnvSource`, `SecretEnvSource`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.EnvFromRef")]
#[serde(rename_all = "camelCase")]
pub struct EnvFromRef {
    /// Its name.
    pub name: String,
    /// If true, a missing object adds nothing instead of failing the
    /// container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// Source of an environment variable's value (core/v1 `EnvVarSource`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.EnvVarSource")]
#[serde(rename_all = "camelCase")]
pub struct EnvVarSource {
    /// A key of a ConfigMap in the Pod's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_key_ref: Option<KeySelector>,
    /// A key of a Secret in the Pod's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<KeySelector>,
    /// A field of the Pod, e.g. `metadata.name` or `status.podIP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_ref: Option<ObjectFieldSelector>,
}

/// A key of a ConfigMap or Secret (core/v1 `ConfigMapKeySelector`, `SecretKeySelector`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.KeySelector")]
#[serde(rename_all = "camelCase")]
pub struct KeySelector {
    /// The ConfigMap's or Secret's name.
    pub name: String,
    /// The key.
    pub key: String,
    /// If true, a missing object or key leaves the variable unset instead of
    /// failing the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// A field of the Pod (core/v1 `ObjectFieldSelector`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.ObjectFieldSelector")]
#[serde(rename_all = "camelCase")]
pub struct ObjectFieldSelector {
    /// Schema version of `field_path`; default `v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Path of the field, e.g. `metadata.name`.
    pub field_path: String,
}

/// A port a container listens on (core/v1 `ContainerPort`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.ContainerPort")]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    /// Optional name, referable from probes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Port number, 1–65535.
    pub container_port: i32,
    /// Port on the host, if exposed there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_port: Option<i32>,
    /// Host IP to bind `host_port` to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    /// `TCP` (default), `UDP` or `SCTP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
}

/// Compute resources (core/v1 `ResourceRequirements`): maps from resource
/// name (`cpu`, `memory`, …) to quantity.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.ResourceRequirements")]
#[serde(rename_all = "camelCase")]
pub struct ResourceRequirements {
    /// What the scheduler reserves.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub requests: BTreeMap<String, Quantity>,
    /// What the runtime enforces.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, Quantity>,
}

/// A health check (core/v1 `Probe`): exactly one of `exec`, `httpGet`,
/// `tcpSocket`, and its timing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.Probe")]
#[serde(rename_all = "camelCase")]
pub struct Probe {
    /// Run a command in the container; exit 0 is success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecAction>,
    /// HTTP GET; a status of 200–399 is success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_get: Option<HttpGetAction>,
    /// TCP connect; success if it connects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_socket: Option<TcpSocketAction>,
    /// Seconds after start before the first probe; default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_delay_seconds: Option<i32>,
    /// Seconds between probes; default 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_seconds: Option<i32>,
    /// Seconds before a probe times out; default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i32>,
    /// Consecutive successes to count as passing; default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_threshold: Option<i32>,
    /// Consecutive failures to count as failing; default 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<i32>,
}

/// A command to run (core/v1 `ExecAction`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.ExecAction")]
#[serde(rename_all = "camelCase")]
pub struct ExecAction {
    /// The command and its arguments; not run in a shell.
    #[serde(default)]
    pub command: Vec<String>,
}

/// An HTTP GET probe (core/v1 `HTTPGetAction`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.HttpGetAction")]
#[serde(rename_all = "camelCase")]
pub struct HttpGetAction {
    /// Path; default `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Port number or the name of a container port.
    pub port: IntOrString,
    /// Host; default the pod IP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// `HTTP` (default) or `HTTPS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// Extra request headers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_headers: Vec<HttpHeader>,
}

/// One HTTP header (core/v1 `HTTPHeader`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.HttpHeader")]
pub struct HttpHeader {
    /// Header name.
    pub name: String,
    /// Header value.
    pub value: String,
}

/// A TCP connect probe (core/v1 `TCPSocketAction`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.TcpSocketAction")]
#[serde(rename_all = "camelCase")]
pub struct TcpSocketAction {
    /// Port number or the name of a container port.
    pub port: IntOrString,
    /// Host; default the pod IP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// A Pod template inside a ReplicaSet or Deployment (core/v1 `PodTemplateSpec`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.core.v1.PodTemplateSpec")]
#[serde(rename_all = "camelCase")]
pub struct PodTemplateSpec {
    /// Labels and annotations the Pods get.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The Pods' spec.
    #[serde(default)]
    pub spec: PodSpec,
}
