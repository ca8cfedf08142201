//! Two node agents in one process, with the scheduler, the ReplicaSet
//! controller and the node lifecycle and taint eviction controllers: one node stops
//! heartbeating, is marked unreachable, and its pods are recreated on the
//! other; when it returns, the taint goes and its old pods are cleaned up.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;

use orch_controllers::node_lifecycle::TAINT_UNREACHABLE;
use orch_controllers::{
    NodeLifecycleConfig, NodeLifecycleController, ReplicaSetController, TaintEvictionConfig,
    TaintEvictionController,
};
use orch_core::api::{DeleteParams, ListParams};
use orch_core::controller::InformerFactory;
use orch_core::kinds::pod::{Container, PodPhase, PodSpec};
use orch_core::{Api, Node, ObjectMeta, Pod, ReplicaSet};
use orch_runtime::agent::{NodeAgent, NodeAgentConfig};
use orch_runtime::process::{ProcessRuntime, ProcessRuntimeConfig};
use orch_sched::framework::Registry;
use orch_sched::scheduler::{Scheduler, SchedulerConfig};
use orch_store::MemStore;
use tokio_util::sync::CancellationToken;

const DEADLINE: Duration = Duration::from_secs(30);

fn agent(
    store: &Arc<MemStore>,
    runtime: &ProcessRuntime,
    name: &str,
    stop: &CancellationToken,
) -> tokio::task::JoinHandle<orch_runtime::Result<()>> {
    let mut c = NodeAgentConfig::new(name);
    c.resync_interval = Duration::from_millis(50);
    c.renew_interval = Duration::from_millis(100);
    let a = NodeAgent::new(store.clone(), Arc::new(runtime.clone()), c);
    tokio::spawn(a.run(stop.clone()))
}

/// The status of the node's Ready condition.
fn ready_status(n: &Node) -> Option<&str> {
    let conditions = &n.status.as_ref()?.conditions;
    orch_core::condition::find_condition(conditions, "Ready").map(|c| c.status.as_str())
}

async fn until<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    orch_core::testing::wait_until(what, DEADLINE, check).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_of_an_unreachable_node_are_evicted_and_recreated_elsewhere() {
    let store = Arc::new(MemStore::new());
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (rt_a, rt_b) = (
        ProcessRuntime::new(ProcessRuntimeConfig::new(dir_a.path())).unwrap(),
        ProcessRuntime::new(ProcessRuntimeConfig::new(dir_b.path())).unwrap(),
    );
    let stop_a = CancellationToken::new();
    let stop_all = CancellationToken::new();
    let agent_a = agent(&store, &rt_a, "node-a", &stop_a);
    let nodes: Api<Node> = Api::all(store.clone());
    until("node-a registered", || async { nodes.get_opt("node-a").await.unwrap().is_some() }).await;

    let factory = Arc::new(InformerFactory::new(store.clone()));
    let rs = Arc::new(ReplicaSetController::new(&factory));
    tokio::spawn(ReplicaSetController::controller(factory.clone()).run(rs, stop_all.clone()));
    let config =
        NodeLifecycleConfig { grace_period: Duration::from_millis(800), ..Default::default() };
    let lifecycle = Arc::new(NodeLifecycleController::new(&factory, config));
    tokio::spawn(
        NodeLifecycleController::controller(factory.clone()).run(lifecycle, stop_all.clone()),
    );
    let eviction = Arc::new(TaintEvictionController::new(
        &factory,
        TaintEvictionConfig { default_toleration_seconds: 1 },
    ));
    tokio::spawn(
        TaintEvictionController::controller(factory.clone()).run(eviction, stop_all.clone()),
    );
    let scheduler =
        Scheduler::new(factory.clone(), &Registry::default(), SchedulerConfig::default()).unwrap();
    tokio::spawn(scheduler.run(stop_all.clone()));

    // Two replicas, both on node-a (the only node so far).
    let mut set = ReplicaSet { metadata: ObjectMeta::named("sleepers"), ..Default::default() };
    set.spec.replicas = Some(2);
    set.spec.selector.match_labels.insert("app".into(), "sleepers".into());
    set.spec.template.metadata.labels.insert("app".into(), "sleepers".into());
    set.spec.template.spec = PodSpec {
        containers: vec![Container {
            name: "s".into(),
            image: "sleep".into(),
            args: vec!["60".into()],
            ..Default::default()
        }],
        termination_grace_period_seconds: Some(1),
        ..Default::default()
    };
    Api::<ReplicaSet>::namespaced(store.clone(), "default").create(&set).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(store.clone(), "default");
    let running_on = |node: &'static str| {
        let pods = pods.clone();
        async move {
            pods.list(&ListParams::default())
                .await
                .unwrap()
                .items
                .iter()
                .filter(|p| {
                    p.spec.node_name.as_deref() == Some(node)
                        && !p.metadata.is_deleting()
                        && p.status.as_ref().and_then(|s| s.phase) == Some(PodPhase::Running)
                })
                .count()
        }
    };
    until("2 pods running on node-a", || running_on("node-a").then(|n| async move { n == 2 }))
        .await;
    let a_pids = rt_a.running_pids();
    assert_eq!(a_pids.len(), 2);

    // node-b joins; node-a's agent stops (its containers keep running).
    let stop_b = CancellationToken::new();
    let agent_b = agent(&store, &rt_b, "node-b", &stop_b);
    stop_a.cancel();
    agent_a.await.unwrap().unwrap();
    until("node-a unreachable: Ready=Unknown and tainted", || async {
        let n = nodes.get("node-a").await.unwrap();
        let ready = ready_status(&n) == Some("Unknown");
        ready && n.spec.taints.iter().any(|t| t.key == TAINT_UNREACHABLE && t.effect == "NoExecute")
    })
    .await;
    until("2 replacement pods running on node-b", || {
        running_on("node-b").then(|n| async move { n == 2 })
    })
    .await;
    let evicted = pods
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.spec.node_name.as_deref() == Some("node-a"))
        .count();
    assert_eq!(evicted, 2, "the old pods wait, terminating, for their node");

    // node-a returns: the taint goes, Ready again, and it cleans up its evicted pods.
    let stop_a2 = CancellationToken::new();
    let agent_a2 = agent(&store, &rt_a, "node-a", &stop_a2);
    until("node-a back: untainted and Ready", || async {
        let n = nodes.get("node-a").await.unwrap();
        let ready = ready_status(&n) == Some("True");
        ready && !n.spec.taints.iter().any(|t| t.key == TAINT_UNREACHABLE)
    })
    .await;
    until("node-a's old pods removed", || async {
        pods.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .all(|p| p.spec.node_name.as_deref() != Some("node-a"))
    })
    .await;

    // Tear down: scale to zero; nothing is left running.
    stop_all.cancel();
    let b_pids = rt_b.running_pids();
    for p in pods.list(&ListParams::default()).await.unwrap().items {
        pods.delete(&p.metadata.name, &DeleteParams::default()).await.unwrap();
    }
    until("every pod gone", || async {
        pods.list(&ListParams::default()).await.unwrap().items.is_empty()
    })
    .await;
    stop_a2.cancel();
    stop_b.cancel();
    agent_a2.await.unwrap().unwrap();
    agent_b.await.unwrap().unwrap();
    factory.shutdown();
    until("no process left", || async {
        a_pids
            .iter()
            .chain(b_pids.iter())
            .all(|p| !std::path::Path::new(&format!("/proc/{p}")).exists())
    })
    .await;
}
