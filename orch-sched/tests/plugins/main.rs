//! Table-driven tests of the default plugins against kube-scheduler's
//! documented behaviour, and of the cycle's arithmetic.

use std::sync::Arc;

use orch_core::kinds::node::{ContainerImage, NodeSpec, NodeStatus, Taint};
use orch_core::kinds::pod::{
    Affinity, Container, ContainerPort, NodeAffinity as NodeAffinitySpec, NodeSelector,
    NodeSelectorRequirement, NodeSelectorTerm, PodAffinity, PodAffinityTerm, PodSpec,
    PreferredSchedulingTerm, ResourceRequirements, Toleration, TopologySpreadConstraint,
};
use orch_core::meta::LabelSelector;
use orch_core::{Node, ObjectMeta, Pod, Quantity};
use orch_sched::cache::{NodeInfo, PodInfo, Snapshot};
use orch_sched::cycle::{num_feasible_nodes_to_find, schedule_pod, Scheduling};
use orch_sched::cycle_state::CycleState;
use orch_sched::framework::config::{ProfileConfig, SchedulerConfiguration};
use orch_sched::framework::{
    FilterPlugin, Framework, Handle, NodeScore, PreFilterPlugin, QueuedPodInfo, Registry,
    ScorePlugin,
};
use orch_sched::plugins::inter_pod_affinity::InterPodAffinity;
use orch_sched::plugins::node_affinity::NodeAffinity;
use orch_sched::plugins::node_name::NodeName;
use orch_sched::plugins::node_ports::NodePorts;
use orch_sched::plugins::node_resources_balanced_allocation::NodeResourcesBalancedAllocation;
use orch_sched::plugins::node_resources_fit::NodeResourcesFit;
use orch_sched::plugins::node_unschedulable::NodeUnschedulable;
use orch_sched::plugins::pod_topology_spread::PodTopologySpread;
use orch_sched::plugins::priority_sort::PrioritySort;
use orch_sched::plugins::taint_toleration::{tolerates, TaintToleration};
use orch_sched::status::Code;
use serde_json::json;

mod framework;
mod node_fit;
mod node_selection;
mod pod_spreading;
mod taints;

fn node(name: &str, cpu: &str, memory: &str, labels: &[(&str, &str)]) -> Node {
    let mut meta = ObjectMeta::named(name);
    for (k, v) in labels {
        meta.labels.insert((*k).into(), (*v).into());
    }
    let alloc = [
        ("cpu".to_string(), Quantity::from(cpu)),
        ("memory".to_string(), Quantity::from(memory)),
        ("pods".to_string(), Quantity::from("110")),
    ];
    Node {
        metadata: meta,
        spec: NodeSpec::default(),
        status: Some(NodeStatus { allocatable: alloc.into(), ..Default::default() }),
        ..Default::default()
    }
}

fn pod(name: &str, cpu: &str, memory: &str) -> Pod {
    let mut requests = std::collections::BTreeMap::new();
    if !cpu.is_empty() {
        requests.insert("cpu".to_string(), Quantity::from(cpu));
    }
    if !memory.is_empty() {
        requests.insert("memory".to_string(), Quantity::from(memory));
    }
    let mut p = Pod {
        metadata: ObjectMeta::named(name).in_namespace("default"),
        spec: PodSpec {
            containers: vec![Container {
                name: "c".into(),
                image: "img:1".into(),
                resources: Some(ResourceRequirements { requests, ..Default::default() }),
                ..Default::default()
            }],
            ..Default::default()
        },
        ..Default::default()
    };
    p.metadata.uid = format!("uid-{name}");
    p
}

fn info(p: Pod) -> PodInfo {
    PodInfo::new(Arc::new(p))
}

fn node_info(n: Node, pods: Vec<Pod>) -> NodeInfo {
    let mut ni = NodeInfo::new(Arc::new(n), 1);
    for p in pods {
        ni.add_pod(Arc::new(PodInfo::new(Arc::new(p))), 1);
    }
    ni
}

fn filter(plugin: &dyn FilterPlugin, p: &PodInfo, n: &NodeInfo) -> (Code, Vec<String>) {
    let s = plugin.filter(&CycleState::new(), p, n);
    (s.code, s.reasons)
}

fn taint(key: &str, value: &str, effect: &str) -> Taint {
    Taint {
        key: key.into(),
        value: (!value.is_empty()).then(|| value.to_owned()),
        effect: effect.into(),
        time_added: None,
    }
}

fn toleration(key: &str, op: &str, value: &str, effect: &str) -> Toleration {
    Toleration {
        key: (!key.is_empty()).then(|| key.to_owned()),
        operator: Some(op.into()),
        value: (!value.is_empty()).then(|| value.to_owned()),
        effect: (!effect.is_empty()).then(|| effect.to_owned()),
        toleration_seconds: None,
    }
}
