//! NodeName (Filter): a pod that names its node fits only that node.

use crate::cache::{NodeInfo, PodInfo};
use crate::cycle_state::CycleState;
use crate::framework::FilterPlugin;
use crate::status::Status;

/// The NodeName plugin.
#[derive(Debug, Default)]
pub struct NodeName;

impl FilterPlugin for NodeName {
    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        match pod.pod.spec.node_name.as_deref() {
            Some(n) if !n.is_empty() && n != node.name() => {
                Status::unresolvable("node(s) didn't match the requested node name")
            }
            _ => Status::success(),
        }
    }
}
