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

#[test]
fn tolerations_match_taints_as_kubernetes() {
    let t = taint("dedicated", "gpu", "NoSchedule");
    let cases = [
        (toleration("dedicated", "Equal", "gpu", "NoSchedule"), true),
        (toleration("dedicated", "Equal", "cpu", "NoSchedule"), false),
        (toleration("dedicated", "Exists", "", "NoSchedule"), true),
        (toleration("dedicated", "Exists", "", ""), true),
        (toleration("", "Exists", "", ""), true),
        (toleration("dedicated", "Equal", "gpu", "NoExecute"), false),
        (toleration("other", "Exists", "", ""), false),
    ];
    for (tol, want) in cases {
        assert_eq!(tolerates(&tol, &t), want, "{tol:?}");
    }
}

#[test]
fn taint_toleration_filters_hard_taints_and_scores_soft_ones() {
    let mut tainted = node("n1", "4", "8Gi", &[]);
    tainted.spec.taints.push(taint("dedicated", "gpu", "NoSchedule"));
    let n = node_info(tainted, vec![]);
    let (code, reasons) = filter(&TaintToleration, &info(pod("p", "", "")), &n);
    assert_eq!(code, Code::UnschedulableAndUnresolvable);
    assert_eq!(reasons, ["node(s) had untolerated taint {dedicated: gpu}"]);
    let mut tolerant = pod("p", "", "");
    tolerant.spec.tolerations.push(toleration("dedicated", "Equal", "gpu", "NoSchedule"));
    assert_eq!(filter(&TaintToleration, &info(tolerant), &n).0, Code::Success);

    // PreferNoSchedule: fewer untolerated soft taints score higher.
    let mut soft2 = node("a", "4", "8Gi", &[]);
    soft2.spec.taints =
        vec![taint("x", "", "PreferNoSchedule"), taint("y", "", "PreferNoSchedule")];
    let mut soft1 = node("b", "4", "8Gi", &[]);
    soft1.spec.taints = vec![taint("x", "", "PreferNoSchedule")];
    let nodes = [
        node_info(soft2, vec![]),
        node_info(soft1, vec![]),
        node_info(node("c", "4", "8Gi", &[]), vec![]),
    ];
    let p = info(pod("p", "", ""));
    let mut scores: Vec<NodeScore> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| NodeScore {
            node: i,
            score: TaintToleration.score(&CycleState::new(), &p, n).unwrap(),
        })
        .collect();
    TaintToleration.normalize(&CycleState::new(), &p, &mut scores);
    assert_eq!(scores.iter().map(|s| s.score).collect::<Vec<_>>(), [0, 50, 100]);
}

#[test]
fn node_unschedulable_rejects_cordoned_nodes_unless_tolerated() {
    let mut cordoned = node("n", "4", "8Gi", &[]);
    cordoned.spec.unschedulable = Some(true);
    let n = node_info(cordoned, vec![]);
    assert_eq!(
        filter(&NodeUnschedulable, &info(pod("p", "", "")), &n).1,
        ["node(s) were unschedulable"]
    );
    let mut p = pod("p", "", "");
    p.spec.tolerations.push(toleration(
        "node.kubernetes.io/unschedulable",
        "Exists",
        "",
        "NoSchedule",
    ));
    assert_eq!(filter(&NodeUnschedulable, &info(p), &n).0, Code::Success);
}

fn req(key: &str, op: &str, values: &[&str]) -> NodeSelectorRequirement {
    NodeSelectorRequirement {
        key: key.into(),
        operator: op.into(),
        values: values.iter().map(|v| (*v).into()).collect(),
    }
}

fn with_required(terms: Vec<NodeSelectorTerm>) -> Pod {
    let mut p = pod("p", "", "");
    p.spec.affinity = Some(Affinity {
        node_affinity: Some(NodeAffinitySpec {
            required: Some(NodeSelector { node_selector_terms: terms }),
            preferred: vec![],
        }),
        ..Default::default()
    });
    p
}

