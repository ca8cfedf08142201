//! Deployment (apps/v1): declarative rollouts over ReplicaSets.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::int_or_string::IntOrString;
use crate::kinds::pod::PodTemplateSpec;
use crate::kinds::replica_set::{selector_unchanged, validate_workload, WorkloadCondition};
use crate::meta::{LabelSelector, ObjectMeta};
use crate::validation::FieldErrors;

/// A Deployment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.apps.v1.Deployment")]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// `apps/v1`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// `Deployment`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Desired state.
    #[serde(default)]
    pub spec: DeploymentSpec,
    /// Observed state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DeploymentStatus>,
}

crate::impl_resource!(Deployment {
    group: "apps",
    version: "v1",
    kind: "Deployment",
    plural: "deployments",
    namespaced: true,
    status_subresource: true,
    validate: validate,
    validate_update: validate_update,
});

/// apps/v1: `spec.selector` may not change after create.
pub fn validate_update(new: &Deployment, old: &Deployment, errors: &mut FieldErrors) {
    selector_unchanged(&new.spec.selector, &old.spec.selector, errors);
}

/// The Deployment rules beyond metadata; run by the Api on create and update.
pub fn validate(obj: &Deployment, errors: &mut FieldErrors) {
    let s: &DeploymentSpec = &obj.spec;
    validate_workload(s.replicas, &s.selector, &s.template, errors);
    if let Some(ru) = s.strategy.as_ref().and_then(|st| st.rolling_update.as_ref()) {
        let desired = s.replicas();
        let surge = ru.max_surge.as_ref().map(|v| v.scaled_value(desired, true));
        let unavailable = ru.max_unavailable.as_ref().map(|v| v.scaled_value(desired, false));
        if let Some(Err(e)) = &surge {
            errors.push("spec.strategy.rollingUpdate.maxSurge", e.to_string());
        }
        if let Some(Err(e)) = &unavailable {
            errors.push("spec.strategy.rollingUpdate.maxUnavailable", e.to_string());
        }
        if let (Some(Ok(0)), Some(Ok(0))) = (&surge, &unavailable) {
            errors.push(
                "spec.strategy.rollingUpdate.maxUnavailable",
                "may not be 0 when maxSurge is 0",
            );
        }
    }
    if s.progress_deadline_seconds.is_some_and(|p| p <= s.min_ready_seconds.unwrap_or(0)) {
        errors.push("spec.progressDeadlineSeconds", "must be greater than minReadySeconds");
    }
}

/// apps/v1 `DeploymentSpec`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.apps.v1.DeploymentSpec")]
#[serde(rename_all = "camelCase")]
pub struct DeploymentSpec {
    /// Desired number of Pods; default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Which Pods belong to it; must match the template's labels.
    #[serde(default)]
    pub selector: LabelSelector,
    /// The Pods it runs.
    #[serde(default)]
    pub template: PodTemplateSpec,
    /// How old Pods are replaced by new ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-patch-strategy" = "retainKeys"))]
    pub strategy: Option<DeploymentStrategy>,
    /// Seconds a Pod must be Ready to count as available; default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ready_seconds: Option<i32>,
    /// Old ReplicaSets kept for rollback; default 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_history_limit: Option<i32>,
    /// Paused Deployments do not roll out template changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
    /// Seconds without progress before the rollout is reported failed; default 600.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_deadline_seconds: Option<i32>,
}

impl DeploymentSpec {
    /// `replicas`, defaulted to 1.
    pub fn replicas(&self) -> i32 {
        self.replicas.unwrap_or(1)
    }

    /// `revisionHistoryLimit`, defaulted to 10.
    pub fn revision_history_limit(&self) -> i32 {
        self.revision_history_limit.unwrap_or(10)
    }

    /// `progressDeadlineSeconds`, defaulted to 600.
    pub fn progress_deadline_seconds(&self) -> i32 {
        self.progress_deadline_seconds.unwrap_or(600)
    }
}

/// apps/v1 `DeploymentStrategy`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.apps.v1.DeploymentStrategy")]
#[serde(rename_all = "camelCase")]
pub struct DeploymentStrategy {
    /// `RollingUpdate` (default) or `Recreate`.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "type")]
    pub type_: Option<DeploymentStrategyType>,
    /// Bounds of a rolling update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolling_update: Option<RollingUpdateDeployment>,
}

/// apps/v1 `DeploymentStrategyType`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.apps.v1.DeploymentStrategyType")]
pub enum DeploymentStrategyType {
    /// Replace Pods gradually within `maxSurge` and `maxUnavailable`.
    #[default]
    RollingUpdate,
    /// Delete every old Pod before creating new ones.
    Recreate,
}

/// apps/v1 `RollingUpdateDeployment`: each an integer or a percentage of
/// the desired replicas.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.apps.v1.RollingUpdateDeployment")]
#[serde(rename_all = "camelCase")]
pub struct RollingUpdateDeployment {
    /// Pods that may be unavailable during the update; default `25%`
    /// (rounded down).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
    /// Pods that may exist above the desired count; default `25%` (rounded up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_surge: Option<IntOrString>,
}

/// apps/v1 `DeploymentStatus`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.apps.v1.DeploymentStatus")]
#[serde(rename_all = "camelCase")]
pub struct DeploymentStatus {
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Pods of every ReplicaSet it owns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Pods of the current template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_replicas: Option<i32>,
    /// Ready Pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// Available Pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_replicas: Option<i32>,
    /// Pods still needed for full availability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable_replicas: Option<i32>,
    /// `Available`, `Progressing`, `ReplicaFailure`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-patch-strategy" = "merge", "x-kubernetes-patch-merge-key" = "type"))]
    pub conditions: Vec<WorkloadCondition>,
    /// Bumped when a template-hash collision is found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collision_count: Option<i32>,
}
