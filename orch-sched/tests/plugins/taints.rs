//! TaintToleration and NodeUnschedulable: taints, tolerations, cordons.

use super::*;

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