#[test]
fn node_affinity_operators_follow_kubernetes() {
    let n = node_info(
        node("node-7", "4", "8Gi", &[("zone", "a"), ("cores", "16"), ("ssd", "")]),
        vec![],
    );
    let term = |reqs: Vec<NodeSelectorRequirement>| NodeSelectorTerm {
        match_expressions: reqs,
        match_fields: vec![],
    };
    let cases: Vec<(NodeSelectorTerm, bool)> = vec![
        (term(vec![req("zone", "In", &["a", "b"])]), true),
        (term(vec![req("zone", "In", &["b"])]), false),
        (term(vec![req("zone", "NotIn", &["b"])]), true),
        (term(vec![req("missing", "NotIn", &["b"])]), true),
        (term(vec![req("ssd", "Exists", &[])]), true),
        (term(vec![req("ssd", "DoesNotExist", &[])]), false),
        (term(vec![req("cores", "Gt", &["8"])]), true),
        (term(vec![req("cores", "Lt", &["8"])]), false),
        (term(vec![req("zone", "Gt", &["1"])]), false),
        (term(vec![req("zone", "In", &["a"]), req("cores", "Lt", &["8"])]), false),
        (
            NodeSelectorTerm {
                match_expressions: vec![],
                match_fields: vec![req("metadata.name", "In", &["node-7"])],
            },
            true,
        ),
        (NodeSelectorTerm::default(), false),
    ];
    for (t, want) in cases {
        let p = info(with_required(vec![t.clone()]));
        let (code, _) = filter(&NodeAffinity, &p, &n);
        assert_eq!(code == Code::Success, want, "{t:?}");
    }
    // Terms are ORed.
    let p = info(with_required(vec![
        term(vec![req("zone", "In", &["b"])]),
        term(vec![req("zone", "In", &["a"])]),
    ]));
    assert_eq!(filter(&NodeAffinity, &p, &n).0, Code::Success);
    // nodeSelector.
    let mut sel = pod("p", "", "");
    sel.spec.node_selector.insert("zone".into(), "b".into());
    assert_eq!(
        filter(&NodeAffinity, &info(sel), &n).1,
        ["node(s) didn't match Pod's node affinity/selector"]
    );
    // No selector at all: PreFilter skips.
    let s = NodeAffinity.pre_filter(
        &mut CycleState::new(),
        &info(pod("p", "", "")),
        &Snapshot::default(),
    );
    assert_eq!(s.code, Code::Skip);
}

#[test]
fn node_affinity_scores_preferred_terms_by_weight() {
    let mut p = pod("p", "", "");
    p.spec.affinity = Some(Affinity {
        node_affinity: Some(NodeAffinitySpec {
            required: None,
            preferred: vec![
                PreferredSchedulingTerm {
                    weight: 80,
                    preference: NodeSelectorTerm {
                        match_expressions: vec![req("zone", "In", &["a"])],
                        match_fields: vec![],
                    },
                },
                PreferredSchedulingTerm {
                    weight: 20,
                    preference: NodeSelectorTerm {
                        match_expressions: vec![req("ssd", "Exists", &[])],
                        match_fields: vec![],
                    },
                },
            ],
        }),
        ..Default::default()
    });
    let p = info(p);
    let nodes = [
        node_info(node("both", "4", "8Gi", &[("zone", "a"), ("ssd", "1")]), vec![]),
        node_info(node("zone", "4", "8Gi", &[("zone", "a")]), vec![]),
        node_info(node("ssd", "4", "8Gi", &[("ssd", "1")]), vec![]),
        node_info(node("none", "4", "8Gi", &[]), vec![]),
    ];
    let mut scores: Vec<NodeScore> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| NodeScore {
            node: i,
            score: NodeAffinity.score(&CycleState::new(), &p, n).unwrap(),
        })
        .collect();
    assert_eq!(scores.iter().map(|s| s.score).collect::<Vec<_>>(), [100, 80, 20, 0]);
    NodeAffinity.normalize(&CycleState::new(), &p, &mut scores);
    assert_eq!(scores.iter().map(|s| s.score).collect::<Vec<_>>(), [100, 80, 20, 0]);
}

