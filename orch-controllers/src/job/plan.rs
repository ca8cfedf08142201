//! What a Job should do next, from the Job and its Pods at one instant —
//! a pure function, tested without a store or a clock, after Kubernetes'
//! `job` controller:
//!
//! * a finished Job (`Complete` or `Failed`) stops its active Pods, and
//!   goes `ttlSecondsAfterFinished` after it finished;
//! * a suspended Job stops its active Pods (`Suspended=True`), and counts
//!   its `activeDeadlineSeconds` anew when resumed;
//! * more failed Pods than `backoffLimit` fail it (`BackoffLimitExceeded`),
//!   as does running past `activeDeadlineSeconds` (`DeadlineExceeded`);
//! * `completions` successes complete it (for an Indexed Job, one success
//!   of each index 0..completions);
//! * otherwise it runs `min(parallelism, what remains)` Pods, re-creating
//!   after a failure only once the back-off since the last failure
//!   (`base × 2^(failures−1)`, at most 6 minutes) has passed.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use orch_core::condition::{find_condition, set_condition};
use orch_core::kinds::job::{Job, JobCondition, JobStatus};
use orch_core::kinds::pod::{Pod, PodPhase};
use orch_core::Time;

/// The annotation (and env var `JOB_COMPLETION_INDEX`) of an Indexed
/// Job's Pod.
pub const COMPLETION_INDEX_ANNOTATION: &str = "batch.kubernetes.io/job-completion-index";

/// The longest back-off between a failure and the next Pod, as Kubernetes.
pub const MAX_BACKOFF: Duration = Duration::from_secs(360);

/// What to do.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// Pods to create: for each, its completion index (Indexed Jobs).
    pub create: Vec<Option<i32>>,
    /// Active Pods to delete (the Job finished or is suspended).
    pub delete: Vec<String>,
    /// The status to write.
    pub status: JobStatus,
    /// Delete the Job itself (its TTL after finishing has passed).
    pub delete_job: bool,
    /// Look again after this long (a back-off, a deadline, a TTL).
    pub requeue_after: Option<Duration>,
}

fn phase(pod: &Pod) -> Option<PodPhase> {
    pod.status.as_ref().and_then(|s| s.phase)
}

/// A Pod's completion index, if it has a valid one below `completions`.
pub fn completion_index(pod: &Pod, completions: i32) -> Option<i32> {
    let index: i32 = pod.metadata.annotations.get(COMPLETION_INDEX_ANNOTATION)?.parse().ok()?;
    (0..completions).contains(&index).then_some(index)
}

/// When a failed Pod finished: its containers' latest `finishedAt`.
fn finished_at(pod: &Pod) -> Option<Time> {
    let statuses = pod.status.as_ref()?.container_statuses.iter();
    statuses.filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at).max()
}

/// `[0, 1, 2, 4]` as `"0-2,4"`.
pub fn format_indexes(indexes: &BTreeSet<i32>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut run: Option<(i32, i32)> = None;
    for &i in indexes {
        run = match run {
            Some((start, end)) if i == end + 1 => Some((start, i)),
            Some((start, end)) => {
                parts.push(range(start, end));
                Some((i, i))
            }
            None => Some((i, i)),
        };
    }
    if let Some((start, end)) = run {
        parts.push(range(start, end));
    }
    parts.join(",")
}

fn range(start: i32, end: i32) -> String {
    if start == end {
        start.to_string()
    } else {
        format!("{start}-{end}")
    }
}

fn condition(type_: &str, status: bool, reason: &str, message: &str, now: Time) -> JobCondition {
    JobCondition {
        type_: type_.into(),
        status: orch_core::condition::status_str(status).into(),
        last_probe_time: Some(now),
        last_transition_time: Some(now),
        reason: Some(reason.into()),
        message: Some(message.into()),
    }
}

fn is_true(status: &JobStatus, type_: &str) -> bool {
    find_condition(&status.conditions, type_).is_some_and(|c| c.status == "True")
}

fn seconds_between(from: Time, to: Time) -> i64 {
    (to.0 - from.0).num_seconds()
}

/// The back-off before the next Pod after `failures` failures.
pub fn backoff(base: Duration, failures: i32) -> Duration {
    let exponent = u32::try_from(failures.saturating_sub(1)).unwrap_or(0).min(16);
    base.saturating_mul(1 << exponent).min(MAX_BACKOFF)
}

