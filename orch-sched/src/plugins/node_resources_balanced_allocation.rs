//! NodeResourcesBalancedAllocation (Score): prefers nodes whose cpu and
//! memory would be used in similar proportions after placing the pod:
//! `(1 − standard deviation of the fractions) × 100`, as kube-scheduler
//! (weight 1 in the default profile).

use crate::cache::{NodeInfo, PodInfo};
use crate::cycle_state::CycleState;
use crate::framework::{ScorePlugin, MAX_NODE_SCORE};
use crate::status::Status;

/// The NodeResourcesBalancedAllocation plugin.
#[derive(Debug, Default)]
pub struct NodeResourcesBalancedAllocation;

impl ScorePlugin for NodeResourcesBalancedAllocation {
    fn score(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        let fraction = |requested: i64, allocatable: i64| {
            if allocatable == 0 {
                None
            } else {
                Some((requested as f64 / allocatable as f64).min(1.0))
            }
        };
        let cpu =
            fraction(node.non_zero_milli_cpu + pod.non_zero_milli_cpu, node.allocatable.milli_cpu);
        let mem = fraction(node.non_zero_memory + pod.non_zero_memory, node.allocatable.memory);
        let std = match (cpu, mem) {
            (Some(c), Some(m)) => (c - m).abs() / 2.0,
            _ => 0.0,
        };
        Ok(((1.0 - std) * MAX_NODE_SCORE as f64) as i64)
    }
}
