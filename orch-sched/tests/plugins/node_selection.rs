//! NodeAffinity (required operators, preferred weights) and NodeName.

use super::*;

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
