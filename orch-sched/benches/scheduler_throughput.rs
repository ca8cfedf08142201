//! Scheduler throughput: 5,000 nodes (3 zones, varied capacity, some taints),
//! 10,000 pods, one line per profile:
//!
//! 1. `default` — the default profile, in memory (cache, snapshot, cycle, assume);
//! 2. `spread-affinity` — pods with PodTopologySpread and required
//!    InterPodAffinity anti-affinity constraints, in memory;
//! 3. `default-api` — the default profile, binding through the Api on
//!    MemStore with informers (latency: pod created → bound seen);
//! 4. `default-api-metrics` — as 3, recording kube-scheduler's metrics
//!    (`SchedulerConfig::metrics`), for their cost;
//! 5. `default-parallel2` — as 1, filtering on two threads, for comparison.
//!
//! `cargo bench -p orch-sched --bench scheduler_throughput`

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use orch_core::api::{WatchEvent, WatchParams};
use orch_core::controller::InformerFactory;
use orch_core::kinds::node::{NodeSpec, NodeStatus, Taint};
use orch_core::kinds::pod::{
    Affinity, Container, PodAffinity, PodAffinityTerm, PodSpec, ResourceRequirements, Toleration,
    TopologySpreadConstraint,
};
use orch_core::{Api, Node, ObjectMeta, Pod, Quantity};
use orch_sched::cache::{Cache, PodInfo, Snapshot};
use orch_sched::cycle::{schedule_pod, Scheduling};
use orch_sched::framework::config::ProfileConfig;
use orch_sched::framework::{Framework, Handle, Registry};
use orch_sched::metrics::SchedulerMetrics;
use orch_sched::scheduler::{Scheduler, SchedulerConfig};
use tokio_util::sync::CancellationToken;

const NODES: usize = 5000;
const PODS: usize = 10_000;

fn node(i: usize) -> Node {
    let zone = ["zone-a", "zone-b", "zone-c"][i % 3];
    let (cpu, mem) = [(4, 16), (8, 32), (16, 64), (32, 128)][i % 4];
    let mut n = Node {
        metadata: ObjectMeta::named(format!("node-{i:05}"))
            .with_label("kubernetes.io/hostname", format!("node-{i:05}"))
            .with_label("topology.kubernetes.io/zone", zone)
            .with_label("node.kubernetes.io/instance-type", format!("m{cpu}")),
        spec: NodeSpec::default(),
        ..Default::default()
    };
    if i.is_multiple_of(10) {
        n.spec.taints.push(Taint {
            key: "dedicated".into(),
            value: Some("gpu".into()),
            effect: "NoSchedule".into(),
            time_added: None,
        });
    }
    let resources = [
        ("cpu".to_string(), Quantity::from(cpu.to_string())),
        ("memory".to_string(), Quantity::from(format!("{mem}Gi"))),
        ("pods".to_string(), Quantity::from("110")),
    ];
    n.status = Some(NodeStatus {
        capacity: resources.clone().into(),
        allocatable: resources.into(),
        ..Default::default()
    });
    n
}

