//! The rollout arithmetic of the Deployment controller, as plain functions
//! from what is observed to what to do — no store, no clock — after
//! Kubernetes' `deployment/rolling.go`, `recreate.go` and `sync.go`.

use orch_core::IntOrString;

/// What the Pods of one ReplicaSet look like now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PodCounts {
    /// Pods that exist and have not finished (Succeeded or Failed),
    /// terminating ones included.
    pub present: i32,
    /// Pods that are neither finished nor marked for deletion.
    pub active: i32,
    /// Active Pods whose Ready condition is true.
    pub ready: i32,
    /// Active Pods Ready for at least `minReadySeconds`.
    pub available: i32,
}

/// One ReplicaSet of a Deployment, as the rollout sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplicaSetState {
    /// The ReplicaSet's name.
    pub name: String,
    /// Its `deployment.kubernetes.io/revision` (0 when missing).
    pub revision: i64,
    /// `spec.replicas` (1 when unset, as Kubernetes defaults it).
    pub spec_replicas: i32,
    /// Its Pods.
    pub pods: PodCounts,
    /// Marked for deletion.
    pub deleting: bool,
    /// Was once fully available as the Deployment's current ReplicaSet.
    pub became_available: bool,
}

/// A decision: set ReplicaSet `name`'s `spec.replicas` to `replicas`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scale {
    /// The ReplicaSet.
    pub name: String,
    /// Its new `spec.replicas`.
    pub replicas: i32,
}

impl Scale {
    fn to(rs: &ReplicaSetState, replicas: i32) -> Scale {
        Scale { name: rs.name.clone(), replicas }
    }
}

