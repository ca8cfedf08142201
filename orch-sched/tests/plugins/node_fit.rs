//! What a node holds: NodePorts, NodeResourcesFit, the resource scores,
//! ImageLocality.

use super::*;

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
