//! The node lifecycle and taint eviction controllers on MemStore, with
//! Nodes and Leases written by the test (no node agent): the not-ready
//! taint, a user's NoExecute taint, the tainting rate limit, and master
//! disruption mode — every node's Lease lapsing at once evicts nothing.

use std::sync::Arc;
use std::time::Duration;

use orch_controllers::node_lifecycle::disruption::EvictionRates;
use orch_controllers::node_lifecycle::{NODE_LEASE_NAMESPACE, TAINT_NOT_READY, TAINT_UNREACHABLE};
use orch_controllers::{
    NodeLifecycleConfig, NodeLifecycleController, TaintEvictionConfig, TaintEvictionController,
};
use orch_core::condition::find_condition;
use orch_core::controller::InformerFactory;
use orch_core::kinds::lease::Lease;
use orch_core::kinds::node::{NodeCondition, NodeStatus, Taint};
use orch_core::kinds::pod::{Container, PodSpec, Toleration};
use orch_core::testing::{wait_for, wait_until};
use orch_core::{Api, Node, ObjectMeta, Pod, Time};
use orch_store::MemStore;
use serde_json::json;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const DEADLINE: Duration = Duration::from_secs(30);

/// A node lifecycle and a taint eviction controller on `store`.
struct Controllers {
    stop: CancellationToken,
    factory: Arc<InformerFactory>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Controllers {
    fn start(store: &Arc<MemStore>, config: NodeLifecycleConfig, default_seconds: u64) -> Self {
        let factory = Arc::new(InformerFactory::new(store.clone()));
        let stop = CancellationToken::new();
        let lifecycle = Arc::new(NodeLifecycleController::new(&factory, config));
        let eviction = Arc::new(TaintEvictionController::new(
            &factory,
            TaintEvictionConfig { default_toleration_seconds: default_seconds },
        ));
        let tasks = vec![
            tokio::spawn(
                NodeLifecycleController::controller(factory.clone()).run(lifecycle, stop.clone()),
            ),
            tokio::spawn(
                TaintEvictionController::controller(factory.clone()).run(eviction, stop.clone()),
            ),
        ];
        Controllers { stop, factory, tasks }
    }

    async fn stop(self) {
        self.stop.cancel();
        for t in self.tasks {
            t.await.unwrap();
        }
        self.factory.shutdown();
    }
}

/// Node `name` with `Ready=<ready>`, in `zone`, and its Lease.
async fn node(store: &Arc<MemStore>, name: &str, ready: &str) {
    let mut n = Node { metadata: ObjectMeta::named(name), ..Default::default() };
    n.metadata.labels.insert("topology.kubernetes.io/zone".into(), "z1".into());
    n.status = Some(NodeStatus { conditions: vec![condition(ready)], ..Default::default() });
    Api::<Node>::all(store.clone()).create(&n).await.unwrap();
    let mut lease = Lease { metadata: ObjectMeta::named(name), ..Default::default() };
    lease.spec.holder_identity = Some(name.into());
    Api::<Lease>::namespaced(store.clone(), NODE_LEASE_NAMESPACE).create(&lease).await.unwrap();
}

fn condition(ready: &str) -> NodeCondition {
    NodeCondition {
        type_: "Ready".into(),
        status: ready.into(),
        reason: Some("Test".into()),
        message: None,
        last_heartbeat_time: Some(Time::now()),
        last_transition_time: Some(Time::now()),
    }
}

/// Renews `names`' Leases every 100 ms until `stop`, as running node agents.
fn renew(store: &Arc<MemStore>, names: &[&str], stop: &CancellationToken) {
    let leases: Api<Lease> = Api::namespaced(store.clone(), NODE_LEASE_NAMESPACE);
    let (names, stop) = (names.iter().map(|n| n.to_string()).collect::<Vec<_>>(), stop.clone());
    tokio::spawn(async move {
        let mut n = 0u64;
        while !stop.is_cancelled() {
            for name in &names {
                let patch = json!({"spec": {"leaseDurationSeconds": 40 + n % 2}});
                leases.patch(name, &patch).await.unwrap();
            }
            n += 1;
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
    });
}

fn tolerating(key: &str, seconds: Option<i64>) -> Toleration {
    Toleration {
        key: Some(key.into()),
        operator: Some("Exists".into()),
        effect: Some("NoExecute".into()),
        toleration_seconds: seconds,
        ..Default::default()
    }
}

async fn pod(store: &Arc<MemStore>, name: &str, node: &str, tolerations: Vec<Toleration>) {
    let p = Pod {
        metadata: ObjectMeta::named(name),
        spec: PodSpec {
            node_name: Some(node.into()),
            containers: vec![Container {
                name: "c".into(),
                image: "i".into(),
                ..Default::default()
            }],
            tolerations,
            termination_grace_period_seconds: Some(30),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Pod>::namespaced(store.clone(), "default").create(&p).await.unwrap();
}

/// Whether pod `name` was evicted (marked for deletion, or gone).
async fn evicted(store: &Arc<MemStore>, name: &str) -> bool {
    let pods: Api<Pod> = Api::namespaced(store.clone(), "default");
    pods.get_opt(name).await.unwrap().is_none_or(|p| p.metadata.is_deleting())
}

fn has_taint(n: &Node, key: &str, effect: &str) -> bool {
    n.spec.taints.iter().any(|t| t.key == key && t.effect == effect)
}

fn ready(n: &Node) -> Option<String> {
    let conditions = &n.status.as_ref()?.conditions;
    find_condition(conditions, "Ready").map(|c| c.status.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_nodes_lease_lapsing_at_once_evicts_no_pod() {
    let store = Arc::new(MemStore::new());
    node(&store, "w", "True").await;
    for name in ["a", "b", "c"] {
        node(&store, name, "True").await;
        // Tolerates the unreachable taint for 1 s only.
        pod(&store, &format!("{name}-1"), name, vec![tolerating(TAINT_UNREACHABLE, Some(1))]).await;
        pod(&store, &format!("{name}-2"), name, vec![]).await;
    }
    // No Lease is ever renewed: they all lapse together. No rate limit to
    // speak of: only master disruption mode keeps the taints off.
    let rates = EvictionRates { eviction_rate: 1000.0, ..Default::default() };
    let config = NodeLifecycleConfig { grace_period: Duration::from_millis(500), rates };
    let controllers = Controllers::start(&store, config, 1);
    let nodes: Api<Node> = Api::all(store.clone());
    wait_for("every node Ready=Unknown", DEADLINE, || async {
        let list = nodes.list(&Default::default()).await.unwrap().items;
        let states: Vec<Option<String>> = list.iter().map(ready).collect();
        if states.iter().all(|s| s.as_deref() == Some("Unknown")) {
            Ok(())
        } else {
            Err(format!("{states:?}"))
        }
    })
    .await;

    // A witness that time passes and the taint manager works meanwhile: a
    // user's NoExecute taint on w, tolerated for 2 s by the pod there.
    let witness = vec![tolerating(TAINT_UNREACHABLE, None), tolerating("dedicated", Some(2))];
    pod(&store, "witness", "w", witness).await;
    let dedicated = Taint {
        key: "dedicated".into(),
        value: Some("x".into()),
        effect: "NoExecute".into(),
        time_added: None,
    };
    let mut taints = nodes.get("w").await.unwrap().spec.taints;
    taints.push(dedicated);
    nodes.patch("w", &json!({"spec": {"taints": taints}})).await.unwrap();
    wait_until("the witness evicted after its 2 s", DEADLINE, || evicted(&store, "witness")).await;

    // Every other pod is still there: the 1 s tolerations never started.
    for name in ["a", "b", "c", "w"] {
        for i in [1, 2].iter().filter(|_| name != "w") {
            let p = format!("{name}-{i}");
            assert!(!evicted(&store, &p).await, "{p} was evicted in master disruption mode");
        }
        let n = nodes.get(name).await.unwrap();
        assert!(!has_taint(&n, TAINT_UNREACHABLE, "NoExecute"), "{name}: {:?}", n.spec.taints);
        assert!(has_taint(&n, TAINT_UNREACHABLE, "NoSchedule"), "{name}: {:?}", n.spec.taints);
    }
    controllers.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_reporting_not_ready_is_tainted_and_its_untolerating_pods_evicted() {
    let store = Arc::new(MemStore::new());
    node(&store, "a", "True").await;
    node(&store, "b", "True").await;
    let renewing = CancellationToken::new();
    renew(&store, &["a", "b"], &renewing);
    pod(&store, "plain", "a", vec![]).await;
    pod(&store, "tolerant", "a", vec![tolerating(TAINT_NOT_READY, None)]).await;
    let config = NodeLifecycleConfig { grace_period: Duration::from_secs(5), ..Default::default() };
    let controllers = Controllers::start(&store, config, 1);

    // The agent on a reports Ready=False.
    let nodes: Api<Node> = Api::all(store.clone());
    let mut n = nodes.get("a").await.unwrap();
    n.status = Some(NodeStatus { conditions: vec![condition("False")], ..Default::default() });
    nodes.replace_status(&n).await.unwrap();
    let tainted = wait_for("a tainted not-ready", DEADLINE, || async {
        let n = nodes.get("a").await.unwrap();
        if has_taint(&n, TAINT_NOT_READY, "NoExecute")
            && has_taint(&n, TAINT_NOT_READY, "NoSchedule")
        {
            Ok(n)
        } else {
            Err(format!("{:?}", n.spec.taints))
        }
    })
    .await;
    let no_execute = tainted.spec.taints.iter().find(|t| t.effect == "NoExecute").unwrap();
    assert!(no_execute.time_added.is_some(), "a NoExecute taint carries timeAdded");
    assert!(!has_taint(&tainted, TAINT_UNREACHABLE, "NoExecute"), "its Lease is fresh");
    wait_until("plain evicted after the default 1 s", DEADLINE, || evicted(&store, "plain")).await;
    assert!(!evicted(&store, "tolerant").await, "tolerates not-ready for ever");

    // Ready again: the taints go.
    let mut n = nodes.get("a").await.unwrap();
    n.status = Some(NodeStatus { conditions: vec![condition("True")], ..Default::default() });
    nodes.replace_status(&n).await.unwrap();
    wait_for("a untainted", DEADLINE, || async {
        let n = nodes.get("a").await.unwrap();
        if n.spec.taints.is_empty() {
            Ok(())
        } else {
            Err(format!("{:?}", n.spec.taints))
        }
    })
    .await;
    renewing.cancel();
    controllers.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_no_execute_taint_evicts_pods_by_their_tolerations() {
    let store = Arc::new(MemStore::new());
    node(&store, "a", "True").await;
    let renewing = CancellationToken::new();
    renew(&store, &["a"], &renewing);
    let dedicated = |seconds| Toleration {
        key: Some("dedicated".into()),
        operator: Some("Equal".into()),
        value: Some("x".into()),
        effect: Some("NoExecute".into()),
        toleration_seconds: seconds,
    };
    pod(&store, "untolerating", "a", vec![]).await;
    pod(&store, "for-1s", "a", vec![dedicated(Some(1))]).await;
    pod(&store, "for-ever", "a", vec![dedicated(None)]).await;
    let config = NodeLifecycleConfig { grace_period: Duration::from_secs(5), ..Default::default() };
    let controllers = Controllers::start(&store, config, 300);

    // As `kubectl taint nodes a dedicated=x:NoExecute`: no timeAdded.
    let nodes: Api<Node> = Api::all(store.clone());
    let patch =
        json!({"spec": {"taints": [{"key": "dedicated", "value": "x", "effect": "NoExecute"}]}});
    nodes.patch("a", &patch).await.unwrap();
    let tainted_at = Instant::now();
    wait_until("the untolerating pod evicted", DEADLINE, || evicted(&store, "untolerating")).await;
    wait_until("the pod tolerating 1 s evicted", DEADLINE, || evicted(&store, "for-1s")).await;
    assert!(tainted_at.elapsed() >= Duration::from_secs(1), "evicted before its 1 s ran out");
    assert!(!evicted(&store, "for-ever").await, "a toleration without seconds is for ever");
    renewing.cancel();
    controllers.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_of_a_zone_are_tainted_no_faster_than_the_eviction_rate() {
    let store = Arc::new(MemStore::new());
    for name in ["a", "b", "c", "d"] {
        node(&store, name, "True").await;
    }
    // c and d keep renewing; a and b stop (2 of 4: the zone stays Normal).
    let renewing = CancellationToken::new();
    renew(&store, &["c", "d"], &renewing);
    let rates = EvictionRates { eviction_rate: 0.25, ..Default::default() };
    let config = NodeLifecycleConfig { grace_period: Duration::from_millis(500), rates };
    let controllers = Controllers::start(&store, config, 300);
    let nodes: Api<Node> = Api::all(store.clone());
    let times = wait_for("a and b tainted unreachable", DEADLINE, || async {
        let mut times = Vec::new();
        for name in ["a", "b"] {
            let n = nodes.get(name).await.unwrap();
            let t = n
                .spec
                .taints
                .iter()
                .find(|t| t.key == TAINT_UNREACHABLE && t.effect == "NoExecute");
            times.extend(t.and_then(|t| t.time_added));
        }
        if times.len() == 2 {
            Ok(times)
        } else {
            Err(format!("tainted at {times:?}"))
        }
    })
    .await;
    // One node every 4 s (timeAdded has a resolution of a second).
    let gap = (times[0].0 - times[1].0).num_seconds().abs();
    assert!(gap >= 3, "a and b tainted {gap} s apart at 0.25 nodes/s");
    for name in ["c", "d"] {
        assert!(nodes.get(name).await.unwrap().spec.taints.is_empty(), "{name} renews its Lease");
    }
    renewing.cancel();
    controllers.stop().await;
}