fn pod(i: usize, constrained: bool) -> Pod {
    let app = format!("app-{}", i % 1000);
    let mut p = Pod {
        metadata: ObjectMeta::named(format!("pod-{i:05}"))
            .in_namespace("default")
            .with_label("app", app.clone()),
        spec: PodSpec {
            containers: vec![Container {
                name: "c".into(),
                image: "myapp:1.4.0".into(),
                resources: Some(ResourceRequirements {
                    requests: [
                        ("cpu".to_string(), Quantity::from(format!("{}m", 100 + (i % 10) * 100))),
                        (
                            "memory".to_string(),
                            Quantity::from(format!("{}Mi", 128 + (i % 8) * 128)),
                        ),
                    ]
                    .into(),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        },
        ..Default::default()
    };
    p.metadata.uid = format!("uid-{i}");
    if i.is_multiple_of(10) {
        p.spec.tolerations.push(Toleration {
            key: Some("dedicated".into()),
            operator: Some("Equal".into()),
            value: Some("gpu".into()),
            effect: Some("NoSchedule".into()),
            toleration_seconds: None,
        });
    }
    if constrained {
        let selector = orch_core::meta::LabelSelector {
            match_labels: [("app".to_string(), app)].into(),
            ..Default::default()
        };
        p.spec.topology_spread_constraints.push(TopologySpreadConstraint {
            max_skew: 1,
            topology_key: "topology.kubernetes.io/zone".into(),
            when_unsatisfiable: "DoNotSchedule".into(),
            label_selector: Some(selector.clone()),
            ..Default::default()
        });
        p.spec.affinity = Some(Affinity {
            pod_anti_affinity: Some(PodAffinity {
                required: vec![PodAffinityTerm {
                    label_selector: Some(selector),
                    topology_key: "kubernetes.io/hostname".into(),
                    ..Default::default()
                }],
                preferred: Vec::new(),
            }),
            ..Default::default()
        });
    }
    p
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((p / 100.0) * (sorted.len() - 1) as f64).round() as usize]
}

fn print_line(profile: &str, elapsed: Duration, mut latencies_us: Vec<u64>) {
    latencies_us.sort_unstable();
    println!(
        "profile={profile} nodes={NODES} pods={PODS} pods_per_sec={:.0} p50_us={} p99_us={}",
        PODS as f64 / elapsed.as_secs_f64(),
        percentile(&latencies_us, 50.0),
        percentile(&latencies_us, 99.0)
    );
}

fn in_memory(profile: &str, constrained: bool, parallelism: usize) {
    let fw = Framework::new(&Registry::default(), &ProfileConfig::default(), &Handle::default())
        .expect("profile");
    let mut cache = Cache::new(Duration::ZERO);
    for i in 0..NODES {
        cache.upsert_node(Arc::new(node(i)));
    }
    let pods: Vec<Arc<PodInfo>> =
        (0..PODS).map(|i| Arc::new(PodInfo::new(Arc::new(pod(i, constrained))))).collect();
    let mut snapshot = Snapshot::default();
    let mut sched = Scheduling { parallelism, ..Default::default() };
    let mut latencies = Vec::with_capacity(PODS);
    let mut failed = 0;
    let start = Instant::now();
    for p in &pods {
        let t = Instant::now();
        cache.update_snapshot(&mut snapshot);
        match schedule_pod(&fw, &snapshot, p, &mut sched) {
            Ok(r) => cache.assume_pod(p.clone(), &r.node),
            Err(_) => failed += 1,
        }
        latencies.push(t.elapsed().as_micros() as u64);
    }
    let elapsed = start.elapsed();
    assert_eq!(failed, 0, "every pod fits this cluster");
    print_line(profile, elapsed, latencies);
}

async fn through_api(profile: &str, metrics: bool) {
    let store = Arc::new(orch_store::MemStore::new());
    let nodes: Api<Node> = Api::all(store.clone());
    for i in 0..NODES {
        nodes.create(&node(i)).await.expect("node");
    }
    let pods: Api<Pod> = Api::namespaced(store.clone(), "default");
    let factory = Arc::new(InformerFactory::new(store.clone()));
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = metrics.then(|| Arc::new(SchedulerMetrics::register(&mut registry)));
    let config = SchedulerConfig { record_scheduled_events: false, metrics, ..Default::default() };
    let scheduler =
        Scheduler::new(factory.clone(), &Registry::default(), config).expect("scheduler");
    let stop = CancellationToken::new();
    let mut watch = pods.watch(&WatchParams::default(), "").await.expect("watch");
    let running = tokio::spawn(scheduler.run(stop.clone()));
    factory.informer::<Pod>().cache().wait_ready().await;
    let start = Instant::now();
    let mut created_at: HashMap<String, Instant> = HashMap::with_capacity(PODS);
    let creator = {
        let pods = pods.clone();
        tokio::spawn(async move {
            let mut times = Vec::with_capacity(PODS);
            for i in 0..PODS {
                let mut p = pod(i, false);
                p.metadata.uid.clear();
                let t = Instant::now();
                pods.create(&p).await.expect("pod");
                times.push((p.metadata.name.clone(), t));
            }
            times
        })
    };
    let mut bound_at: HashMap<String, Instant> = HashMap::with_capacity(PODS);
    while bound_at.len() < PODS {
        match tokio::time::timeout(Duration::from_secs(120), watch.next()).await {
            Ok(Some(Ok(WatchEvent::Modified(p)))) if p.spec.node_name.is_some() => {
                bound_at.entry(p.metadata.name.clone()).or_insert_with(Instant::now);
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("watch failed after {} bound pods: {other:?}", bound_at.len()),
        }
    }
    let elapsed = start.elapsed();
    for (name, t) in creator.await.expect("creator") {
        created_at.insert(name, t);
    }
    let latencies = bound_at
        .iter()
        .map(|(name, b)| b.duration_since(created_at[name]).as_micros() as u64)
        .collect();
    stop.cancel();
    let _ = running.await;
    factory.shutdown();
    print_line(profile, elapsed, latencies);
}

fn main() {
    in_memory("default", false, 1);
    in_memory("spread-affinity", true, 1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(through_api("default-api", false));
    rt.block_on(through_api("default-api-metrics", true));
    // For comparison, not a floor: Filter on two threads (rayon).
    in_memory("default-parallel2", false, 2);
}
