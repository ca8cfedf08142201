//! Job (batch/v1): Pods that run to completion — `completions` successes,
//! at most `parallelism` at a time, retried up to `backoffLimit` failures.
//! orch-controllers' `JobController` runs them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::kinds::pod::{self, PodTemplateSpec, RestartPolicy};
use crate::meta::{LabelSelector, ObjectMeta};
use crate::time::Time;
use crate::validation::{FieldErrors, IMMUTABLE};

/// A Job.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.batch.v1.Job")]
#[serde(rename_all = "camelCase")]
pub struct Job {
    /// `batch/v1`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// `Job`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Desired state.
    #[serde(default)]
    pub spec: JobSpec,
    /// Observed state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<JobStatus>,
}

crate::impl_resource!(Job {
    group: "batch",
    version: "v1",
    kind: "Job",
    plural: "jobs",
    namespaced: true,
    status_subresource: true,
    validate: validate,
    validate_update: validate_update,
});

/// batch/v1 `JobSpec`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.batch.v1.JobSpec")]
#[serde(rename_all = "camelCase")]
pub struct JobSpec {
    /// The most Pods running at once; default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<i32>,
    /// The successes that complete the Job; default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completions: Option<i32>,
    /// Failed Pods tolerated before the Job fails; default 6. Pods are
    /// re-created after a failure with an exponential back-off (10 s, 20 s,
    /// 40 s, … capped at 6 minutes), as Kubernetes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_limit: Option<i32>,
    /// Seconds from the Job's start after which it fails
    /// (`DeadlineExceeded`) and its Pods are stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_deadline_seconds: Option<i64>,
    /// Seconds after the Job finishes (Complete or Failed) that it is
    /// deleted, with its Pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds_after_finished: Option<i32>,
    /// `NonIndexed` (default) or `Indexed`: each Pod gets an index
    /// 0..completions (`JOB_COMPLETION_INDEX` and the
    /// `batch.kubernetes.io/job-completion-index` annotation), and the Job
    /// completes when every index has succeeded once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_mode: Option<String>,
    /// True stops the Job's Pods and creates none until it is false again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// Which Pods are the Job's. orch tracks a Job's Pods by their
    /// controller owner reference; this selector is kept as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// The Pods; `restartPolicy` must be `OnFailure` or `Never`.
    #[serde(default)]
    pub template: PodTemplateSpec,
}

impl JobSpec {
    /// `parallelism`, default 1, at least 0.
    pub fn parallelism(&self) -> i32 {
        self.parallelism.unwrap_or(1).max(0)
    }

    /// `completions`, default 1, at least 0.
    pub fn completions(&self) -> i32 {
        self.completions.unwrap_or(1).max(0)
    }

    /// `backoffLimit`, default 6, at least 0.
    pub fn backoff_limit(&self) -> i32 {
        self.backoff_limit.unwrap_or(6).max(0)
    }

    /// True for `completionMode: Indexed`.
    pub fn indexed(&self) -> bool {
        self.completion_mode.as_deref() == Some("Indexed")
    }

    /// True if `suspend` is set.
    pub fn suspended(&self) -> bool {
        self.suspend == Some(true)
    }
}

/// batch/v1 `JobStatus`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.batch.v1.JobStatus")]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
    /// `Complete`, `Failed`, `Suspended`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-patch-strategy" = "merge", "x-kubernetes-patch-merge-key" = "type"))]
    pub conditions: Vec<JobCondition>,
    /// When the controller first saw the Job (not suspended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When it completed (Complete only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
    /// Pods pending or running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<i32>,
    /// Pods that succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub succeeded: Option<i32>,
    /// Pods that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<i32>,
    /// Active Pods that are Ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<i32>,
    /// Indexed Jobs: the indexes that succeeded, as `"0-2,4"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_indexes: Option<String>,
}

/// batch/v1 `JobCondition`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "io.k8s.api.batch.v1.JobCondition")]
#[serde(rename_all = "camelCase")]
pub struct JobCondition {
    /// `Complete`, `Failed`, `Suspended`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False`, `Unknown`.
    pub status: String,
    /// When the condition was last checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_probe_time: Option<Time>,
    /// When `status` last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// A CamelCase reason: `BackoffLimitExceeded`, `DeadlineExceeded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A human-readable message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The batch/v1 rules: non-negative counts, a Pod spec whose
/// `restartPolicy` is `OnFailure` or `Never`, `completions` for an Indexed
/// Job.
pub fn validate(job: &Job, errors: &mut FieldErrors) {
    let s = &job.spec;
    for (field, value) in [
        ("spec.parallelism", s.parallelism),
        ("spec.completions", s.completions),
        ("spec.backoffLimit", s.backoff_limit),
        ("spec.ttlSecondsAfterFinished", s.ttl_seconds_after_finished),
    ] {
        if value.is_some_and(|v| v < 0) {
            errors.push(field, "must be greater than or equal to 0");
        }
    }
    if s.active_deadline_seconds.is_some_and(|d| d <= 0) {
        errors.push("spec.activeDeadlineSeconds", "must be greater than 0");
    }
    match s.completion_mode.as_deref() {
        None | Some("NonIndexed") => {}
        Some("Indexed") if s.completions.is_none() => {
            errors.push("spec.completions", "must be specified when completionMode is Indexed")
        }
        Some("Indexed") => {}
        Some(other) => errors.push(
            "spec.completionMode",
            format!("Unsupported value: {other:?}: supported values: \"NonIndexed\", \"Indexed\""),
        ),
    }
    match s.template.spec.restart_policy {
        Some(RestartPolicy::OnFailure | RestartPolicy::Never) => {}
        other => errors.push(
            "spec.template.spec.restartPolicy",
            format!(
                "Unsupported value: {:?}: supported values: \"OnFailure\", \"Never\"",
                other.map_or("Always".to_owned(), |p| format!("{p:?}"))
            ),
        ),
    }
    pod::validate_spec(&s.template.spec, "spec.template.spec", errors);
}

/// batch/v1: the Pod template and `completionMode` are fixed at create.
pub fn validate_update(new: &Job, old: &Job, errors: &mut FieldErrors) {
    if new.spec.template != old.spec.template {
        errors.push("spec.template", IMMUTABLE);
    }
    if new.spec.completion_mode != old.spec.completion_mode {
        errors.push("spec.completionMode", IMMUTABLE);
    }
}