#[test]
fn node_ports_conflict_on_protocol_port_and_overlapping_ip() {
    let with_port = |name: &str, port: i32, ip: Option<&str>, proto: &str| {
        let mut p = pod(name, "", "");
        p.spec.containers[0].ports.push(ContainerPort {
            container_port: 80,
            host_port: Some(port),
            host_ip: ip.map(str::to_owned),
            protocol: Some(proto.into()),
            name: None,
        });
        p
    };
    let n = node_info(
        node("n", "4", "8Gi", &[]),
        vec![with_port("existing", 8080, Some("10.0.0.1"), "TCP")],
    );
    let cases = [
        (with_port("a", 8080, None, "TCP"), false),
        (with_port("b", 8080, Some("10.0.0.1"), "TCP"), false),
        (with_port("c", 8080, Some("10.0.0.2"), "TCP"), true),
        (with_port("d", 8080, None, "UDP"), true),
        (with_port("e", 9090, None, "TCP"), true),
    ];
    for (p, fits) in cases {
        assert_eq!(
            filter(&NodePorts, &info(p.clone()), &n).0 == Code::Success,
            fits,
            "{}",
            p.metadata.name
        );
    }
}

#[test]
fn node_resources_fit_reports_every_insufficient_resource() {
    let existing = pod("existing", "3", "6Gi");
    let n = node_info(node("n", "4", "8Gi", &[]), vec![existing]);
    let fit = NodeResourcesFit::default();
    assert_eq!(filter(&fit, &info(pod("small", "1", "2Gi")), &n).0, Code::Success);
    let (code, reasons) = filter(&fit, &info(pod("big", "2", "4Gi")), &n);
    assert_eq!(code, Code::Unschedulable);
    assert_eq!(reasons, ["Insufficient cpu", "Insufficient memory"]);
    // Extended resources.
    let mut gpu = pod("gpu", "", "");
    gpu.spec.containers[0]
        .resources
        .as_mut()
        .unwrap()
        .requests
        .insert("example.com/gpu".into(), "1".into());
    assert_eq!(filter(&fit, &info(gpu), &n).1, ["Insufficient example.com/gpu"]);
    // Pod count.
    let mut tiny = node("tiny", "4", "8Gi", &[]);
    tiny.status.as_mut().unwrap().allocatable.insert("pods".into(), "1".into());
    let full = node_info(tiny, vec![pod("only", "", "")]);
    assert_eq!(filter(&fit, &info(pod("p", "", "")), &full).1, ["Too many pods"]);
}

#[test]
fn resource_scores_follow_the_kube_formulas() {
    // 4 cores / 8 GiB node with 1 core / 2 GiB used; the pod asks 1 core / 2 GiB.
    let n = node_info(node("n", "4", "8Gi", &[]), vec![pod("used", "1", "2Gi")]);
    let p = info(pod("p", "1", "2Gi"));
    let state = CycleState::new();
    // LeastAllocated: ((4-2)/4 + (8-4)/8) / 2 × 100 = 50.
    assert_eq!(NodeResourcesFit::default().score(&state, &p, &n).unwrap(), 50);
    let most = NodeResourcesFit::from_args(&json!({"scoringStrategy": {"type": "MostAllocated"}}))
        .unwrap();
    assert_eq!(most.score(&state, &p, &n).unwrap(), 50);
    let n2 = node_info(node("n2", "4", "8Gi", &[]), vec![]);
    assert_eq!(most.score(&state, &p, &n2).unwrap(), 25);
    let ratio = NodeResourcesFit::from_args(&json!({"scoringStrategy": {
        "type": "RequestedToCapacityRatio",
        "requestedToCapacityRatio": {"shape": [{"utilization": 0, "score": 10}, {"utilization": 100, "score": 0}]}
    }}))
    .unwrap();
    // 50 % utilized on both resources: halfway down the shape = 50.
    assert_eq!(ratio.score(&state, &p, &n).unwrap(), 50);
    assert!(NodeResourcesFit::from_args(&json!({"scoringStrategy": {"type": "Cheapest"}})).is_err());
    // Balanced: cpu 2/4 = 0.5, memory 4/8 = 0.5 → perfectly balanced.
    assert_eq!(NodeResourcesBalancedAllocation.score(&state, &p, &n).unwrap(), 100);
    let skewed = info(pod("s", "2", "512Mi"));
    // cpu (1+2)/4 = 0.75, memory (2Gi+0.5Gi)/8Gi = 0.3125 → 100 × (1 − 0.21875).
    assert_eq!(NodeResourcesBalancedAllocation.score(&state, &skewed, &n).unwrap(), 78);
}