/// The plan for `job`, whose Pods (those it controls) are `pods`, at
/// `now`; `base` is the first back-off (Kubernetes' 10 s).
pub fn plan(job: &Job, pods: &[Arc<Pod>], now: Time, base: Duration) -> Plan {
    let spec = &job.spec;
    let completions = spec.completions();
    let mut status = job.status.clone().unwrap_or_default();
    let active: Vec<&Arc<Pod>> = pods
        .iter()
        .filter(|p| !p.metadata.is_deleting())
        .filter(|p| !matches!(phase(p), Some(PodPhase::Succeeded | PodPhase::Failed)))
        .collect();
    let succeeded: Vec<&Arc<Pod>> =
        pods.iter().filter(|p| phase(p) == Some(PodPhase::Succeeded)).collect();
    let failed: Vec<&Arc<Pod>> =
        pods.iter().filter(|p| phase(p) == Some(PodPhase::Failed)).collect();
    let done_indexes: BTreeSet<i32> =
        succeeded.iter().filter_map(|p| completion_index(p, completions)).collect();
    // Counts never go down: a finished Pod garbage-collected since still counts.
    let count = |n: usize, before: Option<i32>| (n as i32).max(before.unwrap_or(0));
    status.succeeded = Some(count(succeeded.len(), status.succeeded));
    status.failed = Some(count(failed.len(), status.failed));
    status.active = Some(active.len() as i32);
    let ready = active.iter().filter(|p| crate::pod_readiness::is_ready(p)).count();
    status.ready = Some(ready as i32);
    if spec.indexed() {
        status.completed_indexes = Some(format_indexes(&done_indexes));
    }
    let mut plan = Plan::default();
    let stop_active = |plan: &mut Plan| {
        plan.delete = active.iter().map(|p| p.metadata.name.clone()).collect();
    };

    if is_true(&status, "Complete") || is_true(&status, "Failed") {
        stop_active(&mut plan);
        if let Some(ttl) = spec.ttl_seconds_after_finished {
            let finished = status
                .conditions
                .iter()
                .filter(|c| c.status == "True" && (c.type_ == "Complete" || c.type_ == "Failed"))
                .filter_map(|c| c.last_transition_time)
                .max()
                .unwrap_or(now);
            let left = i64::from(ttl) - seconds_between(finished, now);
            if left <= 0 {
                plan.delete_job = true;
            } else {
                plan.requeue_after = Some(Duration::from_secs(left as u64));
            }
        }
        plan.status = status;
        return plan;
    }
    if spec.suspended() {
        stop_active(&mut plan);
        let c = condition("Suspended", true, "JobSuspended", "Job suspended", now);
        set_condition(&mut status.conditions, c, now);
        status.start_time = None;
        plan.status = status;
        return plan;
    }
    if is_true(&status, "Suspended") {
        let c = condition("Suspended", false, "JobResumed", "Job resumed", now);
        set_condition(&mut status.conditions, c, now);
    }
    let start = *status.start_time.get_or_insert(now);
    let failures = status.failed.unwrap_or(0);
    let fail = |reason: &str, message: &str, plan: &mut Plan, status: &mut JobStatus| {
        stop_active(plan);
        set_condition(&mut status.conditions, condition("Failed", true, reason, message, now), now);
    };
    if failures > spec.backoff_limit() {
        fail(
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
            &mut plan,
            &mut status,
        );
        plan.status = status;
        return plan;
    }
    let deadline_left = spec.active_deadline_seconds.map(|d| d - seconds_between(start, now));
    if deadline_left.is_some_and(|left| left <= 0) {
        fail(
            "DeadlineExceeded",
            "Job was active longer than specified deadline",
            &mut plan,
            &mut status,
        );
        plan.status = status;
        return plan;
    }
    let complete = if spec.indexed() {
        done_indexes.len() as i32 >= completions
    } else {
        status.succeeded.unwrap_or(0) >= completions
    };
    if complete {
        stop_active(&mut plan);
        let c = condition(
            "Complete",
            true,
            "CompletionsReached",
            "Reached expected number of succeeded pods",
            now,
        );
        set_condition(&mut status.conditions, c, now);
        status.completion_time = Some(now);
        plan.status = status;
        return plan;
    }
    // Run what remains, after the back-off since the last failure.
    let waiting = failed.iter().filter_map(|p| finished_at(p)).max().and_then(|last| {
        let wait = backoff(base, failures);
        let since = (now.0 - last.0).to_std().unwrap_or_default();
        wait.checked_sub(since).filter(|w| !w.is_zero())
    });
    let room = (spec.parallelism() as usize).saturating_sub(active.len());
    if let Some(wait) = waiting {
        plan.requeue_after = Some(wait);
    } else if spec.indexed() {
        let held: BTreeSet<i32> =
            active.iter().filter_map(|p| completion_index(p, completions)).collect();
        plan.create = (0..completions)
            .filter(|i| !done_indexes.contains(i) && !held.contains(i))
            .take(room)
            .map(Some)
            .collect();
    } else {
        let remaining = (completions - status.succeeded.unwrap_or(0)).max(0) as usize;
        let wanted = remaining.min(spec.parallelism() as usize);
        plan.create = vec![None; wanted.saturating_sub(active.len())];
    }
    if let Some(left) = deadline_left {
        let until_deadline = Duration::from_secs(left as u64);
        plan.requeue_after =
            Some(plan.requeue_after.map_or(until_deadline, |r| r.min(until_deadline)));
    }
    plan.status = status;
    plan
}

#[cfg(test)]
mod tests;
