//! The framework around the plugins: PrioritySort, how many nodes are
//! searched, fit errors, nominated pods in Filter, profiles from
//! KubeSchedulerConfiguration YAML.

use super::*;
use orch_sched::framework::config::PluginRef;
use orch_sched::framework::PluginSet;
use orch_sched::status::Status;

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

fn with_priority(mut p: Pod, priority: i32) -> Arc<PodInfo> {
    p.spec.priority = Some(priority);
    Arc::new(info(p))
}

#[test]
fn filter_counts_nominated_pods_of_equal_or_higher_priority() {
    let fw = Framework::new(&Registry::default(), &ProfileConfig::default(), &Handle::default())
        .unwrap();
    let snapshot = Snapshot::from_nodes(vec![node_info(node("n1", "2", "4Gi", &[]), vec![])]);
    let preemptor = with_priority(pod("preemptor", "2", ""), 100);
    fw.nominator().nominate(preemptor.clone(), "n1");
    let place = |p: &PodInfo| {
        schedule_pod(&fw, &snapshot, p, &mut Scheduling::default())
            .map(|r| r.node)
            .map_err(|e| e.message())
    };
    let low = with_priority(pod("low", "1", ""), 0);
    assert_eq!(place(&low), Err("0/1 nodes are available: 1 Insufficient cpu.".into()));
    let equal = with_priority(pod("equal", "1", ""), 100);
    assert!(place(&equal).is_err(), "an equal priority respects the nomination");
    let higher = with_priority(pod("higher", "1", ""), 101);
    assert_eq!(place(&higher).as_deref(), Ok("n1"));
    assert_eq!(place(&preemptor).as_deref(), Ok("n1"), "its own nomination is no obstacle");
}

/// Lets a pod only onto nodes that run a pod labelled `app=db` (what pod
/// affinity asks, read off the node's own pods).
struct NeedsDb;

impl FilterPlugin for NeedsDb {
    fn filter(&self, _: &CycleState, _: &PodInfo, node: &NodeInfo) -> Status {
        if node.pods.iter().any(|p| p.pod.metadata.labels.get("app").is_some_and(|a| a == "db")) {
            Status::success()
        } else {
            Status::unschedulable("no db here")
        }
    }
}

#[test]
fn filter_must_pass_with_and_without_the_nominated_pods() {
    let mut registry = Registry::default();
    registry
        .register("NeedsDb", |_, _| {
            Ok(PluginSet { filter: Some(Arc::new(NeedsDb)), ..Default::default() })
        })
        .unwrap();
    let mut profile = ProfileConfig::default();
    profile.plugins.multi_point.enabled.push(PluginRef::named("NeedsDb"));
    let fw = Framework::new(&registry, &profile, &Handle::default()).unwrap();
    let snapshot = Snapshot::from_nodes(vec![node_info(node("n1", "2", "4Gi", &[]), vec![])]);
    let mut db = pod("db", "100m", "");
    db.metadata.labels.insert("app".into(), "db".into());
    fw.nominator().nominate(with_priority(db, 100), "n1");
    // The db is only nominated: it may still land elsewhere, so a pod that
    // needs it does not go to n1 on its account.
    let web = with_priority(pod("web", "100m", ""), 0);
    let err = schedule_pod(&fw, &snapshot, &web, &mut Scheduling::default()).unwrap_err();
    assert_eq!(err.message(), "0/1 nodes are available: 1 no db here.");
}