#[test]
fn image_locality_prefers_nodes_with_the_image() {
    let fw = Framework::new(&Registry::default(), &ProfileConfig::default(), &Handle::default())
        .unwrap();
    let mut with_image = node("with", "4", "8Gi", &[]);
    with_image
        .status
        .as_mut()
        .unwrap()
        .images
        .push(ContainerImage { names: vec!["img:1".into()], size_bytes: 500 * 1024 * 1024 });
    let snapshot = Snapshot::from_nodes(vec![
        node_info(node("without", "4", "8Gi", &[]), vec![]),
        node_info(with_image, vec![]),
    ]);
    for _ in 0..5 {
        let placed =
            schedule_pod(&fw, &snapshot, &info(pod("p", "", "")), &mut Scheduling::default())
                .unwrap();
        assert_eq!(placed.node, "with");
    }
}

fn labeled(mut p: Pod, app: &str) -> Pod {
    p.metadata.labels.insert("app".into(), app.into());
    p
}

fn app_selector(app: &str) -> LabelSelector {
    LabelSelector {
        match_labels: [("app".to_string(), app.to_string())].into(),
        ..Default::default()
    }
}

fn zone_nodes(existing: &[(&str, usize)]) -> Snapshot {
    let mut nodes = Vec::new();
    for (i, (zone, count)) in existing.iter().enumerate() {
        let pods =
            (0..*count).map(|j| labeled(pod(&format!("e-{zone}-{j}"), "", ""), "web")).collect();
        nodes.push(node_info(
            node(&format!("n{i}"), "8", "16Gi", &[("zone", zone), ("host", &format!("n{i}"))]),
            pods,
        ));
    }
    Snapshot::from_nodes(nodes)
}

#[test]
fn topology_spread_rejects_nodes_that_would_exceed_max_skew() {
    let snapshot = zone_nodes(&[("a", 2), ("b", 1), ("c", 1)]);
    let mut p = labeled(pod("new", "", ""), "web");
    p.spec.topology_spread_constraints.push(TopologySpreadConstraint {
        max_skew: 1,
        topology_key: "zone".into(),
        when_unsatisfiable: "DoNotSchedule".into(),
        label_selector: Some(app_selector("web")),
        ..Default::default()
    });
    let p = info(p);
    let mut state = CycleState::new();
    assert_eq!(PodTopologySpread.pre_filter(&mut state, &p, &snapshot).code, Code::Success);
    let verdicts: Vec<Code> =
        snapshot.nodes().iter().map(|n| PodTopologySpread.filter(&state, &p, n).code).collect();
    assert_eq!(
        verdicts,
        [Code::Unschedulable, Code::Success, Code::Success],
        "zone a would have skew 2"
    );
    // minDomains 4 with 3 domains: the global minimum counts as 0.
    let mut strict = labeled(pod("new2", "", ""), "web");
    strict.spec.topology_spread_constraints.push(TopologySpreadConstraint {
        max_skew: 1,
        topology_key: "zone".into(),
        when_unsatisfiable: "DoNotSchedule".into(),
        label_selector: Some(app_selector("web")),
        min_domains: Some(4),
        ..Default::default()
    });
    let strict = info(strict);
    let mut state = CycleState::new();
    PodTopologySpread.pre_filter(&mut state, &strict, &snapshot);
    assert!(snapshot
        .nodes()
        .iter()
        .all(|n| PodTopologySpread.filter(&state, &strict, n).code == Code::Unschedulable));
}

fn anti_affine(name: &str, app: &str, key: &str) -> Pod {
    let mut p = labeled(pod(name, "", ""), app);
    p.spec.affinity = Some(Affinity {
        pod_anti_affinity: Some(PodAffinity {
            required: vec![PodAffinityTerm {
                label_selector: Some(app_selector(app)),
                topology_key: key.into(),
                ..Default::default()
            }],
            preferred: vec![],
        }),
        ..Default::default()
    });
    p
}

