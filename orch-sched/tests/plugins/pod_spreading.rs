//! Where other pods are: PodTopologySpread and InterPodAffinity.

use super::*;

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
