//! The Deployment's status — replica counts and the `Available` and
//! `Progressing` conditions — as a plain function of what the controller
//! observed, after Kubernetes' `deployment/sync.go` (`calculateStatus`) and
//! `progress.go` (`syncRolloutStatus`). No store, no clock: `now` is an
//! input, so the progress deadline is tested as a table.

use std::time::Duration;

use orch_core::condition::{find_condition, status_str, transition_time};
use orch_core::kinds::deployment::DeploymentStatus;
use orch_core::kinds::replica_set::WorkloadCondition;
use orch_core::Time;

use super::rollout::ReplicaSetState;

/// What the status is computed from.
#[derive(Clone, Copy, Debug)]
pub struct Observed<'a> {
    /// `spec.replicas`.
    pub desired: i32,
    /// maxUnavailable, resolved ([`super::rolling_bounds`]).
    pub max_unavailable: i32,
    /// `spec.paused`.
    pub paused: bool,
    /// `metadata.generation`.
    pub generation: i64,
    /// `spec.progressDeadlineSeconds`.
    pub progress_deadline: Duration,
    /// The ReplicaSet of the current template, if it exists.
    pub new: Option<&'a ReplicaSetState>,
    /// The other ReplicaSets.
    pub old: &'a [ReplicaSetState],
    /// This reconcile scaled a ReplicaSet.
    pub scaled: bool,
    /// The status as last written.
    pub previous: &'a DeploymentStatus,
    /// The time of this reconcile.
    pub now: Time,
}

/// The computed status and what follows from it.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusDecision {
    /// The status to write (when it differs from the previous one).
    pub status: DeploymentStatus,
    /// The rollout is complete: the new ReplicaSet holds every replica and
    /// all are available.
    pub complete: bool,
    /// The progress deadline passed in this reconcile, not before: a
    /// `ProgressDeadlineExceeded` Event is due, and an auto-revert if asked.
    pub deadline_newly_exceeded: bool,
    /// Look again after this long (to notice the deadline passing), if the
    /// rollout is still under way.
    pub requeue: Option<Duration>,
}

/// How long after the deadline a requeue lands, so that it finds it passed.
const DEADLINE_SLACK: Duration = Duration::from_millis(100);

/// A condition of `type_` after `previous`. An unchanged one (status,
/// reason and message) is kept whole, times included, unless `touch` (the
/// rollout made progress, which `lastUpdateTime` records); otherwise
/// `lastUpdateTime` is `now` and `lastTransitionTime` moves only if the
/// status changed.
fn condition(
    previous: &[WorkloadCondition],
    type_: &str,
    status: bool,
    reason: &str,
    message: String,
    now: Time,
    touch: bool,
) -> WorkloadCondition {
    let old = find_condition(previous, type_);
    let status = status_str(status);
    if let Some(o) = old {
        if !touch
            && o.status == status
            && o.reason.as_deref() == Some(reason)
            && o.message.as_deref() == Some(message.as_str())
        {
            return o.clone();
        }
    }
    WorkloadCondition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        last_update_time: Some(now),
        last_transition_time: Some(transition_time(old, status, now)),
        reason: Some(reason.to_owned()),
        message: Some(message),
    }
}

