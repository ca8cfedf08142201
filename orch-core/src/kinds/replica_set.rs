//! ReplicaSet (apps/v1): keeps a number of identical Pods running.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::kinds::pod::{self, PodTemplateSpec};
use crate::meta::{LabelSelector, ObjectMeta};
use crate::time::Time;
use crate::validation::{labels, FieldErrors, IMMUTABLE};

/// A ReplicaSet.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.apps.v1.ReplicaSet")]
#[serde(rename_all = "camelCase")]
pub struct ReplicaSet {
    /// `apps/v1`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// `ReplicaSet`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Desired state.
    #[serde(default)]
    pub spec: ReplicaSetSpec,
    /// Observed state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ReplicaSetStatus>,
}

crate::impl_resource!(ReplicaSet {
    group: "apps",
    version: "v1",
    kind: "ReplicaSet",
    plural: "replicasets",
    namespaced: true,
    status_subresource: true,
    validate: validate,
    validate_update: validate_update,
});

/// apps/v1: `spec.selector` may not change after create.
pub fn validate_update(new: &ReplicaSet, old: &ReplicaSet, errors: &mut FieldErrors) {
    selector_unchanged(&new.spec.selector, &old.spec.selector, errors);
}

/// The apps/v1 rule of Deployment and ReplicaSet: the selector is fixed
/// at create (a changed one would orphan the Pods it selected).
pub(crate) fn selector_unchanged(
    new: &LabelSelector,
    old: &LabelSelector,
    errors: &mut FieldErrors,
) {
    if new != old {
        errors.push("spec.selector", IMMUTABLE);
    }
}

/// The ReplicaSet rules beyond metadata; run by the Api on create and update.
pub fn validate(obj: &ReplicaSet, errors: &mut FieldErrors) {
    let s = &obj.spec;
    validate_workload(s.replicas, &s.selector, &s.template, errors);
}

/// The rules a workload with a Pod template has (ReplicaSet, Deployment):
/// replicas, a selector that matches the template's labels, the template's
/// Pod spec.
pub(crate) fn validate_workload(
    replicas: Option<i32>,
    selector: &LabelSelector,
    template: &PodTemplateSpec,
    errors: &mut FieldErrors,
) {
    let template_labels = &template.metadata.labels;
    if replicas.is_some_and(|r| r < 0) {
        errors.push("spec.replicas", "must be greater than or equal to 0");
    }
    labels(template_labels, "spec.template.metadata.labels", errors);
    match crate::selector::LabelSelector::from_object(selector) {
        Err(e) => errors.push("spec.selector", e.to_string()),
        Ok(s) if s.is_empty() => {
            errors.push("spec.selector", "empty selector is invalid for a workload")
        }
        Ok(s) if !s.matches(template_labels) => errors
            .push("spec.template.metadata.labels", "`selector` does not match template `labels`"),
        Ok(_) => {}
    }
    pod::validate_spec(&template.spec, "spec.template.spec", errors);
}

/// apps/v1 `ReplicaSetSpec`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.apps.v1.ReplicaSetSpec")]
#[serde(rename_all = "camelCase")]
pub struct ReplicaSetSpec {
    /// Desired number of Pods; default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Seconds a Pod must be Ready to count as available; default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ready_seconds: Option<i32>,
    /// Which Pods belong to it; must match the template's labels.
    #[serde(default)]
    pub selector: LabelSelector,
    /// The Pods it creates.
    #[serde(default)]
    pub template: PodTemplateSpec,
}

/// apps/v1 `ReplicaSetStatus`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.apps.v1.ReplicaSetStatus")]
#[serde(rename_all = "camelCase")]
pub struct ReplicaSetStatus {
    /// Pods that exist.
    #[serde(default)]
    pub replicas: i32,
    /// Pods whose labels match the template's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fully_labeled_replicas: Option<i32>,
    /// Pods that are Ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// Pods Ready for at least `minReadySeconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_replicas: Option<i32>,
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `ReplicaFailure`, …
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-patch-strategy" = "merge", "x-kubernetes-patch-merge-key" = "type"))]
    pub conditions: Vec<WorkloadCondition>,
}

/// A condition of a ReplicaSet or Deployment (apps/v1 `ReplicaSetCondition`,
/// `DeploymentCondition`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.apps.v1.WorkloadCondition")]
#[serde(rename_all = "camelCase")]
pub struct WorkloadCondition {
    /// `Available`, `Progressing`, `ReplicaFailure`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Last time it was updated (Deployments).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<Time>,
    /// Last time `status` changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// Machine-readable reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
