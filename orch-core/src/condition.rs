//! Status conditions: one way to set a condition in a list while keeping
//! its `lastTransitionTime` when its status did not change, as
//! apimachinery's `meta.SetStatusCondition` does for `metav1.Condition`.
//!
//! The kinds' condition types ([`PodCondition`], [`NodeCondition`],
//! [`WorkloadCondition`]) each implement [`Condition`], so controllers,
//! the scheduler and the node agent set theirs with [`set_condition`].
//!
//! ```
//! use orch_core::condition::{find_condition, set_condition};
//! use orch_core::kinds::pod::PodCondition;
//! use orch_core::Time;
//!
//! let ready = |status: &str| PodCondition {
//!     type_: "Ready".into(),
//!     status: status.into(),
//!     ..Default::default()
//! };
//! let mut conditions = Vec::new();
//! let t0 = Time::now();
//! assert!(set_condition(&mut conditions, ready("False"), t0));
//! // Same status again, later: nothing changes, the transition time stays.
//! let t1 = Time(t0.0 + chrono::Duration::seconds(5));
//! assert!(!set_condition(&mut conditions, ready("False"), t1));
//! assert_eq!(find_condition(&conditions, "Ready").unwrap().last_transition_time, Some(t0));
//! // A new status: the transition time moves.
//! assert!(set_condition(&mut conditions, ready("True"), t1));
//! assert_eq!(find_condition(&conditions, "Ready").unwrap().last_transition_time, Some(t1));
//! ```

use crate::kinds::job::JobCondition;
use crate::kinds::node::NodeCondition;
use crate::kinds::pod::PodCondition;
use crate::kinds::replica_set::WorkloadCondition;
use crate::Time;

/// A status condition: a `type`, a `status` (`True`, `False`, `Unknown`)
/// and the time that status last changed.
pub trait Condition: Clone + PartialEq {
    /// The condition's type (`Ready`, `PodScheduled`, `Available`, …).
    fn type_(&self) -> &str;
    /// `True`, `False` or `Unknown`.
    fn status(&self) -> &str;
    /// When `status` last changed.
    fn last_transition_time(&self) -> Option<Time>;
    /// Sets when `status` last changed.
    fn set_last_transition_time(&mut self, time: Option<Time>);
}

macro_rules! impl_condition {
    ($($t:ty),*) => {$(
        impl Condition for $t {
            fn type_(&self) -> &str {
                &self.type_
            }
            fn status(&self) -> &str {
                &self.status
            }
            fn last_transition_time(&self) -> Option<Time> {
                self.last_transition_time
            }
            fn set_last_transition_time(&mut self, time: Option<Time>) {
                self.last_transition_time = time;
            }
        }
    )*};
}

impl_condition!(PodCondition, NodeCondition, WorkloadCondition, JobCondition);

/// `"True"` or `"False"`.
pub fn status_str(status: bool) -> &'static str {
    if status {
        "True"
    } else {
        "False"
    }
}

/// The condition of type `type_` in `conditions`, if there is one.
pub fn find_condition<'a, C: Condition>(conditions: &'a [C], type_: &str) -> Option<&'a C> {
    conditions.iter().find(|c| c.type_() == type_)
}

/// The `lastTransitionTime` a condition with `status` should carry, given
/// the `previous` one of its type: the previous time when the status is the
/// same, `now` when it changed or there was none.
pub fn transition_time<C: Condition>(previous: Option<&C>, status: &str, now: Time) -> Time {
    match previous.and_then(|p| (p.status() == status).then(|| p.last_transition_time())) {
        Some(Some(t)) => t,
        _ => now,
    }
}

/// Puts `condition` into `conditions`, replacing the one of the same type
/// or appending it. Its `lastTransitionTime` is the previous one's when the
/// status did not change, otherwise `now` (apimachinery's
/// `meta.SetStatusCondition`). Every other field is taken from `condition`.
/// Returns true if `conditions` changed.
pub fn set_condition<C: Condition>(conditions: &mut Vec<C>, mut condition: C, now: Time) -> bool {
    let position = conditions.iter().position(|c| c.type_() == condition.type_());
    let previous = position.map(|i| &conditions[i]);
    condition.set_last_transition_time(Some(transition_time(previous, condition.status(), now)));
    match position {
        Some(i) if conditions[i] == condition => false,
        Some(i) => {
            conditions[i] = condition;
            true
        }
        None => {
            conditions.push(condition);
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Time {
        Time(chrono::DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap())
    }

    fn node(type_: &str, status: &str, reason: &str) -> NodeCondition {
        NodeCondition {
            type_: type_.into(),
            status: status.into(),
            reason: Some(reason.into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_new_type_is_appended_with_now() {
        let mut cs = vec![node("MemoryPressure", "False", "Ok")];
        assert!(set_condition(&mut cs, node("Ready", "True", "KubeletReady"), at(1)));
        assert_eq!(cs.len(), 2);
        assert_eq!(cs[1].last_transition_time, Some(at(1)));
    }

    #[test]
    fn the_same_status_keeps_the_transition_time_but_takes_the_other_fields() {
        let mut cs = Vec::new();
        set_condition(&mut cs, node("Ready", "False", "Starting"), at(1));
        assert!(set_condition(&mut cs, node("Ready", "False", "StillStarting"), at(9)));
        assert_eq!(cs.len(), 1);
        assert_eq!(cs[0].last_transition_time, Some(at(1)));
        assert_eq!(cs[0].reason.as_deref(), Some("StillStarting"));
    }

    #[test]
    fn an_identical_condition_changes_nothing() {
        let mut cs = Vec::new();
        set_condition(&mut cs, node("Ready", "True", "KubeletReady"), at(1));
        let before = cs.clone();
        assert!(!set_condition(&mut cs, node("Ready", "True", "KubeletReady"), at(5)));
        assert_eq!(cs, before);
    }

    #[test]
    fn a_status_change_moves_the_transition_time() {
        let mut cs = Vec::new();
        set_condition(&mut cs, node("Ready", "True", "KubeletReady"), at(1));
        assert!(set_condition(&mut cs, node("Ready", "Unknown", "NodeStatusUnknown"), at(7)));
        assert_eq!(cs[0].last_transition_time, Some(at(7)));
        assert_eq!(cs[0].status, "Unknown");
    }

    #[test]
    fn a_previous_condition_without_a_time_gets_now() {
        let previous = node("Ready", "True", "KubeletReady");
        assert_eq!(transition_time(Some(&previous), "True", at(3)), at(3));
        assert_eq!(transition_time::<NodeCondition>(None, "True", at(4)), at(4));
    }
}