/// The Deployment's status from what was observed.
///
/// * Counts: `replicas`, `readyReplicas`, `availableReplicas` over the
///   active Pods of every ReplicaSet; `updatedReplicas` over the new one's;
///   `unavailableReplicas` = desired − available, at least 0.
/// * `Available`: True (`MinimumReplicasAvailable`) while at least
///   desired − maxUnavailable Pods are available.
/// * `Progressing`: `DeploymentPaused` while paused;
///   `NewReplicaSetAvailable` once complete; `ReplicaSetUpdated` while the
///   rollout makes progress (a scale, more updated or available Pods, a new
///   generation); False with `ProgressDeadlineExceeded` once
///   `progressDeadlineSeconds` pass since the last progress.
pub fn deployment_status(o: &Observed<'_>) -> StatusDecision {
    let all = o.new.into_iter().chain(o.old);
    let (mut replicas, mut ready, mut available) = (0, 0, 0);
    for r in all {
        replicas += r.pods.active;
        ready += r.pods.ready;
        available += r.pods.available;
    }
    let updated = o.new.map_or(0, |n| n.pods.active);
    let previous = &o.previous.conditions;
    let old_progressing = find_condition(previous, "Progressing");
    let complete = updated == o.desired
        && replicas == o.desired
        && available == o.desired
        && o.new.is_some_and(|n| n.spec_replicas == o.desired);
    let progressed = o.scaled
        || updated > o.previous.updated_replicas.unwrap_or(0)
        || available > o.previous.available_replicas.unwrap_or(0)
        || o.previous.observed_generation != Some(o.generation);
    let since_progress = old_progressing
        .and_then(|c| c.last_update_time)
        .map(|t| (o.now.0 - t.0).to_std().unwrap_or_default());
    let new_name = o.new.map(|n| n.name.as_str()).unwrap_or_default();
    let deadline = o.progress_deadline;
    let mut requeue = None;
    let mut deadline_newly_exceeded = false;
    let progressing = |status, reason, message| {
        condition(previous, "Progressing", status, reason, message, o.now, progressed)
    };
    let progressing = if o.paused {
        progressing(true, "DeploymentPaused", "Deployment is paused".into())
    } else if complete {
        let message = format!("ReplicaSet {new_name} has successfully progressed");
        progressing(true, "NewReplicaSetAvailable", message)
    } else if progressed || since_progress.is_none() {
        requeue = Some(deadline);
        progressing(true, "ReplicaSetUpdated", format!("ReplicaSet {new_name} is progressing"))
    } else if since_progress.is_some_and(|s| s >= deadline) {
        deadline_newly_exceeded =
            old_progressing.is_none_or(|c| c.reason.as_deref() != Some("ProgressDeadlineExceeded"));
        let message = format!("ReplicaSet {new_name} has timed out progressing");
        progressing(false, "ProgressDeadlineExceeded", message)
    } else {
        // No progress yet, deadline not reached: keep the last update time.
        requeue = since_progress.map(|s| deadline.saturating_sub(s) + DEADLINE_SLACK);
        old_progressing
            .cloned()
            .unwrap_or_else(|| progressing(true, "ReplicaSetUpdated", String::new()))
    };
    let available_condition = if available >= o.desired - o.max_unavailable {
        let message = "Deployment has minimum availability.".into();
        condition(previous, "Available", true, "MinimumReplicasAvailable", message, o.now, false)
    } else {
        let message = "Deployment does not have minimum availability.".into();
        condition(previous, "Available", false, "MinimumReplicasUnavailable", message, o.now, false)
    };
    StatusDecision {
        status: DeploymentStatus {
            observed_generation: Some(o.generation),
            replicas: Some(replicas),
            updated_replicas: Some(updated),
            ready_replicas: Some(ready),
            available_replicas: Some(available),
            unavailable_replicas: Some((o.desired - available).max(0)),
            conditions: vec![available_condition, progressing],
            collision_count: o.previous.collision_count,
        },
        complete,
        deadline_newly_exceeded,
        requeue: requeue.filter(|_| !complete && !o.paused),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployment::rollout::PodCounts;

    const DEADLINE: Duration = Duration::from_secs(600);

    fn at(seconds: i64) -> Time {
        Time(chrono::DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap())
    }

    fn rs(name: &str, spec: i32, active: i32, ready: i32, available: i32) -> ReplicaSetState {
        ReplicaSetState {
            name: name.into(),
            revision: 1,
            spec_replicas: spec,
            pods: PodCounts { present: active, active, ready, available },
            deleting: false,
            became_available: false,
        }
    }

    fn observed<'a>(
        new: Option<&'a ReplicaSetState>,
        old: &'a [ReplicaSetState],
        previous: &'a DeploymentStatus,
        now: Time,
    ) -> Observed<'a> {
        Observed {
            desired: 3,
            max_unavailable: 1,
            paused: false,
            generation: 2,
            progress_deadline: DEADLINE,
            new,
            old,
            scaled: false,
            previous,
            now,
        }
    }

    /// A previous status at generation 2 with these counts and a
    /// Progressing condition last updated at `updated_at`.
    fn previous(updated: i32, available: i32, reason: &str, updated_at: Time) -> DeploymentStatus {
        DeploymentStatus {
            observed_generation: Some(2),
            updated_replicas: Some(updated),
            available_replicas: Some(available),
            conditions: vec![WorkloadCondition {
                type_: "Progressing".into(),
                status: "True".into(),
                last_update_time: Some(updated_at),
                last_transition_time: Some(updated_at),
                reason: Some(reason.into()),
                message: Some("ReplicaSet web-new is progressing".into()),
            }],
            ..Default::default()
        }
    }

    fn find<'a>(s: &'a DeploymentStatus, t: &str) -> &'a WorkloadCondition {
        find_condition(&s.conditions, t).unwrap_or_else(|| panic!("no {t} condition"))
    }

    #[test]
    fn counts_sum_the_active_pods_of_every_replica_set() {
        let new = rs("web-new", 2, 2, 1, 1);
        let old = [rs("web-old", 2, 2, 2, 2), rs("web-older", 0, 0, 0, 0)];
        let prev = DeploymentStatus::default();
        let s = deployment_status(&observed(Some(&new), &old, &prev, at(0))).status;
        assert_eq!(s.replicas, Some(4));
        assert_eq!(s.updated_replicas, Some(2));
        assert_eq!(s.ready_replicas, Some(3));
        assert_eq!(s.available_replicas, Some(3));
        assert_eq!(s.unavailable_replicas, Some(0), "desired 3 - available 3");
        assert_eq!(s.observed_generation, Some(2));
    }

    /// (name, new, paused, scaled, previous, now, status, reason, newly
    /// exceeded, requeue)
    type ProgressingCase = (
        &'static str,
        ReplicaSetState,
        bool,
        bool,
        DeploymentStatus,
        Time,
        &'static str,
        &'static str,
        bool,
        Option<Duration>,
    );

    #[test]
    fn progressing_by_case() {
        let p = |reason, at_| previous(1, 1, reason, at_);
        #[rustfmt::skip]
        let cases: Vec<ProgressingCase> = vec![
            ("complete", rs("web-new", 3, 3, 3, 3), false, false, p("ReplicaSetUpdated", at(0)), at(10),
                "True", "NewReplicaSetAvailable", false, None),
            ("a scale is progress", rs("web-new", 2, 1, 1, 1), false, true, p("ReplicaSetUpdated", at(0)), at(10),
                "True", "ReplicaSetUpdated", false, Some(DEADLINE)),
            ("more available pods are progress", rs("web-new", 2, 2, 2, 2), false, false, p("ReplicaSetUpdated", at(0)), at(10),
                "True", "ReplicaSetUpdated", false, Some(DEADLINE)),
            ("no progress, deadline not reached: wait for the rest of it", rs("web-new", 2, 1, 1, 1), false, false,
                p("ReplicaSetUpdated", at(0)), at(100), "True", "ReplicaSetUpdated", false,
                Some(Duration::from_secs(500) + DEADLINE_SLACK)),
            ("no progress past the deadline", rs("web-new", 2, 1, 1, 1), false, false, p("ReplicaSetUpdated", at(0)), at(600),
                "False", "ProgressDeadlineExceeded", true, None),
            ("already exceeded: not newly", rs("web-new", 2, 1, 1, 1), false, false, p("ProgressDeadlineExceeded", at(0)), at(900),
                "False", "ProgressDeadlineExceeded", false, None),
            ("paused", rs("web-new", 2, 1, 1, 1), true, false, p("ReplicaSetUpdated", at(0)), at(900),
                "True", "DeploymentPaused", false, None),
        ];
        for (name, new, paused, scaled, prev, now, status, reason, newly, requeue) in cases {
            let mut o = observed(Some(&new), &[], &prev, now);
            o.paused = paused;
            o.scaled = scaled;
            let d = deployment_status(&o);
            let c = find(&d.status, "Progressing");
            assert_eq!((c.status.as_str(), c.reason.as_deref()), (status, Some(reason)), "{name}");
            assert_eq!(d.deadline_newly_exceeded, newly, "{name}: newly exceeded");
            assert_eq!(d.requeue, requeue, "{name}: requeue");
            assert_eq!(d.complete, name == "complete", "{name}: complete");
        }
    }

    #[test]
    fn progress_moves_the_update_time_and_its_absence_keeps_it() {
        let new = rs("web-new", 2, 1, 1, 1);
        let prev = previous(1, 1, "ReplicaSetUpdated", at(0));
        let mut o = observed(Some(&new), &[], &prev, at(30));
        let still = deployment_status(&o).status;
        assert_eq!(find(&still, "Progressing"), &prev.conditions[0], "nothing moved");
        o.scaled = true;
        let moved = deployment_status(&o).status;
        let c = find(&moved, "Progressing");
        assert_eq!(c.last_update_time, Some(at(30)));
        assert_eq!(c.last_transition_time, Some(at(0)), "still True: no transition");
    }

    #[test]
    fn available_holds_down_to_desired_minus_max_unavailable() {
        let prev = DeploymentStatus::default();
        for (available, want) in [(3, "True"), (2, "True"), (1, "False"), (0, "False")] {
            let new = rs("web-new", 3, 3, available, available);
            let d = deployment_status(&observed(Some(&new), &[], &prev, at(0)));
            assert_eq!(find(&d.status, "Available").status, want, "{available} of 3 available");
        }
    }

    #[test]
    fn an_unchanged_available_condition_keeps_its_times() {
        let new = rs("web-new", 3, 3, 3, 3);
        let empty = DeploymentStatus::default();
        let first = deployment_status(&observed(Some(&new), &[], &empty, at(0))).status;
        let second = deployment_status(&observed(Some(&new), &[], &first, at(50))).status;
        assert_eq!(find(&second, "Available"), find(&first, "Available"));
        assert_eq!(second, first, "a steady state writes nothing new");
        let down = rs("web-new", 3, 3, 1, 1);
        let third = deployment_status(&observed(Some(&down), &[], &second, at(90))).status;
        assert_eq!(find(&third, "Available").last_transition_time, Some(at(90)));
    }

    #[test]
    fn no_new_replica_set_is_not_complete() {
        let old = [rs("web-old", 3, 3, 3, 3)];
        let prev = DeploymentStatus::default();
        let d = deployment_status(&observed(None, &old, &prev, at(0)));
        assert!(!d.complete);
        assert_eq!(d.status.updated_replicas, Some(0));
        assert_eq!(find(&d.status, "Progressing").reason.as_deref(), Some("ReplicaSetUpdated"));
    }
}