/// `(maxSurge, maxUnavailable)` as Kubernetes resolves them for `desired`
/// replicas: each defaults to 25 %; percentages of `desired`, surge rounded
/// up, unavailable rounded down; a value that is not a valid percentage
/// counts as 0; if both come out 0, maxUnavailable is 1.
pub fn resolve_bounds(
    desired: i32,
    max_surge: Option<&IntOrString>,
    max_unavailable: Option<&IntOrString>,
) -> (i32, i32) {
    let resolve = |value: Option<&IntOrString>, round_up: bool| {
        value
            .cloned()
            .unwrap_or_else(|| IntOrString::String("25%".into()))
            .scaled_value(desired, round_up)
            .unwrap_or(0)
            .max(0)
    };
    let surge = resolve(max_surge, true);
    let unavailable = resolve(max_unavailable, false);
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

/// One RollingUpdate step for `desired` replicas: the scales that bring
/// the ReplicaSets closer to the new one holding them all, such that at no
/// time more than `desired + max_surge` Pods exist (counting each
/// ReplicaSet's spec or its active Pods, whichever is larger, so a lagging
/// cache never undercounts) nor fewer than `desired − max_unavailable` are
/// available.
///
/// The new ReplicaSet is scaled first (up within the surge, or down to
/// `desired`); otherwise old ones go down, oldest revision first: first
/// their Pods that are not available anyway, then available ones while
/// enough stay available. Empty when nothing can move now.
pub fn rolling_update(
    desired: i32,
    max_surge: i32,
    max_unavailable: i32,
    new: &ReplicaSetState,
    old: &[ReplicaSetState],
) -> Vec<Scale> {
    let spec_total: i32 = new.spec_replicas + old.iter().map(|r| r.spec_replicas).sum::<i32>();
    let upper_bound = |r: &ReplicaSetState| r.spec_replicas.max(r.pods.active);
    let pods_total: i32 = upper_bound(new) + old.iter().map(upper_bound).sum::<i32>();

    if new.spec_replicas > desired {
        return vec![Scale::to(new, desired)];
    }
    if new.spec_replicas < desired {
        let max_total = desired + max_surge;
        if pods_total < max_total {
            let up = (max_total - pods_total).min(desired - new.spec_replicas);
            return vec![Scale::to(new, new.spec_replicas + up)];
        }
    }

    let old_spec: i32 = old.iter().map(|r| r.spec_replicas).sum();
    if old_spec == 0 {
        return Vec::new();
    }
    let min_available = desired - max_unavailable;
    let new_unavailable = (new.spec_replicas - new.pods.available).max(0);
    let mut budget = spec_total - min_available - new_unavailable;
    if budget <= 0 {
        return Vec::new();
    }
    let mut order: Vec<&ReplicaSetState> = old.iter().collect();
    order.sort_by_key(|r| r.revision);
    let mut targets: Vec<i32> = order.iter().map(|r| r.spec_replicas).collect();
    // First the old Pods that are not available anyway.
    for (r, target) in order.iter().zip(targets.iter_mut()) {
        let unhealthy = (r.spec_replicas - r.pods.available).max(0).min(budget);
        *target -= unhealthy;
        budget -= unhealthy;
    }
    // Then available ones, while enough stay available.
    let available_total: i32 =
        new.pods.available + old.iter().map(|r| r.pods.available).sum::<i32>();
    let mut removable = (available_total - min_available).min(budget);
    for target in targets.iter_mut() {
        if removable <= 0 {
            break;
        }
        let down = (*target).min(removable);
        *target -= down;
        removable -= down;
    }
    order
        .iter()
        .zip(targets)
        .filter(|(r, target)| *target != r.spec_replicas)
        .map(|(r, target)| Scale::to(r, target))
        .collect()
}

/// One Recreate step: every old ReplicaSet to 0; once their Pods are all
/// gone (terminating ones too, as Kubernetes waits), the new one to
/// `desired`. Empty when nothing is to change now.
pub fn recreate(desired: i32, new: &ReplicaSetState, old: &[ReplicaSetState]) -> Vec<Scale> {
    let downs: Vec<Scale> =
        old.iter().filter(|r| r.spec_replicas != 0).map(|r| Scale::to(r, 0)).collect();
    if !downs.is_empty() || old.iter().any(|r| r.pods.present > 0) {
        return downs;
    }
    if new.spec_replicas != desired {
        return vec![Scale::to(new, desired)];
    }
    Vec::new()
}

/// The old ReplicaSets to delete so that at most `revision_history_limit`
/// empty ones (0 replicas, no active Pods, not already being deleted)
/// remain: the oldest revisions go first.
pub fn history_to_delete(revision_history_limit: usize, old: &[ReplicaSetState]) -> Vec<String> {
    let mut empty: Vec<&ReplicaSetState> =
        old.iter().filter(|r| r.spec_replicas == 0 && r.pods.active == 0 && !r.deleting).collect();
    if empty.len() <= revision_history_limit {
        return Vec::new();
    }
    empty.sort_by_key(|r| r.revision);
    let excess = empty.len() - revision_history_limit;
    empty[..excess].iter().map(|r| r.name.clone()).collect()
}

/// The ReplicaSet an auto-revert rolls back to: the newest old revision
/// that once became fully available. `None` if there is none.
pub fn auto_revert_target(old: &[ReplicaSetState]) -> Option<&ReplicaSetState> {
    old.iter().filter(|r| r.became_available).max_by_key(|r| r.revision)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs(name: &str, revision: i64, spec: i32, available: i32) -> ReplicaSetState {
        ReplicaSetState {
            name: name.into(),
            revision,
            spec_replicas: spec,
            pods: PodCounts { present: spec, active: spec, ready: available, available },
            ..Default::default()
        }
    }

    fn pct(s: &str) -> IntOrString {
        IntOrString::String(s.into())
    }

    #[test]
    fn bounds_follow_kubernetes_rounding() {
        // (desired, maxSurge, maxUnavailable) → (surge, unavailable)
        type Case = (i32, Option<IntOrString>, Option<IntOrString>, (i32, i32));
        let cases: &[Case] = &[
            // Defaults 25 %: surge rounds up, unavailable rounds down.
            (10, None, None, (3, 2)),
            (4, None, None, (1, 1)),
            (1, None, None, (1, 0)),
            // The documented example: 30 % of 10 is 3 either way.
            (10, Some(pct("30%")), Some(pct("30%")), (3, 3)),
            (10, Some(pct("25%")), Some(pct("25%")), (3, 2)),
            (3, Some(pct("50%")), Some(pct("50%")), (2, 1)),
            // Absolute values are taken as they are.
            (10, Some(IntOrString::Int(4)), Some(IntOrString::Int(0)), (4, 0)),
            // Both 0: maxUnavailable becomes 1, so the rollout can move.
            (10, Some(IntOrString::Int(0)), Some(IntOrString::Int(0)), (0, 1)),
            (1, Some(pct("0%")), Some(pct("10%")), (0, 1)),
            // An unparsable percentage counts as 0.
            (10, Some(pct("x%")), Some(IntOrString::Int(2)), (0, 2)),
        ];
        for (desired, surge, unavailable, want) in cases {
            assert_eq!(
                resolve_bounds(*desired, surge.as_ref(), unavailable.as_ref()),
                *want,
                "desired {desired}, maxSurge {surge:?}, maxUnavailable {unavailable:?}"
            );
        }
    }

    #[test]
    fn rolling_update_steps_stay_within_surge_and_unavailable() {
        struct Case {
            what: &'static str,
            desired: i32,
            bounds: (i32, i32),
            new: ReplicaSetState,
            old: Vec<ReplicaSetState>,
            want: Vec<(&'static str, i32)>,
        }
        let cases = vec![
            Case {
                what: "a fresh rollout surges the new set up first",
                desired: 10,
                bounds: (3, 2),
                new: rs("new", 2, 0, 0),
                old: vec![rs("old", 1, 10, 10)],
                want: vec![("new", 3)],
            },
            Case {
                what: "at the surge limit, old pods go down within maxUnavailable",
                desired: 10,
                bounds: (3, 2),
                new: rs("new", 2, 3, 0),
                old: vec![rs("old", 1, 10, 10)],
                want: vec![("old", 8)],
            },
            Case {
                what: "once old pods went, the surge room opens for new ones",
                desired: 10,
                bounds: (3, 2),
                new: rs("new", 2, 3, 0),
                old: vec![rs("old", 1, 8, 8)],
                want: vec![("new", 5)],
            },
            Case {
                what: "surge used up and the new pods not yet available: no move",
                desired: 10,
                bounds: (3, 2),
                new: rs("new", 2, 5, 0),
                old: vec![rs("old", 1, 8, 8)],
                want: vec![],
            },
            Case {
                what: "unavailable old pods go first, oldest revision first",
                desired: 4,
                bounds: (0, 1),
                new: rs("new", 3, 0, 0),
                old: vec![rs("older", 1, 2, 0), rs("old", 2, 2, 2)],
                // budget 4 - 3 - 0 = 1: one unavailable pod of the oldest.
                want: vec![("older", 1)],
            },
            Case {
                what: "a new set above desired is scaled down to it",
                desired: 3,
                bounds: (1, 0),
                new: rs("new", 2, 5, 5),
                old: vec![],
                want: vec![("new", 3)],
            },
            Case {
                what: "maxSurge 0, maxUnavailable 1: old down by one before new up",
                desired: 3,
                bounds: (0, 1),
                new: rs("new", 2, 0, 0),
                old: vec![rs("old", 1, 3, 3)],
                want: vec![("old", 2)],
            },
            Case {
                what: "a lagging cache with more pods than the spec: the new set may not grow",
                desired: 3,
                bounds: (1, 0),
                new: rs("new", 2, 0, 0),
                old: vec![ReplicaSetState {
                    pods: PodCounts { present: 4, active: 4, ready: 4, available: 4 },
                    ..rs("old", 1, 3, 3)
                }],
                // 4 pods exist, the surge limit is 4: the new set cannot grow,
                // and the specs (3) leave nothing above minAvailable (3).
                want: vec![],
            },
            Case {
                what: "rolled out: nothing to do",
                desired: 3,
                bounds: (1, 0),
                new: rs("new", 2, 3, 3),
                old: vec![rs("old", 1, 0, 0)],
                want: vec![],
            },
        ];
        for c in cases {
            let got = rolling_update(c.desired, c.bounds.0, c.bounds.1, &c.new, &c.old);
            let want: Vec<Scale> =
                c.want.iter().map(|(n, r)| Scale { name: (*n).into(), replicas: *r }).collect();
            assert_eq!(got, want, "{}", c.what);
        }
    }

    #[test]
    fn recreate_waits_for_old_pods_to_be_gone() {
        let new = rs("new", 2, 0, 0);
        let scale = |n: &str, r| Scale { name: n.into(), replicas: r };
        // Old sets scale to 0 first.
        assert_eq!(recreate(3, &new, &[rs("old", 1, 3, 3)]), vec![scale("old", 0)]);
        // Scaled to 0 but a pod still terminating: wait.
        let terminating = ReplicaSetState {
            pods: PodCounts { present: 1, ..Default::default() },
            ..rs("old", 1, 0, 0)
        };
        assert_eq!(recreate(3, &new, &[terminating]), vec![]);
        // All gone: the new set up to desired.
        assert_eq!(recreate(3, &new, &[rs("old", 1, 0, 0)]), vec![scale("new", 3)]);
        assert_eq!(recreate(3, &rs("new", 2, 3, 3), &[]), vec![]);
    }

    #[test]
    fn history_keeps_the_newest_empty_sets_within_the_limit() {
        let old = vec![
            rs("r3", 3, 0, 0),
            rs("r1", 1, 0, 0),
            rs("r2", 2, 0, 0),
            rs("busy", 0, 2, 2),
            ReplicaSetState { deleting: true, ..rs("gone", 0, 0, 0) },
        ];
        assert_eq!(history_to_delete(1, &old), vec!["r1".to_owned(), "r2".to_owned()]);
        assert_eq!(history_to_delete(0, &old), vec!["r1", "r2", "r3"]);
        assert!(history_to_delete(3, &old).is_empty());
    }

    #[test]
    fn auto_revert_picks_the_newest_revision_that_became_available() {
        let old = vec![
            ReplicaSetState { became_available: true, ..rs("r1", 1, 0, 0) },
            ReplicaSetState { became_available: true, ..rs("r3", 3, 0, 0) },
            rs("r4", 4, 0, 0),
        ];
        assert_eq!(auto_revert_target(&old).map(|r| r.name.as_str()), Some("r3"));
        assert_eq!(auto_revert_target(&old[2..]), None);
    }
}
