//! TaintToleration: Filter rejects nodes with `NoSchedule` or `NoExecute`
//! taints the pod does not tolerate; Score prefers nodes with fewer
//! untolerated `PreferNoSchedule` taints (weight 3 in the default profile).

use orch_core::kinds::node::Taint;
use orch_core::kinds::pod::Toleration;

use super::default_normalize;
use crate::cache::{NodeInfo, PodInfo};
use crate::cycle_state::CycleState;
use crate::framework::{FilterPlugin, NodeScore, ScorePlugin};
use crate::status::Status;

/// True if `toleration` tolerates `taint`, as Kubernetes'
/// `Toleration.ToleratesTaint` ([`Toleration::tolerates`]).
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    toleration.tolerates(taint)
}

/// True if any of `tolerations` tolerates `taint`.
pub fn tolerates_taint(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| tolerates(t, taint))
}

/// The TaintToleration plugin.
#[derive(Debug, Default)]
pub struct TaintToleration;

impl FilterPlugin for TaintToleration {
    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let tolerations = &pod.pod.spec.tolerations;
        for taint in &node.node.spec.taints {
            if (taint.effect == "NoSchedule" || taint.effect == "NoExecute")
                && !tolerates_taint(tolerations, taint)
            {
                let value = taint.value.as_deref().unwrap_or("");
                return Status::unresolvable(format!(
                    "node(s) had untolerated taint {{{}: {value}}}",
                    taint.key
                ));
            }
        }
        Status::success()
    }
}

impl ScorePlugin for TaintToleration {
    fn score(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        let tolerations = &pod.pod.spec.tolerations;
        Ok(node
            .node
            .spec
            .taints
            .iter()
            .filter(|t| t.effect == "PreferNoSchedule" && !tolerates_taint(tolerations, t))
            .count() as i64)
    }

    fn normalize(&self, _state: &CycleState, _pod: &PodInfo, scores: &mut [NodeScore]) -> Status {
        default_normalize(scores, true);
        Status::success()
    }
}
