//! NodeUnschedulable (Filter): cordoned nodes (`spec.unschedulable`) take no
//! pods, unless the pod tolerates the `node.kubernetes.io/unschedulable`
//! taint.

use orch_core::kinds::node::Taint;

use super::taint_toleration::tolerates_taint;
use crate::cache::{NodeInfo, PodInfo};
use crate::cycle_state::CycleState;
use crate::framework::FilterPlugin;
use crate::status::Status;

/// The NodeUnschedulable plugin.
#[derive(Debug, Default)]
pub struct NodeUnschedulable;

impl FilterPlugin for NodeUnschedulable {
    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        if node.node.spec.unschedulable != Some(true) {
            return Status::success();
        }
        let taint = Taint {
            key: "node.kubernetes.io/unschedulable".into(),
            value: None,
            effect: "NoSchedule".into(),
            time_added: None,
        };
        if tolerates_taint(&pod.pod.spec.tolerations, &taint) {
            Status::success()
        } else {
            Status::unresolvable("node(s) were unschedulable")
        }
    }
}
