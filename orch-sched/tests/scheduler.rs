//! Placement scenarios through the whole scheduler on MemStore, and a
//! property test that no node is ever over-committed.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

mod support;

use orch_core::api::ListParams;
use orch_core::controller::InformerFactory;
use orch_core::kinds::node::Taint;
use orch_core::kinds::pod::{
    Affinity, PodAffinity, PodAffinityTerm, Toleration, TopologySpreadConstraint,
};
use orch_core::meta::LabelSelector;
use orch_core::testing::{wait_for, wait_until};
use orch_core::{Api, Event, Node, Pod, Quantity};
use orch_sched::cache::{Cache, NodeInfo, PodInfo, Snapshot};
use orch_sched::cycle::{schedule_pod, Scheduling};
use orch_sched::cycle_state::CycleState;
use orch_sched::framework::config::{PluginRef, ProfileConfig};
use orch_sched::framework::{Framework, Handle, PermitPlugin, PluginSet, Registry};
use orch_sched::scheduler::{Scheduler, SchedulerConfig};
use orch_sched::status::{Code, Status};
use orch_store::MemStore;
use proptest::prelude::*;
use support::{node, pod, Harness, DEADLINE};
use tokio_util::sync::CancellationToken;

fn app_selector(app: &str) -> LabelSelector {
    LabelSelector {
        match_labels: [("app".to_string(), app.to_string())].into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_spread_evenly_across_zones() {
    let nodes = ["a", "a", "b", "b", "c", "c"]
        .iter()
        .enumerate()
        .map(|(i, z)| {
            node(&format!("n{i}"), "8", &[("topology.kubernetes.io/zone", &format!("zone-{z}"))])
        })
        .collect();
    let h = Harness::start(nodes, Registry::default(), ProfileConfig::default()).await;
    for i in 0..9 {
        let mut p = pod(&format!("web-{i}"), "100m", "web");
        p.spec.topology_spread_constraints.push(TopologySpreadConstraint {
            max_skew: 1,
            topology_key: "topology.kubernetes.io/zone".into(),
            when_unsatisfiable: "DoNotSchedule".into(),
            label_selector: Some(app_selector("web")),
            ..Default::default()
        });
        h.pods().create(&p).await.unwrap();
    }
    h.bound(9).await;
    let mut per_zone: HashMap<char, usize> = HashMap::new();
    for node in h.placement().await.values().flatten() {
        let i: usize = node[1..].parse().unwrap();
        *per_zone.entry(['a', 'a', 'b', 'b', 'c', 'c'][i]).or_default() += 1;
    }
    assert_eq!(
        per_zone.values().copied().collect::<HashSet<_>>(),
        HashSet::from([3]),
        "{per_zone:?}"
    );
    // Bound pods carry PodScheduled=True.
    let p = h.pods().get("web-0").await.unwrap();
    let cond =
        p.status.unwrap().conditions.into_iter().find(|c| c.type_ == "PodScheduled").unwrap();
    assert_eq!(cond.status, "True");
    // Events are recorded in the background, after the binding.
    wait_for("a Scheduled event per pod", DEADLINE, || async {
        let messages = h.events("Scheduled").await;
        if messages.len() == 9 {
            Ok(())
        } else {
            Err(format!("{} Scheduled events: {messages:?}", messages.len()))
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anti_affinity_never_co_locates() {
    let nodes = (0..4).map(|i| node(&format!("n{i}"), "8", &[])).collect();
    let h = Harness::start(nodes, Registry::default(), ProfileConfig::default()).await;
    for i in 0..5 {
        let mut p = pod(&format!("db-{i}"), "100m", "db");
        p.spec.affinity = Some(Affinity {
            pod_anti_affinity: Some(PodAffinity {
                required: vec![PodAffinityTerm {
                    label_selector: Some(app_selector("db")),
                    topology_key: "kubernetes.io/hostname".into(),
                    ..Default::default()
                }],
                preferred: vec![],
            }),
            ..Default::default()
        });
        h.pods().create(&p).await.unwrap();
    }
    h.bound(4).await;
    let placement = h.placement().await;
    let nodes: Vec<&String> = placement.values().flatten().collect();
    assert_eq!(nodes.iter().collect::<HashSet<_>>().len(), 4, "one per node: {placement:?}");
    // Existing pods' anti-affinity is checked first, as kube-scheduler.
    h.event_where("a FailedScheduling event for the fifth", "FailedScheduling", |m| {
        m == "0/4 nodes are available: 4 node(s) didn't satisfy existing pods anti-affinity rules. \
              preemption: 0 nodes have lower-priority pods to evict."
    })
    .await;
    let unplaced = placement.iter().find(|(_, n)| n.is_none()).map(|(p, _)| p.clone()).unwrap();
    // The Event and the pod's condition are two writes: wait for the second.
    let cond = wait_for("the fifth pod's PodScheduled condition", DEADLINE, || async {
        let pod = h.pods().get(&unplaced).await.unwrap();
        let conditions = pod.status.map(|s| s.conditions).unwrap_or_default();
        match conditions.iter().find(|c| c.type_ == "PodScheduled") {
            Some(c) => Ok(c.clone()),
            None => Err(format!("conditions: {conditions:?}")),
        }
    })
    .await;
    assert_eq!((cond.status.as_str(), cond.reason.as_deref()), ("False", Some("Unschedulable")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taints_are_respected_and_new_nodes_unblock_pending_pods() {
    let mut tainted = node("gpu", "64", &[]);
    tainted.spec.taints.push(Taint {
        key: "dedicated".into(),
        value: Some("gpu".into()),
        effect: "NoSchedule".into(),
        time_added: None,
    });
    let h = Harness::start(
        vec![tainted, node("small", "1", &[])],
        Registry::default(),
        ProfileConfig::default(),
    )
    .await;
    h.pods().create(&pod("fits", "500m", "a")).await.unwrap();
    h.pods().create(&pod("too-big", "2", "a")).await.unwrap();
    let mut tolerant = pod("trainer", "8", "b");
    tolerant.spec.tolerations.push(Toleration {
        key: Some("dedicated".into()),
        operator: Some("Exists".into()),
        ..Default::default()
    });
    h.pods().create(&tolerant).await.unwrap();
    h.bound(2).await;
    let placement = h.placement().await;
    assert_eq!(placement["fits"].as_deref(), Some("small"));
    assert_eq!(placement["trainer"].as_deref(), Some("gpu"));
    assert_eq!(placement["too-big"], None);
    h.event_where("the FailedScheduling message", "FailedScheduling", |m| {
        m.starts_with("0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint {dedicated: gpu}.")
    })
    .await;
    // A node with room arrives: the pending pod is moved back and placed.
    Api::<Node>::all(h.store.clone()).create(&node("big", "4", &[])).await.unwrap();
    h.bound(3).await;
    assert_eq!(h.placement().await["too-big"].as_deref(), Some("big"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_and_pending_pods_are_measured_under_kube_scheduler_names() {
    let h = Harness::start(
        vec![node("small", "1", &[])],
        Registry::default(),
        ProfileConfig::default(),
    )
    .await;
    h.pods().create(&pod("fits", "500m", "a")).await.unwrap();
    h.pods().create(&pod("too-big", "2", "a")).await.unwrap();
    h.bound(1).await;
    let profile = ("profile", "default-scheduler");
    let attempts = "scheduler_schedule_attempts_total";
    wait_for("the unschedulable attempt and the parked pod", DEADLINE, || async {
        let unschedulable = h.sample(attempts, &[("result", "unschedulable"), profile]);
        let parked = h.sample("scheduler_pending_pods", &[("queue", "unschedulable")]);
        if unschedulable >= 1.0 && parked == 1.0 {
            Ok(())
        } else {
            Err(format!("{unschedulable} unschedulable attempts, {parked} parked"))
        }
    })
    .await;
    assert_eq!(h.sample(attempts, &[("result", "scheduled"), profile]), 1.0);
    assert_eq!(h.sample(attempts, &[("result", "error"), profile]), 0.0);
    assert_eq!(h.sample("scheduler_pending_pods", &[("queue", "active")]), 0.0);
    // Every attempt is in the latency histogram too.
    let scrape = h.scrape();
    let observed: f64 = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "scheduler_scheduling_attempt_duration_seconds")
        .map(|s| match &s.value {
            prometheus_parse::Value::Histogram(b) => b.last().map(|b| b.count).unwrap_or(0.0),
            other => panic!("{other:?}"),
        })
        .sum();
    let counted: f64 = ["scheduled", "unschedulable", "error"]
        .iter()
        .map(|r| h.sample(attempts, &[("result", r), profile]))
        .sum();
    assert_eq!(observed, counted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preemption_evicts_the_lowest_priority_pods() {
    let h =
        Harness::start(vec![node("only", "2", &[])], Registry::default(), ProfileConfig::default())
            .await;
    for (name, priority) in [("low", 1), ("lowest", 0)] {
        let mut p = pod(name, "1", "batch");
        p.spec.priority = Some(priority);
        h.pods().create(&p).await.unwrap();
    }
    h.bound(2).await;
    let mut urgent = pod("urgent", "1", "web");
    urgent.spec.priority = Some(100);
    h.pods().create(&urgent).await.unwrap();
    wait_for("urgent bound", DEADLINE, || async {
        let placement = h.placement().await;
        match placement.get("urgent") {
            Some(Some(_)) => Ok(()),
            _ => Err(format!("{placement:?}")),
        }
    })
    .await;
    let placement = h.placement().await;
    assert!(
        !placement.contains_key("lowest"),
        "the lowest-priority pod was evicted: {placement:?}"
    );
    assert_eq!(placement["low"].as_deref(), Some("only"), "only as many victims as needed");
    let status = h.pods().get("urgent").await.unwrap().status.unwrap();
    assert_eq!(status.nominated_node_name.as_deref(), Some("only"));
}

/// Holds pods labelled `gate=closed` at Permit for 300 ms.
struct Gate;

impl PermitPlugin for Gate {
    fn permit(&self, _state: &CycleState, pod: &PodInfo, _node: &str) -> (Status, Duration) {
        if pod.pod.metadata.labels.get("gate").map(String::as_str) == Some("closed") {
            (Status::new(Code::Wait, "gate closed"), Duration::from_millis(300))
        } else {
            (Status::success(), Duration::ZERO)
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permit_can_hold_allow_and_time_out() {
    let mut registry = Registry::default();
    registry
        .register("Gate", |_, _| {
            Ok(PluginSet { permit: Some(Arc::new(Gate)), ..Default::default() })
        })
        .unwrap();
    let mut profile = ProfileConfig::default();
    profile.plugins.multi_point.enabled.push(PluginRef::named("Gate"));
    let h = Harness::start(vec![node("n", "8", &[])], registry, profile).await;
    let mut held = pod("held", "100m", "a");
    held.metadata.labels.insert("gate".into(), "closed".into());
    let held = h.pods().create(&held).await.unwrap();
    wait_for("the pod to wait at permit", DEADLINE, || async {
        let waiting = h.waiting.uids();
        if waiting.contains(&held.metadata.uid) {
            Ok(())
        } else {
            Err(format!("waiting: {waiting:?}"))
        }
    })
    .await;
    assert!(h.waiting.allow(&held.metadata.uid, "Gate"));
    h.bound(1).await;

    let mut timed_out = pod("timed-out", "100m", "a");
    timed_out.metadata.labels.insert("gate".into(), "closed".into());
    h.pods().create(&timed_out).await.unwrap();
    h.event_where("the permit timeout to be reported", "FailedScheduling", |m| {
        m.contains("timed out")
    })
    .await;
    assert_eq!(h.placement().await["timed-out"], None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_placed_on_a_node_requeues_the_pods_whose_affinity_it_satisfies() {
    let h = Harness::start(
        vec![node("n1", "8", &[]), node("n2", "8", &[])],
        Registry::default(),
        ProfileConfig::default(),
    )
    .await;
    let mut web = pod("web", "100m", "web");
    web.spec.affinity = Some(Affinity {
        pod_affinity: Some(PodAffinity {
            required: vec![PodAffinityTerm {
                label_selector: Some(app_selector("db")),
                topology_key: "kubernetes.io/hostname".into(),
                ..Default::default()
            }],
            preferred: vec![],
        }),
        ..Default::default()
    });
    h.pods().create(&web).await.unwrap();
    h.event_where("web to be found unschedulable", "FailedScheduling", |m| m.contains("affinity"))
        .await;
    // A db pod bound by someone else (created on n2): web can go beside it,
    // long before the 5-minute flush of unschedulable pods.
    let mut db = pod("db", "100m", "db");
    db.spec.node_name = Some("n2".into());
    h.pods().create(&db).await.unwrap();
    h.bound(2).await;
    assert_eq!(h.placement().await["web"].as_deref(), Some("n2"));
}

/// Lets pods in only while its flag is up: state outside the cluster, such
/// as a quota kept elsewhere. Counts the times it was asked.
struct Quota(Arc<std::sync::atomic::AtomicBool>, Arc<std::sync::atomic::AtomicUsize>);

impl orch_sched::framework::PreEnqueuePlugin for Quota {
    fn pre_enqueue(&self, _pod: &PodInfo) -> Status {
        self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if self.0.load(std::sync::atomic::Ordering::SeqCst) {
            Status::success()
        } else {
            Status::unresolvable("the quota is closed")
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_pre_enqueue_turns_away_is_parked_until_a_cluster_event_lets_it_in() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let (open, asked) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
    let mut registry = Registry::default();
    let (flag, count) = (open.clone(), asked.clone());
    registry
        .register("Quota", move |_, _| {
            let quota = Quota(flag.clone(), count.clone());
            Ok(PluginSet { pre_enqueue: Some(Arc::new(quota)), ..Default::default() })
        })
        .unwrap();
    let mut profile = ProfileConfig::default();
    profile.plugins.multi_point.enabled.push(PluginRef::named("Quota"));
    let h = Harness::start(vec![node("n1", "8", &[])], registry, profile).await;
    h.pods().create(&pod("gated", "100m", "a")).await.unwrap();
    wait_until("the scheduler to ask PreEnqueue", DEADLINE, || async {
        asked.load(Ordering::SeqCst) > 0
    })
    .await;
    // Turned away: it waits, unbound, with no scheduling attempt.
    assert_eq!(h.placement().await["gated"], None);
    assert!(h.events("FailedScheduling").await.is_empty(), "a gated pod is not attempted");

    // The quota opens; the next cluster event asks again and lets it in.
    open.store(true, Ordering::SeqCst);
    let nodes: Api<Node> = Api::all(h.store.clone());
    nodes.create(&node("n3", "8", &[])).await.unwrap();
    h.bound(1).await;
}

fn arbitrary_node(i: usize, cpu_cores: u32, mem_gib: u32, pods: u32) -> NodeInfo {
    let mut n = node(&format!("n{i}"), &cpu_cores.to_string(), &[]);
    let alloc = &mut n.status.as_mut().unwrap().allocatable;
    alloc.insert("memory".into(), Quantity::from(format!("{mem_gib}Gi")));
    alloc.insert("pods".into(), Quantity::from(pods.to_string()));
    NodeInfo::new(Arc::new(n), 0)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn no_node_is_ever_over_committed(
        nodes in proptest::collection::vec((1u32..8, 1u32..16, 1u32..6), 1..12),
        pods in proptest::collection::vec((0u32..3000, 0u32..4096), 1..80),
    ) {
        let fw = Framework::new(&Registry::default(), &ProfileConfig::default(), &Handle::default()).unwrap();
        let mut cache = Cache::new(Duration::ZERO);
        for (i, (cpu, mem, max_pods)) in nodes.iter().enumerate() {
            cache.upsert_node(arbitrary_node(i, *cpu, *mem, *max_pods).node);
        }
        let mut snapshot = Snapshot::default();
        let mut sched = Scheduling::default();
        for (i, (milli_cpu, mem_mib)) in pods.iter().enumerate() {
            let mut p = pod(&format!("p{i}"), &format!("{milli_cpu}m"), "x");
            p.metadata.uid = format!("uid-{i}");
            p.spec.containers[0].resources.as_mut().unwrap().requests.insert("memory".into(), Quantity::from(format!("{mem_mib}Mi")));
            let info = Arc::new(PodInfo::new(Arc::new(p)));
            cache.update_snapshot(&mut snapshot);
            if let Ok(placed) = schedule_pod(&fw, &snapshot, &info, &mut sched) {
                cache.assume_pod(info, &placed.node);
            }
        }
        cache.update_snapshot(&mut snapshot);
        for n in snapshot.nodes() {
            prop_assert!(n.requested.milli_cpu <= n.allocatable.milli_cpu, "{}: cpu {} > {}", n.name(), n.requested.milli_cpu, n.allocatable.milli_cpu);
            prop_assert!(n.requested.memory <= n.allocatable.memory, "{}: memory over-committed", n.name());
            prop_assert!(n.requested.pods <= n.allocatable.pods, "{}: too many pods", n.name());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_elected_scheduler_binds_while_it_holds_the_lease() {
    use orch_core::controller::{LeaderElectionConfig, LeaderElector};
    let store = Arc::new(MemStore::new());
    Api::<Node>::all(store.clone()).create(&node("n", "8", &[])).await.unwrap();
    let factory = Arc::new(InformerFactory::new(store.clone()));
    let leases: Api<orch_core::Lease> = Api::namespaced(store.clone(), "kube-system");
    let config = LeaderElectionConfig {
        lease_duration: Duration::from_millis(600),
        renew_deadline: Duration::from_millis(400),
        retry_period: Duration::from_millis(50),
    };
    let elector = LeaderElector::new(leases.clone(), "scheduler", "sched-a", config);
    let stop = CancellationToken::new();
    let run = {
        let (factory, stop) = (factory.clone(), stop.clone());
        tokio::spawn(async move {
            orch_sched::scheduler::run_leader_elected(
                factory,
                Registry::default(),
                SchedulerConfig::default(),
                &elector,
                stop,
            )
            .await
        })
    };
    let pods: Api<Pod> = Api::namespaced(store.clone(), "default");
    pods.create(&pod("p", "100m", "a")).await.unwrap();
    wait_until("p scheduled", DEADLINE, || async {
        pods.get("p").await.unwrap().spec.node_name.is_some()
    })
    .await;
    assert_eq!(
        leases.get("scheduler").await.unwrap().spec.holder_identity.as_deref(),
        Some("sched-a")
    );
    stop.cancel();
    run.await.unwrap().unwrap();
    factory.shutdown();
}

/// Pods created while the scheduler starts can be both in its informer's
/// initial list and among the events after it; the stale unassigned copy of
/// a pod bound meanwhile must not be scheduled again (seen once as a pod
/// preempting its own neighbour). Half the pods exist before the start (the
/// informer's first list, whose Resync may be handled after some of them
/// were bound), half race it; with room for every pod, no attempt may fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_created_while_the_scheduler_starts_are_scheduled_once() {
    for round in 0..20 {
        let store = Arc::new(MemStore::new());
        let nodes: Api<Node> = Api::all(store.clone());
        nodes.create(&node("n", "64", &[])).await.unwrap();
        let pods: Api<Pod> = Api::namespaced(store.clone(), "default");
        for i in 0..15 {
            pods.create(&pod(&format!("p{i}"), "1", "a")).await.unwrap();
        }
        let creating = {
            let pods = pods.clone();
            tokio::spawn(async move {
                for i in 15..30 {
                    pods.create(&pod(&format!("p{i}"), "1", "a")).await.unwrap();
                    tokio::task::yield_now().await;
                }
            })
        };
        let factory = Arc::new(InformerFactory::new(store.clone()));
        let scheduler =
            Scheduler::new(factory.clone(), &Registry::default(), SchedulerConfig::default())
                .unwrap();
        let stop = CancellationToken::new();
        let running = tokio::spawn(scheduler.run(stop.clone()));
        creating.await.unwrap();
        wait_for(format!("round {round}: every pod bound"), DEADLINE, || async {
            let list = pods.list(&ListParams::default()).await.unwrap().items;
            let bound = list.iter().filter(|p| p.spec.node_name.is_some()).count();
            if bound == 30 {
                Ok(())
            } else {
                Err(format!("{bound} of 30 bound"))
            }
        })
        .await;
        // Let a stale copy, if any, reach a scheduling attempt: one more pod
        // is scheduled after everything queued before it.
        pods.create(&pod("last", "1", "a")).await.unwrap();
        wait_until(format!("round {round}: the last pod to bind"), DEADLINE, || async {
            pods.get("last").await.unwrap().spec.node_name.is_some()
        })
        .await;
        let events: Api<Event> = Api::namespaced(store.clone(), "default");
        let failed = events
            .list(&ListParams::default().fields("reason=FailedScheduling"))
            .await
            .unwrap()
            .items;
        let messages: Vec<_> = failed.iter().filter_map(|e| e.message.clone()).collect();
        assert!(messages.is_empty(), "round {round}: a pod was scheduled twice: {messages:?}");
        stop.cancel();
        running.await.unwrap();
        factory.shutdown();
    }
}
