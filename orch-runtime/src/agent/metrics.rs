//! The node agent's metrics under the kubelet's names (Prometheus; the
//! prometheus-client crate), each labelled with the `node` (one process
//! may run several agents, where a kubelet is alone in its process):
//!
//! * `kubelet_running_pods` — pods with a Ready sandbox on the node;
//! * `kubelet_running_containers{container_state}` — the node's containers
//!   by state (`created`, `running`, `exited`, `unknown`);
//!
//!   both sampled from the runtime at every heartbeat
//!   (`NodeAgentConfig::renew_interval`), as the kubelet's come from its
//!   runtime cache;
//! * `kubelet_pod_start_duration_seconds` — histogram of the seconds from
//!   the agent first seeing a pod bound to its node to the status that
//!   reports it Running (the kubelet's buckets, 0.5 s to 1 h). A pod
//!   adopted Running after an agent restart is not counted.
//!
//! ```
//! use std::sync::Arc;
//! use orch_runtime::agent::{NodeAgentConfig, NodeAgentMetrics};
//!
//! let mut registry = prometheus_client::registry::Registry::default();
//! let metrics = Arc::new(NodeAgentMetrics::register(&mut registry));
//! let mut config = NodeAgentConfig::new("node-1");
//! config.metrics = Some(metrics);
//! ```

use std::collections::HashSet;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::runtime::{ContainerFilter, ContainerState, PodSandboxFilter, PodSandboxState, Runtime};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeLabels {
    node: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ContainerLabels {
    node: String,
    container_state: &'static str,
}

/// The kubelet's `pod_start_duration_seconds` buckets, in seconds.
const POD_START_BUCKETS: [f64; 25] = [
    0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 20.0, 30.0, 45.0, 60.0, 120.0, 180.0, 240.0,
    300.0, 360.0, 480.0, 600.0, 900.0, 1200.0, 1800.0, 2700.0, 3600.0,
];

fn pod_start_histogram() -> Histogram {
    Histogram::new(POD_START_BUCKETS)
}

/// The node agents' metrics (see the [module docs](self)); give one to
/// every agent's `NodeAgentConfig::metrics`.
#[derive(Debug)]
pub struct NodeAgentMetrics {
    running_pods: Family<NodeLabels, Gauge>,
    running_containers: Family<ContainerLabels, Gauge>,
    pod_start: Family<NodeLabels, Histogram, fn() -> Histogram>,
}

impl Default for NodeAgentMetrics {
    fn default() -> Self {
        NodeAgentMetrics {
            running_pods: Family::default(),
            running_containers: Family::default(),
            pod_start: Family::new_with_constructor(pod_start_histogram),
        }
    }
}

impl NodeAgentMetrics {
    /// Creates the metrics and registers them under the `kubelet` prefix.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        let sub = registry.sub_registry_with_prefix("kubelet");
        sub.register(
            "running_pods",
            "Number of pods that have a running pod sandbox",
            m.running_pods.clone(),
        );
        sub.register(
            "running_containers",
            "Number of containers currently running",
            m.running_containers.clone(),
        );
        sub.register(
            "pod_start_duration_seconds",
            "Duration in seconds from kubelet seeing a pod for the first time to the pod starting to run",
            m.pod_start.clone(),
        );
        m
    }

    /// Records that a pod of `node` reached Running `took` after the agent
    /// first saw it.
    pub(crate) fn pod_started(&self, node: &str, took: Duration) {
        self.pod_start
            .get_or_create(&NodeLabels { node: node.to_owned() })
            .observe(took.as_secs_f64());
    }

    /// Samples `node`'s pods and containers from the runtime (`ours`: the
    /// filter of its sandboxes). A runtime that does not answer leaves the
    /// last figures.
    pub(crate) async fn sample(&self, node: &str, runtime: &dyn Runtime, ours: PodSandboxFilter) {
        let Ok(sandboxes) = runtime.list_pod_sandbox(&ours).await else { return };
        let Ok(containers) = runtime.list_containers(&ContainerFilter::default()).await else {
            return;
        };
        let ready = sandboxes.iter().filter(|s| s.state == PodSandboxState::Ready).count();
        let ids: HashSet<&str> = sandboxes.iter().map(|s| s.id.as_str()).collect();
        let mut by_state = [0i64; 4];
        for c in containers.iter().filter(|c| ids.contains(c.pod_sandbox_id.as_str())) {
            by_state[state_index(c.state)] += 1;
        }
        self.running_pods.get_or_create(&NodeLabels { node: node.to_owned() }).set(ready as i64);
        for (i, container_state) in
            ["created", "running", "exited", "unknown"].into_iter().enumerate()
        {
            let labels = ContainerLabels { node: node.to_owned(), container_state };
            self.running_containers.get_or_create(&labels).set(by_state[i]);
        }
    }
}

fn state_index(state: ContainerState) -> usize {
    match state {
        ContainerState::Created => 0,
        ContainerState::Running => 1,
        ContainerState::Exited => 2,
        ContainerState::Unknown => 3,
    }
}
