//! Pod states as the workload controllers read them: active, ready,
//! available (Kubernetes' `podutil` helpers), and the order in which a
//! ReplicaSet gives pods up on scale-down.

use std::cmp::Ordering;

use chrono::Utc;

use orch_core::kinds::pod::{Pod, PodPhase};
use orch_core::Time;

/// True unless the pod has finished (Succeeded or Failed) or is being deleted.
pub fn is_active(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase);
    !matches!(phase, Some(PodPhase::Succeeded) | Some(PodPhase::Failed))
        && !pod.metadata.is_deleting()
}

/// When the pod's Ready condition last became True, if it is True now.
pub fn ready_since(pod: &Pod) -> Option<Option<Time>> {
    let status = pod.status.as_ref()?;
    let ready = status.conditions.iter().find(|c| c.type_ == "Ready")?;
    (ready.status == "True").then_some(ready.last_transition_time)
}

/// True if the pod's Ready condition is True.
pub fn is_ready(pod: &Pod) -> bool {
    ready_since(pod).is_some()
}

/// True if the pod has been Ready for at least `min_ready_seconds`; with
/// `min_ready_seconds` 0, the same as [`is_ready`].
pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: Time) -> bool {
    match ready_since(pod) {
        None => false,
        Some(_) if min_ready_seconds <= 0 => true,
        Some(None) => false,
        Some(Some(since)) => {
            since.0 + chrono::Duration::seconds(i64::from(min_ready_seconds)) <= now.0
        }
    }
}

/// Seconds until a Ready pod becomes available, if it is not yet.
pub fn seconds_until_available(pod: &Pod, min_ready_seconds: i32) -> Option<i64> {
    let since = ready_since(pod)??;
    let at = since.0 + chrono::Duration::seconds(i64::from(min_ready_seconds));
    let left = (at - Utc::now()).num_milliseconds();
    (left > 0).then(|| (left + 999) / 1000)
}

fn phase_rank(pod: &Pod) -> u8 {
    match pod.status.as_ref().and_then(|s| s.phase) {
        Some(PodPhase::Pending) | None => 0,
        Some(PodPhase::Unknown) => 1,
        Some(PodPhase::Running) => 2,
        Some(PodPhase::Succeeded) | Some(PodPhase::Failed) => 3,
    }
}

fn restarts(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .map_or(0, |s| s.container_statuses.iter().map(|c| c.restart_count).max().unwrap_or(0))
}

/// Kubernetes' `ActivePods` order: the pod that should go first on
/// scale-down sorts first — unscheduled before scheduled, Pending before
/// Unknown before Running, not ready before ready, ready for a shorter time
/// before longer, more restarts before fewer, newer before older.
pub fn deletion_order(a: &Pod, b: &Pod) -> Ordering {
    let assigned = |p: &Pod| p.spec.node_name.as_deref().is_some_and(|n| !n.is_empty());
    assigned(a)
        .cmp(&assigned(b))
        .then_with(|| phase_rank(a).cmp(&phase_rank(b)))
        .then_with(|| is_ready(a).cmp(&is_ready(b)))
        .then_with(|| {
            // Both ready: the more recently ready goes first.
            match (ready_since(a).flatten(), ready_since(b).flatten()) {
                (Some(x), Some(y)) => y.cmp(&x),
                _ => Ordering::Equal,
            }
        })
        .then_with(|| restarts(b).cmp(&restarts(a)))
        .then_with(|| b.metadata.creation_timestamp.cmp(&a.metadata.creation_timestamp))
}