#[test]
fn inter_pod_affinity_follows_kubernetes() {
    let run = |snapshot: &Snapshot, p: Pod| -> Vec<Code> {
        let p = info(p);
        let mut state = CycleState::new();
        let pre = InterPodAffinity.pre_filter(&mut state, &p, snapshot);
        if pre.code == Code::Skip {
            return vec![Code::Success; snapshot.len()];
        }
        snapshot.nodes().iter().map(|n| InterPodAffinity.filter(&state, &p, n).code).collect()
    };
    let snapshot = zone_nodes(&[("a", 1), ("b", 0), ("a", 0)]);
    // Own anti-affinity by host: not next to a web pod.
    assert_eq!(
        run(&snapshot, anti_affine("x", "web", "host")),
        [Code::Unschedulable, Code::Success, Code::Success]
    );
    // By zone: not in zone a at all.
    assert_eq!(
        run(&snapshot, anti_affine("x", "web", "zone")),
        [Code::Unschedulable, Code::Success, Code::Unschedulable]
    );

    // Existing pods' anti-affinity keeps matching pods away (symmetry).
    let guarded = Snapshot::from_nodes(vec![
        node_info(
            node("n0", "8", "16Gi", &[("host", "n0")]),
            vec![anti_affine("db-0", "db", "host")],
        ),
        node_info(node("n1", "8", "16Gi", &[("host", "n1")]), vec![]),
    ]);
    assert_eq!(
        run(&guarded, labeled(pod("db-1", "", ""), "db")),
        [Code::Unschedulable, Code::Success]
    );
    assert_eq!(run(&guarded, labeled(pod("web", "", ""), "web")), [Code::Success, Code::Success]);

    // Required affinity: only where a matching pod runs; the first of a group anywhere.
    let mut follower = labeled(pod("cache", "", ""), "cache");
    follower.spec.affinity = Some(Affinity {
        pod_affinity: Some(PodAffinity {
            required: vec![PodAffinityTerm {
                label_selector: Some(app_selector("web")),
                topology_key: "zone".into(),
                ..Default::default()
            }],
            preferred: vec![],
        }),
        ..Default::default()
    });
    assert_eq!(run(&snapshot, follower), [Code::Success, Code::Unschedulable, Code::Success]);
    let mut first = labeled(pod("first", "", ""), "new");
    first.spec.affinity = Some(Affinity {
        pod_affinity: Some(PodAffinity {
            required: vec![PodAffinityTerm {
                label_selector: Some(app_selector("new")),
                topology_key: "zone".into(),
                ..Default::default()
            }],
            preferred: vec![],
        }),
        ..Default::default()
    });
    assert_eq!(run(&snapshot, first), [Code::Success, Code::Success, Code::Success]);
}

#[test]
fn priority_sort_orders_by_priority_then_arrival() {
    use orch_sched::framework::QueueSortPlugin;
    let now = tokio::time::Instant::now();
    let q = |name: &str, priority: i32, secs: u64| {
        let mut p = pod(name, "", "");
        p.spec.priority = Some(priority);
        QueuedPodInfo {
            pod: Arc::new(info(p)),
            enqueued_at: now + std::time::Duration::from_secs(secs),
            attempts: 0,
        }
    };
    let (high_late, low_early, low_late) = (q("a", 100, 5), q("b", 0, 1), q("c", 0, 2));
    assert!(PrioritySort.less(&high_late, &low_early));
    assert!(PrioritySort.less(&low_early, &low_late));
    assert!(!PrioritySort.less(&low_late, &low_early));
}

#[test]
fn feasible_node_counts_follow_percentage_of_nodes_to_score() {
    assert_eq!(num_feasible_nodes_to_find(50, None), 50);
    assert_eq!(
        num_feasible_nodes_to_find(100, None),
        100,
        "50 % of 100, raised to the 100-node minimum"
    );
    assert_eq!(num_feasible_nodes_to_find(1000, None), 420);
    assert_eq!(num_feasible_nodes_to_find(5000, None), 500);
    assert_eq!(num_feasible_nodes_to_find(6000, None), 300, "floor of 5 %");
    assert_eq!(num_feasible_nodes_to_find(5000, Some(100)), 5000);
    assert_eq!(num_feasible_nodes_to_find(500, Some(1)), 100, "never below 100 nodes");
}

#[test]
fn fit_errors_read_like_kube_scheduler() {
    let fw = Framework::new(&Registry::default(), &ProfileConfig::default(), &Handle::default())
        .unwrap();
    let mut gpu1 = node("g1", "64", "256Gi", &[]);
    gpu1.spec.taints.push(taint("dedicated", "gpu", "NoSchedule"));
    let mut gpu2 = gpu1.clone();
    gpu2.metadata.name = "g2".into();
    let snapshot = Snapshot::from_nodes(vec![
        node_info(node("a", "1", "4Gi", &[]), vec![]),
        node_info(node("b", "1", "4Gi", &[]), vec![]),
        node_info(node("c", "1", "4Gi", &[]), vec![]),
        node_info(gpu1, vec![]),
        node_info(gpu2, vec![]),
    ]);
    let err =
        schedule_pod(&fw, &snapshot, &info(pod("big", "2", "1Gi")), &mut Scheduling::default())
            .unwrap_err();
    assert_eq!(err.message(), "0/5 nodes are available: 3 Insufficient cpu, 2 node(s) had untolerated taint {dedicated: gpu}.");
}

