//! NodePorts (Filter): a pod's host ports must be free on the node (same
//! protocol and port conflict when the IPs are equal or either is 0.0.0.0).

use crate::cache::{HostPort, NodeInfo, PodInfo};
use crate::cycle_state::CycleState;
use crate::framework::FilterPlugin;
use crate::status::Status;

/// The NodePorts plugin.
#[derive(Debug, Default)]
pub struct NodePorts;

fn conflicts(a: &HostPort, b: &HostPort) -> bool {
    a.port == b.port
        && a.protocol == b.protocol
        && (a.ip == b.ip || a.ip == "0.0.0.0" || b.ip == "0.0.0.0")
}

impl FilterPlugin for NodePorts {
    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        if pod.host_ports.is_empty() || node.used_ports.is_empty() {
            return Status::success();
        }
        let taken = pod
            .host_ports
            .iter()
            .any(|want| node.used_ports.iter().any(|used| conflicts(want, used)));
        if taken {
            Status::unschedulable("node(s) didn't have free ports for the requested pod ports")
        } else {
            Status::success()
        }
    }
}