#[test]
fn profiles_are_read_from_kube_scheduler_configuration_yaml() {
    let yaml = r#"
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
percentageOfNodesToScore: 20
profiles:
  - schedulerName: default-scheduler
  - schedulerName: packer
    plugins:
      score:
        disabled: [{name: NodeResourcesBalancedAllocation}, {name: ImageLocality}]
        enabled: [{name: NodeResourcesFit, weight: 5}]
    pluginConfig:
      - name: NodeResourcesFit
        args: {scoringStrategy: {type: MostAllocated}}
"#;
    let config = SchedulerConfiguration::from_yaml(yaml).unwrap();
    assert_eq!(config.profiles.len(), 2);
    let registry = Registry::default();
    let default = Framework::new(&registry, &config.profiles[0], &Handle::default()).unwrap();
    assert_eq!(default.percentage_of_nodes_to_score, Some(20));
    assert_eq!(default.score_weight("TaintToleration"), Some(3));
    assert_eq!(default.score_weight("NodeAffinity"), Some(2));
    assert_eq!(
        default.plugin_names("filter"),
        [
            "NodeUnschedulable",
            "NodeName",
            "TaintToleration",
            "NodeAffinity",
            "NodePorts",
            "NodeResourcesFit",
            "PodTopologySpread",
            "InterPodAffinity"
        ]
    );
    let packer = Framework::new(&registry, &config.profiles[1], &Handle::default()).unwrap();
    assert_eq!(packer.score_weight("NodeResourcesFit"), Some(5));
    assert_eq!(packer.score_weight("ImageLocality"), None);
    // MostAllocated packs: the fuller node wins.
    let snapshot = Snapshot::from_nodes(vec![
        node_info(node("empty", "4", "8Gi", &[]), vec![]),
        node_info(node("busy", "4", "8Gi", &[]), vec![pod("x", "2", "4Gi")]),
    ]);
    let placed = schedule_pod(
        &packer,
        &snapshot,
        &info(pod("p", "500m", "512Mi")),
        &mut Scheduling::default(),
    )
    .unwrap();
    assert_eq!(placed.node, "busy");
    let spread = schedule_pod(
        &default,
        &snapshot,
        &info(pod("p", "500m", "512Mi")),
        &mut Scheduling::default(),
    )
    .unwrap();
    assert_eq!(spread.node, "empty");

    let bad = ProfileConfig {
        plugins: serde_json::from_value(
            json!({"filter": {"enabled": [{"name": "ImageLocality"}]}}),
        )
        .unwrap(),
        ..Default::default()
    };
    assert!(Framework::new(&registry, &bad, &Handle::default())
        .unwrap_err()
        .to_string()
        .contains("does not serve the filter"));
    let unknown = ProfileConfig {
        plugins: serde_json::from_value(json!({"multiPoint": {"enabled": [{"name": "Nope"}]}}))
            .unwrap(),
        ..Default::default()
    };
    assert!(Framework::new(&registry, &unknown, &Handle::default())
        .unwrap_err()
        .to_string()
        .contains("unknown plugin"));
    assert!(SchedulerConfiguration::from_yaml("profiles: [{plugins: 5}]").is_err());
}

#[test]
fn node_name_fits_only_the_named_node() {
    let mut p = pod("p", "", "");
    p.spec.node_name = Some("node-b".into());
    let p = info(p);
    let a = node_info(node("node-a", "4", "8Gi", &[]), vec![]);
    let b = node_info(node("node-b", "4", "8Gi", &[]), vec![]);
    assert_eq!(
        filter(&NodeName, &p, &a),
        (
            Code::UnschedulableAndUnresolvable,
            vec!["node(s) didn't match the requested node name".to_string()]
        )
    );
    assert_eq!(filter(&NodeName, &p, &b).0, Code::Success);
    assert_eq!(filter(&NodeName, &info(pod("q", "", "")), &a).0, Code::Success);
}
